"""TensorBoard event files (training.tensorboard): each training's epochs, the search's own
file, and the switch that changes no result. Read back with TensorFlow alone (no
`tensorboard` package needed)."""

import json
import math
from collections import defaultdict
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from popnas_steps import train_cell as entry
from popnas_steps.cli.arguments import config_from_args
from popnas_steps.config import ConfigError
from popnas_steps.datasets import load_prepared
from popnas_steps.events import EpochSummaries
from popnas_steps.macro import NetworkSpec
from popnas_steps.model import build_model
from popnas_steps.report import search_scalars
from popnas_steps.slices import watch_settings, without_watch_keys
from popnas_steps.space import Cell
from popnas_steps.train import Recipe, train_model

from .conftest import tiny_config

CELL = Cell.from_json('[[-1, "3x3 conv", -2, "2x2 maxpool"]]')
TRAIN_TAGS = {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "epoch_seconds"}
VALIDATION_TAGS = {"epoch_loss", "epoch_accuracy", "epoch_seconds"}


def read_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] of every event file in `folder` (not below), oldest file first."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    scalars = defaultdict(list)
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(str(path)):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                assert value.metadata.plugin_data.plugin_name == "scalars", value.tag  # what TensorBoard draws
                scalars[value.tag].append((event.step, float(tf.make_ndarray(value.tensor))))
    return dict(scalars)


def event_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("events.out.tfevents.*"))


# --- one training with the switch on, one with it off --------------------------------------


@pytest.fixture(scope="module")
def watched_and_unwatched(tmp_path_factory):
    """The same cell trained with tensorboard on and off (deterministic ops: equal seeds give
    equal networks), each in its own folder."""
    from popnas_steps.datasets import prepare

    folder = tmp_path_factory.mktemp("tensorboard")
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 30)
    x = (rng.integers(0, 60, size=(90, 8, 8, 3)) + 80 * y[:, None, None, None]).astype(np.uint8)
    np.savez(folder / "tiny.npz", x=x, y=y)
    dataset = {"source": "npz", "path": str(folder / "tiny.npz")}
    results = {}
    for watched in (True, False):
        config = tiny_config(dataset=dataset, training={"epochs": 3, "deterministic": True, "tensorboard": watched})
        if watched:
            prepare(config["dataset"], config["seed"], folder / "data")
        out = folder / ("on" if watched else "off")
        results[watched] = (entry.train_cell(config, CELL, folder / "data", out), out)
    return results


def test_a_training_writes_one_value_per_epoch_of_each_scalar(watched_and_unwatched):
    result, out = watched_and_unwatched[True]
    assert result["status"] == "ok", result["reason"]
    train, validation = read_scalars(out / "tensorboard" / "train"), read_scalars(out / "tensorboard" / "validation")
    assert set(train) == TRAIN_TAGS and set(validation) == VALIDATION_TAGS
    history = result["history"]
    for scalars, names in (
        (train, {"epoch_loss": "loss", "epoch_accuracy": "accuracy", "epoch_seconds": "train_seconds"}),
        (
            validation,
            {"epoch_loss": "val_loss", "epoch_accuracy": "val_accuracy", "epoch_seconds": "validation_seconds"},
        ),
    ):
        for tag, key in names.items():
            assert [step for step, _ in scalars[tag]] == [1, 2, 3], tag  # one value per epoch, counted from 1
            assert [value for _, value in scalars[tag]] == pytest.approx([e[key] for e in history], rel=1e-6), tag


def test_the_learning_rate_is_that_of_each_epochs_last_step(watched_and_unwatched):
    result, out = watched_and_unwatched[True]
    steps = result["steps_per_epoch"]
    # first period 1 epoch, then 2 (t_mul 2): the epochs end at these fractions of their period
    fractions = [(steps - 1) / steps, (steps - 1) / (2 * steps), (2 * steps - 1) / (2 * steps)]
    expected = [0.01 * 0.5 * (1 + math.cos(math.pi * fraction)) for fraction in fractions]
    rates = read_scalars(out / "tensorboard" / "train")["epoch_learning_rate"]
    assert [value for _, value in rates] == pytest.approx(expected, rel=1e-5)


