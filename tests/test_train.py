import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from popnas_steps import train_cell as entry
from popnas_steps.cli import train_cell as cli_train_cell
from popnas_steps.space import Cell

from .conftest import tiny_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "cell_json",
    [
        "[]",
        '[[-2, "3x3 conv", -2, "identity"]]',
        (
            '[[-1, "3x3 dconv", -2, "identity"], [0, "1x3-3x1 conv", -1, "2x2 maxpool"], '
            '[1, "identity", 0, "2x2 avgpool"]]'
        ),
    ],
)
def test_cells_train_and_report_their_measurements(tiny_data, tmp_path, cell_json):
    config = tiny_config()
    result = entry.train_cell(config, Cell.from_json(cell_json), tiny_data, tmp_path / "cell")
    assert result["status"] == "ok", result["reason"]
    assert 0 <= result["accuracy"] <= 1 and result["time"] > 0 and result["params"] > 0
    assert set(result["placement"]) == {"host", "cuda_visible_devices", "slurm_job_id"}
    assert len(result["history"]) == 2 and result["best_epoch"] in (1, 2)
    assert result["time"] == pytest.approx(sum(e["train_seconds"] for e in result["history"]))
    timings = result["timings"]
    assert {"import_seconds", "build_seconds", "trace_seconds", "fit_seconds", "process_seconds"} <= set(timings)
    assert timings["fit_seconds"] > result["time"]  # validation and tracing are outside t
    written = json.loads((tmp_path / "cell" / "result.json").read_text())
    assert written["cell_id"] == Cell.from_json(cell_json).cell_id
    assert (tmp_path / "cell" / "history.csv").read_text().count("\n") == 3


def test_nan_loss_is_a_failed_result(tiny_data, tmp_path):
    with np.load(tiny_data / "train.npz") as arrays:
        x, y = arrays["x"].astype(np.float32), arrays["y"]
    x[:] = np.nan
    np.savez(tiny_data / "train.npz", x=x, y=y)
    result = entry.train_cell(
        tiny_config(), Cell.from_json('[[-1, "3x3 conv", -1, "identity"]]'), tiny_data, tmp_path / "cell"
    )
    assert result["status"] == "failed"
    assert "NaN" in result["reason"]
    assert "accuracy" not in result


def test_out_of_memory_is_a_failed_result(tiny_data, tmp_path, monkeypatch):
    import popnas_steps.model

    def no_memory(*args, **kwargs):
        raise MemoryError("cannot allocate")

    monkeypatch.setattr(popnas_steps.model, "build_model", no_memory)
    result = entry.train_cell(tiny_config(), Cell.from_json("[]"), tiny_data, tmp_path / "cell")
    assert (result["status"], result["reason"]) == ("failed", "out of memory: cannot allocate")
    assert "out of memory" in (tmp_path / "cell" / "train.log").read_text()


def test_same_seed_same_result(tiny_data, tmp_path):
    config, cell = tiny_config(), Cell.from_json('[[-1, "3x3 conv", -2, "2x2 maxpool"]]')
    first = entry.train_cell(config, cell, tiny_data, tmp_path / "a")
    second = entry.train_cell(config, cell, tiny_data, tmp_path / "b")
    assert [e["loss"] for e in first["history"]] == pytest.approx([e["loss"] for e in second["history"]], rel=1e-4)


def test_bad_input_is_rejected_before_training(tmp_path, capsys, tiny_data):
    config = tmp_path / "c.yaml"
    config.write_text("training:\n  epochs: 1\n")
    args = ["--config", str(config), "--data", str(tiny_data), "--out", str(tmp_path / "o")]
    assert cli_train_cell.main([*args[:4], "--cell", '[[0, "3x3 conv", -1, "identity"]]', *args[4:]]) == 2
    assert "out of range" in capsys.readouterr().err
    config.write_text("search:\n  operators: [identity]\n")
    assert cli_train_cell.main([*args[:4], "--cell", '[[-1, "3x3 conv", -1, "identity"]]', *args[4:]]) == 2
    assert "'3x3 conv', not in the operator set" in capsys.readouterr().err
    config.write_text("training:\n  epochs: 1\n")
    assert (
        cli_train_cell.main(
            ["--config", str(config), "--data", str(tmp_path / "none"), "--cell", "[]", "--out", str(tmp_path / "o")]
        )
        == 2
    )
    assert "holds no prepared data" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_real_training_on_digits_reaches_high_accuracy(tmp_path, capsys):
    """End to end on real data: the embedded default recipe, a two-block cell, digits."""
    from popnas_steps.cli.datasets import main as prepare_main

    config = str(ROOT / "config" / "config.yaml")
    assert prepare_main(["prepare", "--config", config, "--out", str(tmp_path / "data")]) == 0
    cell = '[[-1, "3x3 conv", -2, "identity"], [0, "3x3 dconv", -1, "2x2 maxpool"]]'
    assert (
        cli_train_cell.main(
            ["--config", config, "--data", str(tmp_path / "data"), "--cell", cell, "--out", str(tmp_path / "cell")]
        )
        == 0
    )
    result = json.loads((tmp_path / "cell" / "result.json").read_text())
    assert result["status"] == "ok"
    assert result["accuracy"] >= 0.95
    assert math.isfinite(result["time"]) and result["time"] < result["timings"]["process_seconds"]


