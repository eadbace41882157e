import json

import keras
import numpy as np
import pytest

from popnas_steps import checkpoints
from popnas_steps.datasets import load_prepared
from popnas_steps.macro import NetworkSpec
from popnas_steps.model import build_model
from popnas_steps.space import Cell
from popnas_steps.train import Recipe, make_optimizer, train_model

from .conftest import tiny_config

CELL = Cell.from_json('[[-1, "3x3 conv", -2, "2x2 maxpool"]]')


def network(config, data):
    keras.utils.set_random_seed(config["seed"])
    return build_model(CELL, data.input_shape, data.num_classes, NetworkSpec(**config["network"]))


def trained_with_checkpoint(config, data, folder, key="k1"):
    model = network(config, data)
    measured = train_model(model, data, Recipe.from_config(config["training"]), config["seed"], None, folder, key)
    return model, measured


def test_fingerprint_depends_on_every_part_and_not_on_order():
    assert checkpoints.fingerprint(a=1, b={"x": 2, "y": 3}) == checkpoints.fingerprint(b={"y": 3, "x": 2}, a=1)
    assert checkpoints.fingerprint(a=1, b=2) != checkpoints.fingerprint(a=1, b=3)


def test_each_epoch_leaves_one_checkpoint_that_restores_weights_and_optimizer(tiny_data, tmp_path):
    config, data = tiny_config(training={"epochs": 3}), load_prepared(tiny_data)
    model, measured = trained_with_checkpoint(config, data, tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["epoch-3"]  # older ones removed
    assert checkpoints.latest_epoch(tmp_path / "ckpt") == 3
    state = json.loads((tmp_path / "ckpt" / "epoch-3" / checkpoints.STATE).read_text())
    assert state["history"] == measured["history"] and state["fingerprint"] == "k1"

    fresh = network(config, data)
    fresh.compile(
        optimizer=make_optimizer(Recipe.from_config(config["training"]), measured["steps_per_epoch"]), loss="mse"
    )
    restored = checkpoints.restore(fresh, tmp_path / "ckpt", "k1")
    assert restored.epochs == 3 and restored.history == measured["history"] and restored.discarded is None
    for mine, theirs in zip(fresh.weights, model.weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    # the optimizer's step counter (the schedule's position) and its moments came back too
    assert int(fresh.optimizer.iterations.numpy()) == 3 * measured["steps_per_epoch"]
    for mine, theirs in zip(fresh.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))


def test_a_checkpoint_of_another_training_is_deleted_not_loaded(tiny_data, tmp_path):
    config, data = tiny_config(training={"epochs": 2}), load_prepared(tiny_data)
    trained_with_checkpoint(config, data, tmp_path / "ckpt", key="cell-a")
    model = network(config, data)
    model.compile(optimizer="adam", loss="mse")
    before = [w.numpy().copy() for w in model.weights]
    restored = checkpoints.restore(model, tmp_path / "ckpt", "cell-b")
    assert restored.epochs == 0 and "another cell, data or recipe" in restored.discarded
    assert not (tmp_path / "ckpt").exists()
    for weight, value in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(weight.numpy(), value)


def test_a_half_written_checkpoint_is_ignored(tiny_data, tmp_path):
    config, data = tiny_config(training={"epochs": 2}), load_prepared(tiny_data)
    trained_with_checkpoint(config, data, tmp_path / "ckpt")
    (tmp_path / "ckpt" / "epoch-3.partial").mkdir()  # killed while writing epoch 3
    (tmp_path / "ckpt" / "epoch-3.partial" / checkpoints.STATE).write_text('{"trunc')
    assert checkpoints.latest_epoch(tmp_path / "ckpt") == 2


@pytest.mark.parametrize("on_device", [False, True])  # with the augmentation layers, the model fitted wraps the network
def test_a_resumed_training_trains_only_the_epochs_left(tiny_data, tmp_path, caplog, on_device):
    config, data = tiny_config(training={"epochs": 2, "augment_on_device": on_device}), load_prepared(tiny_data)
    _, first = trained_with_checkpoint(config, data, tmp_path / "ckpt")
    # the same training asked for 4 epochs: as if the first run had been stopped after 2 of 4
    longer = tiny_config(training={"epochs": 4, "augment_on_device": on_device})
    with caplog.at_level("INFO", logger="popnas.train"):
        _, resumed = trained_with_checkpoint(longer, data, tmp_path / "ckpt")
    assert "resuming from epoch 3 of 4" in caplog.text
    assert resumed["resumed_from_epoch"] == 2
    assert [e["epoch"] for e in resumed["history"]] == [1, 2, 3, 4]
    assert resumed["history"][:2] == first["history"]
    assert resumed["time"] == pytest.approx(sum(e["train_seconds"] for e in resumed["history"]))


def test_a_checkpoint_of_every_epoch_needs_no_more_training(tiny_data, tmp_path):
    config, data = tiny_config(training={"epochs": 2}), load_prepared(tiny_data)
    _, first = trained_with_checkpoint(config, data, tmp_path / "ckpt")
    _, again = trained_with_checkpoint(config, data, tmp_path / "ckpt")
    assert again["resumed_from_epoch"] == 2 and again["history"] == first["history"]
    assert again["accuracy"] == first["accuracy"] and again["timings"]["trace_seconds"] == 0
