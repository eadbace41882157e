"""search.budget_hours: the cut of a selection (a pure function, known numbers), and a whole
synthetic search (tests/synthetic.py) held to its budget."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from popnas_steps import space, tables
from popnas_steps.budget import cut
from popnas_steps.config import ConfigError, validate

from .synthetic import run_synthetic_search, synthetic_time, synthetic_wall


def selection(accuracies: list[float]) -> pd.DataFrame:
    return pd.DataFrame({
        "cell_id": [f"{i:012x}" for i in range(len(accuracies))], "cell": ["[]"] * len(accuracies),
        "origin": ["pareto"] * len(accuracies), "predicted_accuracy": accuracies,
        "predicted_time": [10.0] * len(accuracies), "predicted_latency": [float("nan")] * len(accuracies),
    })  # fmt: skip


def test_cut_keeps_the_most_accurate_cells_that_fit_and_skips_the_rest():
    table = selection([0.5, 0.9, 0.7, 0.6])
    seconds = pd.Series([100.0, 300.0, 500.0, 250.0])
    # 1000 s left: 0.9 (300) fits, 0.7 (500) fits, 0.6 (250) does not (200 left), 0.5 (100) does
    kept, dropped = cut(table, seconds, spent=2600.0, budget=3600.0)
    assert kept["cell_id"].tolist() == ["000000000000", "000000000001", "000000000002"]  # selection order
    assert dropped["cell_id"].tolist() == ["000000000003"]
    assert list(dropped.columns) == tables.COLUMNS["dropped"]
    assert dropped["predicted_seconds"].tolist() == [250.0]
    reason = dropped["reason"].iloc[0]
    assert "spent 0.722 of 1.000 GPU-hours" in reason and "0.056 left" in reason


def test_cut_drops_everything_once_the_budget_is_used_up():
    kept, dropped = cut(selection([0.8, 0.7]), pd.Series([1.0, 1.0]), spent=3700.0, budget=3600.0)
    assert kept.empty and len(dropped) == 2
    assert dropped["reason"].str.startswith("budget used up: spent 1.028 of 1.000 GPU-hours").all()


def test_cut_keeps_everything_within_the_budget_and_never_an_unknown_cost():
    kept, dropped = cut(selection([0.8, 0.7]), pd.Series([10.0, 20.0]), spent=0.0, budget=30.0)
    assert len(kept) == 2 and dropped.empty and list(dropped.columns) == tables.COLUMNS["dropped"]
    kept, dropped = cut(selection([0.8, 0.7]), pd.Series([math.nan, 20.0]), spent=0.0, budget=30.0)
    assert kept["predicted_accuracy"].tolist() == [0.7] and len(dropped) == 1


def test_cut_of_an_empty_selection():
    kept, dropped = cut(selection([]), pd.Series([], dtype=float), spent=10.0, budget=5.0)
    assert kept.empty and dropped.empty
    assert list(kept.columns) == tables.COLUMNS["selected"] and list(dropped.columns) == tables.COLUMNS["dropped"]


def test_raising_the_budget_keeps_the_cells_already_trained():
    # A (400 s), B, C (300 s) in accuracy order, 1000 s spent: 1300 s keeps B, 1400 s alone would keep A
    table, seconds = selection([0.9, 0.8, 0.7]), pd.Series([400.0, 300.0, 300.0])
    kept, _ = cut(table, seconds, spent=1000.0, budget=1300.0)
    assert kept["predicted_accuracy"].tolist() == [0.8]
    assert cut(table, seconds, spent=1000.0, budget=1400.0)[0]["predicted_accuracy"].tolist() == [0.9]
    # B trained under the first budget: it stays, and costs its measured wall (here 250 s) of what is left
    trained = pd.Series([False, True, False])
    measured = seconds.where(~trained, 250.0)
    kept, dropped = cut(table, measured, spent=1000.0, budget=1400.0, trained=trained)
    assert kept["predicted_accuracy"].tolist() == [0.8]  # 150 s left after B: neither A nor C fits
    assert "already trained" in dropped["reason"].iloc[0]
    assert cut(table, measured, spent=1000.0, budget=1700.0, trained=trained)[0]["predicted_accuracy"].tolist() == [
        0.9,
        0.8,
    ]
    # a trained cell stays even where the budget no longer pays for it (lowered), or its wall is unknown
    trained = pd.Series([True, False, True])
    kept, dropped = cut(table, seconds.where(~trained, math.nan), spent=1000.0, budget=900.0, trained=trained)
    assert kept["predicted_accuracy"].tolist() == [0.9, 0.7] and dropped["predicted_accuracy"].tolist() == [0.8]


def test_cut_is_monotone_in_the_budget_given_the_cells_already_trained():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 9))
        table = selection(rng.choice(np.arange(0.0, 1.0, 0.05), n).tolist())
        seconds = pd.Series(rng.uniform(10.0, 500.0, n).round())
        spent = float(rng.uniform(0.0, 1000.0))
        low, high = sorted(rng.uniform(0.0, 3000.0, 2))
        first, _ = cut(table, seconds, spent, low)
        trained = pd.Series(table.index.isin(first.index), index=table.index)  # the first cut's cells trained
        # their measured wall differs from the prediction, either way
        measured = seconds.where(~trained, seconds * rng.uniform(0.5, 1.5, n))
        rerun, _ = cut(table, measured, spent, high, trained=trained)
        assert set(first.index) <= set(rerun.index)
        again, _ = cut(table, measured, spent, low, trained=trained)
        assert set(first.index) <= set(again.index)  # the same budget again: nothing trained is dropped
        assert cut(table, seconds, spent, high, trained=pd.Series(False, index=table.index))[0].equals(
            cut(table, seconds, spent, high)[0]
        )


def test_the_budget_is_overrun_by_the_steps_summed_error_not_by_about_one_network():
    from popnas_steps import budget
    from popnas_steps.budget import overrun_bound, overrun_line, summed_time_errors

    # 100 networks of 100 s predicted; the step's summed time comes out 12 % under (report.py's
    # sum_error_b<b>, -12): the step costs 10000 / 0.88 s, 1364 s over, some 13.6 networks, not one
    assert overrun_bound(10_000.0, -0.12) == pytest.approx(10_000.0 / 0.88 - 10_000.0)
    assert overrun_bound(10_000.0, -0.12) > 13 * 100.0
    assert overrun_bound(10_000.0, 0.05) == 0.0 and overrun_bound(0.0, -0.12) == 0.0  # predicted high: no overrun
    assert overrun_bound(10_000.0, -1.0) == math.inf and math.isnan(overrun_bound(10_000.0, math.nan))
    assert "about one network" not in budget.__doc__ + budget.cut.__doc__
    assert "overrun_bound" in budget.cut.__doc__
    # each step's summed time error as the budget priced it: r * predicted t, r from the steps before it
    cells = pd.DataFrame({
        "b": [1, 1, 2, 2, 3, 3, 3],
        "state": ["ok", "ok", "ok", "ok", "ok", "ok", "failed"],
        "predicted_time": [math.nan, 0.0, 10.0, 10.0, 20.0, 20.0, 20.0],
        "time": [5.0, 6.0, 12.0, 13.0, 20.0, 35.0, math.nan],
    })  # fmt: skip
    # b2: r = 1 (nothing predicted before), 20 predicted of 25: -20 %; b3: r = 25 / 20, 50 of 55
    assert summed_time_errors(cells) == pytest.approx({2: -0.2, 3: 50.0 / 55.0 - 1.0})
    assert summed_time_errors(cells[cells["b"] < 2]) == {}
    # the select step's line: the worst step so far, applied to what this step's cells are predicted to cost
    assert overrun_line(4, 36_000.0, {2: -0.2, 3: -0.05}) == (
        "b4: the budget can be exceeded by up to 2.500 GPU-hours if the 10.000 predicted for this step's cells "
        "err as b2's summed time did (-20.0 %)"
    )
    assert overrun_line(2, 3600.0, {}).startswith("b2: the budget can be exceeded by the error of the 1.000 GPU-hours")


def b2_front_of_three(root):
    """The status tests' run up to b2's selection, its three cells a Pareto front of predicted
    accuracies 0.7, 0.9 and 0.8: the run and its b2 folder."""
    from .test_status import up_to_b2_selection

    run = up_to_b2_selection(root)
    b2 = run.steps / "b2"
    front = tables.read("selected", b2 / "selected.csv").assign(rank=[1, 2, 3], predicted_accuracy=[0.7, 0.9, 0.8])
    tables.write("pareto", front, b2 / "pareto.csv")
    tables.write("exploration", tables.empty("exploration"), b2 / "exploration.csv")
    return run, b2


def test_a_rerun_of_select_with_a_raised_budget_keeps_the_cells_it_already_trained(tmp_path, capsys):
    from popnas_steps.cli import step as step_cli

    from .test_status import B2, CONFIG

    # as above: 36 s spent; 0.7 costs 13 s, 0.9 15 s, 0.8 17 s. With 30 s left the cut keeps
    # 0.9 and 0.7; with 32 s left the greedy alone would keep 0.9 and 0.8 and drop 0.7
    run, b2 = b2_front_of_three(tmp_path)
    settings = {"search": {**CONFIG["search"], "budget_hours": (36.0 + 30.0) / 3600}}
    assert step_cli.main(select_argv(b2, settings)) == 0
    run.train(2, B2[0], 4.0)  # the 0.7 cell trained (wall 4 + 2 * 4 = 12 s), then the run stopped
    settings["search"]["budget_hours"] = (36.0 + 32.0) / 3600
    assert step_cli.main(select_argv(b2, settings)) == 0
    kept = tables.read("selected", b2 / "selected.csv")
    assert kept["cell_id"].tolist() == [B2[0].cell_id, B2[1].cell_id]  # 12 s paid, 20 left: 0.9 fits, 0.8 not
    out = capsys.readouterr().out
    assert (
        "b2: budget 0.0188889 GPU-hours, spent 0.010 before b2; 2 cells kept (1 already trained), costing "
        "0.007 GPU-hours, 1 dropped" in out
    )
    assert "b2: the budget can be exceeded by the error of the" in out  # no step's error measured yet


def test_budget_key_defaults_to_none_and_must_be_positive():
    assert validate({})["search"]["budget_hours"] is None
    assert validate({"search": {"budget_hours": 0.5}})["search"]["budget_hours"] == 0.5
    with pytest.raises(ConfigError, match="budget_hours"):
        validate({"search": {"budget_hours": 0}})


def test_select_prices_the_cells_by_the_cost_model_of_the_run_and_writes_what_it_drops(tmp_path, capsys):
    from popnas_steps.cli import step as step_cli

    from .test_status import CONFIG

    # b0 and b1 spent 6 + 8 + 10 + 12 = 36 s; b2's cells cost a + s*t + d = 4 + 2*t + 1: 13, 15, 17 s
    run, b2 = b2_front_of_three(tmp_path)
    settings = {"search": {**CONFIG["search"], "budget_hours": (36.0 + 30.0) / 3600}}
    argv = ["select", "--settings", json.dumps(settings), "--b", "2", "--pareto", str(b2 / "pareto.csv"),
            "--exploration", str(b2 / "exploration.csv"), "--out", str(b2 / "selected.csv"),
            "--dropped", str(b2 / "dropped.csv")]  # fmt: skip
    assert step_cli.main(argv) == 0
    # 30 s left: 0.9 (15 s) fits, 0.8 (17 s) does not, 0.7 (13 s) does
    assert tables.read("selected", b2 / "selected.csv")["predicted_accuracy"].tolist() == [0.7, 0.9]
    dropped = tables.read("dropped", b2 / "dropped.csv")
    assert dropped["predicted_accuracy"].tolist() == [0.8]
    assert dropped["predicted_seconds"].tolist() == pytest.approx([17.0])
    assert dropped["reason"].tolist() == ["over budget: spent 0.010 of 0.018 GPU-hours, 0.004 left after the cells "
                                          "of higher predicted accuracy"]  # fmt: skip
    assert "b2: budget 0.0183333 GPU-hours, spent 0.010 before b2; 2 cells kept" in capsys.readouterr().out


def select_argv(folder, settings: dict) -> list[str]:
    return ["select", "--settings", json.dumps(settings), "--b", "2", "--pareto", str(folder / "pareto.csv"),
            "--exploration", str(folder / "exploration.csv"), "--out", str(folder / "selected.csv"),
            "--dropped", str(folder / "dropped.csv")]  # fmt: skip


def test_a_budget_outside_a_run_or_before_any_success_is_a_one_line_error(tmp_path, capsys):
    from popnas_steps.cli import step as step_cli

    from .test_status import B1, CONFIG, Run

    settings = {"search": {**CONFIG["search"], "budget_hours": 1.0}}
    loose = tmp_path / "loose"
    for name in ("pareto", "exploration"):
        tables.write(name, tables.empty(name), loose / f"{name}.csv")
    assert step_cli.main(select_argv(loose, settings)) == 2
    err = capsys.readouterr().err
    assert f"error: '{loose / 'selected.csv'}' is not results/<run>/<strategy>/b<b>/selected.csv" in err
    assert "Traceback" not in err and not (loose / "selected.csv").exists()
    # every training before b2 failed: nothing to price b2's cells by
    run = Run(tmp_path)
    run.select(1, B1, ["b1"] * 3)
    for cell in B1:
        run.train(1, cell, 2.0, outcome="failed")
    b2 = run.steps / "b2"
    front = selection([0.9]).assign(rank=[1])
    tables.write("pareto", front[tables.COLUMNS["pareto"]], b2 / "pareto.csv")
    tables.write("exploration", tables.empty("exploration"), b2 / "exploration.csv")
    assert step_cli.main(select_argv(b2, settings)) == 2
    err = capsys.readouterr().err
    assert "error: no training before b2 succeeded: the cost of its selection cannot be predicted" in err
    assert not (b2 / "selected.csv").exists()


def test_steps_after_an_empty_one_select_nothing_but_all_failed_parents_stay_an_error(tmp_path, capsys):
    from popnas_steps.cli import step as step_cli
    from popnas_steps.collect import trained_table
    from popnas_steps.tables import selection_table

    empty = tmp_path / "b2" / "trained.csv"
    tables.write("trained", trained_table([], tables.empty("selected"), 2), empty)
    step_cli.fit(validate({}), [empty], tmp_path / "reindex.csv", tmp_path / "b3" / "predictors")
    assert (tmp_path / "b3" / "predictors" / "SKIPPED").is_file()
    step_cli.expand(validate({}), tmp_path / "b3" / "predictors", empty, tmp_path / "b3" / "candidates.parquet")
    assert tables.read("candidates", tmp_path / "b3" / "candidates.parquet").empty
    for name in ("pareto", "exploration"):
        tables.write(name, tables.empty(name), tmp_path / "b3" / f"{name}.csv")
    line = step_cli.select({}, 3, tmp_path / "b3" / "pareto.csv", tmp_path / "b3" / "exploration.csv",
                           tmp_path / "b3" / "selected.csv", tmp_path / "b3" / "dropped.csv")  # fmt: skip
    assert line.startswith("b3: nothing to select: step b2 selected no cell")
    assert tables.read("selected", tmp_path / "b3" / "selected.csv").empty
    assert tables.read("dropped", tmp_path / "b3" / "dropped.csv").empty
    # cells trained and all failed: no parent, which is an error, not the end of a budget
    cell = space.one_block_cells(["identity"])[0]
    failed = {"cell_id": cell.cell_id, "cell": cell.to_list(), "status": "failed", "reason": "NaN loss"}
    tables.write("trained", trained_table([failed], selection_table([cell], "b1"), 1), tmp_path / "failed.csv")
    with pytest.raises(ValueError, match="no successfully trained cell"):
        step_cli.expand(validate({}), tmp_path / "b3" / "predictors", tmp_path / "failed.csv", tmp_path / "c.parquet")


OPERATORS = ["3x3 conv", "5x5 conv", "identity", "2x2 maxpool"]


@pytest.mark.slow
def test_a_synthetic_search_keeps_its_budget_within_one_network(tmp_path):
    # what b0 and b1 cost (the synthetic jobs' wall), plus room for about 6 networks of b=2
    b1 = space.encode(space.one_block_cells(OPERATORS), OPERATORS)
    first = synthetic_wall(float(synthetic_time(np.zeros((1, 0, 4), dtype=np.int16), len(OPERATORS))[0]))
    first += sum(synthetic_wall(float(t)) for t in synthetic_time(b1, len(OPERATORS)))
    network = synthetic_wall(float(synthetic_time(b1, len(OPERATORS)).mean())) * 1.5
    budget = first + 6 * network
    config = validate({
        "seed": 3,
        "search": {"max_blocks": 4, "beam": 16, "exploration": 2, "operators": OPERATORS,
                   "budget_hours": budget / 3600},
        # The paper's accuracy model: its b=2 front here is larger than what the budget pays
        # for, the cut under test. ridge_ops gives cells of the same operators one accuracy,
        # and its front of 7 cells fits the budget whole: nothing to cut, and the
        # synthetic time (nonlinear in the cell, under-predicted for its costliest cells by
        # the linear time model) then overshoots it by more than one network.
        "predictors": {"time": {"search_iterations": 2}, "accuracy": {"epochs": 3, "model": "lstm"}},
    })  # fmt: skip
    steps = run_synthetic_search(tmp_path / "popnas", config, cells_dir=tmp_path / "cells")
    walls = {}
    for b in range(5):
        for cell_id in pd.read_csv(steps / f"b{b}" / "selected.csv", dtype={"cell_id": str})["cell_id"]:
            walls[cell_id] = pd.read_json(tmp_path / "cells" / cell_id / "result.json", typ="series")["timings"][
                "process_seconds"
            ]
    spent = sum(walls.values())
    assert spent <= budget + max(walls.values())
    sizes = {b: len(pd.read_csv(steps / f"b{b}" / "selected.csv")) for b in range(2, 5)}
    dropped = {b: pd.read_csv(steps / f"b{b}" / "dropped.csv") for b in range(2, 5)}
    fronts = sum(len(pd.read_csv(steps / "b2" / f"{name}.csv")) for name in ("pareto", "exploration"))
    assert 0 < sizes[2] < fronts and len(dropped[2]) == fronts - sizes[2]  # the budget cut b=2, and said so
    assert dropped[2]["reason"].str.contains("GPU-hours").all()
    assert sizes[4] == 0  # the search ended: the last step trained nothing
    assert (steps / "b4" / "trained.csv").is_file()
    ended = [b for b in range(2, 5) if sizes[b] == 0]
    assert ended and all(sizes[b] == 0 for b in range(ended[0], 5))  # nothing after the first empty step


@pytest.mark.slow
def test_a_real_tiny_search_ends_at_b2_on_its_budget_and_continues_on_a_larger_one(tiny_run, tmp_path):
    import shutil

    from .workflow import TINY, TINY_ARGS, job_counts, snakemake

    # b0 and b1 always train; a budget of 3.6 s is used up by them: b=2 selects nothing. They
    # are the session run's (its data and b <= 1 results, as bench_search --share-b1 copies them)
    session = tiny_run[0] / "results" / "tiny"
    run = tmp_path / "results" / "tiny"
    shutil.copytree(session / "data", run / "data")
    for b in (0, 1):
        for cell_id in pd.read_csv(session / "popnas" / f"b{b}" / "trained.csv", dtype={"cell_id": str})["cell_id"]:
            shutil.copytree(session / "cells" / cell_id, run / "cells" / cell_id)
    (tmp_path / "tiny.yaml").write_text(TINY.replace("search: {", "search: {budget_hours: 0.001, "))
    first = snakemake(tmp_path, *TINY_ARGS, check=True)
    assert "rule train_cell:" not in first.stdout + first.stderr  # b <= 1 reused; the budget trains no b2 cell
    steps = run / "popnas"
    for b in (2, 3):
        assert pd.read_csv(steps / f"b{b}" / "selected.csv").empty
        assert pd.read_csv(steps / f"b{b}" / "trained.csv").empty
    dropped = pd.read_csv(steps / "b2" / "dropped.csv")
    assert len(dropped) == len(pd.read_csv(steps / "b2" / "pareto.csv")) + len(
        pd.read_csv(steps / "b2" / "exploration.csv")
    )
    assert dropped["reason"].str.startswith("budget used up: spent").all() and dropped["predicted_seconds"].gt(0).all()
    assert pd.read_csv(steps / "b3" / "dropped.csv").empty  # nothing to cut: b=2 had no cell to expand
    assert "step b2 selected no cell" in (steps / "logs" / "select_b3.log").read_text()
    summary = pd.read_csv(steps / "report" / "summary.csv")
    assert summary["budget_ended_at"].tolist() == [2] and summary["networks"].tolist() == [11]
    assert len(pd.read_csv(steps / "report" / "final.csv")) == 1  # the final training of the best cell found
    assert "Nothing to be done" in snakemake(tmp_path, "-n", *TINY_ARGS, check=True).stdout

    # a larger budget: step 2 selects again from its cached fronts; no cell is retrained
    trained = {p: p.stat().st_mtime_ns for p in (run / "cells").glob("*/result.json")}
    (tmp_path / "tiny.yaml").write_text(TINY.replace("search: {", "search: {budget_hours: 100, "))
    counts = job_counts(snakemake(tmp_path, "-n", *TINY_ARGS, check=True).stdout)
    assert counts["select"] == 2 and counts.get("fit_predictors", 0) <= 1  # b3's, made from b2's new cells
    assert "train_cell" not in counts and "prepare_data" not in counts
    snakemake(tmp_path, "results/tiny/popnas/b2/trained.csv", *TINY_ARGS, check=True)
    assert {p: p.stat().st_mtime_ns for p in trained} == trained
    assert len(pd.read_csv(steps / "b2" / "trained.csv")) == len(dropped)
    assert pd.read_csv(steps / "b2" / "dropped.csv").empty


def test_the_summary_names_the_first_step_the_budget_cut():
    from popnas_steps.report import search_summary

    trained = pd.DataFrame([{"cell_id": "a", "status": "ok", "accuracy": 0.5, "time": 2.0}])
    dropped = {2: tables.empty("dropped"), 3: selection([0.5]).assign(predicted_seconds=1.0, reason="x"),
               4: selection([0.4]).assign(predicted_seconds=1.0, reason="x")}  # fmt: skip
    assert search_summary(trained, dropped=dropped)["budget_ended_at"].tolist() == [3]
    assert search_summary(trained, dropped={2: tables.empty("dropped")})["budget_ended_at"].isna().all()
    assert search_summary(trained)["budget_ended_at"].isna().all()  # compare: runs given by hand


def test_a_rerun_whose_cells_are_all_trained_keeps_them_and_drops_none():
    # every cell of the selection trained by an earlier run, and the budget lowered below them
    table = selection([0.9, 0.8])
    kept, dropped = cut(table, pd.Series([30.0, 40.0]), spent=100.0, budget=0.36, trained=pd.Series([True, True]))
    assert kept["cell_id"].tolist() == table["cell_id"].tolist()
    assert dropped.empty and list(dropped.columns) == tables.COLUMNS["dropped"]
    # a new cell beside them is still priced and dropped
    table = selection([0.9, 0.8, 0.7])
    trained = pd.Series([True, True, False])
    kept, dropped = cut(table, pd.Series([30.0, 40.0, 5.0]), spent=100.0, budget=0.36, trained=trained)
    assert len(kept) == 2 and dropped["cell_id"].tolist() == [table["cell_id"].iloc[2]]
