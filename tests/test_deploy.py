"""popnas_steps.deploy and cli/deploy: ONNX and LiteRT exports checked against Keras, and timed."""

import json

import numpy as np
import pytest

from popnas_steps import children, deploy, timing
from popnas_steps.space import Cell

from .conftest import tiny_config

CELL = Cell.from_json('[[-2, "3x3 conv", -1, "3x3 dconv"], [0, "2x2 maxpool", -1, "identity"]]')
FORMATS = ["onnx", "litert", "litert_int8"]
SETTINGS = {
    "formats": FORMATS,
    "threads": 1,
    "warmup": 2,
    "runs": 5,
    "rounds": 1,
    "pause": 0.0,
    "calibration_images": 20,
}


def saved_model(tiny_data, folder):
    """The network of CELL for the tiny data, with its initial weights, saved as a final training saves it."""
    import keras

    from popnas_steps.datasets import load_prepared
    from popnas_steps.macro import NetworkSpec
    from popnas_steps.model import build_model

    data = load_prepared(tiny_data)
    keras.utils.set_random_seed(0)
    model = build_model(CELL, data.input_shape, data.num_classes, NetworkSpec(**tiny_config()["network"]))
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    return folder / "model.keras", data


def test_agreement_counts_the_images_whose_top1_differs():
    reference = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]])
    exported = np.array([[0.8, 0.2], [0.6, 0.4], [0.7, 0.3]])
    result = deploy.agreement(reference, exported, np.array([0, 1, 1]))
    assert result["images_disagreeing"] == 1 and result["top1_agreement"] == pytest.approx(2 / 3)
    assert result["max_probability_difference"] == pytest.approx(0.2)
    assert result["test_accuracy"] == pytest.approx(1 / 3)


def test_latency_is_timed_at_batch_1_after_the_warmup():
    calls = []
    settings = {"warmup": 3, "runs": 8, "rounds": 2, "pause": 0.0}
    timed = timing.latency_ms(lambda batch: calls.append(batch.shape), np.zeros((4, 4, 1)), settings)
    assert calls == [(1, 4, 4, 1)] * 11  # batch 1, warm-up included
    assert timed["runs"] == 8 and timed["rounds"] == 2 and timed["warmup"] == 3
    assert 0 <= timed["p10"] <= timed["median"] <= timed["p90"] and timed["ms"] <= timed["median"] + 1e-9


def test_latency_is_the_least_round_median_so_a_slow_spell_of_the_machine_is_left_out():
    clock = {"now": 0.0, "calls": 0}
    costs = {"a": 1e-3, "b": 2e-3}

    def network(name):
        def predict(batch):
            clock["calls"] += 1
            slow = 10 if 12 <= clock["calls"] < 20 else 1  # a spell of the machine, mid-measurement
            clock["now"] += costs[name] * slow

        return predict

    real = timing.time.perf_counter
    timing.time.perf_counter = lambda: clock["now"]
    try:
        a, b = timing.time_networks([network("a"), network("b")], np.zeros((2, 2, 1)), warmup=1, runs=12, rounds=3)
    finally:
        timing.time.perf_counter = real
    # rounds visit the networks in turn: the spell slows one round of each, which the least median leaves out
    assert a["ms"] == pytest.approx(1.0) and b["ms"] == pytest.approx(2.0)
    assert a["median"] == pytest.approx(1.0) and a["p90"] > 5.0


def test_every_format_names_what_it_needs():
    assert set(deploy.DEPLOY_FORMATS) == {"onnx", "litert", "litert_int8"}
    for name, kind in deploy.DEPLOY_FORMATS.items():
        assert kind.file.startswith("model") and kind.modules, name


