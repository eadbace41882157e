"""bench.bench_gpu_throughput --quick end to end: every section of its JSON, with sane values."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_run_writes_every_section(tmp_path):
    out = tmp_path / "gpu_throughput.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "bench.bench_gpu_throughput", "--quick", "--out", str(out)]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "plan (seconds allotted" in run.stdout
    report = json.loads(out.read_text())

    assert report["quick"] is True
    assert report["machine"]["cpu_count"] > 0 and report["machine"]["tensorflow"]
    assert report["date"] and report["plan_seconds"]["fp32"] > 0

    # 1 and 4: each precision variant of the quick profile, and its fixed cost
    assert set(report["precision"]) == {"fp32", "xla"}
    for variant, result in report["precision"].items():
        assert "error" not in result, variant
        assert result["images_per_second"] > 0 and result["seconds_per_cifar10_epoch"] > 0
        assert result["per_network_seconds"] > 0
        fixed = report["fixed_cost"][variant]
        assert all(fixed[key] > 0 for key in ("import_seconds", "build_seconds", "trace_seconds", "total_seconds"))
    assert report["network"]["params"] > 0

    # 2: the pipeline alone, and the training, by placement of the augmentation
    placement = report["augmentation_placement"]
    assert placement["in_pipeline"]["pipeline_alone"]["images_per_second"] > 0
    assert placement["in_pipeline"]["training_images_per_second"] > 0
    assert placement["on_device"]["pipeline_alone"]["images_per_second"] > 0
    assert placement["on_device"]["training_images_per_second"] > 0
    assert "on_device" not in report.get("errors", {})

    # 3: one row per N, with its ratios to N=1
    rows = {row["trainings"]: row for row in report["sharing"]["rows"]}
    assert set(rows) == {1, 2}
    for n, row in rows.items():
        assert len(row["t_seconds"]) == n and all(t > 0 for t in row["t_seconds"])
        assert row["aggregate_images_per_second"] > 0 and row["aggregate_ratio"] > 0 and row["t_inflation"] > 0
    assert rows[1]["aggregate_ratio"] == 1.0 and rows[1]["t_inflation"] == 1.0

    # 5: no GPU here
    assert report["peak_gpu_memory_mib"]["fp32"] is None

    # 6: the projection of the paper's searches
    projection = report["projection"]
    assert "speedup_N" in projection["formula"]
    assert projection["networks"] == {"POPNASv2": 543, "PNAS": 814} and projection["epochs"] == 21
    assert projection["best"]["variant"] in report["precision"]
    assert all(hours > 0 for hours in projection["one_training_per_gpu"]["hours"].values())
    assert projection["best"]["speedup_vs_one_training_per_gpu"] >= 1.0


def test_a_part_past_its_seconds_is_an_error_and_the_run_goes_on(tmp_path):
    from bench import bench_gpu_throughput

    profile = dataclasses.replace(bench_gpu_throughput.QUICK, allotted={"fp32": 0.5, "N=2": 0.5})
    out = tmp_path / "killed.json"
    report = bench_gpu_throughput.run(profile, out, ["fp32"], [2])
    assert set(report["errors"]) == {"fp32", "N=2"}
    assert all("killed past" in error for error in report["errors"].values())
    assert report["sharing"]["rows"][0] == {"trainings": 2, "error": report["errors"]["N=2"], "failed": 2}
    assert report["projection"]["best"] is None and report["projection"]["one_training_per_gpu"] is None
    assert json.loads(out.read_text())["errors"] == report["errors"]  # written after each part


def test_the_old_name_still_runs_it():
    """BENCHMARKS.md and bench/README.md name `python -m bench.gpu_throughput`."""
    from bench import bench_gpu_throughput, gpu_throughput

    assert gpu_throughput.main is bench_gpu_throughput.main
