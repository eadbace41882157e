"""GPU readiness: train a paper-scale network on CIFAR-10-shaped random data and measure it.

    python -m bench.gpu_readiness                      # on a GPU machine: the full check
    python -m bench.gpu_readiness --samples 2048 --variants fp32   # a CPU machine, sampled

Network: M=3, N=2, 24 filters (8 cells) built from a 5-block cell of the paper's operators;
data: 45,000 random 32x32x3 images and 5,000 for validation (CIFAR-10's training split after
the 90/10 split), 10 classes, batch 128. For each variant (fp32, xla, mixed, xla+mixed) it
trains 2 epochs and reports the one-off tracing/compilation time, seconds per epoch
(second epoch), images per second, peak GPU memory, and the projected time of a 21-epoch
training (tracing + 21 epochs). Random data is fine for throughput, not for accuracy.
Writes bench/results/gpu_readiness_<device>.json. Budget: under 8 minutes on one GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

CELL = (
    '[[-1, "3x3 dconv", -2, "identity"], [0, "1x3-3x1 conv", -1, "3x3 conv"], [1, "2x2 maxpool", -2, "5x5 dconv"],'
    ' [-1, "1x1 conv", 2, "identity"], [0, "2x2 avgpool", 3, "1x5-5x1 conv"]]'
)

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {"fp32": (False, False), "xla": (True, False), "mixed": (False, True), "xla+mixed": (True, True)}


def measure(variant: str, samples: int, val_samples: int, epochs: int) -> dict:
    import keras
    import tensorflow as tf

    from popnas_steps.datasets import PreparedData, Split
    from popnas_steps.macro import NetworkSpec
    from popnas_steps.model import build_model
    from popnas_steps.space import Cell
    from popnas_steps.train import Recipe, train_model

    jit, mixed = VARIANTS[variant]
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    rng = np.random.default_rng(0)
    split = lambda n: Split(rng.random((n, 32, 32, 3), dtype=np.float32), rng.integers(0, 10, n))  # noqa: E731
    data = PreparedData(split(samples), split(val_samples), split(16), {"input_shape": [32, 32, 3], "num_classes": 10})
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        tf.config.experimental.reset_memory_stats("GPU:0")
    model = build_model(Cell.from_json(CELL), (32, 32, 3), 10, NetworkSpec(3, 2, 24))
    started = time.perf_counter()
    measured = train_model(model, data, Recipe(epochs=epochs, batch_size=128, jit_compile=jit), seed=0)
    wall = time.perf_counter() - started
    epoch_seconds = measured["history"][-1]["train_seconds"]
    steps = measured["steps_per_epoch"]
    trace = measured["timings"]["trace_seconds"]
    full_epoch = epoch_seconds * (45000 // 128) / steps  # a CIFAR-10 epoch, from the sampled one
    return {
        "variant": variant,
        "params": measured["params"],
        "trace_or_compile_seconds": round(trace, 2),
        "seconds_per_epoch_measured": round(epoch_seconds, 3),
        "images_per_second": round(steps * 128 / epoch_seconds, 1),
        "seconds_per_cifar10_epoch": round(full_epoch, 2),
        "projected_21_epoch_training_seconds": round(trace + 21 * full_epoch, 1),
        "peak_gpu_memory_mib": round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, 1)
        if gpus
        else None,
        "wall_seconds": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=45000, help="training images per epoch")
    parser.add_argument("--val-samples", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out-dir", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    device = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else "CPU"
    results = []
    for variant in args.variants:
        results.append(measure(variant, args.samples, args.val_samples, args.epochs))
        print(json.dumps(results[-1]), flush=True)
    report = {
        "device": device,
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "tensorflow": tf.__version__,
        "samples_per_epoch": args.samples,
        "results": results,
    }
    name = "gpu" if gpus else "cpu"
    Path(args.out_dir, f"gpu_readiness_{name}.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