@pytest.mark.slow  # exports and converts one network three times (~30 s)
def test_exports_predict_what_keras_predicts_on_every_test_image(tiny_data, tmp_path):
    pytest.importorskip("onnxruntime", reason="the deploy extra is not installed: pip install 'popnas[deploy]'")
    pytest.importorskip("ai_edge_litert", reason="the deploy extra is not installed: pip install 'popnas[deploy]'")
    import keras

    model_file, data = saved_model(tiny_data, tmp_path / "final")
    model = keras.saving.load_model(model_file, compile=False)
    results = deploy.export_and_check(model, data.test.x, data.test.y, data.train.x[:20], tmp_path / "final", SETTINGS)
    for name in ("onnx", "litert"):
        assert results[name]["status"] == "ok", results[name]
        assert results[name]["top1_agreement"] == 1.0 and results[name]["images_disagreeing"] == 0
        assert results[name]["max_probability_difference"] < 1e-4
        assert results[name]["latency_ms"]["median"] > 0 and results[name]["threads"] == 1
        assert (tmp_path / "final" / results[name]["file"]).is_file()
    int8 = results["litert_int8"]
    assert int8["status"] == "ok" and 0 <= int8["test_accuracy"] <= 1 and int8["bytes"] > 0  # tiny: no smaller
    assert not list((tmp_path / "final").glob("partial-*"))


def test_a_missing_runtime_is_recorded_with_how_to_install_it_and_exits_0(tiny_data, tmp_path, monkeypatch, capsys):
    from popnas_steps.cli import deploy as cli

    model_file, _ = saved_model(tiny_data, tmp_path / "final")
    real = deploy.importlib.util.find_spec
    hidden = {"onnx", "onnxruntime", "tf2onnx", "ai_edge_litert"}  # the deploy extra, installed here or not
    monkeypatch.setattr(deploy.importlib.util, "find_spec", lambda name: None if name in hidden else real(name))
    settings = json.dumps({"seed": 7, "deploy": {"formats": ["onnx", "litert"]}})
    out = tmp_path / "final" / "export.json"
    code = cli.main(["export", "--settings", settings, "--data", str(tiny_data), "--model", str(model_file),
                     "--out", str(out)])  # fmt: skip
    assert code == 0
    formats = json.loads(out.read_text())["formats"]
    assert formats["onnx"] == {
        "status": "unavailable",
        "reason": "needs onnx, onnxruntime, tf2onnx: pip install 'popnas[deploy]'",
    }
    assert formats["litert"]["status"] == "unavailable"
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("popnas: no onnx export of final: needs onnx, onnxruntime, tf2onnx")


def test_with_every_format_unavailable_nothing_is_loaded(tmp_path, monkeypatch):
    from popnas_steps.cli import deploy as cli

    monkeypatch.setattr(deploy.importlib.util, "find_spec", lambda name: None)
    (tmp_path / "model.keras").write_text("never read")
    settings = json.dumps({"deploy": {"formats": ["litert"]}})
    missing_data = tmp_path / "no-data"  # loading it would fail: it is not read
    code = cli.main(["export", "--settings", settings, "--data", str(missing_data), "--model",
                     str(tmp_path / "model.keras"), "--out", str(tmp_path / "export.json")])  # fmt: skip
    assert code == 0
    assert json.loads((tmp_path / "export.json").read_text())["formats"]["litert"]["status"] == "unavailable"


def test_a_format_its_converter_cannot_take_is_a_recorded_failure_not_a_crash(tiny_data, tmp_path, monkeypatch):
    import keras

    def refuse(model, path, calibration):
        path.write_bytes(b"half")
        raise ValueError("op Foo is not supported")

    broken = deploy.DeployFormat("model.onnx", ("numpy",), "numpy", refuse, deploy.onnx_runner)
    monkeypatch.setitem(deploy.DEPLOY_FORMATS, "onnx", broken)
    model_file, data = saved_model(tiny_data, tmp_path / "final")
    model = keras.saving.load_model(model_file, compile=False)
    settings = {**SETTINGS, "formats": ["onnx"]}
    results = deploy.export_and_check(model, data.test.x, data.test.y, data.train.x[:5], tmp_path / "final", settings)
    assert results["onnx"] == {"status": "failed", "reason": "ValueError: op Foo is not supported"}
    assert not (tmp_path / "final" / "model.onnx").exists() and not (tmp_path / "final" / "partial-model.onnx").exists()


