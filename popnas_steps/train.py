"""Training one network with the paper's recipe, measuring its accuracy `a` and time `t`.

Recipe (paper 4.1): AdamW whose learning rate and decoupled weight decay both follow a
cosine decay with warm restarts (lr 0.01, wd 5e-4, T_0 = 3 epochs, T_mul = 2), sparse
categorical cross-entropy, batch 128, shuffled every epoch, random horizontal flip and
translation of 0.125. `a` is the best validation accuracy over the epochs.

Keras' AdamW applies `weight_decay * learning_rate(step)` each step. Passing
`weight_decay / learning_rate` therefore yields a decay of `weight_decay * m(step)`, where
m is the cosine multiplier: the paper's schedule on both, from one schedule object.

What `t` measures: the sum over the E epochs of the time from the start of the first
training batch to the end of the last one. Data preparation, model building, validation
and callbacks after the last batch are outside it. The first batch of the first epoch
carries the one-off graph tracing, so it is replaced by the mean time of the other
batches of that epoch. Training batches all have the same size (the remainder is
dropped, a different sample each epoch) so that no batch triggers a second trace.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from popnas_steps.datasets import PreparedData


@dataclass(frozen=True)
class Recipe:
    """The `training` config slice."""

    epochs: int = 21
    batch_size: int = 128
    learning_rate: float = 0.01
    weight_decay: float = 5e-4
    first_period: float = 3
    t_mul: float = 2
    m_mul: float = 1
    alpha: float = 0
    horizontal_flip: bool = True
    translation: float = 0.125
    jit_compile: bool = False


class TrainingFailed(RuntimeError):
    """A training that ended without a usable result (e.g. a NaN loss)."""


class Deadline(keras.callbacks.Callback):
    """Fails a training that would outlive its job: a cluster job killed at its time limit
    records nothing, while a failed training is a result and the search goes on."""

    def __init__(self, deadline: float):
        super().__init__()
        self.deadline = deadline
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if time.time() > self.deadline:
            stop = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.deadline))
            raise TrainingFailed(
                f"time limit: stopped in epoch {self.epoch + 1} at {stop}, before the job's end; "
                "give the rule a larger runtime"
            )


class TrainTimer(keras.callbacks.Callback):
    """Measures training-batch time per epoch and stops on a non-finite loss."""

    def __init__(self, steps_per_epoch: int):
        super().__init__()
        self.steps = steps_per_epoch
        self.epoch_times: list[float] = []
        self.validation_times: list[float] = []
        self.trace_time = 0.0
        self.nan_epoch: int | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._first_begin = None

    def on_train_batch_begin(self, batch, logs=None):
        if self._first_begin is None:
            self._first_begin = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0 or batch == self.steps - 1:
            float(logs["loss"])  # waits for the device, so the clock reads finished work
        now = time.perf_counter()
        if batch == 0 and self._epoch == 0:
            self._after_first = now
            self.trace_time = now - self._first_begin
        self._last_end = now

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        if epoch == 0 and self.steps > 1:
            rest = self._last_end - self._after_first
            epoch_time = rest * self.steps / (self.steps - 1)
        else:
            epoch_time = self._last_end - self._first_begin
        self.epoch_times.append(epoch_time)
        self.validation_times.append(now - self._last_end)
        if not math.isfinite(float(logs.get("loss", 0.0))):
            self.nan_epoch = epoch
            self.model.stop_training = True


def make_datasets(data: PreparedData, recipe: Recipe, seed: int) -> tuple[tf.data.Dataset, tf.data.Dataset, int]:
    """Shuffled, augmented training batches and validation batches; also steps per epoch."""
    batch_size = min(recipe.batch_size, len(data.train.y))
    train = (
        tf.data.Dataset.from_tensor_slices((data.train.x, data.train.y))
        .shuffle(len(data.train.y), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)
    )
    augmentation = []
    if recipe.horizontal_flip:
        augmentation.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if recipe.translation > 0:
        augmentation.append(
            keras.layers.RandomTranslation(recipe.translation, recipe.translation, fill_mode="reflect", seed=seed)
        )
    if augmentation:
        augment = keras.Sequential(augmentation, name="augmentation")
        # Sequential on purpose: parallel calls would draw from the seeded generator in a
        # nondeterministic order, and the same seed would no longer give the same training.
        train = train.map(lambda x, y: (augment(x, training=True), y))
    train = train.prefetch(tf.data.AUTOTUNE)
    val = tf.data.Dataset.from_tensor_slices((data.val.x, data.val.y)).batch(recipe.batch_size).prefetch(2)
    return train, val, len(data.train.y) // batch_size


def cosine_decay_restarts(steps: int, first_decay_steps: int, t_mul: float, m_mul: float, alpha: float) -> np.ndarray:
    """Multiplier of the initial rate at steps 0..steps-1: SGDR (Loshchilov & Hutter), as in
    keras.optimizers.schedules.CosineDecayRestarts."""
    fraction = np.arange(steps, dtype=np.float64) / first_decay_steps
    if t_mul == 1.0:
        restarts = np.floor(fraction)
        fraction = fraction - restarts
    else:
        restarts = np.floor(np.log(1.0 - fraction * (1.0 - t_mul)) / np.log(t_mul))
        completed = (1.0 - t_mul**restarts) / (1.0 - t_mul)
        fraction = (fraction - completed) / t_mul**restarts
    cosine = 0.5 * m_mul**restarts * (1.0 + np.cos(np.pi * fraction))
    return (1.0 - alpha) * cosine + alpha


@keras.saving.register_keras_serializable(package="popnas")
class TabulatedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A schedule read from a precomputed table: one gather in the training graph.

    Keras' CosineDecayRestarts builds a graph of logs and powers that the optimizer
    traces twice (learning rate and weight decay), about 1.5 s per network on a CPU;
    the table gives the same values for the cost of a lookup.
    """

    def __init__(self, values):
        self.values = [float(v) for v in values]
        self._table = keras.ops.convert_to_tensor(np.asarray(self.values, dtype=np.float32))

    def __call__(self, step):
        index = keras.ops.minimum(keras.ops.cast(step, "int32"), len(self.values) - 1)
        return keras.ops.take(self._table, index)

    def get_config(self):
        return {"values": self.values}


