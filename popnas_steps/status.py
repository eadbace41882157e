"""Where a search stands and when it should end, read from its artefacts alone (the
command: popnas_steps.cli.status; the model: docs/status.md).

Only files are read: the steps' selections, the cells' result.json and the modification
times of a few files; nothing is written and no lock is taken, so it is safe while a search
runs. Every term of the forecast is in its output. `as_of=b` replays what the forecast said
right after step b was selected, from what existed then.

The forecast reads K, J, B and the budget of the run itself where its files record them
(each selection logs them: `selection_line`), so a status read with another run's config
still forecasts this run, and says so (`search_settings`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from popnas_steps import budget, tables
from popnas_steps.artefacts import finite_or_nan, job_start, read_cells
from popnas_steps.cost import CostModel, cell_seconds, cost_model, extrapolating, time_model_kind, time_ratio
from popnas_steps.layout import RunLayout
from popnas_steps.strategies import strategy_of
from popnas_steps.time_predictor import TimeSettings

# A training writes its job.log and train.log when it starts and when it ends, and nothing
# in between: a result-less cell counts as running while its logs are younger than this, or
# than twice the longest job measured so far (a long training is silent for that long).
RUNNING_WINDOW_SECONDS = 300.0

# The search settings the forecast reads beyond the strategy: K, J, B and the budget. The
# select rule is given them (its config slice), and its log line ends with them as JSON after
# this mark, so that status forecasts a run with its own settings whatever config it is given.
FORECAST_KEYS = ("beam", "exploration", "max_blocks", "budget_hours")
SETTINGS_MARK = "; search settings "
_KEY_NAMES = {"beam": "K", "exploration": "J", "max_blocks": "B", "budget_hours": "budget"}


def search_status(
    run_dir: str | Path,
    config: dict,
    strategy: str | None = None,
    gpus: int = 1,
    as_of: int | None = None,
    now: float | None = None,
    run_settings: bool = True,
) -> dict:
    """The status of a search (plain JSON values): each step's counts and measurements, the
    whole search, and the forecast of its end. Nothing is written.

    With `run_settings`, K, J, B and the budget are the run's own where its files record them
    (`search_settings`), and `warnings` says where the config's differ or stand in for them;
    without, the config's are taken as they are (the selection, which is given the run's)."""
    layout = RunLayout(Path(run_dir), strategy or config["search"]["strategy"])
    cells, selected_at = read_cells(layout, as_of)
    current = max(selected_at)
    if as_of is not None:
        now = selected_at[as_of]
    now = time.time() if now is None else now
    if run_settings:
        search, sources, warnings = search_settings(layout, config["search"], current)
    else:
        search, sources, warnings = config["search"], dict.fromkeys(FORECAST_KEYS, "config"), []
    config = {**config, "search": search}
    model = cost_model(cells, selected_at)
    longest = cells["wall"].max()
    window = max(RUNNING_WINDOW_SECONDS, 2 * longest) if not math.isnan(longest) else RUNNING_WINDOW_SECONDS
    running = (cells["state"] == "pending") & (now - cells["activity"] <= window)
    cells = cells.assign(running=running)
    ok = cells[cells["state"] == "ok"]
    best = ok.sort_values(["accuracy", "time"], ascending=[False, True]).head(1)
    started, started_at = search_start(layout, cells, selected_at, now)
    finished = current == search["max_blocks"] and not (cells["state"] == "pending").any()
    return _plain(
        {
            "run_dir": str(run_dir),
            "strategy": layout.strategy,
            "as_of": as_of,
            "now": now,
            "gpus": gpus,
            "steps": [_step(b, group) for b, group in cells.groupby("b")],
            "running_window_seconds": window,
            "settings": {**{key: search.get(key) for key in FORECAST_KEYS}, "from": sources},
            "warnings": warnings,
            "search": {
                "networks": int((cells["state"] != "pending").sum()),
                "failed": int((cells["state"] == "failed").sum()),
                "best": None if best.empty else {
                    "cell_id": best["cell_id"].iloc[0], "accuracy": best["accuracy"].iloc[0], "b": best["b"].iloc[0],
                },
                "started": started,
                "started_at": started_at,  # what marks the start (docs/status.md, "When a search started")
                "elapsed_seconds": now - started,
                "ended": cells["finished"].max() if finished else None,  # the end of the last training
            },
            "forecast": forecast(cells, model, config, layout, current, gpus, now),
        }
    )  # fmt: skip


def search_settings(layout: RunLayout, search: dict, up_to: int) -> tuple[dict, dict[str, str], list[str]]:
    """The config's search section with K, J, B and the budget (FORECAST_KEYS) replaced by
    the run's own where its files record them (the latest selection of a step 2 <= b <= up_to
    logs them all; an older run's accuracy predictor records B), the file each came from
    ("config" where none), and the warnings: one for each key where the config differs from
    the run, one naming the keys the run records nothing of and the config's values taken."""
    recorded, log = logged_settings(layout, up_to)
    sources = dict.fromkeys(recorded, str(log))
    if "max_blocks" not in recorded and (found := _predictor_blocks(layout, up_to)) is not None:
        recorded["max_blocks"], sources["max_blocks"] = found
    warnings = [
        f"the run's {_KEY_NAMES[key]} (search.{key}) is {_value(recorded[key])} ({sources[key]}), the config's "
        f"{_value(search.get(key))}: the forecast takes the run's"
        for key in FORECAST_KEYS
        if key in recorded and recorded[key] != search.get(key)
    ]
    missing = [key for key in FORECAST_KEYS if key not in recorded]
    if missing:
        taken = ", ".join(f"{_KEY_NAMES[key]} = {_value(search.get(key))}" for key in missing)
        fronts = _largest_fronts(layout, up_to)
        seen = f"; its fronts held up to {fronts[0]} cells, its exploration fronts {fronts[1]}" if fronts else ""
        warnings.append(
            f"'{layout.steps}' records no {', '.join(f'search.{key}' for key in missing)} (each selection from b2 "
            f"logs them): the forecast takes the config's, {taken}{seen}; if the config is not the run's, name the "
            "run's with --config"
        )
    return {**search, **recorded}, {key: sources.get(key, "config") for key in FORECAST_KEYS}, warnings