def test_the_switch_off_writes_nothing_and_the_switch_changes_no_result(watched_and_unwatched):
    (on, _), (off, off_out) = watched_and_unwatched[True], watched_and_unwatched[False]
    assert off["status"] == "ok" and not (off_out / "tensorboard").exists() and not event_files(off_out)
    assert on["accuracy"] == off["accuracy"] and on["params"] == off["params"]
    measured = ("loss", "accuracy", "val_loss", "val_accuracy")
    assert [[e[k] for k in measured] for e in on["history"]] == [[e[k] for k in measured] for e in off["history"]]
    # the recorded recipe is the same: the switch is not part of what a result depends on
    assert on["training"] == off["training"] and "tensorboard" not in on["training"]


def test_the_writing_runs_at_epoch_ends_only_outside_t():
    # t spans an epoch's first to last training batch: a batch hook would run inside it
    base = keras.callbacks.Callback
    for hook in ("on_train_batch_begin", "on_train_batch_end", "on_epoch_begin", "on_test_batch_end"):
        assert getattr(EpochSummaries, hook) is getattr(base, hook), f"{hook} would run inside or near t"
    assert EpochSummaries.on_epoch_end is not base.on_epoch_end


def network(config, data):
    keras.utils.set_random_seed(config["seed"])
    return build_model(CELL, data.input_shape, data.num_classes, NetworkSpec(**config["network"]))


def test_a_resumed_training_adds_its_epochs_and_a_fresh_one_replaces_them(tiny_data, tmp_path):
    data, board = load_prepared(tiny_data), tmp_path / "tensorboard"

    def train(epochs, checkpoint):
        config = tiny_config(training={"epochs": epochs})
        recipe = Recipe.from_config(config["training"])
        train_model(network(config, data), data, recipe, config["seed"], None, checkpoint, "k", tensorboard=board)

    train(2, tmp_path / "ckpt")
    train(4, tmp_path / "ckpt")  # resumes after epoch 2 (test_checkpoints): adds epochs 3 and 4
    steps = [step for step, _ in read_scalars(board / "train")["epoch_loss"]]
    assert steps == [1, 2, 3, 4] and len(event_files(board / "train")) == 2
    train(1, None)  # from the first epoch: the earlier training's events go
    assert [step for step, _ in read_scalars(board / "validation")["epoch_accuracy"]] == [1]


def test_a_folder_that_cannot_be_written_is_a_warning_not_a_failed_training(tiny_data, tmp_path):
    (tmp_path / "cell").mkdir()
    (tmp_path / "cell" / "tensorboard").write_text("a file where the folder would be\n")
    config = tiny_config(training={"tensorboard": True})
    result = entry.train_cell(config, CELL, tiny_data, tmp_path / "cell")
    assert result["status"] == "ok", result["reason"]
    assert "TensorBoard events in" in (tmp_path / "cell" / "train.log").read_text()


def test_the_final_training_writes_its_events_beside_its_model(tiny_data, tmp_path):
    from popnas_steps.final import train_final

    config = tiny_config(training={"tensorboard": True}, final={"epochs": 2, "first_period": 1})
    metrics = train_final(config, CELL, tiny_data, tmp_path / "final")
    assert metrics["epochs"] == 2 and (tmp_path / "final" / "model.keras").is_file()
    assert [step for step, _ in read_scalars(tmp_path / "final" / "tensorboard" / "train")["epoch_loss"]] == [1, 2]


# --- the switch passes apart from the settings that decide reruns ---------------------------


def test_watch_keys_are_out_of_the_recorded_slice_and_back_through_watch():
    on, off = tiny_config(training={"tensorboard": True}), tiny_config()
    assert without_watch_keys(on) == without_watch_keys(off)  # what a rule's params record
    assert watch_settings(on) == {"training": {"tensorboard": True}}
    settings = json.dumps({"training": without_watch_keys(on)["training"]})
    args = type("Args", (), {"settings": settings, "watch": json.dumps(watch_settings(on))})
    config = config_from_args(args)
    assert config["training"]["tensorboard"] is True and config["training"]["epochs"] == 2
    args.watch = None
    assert config_from_args(args)["training"]["tensorboard"] is False


@pytest.mark.parametrize("watch", ['{"training": {"epochs": 3}}', '{"seed": 1}', '{"training": true}', "[]", "{bad"])
def test_watch_takes_nothing_that_could_change_a_result(watch):
    # a recipe key passed here would change results behind Snakemake's params trigger
    args = type("Args", (), {"settings": "{}", "watch": watch})
    with pytest.raises(ConfigError, match="--watch"):
        config_from_args(args)


