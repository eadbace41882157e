"""popnas_steps.status: counts, running cells, best cell, the forecast's arithmetic, --json,
--as-of and that it writes nothing, on small run folders made with the project's writers.

The synthetic run: B=3, K=2, J=1. Every job's wall is exactly 4 s + 2 t (so a = 4, s = 2),
each job starts 1 s after the one before it ended (d = 1), and step 2 is selected 10 s after
the last training of step 1 (o = 10). Step means of t: b0 1 s, b1 3 s (g = 2 s per step).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from popnas_steps import collect, status, tables
from popnas_steps.cli import status as status_cli
from popnas_steps.cli import step as step_cli
from popnas_steps.config import validate
from popnas_steps.files import write_json
from popnas_steps.layout import RunLayout
from popnas_steps.space import Cell, one_block_cells

T0 = 1_000_000.0
CONFIG = validate({"run": "synthetic", "search": {"max_blocks": 3, "beam": 2, "exploration": 1}})
B1 = one_block_cells(["identity", "3x3 conv"])[:3]
B2 = [Cell.from_json(f'[[-1, "identity", -1, "identity"], [0, "{op}", -2, "identity"]]')
      for op in ("3x3 conv", "identity", "3x3 dconv")]  # fmt: skip
B3 = [Cell.from_json(f'[[-1, "identity", -1, "identity"], [0, "{op}", -2, "identity"], [1, "identity", 0, "identity"]]')
      for op in ("3x3 conv", "identity")]  # fmt: skip
B2_PREDICTED = [4.0, 5.0, 6.0]  # their mean is the mean t extrapolated to b2: r = 1


def result(cell: Cell, t: float, started: float, accuracy: float = 0.5, outcome: str = "ok") -> dict:
    wall = 4.0 + 2.0 * t  # process_seconds + interpreter_seconds
    timings = {"process_seconds": wall - 0.5, "interpreter_seconds": 0.5, "started_unix": started,
               "finished_unix": started + wall}  # fmt: skip
    if outcome == "failed":
        return {"cell_id": cell.cell_id, "cell": cell.to_list(), "status": "failed", "reason": "NaN loss",
                "timings": timings}  # fmt: skip
    return {"cell_id": cell.cell_id, "cell": cell.to_list(), "status": "ok", "accuracy": accuracy, "time": t,
            "params": 10, "timings": timings}  # fmt: skip


class Run:
    """A run folder written step by step, its clock advancing as jobs end."""

    def __init__(self, root: Path, strategy: str = "popnas"):
        self.dir = root / "results" / "synthetic"
        self.steps = self.dir / strategy
        self.clock = T0
        self.results: dict[int, list[dict]] = {}

    def select(self, b: int, cells: list[Cell], origins: list[str], predicted: list[float] | None = None, at=None):
        table = tables.selection_table(cells, "b1")
        table["origin"] = origins
        if predicted is not None:
            table["predicted_time"] = predicted
            table["predicted_accuracy"] = 0.9
        path = self.steps / f"b{b}" / "selected.csv"
        tables.write("selected", table, path)
        at = self.clock if at is None else at
        os.utime(path, (at, at))
        return table

    def train(self, b: int, cell: Cell, t: float, accuracy: float = 0.5, outcome: str = "ok", gap: float = 1.0):
        measured = result(cell, t, self.clock + gap, accuracy, outcome)
        (self.dir / "cells" / cell.cell_id).mkdir(parents=True, exist_ok=True)
        write_json(self.dir / "cells" / cell.cell_id / "result.json", measured)
        self.clock = measured["timings"]["finished_unix"]
        self.results.setdefault(b, []).append(measured)

    def collect(self, b: int) -> None:
        selected = tables.read("selected", self.steps / f"b{b}" / "selected.csv")
        trained = collect.trained_table(self.results[b], selected, b)
        tables.write("trained", trained, self.steps / f"b{b}" / "trained.csv")


def up_to_b2_selection(root: Path, predicted: list[float] = B2_PREDICTED) -> Run:
    """b0 (t 1) and b1 (t 2, 3, 4) trained and collected; b2 selected 10 s later."""
    run = Run(root)
    run.select(0, [Cell()], ["thrust"])
    run.select(1, B1, ["b1"] * 3)
    run.train(0, Cell(), 1.0, accuracy=0.1)
    for cell, t, accuracy in zip(B1, [2.0, 3.0, 4.0], [0.6, 0.8, 0.7], strict=True):
        run.train(1, cell, t, accuracy)
    run.collect(0)
    run.collect(1)
    run.clock += 10.0
    run.select(2, B2, ["pareto", "pareto", "exploration"], predicted)
    return run


def config_file(root: Path, **search) -> Path:
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump({"run": "synthetic", "search": {"max_blocks": 3, "beam": 2, "exploration": 1,
                                                                   **search}}))  # fmt: skip
    return path


# --- counts -------------------------------------------------------------------------------------


def test_steps_are_counted_with_the_front_and_exploration_split(tmp_path):
    run = up_to_b2_selection(tmp_path)
    run.train(2, B2[0], 4.0, accuracy=0.9)
    run.train(2, B2[1], 1.0, outcome="failed")
    got = status.search_status(run.dir, CONFIG, now=run.clock)
    steps = {step["b"]: step for step in got["steps"]}
    assert [steps[b]["selected"] for b in (0, 1, 2)] == [1, 3, 3]
    assert (steps[2]["front"], steps[2]["exploration"]) == (2, 1)
    assert (steps[2]["ok"], steps[2]["failed"], steps[2]["pending"]) == (1, 1, 1)
    assert steps[1]["best_accuracy"] == 0.8 and steps[1]["time_seconds"] == 9.0
    assert steps[1]["wall_seconds"] == pytest.approx(3 * 4.0 + 2 * 9.0)
    assert steps[2]["best_accuracy"] == 0.9 and steps[2]["time_seconds"] == 4.0  # the failed cell has no t
    assert got["search"]["networks"] == 6 and got["search"]["failed"] == 1
    assert got["search"]["best"] == {"cell_id": B2[0].cell_id, "accuracy": 0.9, "b": 2}
    assert got["search"]["started"] == T0 and got["search"]["elapsed_seconds"] == run.clock - T0
    assert got["search"]["ended"] is None


def test_a_pending_cell_runs_while_its_logs_are_recent(tmp_path):
    run = up_to_b2_selection(tmp_path)
    now = run.clock + 100.0
    for cell, age in ((B2[0], 30.0), (B2[1], 4000.0)):  # the second job was left by a killed run
        log = run.dir / "cells" / cell.cell_id / "job.log"
        log.parent.mkdir(parents=True)
        log.write_text("started\n")
        os.utime(log, (now - age, now - age))
    got = status.search_status(run.dir, CONFIG, now=now)
    b2 = got["steps"][2]
    assert (b2["pending"], b2["running"]) == (3, 1)
    assert got["running_window_seconds"] == status.RUNNING_WINDOW_SECONDS  # no job lasted 150 s
    assert got["forecast"]["current_step"]["running"] == 1


def test_an_implausible_result_is_failed_and_an_unknown_start_up_counts_as_none(tmp_path):
    run = up_to_b2_selection(tmp_path)
    run.train(2, B2[0], 4.0)
    run.train(2, B2[1], 4.0)
    for cell, changes in ((B2[0], {"accuracy": 1.5}), (B2[1], {})):
        path = run.dir / "cells" / cell.cell_id / "result.json"
        measured = json.loads(path.read_text()) | changes
        measured["timings"]["interpreter_seconds"] = None  # where /proc is not there to time it
        write_json(path, measured)
    b2 = status.search_status(run.dir, CONFIG, now=run.clock)["steps"][2]
    assert (b2["ok"], b2["failed"], b2["best_accuracy"], b2["time_seconds"]) == (1, 1, 0.5, 4.0)  # as collect says
    assert b2["wall_seconds"] == pytest.approx(2 * (4.0 + 2.0 * 4.0 - 0.5))


def test_a_damaged_result_counts_as_pending(tmp_path):
    run = up_to_b2_selection(tmp_path)
    path = run.dir / "cells" / B2[0].cell_id / "result.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"cell_id": "trunc')
    assert status.search_status(run.dir, CONFIG, now=run.clock)["steps"][2]["pending"] == 3


# --- the forecast -------------------------------------------------------------------------------


def test_the_forecast_after_a_selection_adds_up_its_terms(tmp_path):
    run = up_to_b2_selection(tmp_path)
    got = status.search_status(run.dir, CONFIG, as_of=2)
    model = got["forecast"]["model"]
    assert model["intercept"] == pytest.approx(4.0) and model["slope"] == pytest.approx(2.0)
    assert model["dispatch"] == pytest.approx(1.0) and model["step_overhead"] == pytest.approx(10.0)
    assert model["time_ratio"] == 1.0 and model["ratio_cells"] == 0  # nothing predicted has been measured
    assert model["step_mean_time"] == {"0": 1.0, "1": 3.0} and model["growth"] == pytest.approx(2.0)
    step = got["forecast"]["current_step"]
    b2_costs = [4.0 + 2.0 * t + 1.0 for t in B2_PREDICTED]  # 13 + 15 + 17
    assert step["gpu_seconds"] == pytest.approx(sum(b2_costs)) and step["seconds"] == pytest.approx(45.0)
    assert step["predicted_time_seconds"] == 15.0 and step["ends"] == pytest.approx(run.clock + 45.0)
    assert step["time_ratio"] == 1.0
    (b3,) = got["forecast"]["later_steps"]
    network = 4.0 + 2.0 * (3.0 + 2 * 2.0) + 1.0  # t extrapolated to b3: 3 s + 2 steps of 2 s
    assert b3["cells"] == 2  # K, and no exploration at the last step
    assert b3["network_seconds"] == pytest.approx(network) and b3["seconds"] == pytest.approx(10.0 + 2 * network)
    assert got["forecast"]["remaining_seconds"] == pytest.approx(45.0 + 10.0 + 2 * network)
    assert got["forecast"]["eta"] == pytest.approx(run.clock + 45.0 + 10.0 + 2 * network)
    assert got["forecast"]["gpu_hours_remaining"] == pytest.approx((45.0 + 2 * network) / 3600)


@pytest.mark.parametrize(
    ("kind", "predicted", "ratio"),
    [("catboost", [2.0, 3.0, 5.0], 1.5), ("xgboost", [8.0, 9.0, 10.0], 1.0), ("nnls_catboost", [2.0, 3.0, 5.0], 1.0)],
)
def test_before_any_prediction_is_measured_only_trees_are_raised_to_the_extrapolated_mean(
    tmp_path, kind, predicted, ratio
):
    run = up_to_b2_selection(tmp_path, predicted)  # mean t extrapolated to b2: 5 s
    info = run.dir / "popnas" / "b2" / "predictors" / "time" / "info.json"
    info.parent.mkdir(parents=True)
    info.write_text(json.dumps({"kind": kind}))  # the model that made the step's predictions
    step = status.search_status(run.dir, CONFIG, as_of=2)["forecast"]["current_step"]
    assert step["time_ratio"] == pytest.approx(ratio)
    assert step["gpu_seconds"] == pytest.approx(sum(4.0 + 2.0 * ratio * t + 1.0 for t in predicted))


def test_more_gpus_share_a_step_but_never_below_its_longest_network(tmp_path):
    run = up_to_b2_selection(tmp_path)
    got = status.search_status(run.dir, CONFIG, gpus=2, as_of=2)["forecast"]
    assert got["current_step"]["seconds"] == pytest.approx(45.0 / 2)
    got = status.search_status(run.dir, CONFIG, gpus=8, as_of=2)["forecast"]
    assert got["current_step"]["seconds"] == pytest.approx(17.0)  # the slowest of the three
    assert got["gpu_hours_remaining"] == pytest.approx(status.search_status(run.dir, CONFIG, as_of=2)["forecast"]
                                                       ["gpu_hours_remaining"])  # fmt: skip


def test_measured_predictions_scale_the_pending_ones_and_a_running_cell_counts_what_is_left(tmp_path):
    run = up_to_b2_selection(tmp_path)
    run.train(2, B2[0], 8.0)  # predicted 4 s: r = 2
    now = run.clock + 5.0
    folder = run.dir / "cells" / B2[1].cell_id
    folder.mkdir(parents=True)
    for name in (".result.json.lock", "job.log"):
        (folder / name).write_text("x")
        os.utime(folder / name, (run.clock + 2.0, run.clock + 2.0))  # started 3 s ago
    got = status.search_status(run.dir, CONFIG, now=now)["forecast"]
    assert got["model"]["time_ratio"] == pytest.approx(2.0) and got["model"]["ratio_cells"] == 1
    running = 4.0 + 2.0 * (2.0 * 5.0) + 1.0 - 3.0
    pending = 4.0 + 2.0 * (2.0 * 6.0) + 1.0
    assert (got["current_step"]["pending"], got["current_step"]["running"]) == (2, 1)
    assert got["current_step"]["seconds"] == pytest.approx(running + pending)


def test_between_steps_the_next_overhead_counts_only_what_is_left_of_it(tmp_path):
    run = up_to_b2_selection(tmp_path)
    for cell, t in zip(B2, [4.0, 6.0, 10.0], strict=True):
        run.train(2, cell, t)
    got = status.search_status(run.dir, CONFIG, now=run.clock + 4.0)["forecast"]
    assert got["current_step"]["seconds"] == 0.0
    (b3,) = got["later_steps"]
    assert b3["overhead_seconds"] == pytest.approx(10.0 - 4.0)


def test_pnas_has_no_predicted_times_and_falls_back_on_the_measured_growth(tmp_path):
    run = Run(tmp_path, strategy="pnas")
    run.select(0, [Cell()], ["thrust"])
    run.select(1, B1, ["b1"] * 3)
    run.train(0, Cell(), 1.0)
    for cell, t in zip(B1, [2.0, 3.0, 4.0], strict=True):
        run.train(1, cell, t)
    run.clock += 10.0
    run.select(2, B2[:2], ["pareto", "pareto"])
    config = validate({"run": "synthetic", "search": {"max_blocks": 3, "beam": 2, "strategy": "pnas"}})
    got = status.search_status(run.dir, config, as_of=2)["forecast"]
    network_b2 = 4.0 + 2.0 * (3.0 + 2.0) + 1.0
    assert got["current_step"]["predicted_time_seconds"] is None
    assert got["current_step"]["seconds"] == pytest.approx(2 * network_b2)
    assert [step["cells"] for step in got["later_steps"]] == [2]  # K alone: PNAS does not explore


def test_no_forecast_before_the_first_training_ends(tmp_path):
    run = Run(tmp_path)
    run.select(0, [Cell()], ["thrust"])
    run.select(1, B1, ["b1"] * 3)
    got = status.search_status(run.dir, CONFIG, now=T0 + 1)
    assert got["forecast"] == {"available": False, "why": "no training has finished yet"}
    assert "forecast: none, no training has finished yet" in status.render(got)


def finished_search(root: Path, b3_accuracy: float = 0.5) -> Run:
    """up_to_b2_selection, then b2 trained and b3 selected 10 s later and trained (B = 3)."""
    run = up_to_b2_selection(root)
    for cell, t in zip(B2, [4.0, 6.0, 10.0], strict=True):
        run.train(2, cell, t)
    run.clock += 10.0
    run.select(3, B3, ["pareto", "pareto"], [5.0, 6.0])
    for cell in B3:
        run.train(3, cell, 7.0, accuracy=b3_accuracy)
    return run


def test_a_finished_search_says_so(tmp_path):
    run = finished_search(tmp_path, b3_accuracy=0.95)
    got = status.search_status(run.dir, CONFIG, now=run.clock + 3600)
    assert got["search"]["ended"] == run.clock and got["forecast"]["remaining_seconds"] == 0.0
    assert got["search"]["best"]["b"] == 3
    assert "the search is finished" in status.render(got)


# --- --as-of, --json, read-only -----------------------------------------------------------------------


def test_as_of_ignores_what_came_after_the_selection(tmp_path):
    run = up_to_b2_selection(tmp_path)
    before = status.search_status(run.dir, CONFIG, as_of=2)
    for cell, t in zip(B2, [4.0, 6.0, 10.0], strict=True):
        run.train(2, cell, t, accuracy=0.99)
    run.collect(2)
    run.clock += 10.0
    run.select(3, B3, ["pareto", "pareto"], [5.0, 6.0])
    run.train(3, B3[0], 7.0)
    after = status.search_status(run.dir, CONFIG, as_of=2)
    assert after == before
    assert after["steps"][2]["pending"] == 3 and after["search"]["best"]["accuracy"] == 0.8
    assert status.search_status(run.dir, CONFIG, as_of=3)["forecast"]["model"]["time_ratio"] == pytest.approx(20 / 15)


def test_as_of_the_first_steps_is_before_any_training(tmp_path):
    run = up_to_b2_selection(tmp_path)
    got = status.search_status(run.dir, CONFIG, as_of=1)
    assert got["search"]["networks"] == 0 and [step["pending"] for step in got["steps"]] == [1, 3]
    assert got["forecast"]["available"] is False


def test_as_of_a_step_without_selection_is_an_error(tmp_path, capsys):
    run = up_to_b2_selection(tmp_path)
    assert status_cli.main([str(run.dir), "--config", str(config_file(tmp_path)), "--as-of", "3"]) == 2
    assert "step b3" in capsys.readouterr().err


def test_json_is_the_outcomeitself(tmp_path, capsys):
    run = up_to_b2_selection(tmp_path)
    run.train(2, B2[0], 4.0)
    now = run.clock + 1.0
    argv = [str(run.dir), "--config", str(config_file(tmp_path)), "--json", "--gpus", "2"]
    assert status_cli.main(argv, now=now) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == status.search_status(run.dir, CONFIG, gpus=2, now=now)
    assert printed["forecast"]["current_step"]["pending"] == 2


def test_the_text_shows_every_term_of_the_forecast(tmp_path):
    run = up_to_b2_selection(tmp_path)
    text = status.render(status.search_status(run.dir, CONFIG, as_of=2))
    assert "network = a + s*t + d = 4.0 s + 2.00 * t + 1.0 s" in text
    assert "r = 1.00 (none measured yet, work_nnls: taken as predicted (its linear part extrapolates))" in text
    assert "g = 2.00 s (b0 1.0 s, b1 3.0 s)" in text and "o = 10 s (before b2)" in text
    assert "b2: 3 cells to train (0 running), predicted t 15 s, 45 s of GPU time: 45 s" in text
    assert "b3: o 10 s + 2 cells of t 7.0 s, 19.0 s each: 48 s" in text
    assert "remaining 1 min 33 s" in text


def test_the_default_run_folder_is_the_configs(tmp_path, monkeypatch, capsys):
    up_to_b2_selection(tmp_path)
    config_file(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert status_cli.main(["--config", "config.yaml"], now=T0 + 1000) == 0
    assert "results/synthetic (popnas), now" in capsys.readouterr().out


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(path): (path.stat().st_mtime_ns, path.read_bytes()) for path in root.rglob("*") if path.is_file()}


def test_outcomewrites_nothing(tmp_path, capsys):
    run = up_to_b2_selection(tmp_path)
    run.train(2, B2[0], 4.0)
    config = config_file(tmp_path)
    folders = sorted(path for path in tmp_path.rglob("*") if path.is_dir())
    before = snapshot(tmp_path)
    for extra in ([], ["--json"], ["--as-of", "2"]):
        assert status_cli.main([str(run.dir), "--config", str(config), *extra]) == 0
    assert snapshot(tmp_path) == before
    assert sorted(path for path in tmp_path.rglob("*") if path.is_dir()) == folders


# --- the selection's forecast line ----------------------------------------------------------------


def test_the_selection_logs_its_cells_and_forecast(tmp_path, capsys):
    run = up_to_b2_selection(tmp_path)
    b2 = run.steps / "b2"
    front = tables.read("selected", b2 / "selected.csv").iloc[:2].assign(rank=[1, 2])
    tables.write("pareto", front, b2 / "pareto.csv")
    tables.write("exploration", tables.read("selected", b2 / "selected.csv").iloc[2:].assign(rank=1, score=8), b2 /
                 "exploration.csv")  # fmt: skip
    settings = json.dumps({"search": CONFIG["search"]})
    argv = ["select", "--settings", settings, "--b", "2", "--pareto", str(b2 / "pareto.csv"), "--exploration",
            str(b2 / "exploration.csv")]  # fmt: skip
    assert step_cli.main([*argv, "--out", str(b2 / "selected.csv")]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("b2: selected 3 cells (2 front, 1 exploration, 3 to train); predicted GPU time of the step")
    assert " 45 s; forecast on 1 GPU: the step ends " in line and ", the search " in line
    assert line.endswith('; search settings {"beam": 2, "budget_hours": null, "exploration": 1, "max_blocks": 3}')


def test_a_forecast_error_is_a_warning_and_the_selection_stands(tmp_path, capsys):
    run = up_to_b2_selection(tmp_path)
    b2 = run.steps / "b2"
    tables.write("pareto", tables.read("selected", b2 / "selected.csv").assign(rank=1), b2 / "pareto.csv")
    tables.write("exploration", tables.empty("exploration"), b2 / "exploration.csv")
    out = tmp_path / "elsewhere" / "selected.csv"  # not in a run's layout: no step to forecast
    argv = ["select", "--settings", json.dumps({"search": CONFIG["search"]}), "--b", "2", "--pareto",
            str(b2 / "pareto.csv"), "--exploration", str(b2 / "exploration.csv"), "--out", str(out)]  # fmt: skip
    assert step_cli.main(argv) == 0
    assert len(tables.read("selected", out)) == 3
    assert "warning: no forecast" in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "b3_cells"), [(None, 2), (2.0, 0), (2.0 + 19.0 + 5.0, 1)])
def test_the_forecast_applies_the_cut_the_budget_will_make(tmp_path, extra, b3_cells):
    # b0 and b1 spent 36 s of job wall; b2's two cells cost 13 + 15 s; a cell of b3 costs
    # 4 + 2 * 7 + 1 = 19 s (mean t of b1, 3 s, plus g = 2 s per step)
    run = up_to_b2_selection(tmp_path)
    run.select(2, B2[:2], ["pareto", "pareto"], B2_PREDICTED[:2])
    budget = None if extra is None else (36.0 + 28.0 + extra) / 3600
    config = validate({"run": "synthetic", "search": {**CONFIG["search"], "budget_hours": budget}})
    got = status.search_status(run.dir, config, now=run.clock)["forecast"]
    (b3,) = got["later_steps"]
    assert (b3["cells"], b3["network_seconds"]) == (b3_cells, pytest.approx(19.0))
    assert got["gpu_hours_remaining"] * 3600 == pytest.approx(28.0 + 19.0 * b3_cells)
    if b3_cells == 0:  # the search ends after b2: nothing to fit, expand or train
        assert b3["seconds"] == b3["overhead_seconds"] == 0.0
    text = status.render(status.search_status(run.dir, config, now=run.clock))
    assert ("a later step holds the cells it still pays for" in text) == (budget is not None)


def test_a_running_cell_counts_whole_in_what_the_budget_will_have_spent(tmp_path):
    # as above, 36 + 28 s, and 31 s left for b3: one cell of 19 s. The first b2 cell has run
    # for 10 s of its 13: 3 s are left to wait for, but all 13 will be in the budget's spent
    run = up_to_b2_selection(tmp_path)
    run.select(2, B2[:2], ["pareto", "pareto"], B2_PREDICTED[:2])
    folder = run.dir / "cells" / B2[0].cell_id
    folder.mkdir(parents=True)
    for name in (".result.json.lock", "job.log"):
        (folder / name).write_text("x")
        os.utime(folder / name, (run.clock, run.clock))
    config = validate({"run": "synthetic", "search": {**CONFIG["search"], "budget_hours": (36 + 28 + 31) / 3600}})
    got = status.search_status(run.dir, config, now=run.clock + 10.0)["forecast"]
    assert got["current_step"]["running"] == 1 and got["current_step"]["gpu_seconds"] == pytest.approx(3.0 + 15.0)
    assert [step["cells"] for step in got["later_steps"]] == [1]


def test_a_result_whose_timings_is_not_a_mapping_is_a_pending_cell_not_a_crash(tmp_path):
    run = up_to_b2_selection(tmp_path)
    path = run.dir / "cells" / B1[0].cell_id / "result.json"
    damaged = {**json.loads(path.read_text()), "timings": [1.0, 2.0]}
    path.write_text(json.dumps(damaged))  # the workflow trains it again: it counts as pending
    got = status.search_status(run.dir, CONFIG, now=run.clock)
    assert {step["b"]: step["pending"] for step in got["steps"]}[1] == 1
    argv = [str(run.dir), "--config", str(config_file(tmp_path))]
    assert status_cli.main(argv, now=run.clock) == 0


# --- the run's own settings (K, J, B, the budget) ---------------------------------------------------


def log_selection(run: Run, b: int, config: dict = CONFIG) -> Path:
    """The log of step b's select job, as its rule writes it: the line the selection prints."""
    log = run.steps / "logs" / f"select_b{b}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(status.selection_line(RunLayout(run.dir, "popnas"), b, config) + "\n")
    return log


