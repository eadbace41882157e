import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from popnas_steps import deploy, latency, tables
from popnas_steps.cli import latency as cli_latency
from popnas_steps.macro import NetworkSpec
from popnas_steps.space import Cell
from popnas_steps.work import DataShape

SPEC = NetworkSpec(motifs=2, normal_cells=1, filters=8)
DATA = DataShape((8, 8, 1), 10)
SETTINGS = {"threads": 1, "warmup": 2, "runs": 20, "rounds": 4, "pause": 0.0}
SMALL = Cell.from_json('[[-1, "identity", -1, "identity"]]')
LARGE = Cell.from_json(
    '[[-2, "3x3 conv", -1, "3x3 conv"], [0, "3x3 conv", -2, "3x3 conv"], [1, "3x3 conv", 0, "3x3 conv"]]'
)


def hide_the_runtime(monkeypatch):
    """As on a machine without the deploy extra, whether or not it is installed here."""
    real = deploy.importlib.util.find_spec
    hidden = {"onnx", "onnxruntime", "tf2onnx", "ai_edge_litert"}
    monkeypatch.setattr(deploy.importlib.util, "find_spec", lambda name: None if name in hidden else real(name))


def test_without_onnx_runtime_every_latency_is_missing_with_its_reason(monkeypatch):
    hide_the_runtime(monkeypatch)
    table = latency.measure_latencies({"a": SMALL, "b": LARGE}, DATA, SPEC, SETTINGS, seed=0)
    assert list(table.columns) == tables.COLUMNS["latency"] and table["latency_ms"].isna().all()
    assert set(table["latency_status"]) == {"missing"}
    assert table["latency_reason"][0] == f"needs onnx, onnxruntime: pip install 'popnas[deploy]' (in {sys.executable})"
    assert latency.interpreter_of(table["latency_reason"][0]) == sys.executable


def test_the_job_without_onnx_runtime_says_so_in_one_line_and_exits_0(monkeypatch, tmp_path, capsys):
    hide_the_runtime(monkeypatch)
    selected, metadata = tmp_path / "selected.csv", tmp_path / "metadata.json"
    tables.write("selected", tables.selection_table([Cell(), SMALL], "b1"), selected)
    metadata.write_text(json.dumps({"input_shape": [8, 8, 1], "num_classes": 10}))
    settings = json.dumps({"seed": 0, "network": SPEC.__dict__, "deploy": SETTINGS})  # the rule's slice
    out = tmp_path / "latency.csv"
    argv = ["--settings", settings, "--data", str(metadata), "--selected", str(selected), "--out", str(out)]
    assert cli_latency.main(argv) == 0
    err = capsys.readouterr().err.strip().splitlines()
    reason = f"needs onnx, onnxruntime: pip install 'popnas[deploy]' (in {sys.executable})"
    assert err == [f"popnas: no latency of 2 networks: {reason}"]
    assert tables.read("latency", out)["latency_status"].tolist() == ["missing", "missing"]


def test_a_bad_metadata_file_is_an_error_naming_it(tmp_path, capsys):
    selected = tmp_path / "selected.csv"
    tables.write("selected", tables.selection_table([SMALL], "b1"), selected)
    settings = json.dumps({"network": SPEC.__dict__})
    argv = ["--settings", settings, "--data", str(tmp_path / "nope.json"), "--selected", str(selected),
            "--out", str(tmp_path / "latency.csv")]  # fmt: skip
    assert cli_latency.main(argv) == 2
    assert "nope.json" in capsys.readouterr().err and not (tmp_path / "latency.csv").exists()


def test_latencies_are_relative_to_the_reference_in_the_runs_milliseconds():
    pytest.importorskip("onnxruntime", reason="the deploy extra is not installed: pip install 'popnas[deploy]'")
    cells = {"small": SMALL, "large": LARGE, "empty": Cell()}
    calibrated = latency.measure_latencies(cells, DATA, SPEC, SETTINGS, seed=0, calibration_factor=2)
    assert set(calibrated["latency_status"]) == {"ok"} and calibrated["reference_ms"].nunique() == 1
    reference_ms = latency.run_reference_ms(calibrated)
    assert np.allclose(calibrated["latency_ms"], calibrated["latency_relative"] * reference_ms)
    by_id = calibrated.set_index("cell_id")["latency_relative"]
    assert by_id["empty"] < by_id["small"] < by_id["large"]  # 6 convolutions outweigh none by far
    later = latency.measure_latencies({"large": LARGE}, DATA, SPEC, SETTINGS, seed=0, reference_ms=2.0)
    assert later["reference_ms"][0] == 2.0 and later["latency_ms"][0] == pytest.approx(
        2.0 * later["latency_relative"][0]
    )


def test_a_network_the_runtime_refuses_is_that_cells_recorded_failure(monkeypatch):
    pytest.importorskip("onnxruntime", reason="the deploy extra is not installed: pip install 'popnas[deploy]'")
    real = latency.onnx_network

    def refuse_large(cell, *args):
        if cell == LARGE:
            raise RuntimeError("op Foo is not implemented")
        return real(cell, *args)

    monkeypatch.setattr(latency, "onnx_network", refuse_large)
    table = latency.measure_latencies({"small": SMALL, "large": LARGE}, DATA, SPEC, SETTINGS, seed=0, reference_ms=1.0)
    assert table["latency_status"].tolist() == ["ok", "failed"]
    assert table["latency_reason"][1] == "RuntimeError: op Foo is not implemented"


