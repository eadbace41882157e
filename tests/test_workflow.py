"""The Snakemake workflow, run for real: a tiny search on digits (real Keras training),
killed mid-step and resumed, then rerun step by step; dry runs of the paper configs."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess

import pandas as pd
import pytest

from .workflow import ROOT, TINY, TINY_ARGS, bare_env, job_counts, snakemake


def copy_of(tiny_run, folder):
    """A copy of the session's tiny run (with Snakemake's records) in `folder`/run, for a test
    that changes it: the fixture's run stays as it finished, whatever order tests run in."""
    workdir = folder / "run"
    shutil.copytree(tiny_run[0], workdir, symlinks=True)
    return workdir


REPORT_RULES = [
    "report_pareto",
    "report_predictors",
    "report_usage",
    "report_anytime",
    "report_tables",
    "report_ablation",
    "report_cells",
    "report_final",
    "draw_final_cell",
]


def test_workflow_runs_from_the_test_environment_without_optional_tools(tmp_path):
    # what every workflow test sees: no graphviz, browser, SLURM or CUDA tool on PATH
    hidden = "dot chromium chromium-browser sinfo sacct squeue sbatch scancel nvidia-smi"
    found = subprocess.run(["bash", "-c", f"command -v {hidden}"], env=bare_env(), capture_output=True, text=True)
    assert found.returncode != 0 and found.stdout == ""
    # the README's main command, dry: no executor plugin may stop it where SLURM is missing
    run = snakemake(tmp_path, "-n", "--cores", "all", "--resources", "gpu=1", check=True)
    assert job_counts(run.stdout)["train_cell"] == 37  # the thrust and the 36 one-block cells of the default


def test_bad_config_stops_before_any_job(tmp_path):
    (tmp_path / "bad.yaml").write_text("training: {epochs: -3}\nsearch: {beems: 3}\n")
    run = snakemake(tmp_path, "--cores", "1", "--configfile", "bad.yaml", "-n")
    assert run.returncode != 0
    output = run.stderr + run.stdout
    assert "'training.epochs': -3 is less than the minimum of 1" in output
    assert "unknown config key search.beems" in output
    assert not (tmp_path / "results").exists()


@pytest.fixture
def full_disk(tmp_path):
    """results/ of `tmp_path` on a small file system filled to the last byte (a tmpfs: needs
    the right to mount one, as root in most containers)."""
    results = tmp_path / "results"
    results.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(results)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root and the right to mount): no disk to fill")
    try:
        with open(results / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"x" * 4096)
            except OSError:
                pass  # full
        yield tmp_path
    finally:
        subprocess.run(["umount", "-l", str(results)], check=True)


def test_a_job_failing_on_a_full_disk_says_why_though_its_log_is_empty(full_disk):
    run = snakemake(full_disk, "--cores", "1", "results/default/data/metadata.json")
    assert run.returncode != 0
    log = full_disk / "results" / "default" / "logs" / "prepare_data.log"
    assert log.is_file() and log.stat().st_size == 0  # the job's own error was lost
    assert "job log(s) written by this run are empty, so they cannot say why their job failed" in run.stderr
    assert "results/default/logs/prepare_data.log" in run.stderr and "the disk is (nearly) full" in run.stderr


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "fashion_mnist", "eurosat"])
def test_paper_configs_dry_run(tmp_path, name):
    # how long this takes is bench/bench_scale.py's figure, not an assertion here
    run = snakemake(tmp_path, "-n", "--cores", "2", "--configfile", str(ROOT / "config" / f"{name}.yaml"), check=True)
    counts = job_counts(run.stdout)
    # up to the first checkpoint: the thrust and the 300 one-block cells of the 12 operators
    assert counts["train_cell"] == 301
    assert counts["fit_predictors"] == counts["expand"] == counts["pareto"] == counts["select"] == 4  # b = 2..5
    assert counts["collect"] == 6 and counts["prepare_data"] == 1
    assert f"results/{name}/popnas/b5/trained.csv" in run.stdout


def test_pnas_overlay_dry_run(tmp_path):
    run = snakemake(
        tmp_path,
        "-n",
        "--cores",
        "2",
        "--configfile",
        str(ROOT / "config" / "cifar10.yaml"),
        str(ROOT / "config" / "pnas.yaml"),
        check=True,
    )
    assert job_counts(run.stdout)["train_cell"] == 301
    assert "results/cifar10/pnas/b5/trained.csv" in run.stdout


