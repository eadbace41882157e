"""A run's cells as its files record them: every selected cell of a strategy's steps, its
state (ok, failed, pending) and what its result measured. Only files are read; nothing is
written and no lock is taken, so it is safe while a search runs (status, the budget).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from popnas_steps import tables
from popnas_steps.layout import RunLayout
from popnas_steps.results import check_results, implausible, job_seconds

CELL_COLUMNS = ["b", "cell_id", "origin", "predicted_time", "state", "accuracy", "time", "wall", "started",
                "finished", "activity"]  # fmt: skip


def read_cells(layout: RunLayout, as_of: int | None = None) -> tuple[pd.DataFrame, dict[int, float]]:
    """Every selected cell of the run's steps (up to step `as_of`), one row each, and when
    each step's selection was written (unix seconds).

    state is ok, failed or pending (no result, or a damaged one, which the workflow trains
    again); wall is the job's wall time (the training process plus interpreter start-up);
    activity is the last time its job.log or train.log changed. With `as_of`, the results
    of step `as_of` and later are ignored: right after its selection, none existed.
    """
    selections = layout.step_files("selected")
    if as_of is not None:
        if as_of not in selections:
            raise FileNotFoundError(f"step b{as_of} of '{layout.steps}' has no selection")
        selections = {b: path for b, path in selections.items() if b <= as_of}
    if not selections:
        raise FileNotFoundError(f"'{layout.steps}' holds no step selection yet (b*/selected.csv)")
    rows, selected_at = [], {}
    for b, path in sorted(selections.items()):
        selected_at[b] = path.stat().st_mtime
        for row in tables.read("selected", path).to_dict("records"):
            rows.append({"b": b, "cell_id": row["cell_id"], "origin": row["origin"],
                         "predicted_time": finite_or_nan(row["predicted_time"])})  # fmt: skip
    cells = pd.DataFrame(rows, columns=["b", "cell_id", "origin", "predicted_time"])
    measured = cells if as_of is None else cells[cells["b"] < as_of]
    if as_of is not None and as_of <= 1:  # b0 and b1 are selected together, before any training
        measured = measured.iloc[:0]
    paths = [layout.result(cell_id) for cell_id in measured["cell_id"]]
    present = [path for path in paths if path.is_file()]
    by_id = {path.parent.name: result for path, (result, _) in zip(present, check_results(present), strict=True)
             if result is not None}  # fmt: skip
    cells = cells.assign(**pd.DataFrame([_measured(by_id.get(cell_id)) for cell_id in cells["cell_id"]],
                                        index=cells.index))  # fmt: skip
    if as_of is None:
        cells["activity"] = [_last_change(layout.cell(cell_id)) for cell_id in cells["cell_id"]]
    else:
        cells["activity"] = np.nan  # right after a selection, nothing of that step has started
    for b in selected_at:  # a copied run loses its file times; its trainings keep theirs
        started = cells.loc[cells["b"] == b, "started"].min()
        if not math.isnan(started):
            selected_at[b] = min(selected_at[b], started)
    return cells[CELL_COLUMNS], selected_at


def finished_walls(layout: RunLayout, cell_ids) -> dict[str, float]:
    """The job wall (results.job_seconds; NaN where unknown) of each of `cell_ids` that has a
    finished, readable result (ok or failed); a damaged result is trained again: not here."""
    paths = [layout.result(cell_id) for cell_id in cell_ids]
    present = [path for path in paths if path.is_file()]
    return {path.parent.name: job_seconds(result) for path, (result, _) in zip(present, check_results(present),
            strict=True) if result is not None}  # fmt: skip


def _measured(result: dict | None) -> dict:
    if result is None:
        return {"state": "pending", "accuracy": np.nan, "time": np.nan, "wall": np.nan, "started": np.nan,
                "finished": np.nan}  # fmt: skip
    timings = result.get("timings") or {}  # a crash recorded by an earlier version has none
    wall = job_seconds(result)
    ok = result["status"] == "ok" and implausible(result) is None  # as collect records it
    return {
        "state": "ok" if ok else "failed",
        "accuracy": finite_or_nan(result.get("accuracy")) if ok else np.nan,
        "time": finite_or_nan(result.get("time")) if ok else np.nan,
        "wall": wall,
        "started": finite_or_nan(timings.get("started_unix")),
        "finished": finite_or_nan(timings.get("finished_unix")),
    }


def finite_or_nan(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return np.nan
    return number if math.isfinite(number) else np.nan


def _last_change(folder: Path) -> float:
    times = [path.stat().st_mtime for path in (folder / "job.log", folder / "train.log") if path.is_file()]
    return max(times) if times else np.nan


def job_start(folder: Path) -> float:
    """When a running job began: its output lock is written first, then its job.log."""
    times = [path.stat().st_mtime for path in (folder / ".result.json.lock", folder / "job.log") if path.is_file()]
    return min(times) if times else np.nan
