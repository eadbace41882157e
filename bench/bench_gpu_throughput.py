"""GPU throughput (issue 16): what one GPU does with the paper's network, in one run of under 8 minutes.

    python -m bench.bench_gpu_throughput            # on a GPU machine: every part
    python -m bench.bench_gpu_throughput --quick    # anywhere: a tiny network, ~90 s on a 2-core CPU

(`python -m bench.gpu_throughput`, its name before, runs it too.)

Network: the paper's macro structure, M=3, N=2, 24 filters (8 cells), of a 5-block cell of the
paper's operators (966,235 parameters), trained with popnas' recipe (popnas_steps.train: AdamW,
cosine restarts, flip and translation) at batch 128 on CIFAR-10-shaped data generated with
numpy (fixed seed: a GPU machine may have no internet; random data is fine for throughput,
not for accuracy). A "CIFAR-10 epoch" is 45,000 training and 5,000 validation images (the
training split after the 90/10 split); figures of shorter epochs are extrapolated to it.

Every part runs in fresh processes of this script (`--part`, the worker mode), killed past the
seconds the plan allots it plus those the earlier parts left unused (so the total holds). A
part that fails (XLA not available, out of memory, a crash) records its error and the others
still run; the JSON is rewritten after each part, so a killed run keeps what it measured.
Each process turns on memory growth for its GPU.

1. precision: fp32, mixed (mixed_float16), xla (jit_compile) and xla+mixed, each a
   popnas_steps.train.train_model of `epochs` epochs of `samples` images: images/s and seconds
   of its last epoch, extrapolated to a CIFAR-10 epoch.
2. augmentation placement: the training tf.data pipeline alone (iterated without a model) with
   the flip and translation in the pipeline (today's make_datasets) and with
   `Recipe(augment_on_device=True)` (shuffle and batch only: the augmentation runs as the first
   layers of the training graph), and a full fp32 training with each (in the pipeline: part 1's fp32).
3. sharing: N = 1, 2, 4, 8 trainings of the same network (fp32, augmentation in the pipeline) as
   N processes on one GPU. Each traces (its first step), waits at a barrier file until all have,
   then trains `share_steps - 1` steps. Per training: t of those steps and its inflation
   t_N / t_1; together: aggregate images/s (all images over the span from the first start to the
   last end) and its ratio to N=1 (the issue's goal: >= 3x).
4. fixed cost per network, from part 1's processes (each a fresh one), as train_cell's
   result.json `timings`: interpreter start (and the imports before popnas), TensorFlow + Keras
   import, model build, trace (first training step).
5. peak GPU memory of each process (tf.config.experimental.get_memory_info; null on a CPU).
6. the projected wall time of the paper's CIFAR-10 searches (Table 4: POPNASv2 543 networks,
   PNAS 814; E = 21 epochs each, section 4.1), per precision variant v and N trainings per GPU:

       hours = networks * (fixed_v + 21 * (train_epoch_v + val_epoch_v)) / speedup_N / 3600
       speedup_N = aggregate images/s with N trainings / aggregate images/s with 1

   fixed_v is part 4's total (loading the data set, ~1 s, is not in it), train_epoch_v and
   val_epoch_v part 1's CIFAR-10 epoch. speedup_N is measured in fp32 and assumed to carry over
   to the other variants. Baseline: fp32, one training per GPU (today's default); best: the
   variant and N of the fewest hours.

Budget on one GPU (the plan, printed first; the seconds are each part's hard limit): fp32 55,
N=1 35, N=2 35, N=4 45, N=8 60, on-device augmentation 50, mixed 50, xla 70, xla+mixed 70 =
470 s. To fit, a part-1/2 training is 2 epochs of 100 batches (12,800 images; 10 validation
batches) instead of 351, and a sharing training 101 steps.

--quick: a tiny network (the same cell, M=1, N=1, 8 filters: one cell; the paper's network
traces for ~45 s on a 2-core CPU), 512 images, 1 epoch, fp32 and xla only (mixed precision is
emulated on a CPU and says nothing there), N = 1 and 2. It checks the script end to end; its
figures are not the paper network's, and with one epoch the validation figure carries the
tracing of the validation step.

Writes bench/results/gpu_throughput_<device>.json (device: the GPU's name slugged, or cpu;
`_quick` appended with --quick), or --out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.common import RESULTS, ROOT, gpu_name, machine, write_result
from popnas_steps import PROCESS_START_UNIX
from popnas_steps.train_cell import process_start_unix

CELL = (
    '[[-1, "3x3 dconv", -2, "identity"], [0, "1x3-3x1 conv", -1, "3x3 conv"], [1, "2x2 maxpool", -2, "5x5 dconv"],'
    ' [-1, "1x1 conv", 2, "identity"], [0, "2x2 avgpool", 3, "1x5-5x1 conv"]]'
)
BATCH = 128
CIFAR10_TRAIN, CIFAR10_VAL = 45000, 5000
PAPER_EPOCHS = 21
TABLE_4_NETWORKS = {"POPNASv2": 543, "PNAS": 814}  # CIFAR-10
VARIANTS = {"fp32": (False, False), "mixed": (False, True), "xla": (True, False), "xla+mixed": (True, True)}
FORMULA = (
    "hours = networks * (fixed_v + 21 * (train_epoch_v + val_epoch_v)) / speedup_N / 3600; "
    "speedup_N = aggregate images/s with N trainings per GPU / with 1 (measured in fp32)"
)


@dataclass(frozen=True)
class Profile:
    network: tuple[int, int, int]  # motifs, normal cells, filters
    samples: int  # training images per epoch of a part-1/2 training
    val_samples: int
    epochs: int  # the last one is measured (the first also carries the trace)
    share_steps: int  # steps of each sharing training; the first (the trace) is not timed
    variants: tuple[str, ...]
    trainings: tuple[int, ...]
    # Seconds each part may take, a hard limit (the part is killed past it), in the order the
    # parts run: the baseline and the sharing first, XLA (the likeliest to be slow or to fail)
    # last. In the full profile they sum to 470 s: under 8 minutes with the orchestration.
    allotted: dict[str, float] = field(default_factory=dict)


FULL = Profile(
    network=(3, 2, 24),
    samples=100 * BATCH,
    val_samples=10 * BATCH,
    epochs=2,
    share_steps=101,
    variants=tuple(VARIANTS),
    trainings=(1, 2, 4, 8),
    allotted={
        "fp32": 55,
        "N=1": 35,
        "N=2": 35,
        "N=4": 45,
        "N=8": 60,
        "on_device": 50,
        "mixed": 50,
        "xla": 70,
        "xla+mixed": 70,
    },
)
# Ceilings on a busy 2-core CPU, where each default part takes ~15 s.
QUICK = Profile(
    network=(1, 1, 8),
    samples=4 * BATCH,
    val_samples=BATCH,
    epochs=1,
    share_steps=5,
    variants=("fp32", "xla"),
    trainings=(1, 2),
    allotted={"fp32": 60, "N=1": 60, "N=2": 60, "N=4": 90, "N=8": 150}
    | {"on_device": 60, "mixed": 60, "xla": 60, "xla+mixed": 60},
)


# --- worker mode: one process of a part -------------------------------------------------------


def start_tensorflow() -> tuple[float, list]:
    """Import TensorFlow and Keras (their seconds) and turn on memory growth, before any GPU use:
    otherwise the first process takes nearly all of the GPU's memory and the others of a shared
    GPU run out. No memory limit per process: a network that needs more than total/N should
    fail here as it would fail in a search, not be capped by the benchmark."""
    clock = time.perf_counter()
    import keras  # noqa: F401
    import tensorflow as tf

    seconds = time.perf_counter() - clock
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    return seconds, gpus


def generated(train: int, val: int):
    """CIFAR-10-shaped random images (32x32x3 in [0, 1), 10 classes), fixed seed."""
    from popnas_steps.datasets import PreparedData, Split

    rng = np.random.default_rng(0)

    def split(n: int) -> Split:
        return Split(rng.random((n, 32, 32, 3), dtype=np.float32), rng.integers(0, 10, n))

    return PreparedData(split(train), split(val), split(16), {"input_shape": [32, 32, 3], "num_classes": 10})


def recipe(epochs: int, jit: bool, on_device: bool):
    from popnas_steps.train import Recipe

    return Recipe(epochs=epochs, batch_size=BATCH, jit_compile=jit, augment_on_device=on_device)


def build(network: list[int]):
    from popnas_steps.macro import NetworkSpec
    from popnas_steps.model import build_model
    from popnas_steps.space import Cell

    return build_model(Cell.from_json(CELL), (32, 32, 3), 10, NetworkSpec(*network))


def environment(gpus: list) -> dict:
    import keras
    import tensorflow as tf

    gpu = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else None
    return {"tensorflow": tf.__version__, "keras": keras.__version__, "gpu": gpu}


def peak_memory_mib(gpus: list) -> float | None:
    import tensorflow as tf

    return round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, 1) if gpus else None


def pipeline_alone(data, training_recipe) -> dict:
    """One epoch of the training dataset iterated without a model; the first batch (tracing of
    the map function, the shuffle buffer's fill) is left out."""
    from popnas_steps.train import make_datasets

    train, _, steps = make_datasets(data, training_recipe, seed=0)
    batches = iter(train)
    next(batches)
    clock = time.perf_counter()
    for _ in range(steps - 1):
        next(batches)
    seconds = time.perf_counter() - clock
    rate = (steps - 1) * BATCH / seconds
    return {
        "batches": steps - 1,
        "images_per_second": round(rate, 1),
        "seconds_per_cifar10_epoch": round(CIFAR10_TRAIN / rate, 2),
    }


def train_part(spec: dict) -> dict:
    """Parts 1, 2 and 4: one training (train_model, as the search trains) of a fresh process."""
    import_seconds, gpus = start_tensorflow()
    import keras

    from popnas_steps.train import train_model

    jit, mixed = VARIANTS[spec["variant"]]
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    data = generated(spec["samples"], spec["val_samples"])
    clock = time.perf_counter()
    model = build(spec["network"])
    build_seconds = time.perf_counter() - clock
    training_recipe = recipe(spec["epochs"], jit, spec["on_device"])
    measured = train_model(model, data, training_recipe, seed=0)
    last = measured["history"][-1]
    steps = measured["steps_per_epoch"]
    train_epoch = last["train_seconds"] * (CIFAR10_TRAIN // BATCH) / steps
    val_epoch = last["validation_seconds"] * CIFAR10_VAL / spec["val_samples"]
    started = process_start_unix()
    fixed = {
        "interpreter_seconds": round(PROCESS_START_UNIX - started, 2) if started else None,
        "import_seconds": round(import_seconds, 2),
        "build_seconds": round(build_seconds, 2),
        "trace_seconds": round(measured["timings"]["trace_seconds"], 2),
    }
    fixed["total_seconds"] = round(sum(v for v in fixed.values() if v is not None), 2)
    result = {
        **environment(gpus),
        "params": measured["params"],
        "images_per_second": round(steps * BATCH / last["train_seconds"], 1),
        "seconds_per_cifar10_epoch": round(train_epoch, 2),
        "validation_seconds_per_cifar10_epoch": round(val_epoch, 2),
        "fixed_cost": fixed,
        # one network of the search: its fixed cost and 21 CIFAR-10 epochs (training + validation)
        "per_network_seconds": round(fixed["total_seconds"] + PAPER_EPOCHS * (train_epoch + val_epoch), 1),
        "peak_gpu_memory_mib": peak_memory_mib(gpus),
    }
    if spec["pipeline"]:
        keras.mixed_precision.set_global_policy("float32")
        result["pipeline_alone"] = pipeline_alone(data, training_recipe)
    return result


def share_part(spec: dict) -> dict:
    """Part 3: one of N trainings sharing the GPU; starts its timed steps when all have traced."""
    _, gpus = start_tensorflow()
    import keras

    from popnas_steps.train import build_training_variables, make_datasets, make_optimizer

    class Barrier(keras.callbacks.Callback):
        """After the first batch (the trace), writes ready-<index> and waits for all N of them."""

        def __init__(self, steps: int):
            super().__init__()
            self.folder, self.steps = Path(spec["barrier"]), steps

        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                self.first = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                float(logs["loss"])  # waits for the device: the step is done, not only queued
                self.trace = time.perf_counter() - self.first
                (self.folder / f"ready-{spec['index']}").touch()
                while len(list(self.folder.glob("ready-*"))) < spec["trainings"]:
                    time.sleep(0.005)
                self.start, self.start_unix = time.perf_counter(), time.time()
            elif batch == self.steps - 1:
                float(logs["loss"])
                self.end = time.perf_counter()

    jit, _ = VARIANTS[spec["variant"]]
    keras.utils.set_random_seed(0)
    data = generated(spec["steps"] * BATCH, BATCH)
    model = build(spec["network"])
    training_recipe = recipe(1, jit, False)
    train, _, steps = make_datasets(data, training_recipe, seed=0)
    model.compile(
        optimizer=make_optimizer(training_recipe, steps),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=jit,
    )
    build_training_variables(model, data, training_recipe)  # as train_model: the step traced once
    barrier = Barrier(steps)
    model.fit(train, epochs=1, callbacks=[barrier], verbose=0)
    t = barrier.end - barrier.start
    return {
        **environment(gpus),
        "trace_seconds": round(barrier.trace, 2),
        "steps_timed": steps - 1,
        "t_seconds": t,
        "start_unix": barrier.start_unix,
        "end_unix": barrier.start_unix + t,
        "peak_gpu_memory_mib": peak_memory_mib(gpus),
    }


def worker(part: str, spec: dict, out: Path) -> None:
    try:
        result = train_part(spec) if part == "train" else share_part(spec)
    except Exception as error:  # the part's failure is a result: the run goes on without it
        result = {"error": f"{type(error).__name__}: {str(error)[:2000]}"}
    write_result(out, result, show=False)


# --- the run: parts as processes, the report ---------------------------------------------------


def run_processes(name: str, specs: list[dict], part: str, work: Path, seconds: float) -> list[dict]:
    """Start one process per spec together and wait for all, killing those still running after
    `seconds`; each process's result, or its error."""
    env = dict(os.environ)
    env.setdefault("CUDA_VISIBLE_DEVICES", "0")  # one GPU, whatever the machine has
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower())
    running = []
    for i, spec in enumerate(specs):
        out, log = work / f"{slug}_{i}.json", work / f"{slug}_{i}.log"
        command = [sys.executable, "-m", "bench.bench_gpu_throughput", "--part", part, "--spec", json.dumps(spec)]
        command += ["--out", str(out)]
        with log.open("w") as stream:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stream, stderr=subprocess.STDOUT)
        running.append((process, out, log, time.perf_counter()))
    deadline = time.perf_counter() + seconds
    results = []
    for process, out, log, started in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            results.append({"error": f"killed past its {seconds:.0f} s"})
            continue
        if out.exists():
            results.append(
                {**json.loads(out.read_text()), "process_wall_seconds": round(time.perf_counter() - started, 1)}
            )
        else:
            tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-3:]
            results.append({"error": f"exit status {process.returncode}: {' | '.join(tail)}"})
    return results