@pytest.mark.slow
def test_killed_run_resumes_without_retraining_finished_cells(tiny_run):
    workdir, finished = tiny_run
    cells = workdir / "results" / "tiny" / "cells"
    for cell_id, mtime in finished.items():
        assert (cells / cell_id / "result.json").stat().st_mtime_ns == mtime, f"{cell_id} was retrained"
    steps = workdir / "results" / "tiny" / "popnas"
    b1 = pd.read_csv(steps / "b1" / "trained.csv")
    assert len(b1) == 10 and (b1["status"] == "ok").all()  # 2 operators: 4 * 5 / 2 one-block cells


@pytest.mark.slow
def test_tiny_search_runs_every_phase(tiny_run):
    workdir, _ = tiny_run
    steps = workdir / "results" / "tiny" / "popnas"
    for b in (2, 3):
        trained = pd.read_csv(steps / f"b{b}" / "trained.csv")
        pareto = pd.read_csv(steps / f"b{b}" / "pareto.csv")
        assert 1 <= len(pareto) <= 2
        assert set(trained["origin"]) <= {"pareto", "exploration"}
        assert trained["predicted_accuracy"].notna().all() and trained["predicted_time"].notna().all()
        assert (trained["b"] == b).all() and trained["cell_id"].is_unique
        candidates = pd.read_parquet(steps / f"b{b}" / "candidates.parquet")
        assert set(pareto["cell_id"]) <= set(candidates["cell_id"])
    assert pd.read_csv(steps / "b3" / "exploration.csv").empty  # no exploration at the last step
    time_predictor = steps / "b2" / "predictors" / "time"  # work_nnls, the default: a linear model
    assert json.loads((time_predictor / "info.json").read_text())["kind"] == "work_nnls"
    assert (time_predictor / "linear.json").is_file()
    context = json.loads((steps / "b2" / "predictors" / "context.json").read_text())
    assert context["data"] == {"input_shape": [8, 8, 1], "num_classes": 10}  # the work counts' data shape
    reindex = pd.read_csv(steps / "b1" / "reindex.csv")
    assert reindex["reindex"].between(0, 1).all() and reindex["reindex"].max() == 1
    # The devices settings reached the jobs ($POPNAS_DEVICES): warm workers trained the cells.
    results = [json.loads(p.read_text()) for p in (workdir / "results" / "tiny" / "cells").glob("*/result.json")]
    assert all(result["worker"] is not None for result in results)
    assert all(result["sharing"]["trainings_per_gpu"] == 1 for result in results)
    assert (pd.read_csv(steps / "b2" / "trained.csv")["concurrent"] >= 1).all()


@pytest.mark.slow
def test_rerun_of_a_step_retrains_nothing_and_selects_the_same(tiny_run, tmp_path):
    workdir = copy_of(tiny_run, tmp_path)
    steps = workdir / "results" / "tiny" / "popnas"
    args = TINY_ARGS
    assert "Nothing to be done" in snakemake(workdir, "-n", *args, check=True).stdout
    before = {b: (steps / f"b{b}" / "selected.csv").read_text() for b in (2, 3)}
    results = {p: p.stat().st_mtime_ns for p in (workdir / "results" / "tiny" / "cells").glob("*/result.json")}
    # rerun step 2 from its predictors on: same config and cached results, same selections
    run = snakemake(workdir, *args, "--forcerun", "fit_predictors", check=True)
    assert "rule train_cell" not in run.stdout + run.stderr
    assert {b: (steps / f"b{b}" / "selected.csv").read_text() for b in (2, 3)} == before
    assert {p: p.stat().st_mtime_ns for p in results} == results
    # a change of the predictor settings reruns the steps but trains only cells never trained
    (workdir / "other.yaml").write_text(TINY.replace("accuracy: {epochs: 3}", "accuracy: {epochs: 4}"))
    dry = snakemake(workdir, "-n", "--cores", "2", "--configfile", "other.yaml", check=True)
    counts = job_counts(dry.stdout)
    assert counts["fit_predictors"] >= 1 and counts.get("train_cell", 0) == 0 and "prepare_data" not in counts
    # a change of the training recipe invalidates the trainings
    (workdir / "recipe.yaml").write_text(TINY.replace("epochs: 2,", "epochs: 3,"))
    dry = snakemake(workdir, "-n", "--cores", "2", "--configfile", "recipe.yaml", check=True)
    assert job_counts(dry.stdout)["train_cell"] == 11  # thrust + b=1, up to the first checkpoint
    # TensorBoard turned on changes no result: nothing trains again, only the search's event file is made
    dry = snakemake(workdir, "-n", "--config", "training={tensorboard: true}", *args, check=True)
    assert set(job_counts(dry.stdout)) == {"report_tensorboard", "all", "total"}, dry.stdout[-3000:]


