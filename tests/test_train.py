import itertools
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


@pytest.mark.parametrize("t_mul", [1, 2, 3])
@pytest.mark.parametrize("first_period", [1, 2, 3, 4])
def test_every_training_ends_at_the_schedules_floor_with_no_period_longer_than_asked(first_period, t_mul):
    from popnas_steps.train import Recipe, learning_rate_schedule, make_optimizer

    steps_per_epoch, alpha = 100, 0.01
    for epochs in range(1, 41):
        recipe = Recipe(epochs=epochs, learning_rate=0.01, first_period=first_period, t_mul=t_mul, alpha=alpha)
        rates = np.asarray(learning_rate_schedule(recipe, steps_per_epoch).values)
        assert len(rates) == epochs * steps_per_epoch
        # the last step is a period's last: one grid step from the floor (0.5 (1 + cos(pi 99/100)) = 2.5e-4)
        assert rates[-1] <= recipe.learning_rate * (alpha + 3e-4), (epochs, rates[-1])
        # periods, where the rate jumps back up, are never longer than first_period x t_mul^k
        starts = [0, *np.flatnonzero(np.diff(rates) > 0) + 1, len(rates)]
        for k, (start, end) in enumerate(itertools.pairwise(starts)):
            assert end - start <= first_period * t_mul**k * steps_per_epoch, (epochs, k, end - start)
        # the weight decay follows the same multiplier, so it too ends at its floor
        optimizer = make_optimizer(recipe, steps_per_epoch)
        assert optimizer.weight_decay * rates[-1] <= recipe.weight_decay * (alpha + 3e-4)


def test_a_schedule_cut_to_end_with_the_training_is_logged_and_an_uncut_one_is_not():
    from popnas_steps.train import Recipe, learning_rate_schedule, schedule_note, schedule_periods

    cut = Recipe(epochs=8, first_period=2)  # 2 + 4 + 8 asked: the last period cut to 2
    assert schedule_periods(cut, 140) == [2, 4, 2]
    assert schedule_note(cut, 140) == (
        "learning-rate schedule: periods of 2 + 4 + 2 epochs; the last is cut from 8 epochs "
        "so that the 8-epoch training ends at the schedule's floor"
    )
    assert learning_rate_schedule(cut, 140).values[-1] < 1e-6  # it was 8.55e-3, 85% of the peak
    assert learning_rate_schedule(Recipe(epochs=2), 140).values[-1] < 1e-6  # it was 2.53e-3
    for paper in (Recipe(epochs=21), Recipe(epochs=254, first_period=2), Recipe(epochs=7, first_period=1)):
        assert schedule_note(paper, 140) is None
    assert schedule_periods(Recipe(epochs=21), 140) == [3, 6, 12]


SUPERVISED_CELL = '[[-1, "3x3 conv", -1, "identity"]]'


def supervised_command(tiny_data, out, epochs: int) -> list[str]:
    """`python -m popnas_steps.cli.train_cell`, the supervisor of a training child."""
    settings = json.dumps(tiny_config(training={"epochs": epochs}))
    return [sys.executable, "-m", "popnas_steps.cli.train_cell", "--settings", settings, "--data", str(tiny_data),
            "--cell", SUPERVISED_CELL, "--out", str(out)]  # fmt: skip


def start_supervised_training(tiny_data, out, epochs=500):
    """`python -m popnas_steps.cli.train_cell` (the supervisor) and the pid of its training child."""
    cell = SUPERVISED_CELL
    command = supervised_command(tiny_data, out, epochs=epochs)
    supervisor = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return supervisor, training_child(supervisor), Cell.from_json(cell)


def training_child(supervisor, other_than=None):
    """The pid of the supervisor's training child (one other than `other_than`: a retry's)."""
    children = Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = [int(pid) for pid in children.read_text().split() if int(pid) != other_than]
        if pids:
            return pids[0]
        time.sleep(0.05)
    raise AssertionError(f"the supervisor started no training process but {other_than}")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc to find the child process")
