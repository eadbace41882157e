"""Benchmark: what a checkpoint per epoch costs a training of the search.

    python -m bench.bench_checkpoint [--repeats 3] [--epochs 21]

Trains cells of the embedded default (digits, its network) for `--epochs` epochs with and
without popnas_steps.checkpoints' per-epoch checkpoint, alternating in one process so that
both see the same machine load, and compares the time of `fit` (training, validation and
callbacks: what a checkpoint adds to a job) and the training time t (which must not
change: the checkpoint is written outside the timed batches). Writes
bench/results/checkpoint.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import keras

from bench.common import DEFAULT_CONFIG, RESULTS, machine, write_result
from popnas_steps.config import load_config
from popnas_steps.datasets import load_prepared, prepare
from popnas_steps.macro import NetworkSpec
from popnas_steps.model import build_model
from popnas_steps.space import Cell
from popnas_steps.train import Recipe, train_model

CELLS = [
    '[[-1, "3x3 conv", -2, "identity"]]',
    '[[-1, "3x3 conv", -2, "identity"], [0, "3x3 dconv", -1, "2x2 maxpool"]]',
    '[[-1, "3x3 dconv", -1, "3x3 conv"], [0, "3x3 conv", -2, "2x2 maxpool"], [1, "identity", 0, "3x3 dconv"]]',
]


def one_training(config: dict, data, cell: Cell, epochs: int, checkpoint: Path | None) -> dict:
    recipe = Recipe.from_config(config["training"], epochs=epochs)
    keras.utils.set_random_seed(config["seed"])
    model = build_model(cell, data.input_shape, data.num_classes, NetworkSpec(**config["network"]))
    measured = train_model(model, data, recipe, config["seed"], None, checkpoint, "bench")
    if checkpoint is not None:
        shutil.rmtree(checkpoint, ignore_errors=True)
    return {"fit_seconds": measured["timings"]["fit_seconds"], "time": measured["time"], "params": measured["params"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=21)
    args = parser.parse_args()
    config = load_config(DEFAULT_CONFIG)
    scratch = Path(tempfile.mkdtemp(prefix="popnas-bench-checkpoint-"))
    prepare(config["dataset"], config["seed"], scratch / "data")
    data = load_prepared(scratch / "data")
    rows = []
    for text in CELLS:
        cell = Cell.from_json(text)
        one_training(config, data, cell, 1, None)  # warm-up: the first training of a process pays more
        for repeat in range(args.repeats):
            for with_checkpoint in (False, True) if repeat % 2 == 0 else (True, False):
                folder = scratch / "checkpoint" if with_checkpoint else None
                rows.append({"cell": text, "blocks": len(cell), "checkpoint": with_checkpoint,
                             **one_training(config, data, cell, args.epochs, folder)})  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
    per_cell = []
    for text in CELLS:
        mine = [r for r in rows if r["cell"] == text]
        fit = {flag: statistics.median(r["fit_seconds"] for r in mine if r["checkpoint"] == flag) for flag in (0, 1)}
        t = {flag: statistics.median(r["time"] for r in mine if r["checkpoint"] == flag) for flag in (0, 1)}
        per_cell.append({
            "cell": text, "params": mine[0]["params"], "fit_seconds_without": fit[0], "fit_seconds_with": fit[1],
            "checkpoint_seconds_per_epoch": (fit[1] - fit[0]) / args.epochs, "fit_ratio": fit[1] / fit[0],
            "t_ratio": t[1] / t[0],
        })  # fmt: skip
    result = {
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "epochs": args.epochs,
        "repeats": args.repeats,
        "per_cell": per_cell,
        "median_fit_ratio": statistics.median(c["fit_ratio"] for c in per_cell),
        "median_checkpoint_seconds_per_epoch": statistics.median(c["checkpoint_seconds_per_epoch"] for c in per_cell),
        "runs": rows,
    }
    write_result(RESULTS / "checkpoint.json", result, show=False)
    print(json.dumps({k: result[k] for k in ("median_fit_ratio", "median_checkpoint_seconds_per_epoch")}))
    for row in per_cell:
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}))
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
