"""Writing results so that a killed process never leaves half of one behind.

Each file is written under a temporary name in its folder and renamed into place: a
rename within one file system is atomic, so a reader (or a rerun of the workflow) sees the
old file, the new one, or none, never a truncated one. And one process at a time writes
an output (`output_lock`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def write_with(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call `write(temporary path)`, then rename the file it wrote to `path`."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    try:
        write(partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    write_with(path, lambda partial: partial.write_text(text))


def write_json(path: str | Path, value) -> None:
    write_text(path, json.dumps(value, indent=2) + "\n")


def write_folder(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call `write(temporary folder path)`, then move the folder it wrote to `path`,
    replacing what was there (the folder's twin of `write_with`)."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # left by a killed writer
    write(partial)
    if path.exists():
        shutil.rmtree(path)
    os.replace(partial, path)


@contextmanager
def output_lock(path: str | Path) -> Iterator[None]:
    """Hold the lock of the output `path` (a file or folder) while computing and writing it.

    A Snakemake killed with SIGKILL leaves its jobs running; the rerun starts the same job
    again. The second waits here for the first, so that the two never write the output at
    the same time, and the output is the rerun's. The lock is a hidden file beside the output
    (`.<name>.lock`, holding the holder's process id), released by the kernel when its
    holder ends, even on a crash.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            print(
                f"waiting for process {holder}, which is writing '{path}' (a job left running by a killed "
                "Snakemake?), to end",
                file=sys.stderr,
                flush=True,
            )
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


# Below this much free space, a failed run says the disk is (nearly) full even when every
# job log has its error: a job cannot write its outputs in less.
LOW_DISK_BYTES = 64 * 2**20


def failure_note(folder: str | Path, since: float, failed_logs: Iterable[str | Path] | None = None) -> str | None:
    """What to tell the user after a failed Snakemake run writing under `folder` since the
    Unix time `since`, when the failing jobs' own logs may not say it: the job logs left
    empty (a job cannot write the error of a full disk to a log on that disk) and the
    free space. None when every log has something and the disk has room.

    `failed_logs`: the logs of the jobs that failed (the Snakefile's onerror handler has them
    from Snakemake), the only ones named: a job that succeeded may leave its log empty, and
    a full disk is no reason for that. None: every log written under `folder` since `since`."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    failed = None if failed_logs is None else {Path(log).resolve() for log in failed_logs}
    empty = sorted(
        str(log)
        for log in folder.rglob("*.log")
        if log.is_file()
        and log.stat().st_size == 0
        and log.stat().st_mtime >= since
        and (failed is None or log.resolve() in failed)
    )
    free = shutil.disk_usage(folder).free
    if not empty and free >= LOW_DISK_BYTES:
        return None
    lines = [f"{free / 2**20:.0f} MiB free on the disk that holds '{folder}'"]
    if empty:
        lines.append(
            f"{len(empty)} job log(s) written by this run are empty, so they cannot say why their job failed "
            f"(a full disk does this): {', '.join(empty[:5])}{' ...' if len(empty) > 5 else ''}"
        )
    if free < LOW_DISK_BYTES:
        lines.append("the disk is (nearly) full: free space, then run the same command again (finished jobs are kept)")
    return "popnas: " + "; ".join(lines)
