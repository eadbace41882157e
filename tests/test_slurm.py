"""The workflow on a real SLURM cluster (cluster/slurm_check.py): the tiny search through the
executor plugin and profiles/slurm, interrupted and resumed, compared with the local run.

CI installs SLURM and, as root, brings up the one-node cluster of cluster/localhost-slurm.sh.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
import venv
from pathlib import Path

import pytest

from cluster.slurm_check import cluster_answers, layout, sacct_jobs, start_localhost_cluster

from .conftest import tiny_config
from .workflow import ROOT


@pytest.fixture(scope="module")
def slurm_python(tmp_path_factory) -> str:
    """An interpreter that sees the test environment plus the `slurm` extra (the executor
    plugin), which the test environment leaves out, as a user's machine without SLURM would."""
    folder = tmp_path_factory.mktemp("slurm-venv")
    venv.create(folder, with_pip=True)
    python = folder / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True
    ).stdout.strip()
    # The test environment's packages (and its .pth files, popnas' editable install among them).
    (Path(site) / "popnas-test-environment.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n"
    )
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["slurm"]
    install = subprocess.run([python, "-m", "pip", "install", "-q", *extra], capture_output=True, text=True)
    if install.returncode != 0:
        pytest.skip(f"cannot install {extra}: {install.stderr.strip().splitlines()[-1:]}")
    return str(python)


@pytest.fixture(scope="module")
def slurm_cluster():
    """A SLURM cluster that answers: the one running, or the one-node cluster started here."""
    if shutil.which("sbatch") is None:
        pytest.skip("SLURM is not installed (.ci/run installs it; or: sudo cluster/localhost-slurm.sh up)")
    if not cluster_answers():
        if os.geteuid() != 0:
            pytest.skip("no SLURM cluster answers, and starting one needs root: sudo cluster/localhost-slurm.sh up")
        start_localhost_cluster()


def test_layout_masks_cell_ids(tmp_path):
    for name in ("cells/0123456789ab/result.json", "cells/ba9876543210/result.json", "popnas/b1/trained.csv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert layout(tmp_path) == {"cells/<cell>/result.json", "popnas/b1/trained.csv"}


def test_sacct_rows_name_their_rule_and_wildcards(monkeypatch):
    listing = (
        "41|run|COMPLETED|12|2026-11-28T04:00:00|2026-11-28T04:00:01|2026-11-28T04:00:13|"
        "rule_train_cell_wildcards_0123456789ab|cpu=4,gres/gpu=1\n"
        "42|run|CANCELLED by 0|3|2026-11-28T04:00:00|2026-11-28T04:00:02|2026-11-28T04:00:05|"
        "rule_fit_predictors_wildcards_2|cpu=4\n"
    )
    steps = "41|COMPLETED\n41.batch|COMPLETED\n41.0|COMPLETED\n42|CANCELLED by 0\n42.batch|CANCELLED\n42.0|COMPLETED\n"

    def sacct(command, **kwargs):
        return subprocess.CompletedProcess(command, 0, stdout=steps if "-j" in command else listing, stderr="")

    monkeypatch.setattr(subprocess, "run", sacct)
    jobs = sacct_jobs(["run"], "2026-01-01T00:00:00")
    assert [(j["JobID"], j["rule"], j["wildcards"], j["State"], j["work_state"]) for j in jobs] == [
        ("41", "train_cell", "0123456789ab", "COMPLETED", "COMPLETED"),
        ("42", "fit_predictors", "2", "CANCELLED", "COMPLETED"),  # its rule done, the batch script cancelled
    ]


def test_slurm_profile_sizes_each_rule_of_a_paper_search(slurm_python, tmp_path):
    command = [slurm_python, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
               "-n", "--workflow-profile", str(ROOT / "profiles" / "slurm"),
               "--configfile", str(ROOT / "config" / "cifar10.yaml")]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    resources = {}
    for block in run.stdout.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0]
        line = next(line for line in block.splitlines() if line.strip().startswith("resources:"))
        resources.setdefault(rule, line)
    assert "mem_mb=16000" in resources["train_cell"] and "runtime=120" in resources["train_cell"]
    assert "gpu=1" in resources["train_cell"] and "cpus_per_gpu=4" in resources["train_cell"]
    assert "mem_mb=8000" in resources["fit_predictors"] and "runtime=60" in resources["fit_predictors"]
    assert "mem_mb=16000" in resources["expand"] and "gpu" not in resources["expand"]
    assert "runtime=30" in resources["select_b1"] and "gpu" not in resources["select_b1"]


