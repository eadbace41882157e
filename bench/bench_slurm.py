"""Benchmark: what running on SLURM costs against running locally, same search, same machine.

    sudo cluster/localhost-slurm.sh up
    python -m bench.bench_slurm [--workdir bench_work/slurm]

Runs config/tiny.yaml twice from nothing, with two trainings at once: locally, and through
`--executor slurm` with profiles/slurm on the one-node cluster. Reports both wall times,
their ratio, the SLURM jobs by rule, their summed run time, and the time they waited in
SLURM's queue. The difference that is neither queueing nor running is the plugin's status
polling (it checks every 5 s at first here, backing off by 10 s per check while no job
finishes) and the job step's own start-up. Writes bench/results/slurm.json.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

from bench.common import RESULTS, ROOT, machine, run_workflow, write_result
from cluster.slurm_check import (
    cluster_answers,
    full_run,
    run_ids_in,
    sacct_jobs,
    sacct_since,
    snakemake_command,
    tiny_workdir,
)

GPUS = 2


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench_work" / "slurm")
    args = parser.parse_args()
    if not cluster_answers():
        parser.error("no SLURM cluster answers (sinfo); start one with: sudo cluster/localhost-slurm.sh up")
    shutil.rmtree(args.workdir, ignore_errors=True)
    local, cluster = args.workdir / "local", args.workdir / "slurm"
    tiny = ROOT / "config" / "tiny.yaml"

    local_wall = run_workflow(local, [tiny], gpus=GPUS)

    log = tiny_workdir(cluster)
    since = sacct_since()
    status, cluster_wall = full_run(snakemake_command(cluster, GPUS), cluster, log, timeout=3600)
    if status != 0:
        raise SystemExit(f"the run on SLURM failed (exit status {status}); see {log}")
    jobs = sacct_jobs(run_ids_in(log.read_text()), since)

    result = {
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": machine() | {"note": "one-node SLURM of cluster/localhost-slurm.sh"},
        "config": "config/tiny.yaml",
        "trainings_at_once": GPUS,
        "local_wall_seconds": round(local_wall, 1),
        "slurm_wall_seconds": round(cluster_wall, 1),
        "slurm_over_local": round(cluster_wall / local_wall, 2),
        "slurm_jobs": dict(Counter(job["rule"] for job in jobs)),
        "slurm_jobs_total": len(jobs),
        "slurm_job_states": dict(Counter(job["State"] for job in jobs)),
        "summed_job_seconds": sum(int(job["ElapsedRaw"]) for job in jobs),
        "summed_queue_seconds": sum(seconds_between(job["Submit"], job["Start"]) for job in jobs),
        "mean_train_cell_job_seconds": round(
            sum(int(j["ElapsedRaw"]) for j in jobs if j["rule"] == "train_cell")
            / max(1, sum(j["rule"] == "train_cell" for j in jobs)),
            1,
        ),
    }
    write_result(RESULTS / "slurm.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
