"""The search's GPU budget (search.budget_hours): how much of a step's selection it can still
pay for. Pure functions, and `cut_step`, which reads the run's trainings to price a step's
selection; the select step (popnas_steps.cli.step) writes b<b>/selected.csv and
b<b>/dropped.csv.

GPU time is the summed job wall of the trainings (status's "sum job wall"), crashed ones
included; a selected cell costs its predicted job seconds, from the run's cost model
(popnas_steps.cost). A search can exceed its budget by the summed prediction error of the
step that uses it up (`overrun_bound`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from popnas_steps import tables


def cut(
    selection: pd.DataFrame, seconds: pd.Series, spent: float, budget: float, trained: pd.Series | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells of `selection` the budget pays for, and the dropped ones with their reason.

    `seconds` is each cell's predicted job seconds (same index), `spent` and `budget` are in
    seconds. Greedy in predicted-accuracy order (ties: the cheaper first): a cell that does
    not fit in what is left is skipped, and a cheaper cell of lower accuracy may still be
    taken after it, so the budget is used rather than stopped at the first large cell. The
    kept cells stay in their selection order (front, then exploration). A cell whose cost is
    unknown (NaN) never fits: the budget could not be kept.

    `trained` (bool, same index) marks the cells that already have a finished result (ok or
    failed: a rerun of the step, say after the budget was raised). They are kept first,
    whatever the budget: their GPU time is spent and cannot be had back, and dropping them
    would leave a trained cell in no selection, neither a parent nor counted as spent. `spent`
    counts the steps before this one only, so a trained cell's `seconds` should be its
    measured job wall (results.job_seconds; NaN, unknown, counts as none), and it is taken
    from what is left before the greedy prices the others.

    Monotone: the greedy alone is not monotone in the budget. With costs 400, 300 and 300 s
    in accuracy order and 1000 s spent, a budget of 1300 s keeps the second cell and one of
    1400 s the first alone. With `trained` it is where it matters: a rerun keeps every cell
    the earlier cut kept and trained, so raising the budget (or rerunning with the same one)
    keeps a superset of what is trained, and can only add cells that are not trained yet. A
    cell kept but not yet trained when the run stopped has cost nothing and may be dropped.

    What the budget holds: the predicted seconds of the kept cells that are not trained never
    exceed what is left, so the step overruns the budget by the error of their summed
    predicted cost, which grows with the step's size (not a network's cost): `overrun_bound`
    bounds it, given the worst step's summed error so far (`summed_time_errors`). Trained cells kept
    under a lowered budget can exceed it too, by what they already spent.
    """
    selection = tables.with_added("selected", selection)  # made before predicted_latency existed: NaN
    if trained is None:
        trained = pd.Series(False, index=selection.index)
    trained = trained.reindex(selection.index, fill_value=False).astype(bool)
    paid = seconds.loc[trained[trained].index]
    already = float(paid.fillna(0.0).sum())  # the trained cells of this step, outside `spent`
    untrained = selection[~trained]
    # the seconds as an array of the untrained rows: a Series assigned to an empty frame would
    # give it the Series' index, and walk the trained cells again as if they were new
    order = (
        untrained.assign(_seconds=seconds.reindex(untrained.index).to_numpy(dtype=float))
        .sort_values(["predicted_accuracy", "_seconds"], ascending=[False, True], kind="stable")
        .index
    )
    remaining = budget - spent - already
    after = "the cells already trained and those" if trained.any() else "the cells"
    with_trained = (
        f" (and {already / 3600:.3f} on the {int(trained.sum())} cells already trained)" if trained.any() else ""
    )
    kept, reasons = list(trained[trained].index), {}
    for index in order:
        cost = float(seconds.loc[index])
        if not math.isnan(cost) and cost <= remaining:
            kept.append(index)
            remaining -= cost
        elif spent + already >= budget:
            reasons[index] = f"budget used up: spent {spent / 3600:.3f} of {budget / 3600:.3f} GPU-hours{with_trained}"
        else:
            reasons[index] = (
                f"over budget: spent {spent / 3600:.3f} of {budget / 3600:.3f} GPU-hours, "
                f"{remaining / 3600:.3f} left after {after} of higher predicted accuracy"
            )
    keep = selection[selection.index.isin(kept)]
    dropped = selection.loc[list(reasons)].assign(
        predicted_seconds=seconds.loc[list(reasons)].to_numpy(dtype=float), reason=list(reasons.values())
    )
    return keep, dropped[tables.COLUMNS["dropped"]].reset_index(drop=True)


