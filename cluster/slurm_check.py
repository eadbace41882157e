"""Check the workflow on a real SLURM cluster: the tiny search (config/tiny.yaml) through
`--executor slurm` with profiles/slurm, interrupted with Ctrl-C while it trains b=1 and
resumed, then checked against SLURM's accounting (sacct).

    sudo cluster/localhost-slurm.sh up        # or run where you can submit to a cluster
    python cluster/slurm_check.py --workdir /tmp/popnas-slurm [--reference results/tiny]

Checks that the resumed run completes; that no cell finished before the interrupt was
trained again; that every cell's result was written by a SLURM job that sacct lists as a
completed train_cell job with one GPU; that only trainings, predictor fitting and scoring
ran as SLURM jobs (the Snakefile's localrules ran on this host); and, given --reference (a
local run's results/tiny), that both runs wrote the same files. Prints a JSON summary (SLURM
jobs per rule, wall times) and exits 1 naming every check that failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the job rules; all others are localrules
SLURM_RULES = {"train_cell", "train_final", "fit_predictors", "expand", "export_final", "measure_latency"}
CELL_ID = re.compile(r"\b[0-9a-f]{12}\b")


def cluster_answers() -> bool:
    """Whether a SLURM controller answers and has a node that can run jobs."""
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return states.returncode == 0 and any(s.startswith(("idle", "mixed", "alloc")) for s in states.stdout.split())


def start_localhost_cluster() -> None:
    """Bring up the one-node cluster of cluster/localhost-slurm.sh (needs root)."""
    subprocess.run([str(ROOT / "cluster" / "localhost-slurm.sh"), "up"], check=True)


def tiny_workdir(workdir: Path) -> Path:
    """`workdir` made ready for a run of config/tiny.yaml; returns the log to write into."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tiny.yaml").write_text((ROOT / "config" / "tiny.yaml").read_text())
    return workdir / "snakemake.log"


def sacct_since() -> str:
    """A start time for sacct that covers the jobs submitted from now on (a minute of slack)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 60))


def run_ids_in(log_text: str) -> list[str]:
    """The run IDs that Snakemake's SLURM executor printed; it names every job after its run's ID."""
    return re.findall(r"SLURM run ID: (\S+)", log_text)


def finished_cells_in(log_text: str) -> set[str]:
    """The cells whose train_cell job Snakemake's log says finished ("Finished jobid: N")."""
    cell_of, finished = {}, set()
    for block in re.split(r"\n(?=(?:local)?rule \w+:|\[)", log_text):
        job = re.search(r"jobid: (\d+)", block)
        cell = re.search(r"wildcards: cell_id=([0-9a-f]+)", block)
        if block.startswith(("rule train_cell:", "localrule train_cell:")) and job and cell:
            cell_of[job.group(1)] = cell.group(1)
    for job in re.findall(r"Finished jobid: (\d+)", log_text):
        if job in cell_of:
            finished.add(cell_of[job])
    return finished


def snakemake_command(workdir: Path, gpus: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--workflow-profile",
        str(ROOT / "profiles" / "slurm"),
        "--configfile",
        "tiny.yaml",
        "--resources",
        f"gpu={gpus}",
        # Tiny jobs finish in seconds; the profile's 20 s first wait suits real trainings.
        "--slurm-init-seconds-before-status-checks",
        "5",
    ]


INTERRUPTS = 6  # Ctrl-C pressed at most this many times, INTERRUPT_WAIT seconds apart
INTERRUPT_WAIT = 10.0


def interrupted_run(command: list[str], workdir: Path, log: Path, after_results: int, timeout: float) -> float:
    """Start the run, press Ctrl-C once `after_results` cells are trained; returns its wall time."""
    cells = workdir / "results" / "tiny" / "cells"
    started = time.monotonic()
    with log.open("a") as out:
        process = subprocess.Popen(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        while len(list(cells.glob("*/result.json"))) < after_results:
            if process.poll() is not None or time.monotonic() - started > timeout:
                process.kill()
                raise SystemExit(f"the run ended or stalled before {after_results} cells were trained; see {log}")
            time.sleep(0.5)
        # What Ctrl-C in the terminal sends, again until Snakemake says it stops, as a user
        # would press it: one SIGINT can be lost (seen 2026-12-06: sent as SLURM jobs finished
        # and others were submitted, the run went on to its end without a word).
        for _ in range(INTERRUPTS):
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=INTERRUPT_WAIT)
                break
            except subprocess.TimeoutExpired:
                if any(word in log.read_text() for word in ("Terminating processes", "Cancelling")):
                    process.wait(timeout=300)  # it heard one and is cancelling its SLURM jobs
                    break
        else:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return time.monotonic() - started


