"""popnas_steps.objectives: the costs a front weighs, and the caps that bound them."""

from __future__ import annotations

import pandas as pd
import pytest

from popnas_steps import objectives, runtime
from popnas_steps.config import validate


def test_caps_discard_the_candidates_over_any_of_them_and_count_each():
    table = pd.DataFrame({"cell_id": list("abcd"), "params": [10, 50, 30, 70], "predicted_time": [1.0, 2.0, 9.0, 1.0],
                          "predicted_latency": [1.0, 1.0, 1.0, 9.0]})  # fmt: skip
    search = {"max_params": 40, "time_constraint": 5.0, "max_latency_ms": None}
    kept, lines = objectives.capped(table, search, 3)
    assert kept["cell_id"].tolist() == ["a"]
    assert lines == [
        "b3: 1 of 4 candidates have more than search.time_constraint = 5.0 s of predicted training time and are "
        "discarded; 1 remain",
        "b3: 2 of 4 candidates have more than search.max_params = 40 parameters and are discarded; 1 remain",
    ]
    # T needs a time predictor: a strategy without one is never cut by it
    assert objectives.capped(table, search, 3, fits_time_predictor=False)[0]["cell_id"].tolist() == ["a", "c"]
    assert objectives.capped(table, {}, 3)[0].equals(table)


def test_the_fronts_read_the_network_only_where_a_cost_counts_parameters():
    search = validate({})["search"]
    assert objectives.reads(search) == ()
    assert objectives.reads({**search, "objective": ["latency", "params"]}) == ("network", "search.operators")
    assert objectives.reads({**search, "max_params": 10**6}) == ("network", "search.operators")
    assert objectives.front_costs(["time", "params"]) == ("predicted_time", "params")


def test_cap_keys_name_the_caps_set_that_can_cut_the_strategy():
    search = {"time_constraint": 60.0, "max_params": None, "max_latency_ms": 3.0}
    assert objectives.cap_keys(search, True) == ["search.time_constraint", "search.max_latency_ms"]
    assert objectives.cap_keys(search, False) == ["search.max_latency_ms"]


def test_a_cost_that_cannot_be_measured_here_names_its_keys(monkeypatch):
    monkeypatch.setattr(runtime, "latency_unavailable", lambda: "needs ONNX Runtime")
    search = {"objective": ["latency"], "max_latency_ms": 2.0}
    assert objectives.unavailable_lines(search) == [
        "search.objective and search.max_latency_ms use the measured latency of the networks, which needs ONNX Runtime"
    ]
    assert objectives.unavailable_lines({"objective": ["time"]}) == []


def test_a_cost_the_predictors_did_not_make_is_an_error_before_any_front():
    config = validate({"search": {"objective": ["latency"]}})
    candidates = pd.DataFrame({"cell_id": ["a"], "cell": ["[]"], "predicted_latency": [float("nan")]})
    with pytest.raises(ValueError, match="no latency predictor was fitted"):
        objectives.with_costs(candidates, config, ["latency"], data=lambda: None, source="the candidates")


def test_an_unknown_objective_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown search.objective 'flops'; choose one of time, latency, params"):
        objectives.objective_of("flops")
