"""Running the whole workflow from a benchmark, timed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_workflow(workdir: Path, configs: list[Path] | None = None, run: str | None = None, gpus: int = 1) -> float:
    """Run `snakemake --cores all --resources gpu=<gpus>` in `workdir`; return its wall seconds."""
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--cores", "all", "--resources", f"gpu={gpus}"]  # fmt: skip
    if configs:
        command += ["--configfile", *map(str, configs)]
    if run:
        command += ["--config", f"run={run}"]
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started