def test_a_training_process_killed_twice_is_recorded_as_failed(tmp_path, tiny_data):
    supervisor, child, cell = start_supervised_training(tiny_data, tmp_path / "c")
    time.sleep(1)
    os.kill(child, signal.SIGKILL)  # as the kernel's out-of-memory killer would
    retry = training_child(supervisor, other_than=child)  # a kill may be the machine's: once more
    os.kill(retry, signal.SIGKILL)
    assert supervisor.wait(timeout=60) == 0  # the job succeeds: the cell failed, not the search
    assert "the cell is trained again (attempt 2 of 2)" in supervisor.stderr.read()
    result = json.loads((tmp_path / "c" / "result.json").read_text())
    assert result["status"] == "failed" and "killed by signal 9 (SIGKILL)" in result["reason"]
    assert result["attempts"] == 2 and "(2 times)" in result["reason"]
    assert result["placement"]["host"] and result["cell_id"] == cell.cell_id
    assert result["training"]["epochs"] == 500 and result["data_sha256"]  # what it was made of
    assert result["timings"]["process_seconds"] >= 1.0  # the job's wall, up to the kill, counts
    assert not (tmp_path / "c" / "result.json.partial").exists()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc to find the child process")
def test_a_training_process_killed_once_is_trained_again(tmp_path, tiny_data):
    supervisor, child, cell = start_supervised_training(tiny_data, tmp_path / "c", epochs=1)
    os.kill(child, signal.SIGKILL)  # e.g. the thrust's worker, stopped by `worker --stop` or a neighbour's OOM
    assert supervisor.wait(timeout=120) == 0
    result = json.loads((tmp_path / "c" / "result.json").read_text())
    assert result["status"] == "ok" and result["attempts"] == 2 and result["cell_id"] == cell.cell_id


def test_a_crashed_training_costs_its_jobs_wall(tmp_path, monkeypatch):
    from popnas_steps.results import implausible, job_seconds, read_result

    # the supervisor started an hour ago (0.5 s of it interpreter start-up); the training was OOM-killed now
    started = time.time() - 3600.0
    monkeypatch.setenv(entry.JOB_START_ENVIRONMENT, f"{started},0.5")
    cell = Cell.from_json(SUPERVISED_CELL)
    result = entry.record_crash(cell, tmp_path / cell.cell_id, signal.SIGKILL)
    assert result["status"] == "failed" and "killed by signal 9" in result["reason"]
    assert job_seconds(result) == pytest.approx(3600.0, abs=5.0)
    assert result["timings"]["started_unix"] == started and result["timings"]["interpreter_seconds"] == 0.5
    assert result["timings"]["finished_unix"] >= started + 3600.0
    read = read_result(tmp_path / cell.cell_id / "result.json")  # it reads and checks as any result
    assert job_seconds(read) == pytest.approx(job_seconds(result)) and implausible(read) is None


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc to find the child process")
def test_a_stopped_job_stops_its_training_and_records_nothing(tmp_path, tiny_data):
    supervisor, child, _ = start_supervised_training(tiny_data, tmp_path / "c")
    supervisor.send_signal(signal.SIGTERM)  # what stopping a job sends
    assert supervisor.wait(timeout=60) == 128 + signal.SIGTERM
    time.sleep(0.5)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
    assert not (tmp_path / "c" / "result.json").exists()  # a rerun trains it again


def test_a_stop_while_the_training_process_starts_stops_it_once_it_is_known(tmp_path, monkeypatch):
    from popnas_steps.supervisor import _JobStop

    exits, stopped = [], []
    monkeypatch.setattr(os, "_exit", exits.append)
    (tmp_path / "result.json").write_text("{}")
    stop = _JobStop(tmp_path)
    with stop.deferred():
        stop(signal.SIGTERM, None)  # the child exists (forked) but its stopper is not yet added
        assert exits == [] and stopped == []
        stop.stoppers.append(lambda: stopped.append("child"))
    assert stopped == ["child"] and exits == [128 + signal.SIGTERM]
    assert not (tmp_path / "result.json").exists()
    stop(signal.SIGINT, None)  # outside the block: at once
    assert stopped == ["child", "child"] and exits[-1] == 128 + signal.SIGINT


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


