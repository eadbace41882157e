import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from popnas_steps import devices

CLAIM = """
import os, sys, time
from pathlib import Path
from popnas_steps.devices import claim_slot
slot = claim_slot(count=int(sys.argv[3]), folder=Path(sys.argv[1]), poll_seconds=0.1)
print(slot.index, slot.gpu, os.environ.get("CUDA_VISIBLE_DEVICES"), flush=True)
time.sleep(float(sys.argv[2]))
"""


def claimer(folder, hold: float, gpus: int = 2, per_gpu: int = 1) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["POPNAS_DEVICES"] = json.dumps({"trainings_per_gpu": per_gpu})
    return subprocess.Popen(
        [sys.executable, "-c", CLAIM, str(folder), str(hold), str(gpus)], stdout=subprocess.PIPE, text=True, env=env
    )


def test_concurrent_jobs_get_different_gpus_and_a_third_waits(tmp_path):
    started = time.monotonic()
    first, second = claimer(tmp_path, 3), claimer(tmp_path, 3)
    claimed = {first.stdout.readline().strip(), second.stdout.readline().strip()}
    assert claimed == {"0 0 0", "1 1 1"}
    third = claimer(tmp_path, 0)
    assert third.stdout.readline().strip() in {"0 0 0", "1 1 1"}
    assert time.monotonic() - started > 2.5  # it waited for one of the others to end
    for process in (first, second, third):
        process.wait()


@pytest.mark.parametrize("gpus", [1, 2])  # one GPU is one slot too
def test_claim_sets_the_visible_device(tmp_path, monkeypatch, gpus):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("POPNAS_DEVICES", raising=False)
    try:
        assert devices.claim_slot(count=gpus, folder=tmp_path).gpu == 0
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    finally:
        devices.release_gpus()


def test_devices_already_chosen_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    try:
        assert devices.claim_slot(count=4, folder=tmp_path).gpu is None
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    finally:
        devices.release_gpus()


def test_placement_names_host_device_and_slurm_job(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    where = devices.placement()
    assert where["cuda_visible_devices"] == "1" and where["slurm_job_id"] == "4242" and where["host"]
    monkeypatch.delenv("SLURM_JOB_ID")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert devices.placement()["slurm_job_id"] is None and devices.placement()["cuda_visible_devices"] is None


def test_training_deadline_keeps_a_margin_before_the_job_ends(monkeypatch):
    now = 1_000_000.0
    monkeypatch.setattr(devices, "slurm_end_time", lambda: now + 3600)
    assert devices.training_deadline(now) == now + 3600 - 120
    monkeypatch.setattr(devices, "slurm_end_time", lambda: now + 100)  # short limits: a quarter of what is left
    assert devices.training_deadline(now) == now + 75
    monkeypatch.setattr(devices, "slurm_end_time", lambda: None)
    assert devices.training_deadline(now) is None


def test_no_slurm_end_time_outside_a_slurm_job(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert devices.slurm_end_time() is None


def test_a_slot_folder_that_cannot_be_made_is_an_error_naming_it_and_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    (tmp_path / "file").write_text("not a folder")
    folder = tmp_path / "file" / "slots"  # under a regular file: not even root can make it
    try:
        with pytest.raises(OSError, match=f"cannot use the GPU slot folder '{folder}' \\(set POPNAS_GPU_SLOTS"):
            devices.claim_slot(count=2, folder=folder)
        assert "CUDA_VISIBLE_DEVICES" not in os.environ  # no device chosen
        monkeypatch.setenv("POPNAS_GPU_SLOTS", str(folder))
        with pytest.raises(OSError, match="POPNAS_GPU_SLOTS"):
            devices.claim_slot(count=2)
    finally:
        devices.release_gpus()


def test_the_default_slot_folder_is_this_users(monkeypatch):
    monkeypatch.delenv("POPNAS_GPU_SLOTS", raising=False)
    folder = devices.slot_folder()
    assert folder.name == f"popnas-gpu-slots-{os.getuid()}"
    assert folder.parent == Path(tempfile.gettempdir())
    monkeypatch.setenv("POPNAS_GPU_SLOTS", "/somewhere/else")
    assert devices.slot_folder() == Path("/somewhere/else")


def test_trainings_per_gpu_hand_out_that_many_slots_of_each_gpu(tmp_path):
    started = time.monotonic()
    holders = [claimer(tmp_path, 3, gpus=2, per_gpu=2) for _ in range(4)]
    claimed = sorted(holder.stdout.readline().strip() for holder in holders)
    assert claimed == ["0 0 0", "1 0 0", "2 1 1", "3 1 1"]  # slot, GPU, what TensorFlow sees
    fifth = claimer(tmp_path, 0, gpus=2, per_gpu=2)
    assert fifth.stdout.readline().strip() in claimed
    assert time.monotonic() - started > 2.5  # it waited for a slot
    for process in [*holders, fifth]:
        process.wait()


def test_without_a_gpu_every_job_gets_a_slot_of_its_own(tmp_path):
    holders = [claimer(tmp_path, 2, gpus=0) for _ in range(3)]
    claimed = sorted(holder.stdout.readline().strip() for holder in holders)
    assert claimed == ["0 None None", "1 None None", "2 None None"]  # no device chosen, nobody waits
    for process in holders:
        process.wait()


def test_the_sharing_monitor_counts_the_trainings_on_its_device(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setenv("POPNAS_DEVICES", json.dumps({"trainings_per_gpu": 4}))
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        training = tmp_path / "training"
        training.mkdir()
        (training / f"gpu1-{other.pid}").touch()  # a live training on the same GPU
        (training / "gpu0-1").touch()  # another GPU
        (training / "gpu1-999999999").touch()  # ended: removed on sight
        with devices.SharingMonitor(tmp_path, every=0.05) as monitor:
            time.sleep(0.3)
        summary = monitor.summary()
        assert summary["device"] == "gpu1" and summary["trainings_per_gpu"] == 4
        assert summary["concurrent_max"] == 2 and summary["concurrent_mean"] == 2
        assert not (training / "gpu1-999999999").exists()
        assert sorted(p.name for p in training.iterdir()) == sorted([f"gpu1-{other.pid}", "gpu0-1"])
    finally:
        other.kill()
        other.wait()