def overrun_bound(predicted_seconds_kept: float, measured_ratio_error: float) -> float:
    """The seconds by which a step's trainings exceed the budget at most, when its cut kept
    cells of `predicted_seconds_kept` summed predicted cost and their summed cost is
    mispredicted by `measured_ratio_error` e = (predicted - measured) / measured (a fraction:
    -0.12 for report.py's sum_error_b<b> of -12 %).

    The cut keeps the predicted sum within what is left, so the overrun is at most what the
    step's cells cost beyond their prediction, predicted / (1 + e) - predicted: it grows with
    the step, -12 % on a step of 100 networks is some 13.6 networks. Predicted high (e >= 0),
    none. The overrun does not add up over steps: the next step finds the budget used up and
    selects nothing. With e measured on the training time t (`summed_time_errors`) and applied
    to the whole cost a + s t + d, the bound holds as long as the fixed part a + d errs no more
    than t does; a crashed training costs its wall up to the crash, no more than predicted for
    a whole one as a rule."""
    predicted, error = float(predicted_seconds_kept), float(measured_ratio_error)
    if math.isnan(predicted) or math.isnan(error):
        return math.nan
    if predicted <= 0.0 or error >= 0.0:
        return 0.0
    if error <= -1.0:
        return math.inf
    return predicted * -error / (1.0 + error)


def summed_time_errors(cells: pd.DataFrame) -> dict[int, float]:
    """e = (predicted - measured) / measured of each step's summed training time t, as the
    budget priced the step: r * its cells' predicted t, r = sum t / sum predicted t over the
    ok cells of the steps before it that had a prediction (1 where none had: a time model with
    a linear part, the default; popnas_steps.cost.time_ratio). Over the ok cells of steps
    b >= 2 that had a prediction; `cells` has columns b, state, predicted_time and time
    (popnas_steps.artefacts.read_cells). The worst, min(...values()), is what `overrun_bound`
    takes for the next step."""
    ok = cells[(cells["state"] == "ok") & (cells["predicted_time"] > 0) & cells["time"].notna()]
    errors = {}
    for b in sorted(int(b) for b in ok.loc[ok["b"] >= 2, "b"].unique()):
        before, step = ok[ok["b"] < b], ok[ok["b"] == b]
        ratio = float(before["time"].sum() / before["predicted_time"].sum()) if len(before) else 1.0
        measured = float(step["time"].sum())
        if measured > 0:
            errors[b] = (ratio * float(step["predicted_time"].sum()) - measured) / measured
    return errors


def overrun_line(b: int, predicted_seconds_kept: float, errors: dict[int, float]) -> str:
    """The select step's line on how far step b can overrun the budget: `overrun_bound` of
    the kept cells' predicted seconds, not yet trained, with the worst of `errors`
    (`summed_time_errors` of the steps before b)."""
    if not errors:
        return (
            f"b{b}: the budget can be exceeded by the error of the {predicted_seconds_kept / 3600:.3f} GPU-hours "
            "predicted for this step's cells; no step's summed time error is measured yet"
        )
    worst = min(errors, key=errors.get)
    bound = overrun_bound(predicted_seconds_kept, errors[worst])
    return (
        f"b{b}: the budget can be exceeded by up to {bound / 3600:.3f} GPU-hours if the "
        f"{predicted_seconds_kept / 3600:.3f} predicted for this step's cells err as b{worst}'s summed time did "
        f"({100 * errors[worst]:+.1f} %)"
    )


def affordable(count: int, seconds_each: float, spent: float, budget: float) -> int:
    """How many of `count` cells of equal predicted cost `cut` keeps: the status forecast's
    view of a later step, whose cells are not known yet."""
    if count <= 0:
        return 0
    selection = pd.DataFrame({"predicted_accuracy": np.zeros(count), "cell_id": "", "cell": "", "origin": "",
                              "predicted_time": np.nan})  # fmt: skip
    kept, _ = cut(selection, pd.Series(np.full(count, float(seconds_each))), spent, budget)
    return len(kept)


def cut_step(layout, b: int, selected: pd.DataFrame, budget_hours: float) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Step b's selection cut to what `budget_hours` still pays for, priced on the run's
    trainings (`layout`: a popnas_steps.layout.RunLayout): the kept cells, the dropped ones,
    and the lines the step logs."""
    from popnas_steps.artefacts import finished_walls, read_cells
    from popnas_steps.cost import selection_seconds

    cells, selected_at = read_cells(layout)  # once: every result of the run is read and checked
    spent, seconds = selection_seconds(layout, b, selected, cells, selected_at)
    # cells of this step trained by an earlier run (a raised budget): kept, at their measured wall
    walls_by_id = finished_walls(layout, selected["cell_id"])
    trained = selected["cell_id"].isin(list(walls_by_id))
    walls = selected["cell_id"].map(walls_by_id)  # NaN: not trained, or an unknown wall (kept as predicted)
    seconds = seconds.where(walls.isna(), walls)
    kept, dropped = cut(selected, seconds, spent, budget_hours * 3600, trained=trained)
    new = kept.index[~trained.loc[kept.index]]
    errors = summed_time_errors(cells[cells["b"] < b])
    line = (f"b{b}: budget {budget_hours:g} GPU-hours, spent {spent / 3600:.3f} before b{b}; "
            f"{len(kept)} cells kept ({len(kept) - len(new)} already trained), costing "
            f"{seconds.loc[kept.index].sum() / 3600:.3f} GPU-hours, {len(dropped)} dropped (b{b}/dropped.csv)"
            f"\n{overrun_line(b, float(seconds.loc[new].sum()), errors)}")  # fmt: skip
    return kept, dropped, line
