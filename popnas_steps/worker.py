"""Warm workers: trainings of a search in a process that imported TensorFlow once.

A training job costs seconds before its first batch, mostly importing TensorFlow and Keras
(BENCHMARKS.md, "Where the time of the default run goes"). With
`devices.warm_workers` (on by default in the workflow, off on SLURM, where each job is its
own allocation), the job of a cell still starts as before (`python -m
popnas_steps.cli.train_cell`: one job, one result.json, one cache entry per cell), but
instead of starting a fresh training process it hands the training to the warm worker of
its slot (popnas_steps.devices.claim_slot), and starts that worker when there is none.

- One worker per slot, so a worker trains one cell at a time; it ends after
  IDLE_SECONDS without a cell, after MAX_CELLS cells, and after any cell that did not
  end in an ok result (a failed training may leave the process in a bad state).
- Crash isolation as before: the job waits for the worker's answer; a worker that dies
  while it trains (out-of-memory killer, segmentation fault) is the cell's failed result,
  recorded by the job, and the next job starts a new worker. A job stopped from outside
  stops its worker too, so no training writes a result after its job was given up.
- A worker serves only jobs that would start the same process: the same interpreter,
  popnas source files, slot and process-wide environment (WORKER_ENVIRONMENT); each cell
  brings its own working folder, environment and output files (the job's log).
- Same seed, same training: Keras is cleared and reseeded for each cell (tests).

The socket lives in a folder of this user's only (0700) in the temporary folder.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from popnas_steps.devices import slot_folder

# A worker is a process of this package's whose command line names its --socket (the
# command itself is the entry points': popnas_steps.cli.worker.SERVE).
PACKAGE = __name__.split(".")[0]
# One cell from a job's train_cell arguments: (argv, worker=info) -> exit status
Train = Callable[..., int]

IDLE_SECONDS = 120.0  # longer than a step's fit and expand, so a worker lasts a whole search
MAX_CELLS = 200  # a fresh process now and then: bounded growth of whatever TensorFlow keeps
READY_SECONDS = 300.0  # a worker that is not listening by then is given up (the job trains itself)

# Read once, when TensorFlow starts: a worker serves only jobs that agree on them.
WORKER_ENVIRONMENT = ("PYTHONPATH", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "VIRTUAL_ENV", "POPNAS_DEVICES")
_PREFIXES = ("TF_", "OMP_", "KMP_", "XLA_", "CUDA_", "NVIDIA_")


class WorkerUnavailable(RuntimeError):
    """No worker could be reached or started: the job trains in a process of its own."""


def socket_folder() -> Path:
    """This user's folder of worker sockets; raise WorkerUnavailable where it is not private."""
    folder = Path(tempfile.gettempdir()) / f"popnas-workers-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.stat()
    except OSError as error:
        raise WorkerUnavailable(f"no worker socket folder {folder}: {error}") from None
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise WorkerUnavailable(f"{folder} is not this user's alone")
    return folder


