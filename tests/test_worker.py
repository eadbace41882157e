"""Warm workers (popnas_steps.worker): the jobs of train_cell handing their training to a
process that imported TensorFlow once, with the results, the seeds and the crash isolation
of a process per training."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from popnas_steps import worker

from .conftest import tiny_config

CELL = '[[-1, "3x3 conv", -1, "identity"]]'
OTHER = '[[-2, "2x2 maxpool", -1, "3x3 conv"]]'


@pytest.fixture
def warm_env(tmp_path):
    """The environment of a workflow's job with warm workers, in folders of this test alone
    (a short temporary folder: a Unix socket's path has at most 107 characters)."""
    short = Path(tempfile.mkdtemp(prefix="pw", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    env.update(TMPDIR=str(short), POPNAS_GPU_SLOTS=str(tmp_path / "slots"))
    env["POPNAS_DEVICES"] = json.dumps({"trainings_per_gpu": 1, "warm_workers": True})
    yield env
    worker.stop_workers(short)  # this test's workers
    shutil.rmtree(short, ignore_errors=True)


def job(env, data, out, cell=CELL, epochs=2, **popen) -> subprocess.Popen:
    settings = json.dumps(tiny_config(training={"epochs": epochs, "deterministic": True}))
    command = [sys.executable, "-m", "popnas_steps.cli.train_cell", "--settings", settings, "--data", str(data),
               "--cell", cell, "--out", str(out)]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def run_job(env, data, out, **kwargs) -> tuple[dict, str]:
    process = job(env, data, out, **kwargs)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    return json.loads((Path(out) / "result.json").read_text()), output


def training_worker(running: subprocess.Popen) -> int:
    """The pid of the next warm worker that the job `running` says trains its cell (read
    from its output, which it prints as the worker starts the training)."""
    seen = []
    for line in running.stdout:
        seen.append(line)
        found = re.match(r"popnas: trained by warm worker (\d+)", line)
        if found:
            return int(found.group(1))
    raise AssertionError(f"the job ended before a warm worker trained its cell:\n{''.join(seen)}")


def finished_output(process: subprocess.Popen, timeout: float = 60) -> str:
    """The output of `process` once it ends; an error holding it if it runs past `timeout`."""
    try:
        return process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"still running after {timeout} s:\n{process.communicate()[0]}") from None


def losses(result: dict) -> list[float]:
    return [epoch["loss"] for epoch in result["history"]]


def wait_for_worker(env, out: Path, timeout: float = 120) -> int:
    """The pid of the warm worker of this test's job, once it trains the cell of `out`."""
    deadline = time.monotonic() + timeout
    while not (out / "train.log").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    while time.monotonic() < deadline:
        found = worker.running_workers(env["TMPDIR"])
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError("no warm worker started")


@pytest.mark.slow
def test_jobs_share_a_warm_worker_with_the_results_of_fresh_processes(tiny_data, tmp_path, warm_env):
    cold_env = {**warm_env, "POPNAS_DEVICES": json.dumps({"warm_workers": False})}
    cold, _ = run_job(cold_env, tiny_data, tmp_path / "cold")
    first, log = run_job(warm_env, tiny_data, tmp_path / "a")
    other, _ = run_job(warm_env, tiny_data, tmp_path / "b", cell=OTHER)
    again, _ = run_job(warm_env, tiny_data, tmp_path / "c")

    assert cold["worker"] is None and "trained by warm worker" in log
    assert first["worker"]["cells_before"] == 0 and again["worker"]["cells_before"] == 2
    assert first["worker"]["pid"] == other["worker"]["pid"] == again["worker"]["pid"]
    # Same seed, same training: in a fresh process, a new worker, or one that trained another cell before.
    assert losses(first) == losses(cold) == losses(again) and first["accuracy"] == again["accuracy"]
    assert losses(other) != losses(first)
    # TensorFlow was imported once: the later jobs skip its import and are timed whole.
    assert again["timings"]["import_seconds"] < 0.1 < cold["timings"]["import_seconds"]
    for result in (first, again):
        timings = result["timings"]
        assert timings["finished_unix"] - timings["started_unix"] == pytest.approx(
            timings["process_seconds"] + timings["interpreter_seconds"], abs=0.01
        )
    assert first["sharing"]["concurrent_max"] == 1 and first["sharing"]["device"] == "cpu"


@pytest.mark.slow
def test_a_worker_killed_while_it_trains_is_the_cells_failure_and_the_next_job_starts_another(
    tiny_data, tmp_path, warm_env
):
    running = job(warm_env, tiny_data, tmp_path / "a", epochs=500)
    first = training_worker(running)
    time.sleep(1)
    os.kill(first, signal.SIGKILL)  # as the kernel's out-of-memory killer would
    pid = training_worker(running)  # a kill is trained once more, in a new worker
    assert pid != first
    time.sleep(1)
    os.kill(pid, signal.SIGKILL)
    output = finished_output(running)
    assert running.returncode == 0, output  # the job succeeds: the cell failed, not the search
    result = json.loads((tmp_path / "a" / "result.json").read_text())
    assert result["status"] == "failed" and f"the warm worker (pid {pid}) died" in result["reason"]
    assert result["attempts"] == 2

    after, _ = run_job(warm_env, tiny_data, tmp_path / "b")
    assert after["status"] == "ok" and after["worker"]["pid"] != pid


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_job_stops_its_worker_and_records_nothing(tiny_data, tmp_path, warm_env, stop):
    running = job(warm_env, tiny_data, tmp_path / "a", epochs=500)
    pid = wait_for_worker(warm_env, tmp_path / "a")
    time.sleep(1)
    running.send_signal(stop)  # Snakemake stopping a job; SIGKILL: a job killed outright
    running.wait(timeout=60)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert not (tmp_path / "a" / "result.json").exists()  # a rerun trains it again


def test_a_job_trains_alone_when_no_worker_can_be_had(tiny_data, tmp_path, warm_env):
    folder = Path(warm_env["TMPDIR"]) / f"popnas-workers-{os.getuid()}"
    folder.mkdir(mode=0o755)  # not private: no worker listens there
    folder.chmod(0o755)
    result, log = run_job(warm_env, tiny_data, tmp_path / "a", epochs=1)
    assert result["status"] == "ok" and result["worker"] is None
    assert "no warm worker" in log and "is not this user's alone" in log


def test_a_worker_serves_only_jobs_that_would_start_the_same_process(monkeypatch):
    environ = {"PATH": "/bin", "HOME": "/root", "TF_NUM_INTEROP_THREADS": "2"}
    key = worker.worker_key(0, environ)
    assert worker.worker_key(0, {**environ, "HOME": "/elsewhere"}) == key  # a cell's own: passed with it
    assert worker.worker_key(1, environ) != key
    assert worker.worker_key(0, {**environ, "TF_NUM_INTEROP_THREADS": "4"}) != key
    assert worker.worker_key(0, {**environ, "CUDA_VISIBLE_DEVICES": "1"}) != key
    deterministic = worker.worker_key(0, environ, "deterministic=True")  # a setting that stays with the process
    assert deterministic != worker.worker_key(0, environ, "deterministic=False") and deterministic != key


def test_an_idle_worker_ends_and_removes_its_socket(tmp_path):
    short = Path(tempfile.mkdtemp(prefix="pw", dir="/tmp"))
    try:
        path = short / "w.sock"
        started = time.monotonic()
        ended = subprocess.run(
            [sys.executable, "-m", "popnas_steps.cli.worker", "--socket", str(path), "--idle-seconds", "0.5"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ended.returncode == 0, ended.stderr
        assert not path.exists() and time.monotonic() - started < 60
    finally:
        shutil.rmtree(short, ignore_errors=True)


def test_stop_ends_this_users_workers_and_names_them(tmp_path):
    short = Path(tempfile.mkdtemp(prefix="pw", dir="/tmp"))
    try:
        path = short / "w.sock"
        serving = subprocess.Popen([sys.executable, "-m", "popnas_steps.cli.worker", "--socket", str(path)])
        deadline = time.monotonic() + 120
        while not path.exists() and time.monotonic() < deadline:  # listening once TensorFlow is imported
            time.sleep(0.1)
        assert worker.running_workers(short) == [serving.pid]
        assert worker.stop_workers(short) == [serving.pid]
        assert serving.wait(timeout=30) == 128 + signal.SIGTERM
        assert worker.running_workers(short) == []
    finally:
        shutil.rmtree(short, ignore_errors=True)


@pytest.mark.slow
def test_a_job_retires_the_stale_workers_of_its_slot_and_no_other(tiny_data, tmp_path, warm_env, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", warm_env["TMPDIR"])  # the jobs' folders
    monkeypatch.setenv("POPNAS_GPU_SLOTS", str(tmp_path / "other-slots"))
    elsewhere = Path(f"{worker.slot_prefix(0)}0123456789abcdef.sock")  # slot 0 of another slot folder
    monkeypatch.setenv("POPNAS_GPU_SLOTS", warm_env["POPNAS_GPU_SLOTS"])
    stale = Path(f"{worker.slot_prefix(0)}0123456789abcdef.sock")  # older sources or another environment
    serving = {
        path: subprocess.Popen([sys.executable, "-m", "popnas_steps.cli.worker", "--socket", str(path)], env=warm_env)
        for path in (stale, elsewhere)
    }
    deadline = time.monotonic() + 120
    while not (stale.exists() and elsewhere.exists()) and time.monotonic() < deadline:
        time.sleep(0.1)
    result, _ = run_job(warm_env, tiny_data, tmp_path / "a", epochs=1)
    assert serving[stale].wait(timeout=30) == 128 + signal.SIGTERM  # on a GPU it would hold memory
    assert serving[elsewhere].poll() is None  # another run's: perhaps training
    assert result["status"] == "ok" and result["worker"]["pid"] not in (p.pid for p in serving.values())
    serving[elsewhere].terminate()
    serving[elsewhere].wait(timeout=30)
