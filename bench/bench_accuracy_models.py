"""Benchmark: candidate accuracy predictors replayed on finished runs, step by step.

    python -m bench.bench_accuracy_models --config bench/history/fashion_mnist_cpu_v1.yaml \
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

Per step and model, beside the Spearman: what the model makes of the step's candidates
(issue 36, part 4), every unique expansion of step b-1's successful cells, scored as the
search's expand rule scores them, with the predicted times of the step's saved time
predictor (`b<b>/predictors/time`; the step's candidates table is not kept with the runs):
- `candidates`, `candidates_read_minus1`: how many, and whether any reads input -1;
- `<model>_distinct_predictions`, `<model>_largest_tie`: distinct predicted accuracies
  (exact: the front breaks ties by predicted time, so an operator-count model lets the
  cheapest wiring win), and the largest group of candidates predicted alike;
- `<model>_front_cells`, `<model>_front_minus1_share`: the Pareto front `search.pareto_front`
  cuts on predicted accuracy and time (K = search.beam), and its share of cells that read
  input -1 anywhere; None where the strategy fits no time predictor (pnas, random);
- `<model>_top_k_minus1_share`: the same share in the K most accurate (PNAS's front).

The kinds of `predictors.accuracy.model` (`ACCURACY_MODELS`) are fitted as the search fits
them; the others are candidates that lost to `ridge_ops` (issue 26, part 5):
- `lstm`: the paper's ensemble (the `predictors.accuracy` settings);
- `ridge_ops`: ridge regression of logit(accuracy) on each operator's count in the cell;
- `ridge_wiring`: `ridge_ops` plus the cell's wiring, each wiring group weighted by
  leave-one-out error (issue 36);
- `boosted_wiring`: `ridge_wiring`, then CatBoost trees fitted to its residuals (issue 36);
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
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import RESULTS, machine, write_result
from popnas_steps import search, tables
from popnas_steps.accuracy_predictor import (
    ACCURACY_MODELS,
    AccuracyModel,
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
from popnas_steps.predictors import Predictors, score_expansions, thread_count, unique_expansions
from popnas_steps.space import Cell, by_size
from popnas_steps.time_predictor import load_time_predictor
from popnas_steps.work import DataShape, WorkCounter

# A fitted model: cells to predict ({"inputs", "ops", "features"}, rows alike) -> their predicted accuracy
Predict = Callable[[dict], np.ndarray]


def accuracy_features(encoded: np.ndarray, reindex: np.ndarray, spec: NetworkSpec, work: WorkCounter) -> np.ndarray:
    """The nine time features, each operator's count, and the log work counts of cells (n, b, 4)."""
    _, operators = cell_tensors(encoded, encoded.shape[1])
    counts = operator_counts(operators, len(reindex))
    return np.hstack([time_features(encoded, reindex, spec), counts, np.log1p(work.count(encoded))])


def _fitted(fit: dict, name: str, target: np.ndarray) -> AccuracyModel:
    """The `predictors.accuracy.model` kind `name` fitted as the search fits it on the steps
    before b, to `target` (their accuracies, or a rescaling)."""
    settings = AccuracySettings(**{**fit["config"]["predictors"]["accuracy"], "model": name})
    model = accuracy_model(fit["max_blocks"], fit["n_operators"], settings, fit["config"]["seed"])
    return model.fit(fit["inputs"][fit["train"]], fit["ops"][fit["train"]], target)


def _kind(name: str) -> Callable[[dict], Predict]:
    """A kind of `predictors.accuracy.model`, fitted on the measured accuracies."""

    def fitted(fit: dict) -> Predict:
        model = _fitted(fit, name, fit["accuracy"][fit["train"]])
        return lambda cells: model.predict(cells["inputs"], cells["ops"])

    return fitted


def paper_scaled(fit: dict) -> Predict:
    measured = fit["accuracy"][fit["train"]]
    mean, spread = measured.mean(), 4 * measured.std() + 1e-9
    model = _fitted(fit, "lstm", np.clip(0.5 + (measured - mean) / spread, 0.01, 0.99))
    return lambda cells: mean + (model.predict(cells["inputs"], cells["ops"]) - 0.5) * spread


