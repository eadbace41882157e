"""The cost model of a run: what a network and a step cost, measured on its finished
trainings (docs/status.md, "The forecast"). The budget (popnas_steps.budget, through the
select step) and the status forecast (popnas_steps.status) both price cells with it; it
imports neither.

    network seconds = a + s * t + d     (job wall fitted on t, plus Snakemake's dispatch)
    t of a selected cell = r * its predicted t, r = measured t / predicted t so far
    t of a later step = mean t of the last step + g per step
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from popnas_steps.layout import RunLayout
from popnas_steps.time_predictor import TIME_MODELS, TimeSettings


@dataclass
class CostModel:
    """What a network and a step cost on this run, measured on its finished trainings."""

    intercept: float  # a: job wall = a + slope * t, least squares over finished cells
    slope: float
    fitted_on: int
    time_ratio: float  # r = sum t / sum predicted t over finished cells that had a prediction (1 if none)
    ratio_cells: int
    dispatch: float  # d: median time from a job's end to the next job's start (Snakemake, job start-up)
    step_overhead: float  # o: from the last training of step b-1 to the selection of b (fit, expand, fronts)
    overhead_step: int | None  # the step o was measured on (the latest)
    step_mean_time: dict[int, float]  # mean t of the steps the growth is measured on
    growth: float  # g: mean t gained per step, between the last two of them

    def network_seconds(self, t: float) -> float:
        """One network's cost on one GPU: job wall plus dispatch."""
        return self.intercept + self.slope * t + self.dispatch

    def mean_time(self, b: int) -> float:
        last = max(self.step_mean_time)
        return self.step_mean_time[last] + self.growth * (b - last)


def cost_model(cells: pd.DataFrame, selected_at: dict[int, float]) -> CostModel | None:
    """The cost model of a run's finished trainings; None before the first one."""
    done = cells[cells["wall"].notna()]
    ok = done[done["time"].notna()]
    if ok.empty:
        return None
    intercept, slope = _wall_against_time(ok["time"].to_numpy(), ok["wall"].to_numpy())
    predicted = ok[ok["predicted_time"] > 0]
    ratio = float(predicted["time"].sum() / predicted["predicted_time"].sum()) if len(predicted) else 1.0
    overheads = {b: at - cells.loc[cells["b"] < b, "finished"].max() for b, at in selected_at.items() if b >= 2}
    overheads = {b: seconds for b, seconds in overheads.items() if not math.isnan(seconds)}
    last_overhead = max(overheads) if overheads else None
    means = _step_means(cells)
    steps = sorted(means)
    growth = max(0.0, means[steps[-1]] - means[steps[-2]]) / (steps[-1] - steps[-2]) if len(steps) > 1 else 0.0
    return CostModel(
        intercept=intercept,
        slope=slope,
        fitted_on=len(ok),
        time_ratio=ratio,
        ratio_cells=len(predicted),
        dispatch=_dispatch(done),
        step_overhead=max(0.0, overheads[last_overhead]) if overheads else 0.0,
        overhead_step=last_overhead,
        step_mean_time={b: means[b] for b in steps[-2:]},
        growth=growth,
    )


def _wall_against_time(t: np.ndarray, wall: np.ndarray) -> tuple[float, float]:
    """a and s of wall = a + s t. A job's wall holds its t, so s >= 1; the fixed part (start-up,
    tracing, validation) also grows with the network, which s > 1 carries."""
    slope = 1.0
    if len(t) >= 3 and np.ptp(t) > 0:
        slope = max(1.0, float(np.polyfit(t, wall, 1)[0]))
    return float(np.mean(wall - slope * t)), slope


def _step_means(cells: pd.DataFrame) -> dict[int, float]:
    """Mean t of each step whose trainings are all finished; while fewer than two are, the
    step under way counts with its finished cells (b=1, whose order is not by time)."""
    ok = cells[cells["time"].notna()]
    complete = {b for b, group in cells.groupby("b") if (group["state"] != "pending").all()}
    means = ok[ok["b"].isin(complete)].groupby("b")["time"].mean()
    if len(means) < 2:
        means = ok.groupby("b")["time"].mean()
    return {int(b): float(mean) for b, mean in means.items()}


def _dispatch(done: pd.DataFrame) -> float:
    """Median, over jobs, of the time from the last end of a job before it to its start: what
    Snakemake and a job's start-up add to each network. Holds for any number of concurrent
    jobs; the pauses between steps are few, and the median ignores them."""
    timed = done[done["started"].notna() & done["finished"].notna()]
    finishes = sorted(timed["finished"])
    gaps = []
    for start in timed["started"]:
        before = bisect.bisect_right(finishes, start)
        if before:
            gaps.append(start - finishes[before - 1])
    return float(np.median(gaps)) if gaps else 0.0


def cell_seconds(model: CostModel, ratio: float, predicted_time: float, b: int) -> float:
    """The predicted job seconds of one cell of step b: r * its predicted t, or the step's
    extrapolated mean t where it has no prediction (PNAS, the thrust and b=1), as a job."""
    t = ratio * predicted_time if predicted_time > 0 else model.mean_time(b)
    return model.network_seconds(t)


def selection_seconds(
    layout: RunLayout, b: int, selection: pd.DataFrame, cells: pd.DataFrame, selected_at: dict[int, float]
) -> tuple[float, pd.Series]:
    """What the trainings of the steps before b spent (their summed job wall, seconds) and
    the predicted job seconds of each cell of `selection`, a selection of step b, by the cost
    model of those trainings: the forecast's cost of a network, cell by cell. `cells` and
    `selected_at` are the run's, as artefacts.read_cells reads them; the selections of step b
    and later, which a rerun may find from before, are not used."""
    before = cells[cells["b"] < b]
    model = cost_model(before, {step: at for step, at in selected_at.items() if step < b})
    spent = float(before["wall"].sum())
    if model is None:
        raise ValueError(f"no training before b{b} succeeded: the cost of its selection cannot be predicted")
    predicted = pd.to_numeric(selection["predicted_time"], errors="coerce")
    extrapolates = extrapolating(time_model_kind(layout, b, TimeSettings.model))
    ratio = time_ratio(model, pd.DataFrame({"predicted_time": predicted}), b, extrapolates)
    seconds = [cell_seconds(model, ratio, value, b) for value in predicted]
    return spent, pd.Series(seconds, index=selection.index, dtype=float)


def time_ratio(model: CostModel, step: pd.DataFrame, b: int, extrapolates: bool) -> float:
    """r for the cells of step b: measured once some prediction has been. Before that, 1 for a
    model with a linear part (work_nnls, the default, nnls_catboost, nnls, ridge), which extrapolates to
    a new step's larger cells; for trees alone (catboost, xgboost), whose predictions of a new
    step err low, the mean t extrapolated to step b over the step's mean predicted t, and at
    least 1."""
    if model.ratio_cells:
        return model.time_ratio
    predicted = step.loc[step["predicted_time"] > 0, "predicted_time"]
    if extrapolates or not len(predicted):
        return 1.0
    return max(1.0, model.mean_time(b) / predicted.mean())


def time_model_kind(layout: RunLayout, b: int, default: str) -> str:
    """The time model that predicted step b's times: its saved info, else `default`."""
    try:
        return json.loads((layout.predictors(b) / "time" / "info.json").read_text())["kind"]
    except (OSError, ValueError, KeyError):
        return default


def extrapolating(kind: str) -> bool:
    """Whether time model `kind` predicts beyond the times it was fitted on (a linear part);
    a kind this code does not know is taken as trees alone, the cautious case."""
    model = TIME_MODELS.get(kind)
    return model is not None and model.extrapolates
