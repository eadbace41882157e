"""Benchmark: the random flip and translation in the input pipeline or on the device.

    nice -n 19 python -m bench.bench_augmentation [--repeats 5] [--epochs 3] [--tiny]

For each placement of the augmentation (`training.augment_on_device` false: in the tf.data
pipeline; true: the first layers of the training graph), measures
(a) images/s of the training input pipeline alone: one epoch of `make_datasets`' batches,
    iterated after a first warming epoch;
(b) images/s of a whole training: `train_model` on a two-block cell of the embedded
    default's network, over generated 32x32x3 images of 10 classes, counted over `t` (the
    training batches) and over the whole fit (tracing and validation too).
The placements alternate, the first of each repeat swapping, in one process, so both see the
same machine load; medians, their ratios device / pipeline, and the median and range of the
ratios within each repeat. --tiny runs it in seconds
on 8x8 images (the test does). Writes bench/results/augmentation.json (--out).
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras
import numpy as np

from bench.common import DEFAULT_CONFIG, RESULTS, machine, write_result
from popnas_steps.config import load_config
from popnas_steps.datasets import PreparedData, Split
from popnas_steps.macro import NetworkSpec
from popnas_steps.model import build_model
from popnas_steps.space import Cell
from popnas_steps.train import Recipe, make_datasets, train_model

CELL = Cell.from_json('[[-1, "3x3 conv", -2, "identity"], [0, "3x3 dconv", -1, "2x2 maxpool"]]')
PLACEMENTS = {"pipeline": False, "device": True}


def generated_data(images: int, size: int, classes: int = 10, seed: int = 0) -> PreparedData:
    """Images in [0, 1] whose class shifts their brightness (learnable, so no NaN), split
    8:1:1 like a prepared run."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, images)
    x = (0.7 * rng.random((images, size, size, 3)) + 0.3 * (y / classes)[:, None, None, None]).astype(np.float32)
    cut1, cut2 = images * 8 // 10, images * 9 // 10
    return PreparedData(
        Split(x[:cut1], y[:cut1]),
        Split(x[cut1:cut2], y[cut1:cut2]),
        Split(x[cut2:], y[cut2:]),
        {"input_shape": [size, size, 3], "num_classes": classes},
    )


def pipeline_images_per_second(data: PreparedData, recipe: Recipe, seed: int = 0) -> float:
    """Images/s of one epoch of the training batches, after a warming epoch (tracing of the
    map function, the shuffle buffer's first fill)."""
    train, _, steps = make_datasets(data, recipe, seed)
    for _ in train:
        pass
    started = time.perf_counter()
    batches = sum(1 for _ in train)
    seconds = time.perf_counter() - started
    return batches * min(recipe.batch_size, len(data.train.y)) / seconds


def training_images_per_second(data: PreparedData, recipe: Recipe, network: NetworkSpec, seed: int = 0) -> dict:
    """Images/s of one training: over `t` and over the whole fit (validation, tracing)."""
    keras.utils.set_random_seed(seed)
    model = build_model(CELL, data.input_shape, data.num_classes, network)
    measured = train_model(model, data, recipe, seed)
    images = recipe.epochs * measured["steps_per_epoch"] * min(recipe.batch_size, len(data.train.y))
    return {"t": images / measured["time"], "fit": images / measured["timings"]["fit_seconds"]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=2560, help="generated images (80%% train)")
    parser.add_argument("--size", type=int, default=32, help="image height and width")
    parser.add_argument("--tiny", action="store_true", help="seconds: 8x8 images, 1 epoch, 1 repeat")
    parser.add_argument("--out", default=str(RESULTS / "augmentation.json"))
    args = parser.parse_args(argv)
    if args.tiny:
        args.repeats, args.epochs, args.images, args.size = 1, 1, 160, 8
    config = load_config(DEFAULT_CONFIG)
    network = NetworkSpec(**config["network"])
    data = generated_data(args.images, args.size)
    # The paper's augmentation (the embedded default turns the flip off for digits) and batch.
    base = {"epochs": args.epochs, "first_period": 1, "batch_size": 128, "horizontal_flip": True, "translation": 0.125}
    recipes = {name: Recipe(**base, augment_on_device=on) for name, on in PLACEMENTS.items()}
    training_images_per_second(data, recipes["pipeline"], network)  # warms TensorFlow and the imports
    pipeline: dict[str, list[float]] = {name: [] for name in PLACEMENTS}
    training: dict[str, list[dict]] = {name: [] for name in PLACEMENTS}
    for repeat in range(args.repeats):
        order = list(PLACEMENTS) if repeat % 2 == 0 else list(reversed(PLACEMENTS))
        for name in order:
            pipeline[name].append(pipeline_images_per_second(data, recipes[name]))
        for name in order:
            training[name].append(training_images_per_second(data, recipes[name], network))

    def median(values: list[float]) -> float:
        return round(statistics.median(values), 1)

    medians = {
        "pipeline_images_per_second": {name: median(pipeline[name]) for name in PLACEMENTS},
        "training_images_per_second_over_t": {name: median([r["t"] for r in training[name]]) for name in PLACEMENTS},
        "training_images_per_second_over_fit": {
            name: median([r["fit"] for r in training[name]]) for name in PLACEMENTS
        },
    }
    paired = {
        "pipeline_images_per_second": [d / p for d, p in zip(pipeline["device"], pipeline["pipeline"], strict=True)],
        **{
            f"training_images_per_second_over_{clock}": [
                d[clock] / p[clock] for d, p in zip(training["device"], training["pipeline"], strict=True)
            ]
            for clock in ("t", "fit")
        },
    }
    result = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "workload": {
            "images": f"{args.images} generated {args.size}x{args.size}x3 (80% train), 10 classes",
            "cell": CELL.to_json(),
            "network": config["network"],
            "recipe": {key: value for key, value in base.items()},
            "repeats": args.repeats,
        },
        **medians,
        "ratio_device_over_pipeline": {
            key: round(values["device"] / values["pipeline"], 3) for key, values in medians.items()
        },
        # Device / pipeline within each repeat (the two ran back to back, under about the same
        # load): their median and range say more than the ratio of medians on a shared machine.
        "paired_ratios_device_over_pipeline": {
            key: {
                "median": round(statistics.median(ratios), 3),
                "min": round(min(ratios), 3),
                "max": round(max(ratios), 3),
            }
            for key, ratios in paired.items()
        },
        "all": {
            "pipeline_images_per_second": {name: [round(v, 1) for v in pipeline[name]] for name in PLACEMENTS},
            "training_images_per_second": {
                name: [{k: round(v, 1) for k, v in r.items()} for r in training[name]] for name in PLACEMENTS
            },
        },
    }
    write_result(args.out, result)
    return result


if __name__ == "__main__":
    main()
