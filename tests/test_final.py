import json
import subprocess
import sys

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


def test_final_training_writes_metrics_models_and_drawing(exported):
    folder, metrics = exported
    out = folder / "out"
    assert metrics["epochs"] == 3 and 0 <= metrics["test_accuracy"] <= 1
    assert metrics["placement"]["host"]
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] == metrics["test_accuracy"]
    assert Cell.from_json((out / "cell.json").read_text()).cell_id == metrics["cell_id"]
    assert (out / "cell.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "saved_model" / "saved_model.pb").is_file()


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