def sharing_row(n: int, results: list[dict]) -> dict:
    # A training that failed leaves the others waiting at the barrier until they are killed:
    # its own error is the one to report.
    errors = sorted((r["error"] for r in results if "error" in r), key=lambda e: e.startswith("killed past"))
    if errors:
        return {"trainings": n, "error": errors[0], "failed": len(errors)}
    span = max(r["end_unix"] for r in results) - min(r["start_unix"] for r in results)
    images = sum(r["steps_timed"] for r in results) * BATCH
    ts = [r["t_seconds"] for r in results]
    memory = [r["peak_gpu_memory_mib"] for r in results]
    return {
        "trainings": n,
        "t_seconds": [round(t, 3) for t in ts],
        "mean_t_seconds": round(sum(ts) / n, 3),
        "seconds_per_cifar10_epoch": round(sum(ts) / n * (CIFAR10_TRAIN // BATCH) / results[0]["steps_timed"], 2),
        "aggregate_images_per_second": round(images / span, 1),
        "trace_seconds": [r["trace_seconds"] for r in results],
        "peak_gpu_memory_mib": None if None in memory else memory,
    }


def projection(report: dict) -> dict:
    """Part 6, from whatever parts 1 and 3 measured."""
    per_network = {v: r["per_network_seconds"] for v, r in report["precision"].items() if "error" not in r}
    speedups = {1: 1.0} | {
        row["trainings"]: row["aggregate_ratio"] for row in report["sharing"]["rows"] if "aggregate_ratio" in row
    }

    def hours(seconds: float, n: int) -> dict:
        return {search: round(count * seconds / speedups[n] / 3600, 1) for search, count in TABLE_4_NETWORKS.items()}

    result: dict = {
        "formula": FORMULA,
        "networks": TABLE_4_NETWORKS,
        "epochs": PAPER_EPOCHS,
        "per_network_seconds": per_network,
        "speedup_by_trainings_per_gpu": speedups,
        "one_training_per_gpu": None,
        "best": None,
    }
    if "fp32" in per_network:
        result["one_training_per_gpu"] = {
            "variant": "fp32",
            "trainings_per_gpu": 1,
            "hours": hours(per_network["fp32"], 1),
        }
    if per_network:
        variant, n = min(
            ((v, n) for v in per_network for n in speedups), key=lambda p: per_network[p[0]] / speedups[p[1]]
        )
        result["best"] = {"variant": variant, "trainings_per_gpu": n, "hours": hours(per_network[variant], n)}
        if "fp32" in per_network:
            result["best"]["speedup_vs_one_training_per_gpu"] = round(
                per_network["fp32"] / (per_network[variant] / speedups[n]), 2
            )
    return result


def summary(report: dict) -> None:
    """Sections 2, 4, 5 and 6, from the parts' results."""
    precision = report["precision"]
    fp32, on_device = precision.get("fp32", {}), report["on_device_training"]
    placement = {}
    for name, result in (("in_pipeline", fp32), ("on_device", on_device)):
        if "error" in result:
            placement[name] = {"error": result["error"]}
        elif result:
            placement[name] = {
                "pipeline_alone": result.get("pipeline_alone"),
                "training_images_per_second": result["images_per_second"],
                "training_seconds_per_cifar10_epoch": result["seconds_per_cifar10_epoch"],
            }
    report["augmentation_placement"] = placement
    report["fixed_cost"] = {v: r["fixed_cost"] for v, r in precision.items() if "fixed_cost" in r}
    memory = {v: r.get("peak_gpu_memory_mib") for v, r in precision.items() if "error" not in r}
    if on_device and "error" not in on_device:
        memory["on_device"] = on_device["peak_gpu_memory_mib"]
    for row in report["sharing"]["rows"]:
        if row.get("peak_gpu_memory_mib"):
            memory[f"N={row['trainings']} (largest process)"] = max(row["peak_gpu_memory_mib"])
    report["peak_gpu_memory_mib"] = memory
    params = [r["params"] for r in precision.values() if "params" in r]
    report["network"]["params"] = params[0] if params else None
    report["projection"] = projection(report)


def share(n: int, profile: Profile, work: Path, seconds: float, rows: list[dict]) -> dict:
    """Part 3 for N trainings: their row, with its ratios to the N=1 row (when there is one)."""
    barrier = work / f"barrier_{n}"
    barrier.mkdir()
    spec = {"network": list(profile.network), "variant": "fp32", "steps": profile.share_steps, "trainings": n}
    specs = [spec | {"barrier": str(barrier), "index": i} for i in range(n)]
    row = sharing_row(n, run_processes(f"N={n}", specs, "share", work, seconds))
    one = next((r for r in rows + [row] if r["trainings"] == 1 and "error" not in r), None)
    if "error" not in row and one is not None:
        row["t_inflation"] = round(row["mean_t_seconds"] / one["mean_t_seconds"], 2)
        row["aggregate_ratio"] = round(row["aggregate_images_per_second"] / one["aggregate_images_per_second"], 2)
    return row


def run(profile: Profile, out: Path, variants: list[str], trainings: list[int]) -> dict:
    started = time.perf_counter()
    wanted = set(variants) | {"on_device"} | {f"N={n}" for n in trainings}
    plan = {part: seconds for part, seconds in profile.allotted.items() if part in wanted}
    print(
        f"plan (seconds allotted; a part is killed past them, plus what earlier parts left): {json.dumps(plan)}, "
        f"total {sum(plan.values()):.0f} s"
    )
    motifs, normal, filters = profile.network
    report: dict = {
        "script": "python -m bench.bench_gpu_throughput" + (" --quick" if profile is QUICK else ""),
        "quick": profile is QUICK,
        "date": time.strftime("%Y-%m-%d"),
        # The orchestrator imports no TensorFlow, so that it never holds GPU memory the parts
        # need: the GPU as TensorFlow names it comes from the first part that ran.
        "machine": machine() | {"gpu_tensorflow": None},
        "network": {"cell": json.loads(CELL), "motifs": motifs, "normal_cells": normal, "filters": filters},
        "settings": {
            "batch_size": BATCH,
            "training_images": profile.samples,
            "validation_images": profile.val_samples,
            "epochs": profile.epochs,
            "share_steps": profile.share_steps,
            "cifar10_epoch": {"training_images": CIFAR10_TRAIN, "validation_images": CIFAR10_VAL},
        },
        "plan_seconds": plan,
        "precision": {},
        "on_device_training": {},  # part 2's training with the augmentation on the device
        "augmentation_placement": {},
        "sharing": {"variant": "fp32", "rows": []},
        "errors": {},
    }
    base = {"network": list(profile.network), "samples": profile.samples, "val_samples": profile.val_samples}
    base["epochs"] = profile.epochs
    with tempfile.TemporaryDirectory(prefix="gpu_throughput_") as folder:
        work, seen_tensorflow = Path(folder), False
        saved = 0.0  # seconds earlier parts left of their allotment: a slow part may use them
        for part, allotted in plan.items():
            clock, seconds = time.perf_counter(), allotted + saved
            if part.startswith("N="):
                result = share(int(part[2:]), profile, work, seconds, report["sharing"]["rows"])
                report["sharing"]["rows"].append(result)
            else:
                on_device = part == "on_device"
                spec = base | {"variant": "fp32" if on_device else part, "on_device": on_device}
                spec["pipeline"] = part in ("fp32", "on_device")  # part 2's pipeline alone, by placement
                result = run_processes(part, [spec], "train", work, seconds)[0]
                if on_device:
                    report["on_device_training"] = result
                else:
                    report["precision"][part] = result
            if "error" in result:
                report["errors"][part] = result["error"]
            if not seen_tensorflow and "tensorflow" in result:
                report["machine"] |= {"tensorflow": result["tensorflow"], "gpu_tensorflow": result["gpu"]}
                seen_tensorflow = True
            summary(report)
            report["wall_seconds"] = round(time.perf_counter() - started, 1)
            write_result(out, report, show=False)  # a killed run keeps what it measured
            shown = {k: v for k, v in result.items() if k not in ("start_unix", "end_unix")}
            print(f"{part} ({time.perf_counter() - clock:.1f} s of {seconds:.0f}): {json.dumps(shown)}", flush=True)
            saved = max(0.0, seconds - (time.perf_counter() - clock))
    print(f"projection: {json.dumps(report['projection'])}")
    print(f"wrote {out} ({report['wall_seconds']} s)")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny network on tiny data: checks the script anywhere")
    parser.add_argument("--out", type=Path, help="the JSON (default: bench/results/gpu_throughput_<device>.json)")
    parser.add_argument(
        "--variants", nargs="+", choices=list(VARIANTS), help="precision variants (default: the profile's)"
    )
    parser.add_argument(
        "--trainings",
        nargs="+",
        type=int,
        choices=[1, 2, 4, 8],
        help="N of trainings sharing the GPU (default: the profile's)",
    )
    parser.add_argument("--part", choices=["train", "share"], help=argparse.SUPPRESS)  # worker mode
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        worker(args.part, json.loads(args.spec), args.out)
        return
    profile = QUICK if args.quick else FULL
    out = args.out
    if out is None:
        device = re.sub(r"[^a-z0-9]+", "_", (gpu_name() or "cpu").lower()).strip("_")
        out = RESULTS / f"gpu_throughput_{device}{'_quick' if args.quick else ''}.json"
    run(profile, out, args.variants or list(profile.variants), args.trainings or list(profile.trainings))


if __name__ == "__main__":
    main()
