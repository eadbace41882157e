"""Training one network with the paper's recipe, measuring its accuracy `a` and time `t`.

Recipe (paper 4.1): AdamW whose learning rate and decoupled weight decay both follow a
cosine decay with warm restarts (lr 0.01, wd 5e-4, T_0 = 3 epochs, T_mul = 2), sparse
categorical cross-entropy, batch 128, shuffled every epoch, random horizontal flip and
translation of 0.125. `a` is the best validation accuracy over the epochs.

The flip and translation run in the tf.data pipeline, or, with `augment_on_device`, as the
first layers of a training model wrapped around the network (`on_device`): they then run
where the network does (a GPU), inside `t`, and the network itself, saved by the final
training, holds none of them.

Keras' AdamW applies `weight_decay * learning_rate(step)` each step. Passing
`weight_decay / learning_rate` therefore yields a decay of `weight_decay * m(step)`, where
m is the cosine multiplier: the paper's schedule on both, from one schedule object.

The statistics a network is validated with. Keras' BatchNormalization validates with moving
averages of the training batches' statistics, kept with a momentum (`network.batchnorm_momentum`
where a config sets it: the paper's 0.99 averages over about the last 100 steps). In a short
training those averages still hold statistics of weights long gone (a 2-epoch training of
280 steps validated with 0.99 ranked cells no better than chance across seeds), so where the
key is not set every validation is preceded by `BatchNormRecompute`: each layer's
statistics become the mean, over fixed training batches (RECOMPUTE_IMAGES images, unaugmented),
of the batch statistics at the weights of that moment, whatever the training's length.

What `t` measures: the sum over the E epochs of the time from the start of the first
training batch to the end of the last one. Data preparation, model building, validation
and callbacks after the last batch are outside it. The first batch of the first epoch
carries the one-off graph tracing, so it is replaced by the mean time of the other
batches of that epoch. Training batches all have the same size (the remainder is
dropped, a different sample each epoch) so that no batch triggers a second trace.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from popnas_steps.checkpoints import EpochCheckpoint, Restored, restore
from popnas_steps.datasets import PreparedData
from popnas_steps.events import EpochSummaries, clear_events
from popnas_steps.slices import WATCH_KEYS, without_later_defaults

log = logging.getLogger("popnas.train")


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
    deterministic: bool = False
    augment_on_device: bool = False

    @classmethod
    def from_config(cls, training: dict, **overrides) -> Recipe:
        """The recipe of a `training` config slice (with `overrides`), less the keys that only
        say how a training is watched (slices.WATCH_KEYS: tensorboard), which change no result."""
        settings = {**training, **overrides}
        return cls(**{key: value for key, value in settings.items() if key not in WATCH_KEYS["training"]})

    def recorded(self) -> dict:
        """The recipe as a checkpoint's fingerprint records it: less the keys added later that
        hold their default (slices.LATER_KEYS), so checkpoints made before them stay usable."""
        return without_later_defaults({"training": asdict(self)})["training"]


class TrainingFailed(RuntimeError):
    """A training that ended without a usable result (e.g. a NaN loss)."""


class TimeLimit(TrainingFailed):
    """A training stopped because its job's time limit was near."""


RECOMPUTE_IMAGES = 2048  # at most: the first training images, in batches of the training's size


