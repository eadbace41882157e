"""Benchmark: the fixed cost of a training job (its wall time less `t`), side by side.

    python -m bench.bench_job_cost [--cells 6] [--before CHECKOUT]

Runs real `python -m popnas_steps.cli.train_cell` jobs, as the workflow does, on the
embedded default's data (digits, M=2, N=1, 16 filters, 7 epochs) for the first `--cells`
one-block cells of the default operators, interleaving the settings so that all see the
same machine load:
- `fresh`: each training in a fresh process (devices.warm_workers off);
- `warm`: each training in the warm worker of its slot (the workflow's default); the
  first job of the run starts the worker and pays the import, as in a search;
- `before` (with --before, a checkout of an older popnas, e.g. `git worktree add
  /tmp/old <commit>`): that code's jobs, for the figure before a change.
Fixed cost = the job's wall time (measured around the process, interpreter start-up
included) - `t`. Writes bench/results/job_cost.json: medians per setting and their ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import DEFAULT_CONFIG, RESULTS, job_environment, machine, run_training_job, write_result
from popnas_steps.config import load_config
from popnas_steps.datasets import prepare
from popnas_steps.slices import params_text
from popnas_steps.space import one_block_cells
from popnas_steps.worker import stop_workers


def run_job(settings: str, data: Path, cell: str, out: Path, env: dict) -> dict:
    """One job's wall, t and fixed cost (wall - t), its phases' timings, and its warm worker."""
    result, wall = run_training_job(["--settings", settings], data, cell, out, env=env)
    # `worker` is a key of results since warm workers exist: the check that `before` ran the old code.
    timings = {"wall": wall, "t": result["time"], "fixed": wall - result["time"], **result["timings"]}
    return {**timings, "warm_worker": (result.get("worker") or {}).get("pid"), "has_worker_key": "worker" in result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=6)
    parser.add_argument("--before", type=Path, help="a checkout of an older popnas to compare with")
    parser.add_argument("--out", type=Path, default=RESULTS / "job_cost.json")
    args = parser.parse_args(argv)

    config = load_config(DEFAULT_CONFIG)
    settings = params_text(config, "seed", "network", "training")  # what the workflow's rule passes
    cells = [cell.to_json() for cell in one_block_cells(config["search"]["operators"])][: args.cells]
    short = Path(tempfile.mkdtemp(prefix="pjc", dir="/tmp"))  # a Unix socket's path is short
    envs = {
        "fresh": job_environment(short, warm_workers=False),
        "warm": job_environment(short, warm_workers=True),
    }
    if args.before:
        envs["before"] = job_environment(short, args.before.resolve())
    data = short / "data"
    prepare(config["dataset"], config["seed"], data)

    jobs: dict[str, list[dict]] = {name: [] for name in envs}
    for index, cell in enumerate(cells):
        for name, env in envs.items():
            jobs[name].append(run_job(settings, data, cell, short / name / str(index), env))
            print(name, index, {k: round(v, 2) for k, v in jobs[name][-1].items() if k in ("wall", "t", "fixed")})
    stop_workers(short)

    def median(name: str, key: str, skip_first: bool = False) -> float:
        rows = jobs[name][1:] if skip_first else jobs[name]
        return round(statistics.median(row[key] or 0.0 for row in rows), 3)

    summary = {
        name: {
            "fixed_seconds_median": median(name, "fixed"),
            "fixed_seconds_median_after_the_first_job": median(name, "fixed", skip_first=True),
            "t_median": median(name, "t"),
            "import_seconds_median": median(name, "import_seconds"),
            "trace_seconds_median": median(name, "trace_seconds"),
            "jobs": jobs[name],
        }
        for name in envs
    }
    ratios = {
        f"{name}/{base}": round(summary[name]["fixed_seconds_median"] / summary[base]["fixed_seconds_median"], 3)
        for base in ("fresh", "before")
        for name in envs
        if base in envs and name not in (base, "before")
    }
    report = {
        "what": "fixed cost of a train_cell job (wall - t) on the embedded default's data, settings interleaved",
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "cells": cells,
        "summary": summary,
        "ratios": ratios,
    }
    write_result(args.out, report, show=False)
    for name in envs:
        print(name, {k: v for k, v in summary[name].items() if k != "jobs"})
    print("ratios", ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
