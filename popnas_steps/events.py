"""TensorBoard event files (`training.tensorboard`), written with TensorFlow alone.

`tf.summary.scalar` lives in the `tensorboard` package, which TensorFlow no longer installs
and popnas does not require (only viewing the files needs it). `tf.summary.write` with the
scalars plugin's metadata writes the records `tf.summary.scalar` writes, so TensorBoard
shows them as scalars.

- `EpochSummaries`: a training's record of each epoch, in `<folder>/train/` and
  `<folder>/validation/` (Keras' layout and tag names, so TensorBoard draws the two on one
  chart), written at the end of each epoch only.
- `write_scalars`: a list of (tag, step, value) into one event file (the search's own file,
  written by the report: popnas_steps.report.search_scalars).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import keras
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

log = logging.getLogger("popnas.events")

# What tf.summary.scalar attaches (tensorboard.plugins.scalar.metadata): the scalars plugin,
# its version-0 content being empty.
_SCALAR = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
EVENT_FILES = "events.out.tfevents.*"


def write_scalar(tag: str, value: float, step: int) -> None:
    """One scalar into the default writer (inside `with writer.as_default()`)."""
    tf.summary.write(tag, tf.constant(value, dtype=tf.float32), step=step, metadata=_SCALAR)


def clear_events(folder: str | Path) -> None:
    """Delete the event files under `folder` (and nothing else): a new record replaces an old
    one, where TensorBoard would otherwise draw both."""
    for path in Path(folder).rglob(EVENT_FILES):
        path.unlink(missing_ok=True)


def write_scalars(folder: str | Path, scalars: Iterable[tuple[str, int, float]]) -> None:
    """Write (tag, step, value) records into a new event file in `folder`, replacing the event
    files there. A NaN is left out: it stands for no measurement (e.g. no time predictor)."""
    clear_events(folder)
    writer = tf.summary.create_file_writer(str(folder))
    with writer.as_default():
        for tag, step, value in scalars:
            if math.isfinite(value):
                write_scalar(tag, value, step)
    writer.close()


class EpochSummaries(keras.callbacks.Callback):
    """Each epoch's record as TensorBoard scalars in `folder`, step = epoch counted from 1 (as
    in history.csv): train/ epoch_loss, epoch_accuracy, epoch_learning_rate (the rate of the
    epoch's last step: `rates[epoch]`) and epoch_seconds (the epoch's share of t);
    validation/ epoch_loss, epoch_accuracy and epoch_seconds (its validation time).

    Written in on_epoch_end only, after validation: `t` ends with the epoch's last training
    batch, so the writing stays outside it, and nothing runs per batch. `records()` gives the
    records of every epoch so far, the newest made by the timer before this callback. A
    failure to write is a warning that ends the writing: the events are for watching, and
    must never fail a training or change its result.
    """

    def __init__(self, folder: str | Path, records: Callable[[], list[dict]], rates: Sequence[float]):
        super().__init__()
        self.folder = Path(folder)
        self.records = records
        self.rates = rates
        self._writers: dict | None = None

    def on_train_begin(self, logs=None):
        self._writers = self._guarded(
            lambda: {part: tf.summary.create_file_writer(str(self.folder / part)) for part in ("train", "validation")}
        )

    def on_epoch_end(self, epoch, logs=None):
        if self._writers is not None:
            self._guarded(lambda: self._write(self.records()[-1], epoch))

    def on_train_end(self, logs=None):
        if self._writers is not None:
            self._guarded(lambda: [writer.close() for writer in self._writers.values()])

    def _write(self, record: dict, epoch: int) -> None:
        values = {
            "train": {
                "epoch_loss": record["loss"],
                "epoch_accuracy": record["accuracy"],
                "epoch_learning_rate": self.rates[epoch],
                "epoch_seconds": record["train_seconds"],
            },
            "validation": {
                "epoch_loss": record["val_loss"],
                "epoch_accuracy": record["val_accuracy"],
                "epoch_seconds": record["validation_seconds"],
            },
        }
        for part, scalars in values.items():
            with self._writers[part].as_default():
                for tag, value in scalars.items():
                    write_scalar(tag, value, record["epoch"])
            self._writers[part].flush()  # a killed training keeps the epochs it finished

    def _guarded(self, action: Callable):
        try:
            return action()
        except Exception as error:  # tf.errors.*, OSError: whatever the file system says
            log.warning("TensorBoard events in %s stop here (the training goes on): %s", self.folder, error)
            self._writers = None
            return None