def statistics_batches(data: PreparedData, batch_size: int) -> list[np.ndarray]:
    """The fixed training batches `BatchNormRecompute` reads: the first training images,
    up to RECOMPUTE_IMAGES, in whole batches of `batch_size` (all of them where fewer)."""
    batch_size = min(batch_size, len(data.train.y))
    count = max(1, min(RECOMPUTE_IMAGES, len(data.train.y)) // batch_size)
    return [data.train.x[k * batch_size : (k + 1) * batch_size] for k in range(count)]


class BatchNormRecompute:
    """Sets the moving mean and variance of every BatchNormalization layer of `network` to
    the mean of its batch statistics over `batches`, at the current weights (precise
    BatchNorm); the weights are not touched.

    Each batch passes once in training mode, compiled once, with the layers' momentum at 0:
    each pass leaves that batch's statistics in the moving ones, which are summed, and the
    means are assigned at the end. The layers' momentum is restored after each call."""

    def __init__(self, network: keras.Model, batches: list[np.ndarray]):
        # every layer, nested ones too (Keras' own walk; `layers` lists the top level only)
        every = network._flatten_layers()
        self.layers = [layer for layer in every if isinstance(layer, keras.layers.BatchNormalization)]
        self.batches = [tf.convert_to_tensor(images) for images in batches]
        self._forward = tf.function(lambda images: network(images, training=True))  # traced at momentum 0

    def __call__(self) -> int:
        """Recompute; returns how many layers were."""
        kept = [layer.momentum for layer in self.layers]
        means = [np.zeros(layer.moving_mean.shape) for layer in self.layers]
        variances = [np.zeros(layer.moving_variance.shape) for layer in self.layers]
        try:
            for layer in self.layers:
                layer.momentum = 0.0
            for images in self.batches:
                self._forward(images)
                for layer, mean, variance in zip(self.layers, means, variances, strict=True):
                    mean += layer.moving_mean.numpy()
                    variance += layer.moving_variance.numpy()
            for layer, mean, variance in zip(self.layers, means, variances, strict=True):
                layer.moving_mean.assign(mean / len(self.batches))
                layer.moving_variance.assign(variance / len(self.batches))
        finally:
            for layer, momentum in zip(self.layers, kept, strict=True):
                layer.momentum = momentum
        return len(self.layers)


class FreshStatistics(keras.callbacks.Callback):
    """Recomputes `network`'s BatchNorm statistics after the last training batch of each
    epoch, so that Keras' validation, which follows it, sees statistics of the final weights."""

    def __init__(self, network: keras.Model, batches: list[np.ndarray], steps_per_epoch: int):
        super().__init__()
        self.recompute, self.steps_per_epoch = BatchNormRecompute(network, batches), steps_per_epoch

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 == self.steps_per_epoch:
            self.recompute()


class Deadline(keras.callbacks.Callback):
    """Stops a training that would outlive its job: a cluster job killed at its time limit
    records nothing, while a stopped training is a result (or a checkpoint to resume)."""

    def __init__(self, deadline: float):
        super().__init__()
        self.deadline = deadline
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if time.time() > self.deadline:
            stop = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.deadline))
            raise TimeLimit(
                f"time limit: stopped in epoch {self.epoch + 1} at {stop}, before the job's end; "
                "give the rule a larger runtime"
            )


class TrainTimer(keras.callbacks.Callback):
    """Measures training-batch time per epoch, keeps a record of each epoch, and stops on a
    non-finite loss. `history` holds the records of epochs trained before (a resumed run)."""

    def __init__(self, steps_per_epoch: int, history: list[dict] | None = None):
        super().__init__()
        self.steps = steps_per_epoch
        self.records: list[dict] = list(history or [])
        self.trace_time = 0.0
        self.nan_epoch: int | None = None
        self._first_epoch: int | None = None  # the first epoch this process trains
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch is None:
            self._first_epoch = epoch
        self._epoch = epoch
        self._first_begin = None

    def on_train_batch_begin(self, batch, logs=None):
        if self._first_begin is None:
            self._first_begin = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0 or batch == self.steps - 1:
            float(logs["loss"])  # waits for the device, so the clock reads finished work
        now = time.perf_counter()
        if batch == 0 and self._epoch == self._first_epoch:
            self._after_first = now
            self.trace_time = now - self._first_begin
        self._last_end = now

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        logs = logs or {}
        if epoch == self._first_epoch and self.steps > 1:  # its first batch carried the tracing
            rest = self._last_end - self._after_first
            epoch_time = rest * self.steps / (self.steps - 1)
        else:
            epoch_time = self._last_end - self._first_begin
        self.records.append(
            {
                "epoch": epoch + 1,
                **{key: float(logs.get(key, math.nan)) for key in ("loss", "accuracy", "val_loss", "val_accuracy")},
                "train_seconds": epoch_time,
                "validation_seconds": now - self._last_end,
            }
        )
        if not math.isfinite(float(logs.get("loss", 0.0))):
            self.nan_epoch = epoch
            self.model.stop_training = True


