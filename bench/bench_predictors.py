"""Benchmark: fit both predictors, then score every b=5 expansion of 128 parents.

    python -m bench.bench_predictors [--trained 300] [--sample 2048] [--models ...] [--repeats 1]

Measures, in one run on the same machine, for each accuracy predictor of --models (`lstm`,
the paper's ensemble; `ridge_ops`, the default; `ridge_wiring`; all three by default), the
scoring --repeats times, the models taking turns, the least kept:
- fitting the time predictor (the default, `work_nnls`) and the accuracy predictor on a
  few hundred cells with synthetic measurements (tests/synthetic.py: made-up, clearly named);
- ours: expand 128 b=4 parents by all 2628 new blocks (~336k candidates), drop equivalent
  ones, featurise and predict time and accuracy of all of them;
and, where `lstm` is measured, the authors' strategy on a sample: batches of 32 cells, each batch
featurised and sent to the time predictor and to each of the 5 ensemble members separately
(5 Keras predict calls per batch), extrapolated to all candidates.
Writes bench/results/predictors.json.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from bench.common import RESULTS, machine, write_result
from popnas_steps import predictors as P
from popnas_steps.accuracy_predictor import cell_tensors
from popnas_steps.config import validate
from popnas_steps.features import reindex_array, time_inputs
from popnas_steps.operators import PAPER_OPERATORS
from popnas_steps.space import decode, encode, expand
from popnas_steps.work import DataShape
from tests.synthetic import SPEC, sample_cells, synthetic_accuracy, synthetic_reindex, synthetic_time

OPS = list(PAPER_OPERATORS)


def authors_strategy(predictors: P.Predictors, encoded: np.ndarray, batch: int = 32) -> float:
    """Seconds to score `encoded` the authors' way: per batch of 32, one call per model."""
    reindex, work = reindex_array(predictors.reindex, predictors.operators), predictors.work_counter
    started = time.perf_counter()
    for start in range(0, len(encoded), batch):
        chunk = encoded[start : start + batch]
        predictors.time.predict(time_inputs(chunk, reindex, predictors.spec, work))
        inputs, ops = cell_tensors(chunk, predictors.max_blocks)
        for member in predictors.accuracy.members:
            member.predict([inputs, ops], verbose=0)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trained", type=int, default=300, help="synthetic trained cells (b=1..4)")
    parser.add_argument("--sample", type=int, default=2048, help="candidates scored the authors' way")
    parser.add_argument("--models", nargs="+", default=["lstm", "ridge_ops", "ridge_wiring"])
    parser.add_argument("--repeats", type=int, default=1, help="scorings per model, the models taking turns")
    parser.add_argument("--out", default=str(RESULTS / "predictors.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    steps = sample_cells(rng, OPS, per_step=args.trained // 4, max_blocks=4)
    rows = []
    for b, encoded in enumerate(steps, start=1):
        for cell, a, t in zip(
            decode(encoded, OPS), synthetic_accuracy(encoded, 12), synthetic_time(encoded, 12), strict=True
        ):
            rows.append({"cell": cell.to_json(), "b": b, "status": "ok", "accuracy": a, "time": t})
    trained = pd.DataFrame(rows)
    reindex = dict(zip(OPS, synthetic_reindex(12).tolist(), strict=True))
    data = DataShape((32, 32, 3), 10)  # CIFAR-10's, the paper's first dataset
    parents = decode(sample_cells(rng, OPS, per_step=128, max_blocks=4)[-1], OPS)
    fitted, kinds = {}, {}
    for kind in args.models:
        settings = validate({"predictors": {"accuracy": {"model": kind}}})["predictors"]
        started = time.perf_counter()
        predictors = P.fit_predictors(trained, reindex, OPS, SPEC, max_blocks=5, settings=settings, seed=0, data=data)
        fit_seconds = time.perf_counter() - started
        P.score_expansions(predictors, parents[:1])  # one-off graph tracing, as in a warm step
        fitted[kind] = predictors
        kinds[kind] = {"fit_seconds": round(fit_seconds, 2), "score_seconds": []}
    for _ in range(args.repeats):
        for kind, predictors in fitted.items():
            started = time.perf_counter()
            candidates = P.score_expansions(predictors, parents, chunk=settings["score_chunk"])
            kinds[kind]["score_seconds"].append(round(time.perf_counter() - started, 2))
    for entry in kinds.values():
        entry["score_seconds"] = min(entry.pop("score_seconds"))
    ratios = {
        f"{kind}_over_{base}_score_seconds": round(kinds[kind]["score_seconds"] / kinds[base]["score_seconds"], 3)
        for kind, base in (("ridge_ops", "lstm"), ("ridge_wiring", "ridge_ops"))
        if kind in kinds and base in kinds
    }
    all_expansions = expand(encode(parents, OPS), 12)
    result = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "trained_cells": len(trained),
        "accuracy_models": kinds,
        **ratios,
        "time_predictor_cv_mape": round(next(iter(fitted.values())).time.cv_scores["mape_mean"], 2),
        "expansions": len(all_expansions),
        "unique_candidates": len(candidates),
    }
    if "lstm" in fitted:
        predictors, ours = fitted["lstm"], kinds["lstm"]["score_seconds"]
        sample = all_expansions[rng.choice(len(all_expansions), args.sample, replace=False)]
        authors_strategy(predictors, sample[:64])  # warm-up
        sample_seconds = authors_strategy(predictors, sample)
        authors = sample_seconds / args.sample * len(all_expansions)
        result |= {
            "ours_seconds": ours,
            "authors_sample": args.sample,
            "authors_sample_seconds": round(sample_seconds, 2),
            "authors_extrapolated_seconds": round(authors, 1),
            "speedup": round(authors / ours, 1),
        }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