def full_run(command: list[str], workdir: Path, log: Path, timeout: float) -> tuple[int, float]:
    started = time.monotonic()
    with log.open("a") as out:
        status = subprocess.run(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, timeout=timeout).returncode
    return status, time.monotonic() - started


def sacct_jobs(run_ids: list[str], since: str) -> list[dict]:
    """The SLURM jobs of these Snakemake runs (the plugin names each job after its run ID),
    with the rule and wildcards the plugin put in each job's comment."""
    fields = ["JobID", "JobName", "State", "ElapsedRaw", "Submit", "Start", "End", "Comment", "AllocTRES"]
    listing = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", since, f"--name={','.join(run_ids)}", "-o", ",".join(fields)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    jobs = []
    for line in listing.splitlines():
        job = dict(zip(fields, line.split("|"), strict=True))
        match = re.fullmatch(r"rule_(.+?)(?:_wildcards_(.*))?", job["Comment"])
        job["rule"], job["wildcards"] = (match.group(1), match.group(2)) if match else (None, None)
        job["State"] = job["State"].split()[0]  # "CANCELLED by 0" -> CANCELLED
        jobs.append(job)
    steps = _work_step_states([job["JobID"] for job in jobs])
    for job in jobs:
        job["work_state"] = steps.get(job["JobID"])
    return jobs