def augmentation(recipe: Recipe, seed: int) -> keras.Sequential | None:
    """The recipe's random flip and translation, seeded; None where it has neither."""
    layers = []
    if recipe.horizontal_flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if recipe.translation > 0:
        layers.append(
            keras.layers.RandomTranslation(recipe.translation, recipe.translation, fill_mode="reflect", seed=seed)
        )
    return keras.Sequential(layers, name="augmentation") if layers else None


def make_datasets(data: PreparedData, recipe: Recipe, seed: int) -> tuple[tf.data.Dataset, tf.data.Dataset, int]:
    """Shuffled training batches, augmented unless the recipe augments on the device, and
    validation batches; also steps per epoch."""
    batch_size = min(recipe.batch_size, len(data.train.y))
    train = (
        tf.data.Dataset.from_tensor_slices((data.train.x, data.train.y))
        .shuffle(len(data.train.y), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)
    )
    augment = None if recipe.augment_on_device else augmentation(recipe, seed)
    if augment is not None:
        # Sequential on purpose: parallel calls would draw from the seeded generator in a
        # nondeterministic order, and the same seed would no longer give the same training.
        train = train.map(lambda x, y: (augment(x, training=True), y))
    train = train.prefetch(tf.data.AUTOTUNE)
    val = tf.data.Dataset.from_tensor_slices((data.val.x, data.val.y)).batch(recipe.batch_size).prefetch(2)
    return train, val, len(data.train.y) // batch_size


def on_device(model: keras.Model, augment: keras.Sequential) -> keras.Model:
    """A training model: `augment`, then `model`, whose layers and weights it shares.

    Keras calls the augmentation layers with training=True in fit only; at validation,
    evaluate and predict they pass images through unchanged. Training this model trains
    `model`, which stays the network to measure and save, free of augmentation layers.
    """
    image = keras.Input(shape=model.input_shape[1:], name="image")
    return keras.Model(image, model(augment(image)), name=f"{model.name}_augmented")


def cosine_decay_restarts(steps: int, first_decay_steps: int, t_mul: float, m_mul: float, alpha: float) -> np.ndarray:
    """Multiplier of the initial rate at steps 0..steps-1: SGDR (Loshchilov & Hutter), as in
    keras.optimizers.schedules.CosineDecayRestarts, except that a period the training would
    leave unfinished is cut to end with it (its cosine runs its whole course in the steps
    left), so that every training ends at the schedule's floor. A schedule whose periods end
    with the training (the paper's 21 = 3 + 6 + 12 epochs) is Keras' to the bit."""
    position = np.arange(steps, dtype=np.float64)
    restarts, completed = _periods_at(position, first_decay_steps, t_mul)
    # Keras' arithmetic, kept as it is so that an uncut schedule stays the same to the bit
    fraction = (position / first_decay_steps - completed) / t_mul**restarts
    last_start = completed[-1] * first_decay_steps
    if steps + 1e-6 < last_start + first_decay_steps * t_mul ** restarts[-1]:  # it would outlast the training
        tail = restarts == restarts[-1]
        fraction[tail] = (position[tail] - last_start) / (steps - last_start)
    cosine = 0.5 * m_mul**restarts * (1.0 + np.cos(np.pi * fraction))
    return (1.0 - alpha) * cosine + alpha


def _periods_at(position: np.ndarray, first_decay_steps: int, t_mul: float) -> tuple[np.ndarray, np.ndarray]:
    """For each step: the index k of its period and the periods completed before it, in units
    of the first period (1 + t_mul + ... + t_mul^(k-1)), in Keras' arithmetic."""
    fraction = position / first_decay_steps
    if t_mul == 1.0:
        restarts = np.floor(fraction)
        return restarts, restarts
    restarts = np.floor(np.log(1.0 - fraction * (1.0 - t_mul)) / np.log(t_mul))
    return restarts, (1.0 - t_mul**restarts) / (1.0 - t_mul)