def worker_key(slot: int, environ: dict[str, str] | None = None, process_wide: str = "") -> str:
    """What a worker must share with a job to train its cell; `process_wide`: the recipe's
    settings that stay with a process once a training sets them (deterministic ops)."""
    environ = os.environ if environ is None else environ
    package = Path(__file__).resolve().parent
    parts = [sys.executable, str(slot), process_wide]
    for source in sorted(package.rglob("*.py")):
        info = source.stat()
        parts.append(f"{source.relative_to(package)}:{info.st_mtime_ns}:{info.st_size}")
    parts += [f"{k}={environ[k]}" for k in sorted(environ) if k in WORKER_ENVIRONMENT or k.startswith(_PREFIXES)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def slot_prefix(slot: int) -> Path:
    """The start of the socket paths of `slot`'s workers. Slots are those of a slot folder
    (devices.slot_folder): another folder's slot of the same number is another slot."""
    folder = hashlib.sha256(str(slot_folder().resolve()).encode()).hexdigest()[:8]
    return socket_folder() / f"slot{slot}-{folder}-"


def socket_path(slot: int, process_wide: str = "") -> Path:
    return Path(f"{slot_prefix(slot)}{worker_key(slot, process_wide=process_wide)}.sock")


def retire_workers(slot: int, keep: Path | None = None) -> None:
    """End the workers of `slot` but the one at `keep`: they are idle (the job holds the slot)
    and stale (older popnas sources, another environment), and on a GPU each holds memory
    that the slot's training now needs. The final training, in a process of its own, retires
    them all."""
    try:
        prefix = slot_prefix(slot)
    except WorkerUnavailable:
        return
    for pid in running_workers(prefix):
        if keep is None or _socket_of(pid) != str(keep):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


# -- the job's side -------------------------------------------------------------------------


def train_in_worker(
    slot: int, argv: list[str], serve: list[str], on_start=None, process_wide: str = ""
) -> tuple[int | None, int]:
    """Have the warm worker of `slot` train the cell of `argv` (train_cell's arguments),
    starting the worker if needed with the command `serve` (and `--socket PATH`), which the
    entry points name (popnas_steps.cli.worker.SERVE). Returns (exit status, worker pid);
    the status is None when the worker died before it answered (the cell's crash).

    `on_start(pid)` is called once the worker has taken the cell (the job's signal handlers
    stop that pid). Raise WorkerUnavailable where no worker can take it.
    """
    path = socket_path(slot, process_wide)
    if len(str(path)) > 100:  # AF_UNIX's limit is 107 bytes
        raise WorkerUnavailable(f"the socket path {path} is too long for a Unix socket (set TMPDIR shorter)")
    retire_workers(slot, keep=path)
    payload = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    connection = _connect(path)
    handed = connection is not None and _hand_over(connection, payload)
    if not handed:
        # None listening, or the one there was ending (killed, or idle past its time) as this
        # job came: its socket still took the connection, then reset it. A new one takes the cell.
        if connection is not None:
            connection.close()
        connection = _start(path, serve)
        handed = _hand_over(connection, payload)
        if not handed:
            connection.close()
            raise WorkerUnavailable(f"the worker at {path} did not take the cell")
    reader, accepted = handed
    with connection:
        pid = json.loads(accepted)["pid"]
        if on_start is not None:
            on_start(pid)
        answer = reader.readline()
    return (json.loads(answer)["status"] if answer else None), pid


def _hand_over(connection: socket.socket, payload: bytes):
    """Send a job's request to the worker at the other end of `connection`, with the job's
    output files (the training's output is the job's log); (reader, its first answer line)
    once it took the cell, or None where it did not (it ended, or reset the connection)."""
    try:
        socket.send_fds(
            connection, [len(payload).to_bytes(8, "big") + payload], [sys.stdout.fileno(), sys.stderr.fileno()]
        )
        reader = connection.makefile("r")
        accepted = reader.readline()
    except OSError:
        return None
    return (reader, accepted) if accepted else None


def _connect(path: Path) -> socket.socket | None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except OSError:  # none listening (none started, or it ended): a new one replaces it
        connection.close()
        return None
    return connection


def _start(path: Path, serve: list[str]) -> socket.socket:
    path.unlink(missing_ok=True)
    log = open(path.with_suffix(".log"), "a")  # noqa: SIM115 - handed to the worker
    process = subprocess.Popen(
        [*serve, "--socket", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,  # outlives this job; a Ctrl-C of Snakemake does not reach it
    )
    log.close()
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = path.with_suffix(".log")
            raise WorkerUnavailable(f"the worker ended with status {process.returncode} (its log: {log})")
        connection = _connect(path)
        if connection is not None:
            return connection
        time.sleep(0.05)
    process.kill()
    raise WorkerUnavailable(f"the worker did not listen within {READY_SECONDS:.0f} s")


# -- the worker's side ----------------------------------------------------------------------


def serve(path: Path, train: Train, idle_seconds: float = IDLE_SECONDS, max_cells: int = MAX_CELLS) -> None:
    """Import TensorFlow, listen at `path`, and train the cells jobs send until idle.

    `train(argv, worker=...)` trains one cell from a job's train_cell arguments and returns
    its exit status: the command line's own function (cli.train_cell.train_here), handed in
    so that the library does not import its entry points."""
    import keras  # imported once, for every cell this worker trains
    import tensorflow

    from popnas_steps.train_cell import share_gpu_memory

    share_gpu_memory(tensorflow, warm_worker=True)  # before anything can start the GPU

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    listener.settimeout(idle_seconds)
    try:
        for trained in range(max_cells):
            try:
                connection, _ = listener.accept()
            except TimeoutError:  # idle: nothing went wrong, so its start-up log says nothing
                path.with_suffix(".log").unlink(missing_ok=True)
                return
            with connection:
                connection.settimeout(None)
                try:
                    status = _train_one(connection, train, trained)
                except (OSError, ValueError):  # a job gone, or a bad request: the job trains alone
                    return
            if status != 0:
                return
            keras.backend.clear_session()  # this cell's graphs, names and seeds, before the next waits
            gc.collect()
    finally:
        path.unlink(missing_ok=True)  # first: a job finding no socket starts a new worker
        listener.close()


def _train_one(connection: socket.socket, train: Train, trained_before: int) -> int:
    """One cell, with the job's folder, environment and output; its exit status."""
    message, fds, _, _ = socket.recv_fds(connection, 1 << 16, 2)
    size = int.from_bytes(message[:8], "big")
    payload = message[8:]
    while len(payload) < size:
        chunk = connection.recv(size - len(payload))
        if not chunk:
            raise ConnectionError("the job ended while sending its cell")
        payload += chunk
    request = json.loads(payload)
    saved = [os.dup(1), os.dup(2)]
    environ = dict(os.environ)
    status = 1
    done = threading.Event()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        connection.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
        threading.Thread(target=_end_with_the_job, args=(connection, done), daemon=True).start()
        print(f"popnas: trained by warm worker {os.getpid()} (cells before: {trained_before})", file=sys.stderr)
        status = train(request["argv"], worker={"pid": os.getpid(), "cells_before": trained_before})
    except SystemExit as stop:  # argparse's exit on a bad argument
        status = stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # the machine's failure (train_cell.environment_failure): the job fails
        traceback.print_exc()
        status = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved + fds:
            os.close(fd)
        os.environ.clear()
        os.environ.update(environ)
    done.set()
    with contextlib.suppress(OSError):  # a job stopped meanwhile: nobody to answer
        connection.sendall(json.dumps({"status": status}).encode() + b"\n")
        connection.shutdown(socket.SHUT_RDWR)
    return status


def _end_with_the_job(connection: socket.socket, done: threading.Event) -> None:
    """End this worker, and the training in it, when its job ends first (killed, even by
    SIGKILL, its socket closes): no training outlives its job to write a result later."""
    with contextlib.suppress(OSError):
        connection.recv(1)
    if not done.is_set():
        os._exit(1)


def running_workers(under: str | Path | None = None) -> list[int]:
    """The pids of this user's warm workers (Linux /proc), those whose socket path starts
    with `under` if given."""
    pids = []
    for process in Path("/proc").glob("[0-9]*"):
        try:
            if process.stat().st_uid != os.getuid():
                continue
        except OSError:  # ended meanwhile
            continue
        path = _socket_of(int(process.name))
        if path is not None and (under is None or path.startswith(str(under))):
            pids.append(int(process.name))
    return sorted(pids)


def _socket_of(pid: int) -> str | None:
    """The socket of the warm worker `pid`, None if it is none (or has ended)."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None
    if "--socket" not in words[:-1] or not any(word.startswith(f"{PACKAGE}.") for word in words):
        return None
    return words[words.index("--socket") + 1]


def stop_workers(under: str | Path | None = None) -> list[int]:
    """End this user's warm workers now (those whose socket is under `under` if given);
    a job training in one records nothing, as when it is stopped."""
    pids = running_workers(under)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    return pids
