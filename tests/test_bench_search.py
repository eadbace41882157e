"""bench/bench_search.py: a baseline stopped at POPNASv2's summed t (the equal-cost stop)."""

import json

import pandas as pd
import pytest

from bench.bench_search import at_cost, operator_usage
from popnas_steps import tables


def write_steps(steps, rows: list[tuple[int, str, float, float]]) -> None:
    """Trained tables of a run's steps from (b, cell id, t, validation accuracy) rows."""
    table = pd.DataFrame(
        [{"cell_id": cell, "cell": json.dumps([[-1, "identity", -1, "identity"]] * b), "b": b, "origin": "pareto",
          "status": "ok", "accuracy": accuracy, "time": t, "params": 10, "predicted_accuracy": None,
          "predicted_time": None, "reason": None} for b, cell, t, accuracy in rows]
    )  # fmt: skip
    for b, group in table.groupby("b"):
        tables.write("trained", group, steps / f"b{b}" / "trained.csv")


def test_a_run_stopped_at_the_first_runs_cost_reports_its_best_cell_there(tmp_path):
    steps = tmp_path / "results" / "r-random" / "random"
    write_steps(steps, [(0, "e", 1.0, 0.2), (1, "a", 2.0, 0.5), (2, "b", 3.0, 0.7), (2, "c", 4.0, 0.9)])
    for cell, accuracy in (("b", 0.68), ("c", 0.88)):  # their final trainings, done before
        (steps / "final" / cell).mkdir(parents=True)
        (steps / "final" / cell / "metrics.json").write_text(json.dumps({"test_accuracy": accuracy}))
    stopped = at_cost(steps, 5.0, [], "r-random")  # c starts at 6 s: past the first run's 5 s
    assert stopped == {
        "networks": 3,
        "networks_per_step": {0: 1, 1: 1, 2: 1},
        "summed_training_seconds": 6.0,
        "top1_cell": "b",
        "top1_val_accuracy": 0.7,
        "top1_test_accuracy_after_final_training": 0.68,
    }
    assert at_cost(steps, 6.5, [], "r-random")["top1_cell"] == "c"


def test_operator_usage_counts_both_operators_of_every_block_at_the_steps_past_b1():
    def row(b, cell, status="ok"):
        return {"cell": json.dumps(cell), "b": b, "status": status}

    trained = pd.DataFrame(
        [
            row(1, [[-1, "5x5 conv", -1, "5x5 conv"]]),  # shared b=1: not counted
            row(2, [[-1, "identity", -2, "3x3 conv"], [0, "3x3 conv", -1, "3x3 conv"]]),
            row(2, [[-1, "identity", -1, "identity"], [0, "identity", 0, "identity"]], status="failed"),
        ]
    )
    usage = operator_usage(trained, ["identity", "3x3 conv", "5x5 conv"])
    assert usage["uses_b_ge_2"] == {"identity": 1, "3x3 conv": 3, "5x5 conv": 0}
    assert usage["share_b_ge_2"] == {"identity": 0.25, "3x3 conv": 0.75, "5x5 conv": 0.0}


@pytest.mark.slow
def test_a_run_restored_from_its_committed_results_trains_nothing_again(tiny_run, tmp_path):
    # what a session leaves committed: each cell's result.json and history.csv, no data, no models
    from bench.bench_search import restore
    from bench.common import ROOT

    from .workflow import TINY_ARGS, snakemake

    committed = tmp_path / "committed" / "tiny" / "cells"
    for result in (tiny_run[0] / "results" / "tiny" / "cells").glob("*/result.json"):
        (committed / result.parent.name).mkdir(parents=True)
        (committed / result.parent.name / "result.json").write_bytes(result.read_bytes())
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "tiny.yaml").write_text((ROOT / "config" / "tiny.yaml").read_text())
    restored = restore(workdir, tmp_path / "committed", "tiny", [workdir / "tiny.yaml"])
    assert restored == len(list(committed.iterdir())) > 11
    run = snakemake(workdir, "search", *TINY_ARGS, check=True)  # the steps are remade from the results
    assert "rule train_cell" not in run.stdout + run.stderr, run.stdout[-2000:]  # and no cell is trained again
    for b in (2, 3):
        steps = [folder / "results" / "tiny" / "popnas" / f"b{b}" / "selected.csv" for folder in (tiny_run[0], workdir)]
        ids = [pd.read_csv(path, dtype={"cell_id": str})["cell_id"].tolist() for path in steps]
        assert ids[0] == ids[1]  # the same selections (their latencies are measured again)
