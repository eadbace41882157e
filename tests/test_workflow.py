"""The Snakemake workflow itself, run for real on digits with tiny settings."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]

TINY = """
run: tiny
network: {motifs: 1, normal_cells: 1, filters: 4}
training: {epochs: 1, batch_size: 64, horizontal_flip: false}
"""


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True, cwd=workdir)


def test_bad_config_stops_before_any_job(tmp_path):
    (tmp_path / "bad.yaml").write_text("training: {epochs: -3}\n")
    run = snakemake(tmp_path, "--cores", "1", "--configfile", "bad.yaml", "-n")
    assert run.returncode != 0
    assert "'training.epochs': -3 is less than the minimum of 1" in run.stderr + run.stdout


@pytest.mark.slow
def test_initial_thrust_runs_end_to_end(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY)
    run = snakemake(tmp_path, "--cores", "2", "--resources", "gpu=1", "--configfile", "tiny.yaml")
    assert run.returncode == 0, run.stderr[-3000:]
    trained = pd.read_csv(tmp_path / "results" / "tiny" / "b0" / "trained.csv")
    assert trained["status"].tolist() == ["ok"] and trained["origin"].tolist() == ["thrust"]
    assert 0 < trained["time"][0] and 0 <= trained["accuracy"][0] <= 1
    again = snakemake(tmp_path, "--cores", "2", "--resources", "gpu=1", "--configfile", "tiny.yaml", "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