def test_the_forecast_takes_the_runs_own_settings_and_warns_that_the_config_differs(tmp_path, capsys):
    run = up_to_b2_selection(tmp_path)  # K = 2, J = 1, B = 3: its selection logged them
    log = log_selection(run, 2)
    other = config_file(tmp_path, beam=6, exploration=2)  # another run's config: K = 6
    assert status_cli.main([str(run.dir), "--config", str(other), "--as-of", "2"]) == 0
    printed = capsys.readouterr()
    assert "b3: o 10 s + 2 cells of t 7.0 s" in printed.out  # K = 2, not 6
    assert f"K = 2, J = 1, B = 3, budget none (K, J, B, budget from {log})" in printed.out
    assert f"the run's K (search.beam) is 2 ({log}), the config's 6: the forecast takes the run's" in printed.err
    assert "the run's J (search.exploration) is 1" in printed.err and "search.max_blocks" not in printed.err


def test_a_run_that_records_no_settings_takes_the_configs_with_a_warning_naming_them(tmp_path, capsys):
    run = up_to_b2_selection(tmp_path)  # made before selections logged their settings
    b2 = run.steps / "b2"
    tables.write("pareto", tables.read("selected", b2 / "selected.csv").iloc[:2].assign(rank=[1, 2]), b2 / "pareto.csv")
    other = config_file(tmp_path, beam=6, exploration=2)
    assert status_cli.main([str(run.dir), "--config", str(other), "--as-of", "2"]) == 0
    printed = capsys.readouterr()
    assert "b3: o 10 s + 6 cells" in printed.out and "(K, J, B, budget from config)" in printed.out
    assert (f"'{run.steps}' records no search.beam, search.exploration, search.max_blocks, search.budget_hours"
            in printed.err)  # fmt: skip
    assert "the forecast takes the config's, K = 6, J = 2, B = 3, budget = none; its fronts held up to 2" in printed.err


