import json
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from popnas_steps import final
from popnas_steps.space import Cell

from .conftest import tiny_config


def test_select_final_takes_the_best_successful_cells():
    trained = pd.DataFrame({
        "cell_id": ["a", "b", "c", "d"], "cell": ["[]"] * 4, "b": [1, 2, 2, 3], "origin": ["b1"] * 4,
        "status": ["ok", "ok", "failed", "ok"], "accuracy": [0.5, 0.9, np.nan, 0.9], "time": [1.0, 3.0, np.nan, 2.0],
    })  # fmt: skip
    assert final.select_final(trained, 2)["cell_id"].tolist() == ["d", "b"]


def test_test_metrics():
    probabilities = np.eye(7)[[0, 1, 2, 3, 4, 5, 6, 0]] * 0.9 + 0.01
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 1])
    metrics = final.test_metrics(probabilities, labels)
    assert metrics["test_accuracy"] == pytest.approx(7 / 8)
    assert metrics["confusion_matrix"][1] == [1, 1, 0, 0, 0, 0, 0]
    assert 0 < metrics["test_macro_f1"] < 1 and "test_top5_accuracy" in metrics
    assert "test_top5_accuracy" not in final.test_metrics(probabilities[:, :3], labels % 3)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, request):
    from popnas_steps.datasets import prepare

    folder = tmp_path_factory.mktemp("final")
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 30)
    x = (rng.integers(0, 60, size=(90, 8, 8, 3)) + 80 * y[:, None, None, None]).astype(np.uint8)
    np.savez(folder / "tiny.npz", x=x, y=y)
    config = tiny_config(dataset={"source": "npz", "path": str(folder / "tiny.npz")}, final={"epochs": 3})
    prepare(config["dataset"], config["seed"], folder / "data")
    cell = Cell.from_json('[[-1, "3x3 conv", -2, "2x2 maxpool"], [0, "identity", -1, "3x3 dconv"]]')
    metrics = final.train_final(config, cell, folder / "data", folder / "out")
    return folder, metrics


def test_final_training_writes_metrics_and_models_and_no_drawing(exported):
    folder, metrics = exported
    out = folder / "out"
    assert metrics["epochs"] == 3 and metrics["resumed_from_epoch"] == 0 and 0 <= metrics["test_accuracy"] <= 1
    assert metrics["placement"]["host"]
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] == metrics["test_accuracy"]
    assert Cell.from_json((out / "cell.json").read_text()).cell_id == metrics["cell_id"]
    assert len(json.loads((out / "history.json").read_text())) == 3
    assert (out / "saved_model" / "saved_model.pb").is_file()
    # a finished training leaves no checkpoint, no partial file, and nothing optional (drawings are report rules)
    assert sorted(p.name for p in out.iterdir()) == ["cell.json", "history.json", "metrics.json", "model.keras",
                                                     "saved_model"]  # fmt: skip


def final_command(settings: dict, data, out) -> list[str]:
    cell = '[[-1, "3x3 conv", -2, "2x2 maxpool"], [0, "identity", -1, "3x3 dconv"]]'
    return [sys.executable, "-m", "popnas_steps.cli.final", "train", "--settings", json.dumps(settings),
            "--data", str(data), "--cell", cell, "--out", str(out)]  # fmt: skip


@pytest.mark.slow
def test_a_killed_final_training_resumes_from_its_last_epoch(tiny_data, tmp_path):
    from popnas_steps.checkpoints import latest_epoch

    epochs = 60
    settings = tiny_config(final={"epochs": epochs, "first_period": 2})
    out = tmp_path / "final"
    command = final_command(settings, tiny_data, out)
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while latest_epoch(out / "checkpoint") < 5 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # as the kernel, a node failure or scancel would
    first.wait()
    kept = latest_epoch(out / "checkpoint")
    assert 5 <= kept < epochs, f"the kill came too late to test a resume ({kept} epochs kept)"
    assert not (out / "metrics.json").exists()  # only a finished training writes its metrics

    second = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"resuming from epoch {kept + 1} of {epochs}" in second.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    history = json.loads((out / "history.json").read_text())
    assert metrics["epochs"] == epochs and metrics["resumed_from_epoch"] == kept
    assert [e["epoch"] for e in history] == list(range(1, epochs + 1))  # every epoch once, in order
    assert 0 <= metrics["test_accuracy"] <= 1 and not (out / "checkpoint").exists()
    print(json.dumps({"epochs": epochs, "resumed_from_epoch": kept + 1, "trained_before_kill": kept,
                      "trained_after_resume": epochs - kept}))  # fmt: skip