def _ridge(fit: dict, columns: slice) -> Predict:
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    model.fit(fit["features"][fit["train"], columns], logit(fit["accuracy"][fit["train"]]))
    return lambda cells: sigmoid(model.predict(cells["features"][:, columns]))


def ridge(fit: dict) -> Predict:
    return _ridge(fit, slice(None))


def catboost(fit: dict) -> Predict:
    from catboost import CatBoostRegressor

    model = CatBoostRegressor(
        iterations=500, depth=4, learning_rate=0.05, random_seed=fit["config"]["seed"], verbose=0, thread_count=-1
    )
    model.fit(fit["features"][fit["train"]], logit(fit["accuracy"][fit["train"]]))
    return lambda cells: sigmoid(model.predict(cells["features"]))


def blend(fit: dict) -> Predict:
    lstm, ridge = fit["fitted"]["lstm"], fit["fitted"]["ridge"]
    return lambda cells: (lstm(cells) + ridge(cells)) / 2


MODELS: dict[str, Callable[[dict], Predict]] = {  # in the order they run: blend reads lstm and ridge
    **{kind: _kind(kind) for kind in ACCURACY_MODELS},
    "paper_scaled": paper_scaled,
    "ridge": ridge,
    "catboost": catboost,
    "blend": blend,
}


class _Unscored:
    """The accuracy predictor's place where the library scores the candidates' times: each
    replayed model then fills in the accuracies."""

    def __init__(self, max_blocks: int):
        self.max_blocks = max_blocks

    def predict(self, inputs: np.ndarray, operators: np.ndarray, chunk: int = 0) -> np.ndarray:
        return np.full(len(inputs), np.nan)


def step_candidates(layout: RunLayout, b: int, config: dict, scoring: Predictors) -> tuple[pd.DataFrame, np.ndarray]:
    """Step b's candidates as its expand rule scored them, without their accuracy: every
    unique expansion of step b-1's successful cells with its predicted time by the step's
    saved time predictor (NaN where the strategy fits none), and their canonical encodings
    (n, b, 4) in the same order. `scoring`: the run's predictors, less both models."""
    trained = tables.ok_rows(tables.read("trained", layout.table(b - 1, "trained")))
    parents = [Cell.from_json(text) for text in trained["cell"]]
    folder = layout.predictors(b) / "time"
    time = load_time_predictor(folder, thread_count(config["predictors"]["threads"])) if folder.is_dir() else None
    scored = score_expansions(replace(scoring, time=time), parents, config["predictors"]["score_chunk"])
    return scored, unique_expansions(parents, scoring.operators)


def reads_minus1(cells: pd.Series) -> np.ndarray:
    """Whether each cell (canonical JSON) reads input -1 in any block."""
    return np.array([search.usage([cell])[1][-1] > 0 for cell in cells], dtype=bool)


def _share(cells: pd.Series) -> float | None:
    return round(float(reads_minus1(cells).mean()), 3) if len(cells) else None


def front_fields(candidates: pd.DataFrame, beam: int) -> dict:
    """What one model's predicted accuracies make of a step's scored candidates: the distinct
    predictions, the largest group predicted alike, and the share of cells reading input -1
    in the Pareto front on predicted time (None without predicted times) and in the top K.
    Neither applies search.time_constraint nor a cap: the replayed runs set none."""
    groups = candidates["predicted_accuracy"].value_counts()
    timed = len(candidates) > 0 and candidates["predicted_time"].notna().all()
    front = search.pareto_front(candidates, beam) if timed else None
    return {
        "distinct_predictions": len(groups),
        "largest_tie": int(groups.max()) if len(groups) else 0,
        "front_cells": None if front is None else len(front),
        "front_minus1_share": None if front is None else _share(front["cell"]),
        "top_k_minus1_share": _share(search.top_k(candidates, beam)["cell"]),
    }