@pytest.mark.slow
def test_tiny_search_on_slurm_resumes_and_writes_what_a_local_run_writes(
    slurm_cluster, slurm_python, tiny_run, tmp_path
):
    local, _ = tiny_run
    run = subprocess.run(
        [
            slurm_python,
            str(ROOT / "cluster" / "slurm_check.py"),
            "--workdir",
            str(tmp_path / "slurm"),
            "--reference",
            str(local / "results" / "tiny"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    print(json.dumps(summary, indent=2))  # the figures, with `pytest -s`
    assert summary["failures"] == [] and summary["same_files_as_local_run"]
    assert summary["slurm_jobs"]["resumed"]["train_cell"] >= 1
    assert summary["slurm_jobs"]["resumed"]["train_final"] == 1


@pytest.mark.slow
def test_a_job_knows_when_slurm_will_end_it(slurm_cluster, tmp_path):
    out = tmp_path / "end.txt"
    code = "from popnas_steps.devices import slurm_end_time; print(slurm_end_time())"
    before = time.time()
    subprocess.run(
        ["sbatch", "--wait", "-t", "3", "--mem", "100", "-o", str(out), "--wrap", f"{sys.executable} -c '{code}'"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    after = time.time()
    end = float(out.read_text())
    assert before - 1 <= end - 3 * 60 <= after + 1  # started between our two clocks, ends 3 minutes later


@pytest.mark.slow
def test_a_training_stops_before_its_slurm_time_limit_as_a_failed_result(slurm_cluster, tiny_data, tmp_path):
    (tmp_path / "settings.json").write_text(json.dumps(tiny_config(training={"epochs": 20000})))
    job = tmp_path / "job.sh"
    job.write_text(
        f"#!/bin/bash\n{sys.executable} -m popnas_steps.cli.train_cell "
        f'--settings "$(cat {tmp_path / "settings.json"})" --data {tiny_data} '
        f'--cell \'[[-1, "identity", -2, "identity"]]\' --out {tmp_path / "cell"}\n'
    )
    job.chmod(0o755)
    run = subprocess.run(
        [
            "sbatch",
            "--wait",
            "--parsable",
            "-t",
            "1",
            "--gpus=1",
            "--mem",
            "2000",
            "-o",
            str(tmp_path / "job.log"),
            str(job),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, (tmp_path / "job.log").read_text()[-3000:]  # the job ended well, not killed
    result = json.loads((tmp_path / "cell" / "result.json").read_text())
    assert result["status"] == "failed" and result["reason"].startswith("TimeLimit: time limit: stopped in epoch")
    assert result["placement"]["slurm_job_id"] == run.stdout.strip()


@pytest.mark.slow
def test_a_final_training_stopped_by_its_slurm_time_limit_resumes_in_the_next_job(slurm_cluster, tiny_data, tmp_path):
    from popnas_steps.checkpoints import latest_epoch

    epochs = 500  # more than a 1-minute job trains here (~300), few enough for the next to finish
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(tiny_config(final={"epochs": epochs, "first_period": 2})))
    out = tmp_path / "final"
    job = tmp_path / "job.sh"
    job.write_text(
        f'#!/bin/bash\n{sys.executable} -m popnas_steps.cli.final train --settings "$(cat {settings})" '
        f'--data {tiny_data} --cell \'[[-1, "identity", -2, "identity"]]\' --out {out}\n'
    )
    job.chmod(0o755)
    logs, kept = [], []
    for attempt in range(4):  # each job resumes where the one before stopped
        logs.append(tmp_path / f"job{attempt}.log")
        limit = "1" if attempt == 0 else "3"
        run = subprocess.run(
            ["sbatch", "--wait", "--parsable", "-t", limit, "--gpus=1", "--mem", "2000", "-o", str(logs[-1]), str(job)],
            capture_output=True,
            text=True,
            timeout=400,
        )
        kept.append(latest_epoch(out / "checkpoint"))
        if run.returncode == 0:
            break
        text = logs[-1].read_text()
        assert f"resumes from epoch {kept[-1] + 1}" in text, text[-3000:]  # the job says how it goes on
    assert attempt >= 1, f"the first job finished all {epochs} epochs within its time limit: raise `epochs`"
    assert 0 < kept[0] < epochs
    assert f"resuming from epoch {kept[-2] + 1} of {epochs}" in logs[-1].read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    history = json.loads((out / "history.json").read_text())
    assert metrics["epochs"] == epochs and metrics["resumed_from_epoch"] == kept[-2]
    assert [e["epoch"] for e in history] == list(range(1, epochs + 1))
    print(json.dumps({"jobs": attempt + 1, "epochs_kept_after_each_stop": kept[:-1], "epochs": epochs}))