def schedule_periods(recipe: Recipe, steps_per_epoch: int) -> list[float]:
    """The lengths in epochs of the periods a training with `recipe` goes through: the keys'
    (first_period x t_mul^k), but the last, which is cut where it would outlast the training."""
    steps = recipe.epochs * steps_per_epoch
    first = _first_steps(recipe, steps_per_epoch)
    restarts, completed = _periods_at(np.arange(steps, dtype=np.float64), first, recipe.t_mul)
    indices, starts = np.unique(restarts, return_index=True)
    lengths = np.minimum(first * recipe.t_mul**indices, steps - completed[starts] * first)
    return [round(float(length) / steps_per_epoch, 6) for length in lengths]


def schedule_note(recipe: Recipe, steps_per_epoch: int) -> str | None:
    """What the schedule became where it differs from the keys as written, for the log."""
    periods = schedule_periods(recipe, steps_per_epoch)
    asked = recipe.first_period * recipe.t_mul ** (len(periods) - 1)
    if periods[-1] + 1e-6 >= asked:
        return None
    shown = " + ".join(f"{period:g}" for period in periods)
    return (
        f"learning-rate schedule: periods of {shown} epochs; the last is cut from {asked:g} epochs "
        f"so that the {recipe.epochs}-epoch training ends at the schedule's floor"
    )


def _first_steps(recipe: Recipe, steps_per_epoch: int) -> int:
    return max(1, round(recipe.first_period * steps_per_epoch))


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
        _first_steps(recipe, steps_per_epoch),
        recipe.t_mul,
        recipe.m_mul,
        recipe.alpha,
    )
    return TabulatedSchedule(recipe.learning_rate * multiplier)


def epoch_end_rates(recipe: Recipe, steps_per_epoch: int) -> list[float]:
    """The learning rate of the last step of each epoch."""
    return learning_rate_schedule(recipe, steps_per_epoch).values[steps_per_epoch - 1 :: steps_per_epoch]