def test_a_missing_model_is_an_error_naming_it(tmp_path, capsys):
    from popnas_steps.cli import deploy as cli

    code = cli.main(["export", "--settings", "{}", "--data", str(tmp_path), "--model", str(tmp_path / "none.keras"),
                     "--out", str(tmp_path / "export.json")])  # fmt: skip
    assert code == 2 and "none.keras" in capsys.readouterr().err


@pytest.mark.parametrize("formats", [[], ["litert"]])
def test_an_export_leaves_no_file_of_a_format_it_did_not_make(tmp_path, monkeypatch, formats):
    from popnas_steps.cli import deploy as cli

    monkeypatch.setattr(deploy.importlib.util, "find_spec", lambda name: None)  # litert: unavailable
    (tmp_path / "model.keras").write_text("never read")
    earlier = ["model.onnx", "model.tflite", "model_int8.tflite", "partial-model.onnx"]  # an earlier export's
    for name in earlier:
        (tmp_path / name).write_bytes(b"an earlier model")
    settings = json.dumps({"deploy": {"formats": formats}})
    code = cli.main(["export", "--settings", settings, "--data", str(tmp_path / "no-data"), "--model",
                     str(tmp_path / "model.keras"), "--out", str(tmp_path / "export.json")])  # fmt: skip
    assert code == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == [".export.json.lock", "export.json", "model.keras"]
    assert json.loads((tmp_path / "export.json").read_text())["formats"].keys() == set(formats)


def _send_then_abort(send, value):
    import os

    send(value)
    os.abort()


def _raise(send, message):
    raise OSError(message)


def test_a_child_process_that_dies_is_reported_with_what_it_sent_and_its_signal():
    sent, death = children.run_in_child(_send_then_abort, {"a": 1})
    assert sent == [{"a": 1}] and death == "signal 6 (SIGABRT)"
    assert children.run_in_child(_double, 2) == ([4], None)


def _double(send, value):
    send(2 * value)


def test_an_exception_in_a_child_process_is_raised_with_its_traceback():
    with pytest.raises(children.ChildError, match="OSError: no space left"):
        children.run_in_child(_raise, "no space left")


def test_a_runtime_that_aborts_natively_is_that_formats_failure_and_the_others_are_made(tiny_data, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("ai_edge_litert", reason="the deploy extra is not installed: pip install 'popnas[deploy]'")
    root = Path(__file__).resolve().parent.parent
    fake = tmp_path / "fake" / "onnxruntime"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("import os\nos.abort()  # as a C++ assertion in the runtime would\n")
    model_file, _ = saved_model(tiny_data, tmp_path / "final")
    settings = json.dumps({"seed": 7, "deploy": {**SETTINGS, "formats": ["onnx", "litert"]}})
    out = tmp_path / "final" / "export.json"
    job = subprocess.run(
        [sys.executable, "-m", "popnas_steps.cli.deploy", "export", "--settings", settings, "--data", str(tiny_data),
         "--model", str(model_file), "--out", str(out)],
        capture_output=True, text=True, cwd=root, timeout=600,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), str(root)])},
    )  # fmt: skip
    assert job.returncode == 0, job.stderr[-3000:]
    formats = json.loads(out.read_text())["formats"]
    assert formats["onnx"] == {
        "status": "failed",
        "reason": "the export process died (signal 6 (SIGABRT)) while making it: a crash in its converter or runtime",
    }
    assert formats["litert"]["status"] == "ok" and (tmp_path / "final" / "model.tflite").is_file()
    assert not (tmp_path / "final" / "model.onnx").exists() and not list((tmp_path / "final").glob("partial-*"))
    assert f"popnas: no onnx export of final: {formats['onnx']['reason']}" in job.stderr.splitlines()
