"""popnas_steps.cost beyond what the status tests exercise: the ratio r before any
prediction has been measured, by whether the time model extrapolates."""

from __future__ import annotations

import pandas as pd
import pytest

from popnas_steps.cost import CostModel, extrapolating, time_ratio

MODEL = CostModel(intercept=4.0, slope=2.0, fitted_on=4, time_ratio=1.3, ratio_cells=0, dispatch=1.0,
                  step_overhead=10.0, overhead_step=None, step_mean_time={0: 1.0, 1: 3.0}, growth=2.0)  # fmt: skip


def test_a_network_costs_its_job_wall_and_dispatch():
    assert MODEL.network_seconds(5.0) == 4.0 + 2.0 * 5.0 + 1.0
    assert MODEL.mean_time(3) == 3.0 + 2.0 * 2


@pytest.mark.parametrize(("kind", "expected"), [("work_nnls", True), ("nnls_catboost", True), ("catboost", False),
                                                ("xgboost", False), ("a kind from elsewhere", False)])  # fmt: skip
def test_which_time_models_extrapolate(kind, expected):
    assert extrapolating(kind) is expected


def test_before_any_measured_prediction_r_depends_on_extrapolation():
    step = pd.DataFrame({"predicted_time": [2.0, 3.0, 4.0]})  # mean 3; the mean t extrapolated to b2 is 5
    assert time_ratio(MODEL, step, 2, extrapolates=True) == 1.0
    assert time_ratio(MODEL, step, 2, extrapolates=False) == pytest.approx(5.0 / 3.0)
    measured = CostModel(**{**MODEL.__dict__, "ratio_cells": 6})
    assert time_ratio(measured, step, 2, extrapolates=False) == 1.3
