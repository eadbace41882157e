"""bench/bench_search.py: a baseline stopped at POPNASv2's summed t (the equal-cost stop), a random
search trained only that far, and a top-1 cell's final trainings over seeds."""

import json
from pathlib import Path

import pandas as pd
import pytest

from bench import bench_search
from bench.bench_search import at_cost, operator_usage
from popnas_steps import tables
from popnas_steps.collect import trained_table
from popnas_steps.report import equal_cost_stop
from popnas_steps.space import Cell


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
        "top1_network": {"cell": json.dumps([[-1, "identity", -1, "identity"]] * 2), "blocks": 2, "params": 10},
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


# --- a random search trained only as far as its equal-cost stop reads -------------------------

OPS = ("identity", "3x3 conv", "5x5 conv")


def cells_of(b: int, count: int) -> list[Cell]:
    """`count` distinct cells of b blocks."""
    cells = []
    for i in range(count):
        first = [-1, OPS[i % 3], -2, OPS[(i // 3) % 3]]
        cells.append(Cell.from_json(json.dumps([first] + [[j, OPS[j % 3], -1, "identity"] for j in range(b - 1)])))
    return cells


class FakeWorkflow:
    """Stands in for bench.common.run_workflow on a random search's steps folder: a target
    b<b>/selected.csv collects the step before it and writes the step's draw; a target
    cells/<id>/result.json writes that cell's result with the t of `times`."""

    def __init__(self, workdir: Path, draws: dict[int, list[Cell]], times: dict[str, float]):
        self.workdir, self.draws, self.times, self.calls = workdir, draws, times, []
        self.steps = workdir / "results" / "r-random" / "random"

    def result(self, cell: Cell) -> dict:
        return {"cell_id": cell.cell_id, "cell": cell.to_list(), "status": "ok", "accuracy": 0.5,
                "time": self.times[cell.cell_id], "params": 10}  # fmt: skip

    def __call__(self, workdir, configs, run, targets=()):
        self.calls.append(list(targets))
        for target in targets:
            path = workdir / target
            if path.name == "selected.csv":
                b = int(path.parent.name[1:])
                for before in range(b):
                    cells = self.draws[before]
                    results = [json.loads((self.steps.parent / "cells" / c.cell_id / "result.json").read_text())
                               if before >= 2 else self.result(c) for c in cells]  # fmt: skip
                    selected = tables.selection_table(cells, "random")
                    trained = trained_table(results, selected, before)
                    tables.write("trained", trained, self.steps / f"b{before}" / "trained.csv")
                tables.write("selected", tables.selection_table(self.draws[b], "random"), path)
            else:
                cell = next(c for cells in self.draws.values() for c in cells if c.cell_id == path.parent.name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(self.result(cell)))
        return 0.0


def fake_run(tmp_path, monkeypatch) -> FakeWorkflow:
    draws = {0: [Cell.from_json("[]")], 1: cells_of(1, 1), 2: cells_of(2, 4), 3: cells_of(3, 4)}
    times = {draws[0][0].cell_id: 1.0, draws[1][0].cell_id: 2.0}
    times |= {cell.cell_id: 2.0 for b in (2, 3) for cell in draws[b]}
    fake = FakeWorkflow(tmp_path, draws, times)
    monkeypatch.setattr(bench_search, "run_workflow", fake)
    (tmp_path / "c.yaml").write_text("search: {max_blocks: 3}\n")
    return fake


def test_a_random_search_trains_in_draw_order_just_past_the_first_runs_cost(tmp_path, monkeypatch):
    fake = fake_run(tmp_path, monkeypatch)
    # b <= 1: 3 s; b = 2's four cells: 8 s more, 11 < 13; b = 3's first cell reaches 13
    bench_search.train_to_cost(tmp_path, [tmp_path / "c.yaml"], "r-random", fake.steps, 13.0)
    trained = bench_search.trained_so_far(fake.steps)
    assert trained["cell_id"].tolist() == [c.cell_id for b in range(4) for c in fake.draws[b]][:7]
    assert fake.calls[-1] == [f"results/r-random/cells/{fake.draws[3][0].cell_id}/result.json"]
    assert len(equal_cost_stop(trained, 13.0)) == 7  # what the stop reads, and nothing more, was trained


def test_a_random_search_cheaper_than_the_first_run_trains_to_its_end(tmp_path, monkeypatch):
    fake = fake_run(tmp_path, monkeypatch)
    bench_search.train_to_cost(tmp_path, [tmp_path / "c.yaml"], "r-random", fake.steps, 1000.0)
    assert len(bench_search.trained_so_far(fake.steps)) == 10  # every draw of b = 2 and b = 3, then it stops


def test_a_top1_cells_final_trainings_over_seeds_are_its_runs_and_the_others(tmp_path):
    steps = tmp_path / "results" / "r" / "popnas"
    (tmp_path / "c.yaml").write_text("seed: 42\n")
    for folder, accuracy in (("final/x", 0.80), ("final_seeds/x/seed-43", 0.82), ("final_seeds/x/seed-44", 0.84)):
        (steps / folder).mkdir(parents=True)
        (steps / folder / "metrics.json").write_text(json.dumps({"test_accuracy": accuracy}))  # trained before
    over = bench_search.final_over_seeds(steps, "x", "[]", [tmp_path / "c.yaml"], "r", [43, 44, 42])
    assert over == {"cell_id": "x", "seeds": [42, 43, 44], "test_accuracy": [0.8, 0.82, 0.84], "mean": 0.82, "sd": 0.02}


def test_a_step_in_progress_is_read_in_draw_order_up_to_its_first_cell_without_a_result(tmp_path, monkeypatch):
    fake = fake_run(tmp_path, monkeypatch)
    fake(tmp_path, [], "r-random", targets=["results/r-random/random/b2/selected.csv"])
    first, second, third = (c.cell_id for c in fake.draws[2][:3])
    fake(tmp_path, [], "r-random", targets=[f"results/r-random/cells/{c}/result.json" for c in (first, third)])
    trained = bench_search.trained_so_far(fake.steps)
    assert trained["cell_id"].tolist()[-1] == first and third not in set(trained["cell_id"])  # a session ended at 2nd


def test_a_stopped_runs_figures_leave_out_what_its_last_batch_trained_past_the_stop(tmp_path, monkeypatch):
    fake = fake_run(tmp_path, monkeypatch)
    fake(tmp_path, [], "r-random", targets=["results/r-random/random/b2/selected.csv"])
    fake(tmp_path, [], "r-random", targets=[f"results/r-random/cells/{c.cell_id}/result.json" for c in fake.draws[2]])
    figures = bench_search.stopped_figures(fake.steps, 0.0, list(OPS), 6.0)  # b <= 1: 3 s; 2 s a b = 2 cell
    assert figures["networks"] == 4 and figures["summed_training_seconds"] == 7.0  # not the 6 cells trained
    assert figures["networks_per_step"] == {0: 1, 1: 1, 2: 2}


def test_a_final_training_with_another_seed_runs_with_that_seed(tmp_path, monkeypatch):
    steps = tmp_path / "results" / "r" / "popnas"
    (steps / "final" / "x").mkdir(parents=True)
    (steps / "final" / "x" / "metrics.json").write_text(json.dumps({"test_accuracy": 0.8}))
    config = tmp_path / "c.yaml"
    config.write_text("seed: 42\n")
    seeds = []

    def train(command, **_):
        settings = json.loads(command[command.index("--settings") + 1])
        seeds.append(settings["seed"])
        out = Path(command[command.index("--out") + 1])
        out.mkdir(parents=True)
        (out / "metrics.json").write_text(json.dumps({"test_accuracy": 0.8 + settings["seed"] / 1e5}))

    monkeypatch.setattr(bench_search.subprocess, "run", train)
    over = bench_search.final_over_seeds(steps, "x", "[]", [config], "r", [1001, 1002])
    assert seeds == [1001, 1002] and over["seeds"] == [42, 1001, 1002]
    assert over["test_accuracy"] == [0.8, 0.8100, 0.8100] and (steps / "final_seeds" / "x" / "seed-1002").is_dir()
