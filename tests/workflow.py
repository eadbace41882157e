"""Running the Snakemake workflow from tests: the command, the tiny config, and the tiny
search killed mid-run and resumed that several test modules inspect.

Every run here sees a PATH without graphviz, Chromium, SLURM or nvidia-smi (bare_machine),
as a user's machine with Python and pip only: the workflow must never need them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
TINY = (ROOT / "config" / "tiny.yaml").read_text()
TINY_ARGS = ["--cores", "2", "--resources", "gpu=1", "--configfile", "tiny.yaml"]


@cache
def bare_env() -> dict[str, str]:
    """This process's environment with the optional system tools hidden from PATH."""
    from .bare_machine import bare_path

    return {**os.environ, "PATH": bare_path(Path(tempfile.mkdtemp(prefix="popnas-bare-path-")))}


def snakemake(
    workdir: Path, *args: str, check: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    run = subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), *args],
        capture_output=True,
        text=True,
        cwd=workdir,
        env=bare_env() if env is None else env,
    )
    if check:
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run."""
    lines = output[output.index("Job stats:") :].splitlines()[3:]
    counts = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts


def run_tiny_search(workdir: Path) -> dict[str, int]:
    """The tiny search in `workdir`, killed while training b=1 and resumed.

    Returns the cells whose result existed at the kill, with the result's mtime.
    """
    (workdir / "tiny.yaml").write_text(TINY)
    process = subprocess.Popen(
        [*SNAKEMAKE, "--directory", str(workdir), *TINY_ARGS],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=bare_env(),
    )
    cells = workdir / "results" / "tiny" / "cells"
    deadline = time.monotonic() + 600
    while len(list(cells.glob("*/result.json"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)  # let the next training start
    os.killpg(process.pid, signal.SIGKILL)  # the whole job tree, like a crash of the machine
    process.wait()
    written = {path.parent.name: path.stat().st_mtime_ns for path in cells.glob("*/result.json")}
    snakemake(workdir, "--unlock", *TINY_ARGS, check=True)
    # A result written in the last moments before the kill may belong to a job that Snakemake
    # had not yet seen end: its output is incomplete and the rerun trains it again, as
    # docs/running.md says of jobs in flight. Finished cells are those Snakemake recorded.
    pending = pending_outputs(workdir)
    finished = {cell_id: mtime for cell_id, mtime in written.items() if f"cells/{cell_id}/result.json" not in pending}
    assert len(finished) >= 3, f"{len(written)} results at the kill, {len(finished)} of them recorded by Snakemake"
    snakemake(workdir, *TINY_ARGS, check=True)
    return finished


def pending_outputs(workdir: Path) -> set[str]:
    """The outputs (relative to `results/<run>/`) of the jobs a run in `workdir` would run now,
    from a dry run: the missing ones and the incomplete ones. (`--summary` would miss the
    incomplete ones: it reads the DAG with incomplete outputs ignored.)"""
    dry_run = snakemake(workdir, "-n", *TINY_ARGS, check=True).stdout
    pending = set()
    for line in dry_run.splitlines():
        if line.strip().startswith("output:"):
            pending.update(path.split("/", 2)[-1] for path in line.split(":", 1)[1].strip().split(", "))
    return pending
