"""Where a search stands and when it should end, read from its artefacts alone.

    python -m popnas_steps.status [RUN_DIR] [--config FILE...] [--strategy popnas|pnas] [--gpus N]
                                  [--as-of B] [--json]

RUN_DIR is results/<run> (default: the `run` of the config, config/config.yaml unless
--config names others). Only files are read: the steps' selections, the cells' result.json
and the modification times of a few files; nothing is written and no lock is taken, so it
is safe while a search runs. The forecast model is the README's ("Watching a search:
`status`"); every term of it is in the output. `--as-of B` replays what the forecast said
right after step B was selected, from what existed then.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from popnas_steps import tables
from popnas_steps.results import check_results, implausible, job_seconds
from popnas_steps.time_predictor import TimeSettings

# A training writes its job.log and train.log when it starts and when it ends, and nothing
# in between: a result-less cell counts as running while its logs are younger than this, or
# than twice the longest job measured so far (a long training is silent for that long).
RUNNING_WINDOW_SECONDS = 300.0

CELL_COLUMNS = ["b", "cell_id", "origin", "predicted_time", "state", "accuracy", "time", "wall", "started",
                "finished", "activity"]  # fmt: skip


# --- reading the artefacts -------------------------------------------------------------------


def read_cells(run_dir: str | Path, strategy: str, as_of: int | None = None) -> tuple[pd.DataFrame, dict[int, float]]:
    """Every selected cell of the run's steps (up to step `as_of`), one row each, and when
    each step's selection was written (unix seconds).

    state is ok, failed or pending (no result, or a damaged one, which the workflow trains
    again); wall is the job's wall time (the training process plus interpreter start-up);
    activity is the last time its job.log or train.log changed. With `as_of`, the results
    of step `as_of` and later are ignored: right after its selection, none existed.
    """
    run_dir = Path(run_dir)
    selections = {int(path.parent.name[1:]): path for path in (run_dir / strategy).glob("b*/selected.csv")
                  if path.parent.name[1:].isdigit()}  # fmt: skip
    if as_of is not None:
        if as_of not in selections:
            raise FileNotFoundError(f"step b{as_of} of '{run_dir / strategy}' has no selection")
        selections = {b: path for b, path in selections.items() if b <= as_of}
    if not selections:
        raise FileNotFoundError(f"'{run_dir / strategy}' holds no step selection yet (b*/selected.csv)")
    rows, selected_at = [], {}
    for b, path in sorted(selections.items()):
        selected_at[b] = path.stat().st_mtime
        for row in tables.read("selected", path).to_dict("records"):
            rows.append({"b": b, "cell_id": row["cell_id"], "origin": row["origin"],
                         "predicted_time": _number(row["predicted_time"])})  # fmt: skip
    cells = pd.DataFrame(rows, columns=["b", "cell_id", "origin", "predicted_time"])
    measured = cells if as_of is None else cells[cells["b"] < as_of]
    if as_of is not None and as_of <= 1:  # b0 and b1 are selected together, before any training
        measured = measured.iloc[:0]
    paths = [run_dir / "cells" / cell_id / "result.json" for cell_id in measured["cell_id"]]
    present = [path for path in paths if path.is_file()]
    by_id = {path.parent.name: result for path, (result, _) in zip(present, check_results(present), strict=True)
             if result is not None}  # fmt: skip
    cells = cells.assign(**pd.DataFrame([_measured(by_id.get(cell_id)) for cell_id in cells["cell_id"]],
                                        index=cells.index))  # fmt: skip
    if as_of is None:
        cells["activity"] = [_last_change(run_dir / "cells" / cell_id) for cell_id in cells["cell_id"]]
    else:
        cells["activity"] = np.nan  # right after a selection, nothing of that step has started
    for b in selected_at:  # a copied run loses its file times; its trainings keep theirs
        started = cells.loc[cells["b"] == b, "started"].min()
        if not math.isnan(started):
            selected_at[b] = min(selected_at[b], started)
    return cells[CELL_COLUMNS], selected_at


def _measured(result: dict | None) -> dict:
    if result is None:
        return {"state": "pending", "accuracy": np.nan, "time": np.nan, "wall": np.nan, "started": np.nan,
                "finished": np.nan}  # fmt: skip
    timings = result.get("timings") or {}  # a training killed by a signal has none
    wall = job_seconds(result)
    ok = result["status"] == "ok" and implausible(result) is None  # as collect records it
    return {
        "state": "ok" if ok else "failed",
        "accuracy": _number(result.get("accuracy")) if ok else np.nan,
        "time": _number(result.get("time")) if ok else np.nan,
        "wall": wall,
        "started": _number(timings.get("started_unix")),
        "finished": _number(timings.get("finished_unix")),
    }


def _number(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return np.nan
    return number if math.isfinite(number) else np.nan


def _last_change(folder: Path) -> float:
    times = [path.stat().st_mtime for path in (folder / "job.log", folder / "train.log") if path.is_file()]
    return max(times) if times else np.nan


def _job_start(folder: Path) -> float:
    """When a running job began: its output lock is written first, then its job.log."""
    times = [path.stat().st_mtime for path in (folder / ".result.json.lock", folder / "job.log") if path.is_file()]
    return min(times) if times else np.nan


# --- the cost model ---------------------------------------------------------------------------


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


# --- the status and its forecast ----------------------------------------------------------------


def search_status(
    run_dir: str | Path,
    config: dict,
    strategy: str | None = None,
    gpus: int = 1,
    as_of: int | None = None,
    now: float | None = None,
) -> dict:
    """The status of a search (plain JSON values): each step's counts and measurements, the
    whole search, and the forecast of its end. Nothing is written."""
    strategy = strategy or config["search"]["strategy"]
    cells, selected_at = read_cells(run_dir, strategy, as_of)
    current = max(selected_at)
    if as_of is not None:
        now = selected_at[as_of]
    now = time.time() if now is None else now
    model = cost_model(cells, selected_at)
    longest = cells["wall"].max()
    window = max(RUNNING_WINDOW_SECONDS, 2 * longest) if not math.isnan(longest) else RUNNING_WINDOW_SECONDS
    running = (cells["state"] == "pending") & (now - cells["activity"] <= window)
    cells = cells.assign(running=running)
    ok = cells[cells["state"] == "ok"]
    best = ok.sort_values(["accuracy", "time"], ascending=[False, True]).head(1)
    started = min([*selected_at.values(), cells["started"].min()])
    finished = current == config["search"]["max_blocks"] and not (cells["state"] == "pending").any()
    return _plain(
        {
            "run_dir": str(run_dir),
            "strategy": strategy,
            "as_of": as_of,
            "now": now,
            "gpus": gpus,
            "steps": [_step(b, group) for b, group in cells.groupby("b")],
            "running_window_seconds": window,
            "search": {
                "networks": int((cells["state"] != "pending").sum()),
                "failed": int((cells["state"] == "failed").sum()),
                "best": None if best.empty else {
                    "cell_id": best["cell_id"].iloc[0], "accuracy": best["accuracy"].iloc[0], "b": best["b"].iloc[0],
                },
                "started": started,
                "elapsed_seconds": now - started,
                "ended": cells["finished"].max() if finished else None,  # the end of the last training
            },
            "forecast": forecast(cells, model, config, strategy, current, gpus, now, Path(run_dir)),
        }
    )  # fmt: skip


def _step(b: int, group: pd.DataFrame) -> dict:
    return {
        "b": b,
        "selected": len(group),
        "front": int((group["origin"] == "pareto").sum()),
        "exploration": int((group["origin"] == "exploration").sum()),
        "ok": int((group["state"] == "ok").sum()),
        "failed": int((group["state"] == "failed").sum()),
        "pending": int((group["state"] == "pending").sum()),
        "running": int(group["running"].sum()),
        "best_accuracy": group["accuracy"].max(),
        "time_seconds": group["time"].sum(min_count=1),
        "wall_seconds": group["wall"].sum(min_count=1),
    }


def step_sizes(config: dict, strategy: str, steps: range) -> dict[int, int]:
    """How many cells each step b >= 2 trains at most: K, plus J while b < B (POPNASv2 only;
    the last step has no exploration front)."""
    search = config["search"]
    exploring = search["exploration"] if strategy == "popnas" else 0
    return {b: search["beam"] + (exploring if b < search["max_blocks"] else 0) for b in steps}


def forecast(
    cells: pd.DataFrame,
    model: CostModel | None,
    config: dict,
    strategy: str,
    current: int,
    gpus: int,
    now: float,
    run_dir: Path,
) -> dict:
    """The remaining time of the step under way and of the steps after it (README, "Watching a
    search: `status`"), the end time and the GPU-hours left."""
    if model is None:
        return {"available": False, "why": "no training has finished yet"}
    pending = cells[(cells["b"] == current) & (cells["state"] == "pending")]
    kind = time_model_kind(run_dir / strategy, current, config["predictors"]["time"]["model"])
    trees_only = kind in TREE_TIME_MODELS
    ratio = time_ratio(model, cells[cells["b"] == current], current, trees_only)
    costs = []
    for row in pending.itertuples():
        cost = cell_seconds(model, ratio, row.predicted_time, current)
        if row.running:  # a running job is partly done
            cost = max(0.0, cost - (now - _job_start(run_dir / "cells" / row.cell_id)))
        costs.append(cost)
    current_seconds = max(sum(costs) / gpus, max(costs, default=0.0))
    finished = cells["finished"].max()
    idle = now - finished if pending.empty and not math.isnan(finished) else 0.0
    later = []
    for b, count in step_sizes(config, strategy, range(current + 1, config["search"]["max_blocks"] + 1)).items():
        t = model.mean_time(b)
        network = model.network_seconds(t)
        overhead = max(0.0, model.step_overhead - idle) if b == current + 1 else model.step_overhead
        later.append({"b": b, "cells": count, "mean_time": t, "network_seconds": network, "overhead_seconds": overhead,
                      "seconds": overhead + max(count * network / gpus, network)})  # fmt: skip
    remaining = current_seconds + sum(step["seconds"] for step in later)
    return {
        "available": True,
        "model": asdict(model),
        "current_step": {"b": current, "pending": len(costs), "running": int(pending["running"].sum()),
                         "predicted_time_seconds": pending["predicted_time"].sum(min_count=1), "time_ratio": ratio,
                         "time_model": kind, "time_model_trees_only": trees_only,
                         "gpu_seconds": sum(costs), "seconds": current_seconds, "ends": now + current_seconds},
        "later_steps": later,
        "remaining_seconds": remaining,
        "eta": now + remaining,
        "gpu_hours_remaining": (sum(costs) + sum(s["cells"] * s["network_seconds"] for s in later)) / 3600,
    }  # fmt: skip


def cell_seconds(model: CostModel, ratio: float, predicted_time: float, b: int) -> float:
    """The predicted job seconds of one cell of step b: r * its predicted t, or the step's
    extrapolated mean t where it has no prediction (PNAS, the thrust and b=1), as a job."""
    t = ratio * predicted_time if predicted_time > 0 else model.mean_time(b)
    return model.network_seconds(t)


def selection_seconds(run_dir: str | Path, strategy: str, b: int, selection: pd.DataFrame) -> tuple[float, pd.Series]:
    """What the trainings of the steps before b spent (their summed job wall, seconds) and
    the predicted job seconds of each cell of `selection`, a selection of step b, by the cost
    model of those trainings: the forecast's cost of a network, cell by cell. The selections
    of step b and later, which a rerun may find from before, are not read as results."""
    cells, selected_at = read_cells(run_dir, strategy)
    before = cells[cells["b"] < b]
    model = cost_model(before, {step: at for step, at in selected_at.items() if step < b})
    spent = float(before["wall"].sum())
    if model is None:
        raise ValueError(f"no training before b{b} succeeded: the cost of its selection cannot be predicted")
    predicted = pd.to_numeric(selection["predicted_time"], errors="coerce")
    trees_only = time_model_kind(Path(run_dir) / strategy, b, TimeSettings.model) in TREE_TIME_MODELS
    ratio = time_ratio(model, pd.DataFrame({"predicted_time": predicted}), b, trees_only)
    seconds = [cell_seconds(model, ratio, value, b) for value in predicted]
    return spent, pd.Series(seconds, index=selection.index, dtype=float)


# Time models that are trees alone: they predict no time beyond those they were fitted on.
TREE_TIME_MODELS = ("catboost", "xgboost")


def time_ratio(model: CostModel, step: pd.DataFrame, b: int, trees_only: bool) -> float:
    """r for the cells of step b: measured once some prediction has been. Before that, 1 for a
    model with a linear part (work_nnls, the default, nnls_catboost, nnls, ridge), which extrapolates to
    a new step's larger cells; for trees alone (catboost, xgboost), whose predictions of a new
    step err low, the mean t extrapolated to step b over the step's mean predicted t, and at
    least 1."""
    if model.ratio_cells:
        return model.time_ratio
    predicted = step.loc[step["predicted_time"] > 0, "predicted_time"]
    if not trees_only or not len(predicted):
        return 1.0
    return max(1.0, model.mean_time(b) / predicted.mean())


def time_model_kind(steps: Path, b: int, default: str) -> str:
    """The time model that predicted step b's times: its saved info, else `default`."""
    try:
        return json.loads((steps / f"b{b}" / "predictors" / "time" / "info.json").read_text())["kind"]
    except (OSError, ValueError, KeyError):
        return default


def _plain(value):
    """JSON's values: numpy numbers as Python ones, NaN as None, dictionary keys as text."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    return value


# --- text -------------------------------------------------------------------------------------------


def render(status: dict) -> str:
    """The status as the command prints it."""
    when = "now" if status["as_of"] is None else f"as of the selection of b{status['as_of']}"
    lines = [f"{status['run_dir']} ({status['strategy']}), {when}: {_clock(status['now'])}", ""]
    lines += _table(
        ["step", "selected", "front", "explor.", "ok", "failed", "pending", "running", "best acc", "sum t",
         "sum job wall"],
        [[f"b{step['b']}", step["selected"], *([step["front"], step["exploration"]] if step["b"] >= 2 else "--"),
          step["ok"], step["failed"], step["pending"], step["running"],
          "-" if step["best_accuracy"] is None else f"{step['best_accuracy']:.4f}",
          _duration(step["time_seconds"]), _duration(step["wall_seconds"])] for step in status["steps"]],
    )  # fmt: skip
    search, best = status["search"], status["search"]["best"]
    lines += ["", f"networks trained: {search['networks']} ({search['failed']} failed)"]
    lines.append("best cell: none yet" if best is None else f"best cell: {best['cell_id']}, accuracy "
                 f"{best['accuracy']:.4f} (b{best['b']})")  # fmt: skip
    if search["ended"] is not None:
        lines.append(f"the search is finished: it ran {_duration(search['ended'] - search['started'])}, from "
                     f"{_clock(search['started'])} (first artefact) to {_clock(search['ended'])}")  # fmt: skip
        return "\n".join(lines)
    lines.append(f"elapsed since the run started: {_duration(search['elapsed_seconds'])} (first artefact "
                 f"{_clock(search['started'])})")  # fmt: skip
    if status["as_of"] is None:
        lines.append(f"running: cells without a result whose job.log or train.log changed in the last "
                     f"{_duration(status['running_window_seconds'])}")  # fmt: skip
    return "\n".join([*lines, "", *_render_forecast(status)])


def _table(header: list[str], rows: list[list]) -> list[str]:
    rows = [header, *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]


def _render_forecast(status: dict) -> list[str]:
    forecast, gpus = status["forecast"], status["gpus"]
    if not forecast["available"]:
        return [f"forecast: none, {forecast['why']}"]
    model, step = forecast["model"], forecast["current_step"]
    means = ", ".join(f"b{b} {t:.1f} s" for b, t in model["step_mean_time"].items())
    last = max(model["step_mean_time"], key=int)
    ratio = (
        f"measured on {model['ratio_cells']} cells"
        if model["ratio_cells"]
        else f"none measured yet, {step['time_model']}: mean t extrapolated to b{step['b']} / mean predicted t, >= 1"
        if step["time_model_trees_only"]
        else f"none measured yet, {step['time_model']}: taken as predicted (its linear part extrapolates)"
    )
    overhead = f"before b{model['overhead_step']}" if model["overhead_step"] else "not measured yet"
    predicted = "none" if step["predicted_time_seconds"] is None else _duration(step["predicted_time_seconds"])
    lines = [
        f"forecast on {gpus} GPU{'s' if gpus > 1 else ''} (README, Watching a search):",
        f"  network = a + s*t + d = {model['intercept']:.1f} s + {model['slope']:.2f} * t + {model['dispatch']:.1f} s"
        f" (job wall fitted on {model['fitted_on']} trainings; d: Snakemake between jobs)",
        f"  t of a selected cell = r * predicted t, r = {step['time_ratio']:.2f} ({ratio})",
        f"  t of a later step = mean t of b{last} + g per later step, g = {model['growth']:.2f} s ({means})",
        f"  overhead of a step (fit, expand, fronts) o = {_duration(model['step_overhead'])} ({overhead})",
        f"  b{step['b']}: {step['pending']} cells to train ({step['running']} running), predicted t {predicted}, "
        f"{_duration(step['gpu_seconds'])} of GPU time: {_duration(step['seconds'])}, ends {_clock(step['ends'])}",
    ]
    for later in forecast["later_steps"]:
        lines.append(
            f"  b{later['b']}: o {_duration(later['overhead_seconds'])} + {later['cells']} cells of t "
            f"{later['mean_time']:.1f} s, {later['network_seconds']:.1f} s each: {_duration(later['seconds'])}"
        )
    lines.append(
        f"  remaining {_duration(forecast['remaining_seconds'])}, search ends {_clock(forecast['eta'])}, "
        f"{forecast['gpu_hours_remaining']:.2f} GPU-hours left"
    )
    return lines


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _clock(unix: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(unix))


def selection_line(selected: str | Path, config: dict) -> str:
    """The line a step's selection logs: its cells, their predicted GPU time, the forecast end
    (on one GPU: the selection does not know how many the run has). `selected` is
    results/<run>/<strategy>/b<b>/selected.csv."""
    selected = Path(selected)
    b, strategy, run_dir = int(selected.parent.name[1:]), selected.parent.parent.name, selected.parent.parent.parent
    status = search_status(run_dir, config, strategy)
    step = next(step for step in status["steps"] if step["b"] == b)
    line = (f"b{b}: selected {step['selected']} cells ({step['front']} front, {step['exploration']} exploration, "
            f"{step['pending']} to train)")  # fmt: skip
    forecast = status["forecast"]
    if not forecast["available"]:
        return f"{line}; no forecast: {forecast['why']}"
    return (
        f"{line}; predicted GPU time of the step {_duration(forecast['current_step']['gpu_seconds'])}; forecast "
        f"on 1 GPU: the step ends {_clock(forecast['current_step']['ends'])}, the search "
        f"{_clock(forecast['eta'])} (in {_duration(forecast['remaining_seconds'])})"
    )


def main(argv: list[str] | None = None, now: float | None = None) -> int:
    from popnas_steps.config import ConfigError, load_config

    parser = argparse.ArgumentParser(prog="python -m popnas_steps.status", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", nargs="?", type=Path, help="results/<run> (default: the config's run)")
    parser.add_argument("--config", nargs="+", default=["config/config.yaml"], help="the run's config file(s)")
    parser.add_argument("--strategy", choices=["popnas", "pnas"], help="default: the config's")
    parser.add_argument("--gpus", type=int, default=1, help="trainings at once (--resources gpu=N)")
    parser.add_argument("--as-of", type=int, help="the forecast made right after step B was selected")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args(argv)
    if args.gpus < 1:
        parser.error("--gpus must be at least 1")
    try:
        config = load_config(*args.config)
        status = search_status(args.run_dir or Path("results") / config["run"], config, args.strategy, args.gpus,
                               args.as_of, now)  # fmt: skip
    except (ConfigError, FileNotFoundError, tables.TableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0


if __name__ == "__main__":
    sys.exit(main())