def learning_rate_schedule(recipe: Recipe, steps_per_epoch: int) -> TabulatedSchedule:
    multiplier = cosine_decay_restarts(
        recipe.epochs * steps_per_epoch,
        max(1, round(recipe.first_period * steps_per_epoch)),
        recipe.t_mul,
        recipe.m_mul,
        recipe.alpha,
    )
    return TabulatedSchedule(recipe.learning_rate * multiplier)


def make_optimizer(recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    schedule = learning_rate_schedule(recipe, steps_per_epoch)
    return keras.optimizers.AdamW(learning_rate=schedule, weight_decay=recipe.weight_decay / recipe.learning_rate)


def train_model(
    model: keras.Model, data: PreparedData, recipe: Recipe, seed: int, deadline: float | None = None
) -> dict:
    """Train `model` and return its measurements; raise TrainingFailed on a NaN loss, or when
    the Unix time `deadline` passes."""
    keras.utils.set_random_seed(seed)
    train, val, steps = make_datasets(data, recipe, seed)
    model.compile(
        optimizer=make_optimizer(recipe, steps),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=recipe.jit_compile,
    )
    timer = TrainTimer(steps)
    started = time.perf_counter()
    callbacks = [timer] if deadline is None else [timer, Deadline(deadline)]
    history = model.fit(train, validation_data=val, epochs=recipe.epochs, callbacks=callbacks, shuffle=False, verbose=0)
    fit_seconds = time.perf_counter() - started
    if timer.nan_epoch is not None:
        raise TrainingFailed(f"loss became NaN or infinite in epoch {timer.nan_epoch + 1}")
    val_accuracy = history.history["val_accuracy"]
    epochs = [
        {
            "epoch": i + 1,
            "loss": float(history.history["loss"][i]),
            "accuracy": float(history.history["accuracy"][i]),
            "val_loss": float(history.history["val_loss"][i]),
            "val_accuracy": float(val_accuracy[i]),
            "train_seconds": timer.epoch_times[i],
            "validation_seconds": timer.validation_times[i],
        }
        for i in range(len(val_accuracy))
    ]
    best = int(np.argmax(val_accuracy))
    return {
        "accuracy": float(val_accuracy[best]),
        "best_epoch": best + 1,
        "time": float(sum(timer.epoch_times)),
        "params": int(model.count_params()),
        "steps_per_epoch": steps,
        "history": epochs,
        "timings": {
            "trace_seconds": timer.trace_time,
            "validation_seconds": float(sum(timer.validation_times)),
            "fit_seconds": fit_seconds,
        },
    }