@pytest.mark.slow
def test_reports_regenerate_from_cached_artefacts_without_training(tiny_run, tmp_path):
    workdir = copy_of(tiny_run, tmp_path)
    report = workdir / "results" / "tiny" / "popnas" / "report"
    files = sorted(report.iterdir())
    assert {f.name for f in files} >= {
        "pareto_b2.png",
        "pareto_b3.png",
        "time_predictor.png",
        "usage.png",
        "anytime.png",
        "top_cells.png",
        "summary.csv",
        "top_networks.csv",
        "predictor_quality.csv",
        "time_ablation.csv",
        "final.csv",
    }
    before = {f: f.stat().st_mtime_ns for f in files}
    run = snakemake(workdir, "report", "--cores", "2", "--configfile", "tiny.yaml", "-R", *REPORT_RULES, check=True)
    log = run.stdout + run.stderr
    assert "rule train_cell" not in log and "rule train_final" not in log
    assert all(f.stat().st_mtime_ns > mtime for f, mtime in before.items()), "a report file was not rewritten"
    final = pd.read_csv(report / "final.csv")
    assert len(final) == 1 and 0 <= final["test_accuracy"][0] <= 1
    drawing = workdir / "results" / "tiny" / "popnas" / "final" / final["cell_id"][0] / "cell.png"
    assert drawing.read_bytes()[:4] == b"\x89PNG" and "digraph" in drawing.with_suffix(".dot").read_text()
    # the deployment export: every format ok where the deploy extra is installed, else unavailable
    export = json.loads(drawing.with_name("export.json").read_text())
    assert set(export["formats"]) == {"onnx", "litert", "litert_int8"}
    for name, result in export["formats"].items():
        assert result["status"] in ("ok", "unavailable"), (name, result)
        if name != "litert_int8" and result["status"] == "ok":
            assert result["top1_agreement"] == 1.0 and final[f"{name}_top1_agreement"][0] == 1.0


@pytest.mark.slow
def test_a_failed_drawing_keeps_the_final_training_and_a_rerun_does_not_retrain(tiny_run, tmp_path):
    workdir = copy_of(tiny_run, tmp_path)
    final = workdir / "results" / "tiny" / "popnas" / "final"
    cell_id = pd.read_csv(final / "selected.csv", dtype={"cell_id": str})["cell_id"][0]
    for path in sorted((final / cell_id).rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    # a machine whose plotting library is broken: the drawing fails after the training
    broken = tmp_path / "broken" / "matplotlib"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('matplotlib is broken on this machine (test)')\n")
    env = {**bare_env(), "PYTHONPATH": str(broken.parent)}
    target = f"results/tiny/popnas/final/{cell_id}/cell.png"
    run = snakemake(workdir, target, *TINY_ARGS, env=env)  # after --configfile, a target would be a config
    assert run.returncode != 0 and "rule draw_final_cell" in run.stdout + run.stderr
    metrics = final / cell_id / "metrics.json"
    assert json.loads(metrics.read_text())["cell_id"] == cell_id and (final / cell_id / "model.keras").is_file()
    trained_at = metrics.stat().st_mtime_ns
    rerun = snakemake(workdir, target, *TINY_ARGS, check=True)
    assert "rule train_final" not in rerun.stdout + rerun.stderr
    assert metrics.stat().st_mtime_ns == trained_at and (final / cell_id / "cell.png").is_file()


@pytest.mark.slow
def test_html_report_holds_every_figure(tiny_run, tmp_path):
    workdir = copy_of(tiny_run, tmp_path)
    snakemake(workdir, "--configfile", "tiny.yaml", "--report", "report.html", check=True)
    html = (workdir / "report.html").read_text()
    for name in (
        "pareto_b2.png",
        "time_predictor.png",
        "accuracy_predictor.png",
        "latency_predictor.png",
        "usage.png",
        "anytime.png",
        "top_cells.png",
    ):
        assert f'"{name}"' in html


@pytest.mark.slow
def test_html_report_shows_the_figures_in_a_real_browser(tiny_run, tmp_path):
    from .browser import CHROMIUM, displayed_figures

    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium)")
    workdir = copy_of(tiny_run, tmp_path / "run")
    snakemake(workdir, "--configfile", "tiny.yaml", "--report", "report.html", check=True)
    figures = displayed_figures(
        workdir / "report.html", ["Pareto fronts", "Predictors", "Search"], tmp_path / "report.png"
    )
    assert set(figures) == {
        "pareto_b2.png",
        "pareto_b3.png",
        "time_predictor.png",
        "accuracy_predictor.png",
        "latency_predictor.png",
        "usage.png",
        "anytime.png",
        "top_cells.png",
    }
    assert all(width > 300 and height > 200 for width, height in figures.values())


