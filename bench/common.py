"""What the benchmarks share: the machine they ran on, writing their results, running jobs.

Every benchmark records the machine next to its figures, so that runs of one benchmark on
different machines (or on one machine at different loads) are told apart: `machine()` is that
record, the same keys in every result. `write_result` writes a result as every benchmark
does (JSON, indent 2, a trailing newline, renamed into place so that a killed run leaves the
previous file whole) and shows it. `run_training_job` runs one `train_cell` job as the
workflow runs it, `run_workflow` a whole search, and `job_spans` reads back from Snakemake's
log when each job ran.

Nothing here imports TensorFlow: an orchestrating process (bench_gpu_throughput's) must not
hold GPU memory its workers need, and a replay needs no TensorFlow at all.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

from popnas_steps.files import write_json

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_CONFIG = ROOT / "config" / "config.yaml"

TRAIN_CELL = "popnas_steps.cli.train_cell"


# --- the machine -------------------------------------------------------------------------------


def gpu_name() -> str | None:
    """The first GPU's name from nvidia-smi (None without one): asked of the driver, not of
    TensorFlow, which would take GPU memory by importing."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        names = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=20
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return None
    return names[0].strip() or None


def tensorflow_version() -> str | None:
    """TensorFlow's version without importing it (seconds, and GPU memory) unless it already is."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"].__version__
    for distribution in ("tensorflow", "tensorflow-cpu"):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return None


def machine() -> dict:
    """The machine a benchmark ran on, the same keys in every result: a figure means little
    without the cores, the GPU (None: CPU only) and the TensorFlow that made it."""
    return {
        "platform": platform.platform(),
        "node": platform.node(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tensorflow_version(),
        "gpu": gpu_name(),
    }


# --- results -----------------------------------------------------------------------------------


def write_result(path: str | Path, result: dict, show: bool = True) -> Path:
    """Write `result` as bench/results' JSON (indent 2, trailing newline), its folder made and
    the file renamed into place (a killed run keeps the previous one whole); with `show`, print
    it too, for the benchmarks whose report is the JSON itself."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, result)
    if show:
        print(json.dumps(result, indent=2))
    return path


# --- jobs --------------------------------------------------------------------------------------


def job_environment(folder: Path, pythonpath: Path = ROOT, warm_workers: bool | None = None) -> dict:
    """This process's environment for a benchmark's train_cell jobs: no scheduler's GPU or
    devices settings, the workers' sockets and GPU slots in `folder` (short: a Unix socket's
    path is), apart from any search's; the popnas of `pythonpath` (another checkout: its code's
    jobs); with `warm_workers`, devices.warm_workers set to it."""
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "POPNAS_DEVICES")}
    env |= {"TMPDIR": str(folder), "POPNAS_GPU_SLOTS": str(folder / "slots"), "PYTHONPATH": str(pythonpath)}
    if warm_workers is not None:
        env["POPNAS_DEVICES"] = json.dumps({"warm_workers": warm_workers})
    return env


def run_training_job(
    config: list[str],
    data: Path,
    cell: str,
    out: Path,
    python: str = sys.executable,
    env: dict | None = None,
    cwd: Path | None = None,
) -> tuple[dict, float]:
    """Train `cell` as one `python -m popnas_steps.cli.train_cell` job into `out` (emptied
    first), as the workflow's rule runs it, with `config` its settings arguments (`--config
    FILE...` or `--settings TEXT`); its result.json and the job's wall seconds, timed around
    the process (interpreter start-up included: part of what a job costs). `cwd` defaults to
    `out`'s folder: outside any checkout, since `python -m` puts the working folder first on
    the path and `env`'s PYTHONPATH must choose the code."""
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [python, "-m", TRAIN_CELL, *config, "--data", str(data), "--cell", cell, "--out", str(out)]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, cwd=cwd or out.parent)
    wall = time.perf_counter() - started
    return json.loads((out / "result.json").read_text()), wall


# --- the workflow and its log ------------------------------------------------------------------


def snakemake_command(workdir: Path, *options: str) -> list[str]:
    """`snakemake` on this checkout's Snakefile in `workdir`, with `options`."""
    return [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
            *options]  # fmt: skip


def run_workflow(
    workdir: Path, configs: list[Path] | None = None, run: str | None = None, gpus: int = 1, targets: Sequence[str] = ()
) -> float:
    """Run `snakemake --cores all --resources gpu=<gpus> [targets]` in `workdir` (no targets:
    the whole workflow); return its wall seconds."""
    command = snakemake_command(workdir, *targets, "--cores", "all", "--resources", f"gpu={gpus}")
    if configs:
        command += ["--configfile", *map(str, configs)]
    if run:
        command += ["--config", f"run={run}"]
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


class LoggedJob(NamedTuple):
    rule: str
    output: str | None  # its first output
    start: float | None  # unix seconds, 1 s resolution
    end: float | None


def logged_jobs(log: Path) -> list[LoggedJob]:
    """Every finished job of one Snakemake log, in the order they finished: the log is the only
    record of when a rule's job (not only a training) started and ended."""
    stamp, rule, output, started, jobs = None, None, None, {}, []
    for line in log.read_text().splitlines():
        text = line.strip()
        if re.fullmatch(r"\[\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4}\]", text):
            stamp = datetime.strptime(text, "[%a %b %d %H:%M:%S %Y]").timestamp()
        elif m := re.match(r"(?:local)?(?:rule|checkpoint) (\w+):", line):
            rule, output = m.group(1), None
        elif (m := re.match(r"\s+output: ([^,\s]+)", line)) and rule is not None:
            output = m.group(1)
        elif (m := re.match(r"\s+jobid: (\d+)", line)) and rule is not None:
            started[m.group(1)] = (rule, output, stamp)
            rule = None
        elif (m := re.match(r"Finished jobid: (\d+)", line)) and m.group(1) in started:
            jobs.append(LoggedJob(*started.pop(m.group(1)), stamp))
    return jobs


def job_spans(log: Path) -> list[tuple[str, float, float]]:
    """(rule, start, end) of every job of a Snakemake log."""
    return [(job.rule, job.start, job.end) for job in logged_jobs(log)]
