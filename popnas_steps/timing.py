"""Latency: a runtime's own time to predict one image (batch 1, a fixed thread count), after
warm-up runs; the least median of rounds of timed runs, and the spread of all of them. It
depends on the architecture, not on the weights (the search times every trained network
without its weights: popnas_steps.latency), and is reported with the machine that timed it.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]  # images (n, H, W, C) float32 -> probabilities (n, classes)


def time_networks(
    predicts: list[Predict], image: np.ndarray, warmup: int, runs: int, rounds: int, pause: float = 0.0
) -> list[dict]:
    """Latency at batch 1 of each network of `predicts`, in milliseconds.

    After `warmup` untimed predictions each, the `runs` timed ones are split into `rounds`
    that visit the networks in turn, `pause` seconds apart (sleeping), and each network's
    latency (`ms`) is its least round median. A machine's slow spell (another process, a
    frequency change) then inflates a round of every network instead of every round of a
    few. `round_medians` let a caller compare networks round by round (popnas_steps.latency
    divides by a reference network's). `median`, `p10`, `p90`: of all timed runs.
    """
    batch = np.ascontiguousarray(image[None], dtype=np.float32)
    for predict in predicts:
        for _ in range(warmup):
            predict(batch)
    per_round = max(1, runs // rounds)
    seconds = [[] for _ in predicts]
    for number in range(rounds):
        if number:
            time.sleep(pause)
        for predict, timed in zip(predicts, seconds, strict=True):
            for _ in range(per_round):
                started = time.perf_counter()
                predict(batch)
                timed.append(time.perf_counter() - started)
    timings = []
    for timed in seconds:
        milliseconds = 1000 * np.array(timed)
        medians = np.median(milliseconds.reshape(rounds, per_round), axis=1)
        timings.append(
            {
                "ms": float(medians.min()),
                "round_medians": [float(median) for median in medians],
                "median": float(np.median(milliseconds)),
                "p10": float(np.percentile(milliseconds, 10)),
                "p90": float(np.percentile(milliseconds, 90)),
                "runs": per_round * rounds,
                "rounds": rounds,
                "warmup": warmup,
                "pause": pause,
            }
        )
    return timings


def latency_ms(predict: Predict, image: np.ndarray, settings: dict) -> dict:
    """time_networks of one network, with the `deploy` settings."""
    return time_networks([predict], image, **timing_settings(settings))[0]


def timing_settings(settings: dict) -> dict:
    """time_networks' keywords from the `deploy` config slice."""
    return {key: settings[key] for key in ("warmup", "runs", "rounds", "pause")}


def machine() -> dict:
    """The host that ran and timed the models."""
    return {
        "node": platform.node(),
        "processor": platform.machine(),
        "cpu": _cpu_model() or platform.processor() or "unknown",
        "cpu_count": os.cpu_count(),
    }


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None
