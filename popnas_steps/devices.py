"""Where a training runs: one GPU per job on a multi-GPU host, and on SLURM, when its job ends.

Snakemake's `--resources gpu=N` bounds how many trainings run at once but assigns no device,
and TensorFlow takes every visible GPU. So before TensorFlow is imported, a training
process claims a GPU slot: an exclusive lock on one of N slot files shared by all popnas
processes of the host, held until the process ends (the kernel drops it even on a crash),
and sets CUDA_VISIBLE_DEVICES to that GPU alone. Nothing happens where a scheduler already
chose the devices (CUDA_VISIBLE_DEVICES is set, as SLURM does) or with fewer than 2 GPUs.

In a SLURM job, the job's end (its time limit) gives the training a deadline, so that it
stops as a failed result instead of being killed with nothing recorded.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

_held: list = []  # open slot files: their locks live as long as the process


def gpu_count() -> int:
    """GPUs on this host according to nvidia-smi (0 without it)."""
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in listing.splitlines() if line.startswith("GPU "))


def slot_folder() -> Path:
    """$POPNAS_GPU_SLOTS, or a folder of this user's in the temporary folder: on a shared host,
    another user's folder of the same name is not writable."""
    default = Path(tempfile.gettempdir()) / f"popnas-gpu-slots-{os.getuid()}"
    return Path(os.environ.get("POPNAS_GPU_SLOTS", default))


def claim_gpu(count: int | None = None, folder: Path | None = None, poll_seconds: float = 1.0) -> int | None:
    """Claim a free GPU for this process and make it the only one TensorFlow sees.

    Returns the GPU index, or None when nothing needed to be done.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        return None
    count = gpu_count() if count is None else count
    if count < 2:
        return None
    folder = folder or slot_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        index = _wait_for_slot(folder, count, poll_seconds)
    except OSError as error:  # the machine's failure: the job fails, and a rerun trains the cell
        raise OSError(
            error.errno,
            f"cannot use the GPU slot folder '{folder}' (set POPNAS_GPU_SLOTS to a folder of yours): {error.strerror}",
        ) from None
    os.environ["CUDA_VISIBLE_DEVICES"] = str(index)
    return index


def _wait_for_slot(folder: Path, count: int, poll_seconds: float) -> int:
    while True:  # more jobs than GPUs (a too large --resources gpu=N): wait for a slot
        for index in range(count):
            handle = open(folder / f"gpu{index}.lock", "a")  # noqa: SIM115 - held for the process lifetime
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            _held.append(handle)
            return index
        time.sleep(poll_seconds)


def release_gpus() -> None:
    """Drop the slots this process holds (for tests; a process's end drops them anyway)."""
    while _held:
        _held.pop().close()


def placement() -> dict:
    """Where this process runs: the host, the GPUs it may use, and its SLURM job if any.

    Recorded with each result, so a cluster run tells which job and device trained a cell.
    """
    return {
        "host": socket.gethostname(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }


def slurm_end_time() -> float | None:
    """When SLURM will end this process's job (its time limit), as a Unix time.

    None outside a SLURM job, for a job without a time limit, or where squeue cannot tell.
    """
    job = os.environ.get("SLURM_JOB_ID")
    if not job or shutil.which("squeue") is None:
        return None
    try:
        end = subprocess.run(["squeue", "-h", "-j", job, "-o", "%e"], capture_output=True, text=True, timeout=30)
        return datetime.fromisoformat(end.stdout.strip()).timestamp()  # squeue prints local time
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def training_deadline(now: float | None = None) -> float | None:
    """When a training in this job must stop to record its result before SLURM kills the job:
    2 minutes before the job's end (a quarter of what is left, for short limits)."""
    end = slurm_end_time()
    if end is None:
        return None
    left = end - (time.time() if now is None else now)
    return end - min(120.0, 0.25 * max(0.0, left))