@pytest.mark.slow
def test_damaged_or_missing_artefacts_are_made_again_and_a_broken_machine_records_nothing(tiny_run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run[0], workdir, symlinks=True)
    run, steps = workdir / "results" / "tiny", workdir / "results" / "tiny" / "popnas"
    b1_cell, damaged_cell = pd.read_csv(steps / "b1" / "trained.csv", dtype={"cell_id": str})["cell_id"][[3, 5]]
    (run / "cells" / b1_cell / "result.json").unlink()
    damaged = run / "cells" / damaged_cell / "result.json"
    damaged.write_text(damaged.read_text()[:150])
    candidates = steps / "b2" / "candidates.parquet"
    candidates.write_bytes(candidates.read_bytes()[:1000])
    dry = snakemake(workdir, "search", "-n", *TINY_ARGS, check=True)
    log = dry.stdout + dry.stderr
    assert f"'results/tiny/popnas/b1/trained.csv' lacks the results of {b1_cell}" in log
    assert f"result 'results/tiny/cells/{damaged_cell}/result.json' is not valid JSON" in log
    assert "table 'results/tiny/popnas/b2/candidates.parquet' cannot be read" in log
    counts = job_counts(dry.stdout)
    assert counts["train_cell"] == 2 and counts["collect"] >= 2 and counts["expand"] == 2

    # a machine whose TensorFlow does not load: the training job fails and records nothing
    broken = tmp_path / "broken" / "tensorflow"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('libcudart.so.12: cannot open shared object file (test)')\n")
    env = {**bare_env(), "PYTHONPATH": str(broken.parent)}
    failed = snakemake(workdir, "search", "--keep-going", *TINY_ARGS, env=env)
    assert failed.returncode != 0
    for cell_id in (b1_cell, damaged_cell):
        assert not (run / "cells" / cell_id / "result.json").exists()
        assert "could not train on this machine" in (run / "cells" / cell_id / "job.log").read_text()
    assert (steps / "b1" / "trained.csv").is_file()  # a finished table is never lost on the way

    # the machine repaired: one run trains the missing and damaged cells and remakes what follows
    snakemake(workdir, "search", *TINY_ARGS, check=True)
    for cell_id in (b1_cell, damaged_cell):
        assert json.loads((run / "cells" / cell_id / "result.json").read_text())["cell_id"] == cell_id
    assert b1_cell in set(pd.read_csv(steps / "b1" / "trained.csv", dtype={"cell_id": str})["cell_id"])
    assert len(pd.read_parquet(candidates)) > 0
    assert "Nothing to be done" in snakemake(workdir, "search", "-n", *TINY_ARGS, check=True).stdout


@pytest.mark.slow
def test_a_copied_run_checks_its_files_provenance_against_the_config(tiny_run, tmp_path):
    # moved as docs/running.md says, without .snakemake/: no params trigger is left to help
    workdir = tmp_path / "copy"
    shutil.copytree(tiny_run[0], workdir, symlinks=True, ignore=shutil.ignore_patterns(".snakemake"))
    # judged by mtimes alone (no test changes the fixture's run: each changes a copy)
    assert "Nothing to be done" in snakemake(workdir, "-n", *TINY_ARGS, check=True).stdout
    for change, said in [
        ("training={epochs: 3}", "were trained with training.epochs = 2, but the config has 3"),
        ("seed=8", "'results/tiny/data' was prepared with seed = 42, but the config has 8"),  # so the cells too
        ("network={filters: 32}", "were trained with network.filters = 4, but the config has 32"),
    ]:
        dry = snakemake(workdir, "-n", *TINY_ARGS, "--config", change, check=True)
        assert said in dry.stdout + dry.stderr, dry.stdout[-3000:] + dry.stderr[-3000:]
        assert job_counts(dry.stdout)["train_cell"] == 11  # thrust + b=1, up to the first checkpoint
    dry = snakemake(workdir, "-n", *TINY_ARGS, "--config", "dataset={image_size: [16, 16]}", check=True)
    assert "was prepared with dataset.image_size" in dry.stdout + dry.stderr
    assert job_counts(dry.stdout)["prepare_data"] == 1


