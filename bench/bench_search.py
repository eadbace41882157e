"""Benchmark: POPNASv2 against the PNAS baseline, same data, seed and settings, side by side.

    python -m bench.bench_search [--config bench/search.yaml] [--workdir bench_work]

Runs the whole workflow twice (POPNASv2, then the PNAS overlay under another run name, so
neither reuses the other's trainings), then reports for each: networks trained, summed
training time, wall time, top-1 and mean top-5 validation accuracy, the test accuracy of
the top-1 cell after final training, the front sizes and the predictor quality per step,
and the ratios. Writes bench/results/search_efficiency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import pandas as pd

from bench.bench_overhead import job_spans
from bench.workflow import run_workflow
from popnas_steps import tables
from popnas_steps.predictors import predictor_quality
from popnas_steps.report import finished_job_seconds, search_summary

ROOT = Path(__file__).resolve().parent.parent


def logged_wall(workdir: Path, run: str) -> float:
    """Wall seconds of every Snakemake invocation that worked on `run` (a resumed run counts each part)."""
    total = 0.0
    for log in sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log")):
        if f"results/{run}/" in log.read_text():
            spans = job_spans(log)
            total += max(end for _, _, end in spans) - min(start for _, start, _ in spans) if spans else 0.0
    return total


def figures(steps: Path, wall: float) -> dict:  # wall: from the Snakemake logs, 1 s resolution
    trained = tables.read("trained", *sorted(steps.glob("b*/trained.csv")))
    summary = search_summary(trained, finished_job_seconds(steps.parent / "cells", trained)).iloc[0]
    final = pd.read_csv(steps / "report" / "final.csv").iloc[0]
    fronts = {}
    for pareto in sorted(steps.glob("b*/pareto.csv")):
        b = pareto.parent.name
        fronts[b] = {
            "pareto": len(pd.read_csv(pareto)),
            "exploration": len(pd.read_csv(pareto.parent / "exploration.csv")),
        }
    return {
        "networks": int(summary["networks"]),
        "networks_per_step": trained.groupby("b").size().to_dict(),
        "summed_training_seconds": round(float(summary["search_time_seconds"]), 1),
        "summed_job_seconds": round(float(summary["search_wall_seconds"]), 1),
        "wall_seconds": round(wall, 1),
        "top1_val_accuracy": round(float(summary["top1_accuracy"]), 4),
        "top5_mean_val_accuracy": round(float(summary["top5_mean_accuracy"]), 4),
        "top1_test_accuracy_after_final_training": round(float(final["test_accuracy"]), 4),
        "fronts": fronts,
        "predictor_quality": predictor_quality(trained).round(3).to_dict("records"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=str(ROOT / "bench" / "search.yaml"))
    parser.add_argument("--workdir", default=str(ROOT / "bench_work"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "search_efficiency.json"))
    parser.add_argument("--analyse-only", action="store_true", help="use the runs already in --workdir")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = Path(args.config).resolve()
    if not args.analyse_only:
        run_workflow(workdir, [config], "bench-popnas")
        run_workflow(workdir, [config, ROOT / "config" / "pnas.yaml"], "bench-pnas")
    popnas_wall, pnas_wall = logged_wall(workdir, "bench-popnas"), logged_wall(workdir, "bench-pnas")
    popnas = figures(workdir / "results" / "bench-popnas" / "popnas", popnas_wall)
    pnas = figures(workdir / "results" / "bench-pnas" / "pnas", pnas_wall)
    result = {
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, CPU only",
        "date": time.strftime("%Y-%m-%d"),
        "config": str(config.relative_to(ROOT)),
        "popnas": popnas,
        "pnas": pnas,
        "ratios_pnas_over_popnas": {
            key: round(pnas[key] / popnas[key], 2)
            for key in ("networks", "summed_training_seconds", "summed_job_seconds", "wall_seconds")
        },
        "top1_gap_points": round(100 * (popnas["top1_val_accuracy"] - pnas["top1_val_accuracy"]), 2),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
