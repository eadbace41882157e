"""The inference latency of every network a search trains, measured in ONNX Runtime (ours).

Latency depends on the architecture, not on the weights: each cell's network is written as
an ONNX graph with seeded weights (onnx_network.py, the same layers as the trained Keras
model, checked by tests) and timed at batch 1 on this host's CPU with `deploy.threads`
threads, `deploy.warmup` untimed runs, then `deploy.runs` timed runs in `deploy.rounds`
rounds over all of a step's networks in turn, `deploy.pause` seconds apart
(timing.time_networks). One job per step, which needs no GPU and no TensorFlow, so a cell
trained before latency existed gets its latency without retraining.

On a shared machine the CPU's speed drifts by tens of percent for seconds at a time
(BENCHMARKS.md, "Latency of every trained network"), more than the latency differences
between cells. So every job also times one reference network in the same rounds, and a
network's latency is its ratio to the reference, which the drift moves little, times the
reference's latency calibrated once per run (by step CALIBRATION_STEP's job, with more
rounds over a longer span): every step of a run is then in the same milliseconds, and the
latency predictor fits across steps. The final networks' exports are timed in absolute
terms, on their own (popnas_steps.deploy).

A latency that cannot be measured is recorded with its reason, never as a failed cell, and
never fails the job: ONNX Runtime missing (`missing`), installed but not loadable (a missing
shared library, an ABI mismatch), a graph it refuses, or a native crash of the runtime
(`failed`). The timing runs in a child process (measure_in_child): an abort or a segfault in
the runtime's C++ ends that process, not the job, so a search that does not use latency
never stops for it. Where the runtime was missing or could not be loaded, the reason ends
with the interpreter that measured (` (in /path/to/python)`); once that interpreter loads the
runtime, the table is measured again (remeasure_reason, called by results.stale_artefacts).
Columns: tables.COLUMNS["latency"].
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pandas as pd

from popnas_steps import runtime, tables
from popnas_steps.children import run_in_child
from popnas_steps.deploy import onnx_runner
from popnas_steps.macro import NetworkSpec
from popnas_steps.onnx_network import onnx_network, seeded_weights
from popnas_steps.space import Cell
from popnas_steps.timing import machine, time_networks, timing_settings
from popnas_steps.work import DataShape

RUNTIME = "onnxruntime"
# Timed beside every network, in the same rounds: a one-block cell of two 3x3 convolutions
# (whatever the operator set), in the run's macro structure and data shape.
REFERENCE_CELL = Cell.from_json('[[-2, "3x3 conv", -2, "3x3 conv"]]')
# The step whose job calibrates the run's reference: it starts first and overlaps the most training.
CALIBRATION_STEP = 1
CALIBRATION_FACTOR = 4  # its rounds (and runs) are this many times the others'
# The start of the reason of every latency of a job whose interpreter could not import the runtime.
LOAD_FAILURE = "ONNX Runtime cannot be loaded"
# A timing process that died is started once more (a kill is as often the machine's, its memory
# taken by another process, as the runtime's); a second death is every latency's recorded failure.
ATTEMPTS = 2
LOADED = "loaded"  # what the timing process sends once it has imported the runtime


def load_error() -> str | None:
    """Why ONNX Runtime, installed, cannot be imported here, or None.

    Any exception counts, an OSError included: a shared library that cannot be opened or an
    ABI mismatch is this environment's lasting state, not a passing fault of the machine that
    a rerun would cure, so it is recorded, not raised.
    """
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except Exception as error:
        return f"{type(error).__name__}: {str(error)[:300]}"
    return None


def in_this_python() -> str:
    """The suffix naming this interpreter, which ends the reason of a latency not measured for
    want of a usable runtime (interpreter_of reads it back)."""
    return f" (in {sys.executable})"


def interpreter_of(reason: str) -> str | None:
    """The interpreter that a reason ending with in_this_python() names, or None."""
    _, found, python = reason.rpartition(" (in ")
    return python[:-1] if found and python.endswith(")") else None


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
    reason = runtime.latency_unavailable()
    if reason is not None:
        return _unmeasured(rows, rows, "missing", reason + in_this_python())
    error = load_error()
    if error is not None:
        return _unmeasured(rows, rows, "failed", f"{LOAD_FAILURE}: {error}{in_this_python()}")
    predicts = {}
    for cell_id, cell in cells.items():
        try:
            predicts[cell_id] = _runner(cell, data, spec, settings, seed)
        except (MemoryError, OSError):  # the machine's fault: the job fails, a rerun retries
            raise
        except Exception as error:  # a graph the runtime cannot run: this cell has no latency
            rows[cell_id].update(latency_status="failed", latency_reason=_error_text(error))
    try:
        reference = _runner(REFERENCE_CELL, data, spec, settings, seed)
    except (MemoryError, OSError):
        raise
    except Exception as error:  # without it no latency has its milliseconds
        return _unmeasured(rows, predicts, "failed", f"the reference network cannot be run: {_error_text(error)}")
    if not predicts:
        return _table(rows)
    timing = timing_settings(settings)
    if reference_ms is None:
        timing["runs"], timing["rounds"] = timing["runs"] * calibration_factor, timing["rounds"] * calibration_factor
    image = np.random.default_rng(seed).random(data.input_shape, dtype=np.float32)
    try:
        *timings, reference_timing = time_networks([*predicts.values(), reference], image, **timing)
    except (MemoryError, OSError):
        raise
    except Exception as error:  # the runtime failed while predicting: the rounds time them all together
        return _unmeasured(rows, predicts, "failed", f"timing failed: {_error_text(error)}")
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
    return _table(rows)


def measure_in_child(cells: dict[str, Cell], *arguments) -> pd.DataFrame:
    """measure_latencies(cells, *arguments) in a fresh child process (children.run_in_child), as
    the job runs it.

    ONNX Runtime is C++: an abort, a segfault or an illegal instruction there ends the process
    that loaded it, which no `except` catches. In a child, it ends that process only: the
    child is started once more (ATTEMPTS), and a second death is every latency's `failed`
    status with the signal (a LOAD_FAILURE where the import itself crashed), so the job still
    writes its table and a search that does not use latency goes on. An exception the child
    raises (the machine's: MemoryError, OSError) is raised here, as children.ChildError,
    failing the job so that a rerun retries. Without the runtime no process is started:
    every latency is `missing`.
    """
    if runtime.latency_unavailable() is not None:
        return measure_latencies(cells, *arguments)
    died, loaded = [], False
    for _ in range(ATTEMPTS):
        sent, death = run_in_child(_measure_and_send, cells, *arguments)
        if death is None:
            return sent[-1]
        died.append(death)
        loaded = loaded or LOADED in sent
    rows = {cell_id: {"cell_id": cell_id} for cell_id in cells}
    deaths = "; then ".join(died)
    if not loaded:  # the import itself crashed: measured again once the runtime loads (remeasure_reason)
        reason = f"{LOAD_FAILURE}: importing it ended the process ({deaths}){in_this_python()}"
        return _unmeasured(rows, rows, "failed", reason)
    return _unmeasured(rows, rows, "failed", f"the timing process died ({deaths}): a crash in ONNX Runtime")


def _measure_and_send(send: Callable, *args) -> None:
    load_error()  # the runtime's import first, so that a crash there is told from one while timing
    send(LOADED)
    send(measure_latencies(*args))


def _unmeasured(rows: dict[str, dict], which, status: str, reason: str) -> pd.DataFrame:
    """The table of `rows`, those of `which` (cell ids) recorded `status` with `reason`."""
    for cell_id in which:
        rows[cell_id].update(latency_status=status, latency_reason=reason)
    return _table(rows)


def _table(rows: dict[str, dict]) -> pd.DataFrame:
    return pd.DataFrame(list(rows.values()), columns=tables.COLUMNS["latency"])


def _error_text(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error)[:300]}"


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


def remeasure_reason(table: pd.DataFrame, loads: Callable[[str], bool] | None = None) -> str | None:
    """Why a step's latency table must be measured again, or None.

    It must where its latencies were not measured for want of a usable runtime (`missing`,
    or LOAD_FAILURE) and the interpreter that measured it (interpreter_of its reason; this
    one for a table of an earlier version) loads ONNX Runtime now: installing the deploy
    extra, or repairing the runtime, then measures them without deleting a file. Asked of
    that interpreter, not of this one, since with `--sdm conda` the jobs run in another
    environment, and asking this one would measure again at every start what a job still
    cannot. A graph the runtime refused, or a crash while timing, is not measured again
    (it would fail again at every start); deleting the table measures it again.
    `loads`: runtime_loads, or a cached one.
    """
    status = table["latency_status"]
    reasons = table["latency_reason"].map(lambda reason: reason if isinstance(reason, str) else "")
    unusable = (status == "missing") | ((status == "failed") & reasons.str.startswith(LOAD_FAILURE))
    if not unusable.any():
        return None
    reason = reasons[unusable].iloc[0]
    python = interpreter_of(reason) or sys.executable
    if not (loads or runtime_loads)(python):
        return None
    return f"its latencies were not measured ({reason}), and {python} loads ONNX Runtime now"


# Looked up before imported: where the runtime is missing (most runs without the deploy extra, at
# every start), the answer takes an interpreter's start, not onnx's import (0.5 s).
_PROBE = (
    "import importlib.util, sys\n"
    f"if None in map(importlib.util.find_spec, {runtime.LATENCY_MODULES!r}):\n"
    "    sys.exit(1)\n"
    f"import {', '.join(runtime.LATENCY_MODULES)}\n"
)


def runtime_loads(python: str) -> bool:
    """Whether `python` imports onnx and ONNX Runtime, asked in a process of its own (a
    runtime that aborts on import ends that process only)."""
    try:
        quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        done = subprocess.run([python, "-c", _PROBE], timeout=120, check=False, **quiet)
    except (OSError, subprocess.TimeoutExpired):  # that interpreter is gone, or hangs: not usable
        return False
    return done.returncode == 0