def test_tabulated_schedule_matches_keras_cosine_decay_restarts():
    import keras

    from popnas_steps.train import Recipe, learning_rate_schedule, make_optimizer

    recipe = Recipe(epochs=21, learning_rate=0.01, first_period=3, t_mul=2, m_mul=0.9, alpha=0.1)
    schedule = learning_rate_schedule(recipe, steps_per_epoch=10)
    reference = keras.optimizers.schedules.CosineDecayRestarts(0.01, 30, t_mul=2.0, m_mul=0.9, alpha=0.1)
    steps = [0, 1, 15, 29, 30, 31, 89, 90, 91, 150, 209]
    ours = [float(schedule(step)) for step in steps]
    assert ours == pytest.approx([float(reference(step)) for step in steps], rel=1e-5)
    # weight decay follows the same multiplier: Keras applies weight_decay * learning_rate
    assert make_optimizer(recipe, 10).weight_decay * ours[0] == pytest.approx(recipe.weight_decay)


def start_supervised_training(tiny_data, out):
    """`python -m popnas_steps.cli.train_cell` (the supervisor) and the pid of its training child."""
    cell = '[[-1, "3x3 conv", -1, "identity"]]'
    settings = json.dumps(tiny_config(training={"epochs": 500}))
    command = [sys.executable, "-m", "popnas_steps.cli.train_cell", "--settings", settings, "--data", str(tiny_data),
               "--cell", cell, "--out", str(out)]  # fmt: skip
    supervisor = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children = Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children")
    deadline = time.monotonic() + 60
    while not children.read_text().split() and time.monotonic() < deadline:
        time.sleep(0.05)
    return supervisor, int(children.read_text().split()[0]), Cell.from_json(cell)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc to find the child process")
def test_a_training_process_killed_by_a_signal_is_recorded_as_failed(tmp_path, tiny_data):
    supervisor, child, cell = start_supervised_training(tiny_data, tmp_path / "c")
    time.sleep(1)
    os.kill(child, signal.SIGKILL)  # as the kernel's out-of-memory killer would
    assert supervisor.wait(timeout=60) == 0  # the job succeeds: the cell failed, not the search
    result = json.loads((tmp_path / "c" / "result.json").read_text())
    assert result["status"] == "failed" and "signal 9" in result["reason"]
    assert result["placement"]["host"] and result["cell_id"] == cell.cell_id
    assert not (tmp_path / "c" / "result.json.partial").exists()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc to find the child process")
def test_a_stopped_job_stops_its_training_and_records_nothing(tmp_path, tiny_data):
    supervisor, child, _ = start_supervised_training(tiny_data, tmp_path / "c")
    supervisor.send_signal(signal.SIGTERM)  # what stopping a job sends
    assert supervisor.wait(timeout=60) == 128 + signal.SIGTERM
    time.sleep(0.5)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
    assert not (tmp_path / "c" / "result.json").exists()  # a rerun trains it again


def test_a_training_that_would_outlive_its_job_is_a_failed_result(tiny_data, tmp_path):
    result = entry.train_cell(
        tiny_config(), Cell.from_json('[[-1, "identity", -2, "identity"]]'), tiny_data, tmp_path, deadline=time.time()
    )
    assert result["status"] == "failed" and "time limit: stopped in epoch 1" in result["reason"]
    assert json.loads((tmp_path / "result.json").read_text())["deadline_unix"] == result["deadline_unix"]


def test_a_failure_is_described_without_importing_tensorflow_again(monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)  # as when its import failed
    assert entry._failure_reason(ImportError("libcudart.so.12: cannot open")) == (
        "ImportError: libcudart.so.12: cannot open"
    )
    assert entry._failure_reason(MemoryError()) == "out of memory: MemoryError"