def test_the_environment_carries_the_watch_keys_to_the_training_commands(monkeypatch):
    # rules/common.smk sets it in every Snakemake process, so the rules' commands stay as they
    # were (a changed shell command reruns every cached cell through Snakemake's code trigger)
    from popnas_steps.slices import WATCH_ENVIRONMENT

    settings = json.dumps({"training": {"epochs": 2}})
    monkeypatch.setenv(WATCH_ENVIRONMENT, json.dumps({"training": {"tensorboard": True}}))
    assert config_from_args(type("Args", (), {"settings": settings, "watch": None}))["training"]["tensorboard"] is True
    # a command without --watch (every other step) ignores it
    assert config_from_args(type("Args", (), {"settings": settings}))["training"]["tensorboard"] is False
    monkeypatch.setenv(WATCH_ENVIRONMENT, json.dumps({"training": {"epochs": 9}}))
    with pytest.raises(ConfigError, match="POPNAS_WATCH"):
        config_from_args(type("Args", (), {"settings": settings, "watch": None}))


# --- the search's own file -------------------------------------------------------------------


def synthetic_trained() -> pd.DataFrame:
    """Three steps: the thrust, three b=1 cells (one failed), two b=2 cells with predictions
    (accuracy only, as in PNAS, for the second step's time)."""
    rows = [
        (0, "ok", 0.50, 2.0, np.nan, np.nan),
        (1, "ok", 0.60, 3.0, np.nan, np.nan),
        (1, "failed", np.nan, np.nan, np.nan, np.nan),
        (1, "ok", 0.55, 4.4, np.nan, np.nan),
        (2, "ok", 0.80, 6.0, 0.70, np.nan),
        (2, "ok", 0.70, 5.0, 0.75, np.nan),
        (2, "ok", 0.65, 4.0, 0.60, np.nan),
    ]
    table = pd.DataFrame(rows, columns=["b", "status", "accuracy", "time", "predicted_accuracy", "predicted_time"])
    table.insert(0, "cell_id", [f"{i:012x}" for i in range(len(rows))])
    table.insert(1, "cell", "[]")
    table.insert(3, "origin", "b1")
    table["params"] = 10
    table["reason"] = None
    return table


def test_the_search_scalars_follow_the_trained_tables():
    from popnas_steps.predictors import predictor_quality

    trained = synthetic_trained()
    scalars = defaultdict(list)
    for tag, step, value in search_scalars(trained, predictor_quality(trained)):
        scalars[tag].append((step, value))
    best = [0.5, 0.6, 0.6, 0.6, 0.8, 0.8, 0.8]
    assert scalars["search/best_accuracy"] == list(zip(range(1, 8), best, strict=True))
    assert [step for step, _ in scalars["search/best_accuracy_by_training_seconds"]] == [2, 5, 5, 9, 15, 20, 24]
    assert scalars["search/cumulative_training_seconds"][-1] == (7, pytest.approx(24.4))
    assert scalars["steps/networks"] == [(0, 1.0), (1, 3.0), (2, 3.0)]
    assert scalars["steps/failed"] == [(0, 0.0), (1, 1.0), (2, 0.0)]
    assert scalars["predictors/accuracy_spearman"] == [(2, pytest.approx(0.5))]
    assert math.isnan(scalars["predictors/time_mape"][0][1])  # no time predictions: nothing measured


def test_the_search_file_reads_back_and_a_rewrite_replaces_it(tmp_path):
    from popnas_steps.cli import report

    table = tmp_path / "trained.csv"
    synthetic_trained().to_csv(table, index=False)
    out = tmp_path / "report" / "tensorboard"
    for _ in range(2):
        assert report.main(["tensorboard", "--out", str(out), str(table)]) == 0
    assert len(event_files(out)) == 1  # the second report replaced the first one's file
    scalars = read_scalars(out)
    assert [value for _, value in scalars["search/best_accuracy"]] == pytest.approx([0.5, 0.6, 0.6, 0.6, 0.8, 0.8, 0.8])
    assert scalars["steps/networks"] == [(0, 1.0), (1, 3.0), (2, 3.0)]
    assert {tag for tag in scalars if tag.startswith("predictors/")} == {
        "predictors/accuracy_mape",
        "predictors/accuracy_spearman",
    }  # NaN (no time predictor) is left out
