"""Benchmark: how reproducible a training's time t (and, over seeds, its accuracy) is: the floor
under any predictor's error.

    python -m bench.bench_time_noise --steps results/<run>/<strategy> --config CONFIG...
        [--per-step 8] [--repeats 3] [--b 2 3] [--reseed] [--out bench/results/time_noise.json]

Takes up to --per-step cells of each step of a finished run (seeded sample; every cell of a
smaller step) and trains each --repeats times on the run's own data split, as the
workflow's train_cell jobs do (one job per training, warm workers on), in rounds: every
cell once per round, in a new shuffled order each round, so that a slow spell of the
machine falls on all cells alike. Nothing of the run is read but its data, its cells and
their recorded t; the trainings go to a temporary folder.

Per step it reports the spread of t over the repeats of one cell (median coefficient of
variation), and what a perfect predictor would score: each repeat's t predicted by the
mean of the cell's other repeats (MAPE) and the Spearman of two repeats over the step's
cells. A time predictor scored against one measurement per cell, as the replays of
bench/bench_time_predictor.py score it, cannot do better than these. Also the ratio of
the run's recorded t to the repeats' mean: how far the machine drifted between the run
and now. Where the run's time predictor predicted the step (its `predicted_time`), that
prediction is scored twice: against the recorded t, as the run's report scores it, and
against the mean of the repeats, a measurement with the noise of one training averaged out.

The validation accuracy of each training is kept too. With --reseed repeat r trains with
seed + 1 + r, so the run's own training and every repeat differ in seed, and the Spearman
of two of them over a step's cells is the most an accuracy predictor scored against one
training can reach; the run's `predicted_accuracy` is scored against the recorded accuracy
and against the mean of all.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import RESULTS, job_environment, machine, run_training_job, write_result
from popnas_steps import tables
from popnas_steps.config import load_config
from popnas_steps.slices import params_text
from popnas_steps.time_predictor import mape
from popnas_steps.worker import stop_workers


def sample_cells(trained: pd.DataFrame, per_step: int, seed: int) -> pd.DataFrame:
    """Up to `per_step` successful cells of each step, drawn with `seed`."""
    ok = tables.ok_rows(trained)
    groups = [group.sample(min(per_step, len(group)), random_state=seed) for _, group in ok.groupby("b")]
    return pd.concat(groups, ignore_index=True)


def repeat_spearman(values: np.ndarray) -> float:
    """The median, over every pair of repeats (columns), of their Spearman over the cells (rows)."""
    from scipy.stats import spearmanr

    columns = values.shape[1]
    pairs = [spearmanr(values[:, i], values[:, j]).statistic for i in range(columns) for j in range(i + 1, columns)]
    return float(np.median(pairs))


def floor_figures(times: np.ndarray) -> dict:
    """The noise figures of one step from its (cells, repeats) times."""

    cells, repeats = times.shape
    others = (times.sum(axis=1, keepdims=True) - times) / (repeats - 1)  # each repeat's other repeats, averaged
    figures = {
        "cells": cells,
        "cv_median_percent": float(np.median(times.std(axis=1, ddof=1) / times.mean(axis=1)) * 100),
        "perfect_predictor_mape_percent": mape(times, others),
        "summed_time_spread_percent": float(np.ptp(times.sum(axis=0)) / times.sum(axis=0).mean() * 100),
    }
    if cells > 2:
        figures["repeat_spearman_median"] = repeat_spearman(times)
    return figures


def predictor_figures(predicted: np.ndarray, recorded: np.ndarray, times: np.ndarray) -> dict:
    """A step's predictions scored against its recorded t and against the mean of its repeats."""
    from scipy.stats import spearmanr

    figures = {}
    for name, measured in (("recorded", recorded), ("repeat_mean", times.mean(axis=1))):
        figures[f"predictor_mape_percent_vs_{name}"] = mape(measured, predicted)
        if len(predicted) > 2:
            figures[f"predictor_spearman_vs_{name}"] = float(spearmanr(predicted, measured).statistic)
    return figures


