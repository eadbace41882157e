"""Benchmark: the predictors replayed on finished runs, the way a search uses them.

    python -m bench.bench_time_predictor --config config/tiny.yaml --steps results/tiny/popnas
        [--steps ...] [--out bench/results/time_predictor.json]

For each run (a strategy folder, `results/<run>/<strategy>`, with its config files and its
run's `data/metadata.json`, which gives the work counts their image shape) and
each step b >= 2: every time model of `predictors.time.model`, its hyperparameters chosen by
k-fold and by forward validation (`predictors.time.validation`), is fitted on the successful
cells of the steps before b and predicts the cells trained at step b: MAPE (%), Spearman
and the error (%) of the step's summed time (report.time_ablation). The accuracy predictor
(`predictors.accuracy.model`) is fitted the same way (bench_accuracy_models) and scored by
Spearman, on the canonical cells it sees now and on the cells as stored (what it saw before
it canonicalised). Nothing is trained: the measured results
come from the run's `b<b>/trained.csv`. Writes the tables, per run, to --out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import RESULTS, machine, write_result
from popnas_steps import tables
from popnas_steps.config import load_config
from popnas_steps.features import reindex_values
from popnas_steps.layout import RunLayout
from popnas_steps.macro import NetworkSpec
from popnas_steps.report import time_ablation
from popnas_steps.work import DataShape


def accuracy_spearman(steps: Path, config: dict, canonical: bool = True) -> dict[str, float]:
    """Spearman of the configured accuracy predictor fitted on steps < b, on the cells of step b;
    with canonical=False, on the cells as stored (the encoding before issue 14)."""
    from bench.bench_accuracy_models import replay as replay_accuracy

    kind = config["predictors"]["accuracy"]["model"]
    rows = replay_accuracy(steps, config, [kind], canonical)
    return {f"b{row['b']}": row[f"{kind}_spearman"] for row in rows}


def replay(steps: Path, config: dict) -> dict:
    layout = RunLayout.of_steps(steps)
    trained = tables.read("trained", *layout.step_files("trained").values())
    reindex = reindex_values(tables.read("reindex", layout.table(1, "reindex")))
    data = DataShape.read(layout.metadata)
    started = time.perf_counter()
    ablations = []
    for validation in ("kfold", "forward"):  # how each model's hyperparameters are chosen
        settings = {**config["predictors"], "time": {**config["predictors"]["time"], "validation": validation}}
        spec = NetworkSpec(**config["network"])
        ablation = time_ablation(trained, reindex, config["search"]["operators"], spec, settings, config["seed"], data)
        ablations.append(ablation.assign(validation=validation))
    ablation = pd.concat(ablations, ignore_index=True)
    return {
        "steps": str(steps),
        "cells_per_step": {
            f"b{b}": int(n) for b, n in tables.ok_rows(trained)["b"].value_counts().sort_index().items()
        },
        "time_models": ablation.round(3).replace({np.nan: None}).to_dict("records"),
        "accuracy_model": config["predictors"]["accuracy"]["model"],
        "accuracy_spearman": accuracy_spearman(steps, config),
        "accuracy_spearman_stored_form": accuracy_spearman(steps, config, canonical=False),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", nargs="+", required=True, help="the config files the runs were made with")
    parser.add_argument("--steps", nargs="+", required=True, type=Path, help="results/<run>/<strategy> folders")
    parser.add_argument("--out", type=Path, default=RESULTS / "time_predictor.json")
    args = parser.parse_args()
    config = load_config(*args.config)
    runs = [replay(steps, config) for steps in args.steps]
    write_result(args.out, {"machine": machine(), "config": args.config, "runs": runs}, show=False)
    for run in runs:
        print(run["steps"], run["cells_per_step"])
        print(pd.DataFrame(run["time_models"]).to_string(index=False))
        print("accuracy Spearman:", run["accuracy_spearman"], "as stored:", run["accuracy_spearman_stored_form"])


if __name__ == "__main__":
    main()