def logged_settings(layout: RunLayout, up_to: int) -> tuple[dict, Path | None]:
    """K, J, B and the budget as the latest selection of a step 2 <= b <= up_to logged them
    (`selection_line`), and its log; ({}, None) before b2 or for a run whose selections did not
    log them (made by an earlier version). A line that does not parse records nothing."""
    for b in sorted((b for b in layout.step_numbers() if 2 <= b <= up_to), reverse=True):
        log = layout.log(f"select_b{b}")
        try:
            lines = log.read_text().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in reversed(lines):
            _, mark, text = line.rpartition(SETTINGS_MARK)
            try:
                settings = json.loads(text) if mark else None
            except json.JSONDecodeError:
                continue
            if isinstance(settings, dict) and _plausible(settings):
                return {key: settings[key] for key in FORECAST_KEYS}, log
    return {}, None


def _plausible(settings: dict) -> bool:
    """Whether a logged line holds every key with a value the schema allows (a count, a budget
    or none)."""
    counts = [settings.get(key) for key in ("beam", "exploration", "max_blocks")]
    budget = settings.get("budget_hours", "absent")
    if not all(_is_count(n) and n >= 0 for n in counts):
        return False
    return budget is None or (_is_number(budget) and math.isfinite(budget) and budget > 0)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _predictor_blocks(layout: RunLayout, up_to: int) -> tuple[int, str] | None:
    """B as the latest accuracy predictor of a step 2 <= b <= up_to records it (it is built for
    cells of up to B blocks), and its file."""
    for b in sorted((b for b in layout.step_numbers() if 2 <= b <= up_to), reverse=True):
        path = layout.predictors(b) / "accuracy" / "info.json"
        try:
            blocks = json.loads(path.read_text()).get("max_blocks")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            continue
        if _is_count(blocks) and blocks >= 1:
            return blocks, str(path)
    return None


def _largest_fronts(layout: RunLayout, up_to: int) -> tuple[int, int] | None:
    """The most cells a front (pareto.csv) and an exploration front of steps 2 <= b <= up_to
    held: at most K (K + J for a random draw) and J, before any budget cut."""
    sizes = {"pareto": 0, "exploration": 0}
    for name in sizes:
        for b, path in layout.step_files(name).items():
            if b <= up_to:
                try:
                    sizes[name] = max(sizes[name], len(tables.read(name, path)))
                except (tables.TableError, OSError):
                    continue
    return (sizes["pareto"], sizes["exploration"]) if any(sizes.values()) else None