@pytest.mark.slow
def test_a_new_final_selection_that_keeps_a_cell_does_not_train_it_again(tiny_run, tmp_path):
    workdir = tmp_path / "top"
    shutil.copytree(tiny_run[0], workdir, symlinks=True)
    final = workdir / "results" / "tiny" / "popnas" / "final"
    winner = pd.read_csv(final / "selected.csv", dtype={"cell_id": str})["cell_id"][0]
    trained_at = (final / winner / "metrics.json").stat().st_mtime_ns
    snakemake(workdir, *TINY_ARGS, "--config", "final={top: 2}", check=True)
    assert len(pd.read_csv(final / "selected.csv")) == 2
    run = snakemake(workdir, *TINY_ARGS, "--config", "final={top: 1}", check=True)  # top 2 -> 1
    log = run.stdout + run.stderr
    assert "rule train_final" not in log and job_counts(log)["select_final"] == 1, log[-3000:]
    assert (final / winner / "metrics.json").stat().st_mtime_ns == trained_at


@pytest.mark.slow
def test_a_new_final_winner_trains_itself_and_the_run_does_not_fail(tiny_run, tmp_path):
    workdir = tmp_path / "winner"
    shutil.copytree(tiny_run[0], workdir, symlinks=True)
    run_dir = workdir / "results" / "tiny"
    final = run_dir / "popnas" / "final"
    old = pd.read_csv(final / "selected.csv", dtype={"cell_id": str})["cell_id"][0]
    trained_at = (final / old / "metrics.json").stat().st_mtime_ns
    b3 = pd.read_csv(run_dir / "popnas" / "b3" / "trained.csv", dtype={"cell_id": str})
    new = next(cell for cell, status in zip(b3["cell_id"], b3["status"], strict=True) if cell != old and status == "ok")
    result = run_dir / "cells" / new / "result.json"
    result.write_text(json.dumps({**json.loads(result.read_text()), "accuracy": 1.0}))  # it wins now
    # Snakemake 9 reruns the checkpoint select_final in the run after the one that collected
    # the new result (docs/running.md): the winner changes there, which failed with a KeyError
    logs = ""
    for _ in range(2):
        run = snakemake(workdir, *TINY_ARGS)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        logs += run.stdout + run.stderr
    assert pd.read_csv(final / "selected.csv", dtype={"cell_id": str})["cell_id"].tolist() == [new]
    assert json.loads((final / new / "metrics.json").read_text())["cell_id"] == new
    assert (final / old / "metrics.json").stat().st_mtime_ns == trained_at  # kept, not trained again
    assert logs.count("rule train_final:") == 1


@pytest.mark.slow
def test_a_new_objective_makes_new_fronts_without_fitting_again_or_retraining_a_cell(tiny_run, tmp_path):
    workdir = tmp_path / "objective"
    shutil.copytree(tiny_run[0], workdir, symlinks=True)
    cells = workdir / "results" / "tiny" / "cells"
    trained = {path.parent.name: path.stat().st_mtime_ns for path in cells.glob("*/result.json")}
    # with the deploy extra (CI installs it), latency: measured for every network, predicted
    latency = importlib.util.find_spec("onnxruntime") is not None
    objective = "[latency, params]" if latency else "[time, params]"
    logs = ""
    for _ in range(2):  # Snakemake 9 reruns what follows a changed checkpoint one run later (docs/running.md)
        run = snakemake(workdir, *TINY_ARGS, "--config", f"search={{objective: {objective}, max_params: 5000}}")
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        logs += run.stdout + run.stderr
    # b2's predictors and scores read only b <= 1: kept; b3's are fitted again on b2's new cells
    for kept in ("b2/predictors", "b2/candidates.parquet"):
        assert f"output: results/tiny/popnas/{kept}" not in logs, logs[-3000:]
    assert "output: results/tiny/popnas/b2/pareto.csv" in logs
    for cell_id, mtime in trained.items():
        assert (cells / cell_id / "result.json").stat().st_mtime_ns == mtime, f"{cell_id} was trained again"
    steps = workdir / "results" / "tiny" / "popnas"
    for b in (2, 3):
        chosen = pd.read_csv(steps / f"b{b}" / "trained.csv", dtype={"cell_id": str})
        params = {
            cell_id: json.loads((cells / cell_id / "result.json").read_text())["params"]
            for cell_id in chosen["cell_id"]
        }
        assert all(count <= 5000 for count in params.values()), params
        if latency:  # every trained network has its latency, and every selected one its prediction
            assert chosen["latency_ms"].gt(0).all() and chosen["predicted_latency"].gt(0).all(), chosen


