"""Benchmark: the latency of every network of finished runs, measured twice, and the latency
predictor replayed step by step.

    python -m bench.bench_latency --config bench/history/fashion_mnist_cpu_v1.yaml \
        --steps bench/results/fashion_mnist_cpu/fmnist_cpu/popnas [--steps ...] \
        [--rounds 5] [--out bench/results/latency_fashion_mnist_cpu.json]

Nothing is trained: latency depends on the architecture alone, so each step's networks are
timed from their cells as the workflow's `measure_latency` jobs time them
(popnas_steps.latency, the config's `deploy` settings, one step per call, b1's calibrating
the run's reference), in two fresh processes one after the other (`a` and `b`): the measurement's repeatability is the
difference between them. Then, per run and step b >= 2, the latency predictor
(predictors.fit_latency) is fitted on process a's latencies of the steps before b, as a
search fits it, and predicts step b's: MAPE (%) and Spearman's rho, beside the same figures
of process b's latencies taken as the prediction (the ceiling the measurement's own noise
puts on any predictor). --rounds and --pause override `deploy.rounds` and `deploy.pause`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import RESULTS, machine, write_result
from popnas_steps import tables
from popnas_steps.config import load_config
from popnas_steps.layout import RunLayout
from popnas_steps.macro import NetworkSpec
from popnas_steps.space import Cell, by_size
from popnas_steps.time_predictor import mape
from popnas_steps.work import DataShape, WorkCounter


def measure(config: dict, steps: Path) -> dict:
    """{b: latency table (records)} of every step of the run at `steps`, one measure per step."""
    from popnas_steps.latency import CALIBRATION_STEP, measure_latencies, run_reference_ms

    layout = RunLayout.of_steps(steps)
    data, spec = DataShape.read(layout.metadata), NetworkSpec(**config["network"])
    measured, reference_ms = {}, None
    files = layout.step_files("trained")
    for b in sorted(files, key=lambda b: (int(b) != CALIBRATION_STEP, int(b))):  # the calibrating step first
        trained = tables.read("trained", files[b])
        cells = {row.cell_id: Cell.from_json(row.cell) for row in trained.itertuples()}
        started = time.perf_counter()
        table = measure_latencies(cells, data, spec, config["deploy"], config["seed"], reference_ms)
        measured[int(b)] = {"seconds": time.perf_counter() - started, "rows": table.to_dict("records")}
        reference_ms = run_reference_ms(table) if reference_ms is None else reference_ms
    return measured


def _in_fresh_process(config_files: list[str], steps: Path, deploy: dict) -> dict:
    command = [sys.executable, "-m", "bench.bench_latency", "--config", *config_files, "--measure-only", str(steps),
               "--rounds", str(deploy["rounds"]), "--pause", str(deploy["pause"])]  # fmt: skip
    return {
        int(b): v
        for b, v in json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout).items()
    }


def replay(config: dict, steps: Path, first: dict, second: dict) -> dict:
    """Per step b >= 2: the predictor fitted on `first`'s latencies of the steps before b."""
    from scipy.stats import spearmanr

    from popnas_steps.predictors import fit_latency

    layout = RunLayout.of_steps(steps)
    trained = tables.read("trained", *layout.step_files("trained").values())
    latency_a = {row["cell_id"]: row.get("latency_ms") for b in first for row in first[b]["rows"]}
    latency_b = {row["cell_id"]: row.get("latency_ms") for b in second for row in second[b]["rows"]}
    trained = trained.assign(latency_ms=trained["cell_id"].map(latency_a).astype(float))
    repeat = trained["cell_id"].map(latency_b).astype(float).to_numpy()
    data, spec = DataShape.read(layout.metadata), NetworkSpec(**config["network"])
    operators = config["search"]["operators"]
    counter = WorkCounter(list(operators), spec, data)
    rows = []
    for b in sorted(trained.loc[trained["b"] >= 2, "b"].unique()):
        before, step = trained[trained["b"] < b], (trained["b"] == b).to_numpy()
        model = fit_latency(before, operators, spec, data)
        cells = [Cell.from_json(text) for text in trained.loc[step, "cell"]]
        (work,) = by_size(cells, operators, lambda encoded: (counter.count(encoded),))
        predicted, measured = model.predict(work), trained.loc[step, "latency_ms"].to_numpy(float)
        rows.append({
            "b": int(b), "cells": int(step.sum()),
            "measured_ms_min": float(measured.min()), "measured_ms_max": float(measured.max()),
            "mape": mape(measured, predicted), "spearman": float(spearmanr(measured, predicted).statistic),
            "repeat_mape": mape(measured, repeat[step]),
            "repeat_spearman": float(spearmanr(measured, repeat[step]).statistic),
        })  # fmt: skip
    return {"steps": str(steps), "per_step": rows}


def repeatability(first: dict, second: dict) -> dict:
    """How far process b's latencies are from process a's, over every network of a run: in
    milliseconds (each process calibrated its own reference), relative to the reference, and
    as each network's own least round median (what one job measures without a reference)."""
    a = pd.DataFrame([row for b in first for row in first[b]["rows"]]).set_index("cell_id")
    b = pd.DataFrame([row for b in second for row in second[b]["rows"]]).set_index("cell_id").reindex(a.index)
    figures = {"networks": len(a)}
    for column in ("latency_ms", "latency_relative", "measured_ms"):
        ratio = (b[column] / a[column]).to_numpy(float)
        figures[column] = {
            "mean_abs_difference_percent": float(100 * np.mean(np.abs(ratio - 1))),
            "max_abs_difference_percent": float(100 * np.max(np.abs(ratio - 1))),
        }
    figures["reference_ms"] = [float(a["reference_ms"].iloc[0]), float(b["reference_ms"].iloc[0])]
    figures["measure_seconds"] = [sum(v["seconds"] for v in first.values()), sum(v["seconds"] for v in second.values())]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_latency", description=__doc__.split("\n")[0])
    parser.add_argument("--config", nargs="+", required=True)
    parser.add_argument("--steps", action="append", type=Path, default=[])
    parser.add_argument("--rounds", type=int, help="deploy.rounds for this replay (default: the config's)")
    parser.add_argument("--pause", type=float, help="deploy.pause for this replay (default: the config's)")
    parser.add_argument("--measure-only", type=Path, help=argparse.SUPPRESS)  # one process's measures, as JSON
    parser.add_argument("--out", type=Path, default=RESULTS / "latency.json")
    args = parser.parse_args(argv)
    config = load_config(*args.config)
    for key in ("rounds", "pause"):
        if getattr(args, key) is not None:
            config["deploy"][key] = getattr(args, key)
    if args.measure_only is not None:
        print(json.dumps(measure(config, args.measure_only)))
        return 0
    runs = []
    for steps in args.steps:
        first = _in_fresh_process(args.config, steps, config["deploy"])
        second = _in_fresh_process(args.config, steps, config["deploy"])
        runs.append({**replay(config, steps, first, second), "repeatability": repeatability(first, second)})
        for row in runs[-1]["per_step"]:
            print(f"{steps}: b{row['b']}: MAPE {row['mape']:.1f}% Spearman {row['spearman']:.3f} "
                  f"(repeat: {row['repeat_mape']:.1f}%, {row['repeat_spearman']:.3f})", file=sys.stderr)  # fmt: skip
    write_result(args.out, {"config": args.config, "deploy": config["deploy"], "runs": runs, "machine": machine()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
