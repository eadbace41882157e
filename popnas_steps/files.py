"""Writing results so that a killed process never leaves half of one behind.

Each file is written under a temporary name in its folder and renamed into place: a
rename within one file system is atomic, so a reader (or a rerun of the workflow) sees the
old file, the new one, or none, never a truncated one.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
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