def _value(value) -> str:
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def search_start(
    layout: RunLayout, cells: pd.DataFrame, selected_at: dict[int, float], now: float
) -> tuple[float, str]:
    """When this strategy's search started, and what marks it (docs/status.md, "When a search
    started"): its own first job, the selection of its first step. A strategy run after
    another finds the cells of b0 and b1 (the same for every strategy) and maybe some later
    ones trained: their trainings are the other search's time, not its own.

    Where the files lost their times (a copy: its first selection looks written after its
    last training), the trainings tell: from its first training after the last one of
    another search's cells (ones no step of this strategy selected) that began before its own
    last training; with none, from its first training. Searches of a run run one after another."""
    first = layout.table(min(selected_at), "selected")
    written = first.stat().st_mtime
    last = cells["started"].max()
    kept = written <= now and not written > cells.loc[cells["b"] >= 2, "started"].max()  # NaN: nothing to tell by
    if kept:  # it trained at least its last cell of b >= 2 itself, after its first job
        return written, f"its first job: {first.parent.name}/{first.name} written"
    others = [began for began in _other_starts(layout, set(cells["cell_id"])) if began < last]
    if others:
        own = cells.loc[cells["started"] > max(others), "started"].min()
        return own, "its first training after another search's, which trained the cells it shares"
    return min([*selected_at.values(), cells["started"].min()]), "its first training"  # NaN last: min() skips it


