"""Entry point: train one cell on a run's prepared data and write its result.

    python -m popnas_steps.cli.train_cell --config config/config.yaml --data results/default/data
        --cell '[[-1, "3x3 conv", -2, "identity"]]' --out results/default/cells/<cell_id>

Writes into --out: `result.json` (status ok | failed, reason, accuracy a, time t, params,
per-epoch history, timings of each phase, seed, recipe), `history.csv` and `train.log`;
with `training.tensorboard` (in the config, or `--watch '{"training": {"tensorboard": true}}'`
as the workflow passes it), TensorBoard event files in `tensorboard/`.
Exit status:
- 0: a result is written. A failed training (NaN loss, out of memory, any exception while
  building or training, a SLURM job's time limit 2 minutes away) is a `failed` result
  with its reason, so a search records it and goes on;
- 2: a bad config, cell or data folder, found before any work is spent;
- 1 (or the training's own status): the machine failed, not the cell (TensorFlow or CUDA
  does not load, a folder cannot be written: popnas_steps.train_cell.environment_failure).
  No result is written, so a rerun after the repair trains the cell again.

The training runs in a process that this one supervises: the warm worker of its slot
(popnas_steps.worker, with `devices.warm_workers`, which the workflow turns on outside
SLURM), or a child process. A training process killed by a signal (the kernel's
out-of-memory killer, a segmentation fault, a worker stopped with `worker --stop`) is trained
once more in a fresh process, since a kill is as often the machine's fault as the cell's; a
second kill is recorded here as the cell's failed result, with `attempts: 2`.
A job stopped from outside (Snakemake's Ctrl-C, SIGTERM) stops its training process too,
so no orphan writes a result later (a warm worker also ends when its job's connection
closes, even on SIGKILL); a child left running by a killed Snakemake holds the cell's
output lock, so the rerun's job waits for it (files.output_lock).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from popnas_steps.cli.arguments import add_config_arguments, add_watch_argument, config_from_args
from popnas_steps.config import ConfigError
from popnas_steps.datasets import DatasetError
from popnas_steps.devices import claim_slot, device_settings, training_deadline
from popnas_steps.files import output_lock
from popnas_steps.space import Cell, CellError, check_operators
from popnas_steps.train_cell import (
    ATTEMPT_ENVIRONMENT,
    JOB_START_ENVIRONMENT,
    job_start,
    made_of,
    record_crash,
    train_cell,
)
from popnas_steps.worker import WorkerUnavailable, train_in_worker

CHILD_FLAG = "--in-this-process"
# Trainings of a cell that one job starts while each is killed (by a signal, before it wrote a
# result): the second settles whether the kill was the cell's (its memory) or a passing fault.
ATTEMPTS = 2


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as error:
        raise CellError(f"cannot read cell file '{path}': {error.strerror}") from None


def parse(argv: list[str]) -> tuple[argparse.Namespace, dict, Cell]:
    """The arguments, the validated config and the cell; raise ConfigError, CellError or
    DatasetError on bad input."""
    parser = argparse.ArgumentParser(prog="python -m popnas_steps.cli.train_cell", description=__doc__.split("\n")[0])
    add_config_arguments(parser)
    add_watch_argument(parser)
    parser.add_argument("--data", required=True, help="prepared data folder, e.g. results/<run>/data")
    cells = parser.add_mutually_exclusive_group(required=True)
    cells.add_argument("--cell", help="cell JSON, [] for the empty cell")
    cells.add_argument("--cell-file", help="file holding the cell JSON")
    parser.add_argument("--out", required=True, help="output folder for result.json")
    parser.add_argument(CHILD_FLAG, action="store_true", help=argparse.SUPPRESS)  # the supervised child
    args = parser.parse_args(argv)
    config = config_from_args(args)
    cell = Cell.from_json(args.cell if args.cell is not None else _read(args.cell_file))
    if args.config:  # a workflow rule passes only its slice; its cells come from the search
        check_operators(cell, config["search"]["operators"])
    if not (Path(args.data) / "metadata.json").is_file():
        raise DatasetError(
            f"--data '{args.data}' holds no prepared data; run "
            "`python -m popnas_steps.cli.datasets prepare --config CONFIG --out FOLDER` first"
        )
    return args, config, cell


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args, config, cell = parse(argv)
    except (ConfigError, CellError, DatasetError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.in_this_process:
        return _train(args, config, cell)
    with output_lock(Path(args.out) / "result.json"):
        return supervise(argv, cell, Path(args.out), config, args.data)


def train_here(argv: list[str], worker: dict | None = None) -> int:
    """Train the cell of `argv` in this process (a warm `worker`, given a job's arguments)."""
    try:
        args, config, cell = parse(argv)
    except (ConfigError, CellError, DatasetError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return _train(args, config, cell, worker)


def _train(args: argparse.Namespace, config: dict, cell: Cell, worker: dict | None = None) -> int:
    result = train_cell(config, cell, args.data, args.out, training_deadline(), worker=worker)
    summary = {k: result.get(k) for k in ("cell_id", "status", "reason", "accuracy", "time", "params")}
    print(json.dumps(summary), flush=True)
    return 0


def supervise(argv: list[str], cell: Cell, out: Path, config: dict, data: str) -> int:
    """Train in a warm worker or a child process; train once more if it is killed, and record
    a second death without a result as the cell's failure."""
    (out / "result.json").unlink(missing_ok=True)  # only the training's own result counts
    stoppers: list = []

    def stop(signum, frame):
        # A stopped job (Ctrl-C, scancel) stops its training and leaves no result, even one the
        # training wrote a moment before: Snakemake has given the job up and cleaned its
        # outputs, so a result written now would pass for a finished training on the rerun.
        for stop_training in stoppers:
            stop_training()
        (out / "result.json").unlink(missing_ok=True)
        os._exit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGINT):  # before the training exists: no window without them
        signal.signal(signum, stop)
    try:
        slot = claim_slot()  # before TensorFlow is imported: its GPU is the only one the training sees
    except OSError as error:  # the machine's failure: no result, and a rerun trains the cell
        print(f"error: this job could not train on this machine: {error}", file=sys.stderr)
        return 1
    os.environ[JOB_START_ENVIRONMENT] = job_start()
    for attempt in range(1, ATTEMPTS + 1):
        os.environ[ATTEMPT_ENVIRONMENT] = str(attempt)
        status, process = _train_once(argv, slot.index, config, stoppers)
        if not _killed(status) or attempt == ATTEMPTS:
            break
        print(
            f"popnas: {process} was killed ({_signal_text(status)}) before it wrote a result; a kill is as "
            f"likely the machine's (memory taken by another process, a stopped worker, a drained node) as the "
            f"cell's, so the cell is trained again (attempt {attempt + 1} of {ATTEMPTS})",
            file=sys.stderr,
            flush=True,
        )
    return _outcome(status, cell, out, process, made_of(config, data), attempt)


def _train_once(argv: list[str], slot: int, config: dict, stoppers: list) -> tuple[int | None, str]:
    """One training of the cell, in the slot's warm worker or a child process: its exit status
    (None or negative: killed) and the process that trained."""
    if device_settings()["warm_workers"] and not os.environ.get("SLURM_JOB_ID"):
        try:
            # Deterministic ops, once on, stay on in a process: such trainings have workers of their own.
            process_wide = f"deterministic={config['training']['deterministic']}"
            stop_worker = lambda pid: stoppers.append(lambda: _kill(pid))  # noqa: E731
            status, pid = train_in_worker(slot, argv, stop_worker, process_wide)
        except WorkerUnavailable as why:
            print(f"popnas: no warm worker ({why}); training in a process of this job", file=sys.stderr, flush=True)
        else:
            return status, f"the warm worker (pid {pid})"
    child = subprocess.Popen([sys.executable, "-m", "popnas_steps.cli.train_cell", *argv, CHILD_FLAG])
    stoppers.append(lambda: _stop_child(child))
    return child.wait(), "the training process"


def _killed(status: int | None) -> bool:
    return status is None or status < 0


def _signal_text(status: int | None) -> str:
    if status is None:
        return "by a signal"
    try:
        return f"signal {-status}, {signal.Signals(-status).name}"
    except ValueError:
        return f"signal {-status}"


def _outcome(status: int | None, cell: Cell, out: Path, process: str, made: dict, attempts: int) -> int:
    """The job's exit status from its training process's: None or negative, it died (a
    signal) and the cell's failed result is recorded here."""
    if status == 0 and (out / "result.json").is_file():
        return 0
    if status == 2:  # bad input, found by the training process: not the cell's failure
        return 2
    if status is not None and status >= 0:  # an exception the training did not record: the machine's failure
        (out / "result.json").unlink(missing_ok=True)
        print(
            f"error: {process} could not train on this machine (exit status {status}; its "
            "traceback is above). No result is written: once the cause is fixed, a rerun trains this cell",
            file=sys.stderr,
        )
        return status or 1  # ended without a result: never a success
    signum = -status if status is not None else None
    print(json.dumps(record_crash(cell, out, signum, process, made, attempts)))
    return 0


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _stop_child(child: subprocess.Popen) -> None:
    child.terminate()
    try:
        os.waitpid(child.pid, 0)
    except ChildProcessError:  # reaped already by the wait
        pass


if __name__ == "__main__":
    sys.exit(main())