def replay(steps: Path, config: dict, models: list[str], canonical: bool = True, fronts: bool = False) -> list[dict]:
    """Per step b >= 2: each model's Spearman on the cells of b, fitted on the steps before;
    with `fronts`, what it makes of the step's candidates too (front_fields)."""
    from scipy.stats import spearmanr

    layout = RunLayout.of_steps(steps)
    ok = tables.ok_rows(tables.read("trained", *layout.step_files("trained").values())).reset_index(drop=True)
    operators, max_blocks = config["search"]["operators"], config["search"]["max_blocks"]
    reindex_map = reindex_values(tables.read("reindex", layout.table(1, "reindex")))
    reindex = reindex_array(reindex_map, operators)
    spec, data = NetworkSpec(**config["network"]), DataShape.read(layout.metadata)
    work = WorkCounter(operators, spec, data)
    scoring = Predictors(None, _Unscored(max_blocks), reindex_map, list(operators), spec, data)
    cells = [Cell.from_json(text) for text in ok["cell"]]
    inputs, ops = by_size(cells, operators, lambda encoded: cell_tensors(encoded, max_blocks), canonical=canonical)

    def featurise(encoded: np.ndarray) -> np.ndarray:
        return accuracy_features(encoded, reindex, spec, work)

    (features,) = by_size(cells, operators, lambda encoded: (featurise(encoded),), canonical=canonical)
    accuracy = ok["accuracy"].to_numpy(float)
    rows = []
    for b in sorted(ok.loc[ok["b"] >= 2, "b"].unique()):
        train, test = (ok["b"] < b).to_numpy(), (ok["b"] == b).to_numpy()
        fit = {"config": config, "max_blocks": max_blocks, "n_operators": len(operators), "inputs": inputs,
               "ops": ops, "features": features, "accuracy": accuracy, "train": train, "test": test,
               "fitted": {}}  # fmt: skip
        row = {"b": int(b), "cells": int(test.sum()), "accuracy_sd_points": round(100 * accuracy[test].std(), 2)}
        tested = {"inputs": inputs[test], "ops": ops[test], "features": features[test]}
        for name in models:
            started = time.perf_counter()
            fit["fitted"][name] = MODELS[name](fit)
            predicted = fit["fitted"][name](tested)
            rho = spearmanr(accuracy[test], predicted).statistic if test.sum() > 2 else np.nan
            row[f"{name}_spearman"] = round(float(rho), 3)
            row[f"{name}_seconds"] = round(time.perf_counter() - started, 1)
        if fronts:
            row.update(_candidate_fields(layout, int(b), config, scoring, featurise, fit["fitted"]))
        rows.append(row)
    return rows


def _candidate_fields(
    layout: RunLayout, b: int, config: dict, scoring: Predictors, featurise: Callable, fitted: dict[str, Predict]
) -> dict:
    """A step's row fields on its candidates: theirs, then each model's front_fields."""
    scored, encoded = step_candidates(layout, b, config, scoring)
    candidate_inputs, candidate_ops = cell_tensors(encoded, scoring.max_blocks)
    cells = {"inputs": candidate_inputs, "ops": candidate_ops, "features": featurise(encoded)}
    fields = {"candidates": len(scored), "candidates_read_minus1": bool(reads_minus1(scored["cell"]).any())}
    for name, predict in fitted.items():
        own = front_fields(scored.assign(predicted_accuracy=predict(cells).astype(float)), config["search"]["beam"])
        fields.update({f"{name}_{key}": value for key, value in own.items()})
    return fields


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
    runs = [
        {"steps": str(steps), "per_step": replay(steps, config, models, canonical, fronts=True)} for steps in args.steps
    ]
    result = {"machine": machine(), "config": args.config, "models": models, "canonical": canonical, "runs": runs}
    write_result(args.out, result, show=False)
    for run in runs:
        print(run["steps"])
        print(pd.DataFrame(run["per_step"]).to_string(index=False))


if __name__ == "__main__":
    main()