def test_collect_joins_each_cells_latency_and_leaves_a_missing_one_empty():
    from popnas_steps import collect

    cells = [SMALL, LARGE]
    results = [{"cell_id": c.cell_id, "cell": c.to_list(), "status": "ok", "accuracy": 0.5, "time": 2.0, "params": 1}
               for c in cells]  # fmt: skip
    measured = pd.DataFrame({"cell_id": [SMALL.cell_id, LARGE.cell_id], "latency_status": ["ok", "failed"],
                             "latency_ms": [0.5, np.nan], "latency_relative": [0.25, np.nan]})  # fmt: skip
    table = collect.trained_table(results, tables.selection_table(cells, "b1"), 1, measured)
    assert table["latency_ms"][0] == 0.5 and table["latency_relative"][0] == 0.25 and pd.isna(table["latency_ms"][1])


# --- a runtime that cannot be loaded or crashes: recorded, never the job's failure ----------

ROOT = Path(__file__).resolve().parent.parent


def run_job_with_runtime(tmp_path: Path, fake_runtime: str) -> tuple[subprocess.CompletedProcess, pd.DataFrame | None]:
    """The latency job of two cells, run as the workflow runs it, with `fake_runtime` as the
    `onnxruntime` package's __init__.py, found before the real one."""
    fake = tmp_path / "fake" / "onnxruntime"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(fake_runtime)
    selected, metadata, out = tmp_path / "selected.csv", tmp_path / "metadata.json", tmp_path / "latency.csv"
    tables.write("selected", tables.selection_table([SMALL, LARGE], "b1"), selected)
    metadata.write_text(json.dumps({"input_shape": [8, 8, 1], "num_classes": 10}))
    settings = json.dumps({"seed": 0, "network": SPEC.__dict__, "deploy": SETTINGS})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), str(ROOT)])}
    job = subprocess.run(
        [sys.executable, "-m", "popnas_steps.cli.latency", "--settings", settings, "--data", str(metadata),
         "--selected", str(selected), "--reference=", "--out", str(out)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )  # fmt: skip
    return job, tables.read("latency", out) if out.is_file() else None


def test_a_runtime_that_cannot_be_loaded_is_every_latencys_recorded_failure_and_the_job_exits_0(tmp_path):
    pytest.importorskip("onnx", reason="the deploy extra is not installed: pip install 'popnas[deploy]'")
    job, table = run_job_with_runtime(tmp_path, 'raise ImportError("libonnxruntime.so.1: cannot open shared object")')
    assert job.returncode == 0, job.stderr[-2000:]
    assert table["latency_status"].tolist() == ["failed", "failed"] and table["latency_ms"].isna().all()
    reason = table["latency_reason"][0]
    assert reason.startswith(f"{latency.LOAD_FAILURE}: ImportError: libonnxruntime.so.1: cannot open shared object")
    assert latency.interpreter_of(reason) == sys.executable  # asked again once it loads (results.stale_artefacts)
    assert f"popnas: no latency of 2 networks: {reason}" in job.stderr.splitlines()


def test_a_runtime_that_aborts_natively_is_every_latencys_recorded_failure_and_the_job_exits_0(tmp_path):
    pytest.importorskip("onnx", reason="the deploy extra is not installed: pip install 'popnas[deploy]'")
    job, table = run_job_with_runtime(tmp_path, "import os\nos.abort()  # as a C++ assertion in the runtime would")
    assert job.returncode == 0, job.stderr[-2000:]
    assert table["latency_status"].tolist() == ["failed", "failed"]
    reason = table["latency_reason"][0]
    assert reason == (
        f"{latency.LOAD_FAILURE}: importing it ended the process (signal 6 (SIGABRT); then signal 6 (SIGABRT))"
        f" (in {sys.executable})"
    )  # measured again once it loads (results.stale_artefacts)
    assert f"popnas: no latency of 2 networks: {reason}" in job.stderr.splitlines()


def test_a_runtime_that_crashes_while_timing_is_every_latencys_recorded_failure(tmp_path):
    pytest.importorskip("onnxruntime", reason="the deploy extra is not installed: pip install 'popnas[deploy]'")
    crash_on_run = (  # the real runtime, whose sessions abort when they predict
        "import importlib.util, os, sys\n"
        "sys.path.remove(os.path.dirname(os.path.dirname(__file__)))\n"
        "del sys.modules['onnxruntime']\n"
        "import onnxruntime as real\n"
        "class Crashing(real.InferenceSession):\n"
        "    def run(self, *args, **kwargs):\n"
        "        os.abort()\n"
        "real.InferenceSession = Crashing\n"
    )
    job, table = run_job_with_runtime(tmp_path, crash_on_run)
    assert job.returncode == 0, job.stderr[-2000:]
    assert table["latency_status"].tolist() == ["failed", "failed"]
    assert table["latency_reason"][0] == (
        "the timing process died (signal 6 (SIGABRT); then signal 6 (SIGABRT)): a crash in ONNX Runtime"
    )
