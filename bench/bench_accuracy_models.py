"""Benchmark: candidate accuracy predictors replayed on finished runs, step by step.

    python -m bench.bench_accuracy_models --config bench/fashion_mnist_cpu.yaml \
        --steps bench/results/fashion_mnist_cpu/fmnist_cpu/popnas [--steps ...] \
        [--models lstm ridge_ops ...] [--stored-form] [--out bench/results/accuracy_models.json]

For each run (a strategy folder with its run's `data/metadata.json` and `b1/reindex.csv`)
and each step b >= 2, every model is fitted on the successful cells of the steps before b,
as a search fits its predictor, and predicts the cells trained at step b: Spearman's rho
against their measured validation accuracy, and the step's spread of accuracy (standard
deviation, points), the ceiling a narrow selection puts on any rank correlation. Nothing
is trained: the accuracies come from `b<b>/trained.csv`. --stored-form encodes the cells as
the step tables store them instead of in canonical form (what the predictor saw before
issue 14).

`lstm` and `ridge_ops` are the kinds of `predictors.accuracy.model`, fitted as the search
fits them; the others are candidates that lost to `ridge_ops` (issue 26, part 5):
- `lstm`: the paper's ensemble (the `predictors.accuracy` settings);
- `ridge_ops`: ridge regression of logit(accuracy) on each operator's count in the cell;
- `paper_scaled`: the paper's ensemble, fitted on the accuracies standardised to 0.5 +- 0.25 per
  standard deviation (a sigmoid fitted on accuracies bunched near 1 has little gradient);
- `ridge`: `ridge_ops` on the operator counts, the nine time features (reindex, depth, ...)
  and the log of the network's work counts (work.py), all free at scoring time;
- `catboost`: CatBoost on the features of `ridge`;
- `blend`: the mean of `lstm` and `ridge`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import RESULTS, machine, write_result
from popnas_steps import tables
from popnas_steps.accuracy_predictor import (
    AccuracySettings,
    accuracy_model,
    cell_tensors,
    logit,
    operator_counts,
    sigmoid,
)
from popnas_steps.config import load_config
from popnas_steps.features import reindex_array, reindex_values, time_features
from popnas_steps.layout import RunLayout
from popnas_steps.macro import NetworkSpec
from popnas_steps.space import Cell, by_size
from popnas_steps.work import DataShape, WorkCounter


def accuracy_features(encoded: np.ndarray, reindex: np.ndarray, spec: NetworkSpec, work: WorkCounter) -> np.ndarray:
    """The nine time features, each operator's count, and the log work counts of cells (n, b, 4)."""
    _, operators = cell_tensors(encoded, encoded.shape[1])
    counts = operator_counts(operators, len(reindex))
    return np.hstack([time_features(encoded, reindex, spec), counts, np.log1p(work.count(encoded))])


def _fitted(fit: dict, name: str, target: np.ndarray) -> np.ndarray:
    """The predictions for step b of the `predictors.accuracy.model` kind `name`, fitted as the
    search fits it on the steps before b, to `target` (their accuracies, or a rescaling)."""
    settings = AccuracySettings(**{**fit["config"]["predictors"]["accuracy"], "model": name})
    model = accuracy_model(fit["max_blocks"], fit["n_operators"], settings, fit["config"]["seed"])
    model.fit(fit["inputs"][fit["train"]], fit["ops"][fit["train"]], target)
    return model.predict(fit["inputs"][fit["test"]], fit["ops"][fit["test"]])


def _kind(name: str):
    """A kind of `predictors.accuracy.model`, fitted on the measured accuracies."""
    return lambda fit: _fitted(fit, name, fit["accuracy"][fit["train"]])


def paper_scaled(fit: dict) -> np.ndarray:
    measured = fit["accuracy"][fit["train"]]
    mean, spread = measured.mean(), 4 * measured.std() + 1e-9
    return mean + (_fitted(fit, "lstm", np.clip(0.5 + (measured - mean) / spread, 0.01, 0.99)) - 0.5) * spread


def _ridge(fit: dict, columns: slice) -> np.ndarray:
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    model.fit(fit["features"][fit["train"], columns], logit(fit["accuracy"][fit["train"]]))
    return sigmoid(model.predict(fit["features"][fit["test"], columns]))


