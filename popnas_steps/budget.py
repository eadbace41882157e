"""The search's GPU budget (search.budget_hours): how much of a step's selection it can still
pay for. Pure functions; the select step (popnas_steps.cli.step) reads the run and writes
b<b>/selected.csv and b<b>/dropped.csv.

GPU time is the summed job wall of the trainings (status's "sum job wall"); a selected cell
costs its predicted job seconds, from status's cost model (popnas_steps.status).
"""

from __future__ import annotations

import math

import pandas as pd

from popnas_steps import tables


def cut(selection: pd.DataFrame, seconds: pd.Series, spent: float, budget: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells of `selection` the budget pays for, and the dropped ones with their reason.

    `seconds` is each cell's predicted job seconds (same index), `spent` and `budget` are in
    seconds. Greedy in predicted-accuracy order (ties: the cheaper first): a cell that does
    not fit in what is left is skipped, and a cheaper cell of lower accuracy may still be
    taken after it, so the budget is used rather than stopped at the first large cell. The
    kept cells stay in their selection order (front, then exploration). A cell whose cost is
    unknown (NaN) never fits: the budget could not be kept.
    """
    order = (
        selection.assign(_seconds=seconds)
        .sort_values(["predicted_accuracy", "_seconds"], ascending=[False, True], kind="stable")
        .index
    )
    remaining = budget - spent
    kept, reasons = [], {}
    for index in order:
        cost = float(seconds.loc[index])
        if not math.isnan(cost) and cost <= remaining:
            kept.append(index)
            remaining -= cost
        elif spent >= budget:
            reasons[index] = f"budget used up: spent {spent / 3600:.3f} of {budget / 3600:.3f} GPU-hours"
        else:
            reasons[index] = (
                f"over budget: spent {spent / 3600:.3f} of {budget / 3600:.3f} GPU-hours, "
                f"{remaining / 3600:.3f} left after the cells of higher predicted accuracy"
            )
    keep = selection[selection.index.isin(kept)]
    dropped = selection.loc[list(reasons)].assign(
        predicted_seconds=seconds.loc[list(reasons)].to_numpy(dtype=float), reason=list(reasons.values())
    )
    return keep, dropped[tables.COLUMNS["dropped"]].reset_index(drop=True)
