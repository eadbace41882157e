"""A training that resumes where it was stopped: one checkpoint per completed epoch.

A long training (the final training runs 254 epochs in the paper's configs) can be killed
by a node failure, a crash or a cluster's time limit. At the end of every epoch the
`EpochCheckpoint` callback writes the model's weights, the optimizer's state (its step
counter, hence the position in the learning-rate schedule, and its moments) and the
records of every epoch so far into `<folder>/epoch-<N>/`; a rerun restores the newest one
and trains only the epochs left.

A checkpoint is used only by the training that wrote it: each holds a fingerprint of the
cell, the data and the recipe, and one with another fingerprint is deleted, never loaded.
Each epoch's folder is written under a temporary name and renamed when complete, so a
kill while writing leaves the previous epoch's checkpoint intact.

A resumed training continues with the same weights, optimizer state and schedule, but
the shuffling and augmentation of its remaining epochs start from the seed again, so it
is not bit-identical to a training that was never stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras

from popnas_steps.files import write_folder

WEIGHTS = "state.weights.h5"
STATE = "state.json"


def fingerprint(**parts) -> str:
    """A short hash of what a training depends on (canonical JSON of `parts`)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Restored:
    """What a checkpoint gives back: the epochs already trained and their records."""

    epochs: int = 0
    history: list[dict] = field(default_factory=list)
    discarded: str | None = None  # why an existing checkpoint was not used


def latest_epoch(folder: str | Path) -> int:
    """The epochs kept by the newest checkpoint in `folder` (0 without one)."""
    found = _completed(Path(folder))
    return found[-1][0] if found else 0


def _completed(folder: Path) -> list[tuple[int, Path]]:
    found = []
    for path in folder.glob("epoch-*"):
        suffix = path.name.removeprefix("epoch-")
        if suffix.isdigit() and (path / STATE).is_file():
            found.append((int(suffix), path))
    return sorted(found)


def restore(model: keras.Model, folder: str | Path, expected: str) -> Restored:
    """Load the newest checkpoint in `folder` into the compiled `model`, if it was written by
    the training whose fingerprint is `expected`; delete the folder's content otherwise."""
    folder = Path(folder)
    found = _completed(folder)
    if not found:
        return Restored()
    epochs, path = found[-1]
    state = json.loads((path / STATE).read_text())
    if state.get("fingerprint") != expected:
        shutil.rmtree(folder)
        return Restored(discarded=f"checkpoint of another cell, data or recipe ({state.get('fingerprint')})")
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(path / WEIGHTS)
    return Restored(epochs=epochs, history=state["history"])


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves weights, optimizer state and the epoch records at the end of each epoch.

    `records()` gives the records of every epoch so far, the restored ones included; it is
    read after the callbacks before this one have measured the epoch.
    """

    def __init__(self, folder: str | Path, expected: str, records: Callable[[], list[dict]]):
        super().__init__()
        self.folder = Path(folder)
        self.expected = expected
        self.records = records

    def on_epoch_end(self, epoch, logs=None):
        if not math.isfinite(float((logs or {}).get("loss", 0.0))):
            return  # a diverged network is not worth resuming
        state = {"fingerprint": self.expected, "epochs": epoch + 1, "history": self.records()}

        def write(partial: Path) -> None:
            partial.mkdir(parents=True)
            self.model.save_weights(partial / WEIGHTS)
            (partial / STATE).write_text(json.dumps(state) + "\n")

        write_folder(self.folder / f"epoch-{epoch + 1}", write)
        for done, path in _completed(self.folder):  # only the newest is needed
            if done < epoch + 1:
                shutil.rmtree(path, ignore_errors=True)