def test_an_older_run_reads_b_from_its_accuracy_predictor(tmp_path):
    run = up_to_b2_selection(tmp_path)
    info = run.steps / "b2" / "predictors" / "accuracy" / "info.json"
    info.parent.mkdir(parents=True)
    info.write_text(json.dumps({"max_blocks": 3, "n_operators": 2}))
    config = validate({"run": "synthetic", "search": {**CONFIG["search"], "max_blocks": 5}})
    got = status.search_status(run.dir, config, as_of=2)
    assert [step["b"] for step in got["forecast"]["later_steps"]] == [3]
    assert got["settings"]["max_blocks"] == 3 and got["settings"]["from"]["max_blocks"] == str(info)
    assert f"the run's B (search.max_blocks) is 3 ({info}), the config's 5" in got["warnings"][0]


@pytest.mark.parametrize("line", ["b2: selected 3 cells; search settings {\"beam\": 2",
                                  'b2: ...; search settings {"beam": -1, "exploration": 1, "max_blocks": 3, '
                                  '"budget_hours": null}'])  # fmt: skip
def test_a_damaged_settings_line_records_nothing(tmp_path, line):
    run = up_to_b2_selection(tmp_path)
    log = run.steps / "logs" / "select_b2.log"
    log.parent.mkdir(parents=True)
    log.write_text(line + "\n")
    assert status.logged_settings(RunLayout(run.dir, "popnas"), 2) == ({}, None)


