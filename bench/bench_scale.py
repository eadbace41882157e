"""Benchmark: how long Snakemake takes to build the DAG of a paper-scale search.

    python -m bench.bench_scale [--workdir bench_work/scale]

1. A dry run of the CIFAR-10 paper config from nothing (up to its first checkpoint).
2. A complete search of the CIFAR-10 config's size (B=5, K=128, J=16, 12 operators) laid
   down with the synthetic evaluator of tests/synthetic.py (made-up measurements, clearly
   not a training) through the workflow's own step functions, then a dry run over it: every
   checkpoint resolved, ~900 training jobs in the DAG.
The time Snakemake spends between real jobs is measured on real runs by bench_overhead.py.
Writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import time
from pathlib import Path

from bench.common import RESULTS, ROOT, machine, snakemake_command, write_result
from popnas_steps.config import load_config, validate
from popnas_steps.datasets import prepare
from tests.synthetic import run_synthetic_search


def dry_run(workdir: Path) -> tuple[float, dict]:
    command = snakemake_command(workdir, "-n", "--cores", "all", "--configfile", str(ROOT / "config" / "cifar10.yaml"))
    started = time.perf_counter()
    run = subprocess.run(command, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", run.stdout[run.stdout.find("Job stats:") :], re.M))
    return seconds, {k: int(v) for k, v in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", default=str(ROOT / "bench_work" / "scale"))
    parser.add_argument("--out", default=str(RESULTS / "scale.json"))
    args = parser.parse_args()
    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    empty_seconds, empty_jobs = dry_run(workdir)

    config = load_config(ROOT / "config" / "cifar10.yaml")
    # Small predictor settings: the fits only have to produce selections of the right size.
    config = validate({**config, "predictors": {"time": {"search_iterations": 2}, "accuracy": {"epochs": 3}}})
    run = workdir / "results" / "cifar10"
    # Digits stands in for CIFAR-10 data: a dry run never reads it, it only has to exist.
    prepare({**config["dataset"], "source": "digits"}, config["seed"], run / "data")
    started = time.perf_counter()
    run_synthetic_search(run / "popnas", config, cells_dir=run / "cells")
    synthetic_seconds = time.perf_counter() - started
    full_seconds, full_jobs = dry_run(workdir)
    result = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "cifar10_dry_run_from_nothing_seconds": round(empty_seconds, 2),
        "cifar10_dry_run_from_nothing_jobs": empty_jobs,
        "synthetic_search_seconds": round(synthetic_seconds, 1),
        "cells_in_synthetic_search": len(list((run / "cells").iterdir())),
        "cifar10_dry_run_over_complete_search_seconds": round(full_seconds, 2),
        "cifar10_dry_run_over_complete_search_jobs": full_jobs,
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
