"""Algorithm 1 end to end at a larger K, driven through the same step entry points as the
workflow's rules, with a synthetic evaluator (tests/synthetic.py) instead of training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from popnas_steps.config import validate

from .synthetic import run_synthetic_search

# Whole synthetic searches with real predictor fits (20-40 s each): in the full suite, not the fast loop.
pytestmark = pytest.mark.slow

OPERATORS = ["3x3 conv", "5x5 conv", "identity", "2x2 maxpool", "3x3 dconv", "1x3-3x1 conv"]


def run_search(
    folder: Path, strategy: str, beam: int = 32, exploration: int = 4, max_blocks: int = 3, altered=None
) -> Path:
    config = validate({
        "seed": 3,
        "search": {"strategy": strategy, "max_blocks": max_blocks, "beam": beam, "exploration": exploration,
                   "operators": OPERATORS},
        "predictors": {"time": {"search_iterations": 2}, "accuracy": {"epochs": 5}},
    })  # fmt: skip
    return run_synthetic_search(folder / strategy, config, altered=altered)


@pytest.fixture(scope="module")
def popnas_run(tmp_path_factory):
    return run_search(tmp_path_factory.mktemp("loop"), "popnas")


def test_every_step_selects_a_pareto_front_and_an_exploration_front(popnas_run):
    for b in (2, 3):
        pareto = pd.read_csv(popnas_run / f"b{b}" / "pareto.csv")
        exploration = pd.read_csv(popnas_run / f"b{b}" / "exploration.csv")
        selected = pd.read_csv(popnas_run / f"b{b}" / "selected.csv")
        assert 2 <= len(pareto) <= 32
        # non-dominated in the predictions: accuracy falls as rank grows, time falls strictly
        assert pareto["predicted_accuracy"].is_monotonic_decreasing
        assert (np.diff(pareto["predicted_time"]) < 0).all()
        assert selected["cell_id"].is_unique and len(selected) == len(pareto) + len(exploration)
        assert not set(exploration["cell_id"]) & set(pareto["cell_id"])
        assert all(len(json.loads(cell)) == b for cell in selected["cell"])
    assert 1 <= len(pd.read_csv(popnas_run / "b2" / "exploration.csv")) <= 4
    assert pd.read_csv(popnas_run / "b3" / "exploration.csv").empty
    # parents of b=3 are the cells trained at b=2, exploration cells included
    b2 = pd.read_csv(popnas_run / "b2" / "trained.csv")
    candidates = pd.read_parquet(popnas_run / "b3" / "candidates.parquet")
    prefixes = {json.dumps(json.loads(c)[:2], separators=(",", ":")) for c in b2["cell"]}
    assert len(prefixes) == len(b2)
    assert len(candidates) > 0.9 * len(b2) * (24 * 25 // 2)  # p = 4 inputs x 6 operators at b = 3


def test_same_config_and_cached_results_give_the_same_selections(popnas_run, tmp_path):
    again = run_search(tmp_path, "popnas")
    for b in (2, 3):
        assert (again / f"b{b}" / "selected.csv").read_text() == (popnas_run / f"b{b}" / "selected.csv").read_text()


def test_pnas_baseline_trains_the_top_k_by_accuracy(tmp_path):
    steps = run_search(tmp_path, "pnas", beam=16, max_blocks=2)
    selected = pd.read_csv(steps / "b2" / "selected.csv")
    candidates = pd.read_parquet(steps / "b2" / "candidates.parquet")
    assert len(selected) == 16 and set(selected["origin"]) == {"pareto"}
    assert candidates["predicted_time"].isna().all()  # no time predictor
    # ties (cells of the same operators, to the default accuracy model) go by cell id
    best = candidates.sort_values(["predicted_accuracy", "cell_id"], ascending=[False, True]).head(16)
    assert set(selected["cell_id"]) == set(best["cell_id"])
    assert not (steps / "b2" / "predictors" / "time").exists()


def test_random_search_trains_k_plus_j_uniform_expansions_of_its_own_previous_step(tmp_path):
    from popnas_steps.predictors import unique_expansions
    from popnas_steps.space import Cell, canonical_ids

    steps = run_search(tmp_path, "random", beam=8, exploration=3, max_blocks=3)
    for b, size in ((2, 11), (3, 8)):  # K + J below B, K at B: what POPNASv2 trains at most
        selected = pd.read_csv(steps / f"b{b}" / "selected.csv", dtype={"cell_id": str})
        candidates = pd.read_parquet(steps / f"b{b}" / "candidates.parquet")
        assert len(selected) == size and selected["cell_id"].is_unique
        assert set(selected["cell_id"]) <= set(candidates["cell_id"])  # unique canonical expansions only
        parents = [Cell.from_json(c) for c in pd.read_csv(steps / f"b{b - 1}" / "trained.csv")["cell"]]
        expansions, _ = canonical_ids(unique_expansions(parents, OPERATORS), OPERATORS)
        assert set(candidates["cell_id"]) == set(expansions)  # of its own previous step's cells
        assert pd.read_csv(steps / f"b{b}" / "exploration.csv").empty
    assert candidates["predicted_accuracy"].notna().all()  # fitted and scored, to say how it would have ranked
    again = run_search(tmp_path / "again", "random", beam=8, exploration=3, max_blocks=3)
    for b in (2, 3):
        assert (again / f"b{b}" / "selected.csv").read_text() == (steps / f"b{b}" / "selected.csv").read_text()


def test_a_nan_accuracy_leaves_its_cell_out_as_if_never_trained(tmp_path):
    from popnas_steps.space import one_block_cells

    cell = next(c for c in one_block_cells(OPERATORS) if len(set(c.blocks[0].operators)) == 2)  # not a reindex cell
    poisoned = run_search(tmp_path / "nan", "popnas", beam=8, altered={cell.cell_id: {"accuracy": float("nan")}})
    without = run_search(tmp_path / "without", "popnas", beam=8, altered={cell.cell_id: None})
    row = pd.read_csv(poisoned / "b1" / "trained.csv").set_index("cell_id").loc[cell.cell_id]
    assert row["status"] == "failed" and row["reason"] == "invalid result: accuracy nan is not a number in [0, 1]"
    for b in (2, 3):
        assert pd.read_csv(poisoned / f"b{b}" / "selected.csv")["cell_id"].tolist() == (
            pd.read_csv(without / f"b{b}" / "selected.csv")["cell_id"].tolist()
        )
        assert np.isfinite(pd.read_parquet(poisoned / f"b{b}" / "candidates.parquet")["predicted_accuracy"]).all()