def _other_starts(layout: RunLayout, own: set[str]) -> list[float]:
    """When each training of the run's cells that `own` does not hold began (those recorded)."""
    starts = []
    for path in layout.cells.glob("*/result.json"):
        if path.parent.name in own:
            continue
        try:
            timings = json.loads(path.read_text()).get("timings") or {}
            began = finite_or_nan(timings.get("started_unix"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            continue
        if not math.isnan(began):
            starts.append(began)
    return starts


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


def forecast(
    cells: pd.DataFrame,
    model: CostModel | None,
    config: dict,
    layout: RunLayout,
    current: int,
    gpus: int,
    now: float,
) -> dict:
    """The remaining time of the step under way and of the steps after it (docs/status.md,
    "The forecast"), the end time and the GPU-hours left. With search.budget_hours, each
    later step holds only the cells the budget will still pay for, as its select step will
    cut it (popnas_steps.budget)."""
    if model is None:
        return {"available": False, "why": "no training has finished yet"}
    search = config["search"]
    pending = cells[(cells["b"] == current) & (cells["state"] == "pending")]
    # the step's saved time model decides; the select step's slice holds no predictors (a
    # strategy without a time predictor has no predicted time for the kind to raise)
    configured = config.get("predictors", {}).get("time", {}).get("model", TimeSettings.model)
    kind = time_model_kind(layout, current, configured)
    extrapolates = extrapolating(kind)
    ratio = time_ratio(model, cells[cells["b"] == current], current, extrapolates)
    costs, whole = [], []  # what is left of each pending cell's cost, and all of it
    for row in pending.itertuples():
        cost = cell_seconds(model, ratio, row.predicted_time, current)
        whole.append(cost)
        if row.running:  # a running job is partly done
            cost = max(0.0, cost - (now - job_start(layout.cell(row.cell_id))))
        costs.append(cost)
    current_seconds = max(sum(costs) / gpus, max(costs, default=0.0))
    finished = cells["finished"].max()
    idle = now - finished if pending.empty and not math.isnan(finished) else 0.0
    budget_seconds = None if search.get("budget_hours") is None else search["budget_hours"] * 3600
    # what the budget will have counted before the next step: every finished wall and the
    # whole of each pending job (a running one's past is in no wall yet). A cell's cost holds
    # the dispatch d, which no job wall does: the forecast errs towards fewer cells.
    spent = float(cells["wall"].sum()) + sum(whole)
    strategy = strategy_of(layout.strategy)
    later = []
    for b in range(current + 1, search["max_blocks"] + 1):
        t = model.mean_time(b)
        network = model.network_seconds(t)
        count = strategy.step_size(b, search)
        if budget_seconds is not None:
            count = budget.affordable(count, network, spent, budget_seconds)
            spent += count * network
        if count == 0:  # nothing selected: the search ends, with no fit, expansion or training
            later.append({"b": b, "cells": 0, "mean_time": t, "network_seconds": network, "overhead_seconds": 0.0,
                          "seconds": 0.0})  # fmt: skip
            continue
        overhead = max(0.0, model.step_overhead - idle) if b == current + 1 else model.step_overhead
        later.append({"b": b, "cells": count, "mean_time": t, "network_seconds": network, "overhead_seconds": overhead,
                      "seconds": overhead + max(count * network / gpus, network)})  # fmt: skip
    remaining = current_seconds + sum(step["seconds"] for step in later)
    return {
        "available": True,
        "model": asdict(model),
        "current_step": {"b": current, "pending": len(costs), "running": int(pending["running"].sum()),
                         "predicted_time_seconds": pending["predicted_time"].sum(min_count=1), "time_ratio": ratio,
                         "time_model": kind, "time_model_trees_only": not extrapolates,
                         "gpu_seconds": sum(costs), "seconds": current_seconds, "ends": now + current_seconds},
        "later_steps": later,
        "remaining_seconds": remaining,
        "eta": now + remaining,
        "gpu_hours_remaining": (sum(costs) + sum(s["cells"] * s["network_seconds"] for s in later)) / 3600,
        "budget_hours": search.get("budget_hours"),
    }  # fmt: skip


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
                     f"{_clock(search['started'])} ({search['started_at']}) to {_clock(search['ended'])}")  # fmt: skip
        return "\n".join(lines)
    lines.append(f"elapsed since the search started: {_duration(search['elapsed_seconds'])} (from "
                 f"{_clock(search['started'])}, {search['started_at']})")  # fmt: skip
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
        f"forecast on {gpus} GPU{'s' if gpus > 1 else ''} (docs/status.md, The forecast):",
        f"  {_settings_line(status['settings'])}",
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
    if forecast["budget_hours"] is not None:
        lines.append(f"  budget {forecast['budget_hours']:g} GPU-hours: a later step holds the cells it still pays for")
    lines.append(
        f"  remaining {_duration(forecast['remaining_seconds'])}, search ends {_clock(forecast['eta'])}, "
        f"{forecast['gpu_hours_remaining']:.2f} GPU-hours left"
    )
    return lines


def _settings_line(settings: dict) -> str:
    """K, J, B and the budget, and the files they were read from (the run's, or the config)."""
    by_source: dict[str, list[str]] = {}
    for key in FORECAST_KEYS:
        by_source.setdefault(settings["from"][key], []).append(_KEY_NAMES[key])
    sources = "; ".join(f"{', '.join(keys)} from {source}" for source, keys in by_source.items())
    budget = "none" if settings["budget_hours"] is None else f"{settings['budget_hours']:g} GPU-hours"
    return (f"K = {settings['beam']}, J = {settings['exploration']}, B = {settings['max_blocks']}, budget {budget} "
            f"({sources})")  # fmt: skip


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


def selection_line(layout: RunLayout, b: int, config: dict) -> str:
    """The line the selection of step b logs: its cells, their predicted GPU time, the
    forecast end (on one GPU: the selection does not know how many the run has), and, at its
    end, K, J, B and the budget it was given, as JSON after SETTINGS_MARK: what status reads as
    the run's own settings (`logged_settings`)."""
    status = search_status(layout.run_dir, config, layout.strategy, run_settings=False)
    step = next(step for step in status["steps"] if step["b"] == b)
    line = (f"b{b}: selected {step['selected']} cells ({step['front']} front, {step['exploration']} exploration, "
            f"{step['pending']} to train)")  # fmt: skip
    forecast = status["forecast"]
    settings = SETTINGS_MARK + json.dumps({key: config["search"].get(key) for key in FORECAST_KEYS}, sort_keys=True)
    if not forecast["available"]:
        return f"{line}; no forecast: {forecast['why']}{settings}"
    return (
        f"{line}; predicted GPU time of the step {_duration(forecast['current_step']['gpu_seconds'])}; forecast "
        f"on 1 GPU: the step ends {_clock(forecast['current_step']['ends'])}, the search "
        f"{_clock(forecast['eta'])} (in {_duration(forecast['remaining_seconds'])}){settings}"
    )
