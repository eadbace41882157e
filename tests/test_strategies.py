"""popnas_steps.strategies: the table of search strategies, and the schema that offers them."""

from __future__ import annotations

import pytest

from popnas_steps.config import load_schema
from popnas_steps.strategies import STRATEGIES, strategy_of


def test_the_schema_offers_exactly_the_strategies_of_the_table():
    strategy = load_schema()["properties"]["search"]["properties"]["strategy"]
    assert set(strategy["enum"]) == set(STRATEGIES) and strategy["default"] in STRATEGIES


def test_an_unknown_strategy_is_an_error_that_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown search.strategy 'random'; choose one of popnas, pnas"):
        strategy_of("random")


def test_each_strategy_sizes_its_steps_by_whether_it_explores():
    search = {"max_blocks": 4, "beam": 6, "exploration": 2}
    assert [STRATEGIES["popnas"].step_size(b, search) for b in (2, 3, 4)] == [8, 8, 6]  # no EPF at b = B
    assert [STRATEGIES["pnas"].step_size(b, search) for b in (2, 3, 4)] == [6, 6, 6]
    assert not STRATEGIES["popnas"].exploring(2, {**search, "exploration": 0})
    assert STRATEGIES["popnas"].fits_time_predictor and not STRATEGIES["pnas"].fits_time_predictor


def test_each_strategy_cuts_its_front_its_own_way():
    import pandas as pd

    candidates = pd.DataFrame({"cell_id": list("abcd"), "cell": ["[]"] * 4, "predicted_accuracy": [0.9, 0.8, 0.7, 0.6],
                               "predicted_time": [9.0, 1.0, 5.0, 0.5]})  # fmt: skip
    search = {"beam": 2, "time_constraint": None}
    assert STRATEGIES["pnas"].front(candidates, search)["cell_id"].tolist() == ["a", "b"]  # accuracy alone
    # the Pareto front in accuracy order: a (best), b (faster), d (fastest); c is dominated by b
    assert STRATEGIES["popnas"].front(candidates, search)["cell_id"].tolist() == ["a", "b"]
    assert STRATEGIES["popnas"].front(candidates, {**search, "time_constraint": 2.0})["cell_id"].tolist() == ["b", "d"]
