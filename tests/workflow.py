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
    finished = {path.parent.name: path.stat().st_mtime_ns for path in cells.glob("*/result.json")}
    assert len(finished) >= 4
    snakemake(workdir, "--unlock", *TINY_ARGS, check=True)
    snakemake(workdir, *TINY_ARGS, check=True)
    return finished
