"""One cell trained on a run's prepared data, its result written whatever happens.

`train_cell` writes into its folder `result.json` (status ok | failed, reason, accuracy a,
time t, params, per-epoch history, timings of each phase, seed, recipe), `history.csv` and
`train.log`.

What fails belongs either to the cell or to the machine:
- the cell's failure (NaN loss, out of memory for this network, any other exception while
  building or training it, a SLURM job's time limit 2 minutes away) is a `failed` result
  with its reason, so a search records it and goes on;
- the machine's failure (a module or library that does not load, such as TensorFlow or
  CUDA; a file or folder that cannot be read or written; a GPU that does not initialise)
  is raised, and no result is written: the job fails, and a rerun after the repair trains
  the cell again. `environment_failure` draws the line.

The command line, which also supervises the training process, is popnas_steps.cli.train_cell.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from popnas_steps import PROCESS_START, PROCESS_START_UNIX
from popnas_steps.datasets import data_sha256
from popnas_steps.devices import SharingMonitor, device_settings, placement
from popnas_steps.files import write_json
from popnas_steps.provenance import recipe
from popnas_steps.space import Cell

# When and how the job's own process started (cli.train_cell's supervisor), "<unix>,<seconds>":
# a training in a child process or a warm worker is timed from there, so a job's fixed cost
# is counted whole whichever process trains.
JOB_START_ENVIRONMENT = "POPNAS_JOB_START"
# Which training of the cell this job started this is (1, or 2 after a training process that
# was killed: popnas_steps.cli.train_cell retries once), recorded as the result's `attempts`.
ATTEMPT_ENVIRONMENT = "POPNAS_ATTEMPT"

# Words of CUDA, cuDNN and TensorFlow messages that say the GPU stack itself does not work
# (a missing library, a driver that does not initialise), whatever the network.
_GPU_STACK_MARKERS = ("CUDA_ERROR", "cuInit", "CUDA driver", "libcuda", "libcudnn", "DNN library is not found")


def environment_failure(error: BaseException) -> bool:
    """Whether `error` is the machine's fault, not the cell's: nothing to record for the cell."""
    if isinstance(error, MemoryError):  # this network's size: the cell's
        return False
    if isinstance(error, ImportError | OSError):  # a module, a library, a file or a folder
        return True
    return any(marker in str(error) for marker in _GPU_STACK_MARKERS)


def _failure_reason(error: BaseException) -> str:
    # TensorFlow's error classes only if it was imported: the failure may be that import.
    tf = sys.modules.get("tensorflow")
    out_of_memory = (MemoryError,) if tf is None else (MemoryError, tf.errors.ResourceExhaustedError)
    if isinstance(error, out_of_memory):
        return f"out of memory: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
    return f"{type(error).__name__}: {error}"


def train_cell(
    config: dict,
    cell: Cell,
    data_dir: str | Path,
    out_dir: str | Path,
    deadline: float | None = None,
    worker: dict | None = None,
) -> dict:
    """Train `cell` with the config's network and training slices; write and return the result.

    A training still running at the Unix time `deadline` (set in a SLURM job, before its
    time limit) stops and is a failed result. With `training.tensorboard`, each epoch's
    record is also written to `out_dir/tensorboard/` (popnas_steps.events).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = logging.getLogger("popnas.train_cell")
    handler = logging.FileHandler(out / "train.log", mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("popnas").addHandler(handler)  # also what popnas.train says
    logging.getLogger("popnas").setLevel(logging.INFO)
    timings: dict[str, float] = {}
    result: dict = {
        **_failed(cell, None),
        **made_of(config, data_dir),
        "attempts": int(os.environ.get(ATTEMPT_ENVIRONMENT, "1")),
        "deadline_unix": deadline,
        "worker": worker,  # the warm worker that trained it (pid, cells it trained before), or None
    }
    try:
        clock = time.perf_counter()
        import keras
        import tensorflow as tf

        from popnas_steps.datasets import load_prepared
        from popnas_steps.model import NetworkSpec, build_model, built_cells
        from popnas_steps.train import Recipe, train_model

        timings["import_seconds"] = time.perf_counter() - clock
        share_gpu_memory(tf, warm_worker=worker is not None)
        result["versions"] = {"tensorflow": tf.__version__, "keras": keras.__version__}
        result["device"] = [d.name for d in tf.config.list_logical_devices("GPU")] or ["CPU"]
        log.info("training cell %s %s", cell.cell_id, cell.to_json())

        clock = time.perf_counter()
        data = load_prepared(data_dir)
        timings["data_seconds"] = time.perf_counter() - clock

        clock = time.perf_counter()
        spec = NetworkSpec(**config["network"])
        keras.utils.set_random_seed(config["seed"])
        model = build_model(cell, data.input_shape, data.num_classes, spec)
        timings["build_seconds"] = time.perf_counter() - clock
        result["cells_built"] = len(built_cells(cell, spec))

        tensorboard = out / "tensorboard" if config["training"]["tensorboard"] else None
        recipe = Recipe.from_config(config["training"])
        with SharingMonitor() as sharing:
            measured = train_model(
                model, data, recipe, config["seed"], deadline, tensorboard=tensorboard,
                fresh_statistics=spec.recomputes_batchnorm,
            )  # fmt: skip
        result["sharing"] = sharing.summary()
        timings.update(measured.pop("timings"))
        result.update(measured)
        result["status"] = "ok"
        log.info("done: accuracy %.4f, time %.2f s, %d params", result["accuracy"], result["time"], result["params"])
    except Exception as error:  # a failed training is a result, not a crash of the search
        if environment_failure(error):
            log.error("the machine cannot train (not the cell's fault): %s", error)
            raise
        result["reason"] = _failure_reason(error)
        log.error("training failed: %s\n%s", result["reason"], traceback.format_exc())
    finally:
        logging.getLogger("popnas").removeHandler(handler)
        handler.close()

    clock = time.perf_counter()
    _write_history(out / "history.csv", result.get("history", []))
    timings["write_seconds"] = time.perf_counter() - clock
    timings.update(job_timings())
    result["timings"] = timings
    write_result(out, result)
    return result


def job_timings() -> dict:
    """process_seconds (from the job's start, less its interpreter start-up, to now),
    interpreter_seconds, started_unix and finished_unix of the job training this cell: this
    process's own, or those its supervisor passed in $POPNAS_JOB_START."""
    now = time.time()
    job = os.environ.get(JOB_START_ENVIRONMENT)
    if job:
        started, interpreter = (float(field) for field in job.split(","))
        return {
            "process_seconds": now - started - interpreter,
            "interpreter_seconds": interpreter,
            "started_unix": started,
            "finished_unix": now,
        }
    started, interpreter = _own_start()
    return {
        "process_seconds": time.perf_counter() - PROCESS_START,
        "interpreter_seconds": interpreter,
        "started_unix": started,
        "finished_unix": now,
    }


def job_start() -> str:
    """This process's start, as $POPNAS_JOB_START passes it to the process that trains."""
    started, interpreter = _own_start()
    return f"{started},{interpreter or 0.0}"


def _own_start() -> tuple[float, float | None]:
    """When this process started (Unix time) and the seconds of its interpreter start-up and
    of the imports before popnas (clock ticks: 10 ms; None where the system does not tell)."""
    started = process_start_unix()
    if started is None:
        return PROCESS_START_UNIX, None
    return started, max(0.0, PROCESS_START_UNIX - started)


def share_gpu_memory(tf, warm_worker: bool = False) -> None:
    """Let this process take GPU memory as it needs it, instead of TensorFlow's default of
    nearly all of it at start, where others need the GPU too: with several trainings per GPU
    (devices.trainings_per_gpu > 1), and in a warm worker, which outlives its trainings (the
    steps' predictors and the final training use the GPU while it waits for the next cell)."""
    if device_settings()["trainings_per_gpu"] <= 1 and not warm_worker:
        return
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised (a warm worker's later cells): set at its first
            pass


def process_start_unix() -> float | None:
    """When the operating system started this process (Linux), to time interpreter start-up."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
        )
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def write_result(out: Path, result: dict) -> None:
    """Write result.json atomically: a killed job never leaves half a result behind."""
    write_json(out / "result.json", result)


def made_of(config: dict, data_dir: str | Path) -> dict:
    """What a result depends on, recorded in it (popnas_steps.provenance): the seed, network
    and training recipe, and the SHA-256 of the prepared split."""
    return {**recipe(config, "cell"), "data_sha256": data_sha256(data_dir)}


def record_crash(
    cell: Cell,
    out_dir: str | Path,
    signum: int | None,
    process: str = "the training process",
    made: dict | None = None,
    attempts: int = 1,
) -> dict:
    """A failed result for a training process killed by signal `signum` before it wrote one
    (the kernel's out-of-memory killer, a segmentation fault); None: a signal not known here
    (a warm worker is not this process's child).

    Its `timings` are the job's (job_timings: from the start of the supervising job, which
    $POPNAS_JOB_START passes, to now), so the GPU time the training spent before it died is
    counted as any other job's wall (results.job_seconds; status, the budget). Results written
    before this recorded them have none, and count no wall. `made`: what the result depends
    on (made_of); `attempts`: the trainings of the cell this job started, each killed."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if signum is None:
        reason = f"{process} died without writing a result (killed by a signal, e.g. for memory)"
    else:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = "unknown"
        reason = f"{process} was killed by signal {signum} ({name}) without writing a result"
    if attempts > 1:
        reason += f" ({attempts} times)"
    result = {**_failed(cell, reason), **(made or {}), "attempts": attempts, "timings": job_timings()}
    write_result(out, result)
    return result


def _failed(cell: Cell, reason: str | None) -> dict:
    """The head of every result: a failure until a training says otherwise."""
    return {
        "cell_id": cell.cell_id,
        "cell": cell.to_list(),
        "blocks": len(cell),
        "status": "failed",
        "reason": reason,
        "placement": placement(),
    }


def _write_history(path: Path, history: list[dict]) -> None:
    columns = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "train_seconds", "validation_seconds"]
    lines = [",".join(columns)] + [",".join(f"{row[c]}" for c in columns) for row in history]
    path.write_text("\n".join(lines) + "\n")