def _work_step_states(job_ids: list[str]) -> dict[str, str]:
    """The state of each job's step 0, the srun that runs the job's Snakemake: COMPLETED when
    that Snakemake finished the rule (wrote its output and marked it complete), even where a
    Ctrl-C cancelled the batch script in the second before it exited."""
    if not job_ids:
        return {}
    listing = subprocess.run(
        ["sacct", "-n", "-P", "-j", ",".join(job_ids), "-o", "JobID,State"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = (line.split("|") for line in listing.splitlines() if line.count("|") == 1)
    return {step.removesuffix(".0"): state.split()[0] for step, state in rows if step.endswith(".0")}


def layout(results: Path) -> set[str]:
    """The files of a run, with cell ids masked (they differ where trainings differ)."""
    return {CELL_ID.sub("<cell>", str(path.relative_to(results))) for path in results.rglob("*") if path.is_file()}


def check(workdir: Path, reference: Path | None, after_results: int, gpus: int, timeout: float) -> dict:
    log = tiny_workdir(workdir)
    log.write_text("")
    since = sacct_since()
    command = snakemake_command(workdir, gpus)
    results = workdir / "results" / "tiny"
    cells = results / "cells"

    first_wall = interrupted_run(command, workdir, log, after_results, timeout)
    first_log = log.read_text()
    # What survived the interrupt: Snakemake deletes the outputs of jobs it had not yet seen
    # complete (they are incomplete, and their SLURM jobs are cancelled).
    finished = {path.parent.name: path.stat().st_mtime_ns for path in cells.glob("*/result.json")}
    # A Snakemake that a Ctrl-C ended before it cleaned up leaves its lock; its message says
    # to remove it with --unlock, as a user would before resuming.
    stale_lock = any((workdir / ".snakemake" / "locks").glob("*"))
    if stale_lock:
        subprocess.run([*command, "--unlock"], cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status, second_wall = full_run(command, workdir, log, timeout)
    second_log = log.read_text()[len(first_log) :]

    failures = []
    run_ids = [run_ids_in(text) for text in (first_log, second_log)]
    if not all(run_ids):
        raise SystemExit(f"no 'SLURM run ID' in {log}: did the slurm executor run?")
    jobs = {name: sacct_jobs(ids, since) for name, ids in zip(("interrupted", "resumed"), run_ids, strict=True)}

    if status != 0:
        failures.append(f"the resumed run failed (exit status {status}); see {log}")
    for target in ("popnas/b3/trained.csv", "popnas/report/final.csv"):
        if not (results / target).is_file():
            failures.append(f"the resumed run did not write {target}")
    completed_before = {
        job["wildcards"] for job in jobs["interrupted"] if job["rule"] == "train_cell" and job["State"] == "COMPLETED"
    }
    # A job SLURM completed in the seconds before the interrupt, before Snakemake's next status
    # check saw it, is still in flight for Snakemake: its output is incomplete, and the resumed
    # run trains it again (docs/running.md). What Snakemake saw finish must survive.
    seen = finished_cells_in(first_log)
    lost = sorted((completed_before & seen) - set(finished))
    if lost:
        failures.append(f"the interrupt lost the results of trainings Snakemake had seen finish: {lost}")
    retrained = sorted(
        cell for cell, mtime in finished.items() if (cells / cell / "result.json").stat().st_mtime_ns != mtime
    )
    if retrained:
        failures.append(f"cells finished before the interrupt were trained again: {retrained}")
    resubmitted = {job["wildcards"] for job in jobs["resumed"] if job["rule"] == "train_cell"} & set(finished)
    if resubmitted:
        failures.append(f"the resumed run submitted trainings of finished cells: {sorted(resubmitted)}")

    completed_trainings = {
        job["JobID"]: job
        for run in jobs.values()
        for job in run
        if job["rule"] == "train_cell" and "COMPLETED" in (job["State"], job["work_state"])
    }
    devices = set()
    for path in sorted(cells.glob("*/result.json")):
        result = json.loads(path.read_text())
        placement = result.get("placement") or {}
        job = completed_trainings.get(str(placement.get("slurm_job_id")))
        if result["status"] != "ok":
            failures.append(f"cell {path.parent.name}: status {result['status']} ({result.get('reason')})")
        if job is None or job["wildcards"] != path.parent.name:
            failures.append(
                f"cell {path.parent.name} was not trained by a train_cell SLURM job that finished its rule: {placement}"
            )
        elif "gres/gpu=1" not in job["AllocTRES"]:
            failures.append(f"SLURM job {job['JobID']} of cell {path.parent.name} had no GPU: {job['AllocTRES']}")
        devices.add(placement.get("cuda_visible_devices"))
    elsewhere = {job["rule"] for run in jobs.values() for job in run} - SLURM_RULES
    if elsewhere:
        failures.append(f"local rules ran as SLURM jobs: {sorted(elsewhere)}")

    if reference is not None:
        ours, theirs = layout(results), layout(reference)
        if ours != theirs:
            failures.append(
                f"files differ from the local run: only on SLURM {sorted(ours - theirs)}, "
                f"only local {sorted(theirs - ours)}"
            )

    summary = {
        "results_kept_at_interrupt": len(finished),
        "trainings_completed_before_interrupt": len(completed_before),
        "completed_but_not_yet_seen_by_snakemake": len(completed_before - seen),
        "wall_seconds": {"interrupted": round(first_wall, 1), "resumed": round(second_wall, 1)},
        "unlocked_before_resuming": stale_lock,
        "slurm_jobs": {name: dict(Counter(job["rule"] for job in run)) for name, run in jobs.items()},
        "slurm_job_states": {name: dict(Counter(job["State"] for job in run)) for name, run in jobs.items()},
        "slurm_jobs_total": sum(len(run) for run in jobs.values()),
        "cells_trained": len(list(cells.glob("*/result.json"))),
        "cuda_visible_devices_seen": sorted(str(device) for device in devices),
        "same_files_as_local_run": None if reference is None else not any("files differ" in f for f in failures),
        "failures": failures,
    }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, required=True, help="an empty folder on the shared file system")
    parser.add_argument("--reference", type=Path, help="results/tiny of a local run, to compare the files written")
    parser.add_argument("--interrupt-after", type=int, default=4, help="cells trained before Ctrl-C")
    parser.add_argument("--gpus", type=int, default=2, help="--resources gpu=N: trainings at once")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds each of the two runs may take")
    parser.add_argument(
        "--start-cluster", action="store_true", help="bring up cluster/localhost-slurm.sh first (root) if none answers"
    )
    args = parser.parse_args(argv)
    if args.workdir.exists() and any(args.workdir.iterdir()):
        parser.error(f"--workdir {args.workdir} is not empty")
    if args.reference is not None and not (args.reference / "popnas").is_dir():
        parser.error(f"--reference {args.reference} is not a run's results folder (no popnas/ in it)")
    if not cluster_answers():
        if not args.start_cluster:
            parser.error("no SLURM cluster answers (sinfo); start one with: sudo cluster/localhost-slurm.sh up")
        start_localhost_cluster()
    summary = check(args.workdir.resolve(), args.reference, args.interrupt_after, args.gpus, args.timeout)
    print(json.dumps(summary))
    for failure in summary["failures"]:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