def test_the_selection_logs_the_settings_it_was_given_and_the_replay_reads_those_of_its_step(tmp_path):
    run = up_to_b2_selection(tmp_path)
    budget = validate({"run": "synthetic", "search": {**CONFIG["search"], "budget_hours": 0.5}})
    log_selection(run, 2, budget)
    line = (run.steps / "logs" / "select_b2.log").read_text()
    assert line.rstrip().endswith('; search settings {"beam": 2, "budget_hours": 0.5, "exploration": 1, '
                                  '"max_blocks": 3}')  # fmt: skip
    run.select(3, B3, ["pareto", "pareto"], [5.0, 6.0])
    log = run.steps / "logs" / "select_b3.log"
    log.write_text(line.replace('"budget_hours": 0.5', '"budget_hours": null'))  # a later select, without budget
    layout = RunLayout(run.dir, "popnas")
    assert status.logged_settings(layout, 2)[0]["budget_hours"] == 0.5  # --as-of 2: what b2's selection had
    assert status.logged_settings(layout, 3) == ({"beam": 2, "exploration": 1, "max_blocks": 3,
                                                  "budget_hours": None}, log)  # fmt: skip


# --- when a search started ------------------------------------------------------------------------------

OTHER = Cell.from_json('[[-1, "3x3 conv", -1, "identity"], [0, "identity", -2, "identity"]]')


