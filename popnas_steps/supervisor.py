"""A training job's supervisor: it trains the cell in a warm worker or a child process,
trains once more if that process is killed, and turns the process's end into the job's.

A training process killed by a signal (the kernel's out-of-memory killer, a segmentation
fault, a worker stopped with `worker --stop`) is trained once more in a fresh process, since
a kill is as often the machine's fault as the cell's; a second kill is recorded as the
cell's failed result, with `attempts: 2`. A job stopped from outside (Snakemake's Ctrl-C,
SIGTERM) stops its training process too, so no orphan writes a result later. The commands
that train and serve are the entry points' (`Commands`), so the library names none.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from popnas_steps.devices import claim_slot, device_settings
from popnas_steps.exits import BAD_INPUT, MACHINE_FAULT, machine_fault
from popnas_steps.space import Cell
from popnas_steps.train_cell import ATTEMPT_ENVIRONMENT, JOB_START_ENVIRONMENT, job_start, made_of, record_crash
from popnas_steps.worker import WorkerUnavailable, train_in_worker

# Trainings of a cell that one job starts while each is killed (by a signal, before it wrote a
# result): the second settles whether the kill was the cell's (its memory) or a passing fault.
ATTEMPTS = 2


class Commands(NamedTuple):
    child: list[str]  # trains the cell in a child process of the job
    serve: list[str]  # starts a warm worker, less its --socket (popnas_steps.worker)


def supervise(argv: list[str], cell: Cell, out: Path, config: dict, data: str, commands: Commands) -> int:
    """Train the cell of `argv` (train_cell's arguments) in a warm worker or a child process;
    train once more if it is killed, and record a second death without a result as the
    cell's failure. Returns the job's exit status."""
    (out / "result.json").unlink(missing_ok=True)  # only the training's own result counts
    stop = _JobStop(out)
    for signum in (signal.SIGTERM, signal.SIGINT):  # before the training exists: no window without them
        signal.signal(signum, stop)
    try:
        slot = claim_slot()  # before TensorFlow is imported: its GPU is the only one the training sees
    except OSError as error:  # the machine's failure: no result, and a rerun trains the cell
        return machine_fault(f"this job could not train on this machine: {error}")
    os.environ[JOB_START_ENVIRONMENT] = job_start()
    for attempt in range(1, ATTEMPTS + 1):
        os.environ[ATTEMPT_ENVIRONMENT] = str(attempt)
        status, process = _train_once(argv, slot.index, config, stop, commands)
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


def _train_once(argv: list[str], slot: int, config: dict, stop: _JobStop, commands: Commands) -> tuple[int | None, str]:
    """One training of the cell, in the slot's warm worker or a child process: its exit status
    (None or negative: killed) and the process that trained."""
    if device_settings()["warm_workers"] and not os.environ.get("SLURM_JOB_ID"):
        try:
            # Deterministic ops, once on, stay on in a process: such trainings have workers of their own.
            process_wide = f"deterministic={config['training']['deterministic']}"
            # A job stopped before the worker took the cell closes its connection: the worker ends.
            stop_worker = lambda pid: stop.stoppers.append(lambda: _kill(pid))  # noqa: E731
            status, pid = train_in_worker(slot, argv, commands.serve, stop_worker, process_wide)
        except WorkerUnavailable as why:
            print(f"popnas: no warm worker ({why}); training in a process of this job", file=sys.stderr, flush=True)
        else:
            return status, f"the warm worker (pid {pid})"
    with stop.deferred():  # the child exists before Popen returns: a stop then waits for it
        child = subprocess.Popen(commands.child)
        stop.stoppers.append(lambda: _stop_child(child))
    return child.wait(), "the training process"


class _JobStop:
    """The handler of a stopped job's signals (Ctrl-C, scancel): it stops the job's training
    process and leaves no result, even one the training wrote a moment before: Snakemake has
    given the job up and cleaned its outputs, so a result written now would pass for a
    finished training on the rerun."""

    def __init__(self, out: Path):
        self.out = out
        self.stoppers: list = []  # each stops a training process of the job
        self._deferring = False
        self._deferred: int | None = None

    def __call__(self, signum, frame) -> None:
        if self._deferring:  # a training process is starting: stop it once it can be stopped
            self._deferred = signum
            return
        for stop_training in self.stoppers:
            stop_training()
        (self.out / "result.json").unlink(missing_ok=True)
        os._exit(128 + signum)

    @contextmanager
    def deferred(self):
        """A block that starts a training process and adds its stopper: a signal that comes
        inside it is handled at its end, when the process is known."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
            if self._deferred is not None:
                self(self._deferred, None)


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
    if status == BAD_INPUT:  # found by the training process: not the cell's failure
        return BAD_INPUT
    if status is not None and status >= 0:  # an exception the training did not record: the machine's failure
        (out / "result.json").unlink(missing_ok=True)
        machine_fault(
            f"{process} could not train on this machine (exit status {status}; its traceback is above). "
            "No result is written: once the cause is fixed, a rerun trains this cell"
        )
        return status or MACHINE_FAULT  # ended without a result: never a success
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
