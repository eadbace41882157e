"""Benchmark: the one-off tracing cost of a network's first training step, by schedule.

    python -m bench.bench_fixed_cost [--repeats 3]

Builds the embedded default's network for a two-block cell on the digits split and times
its first `train_on_batch` (graph tracing + the step) with Keras' CosineDecayRestarts and
with popnas' TabulatedSchedule (the same values from a table), alternating in one process
so both see the same machine load. Writes bench/results/fixed_cost.json.
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras
import numpy as np

from bench.common import DEFAULT_CONFIG, RESULTS, machine, write_result
from popnas_steps.config import load_config
from popnas_steps.datasets import split
from popnas_steps.macro import NetworkSpec
from popnas_steps.model import build_model
from popnas_steps.readers import load_digits
from popnas_steps.space import Cell
from popnas_steps.train import Recipe, learning_rate_schedule

CELL = Cell.from_json('[[-1, "3x3 conv", -2, "identity"], [0, "3x3 dconv", -1, "2x2 maxpool"]]')


def first_step_seconds(config: dict, keras_schedule: bool) -> float:
    recipe = Recipe.from_config(config["training"])
    steps = 20
    if keras_schedule:
        schedule = keras.optimizers.schedules.CosineDecayRestarts(
            recipe.learning_rate, recipe.first_period * steps, recipe.t_mul, recipe.m_mul, recipe.alpha
        )
    else:
        schedule = learning_rate_schedule(recipe, steps)
    model = build_model(CELL, (8, 8, 1), 10, NetworkSpec(**config["network"]))
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=recipe.weight_decay / recipe.learning_rate)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=False)
    x = np.random.default_rng(0).random((64, 8, 8, 1), dtype=np.float32)
    y = np.arange(64) % 10
    started = time.perf_counter()
    model.train_on_batch(x, y)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS / "fixed_cost.json"))
    args = parser.parse_args()
    config = load_config(DEFAULT_CONFIG)
    split(load_digits(), config["dataset"], 0)  # warm the imports of the data path
    first_step_seconds(config, False)  # warm TensorFlow itself
    timings = {"keras_cosine_decay_restarts": [], "tabulated_schedule": []}
    for _ in range(args.repeats):
        timings["keras_cosine_decay_restarts"].append(first_step_seconds(config, True))
        timings["tabulated_schedule"].append(first_step_seconds(config, False))
    medians = {k: round(statistics.median(v), 2) for k, v in timings.items()}
    result = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "first_train_step_seconds_median": medians,
        "all": {k: [round(t, 2) for t in v] for k, v in timings.items()},
        "saved_seconds_per_network": round(medians["keras_cosine_decay_restarts"] - medians["tabulated_schedule"], 2),
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