def accuracy_floor(accuracies: np.ndarray, predicted: pd.Series) -> dict:
    """A step's validation accuracies (cells, trainings; the run's recorded one first): their
    spread within a cell (median and pooled SD) and between the cells' means, the Spearman of
    two trainings over the cells (with --reseed, of two seeds: the most a predictor scored
    against one training can reach), and the run's accuracy predictions scored against the
    recorded accuracy and against the mean of all trainings."""
    from scipy.stats import spearmanr

    cells = len(accuracies)
    figures = {
        "accuracy_sd_points_median": float(np.median(accuracies.std(axis=1, ddof=1)) * 100),
        # the seed floor against what separates the cells (issue 37's goal: within < between / 2)
        "accuracy_within_cell_sd_points_pooled": float(np.sqrt(np.mean(accuracies.var(axis=1, ddof=1))) * 100),
    }
    if cells > 1:
        figures["accuracy_between_cell_sd_points"] = float(accuracies.mean(axis=1).std(ddof=1) * 100)
    if cells > 2:
        figures["accuracy_repeat_spearman_median"] = repeat_spearman(accuracies)
        if predicted.notna().all():  # b <= 1 has no prediction
            guess = predicted.to_numpy(float)
            figures["accuracy_predictor_spearman_vs_recorded"] = float(spearmanr(guess, accuracies[:, 0]).statistic)
            figures["accuracy_predictor_spearman_vs_repeat_mean"] = float(
                spearmanr(guess, accuracies.mean(axis=1)).statistic
            )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=Path, required=True, help="results/<run>/<strategy> of a finished run")
    parser.add_argument("--config", nargs="+", required=True, help="the config files the run was made with")
    parser.add_argument("--per-step", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--b", type=int, nargs="+", help="only these steps (default: every step)")
    parser.add_argument(
        "--reseed", action="store_true",
        help="repeat r trains with seed + 1 + r: with the run's own training, the accuracy's spread over seeds",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS / "time_noise.json")
    args = parser.parse_args(argv)
    if args.repeats < 2:
        parser.error("--repeats must be at least 2: the noise is the spread between repeats")

    config = load_config(*args.config)

    def settings(repeat: int) -> str:  # what the workflow's rule passes
        seed = config["seed"] + 1 + repeat if args.reseed else config["seed"]
        return params_text({**config, "seed": seed}, "seed", "network", "training")

    trained = tables.read("trained", *sorted(args.steps.glob("b*/trained.csv")))
    if args.b:
        trained = trained[trained["b"].isin(args.b)]
    if tables.ok_rows(trained).empty:
        parser.error(f"no successful cell of steps {args.b or 'any'} in {args.steps}/b*/trained.csv")
    cells = sample_cells(trained, args.per_step, config["seed"])
    short = Path(tempfile.mkdtemp(prefix="ptn", dir="/tmp"))  # a Unix socket's path is short
    env = job_environment(short, warm_workers=True)
    data = (args.steps.parent / "data").resolve()

    rng = np.random.default_rng(config["seed"])
    times = np.full((len(cells), args.repeats), np.nan)
    accuracies = np.full((len(cells), args.repeats), np.nan)
    started = time.perf_counter()
    for repeat in range(args.repeats):
        for index in rng.permutation(len(cells)):
            out = short / f"r{repeat}" / str(index)
            result, _ = run_training_job(["--settings", settings(repeat)], data, cells["cell"][index], out, env=env)
            times[index, repeat], accuracies[index, repeat] = result["time"], result["accuracy"]
        print(f"round {repeat + 1}/{args.repeats} done, {time.perf_counter() - started:.0f} s", flush=True)
    stop_workers(short)

    steps = {}
    for b in sorted(cells["b"].unique()):
        rows = (cells["b"] == b).to_numpy()
        figures = floor_figures(times[rows])
        recorded = cells.loc[rows, "time"].to_numpy(float)
        figures["recorded_over_repeats_median"] = float(np.median(recorded / times[rows].mean(axis=1)))
        predicted = cells.loc[rows, "predicted_time"].to_numpy(float)
        if not np.isnan(predicted).any():  # b <= 1 and PNAS steps have no prediction
            figures |= predictor_figures(predicted, recorded, times[rows])
        recorded_accuracy = cells.loc[rows, "accuracy"].to_numpy(float)
        figures |= accuracy_floor(
            np.column_stack([recorded_accuracy, accuracies[rows]]), cells.loc[rows, "predicted_accuracy"]
        )
        steps[f"b{int(b)}"] = figures
    report = {
        "what": "reproducibility of t and accuracy: each sampled cell of a finished run trained --repeats times, "
        "in shuffled rounds",
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "run": str(args.steps),
        "config": args.config,
        "repeats": args.repeats,
        "reseed": args.reseed,
        "seconds": round(time.perf_counter() - started, 1),
        "steps": steps,
        "all_steps_perfect_predictor_mape_percent": floor_figures(times)["perfect_predictor_mape_percent"],
        "cells": [
            {
                "cell_id": cell_id,
                "b": int(b),
                "recorded_t": float(t),
                "predicted_t": None if np.isnan(p) else float(p),
                "repeats_t": [float(x) for x in row],
                "repeats_accuracy": [float(x) for x in accuracy_row],
            }
            for cell_id, b, t, p, row, accuracy_row in zip(
                cells["cell_id"], cells["b"], cells["time"], cells["predicted_time"], times, accuracies, strict=True
            )
        ],
    }
    write_result(args.out, report, show=False)
    for b, figures in steps.items():
        print(b, {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()})
    print("median t over all:", statistics.median(times.ravel()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
