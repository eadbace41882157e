"""Where a training runs: training slots on GPUs, how trainings share a device, and on
SLURM, when its job ends.

Snakemake's `--resources gpu=N` bounds how many trainings run at once but assigns no device,
and TensorFlow takes every visible GPU. So before TensorFlow is imported, a training job
claims a slot (claim_slot): an exclusive lock on a slot file shared by all popnas processes
of the host, held until the job ends (the kernel drops it even on a crash). With G GPUs and
`devices.trainings_per_gpu` N there are G x N slots, and the job sets CUDA_VISIBLE_DEVICES to
its slot's GPU alone; without a GPU, or where a scheduler already chose the devices
(CUDA_VISIBLE_DEVICES is set, as SLURM does), the slot only names the job's warm worker
(popnas_steps.worker). SharingMonitor records how many trainings shared the device.

In a SLURM job, the job's end (its time limit) gives the training a deadline, so that it
stops as a failed result instead of being killed with nothing recorded.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
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


DEVICES_ENVIRONMENT = "POPNAS_DEVICES"


def device_settings() -> dict:
    """The config's `devices` section, as the workflow passes it to its jobs in $POPNAS_DEVICES
    (outside a workflow: one training per GPU, no warm workers).

    Through the environment, not a job's params or command line: how trainings share a host
    changes no result, so changing it must not retrain the cached cells.
    """
    settings = {"trainings_per_gpu": 1, "warm_workers": False}
    text = os.environ.get(DEVICES_ENVIRONMENT)
    if text:
        settings.update(json.loads(text))
    return settings


@dataclass(frozen=True)
class Slot:
    """Where one training runs: `index` is held by one job at a time (and names its warm
    worker, popnas_steps.worker); `gpu` is the GPU it was given, None where popnas does not
    choose (no GPU, or CUDA_VISIBLE_DEVICES set by a scheduler)."""

    index: int
    gpu: int | None


def claim_slot(
    count: int | None = None, folder: Path | None = None, poll_seconds: float = 1.0, per_gpu: int | None = None
) -> Slot:
    """Claim a training slot for this process; on a GPU host, make its GPU the only one
    TensorFlow sees.

    With G GPUs and `per_gpu` trainings per GPU (`devices.trainings_per_gpu`) there are G x
    per_gpu slots, slot k on GPU k // per_gpu; a job finding them all taken waits. Without a
    GPU, or with the devices already chosen, any number of slots: the first free one.
    """
    per_gpu = per_gpu or device_settings()["trainings_per_gpu"]
    chosen = os.environ.get("CUDA_VISIBLE_DEVICES") is not None
    count = 0 if chosen else gpu_count() if count is None else count
    folder = folder or slot_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        index = _wait_for_slot(folder, count * per_gpu if count else None, poll_seconds)
    except OSError as error:  # the machine's failure: the job fails, and a rerun trains the cell
        raise OSError(
            error.errno,
            f"cannot use the GPU slot folder '{folder}' (set POPNAS_GPU_SLOTS to a folder of yours): {error.strerror}",
        ) from None
    if not count:
        return Slot(index, None)
    gpu = index // per_gpu
    os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    return Slot(index, gpu)


def _wait_for_slot(folder: Path, count: int | None, poll_seconds: float) -> int:
    while True:  # more jobs than slots (a too large --resources gpu=N): wait for a slot
        for index in range(count if count is not None else 4096):
            handle = open(folder / f"slot{index}.lock", "a")  # noqa: SIM115 - held for the process lifetime
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


class SharingMonitor:
    """Counts the trainings that share this process's device while it trains, itself
    included: each one leaves a marker (`training/<device>-<pid>` in the slot folder) for its
    duration, and a thread samples the live markers of the same device every `every` seconds.

    `t` measured beside other trainings is not the dedicated-device time the paper's time
    predictor learns; the summary goes into each result.json (`sharing`) so that the search
    can tell (popnas_steps.time_predictor).
    """

    def __init__(self, folder: Path | None = None, every: float = 1.0):
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        self.device = f"gpu{visible}" if visible not in (None, "") else "cpu"
        self.folder = (folder or slot_folder()) / "training"
        self.every = every
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._marker = self.folder / f"{self.device}-{os.getpid()}"

    def __enter__(self) -> SharingMonitor:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._marker.touch()
        except OSError:  # an unwritable slot folder: the training goes on, its sharing unknown
            return self
        self.samples.append(self.count())
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._marker.unlink(missing_ok=True)

    def count(self) -> int:
        """Live trainings on this device now (markers of ended processes are removed)."""
        live = 0
        for marker in self.folder.glob(f"{self.device}-*"):
            pid = int(marker.name.rsplit("-", 1)[1])
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                marker.unlink(missing_ok=True)
                continue
            except PermissionError:  # alive, another user's
                pass
            live += 1
        return max(live, 1)

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(self.count())

    def summary(self) -> dict:
        """What result.json records: the device, the configured trainings per GPU, and the
        mean and largest count of trainings on the device while this one ran (1 = alone)."""
        samples = self.samples or [1]
        return {
            "device": self.device,
            "trainings_per_gpu": device_settings()["trainings_per_gpu"],
            "concurrent_mean": round(sum(samples) / len(samples), 3),
            "concurrent_max": max(samples),
        }


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
