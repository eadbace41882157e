"""The inference latency of every network a search trains, measured in ONNX Runtime (ours).

Latency depends on the architecture, not on the weights: each cell's network is written as
an ONNX graph with seeded weights (onnx_network.py, the same layers as the trained Keras
model, checked by tests) and timed at batch 1 on this host's CPU with `deploy.threads`
threads, `deploy.warmup` untimed runs, then `deploy.runs` timed runs in `deploy.rounds`
rounds over all of a step's networks in turn, `deploy.pause` seconds apart
(deploy.time_networks). One job per step, which needs no GPU and no TensorFlow, so a cell
trained before latency existed gets its latency without retraining.

On a shared machine the CPU's speed drifts by tens of percent for seconds at a time
(BENCHMARKS.md, "Latency of every trained network"), more than the latency differences
between cells. So every job also times one reference network in the same rounds, and a
network's latency is its ratio to the reference, which the drift moves little, times the
reference's latency calibrated once per run (by step CALIBRATION_STEP's job, with more
rounds over a longer span): every step of a run is then in the same milliseconds, and the
latency predictor fits across steps. The final networks' exports are timed in absolute
terms, on their own (popnas_steps.deploy).

A latency that cannot be measured (ONNX Runtime missing, a graph it refuses) is recorded
with its reason, never as a failed cell. Columns: tables.COLUMNS["latency"].
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from popnas_steps import tables
from popnas_steps.deploy import machine, missing_reason, onnx_runner, time_networks, timing_settings
from popnas_steps.macro import NetworkSpec
from popnas_steps.onnx_network import onnx_network, seeded_weights
from popnas_steps.space import Cell
from popnas_steps.work import DataShape

RUNTIME = "onnxruntime"
MODULES = ("onnx", "onnxruntime")
# Timed beside every network, in the same rounds: a one-block cell of two 3x3 convolutions
# (whatever the operator set), in the run's macro structure and data shape.
REFERENCE_CELL = Cell.from_json('[[-2, "3x3 conv", -2, "3x3 conv"]]')
# The step whose job calibrates the run's reference: it starts first and overlaps the most training.
CALIBRATION_STEP = 1
CALIBRATION_FACTOR = 4  # its rounds (and runs) are this many times the others'


def unavailable_reason() -> str | None:
    """Why latency cannot be measured in this environment, or None."""
    return missing_reason(MODULES)


def runtime_text() -> str:
    import importlib.metadata

    return f"{RUNTIME} {importlib.metadata.version(RUNTIME)}"


def measure_latencies(
    cells: dict[str, Cell],
    data: DataShape,
    spec: NetworkSpec,
    settings: dict,
    seed: int,
    reference_ms: float | None = None,
    calibration_factor: int = CALIBRATION_FACTOR,
) -> pd.DataFrame:
    """The latency of each network of `cells` (cell id -> cell), one row each in their order.

    The reference network (REFERENCE_CELL) is timed in the same rounds: a network's
    `latency_relative` is the median over rounds of its time over the reference's, which
    the machine's slow spells move little, and its `latency_ms` is that times the run's
    `reference_ms`. Without `reference_ms`, this job calibrates it: its rounds are
    `calibration_factor` times as many, and the reference's least round median is kept.
    `measured_ms`: the network's own least round median in this job. `settings`: the
    `deploy` slice (threads, warmup, runs, rounds, pause).
    """
    rows = {cell_id: {"cell_id": cell_id} for cell_id in cells}
    reason = unavailable_reason()
    if reason is not None:
        for row in rows.values():
            row.update(latency_status="missing", latency_reason=reason)
        return pd.DataFrame(list(rows.values()), columns=tables.COLUMNS["latency"])
    predicts = {}
    for cell_id, cell in cells.items():
        try:
            predicts[cell_id] = _runner(cell, data, spec, settings, seed)
        except (MemoryError, OSError):  # the machine's fault: the job fails, a rerun retries
            raise
        except Exception as error:  # a graph the runtime cannot run: this cell has no latency
            rows[cell_id].update(latency_status="failed", latency_reason=f"{type(error).__name__}: {str(error)[:300]}")
    reference = _runner(REFERENCE_CELL, data, spec, settings, seed)
    timing = timing_settings(settings)
    if reference_ms is None:
        timing["runs"], timing["rounds"] = timing["runs"] * calibration_factor, timing["rounds"] * calibration_factor
    image = np.random.default_rng(seed).random(data.input_shape, dtype=np.float32)
    *timings, reference_timing = time_networks([*predicts.values(), reference], image, **timing)
    reference_rounds = np.array(reference_timing["round_medians"])
    if reference_ms is None:
        reference_ms = float(reference_rounds.min())
    context = {
        "latency_runtime": runtime_text(),
        "latency_threads": settings["threads"],
        "latency_machine": machine_text(),
    }
    for cell_id, timed in zip(predicts, timings, strict=True):
        relative = float(np.median(np.array(timed["round_medians"]) / reference_rounds))
        rows[cell_id].update(
            latency_status="ok",
            latency_ms=relative * reference_ms,
            latency_relative=relative,
            measured_ms=timed["ms"],
            reference_ms=reference_ms,
            **context,
        )
    return pd.DataFrame(list(rows.values()), columns=tables.COLUMNS["latency"])


def _runner(cell: Cell, data: DataShape, spec: NetworkSpec, settings: dict, seed: int):
    model = onnx_network(cell, data.input_shape, data.num_classes, spec, seeded_weights(seed))
    return onnx_runner(model, settings["threads"])


def run_reference_ms(latency: pd.DataFrame) -> float | None:
    """The run's reference latency, from the table of the step that calibrated it (None
    where that step measured nothing)."""
    values = latency.loc[latency["latency_status"] == "ok", "reference_ms"].dropna()
    return float(values.iloc[0]) if len(values) else None


def machine_text() -> str:
    """The host the latencies were measured on: its name, architecture and processor."""
    host = machine()
    return f"{host['node']} ({host['processor']}, {host['cpu']}, {host['cpu_count']} CPUs)"