def objective_keeping_b2(steps, scratch) -> dict:
    """A search.objective whose front of b2 is the run's (so b2's selection stays the same),
    found by cutting b2's cached candidates as the pareto rule would; a cap no candidate
    reaches where none is, which reruns the same rules."""
    from popnas_steps.cli import step
    from popnas_steps.config import validate

    tiny = {"search": {"beam": 2, "operators": ["3x3 conv", "identity"]},
            "network": {"motifs": 1, "normal_cells": 1, "filters": 4}}  # fmt: skip
    front = pd.read_csv(steps / "b2" / "pareto.csv", dtype={"cell_id": str})["cell_id"].tolist()
    for objective in (["latency"], ["time", "latency"], ["time", "params"], ["params"], ["latency", "params"]):
        config = validate({**tiny, "search": {**tiny["search"], "objective": objective}})
        try:
            step.pareto(config, steps / "b2" / "candidates.parquet", scratch / "b2" / "pareto.csv")
        except ValueError:  # no latency predicted (no ONNX Runtime)
            continue
        if pd.read_csv(scratch / "b2" / "pareto.csv", dtype={"cell_id": str})["cell_id"].tolist() == front:
            return {"objective": objective}
    return {"max_params": 10**9}


@pytest.mark.slow
def test_a_new_objective_that_keeps_the_selections_fits_no_predictor_again(tiny_run, tmp_path):
    workdir = tmp_path / "same-fronts"
    shutil.copytree(tiny_run[0], workdir, symlinks=True)
    steps = workdir / "results" / "tiny" / "popnas"
    change = objective_keeping_b2(steps, tmp_path / "scratch")
    trained = (steps / "b2" / "trained.csv").stat().st_mtime_ns
    run = snakemake(workdir, *TINY_ARGS, "--config", f"search={json.dumps(change)}", check=True)
    logs = run.stdout + run.stderr
    assert "rule pareto:" in logs and "checkpoint select:" in logs  # the fronts and selections made again
    # Snakemake kept "updated by another job" for the jobs after the select checkpoint, though
    # it selected the same cells: b3's predictors were fitted again and its candidates scored
    for rule in ("fit_predictors", "expand", "collect", "train_cell"):
        assert f"rule {rule}:" not in logs, (change, logs[-3000:])
    assert (steps / "b2" / "trained.csv").stat().st_mtime_ns == trained
    assert "Nothing to be done" in snakemake(workdir, "-n", *TINY_ARGS, "--config", f"search={json.dumps(change)}",
                                             check=True).stdout  # fmt: skip


@pytest.mark.slow
def test_a_step_emptied_by_max_params_ends_the_search_and_trains_the_final_networks(tiny_run, tmp_path):
    workdir = tmp_path / "capped"
    shutil.copytree(tiny_run[0], workdir, symlinks=True)
    steps = workdir / "results" / "tiny" / "popnas"
    run = snakemake(workdir, *TINY_ARGS, "--config", "search={max_params: 1}")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    selected = (steps / "logs" / "select_b2.log").read_text()
    assert selected.startswith("b2: nothing to select: no candidate of step b2 is within search.max_params = 1")
    assert "step b2 selected no cell" in (steps / "logs" / "select_b3.log").read_text()
    assert pd.read_csv(steps / "b3" / "trained.csv").empty
    final = pd.read_csv(steps / "report" / "final.csv", dtype={"cell_id": str})
    assert len(final) == 1 and (steps / "final" / final["cell_id"].iloc[0] / "metrics.json").is_file()
