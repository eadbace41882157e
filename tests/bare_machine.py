"""A PATH on which popnas' optional system tools cannot be found, as on a fresh machine with
Python and pip only, even where they are installed (CI installs them for other tests).

    python tests/bare_machine.py FOLDER    # prints such a PATH, made of links in FOLDER

Every folder of PATH that holds one of the tools is replaced by a folder of links to all of
its other entries, so the rest of the machine (bash, python3, coreutils) stays reachable.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# graphviz, the browser of the report test, SLURM's client commands, and CUDA's tool.
OPTIONAL_TOOLS = (
    "dot",
    "chromium",
    "chromium-browser",
    "sinfo",
    "sacct",
    "squeue",
    "sbatch",
    "srun",
    "scancel",
    "scontrol",
    "nvidia-smi",
)


def bare_path(folder: Path, path: str | None = None, hidden: tuple[str, ...] = OPTIONAL_TOOLS) -> str:
    """`path` (default: this process's PATH) without the `hidden` commands."""
    entries = []
    for index, directory in enumerate((os.environ.get("PATH", "") if path is None else path).split(os.pathsep)):
        source = Path(directory)
        if not directory or not source.is_dir():
            continue
        if not any((source / tool).exists() for tool in hidden):
            entries.append(directory)
            continue
        shadow = folder / f"{index}-{source.name or 'root'}"
        shadow.mkdir(parents=True, exist_ok=True)
        for item in source.iterdir():
            link = shadow / item.name
            if item.name not in hidden and not link.exists():
                link.symlink_to(item)
        entries.append(str(shadow))
    return os.pathsep.join(entries)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/bare_machine.py FOLDER")
    print(bare_path(Path(sys.argv[1]).resolve()))
