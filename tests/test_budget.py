"""search.budget_hours: the cut of a selection (a pure function, known numbers), and a whole
synthetic search (tests/synthetic.py) held to its budget."""

from __future__ import annotations

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
        "predicted_time": [10.0] * len(accuracies),
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


def test_budget_key_defaults_to_none_and_must_be_positive():
    assert validate({})["search"]["budget_hours"] is None
    assert validate({"search": {"budget_hours": 0.5}})["search"]["budget_hours"] == 0.5
    with pytest.raises(ConfigError, match="budget_hours"):
        validate({"search": {"budget_hours": 0}})


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
        "predictors": {"time": {"search_iterations": 2}, "accuracy": {"epochs": 3}},
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