def popnas_then_random(root: Path) -> tuple[Run, Run, float]:
    """A POPNASv2 search of b0 to b3, then, 100 s after its end, a random search in the same run
    folder: its b0 and b1 were trained by the first, and so was one of its two b2 cells."""
    first = finished_search(root)
    second = Run(root, strategy="random")
    second.clock = started = first.clock + 100.0
    second.select(0, [Cell()], ["thrust"])
    second.select(1, B1, ["b1"] * 3)
    second.clock += 30.0  # its own fit, expansion and draw
    second.select(2, [B2[0], OTHER], ["pareto", "pareto"])
    second.train(2, OTHER, 5.0)
    return first, second, started


def test_a_second_strategy_counts_from_its_own_first_job_not_the_shared_trainings(tmp_path):
    _, second, started = popnas_then_random(tmp_path)
    config = validate({"run": "synthetic", "search": {**CONFIG["search"], "strategy": "random"}})
    got = status.search_status(second.dir, config, now=second.clock + 5.0)
    assert got["search"]["started"] == started and got["search"]["elapsed_seconds"] == second.clock + 5.0 - started
    assert got["search"]["started_at"] == "its first job: b0/selected.csv written"
    text = status.render(got)
    assert "elapsed since the search started: 50 s (from " in text


def test_a_copy_without_file_times_counts_a_second_strategy_from_its_first_own_training(tmp_path):
    first, second, _ = popnas_then_random(tmp_path)
    copied = second.clock + 3600.0  # copied without its times: every file looks written then
    for path in second.steps.rglob("*.csv"):
        os.utime(path, (copied, copied))
    config = validate({"run": "synthetic", "search": {**CONFIG["search"], "strategy": "random"}})
    got = status.search_status(second.dir, config, now=copied)["search"]
    own = second.results[2][0]["timings"]["started_unix"]  # OTHER's: B2[0] was trained by the first search
    assert got["started"] == own and got["started_at"].startswith("its first training after another search's")
    for path in first.steps.rglob("*.csv"):  # and the first search still counts from its b0
        os.utime(path, (copied, copied))
    got = status.search_status(first.dir, CONFIG, now=copied)["search"]
    assert (got["started"], got["started_at"]) == (T0 + 1.0, "its first training")