@pytest.mark.parametrize(
    "error",
    [
        ImportError("libcudart.so.12: cannot open shared object file"),
        ModuleNotFoundError("No module named 'tensorflow'"),
        PermissionError(13, "Permission denied"),
        OSError(28, "No space left on device"),
        RuntimeError("CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected"),
        RuntimeError("DNN library is not found."),
        RuntimeError("failed call to cuInit: UNKNOWN ERROR (303)"),
    ],
    ids=repr,
)
def test_a_failure_of_the_gpu_stack_or_the_file_system_is_the_machines(error):
    assert entry.environment_failure(error)


def test_a_failure_of_the_network_is_the_cells():
    import tensorflow as tf

    assert not entry.environment_failure(ValueError("Negative dimension size caused by subtracting 3 from 1"))
    assert not entry.environment_failure(MemoryError())
    assert not entry.environment_failure(tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor"))
    assert not entry.environment_failure(FloatingPointError("NaN loss in epoch 1"))


@pytest.mark.parametrize(
    "error, machine",
    [(PermissionError(13, "Permission denied"), True), (RuntimeError("CUDA_ERROR_NO_DEVICE"), True),
     (ValueError("Negative dimension"), False)],
    ids=["permission", "cuda", "negative dimension"],
)  # fmt: skip
def test_a_machine_failure_is_raised_without_a_result(tiny_data, tmp_path, monkeypatch, error, machine):
    import popnas_steps.model

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(popnas_steps.model, "build_model", fail)
    if machine:
        with pytest.raises(type(error)):
            entry.train_cell(tiny_config(), Cell.from_json("[]"), tiny_data, tmp_path / "cell")
        assert not (tmp_path / "cell" / "result.json").exists()
        assert "the machine cannot train (not the cell's fault)" in (tmp_path / "cell" / "train.log").read_text()
    else:
        result = entry.train_cell(tiny_config(), Cell.from_json("[]"), tiny_data, tmp_path / "cell")
        assert result["status"] == "failed" and result["reason"] == "ValueError: Negative dimension"
        assert json.loads((tmp_path / "cell" / "result.json").read_text())["status"] == "failed"


def without(env: dict, *names: str) -> dict:
    return {key: value for key, value in env.items() if key not in names}


def with_fake_tensorflow(tmp_path, source: str) -> dict:
    """This process's environment with a `tensorflow` package of `source` first on the path."""
    (tmp_path / "fake" / "tensorflow").mkdir(parents=True)
    (tmp_path / "fake" / "tensorflow" / "__init__.py").write_text(source + "\n")
    paths = [str(tmp_path / "fake"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}


def test_a_training_that_cannot_load_its_libraries_fails_the_job_and_a_rerun_trains_the_cell(tiny_data, tmp_path):
    env = with_fake_tensorflow(tmp_path, 'raise ImportError("libcudart.so.12: cannot open shared object file")')
    out = tmp_path / "cell"
    command = supervised_command(tiny_data, out, epochs=1)
    broken = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    said = broken.stdout + broken.stderr
    assert broken.returncode not in (0, 2), said
    assert "libcudart.so.12" in said
    assert "could not train on this machine" in said and "a rerun trains this cell" in said
    assert not (out / "result.json").exists()
    repaired = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert repaired.returncode == 0, repaired.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "ok" and result["cell_id"] == Cell.from_json(SUPERVISED_CELL).cell_id


def test_a_gpu_slot_folder_that_cannot_be_made_fails_the_job_naming_the_variable(tiny_data, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text('#!/bin/sh\nprintf "GPU 0: A (UUID: x)\\nGPU 1: B (UUID: y)\\n"\n')
    (bin_dir / "nvidia-smi").chmod(0o755)
    (tmp_path / "file").write_text("not a folder")
    env = without(os.environ, "CUDA_VISIBLE_DEVICES")
    env |= {"PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", "POPNAS_GPU_SLOTS": str(tmp_path / "file" / "slots")}
    out = tmp_path / "cell"
    job = subprocess.run(
        supervised_command(tiny_data, out, epochs=1), env=env, capture_output=True, text=True, timeout=300
    )
    said = job.stdout + job.stderr
    assert job.returncode not in (0, 2), said
    assert "POPNAS_GPU_SLOTS" in said and str(tmp_path / "file" / "slots") in said
    assert "could not train on this machine" in said
    assert not (out / "result.json").exists()


def test_a_training_process_that_ends_without_a_result_fails_the_job(tiny_data, tmp_path):
    env = with_fake_tensorflow(tmp_path, "import sys\nsys.exit(0)  # a library that ends the process")
    out = tmp_path / "cell"
    job = subprocess.run(
        supervised_command(tiny_data, out, epochs=1), env=env, capture_output=True, text=True, timeout=300
    )
    assert not (out / "result.json").exists()
    assert job.returncode != 0, "the job says it succeeded but wrote no result"


def test_the_training_step_is_traced_once_and_the_early_build_changes_no_training(tiny_data, monkeypatch):
    import keras
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    from popnas_steps import train
    from popnas_steps.datasets import load_prepared
    from popnas_steps.model import NetworkSpec, build_model

    traces = []
    step = TensorFlowTrainer.train_step
    monkeypatch.setattr(TensorFlowTrainer, "train_step", lambda self, data: traces.append(1) or step(self, data))
    config, data = tiny_config(training={"deterministic": True}), load_prepared(tiny_data)

    def losses() -> list[float]:
        keras.utils.set_random_seed(config["seed"])
        cell = Cell.from_json('[[-1, "3x3 conv", -2, "2x2 maxpool"]]')
        model = build_model(cell, data.input_shape, data.num_classes, NetworkSpec(**config["network"]))
        recipe = train.Recipe.from_config(config["training"])
        return [e["loss"] for e in train.train_model(model, data, recipe, config["seed"])["history"]]

    early = losses()
    assert len(traces) == 1  # twice without the early build: Keras changed, see build_training_variables
    monkeypatch.setattr(train, "build_training_variables", lambda *args: None)
    assert losses() == early
    assert len(traces) == 3


# --- augmentation on the device (training.augment_on_device) --------------------------------

AUGMENTED_CELL = Cell.from_json('[[-1, "3x3 conv", -2, "2x2 maxpool"]]')


def train_tiny(data_dir, **training) -> tuple[dict, list]:
    """A deterministic tiny training of AUGMENTED_CELL: its measurements and its weights."""
    import keras

    from popnas_steps.datasets import load_prepared
    from popnas_steps.macro import NetworkSpec
    from popnas_steps.model import build_model
    from popnas_steps.train import Recipe, train_model

    config = tiny_config(training={"deterministic": True, **training})
    data = load_prepared(data_dir)
    keras.utils.set_random_seed(config["seed"])
    model = build_model(AUGMENTED_CELL, data.input_shape, data.num_classes, NetworkSpec(**config["network"]))
    measured = train_model(model, data, Recipe.from_config(config["training"]), config["seed"])
    return measured, [w.numpy() for w in model.weights]


def learning_curve(measured: dict) -> list[list[float]]:
    return [[e[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy")] for e in measured["history"]]


def test_augmentation_on_the_device_gives_the_same_training_for_the_same_seed(tiny_data):
    first, first_weights = train_tiny(tiny_data, augment_on_device=True)
    second, second_weights = train_tiny(tiny_data, augment_on_device=True)
    assert learning_curve(first) == learning_curve(second)
    assert all(np.array_equal(a, b) for a, b in zip(first_weights, second_weights, strict=True))
    # the network alone is measured: the augmentation layers hold no parameters, and add no weights
    pipeline, pipeline_weights = train_tiny(tiny_data)
    assert first["params"] == pipeline["params"] and len(first_weights) == len(pipeline_weights)


def test_on_this_cpu_both_placements_draw_the_same_augmentation(tiny_data):
    # The layers draw from the same seeded stream, one call per batch, in the pipeline or in
    # the graph: on a CPU the two trainings are the same one, and differ from one without
    # augmentation (so the layers on the device do act). A GPU runs other kernels: the schema
    # promises no such equality there.
    device, _ = train_tiny(tiny_data, augment_on_device=True, translation=0.3)
    pipeline, _ = train_tiny(tiny_data, translation=0.3)
    plain, _ = train_tiny(tiny_data, augment_on_device=True, translation=0.0, horizontal_flip=False)
    assert learning_curve(device) == learning_curve(pipeline)
    assert learning_curve(device) != learning_curve(plain)


def test_augmentation_layers_act_in_training_only():
    import keras

    from popnas_steps.train import Recipe, augmentation, on_device

    keras.utils.set_random_seed(0)
    image = keras.Input((8, 8, 3), name="image")
    model = keras.Model(image, keras.layers.Dense(2)(keras.layers.Flatten()(image)))
    augment = augmentation(Recipe(translation=0.25), seed=0)
    trained = on_device(model, augment)
    x = np.random.default_rng(0).random((16, 8, 8, 3)).astype(np.float32)
    assert np.array_equal(augment(x, training=False).numpy(), x)  # identity out of training
    assert not np.array_equal(augment(x, training=True).numpy(), x)
    # predict and evaluate call with training=False: the network's own predictions
    assert np.allclose(trained.predict(x, verbose=0), model.predict(x, verbose=0))
    assert not np.allclose(trained(x, training=True).numpy(), model(x, training=True).numpy())
    assert trained.count_params() == model.count_params()
    assert augmentation(Recipe(horizontal_flip=False, translation=0.0), seed=0) is None


def test_with_augmentation_on_the_device_the_pipeline_only_shuffles_and_batches(tiny_data):
    from popnas_steps.datasets import load_prepared
    from popnas_steps.train import Recipe, make_datasets

    data = load_prepared(tiny_data)
    batches, _, _ = make_datasets(data, Recipe(batch_size=16, augment_on_device=True), seed=0)
    seen = np.concatenate([x.numpy() for x, _ in batches])
    # every batch holds images of the training split as they are, none flipped or shifted
    originals = {image.tobytes() for image in data.train.x}
    assert all(image.tobytes() in originals for image in seen)
    augmented, _, _ = make_datasets(data, Recipe(batch_size=16), seed=0)
    assert not all(image.tobytes() in originals for image in np.concatenate([x.numpy() for x, _ in augmented]))


def test_gpu_memory_grows_as_needed_where_the_gpu_is_shared(monkeypatch):
    grown = []

    class Experimental:
        @staticmethod
        def set_memory_growth(gpu, on):
            if gpu == "initialised":  # a warm worker's later cells: set at its first
                raise RuntimeError("Physical devices cannot be modified after being initialized")
            grown.append((gpu, on))

    class Config:
        experimental = Experimental

        @staticmethod
        def list_physical_devices(kind):
            return ["gpu0", "gpu1"] if kind == "GPU" else []

    fake_tf = type("tf", (), {"config": Config})
    monkeypatch.setenv("POPNAS_DEVICES", json.dumps({"trainings_per_gpu": 1}))
    entry.share_gpu_memory(fake_tf)
    assert grown == []  # one training per GPU, a process of its own: TensorFlow's default
    entry.share_gpu_memory(fake_tf, warm_worker=True)
    assert grown == [("gpu0", True), ("gpu1", True)]
    monkeypatch.setenv("POPNAS_DEVICES", json.dumps({"trainings_per_gpu": 2}))
    entry.share_gpu_memory(fake_tf)
    assert len(grown) == 4
    Config.list_physical_devices = staticmethod(lambda kind: ["initialised"])
    entry.share_gpu_memory(fake_tf)  # no error


def batch_statistics(network, batches) -> tuple[np.ndarray, np.ndarray]:
    """The mean, over `batches`, of the batch mean and variance reaching `network`'s one
    BatchNormalization layer at its current weights: what fresh statistics must be."""
    import keras

    bn = next(layer for layer in network.layers if isinstance(layer, keras.layers.BatchNormalization))
    upstream = keras.Model(network.input, bn.input)
    outputs = [np.asarray(upstream(images, training=False)).reshape(-1, bn.input.shape[-1]) for images in batches]
    return np.mean([o.mean(axis=0) for o in outputs], axis=0), np.mean([o.var(axis=0) for o in outputs], axis=0)


def tiny_bn_network(momentum: float, seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    image = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(image)
    x = keras.layers.BatchNormalization(momentum=momentum)(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Activation("relu")(x))
    return keras.Model(image, keras.layers.Dense(10, activation="softmax")(x))


def test_recomputed_batchnorm_statistics_are_the_mean_of_the_batch_statistics_at_the_current_weights():
    from popnas_steps.train import BatchNormRecompute

    network = tiny_bn_network(momentum=0.99)
    rng = np.random.default_rng(0)
    batches = [rng.normal(2.0, 1.5, (16, 8, 8, 1)).astype("float32") for _ in range(3)]
    bn = network.layers[2]
    recompute = BatchNormRecompute(network, batches)
    assert recompute() == 1 and bn.momentum == 0.99  # restored
    mean, variance = batch_statistics(network, batches)
    assert np.allclose(bn.moving_mean.numpy(), mean, atol=1e-5)
    assert np.allclose(bn.moving_variance.numpy(), variance, rtol=1e-4)
    before = network.get_weights()
    recompute()  # nothing of the old statistics stays: the same again
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(before, network.get_weights(), strict=True))
    network.layers[1].set_weights([network.layers[1].get_weights()[0] * 2])  # new weights: new statistics
    recompute()
    mean, variance = batch_statistics(network, batches)
    assert np.allclose(bn.moving_mean.numpy(), mean, atol=1e-5) and bn.momentum == 0.99


@pytest.mark.parametrize("fresh", [False, True])
def test_a_short_training_validates_with_lagging_statistics_unless_they_are_recomputed(fresh):
    """2 epochs of 8 steps: moving averages of momentum 0.99 hold 1 - 0.99^16 = 15% of the
    batches' statistics and 85% of the initial ones (mean 0, variance 1), so the network is
    provably validated with statistics of no weights it ever had; recomputed, they are the
    statistics of its final weights."""
    from popnas_steps.datasets import PreparedData, Split
    from popnas_steps.train import Recipe, statistics_batches, train_model

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 160)
    images = (rng.normal(3.0, 2.0, (160, 8, 8, 1)) + labels[:, None, None, None] * 0.3).astype("float32")
    split = Split(images[:128], labels[:128])
    data = PreparedData(split, Split(images[128:], labels[128:]), Split(images[128:], labels[128:]), {})
    network = tiny_bn_network(momentum=0.99)
    recipe = Recipe(epochs=2, batch_size=16, first_period=2, horizontal_flip=False, translation=0)
    measured = train_model(network, data, recipe, seed=0, fresh_statistics=fresh)
    bn = network.layers[2]
    mean, variance = batch_statistics(network, statistics_batches(data, recipe.batch_size))
    gap = np.abs(bn.moving_mean.numpy() - mean).max() / np.abs(mean).max()
    if fresh:
        assert gap < 1e-5 and np.allclose(bn.moving_variance.numpy(), variance, rtol=1e-4)
        last = network.evaluate(data.val.x, data.val.y, batch_size=16, verbose=0, return_dict=True)["accuracy"]
        assert measured["history"][-1]["val_accuracy"] == pytest.approx(last)  # validated with these statistics
    else:
        assert gap > 0.5  # the lag: mostly the initial statistics
