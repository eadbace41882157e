"""Fitting the predictors on the trained cells, scoring every expansion, measuring quality.

Lines 7-12 of Algorithm 1: fit the accuracy and time predictors on every cell trained so
far (failed trainings excluded), expand the cells of the previous step by every new
block, and predict each expansion's accuracy and time. Equivalent expansions (the same
cell reached from two parents) are scored once.

Ours, beside them: the latency predictor (`fit_latency`), fitted on the inference latency
measured for every network trained so far (popnas_steps.latency), which search.objective
and search.max_latency_ms use.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from popnas_steps import tables
from popnas_steps.accuracy_predictor import (
    AccuracyModel,
    AccuracySettings,
    accuracy_model,
    cell_tensors,
    load_accuracy_model,
)
from popnas_steps.features import features_of_cells, reindex_array, time_inputs
from popnas_steps.linear import LinearModel, fit_nonnegative
from popnas_steps.macro import NetworkSpec
from popnas_steps.space import Cell, by_size, canonical_ids, canonicalize, encode, expand
from popnas_steps.time_predictor import (
    TimePredictor,
    TimeSettings,
    fit_time_predictor,
    load_time_predictor,
    mape,
)
from popnas_steps.work import WORK_NAMES, DataShape, WorkCounter

LATENCY_FILE = "latency.json"
MIN_LATENCY_ROWS = 3  # fewer measured networks fit no latency predictor


def thread_count(configured: int) -> int:
    return configured or os.cpu_count() or 1


@dataclass
class Predictors:
    """Both fitted predictors with what they need to featurise cells."""

    time: TimePredictor | None  # None for the PNAS baseline, which has no time predictor
    accuracy: AccuracyModel
    reindex: dict[str, float]
    operators: list[str]
    spec: NetworkSpec
    data: DataShape | None = None  # None: saved before the work counts existed
    latency: LinearModel | None = None  # None: no latency measured (ONNX Runtime missing), or saved before

    @property
    def max_blocks(self) -> int:
        return self.accuracy.max_blocks

    @cached_property
    def work_counter(self) -> WorkCounter | None:
        """Built once: predict_encoded runs once per size group of the cells it scores."""
        return None if self.data is None else WorkCounter(self.operators, self.spec, self.data)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        if self.time is not None:
            self.time.save(folder / "time")
        self.accuracy.save(folder / "accuracy")
        if self.latency is not None:
            saved = {"model": "nonnegative_linear", "features": list(WORK_NAMES), "linear": self.latency.to_json()}
            (folder / LATENCY_FILE).write_text(json.dumps(saved, indent=2) + "\n")
        context = {"reindex": self.reindex, "operators": self.operators, "network": self.spec.__dict__}
        if self.data is not None:
            context["data"] = {"input_shape": list(self.data.input_shape), "num_classes": self.data.num_classes}
        (folder / "context.json").write_text(json.dumps(context, indent=2) + "\n")


def load_predictors(folder: str | Path, threads: int = 0) -> Predictors:
    """Reload predictors saved by `Predictors.save`, without refitting."""
    folder = Path(folder)
    context = json.loads((folder / "context.json").read_text())
    has_time = (folder / "time").is_dir()
    latency = None
    if (folder / LATENCY_FILE).is_file():
        latency = LinearModel.from_json(json.loads((folder / LATENCY_FILE).read_text())["linear"])
    return Predictors(
        load_time_predictor(folder / "time", thread_count(threads)) if has_time else None,
        load_accuracy_model(folder / "accuracy"),
        context["reindex"],
        context["operators"],
        NetworkSpec(**context["network"]),
        DataShape.from_metadata(context["data"]) if "data" in context else None,
        latency,
    )


def fit_predictors(
    trained: pd.DataFrame,
    reindex: dict[str, float],
    operators: list[str],
    spec: NetworkSpec,
    max_blocks: int,
    settings: dict,
    seed: int,
    with_time: bool = True,
    data: DataShape | None = None,
) -> Predictors:
    """Fit the predictors on the successful rows of `trained` (all steps so far).

    `settings` is the `predictors` config slice; `with_time=False` skips the time
    predictor (the PNAS baseline). `data`, the shape of the images and the class count,
    gives the work counts that `work_nnls` fits on. The time predictor predicts each cell's time alone on its
    device, from the times and their `concurrent` (sharing.sharing_fit).
    """
    ok = tables.ok_rows(trained)
    unusable = ~np.isfinite(ok["accuracy"].to_numpy(float)) | ~np.isfinite(ok["time"].to_numpy(float))
    if unusable.any():  # collect marks such results failed: these rows come from elsewhere
        raise ValueError(
            f"cannot fit the predictors: the successful cells {list(ok['cell_id'][unusable])} have a "
            "missing or non-finite accuracy or time"
        )
    cells = [Cell.from_json(text) for text in ok["cell"]]
    time = None
    if with_time:
        features = features_of_cells(cells, reindex, operators, spec, data)
        time_settings = TimeSettings(**settings["time"])
        concurrent = ok["concurrent"].to_numpy(float) if "concurrent" in ok else None  # a table of another source
        time = fit_time_predictor(
            features, ok["time"].to_numpy(float), time_settings, seed, thread_count(settings["threads"]), concurrent
        )
    inputs, ops = _tensors_of(cells, operators, max_blocks)
    accuracy = accuracy_model(max_blocks, len(operators), AccuracySettings(**settings["accuracy"]), seed)
    accuracy.fit(inputs, ops, ok["accuracy"].to_numpy(float))
    return Predictors(time, accuracy, reindex, list(operators), spec, data, fit_latency(trained, operators, spec, data))


def fit_latency(
    trained: pd.DataFrame, operators: list[str], spec: NetworkSpec, data: DataShape | None
) -> LinearModel | None:
    """The latency predictor: a non-negative linear model of the work counts
    (linear.fit_nonnegative, as `work_nnls` fits times) on the measured latencies of every network trained so
    far (a failed training's network too: latency depends on the architecture alone), or
    None where fewer than MIN_LATENCY_ROWS were measured.

    Latency is the same sum over layers as a training's work, without the batches: per-layer
    overheads, multiply-adds and values written, each at its own rate, additive, so a larger
    cell is more of the same, which a model additive in the counts extrapolates to.
    """
    if data is None:
        return None
    trained = tables.with_added("trained", trained)  # a table of another source: no latency measured
    latency = pd.to_numeric(trained["latency_ms"], errors="coerce").to_numpy(float)
    measured = trained[np.isfinite(latency)].drop_duplicates("cell_id")
    if len(measured) < MIN_LATENCY_ROWS:
        return None
    counter = WorkCounter(list(operators), spec, data)
    cells = [Cell.from_json(text) for text in measured["cell"]]
    (work,) = by_size(cells, operators, lambda encoded: (counter.count(encoded),))
    return fit_nonnegative(work, measured["latency_ms"].to_numpy(float))


def _tensors_of(cells: list[Cell], operators: list[str], max_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy-predictor tensors of cells of any sizes, in their order."""
    return by_size(cells, operators, lambda encoded: cell_tensors(encoded, max_blocks))


def predict_encoded(
    predictors: Predictors, encoded: np.ndarray, chunk: int = 32768
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted accuracy, time and latency (NaN without a time or latency predictor) of cells
    encoded as (n, b, 4). The work counts are counted once: the time inputs end with them."""
    work = predictors.work_counter
    predicted_time, counts = np.full(len(encoded), np.nan), None
    if predictors.time is not None:
        reindex = reindex_array(predictors.reindex, predictors.operators)
        features = time_inputs(encoded, reindex, predictors.spec, work)
        predicted_time = predictors.time.predict(features)
        counts = None if work is None else features[:, -len(WORK_NAMES) :]
    predicted_latency = np.full(len(encoded), np.nan)
    if predictors.latency is not None and work is not None:
        predicted_latency = predictors.latency.predict(work.count(encoded) if counts is None else counts)
    inputs, ops = cell_tensors(encoded, predictors.max_blocks)
    predicted_accuracy = predictors.accuracy.predict(inputs, ops, chunk)
    return predicted_accuracy.astype(float), predicted_time, predicted_latency


def predict_cells(predictors: Predictors, cells: list[Cell]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted accuracy, time and latency of cells of any sizes, in their order."""
    return by_size(cells, predictors.operators, lambda encoded: predict_encoded(predictors, encoded))


def unique_expansions(parents: list[Cell], operators: list[str]) -> np.ndarray:
    """Canonical encodings of every expansion of the parents, one per equivalence class.

    Order: parent by parent, new block by new block, each class at its first occurrence.
    """
    children = expand(encode(parents, operators), len(operators))
    canonical, hashes = canonicalize(children, operators)
    _, first = np.unique(hashes, return_index=True)
    return canonical[np.sort(first)]


def score_expansions(predictors: Predictors, parents: list[Cell], chunk: int = 32768) -> pd.DataFrame:
    """Every unique expansion of `parents` with its predicted accuracy, time and latency."""
    unique = unique_expansions(parents, predictors.operators)
    accuracy, time, latency = predict_encoded(predictors, unique, chunk)
    ids, texts = canonical_ids(unique, predictors.operators)
    return pd.DataFrame(
        {"cell_id": ids, "cell": texts, "predicted_accuracy": accuracy, "predicted_time": time,
         "predicted_latency": latency}
    )  # fmt: skip


def predictor_quality(trained: pd.DataFrame) -> pd.DataFrame:
    """MAPE (%) and Spearman rho of the predictions made for cells trained afterwards, per b
    (accuracy, time and latency).

    As in paper Tables 2 and 3: rows of step b compare what the predictors fitted on
    steps < b said with what training measured.
    """
    from scipy.stats import spearmanr

    rows = []
    ok = tables.ok_rows(tables.with_added("trained", trained))  # a table of another source: no latency
    ok = ok[ok["predicted_accuracy"].notna()]
    for b, group in ok.groupby("b"):
        row = {"b": int(b), "cells": len(group)}
        for target, measured in (("accuracy", "accuracy"), ("time", "time"), ("latency", "latency_ms")):
            predicted = group[[measured, f"predicted_{target}"]].dropna()  # no time predictions in PNAS
            true, guess = predicted[measured].to_numpy(float), predicted[f"predicted_{target}"].to_numpy(float)
            row[f"{target}_mape"] = mape(true, guess) if len(true) else np.nan
            row[f"{target}_spearman"] = float(spearmanr(true, guess).statistic) if len(true) > 2 else np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=tables.COLUMNS["quality"])