@pytest.mark.slow
def test_a_checkpoint_of_another_recipe_is_never_resumed(tiny_data, tmp_path):
    out = tmp_path / "final"
    short = tiny_config(final={"epochs": 2, "first_period": 1})
    subprocess.run(final_command(short, tiny_data, out), check=True, capture_output=True, timeout=300)
    # a checkpoint left by that cell with another recipe (another seed) in the folder
    from popnas_steps.checkpoints import STATE

    (out / "checkpoint" / "epoch-1").mkdir(parents=True)
    (out / "checkpoint" / "epoch-1" / STATE).write_text(json.dumps({"fingerprint": "0123", "history": []}))
    (out / "metrics.json").unlink()
    run = subprocess.run(final_command(short, tiny_data, out), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "not resuming: checkpoint of another cell, data or recipe" in run.stdout
    assert json.loads((out / "metrics.json").read_text())["resumed_from_epoch"] == 0


def test_exported_models_reload_in_a_fresh_process(exported):
    folder, metrics = exported
    script = f"""
import json, numpy as np, keras, tensorflow as tf
from popnas_steps.datasets import load_prepared
data = load_prepared({str(folder / "data")!r})
model = keras.saving.load_model({str(folder / "out" / "model.keras")!r})
keras_accuracy = float(np.mean(model.predict(data.test.x, verbose=0).argmax(1) == data.test.y))
served = tf.saved_model.load({str(folder / "out" / "saved_model")!r})
probabilities = served.serve(tf.constant(data.test.x)).numpy()
print(json.dumps({{"keras": keras_accuracy, "served": float(np.mean(probabilities.argmax(1) == data.test.y)),
                  "rows": probabilities.shape[0]}}))
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    reloaded = json.loads(run.stdout.strip().splitlines()[-1])
    assert reloaded["keras"] == pytest.approx(metrics["test_accuracy"])
    assert reloaded["served"] == pytest.approx(metrics["test_accuracy"])
    assert reloaded["rows"] == metrics["test_samples"]


def test_bad_settings_or_cell_are_an_error_before_any_training(tmp_path, capsys):
    from popnas_steps.cli import final as cli_final

    args = ["--data", str(tmp_path), "--out", str(tmp_path / "out")]
    bad_settings = json.dumps({"final": {"epochs": 0}})
    assert cli_final.main(["train", "--settings", bad_settings, "--cell", "[]", *args]) == 2
    assert "final.epochs" in capsys.readouterr().err
    assert cli_final.main(["train", "--settings", "{}", "--cell", '[[5, "3x3 conv", -1, "identity"]]', *args]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_final_training_augmented_on_the_device_saves_the_network_alone(tiny_data, tmp_path):
    import keras

    from popnas_steps.datasets import load_prepared

    config = tiny_config(training={"augment_on_device": True}, final={"epochs": 2, "first_period": 1})
    cell = Cell.from_json('[[-1, "3x3 conv", -2, "2x2 maxpool"]]')
    metrics = final.train_final(config, cell, tiny_data, tmp_path / "out")
    model = keras.saving.load_model(tmp_path / "out" / "model.keras")
    # the augmentation layers trained it but are no part of it: nothing random at inference
    assert not any("augment" in layer.name or "random" in layer.name for layer in model._flatten_layers())
    test = load_prepared(tiny_data).test
    predicted = model.predict(test.x, verbose=0)
    assert np.array_equal(predicted, model.predict(test.x, verbose=0))
    assert float(np.mean(predicted.argmax(1) == test.y)) == pytest.approx(metrics["test_accuracy"])


def test_the_checkpoint_fingerprint_of_a_recipe_is_unchanged_by_a_later_key_at_its_default():
    # A final training stopped before training.augment_on_device existed resumes after the
    # upgrade: the fingerprint's recipe has only the keys it had then.
    from popnas_steps.train import Recipe

    before = {"epochs", "batch_size", "learning_rate", "weight_decay", "first_period", "t_mul", "m_mul", "alpha",
              "horizontal_flip", "translation", "jit_compile", "deterministic"}  # fmt: skip
    assert set(Recipe().recorded()) == before
    assert Recipe(augment_on_device=True).recorded()["augment_on_device"] is True