def ridge(fit: dict) -> np.ndarray:
    return _ridge(fit, slice(None))


def catboost(fit: dict) -> np.ndarray:
    from catboost import CatBoostRegressor

    model = CatBoostRegressor(
        iterations=500, depth=4, learning_rate=0.05, random_seed=fit["config"]["seed"], verbose=0, thread_count=-1
    )
    model.fit(fit["features"][fit["train"]], logit(fit["accuracy"][fit["train"]]))
    return sigmoid(model.predict(fit["features"][fit["test"]]))


def blend(fit: dict) -> np.ndarray:
    return (fit["predicted"]["lstm"] + fit["predicted"]["ridge"]) / 2


MODELS = {  # in the order they run: blend reads lstm's and ridge's predictions
    "lstm": _kind("lstm"),
    "ridge_ops": _kind("ridge_ops"),
    "paper_scaled": paper_scaled,
    "ridge": ridge,
    "catboost": catboost,
    "blend": blend,
}


def replay(steps: Path, config: dict, models: list[str], canonical: bool = True) -> list[dict]:
    """Per step b >= 2: each model's Spearman on the cells of b, fitted on the steps before."""
    from scipy.stats import spearmanr

    layout = RunLayout.of_steps(steps)
    ok = tables.ok_rows(tables.read("trained", *layout.step_files("trained").values())).reset_index(drop=True)
    operators, max_blocks = config["search"]["operators"], config["search"]["max_blocks"]
    reindex = reindex_array(reindex_values(tables.read("reindex", layout.table(1, "reindex"))), operators)
    spec = NetworkSpec(**config["network"])
    work = WorkCounter(operators, spec, DataShape.read(layout.metadata))
    cells = [Cell.from_json(text) for text in ok["cell"]]
    inputs, ops = by_size(cells, operators, lambda encoded: cell_tensors(encoded, max_blocks), canonical=canonical)
    (features,) = by_size(
        cells, operators, lambda encoded: (accuracy_features(encoded, reindex, spec, work),), canonical=canonical
    )
    accuracy = ok["accuracy"].to_numpy(float)
    rows = []
    for b in sorted(ok.loc[ok["b"] >= 2, "b"].unique()):
        train, test = (ok["b"] < b).to_numpy(), (ok["b"] == b).to_numpy()
        fit = {"config": config, "max_blocks": max_blocks, "n_operators": len(operators), "inputs": inputs,
               "ops": ops, "features": features, "accuracy": accuracy, "train": train, "test": test,
               "predicted": {}}  # fmt: skip
        row = {"b": int(b), "cells": int(test.sum()), "accuracy_sd_points": round(100 * accuracy[test].std(), 2)}
        for name in models:
            started = time.perf_counter()
            fit["predicted"][name] = MODELS[name](fit)
            rho = spearmanr(accuracy[test], fit["predicted"][name]).statistic if test.sum() > 2 else np.nan
            row[f"{name}_spearman"] = round(float(rho), 3)
            row[f"{name}_seconds"] = round(time.perf_counter() - started, 1)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", nargs="+", required=True, help="the config files the runs were made with")
    parser.add_argument("--steps", nargs="+", required=True, type=Path, help="results/<run>/<strategy> folders")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--stored-form", action="store_true", help="the cells as stored, not canonicalised")
    parser.add_argument("--out", type=Path, default=RESULTS / "accuracy_models.json")
    args = parser.parse_args()
    if "blend" in args.models and not {"lstm", "ridge"} <= set(args.models):
        parser.error("blend needs lstm and ridge in --models")
    models = [name for name in MODELS if name in args.models]
    config = load_config(*args.config)
    canonical = not args.stored_form
    runs = [{"steps": str(steps), "per_step": replay(steps, config, models, canonical)} for steps in args.steps]
    result = {"machine": machine(), "config": args.config, "models": models, "canonical": canonical, "runs": runs}
    write_result(args.out, result, show=False)
    for run in runs:
        print(run["steps"])
        print(pd.DataFrame(run["per_step"]).to_string(index=False))


if __name__ == "__main__":
    main()