def make_optimizer(recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    schedule = learning_rate_schedule(recipe, steps_per_epoch)
    return keras.optimizers.AdamW(learning_rate=schedule, weight_decay=recipe.weight_decay / recipe.learning_rate)


def build_training_variables(model: keras.Model, data: PreparedData, recipe: Recipe) -> None:
    """Create the optimizer's and the metrics' variables of a compiled model before `fit`.

    Keras creates them lazily, inside the first trace of the training step; a tf.function
    that creates variables is traced a second time, which doubled the one-off tracing of
    every network (about 2 s of 4 on a CPU; BENCHMARKS.md, "Where the time of the default
    run goes"). Keras' own symbolic build (private: it runs only under a distribution
    strategy) does it from shapes alone: no data is drawn, so the training is unchanged.
    A Keras without it traces twice, as before; tests/test_train.py notices.
    """
    symbolic_build = getattr(model, "_symbolic_build", None)
    if symbolic_build is None:
        return
    batch = min(recipe.batch_size, len(data.train.y))
    x = tf.convert_to_tensor(data.train.x[:batch])
    y = tf.convert_to_tensor(data.train.y[:batch])
    symbolic_build(data_batch=(x, y, None))


def train_model(
    model: keras.Model,
    data: PreparedData,
    recipe: Recipe,
    seed: int,
    deadline: float | None = None,
    checkpoint: Path | None = None,
    fingerprint: str = "",
    tensorboard: Path | None = None,
    fresh_statistics: bool = False,
) -> dict:
    """Train `model` and return its measurements; raise TrainingFailed on a NaN loss, and
    TimeLimit when the Unix time `deadline` passes. With `recipe.augment_on_device`, the model
    compiled and fitted is `on_device(model, ...)`, not `model`, which holds no optimizer then.
    With `fresh_statistics` (a network whose `batchnorm_momentum` is not set), the BatchNorm
    statistics are recomputed before each validation (`BatchNormRecompute`).

    With a `checkpoint` folder, each epoch is checkpointed there and a checkpoint left by an
    earlier run with the same `fingerprint` is resumed (popnas_steps.checkpoints). With a
    `tensorboard` folder, each epoch's record is written there as TensorBoard scalars
    (popnas_steps.events), outside `t`.
    """
    if recipe.deterministic:
        # Process-wide, and each training is its own process: threaded reductions (oneDNN,
        # cuDNN) are otherwise free to sum in any order, and equal seeds give unequal networks.
        tf.config.experimental.enable_op_determinism()
    if not tf.config.list_logical_devices("GPU"):
        log.info("no GPU visible to TensorFlow (CUDA is optional): training on the CPU")
    keras.utils.set_random_seed(seed)
    train, val, steps = make_datasets(data, recipe, seed)
    augment = augmentation(recipe, seed) if recipe.augment_on_device else None
    note = schedule_note(recipe, steps)
    if note is not None:
        log.info(note)
    # `model` is what is measured and saved; `trained` is what fit, the optimizer and the
    # checkpoints see (the same weights, behind the augmentation layers when on the device).
    trained = model if augment is None else on_device(model, augment)
    if augment is not None and recipe.jit_compile and recipe.translation > 0:
        log.warning(
            "jit_compile with augment_on_device: Keras' RandomTranslation does not support XLA, "
            "so Keras compiles no step with it"
        )
    trained.compile(
        optimizer=make_optimizer(recipe, steps),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=recipe.jit_compile,
    )
    build_training_variables(trained, data, recipe)
    restored = restore(trained, checkpoint, fingerprint) if checkpoint is not None else Restored()
    if restored.discarded:
        log.warning("not resuming: %s", restored.discarded)
    if restored.epochs:
        log.info("resuming from epoch %d of %d (checkpoint in %s)", restored.epochs + 1, recipe.epochs, checkpoint)
    timer = TrainTimer(steps, restored.history)
    callbacks: list[keras.callbacks.Callback] = [timer]
    if tensorboard is not None:
        if not restored.epochs:  # a training from its first epoch replaces an earlier one's events
            clear_events(tensorboard)
        # Before the checkpoint: a kill between the two writes that epoch's events again on
        # the resume (TensorBoard keeps the later ones), where the other order would lose them.
        callbacks.append(EpochSummaries(tensorboard, lambda: timer.records, epoch_end_rates(recipe, steps)))
    if fresh_statistics:  # after the timer: the recomputation is validation's cost, outside t
        callbacks.append(FreshStatistics(model, statistics_batches(data, recipe.batch_size), steps))
    if checkpoint is not None:  # after the timer: it saves the record the timer just made
        callbacks.append(EpochCheckpoint(checkpoint, fingerprint, lambda: timer.records))
    if deadline is not None:
        callbacks.append(Deadline(deadline))
    started = time.perf_counter()
    if restored.epochs < recipe.epochs:
        trained.fit(
            train,
            validation_data=val,
            epochs=recipe.epochs,
            initial_epoch=restored.epochs,
            callbacks=callbacks,
            shuffle=False,
            verbose=0,
        )
    fit_seconds = time.perf_counter() - started
    if timer.nan_epoch is not None:
        raise TrainingFailed(f"loss became NaN or infinite in epoch {timer.nan_epoch + 1}")
    epochs = timer.records
    val_accuracy = [record["val_accuracy"] for record in epochs]
    best = int(np.argmax(val_accuracy))
    return {
        "accuracy": float(val_accuracy[best]),
        "best_epoch": best + 1,
        "time": float(sum(record["train_seconds"] for record in epochs)),
        "params": int(model.count_params()),
        "steps_per_epoch": steps,
        "history": epochs,
        "resumed_from_epoch": restored.epochs,
        "timings": {
            "trace_seconds": timer.trace_time,
            "validation_seconds": float(sum(record["validation_seconds"] for record in epochs)),
            "fit_seconds": fit_seconds,
        },
    }
