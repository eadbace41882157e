"""A cell's result.json where it enters a step: read, checked, and repaired when damaged.

A result is the one expensive artefact of a search, and every table derives from it. So it
is checked where it is read:

- *damaged* (unreadable, not JSON, not a result, or its cell does not hash to its id): it
  cannot be trusted at all. The workflow trains the cell again, and so does it for a
  result that a collected step lacks (`stale_artefacts`);
- *implausible* (an `ok` result whose accuracy or time is not a finite number in range):
  `collect` records the cell as failed with that reason, so the search leaves it out.

`stale_artefacts` also says which cheaper files must be made again: damaged tables, a step's
latency table that is deleted or was measured without a usable ONNX Runtime that is usable
now, and a damaged export.json.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from functools import cache
from pathlib import Path

from popnas_steps import tables
from popnas_steps.deploy import export_damage
from popnas_steps.latency import remeasure_reason, runtime_loads
from popnas_steps.layout import RunLayout
from popnas_steps.provenance import data_differences, describe, made_differences, recipe
from popnas_steps.space import Cell, CellError, cell_from_list, cell_id, cell_ids

EMPTY_CELL_ID = cell_id(Cell())  # the initial thrust's


class ResultError(ValueError):
    """A result.json that cannot be trusted: unreadable, not JSON, or not this cell's."""


def read_result(path: str | Path) -> dict:
    """The result at `path`, checked to be one whole result of the cell its folder names."""
    return read_results([path])[0]


def read_results(paths: list[str | Path]) -> list[dict]:
    """The results at `paths`, checked as read_result says; ResultError names the first bad one."""
    checked = check_results(paths)
    for _, error in checked:
        if error is not None:
            raise error
    return [result for result, _ in checked]


def check_results(paths: list[str | Path]) -> list[tuple[dict | None, ResultError | None]]:
    """(result, None) for each good result at `paths`, (None, why) for each damaged one.

    The cells' ids are computed together (space.cell_ids): one at a time, hashing is most of
    the cost of checking a thousand results.
    """
    checked = []
    for path in map(Path, paths):
        try:
            checked.append(_parsed(path))
        except ResultError as error:
            checked.append((None, error))
    parsed = [(i, result, cell) for i, (result, cell) in enumerate(checked) if result is not None]
    ids = cell_ids([cell for _, _, cell in parsed])
    for (i, result, _), computed in zip(parsed, ids, strict=True):
        error = _mismatch(Path(paths[i]), result, computed)
        checked[i] = (None, error) if error is not None else (result, None)
    return checked


def _parsed(path: Path) -> tuple[dict, Cell]:
    try:
        result = json.loads(path.read_text())
    except OSError as error:
        raise ResultError(f"cannot read result '{path}': {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultError(f"result '{path}' is not valid JSON (truncated or overwritten?): {error}") from None
    if not isinstance(result, dict) or not {"cell_id", "cell", "status"} <= set(result):
        raise ResultError(f"result '{path}' is not a training result (it lacks cell_id, cell or status)")
    if result["status"] not in ("ok", "failed"):
        raise ResultError(f"result '{path}': status {result['status']!r} is neither 'ok' nor 'failed'")
    for key in ("timings", "sharing"):  # read as mappings by status, the budget and the reports
        if key in result and not isinstance(result[key], dict):
            raise ResultError(f"result '{path}': {key} is {type(result[key]).__name__}, not a mapping")
    try:
        return result, cell_from_list(result["cell"])
    except CellError as error:
        raise ResultError(f"result '{path}' holds no valid cell: {error}") from None


def _mismatch(path: Path, result: dict, computed: str) -> ResultError | None:
    if computed != result["cell_id"]:
        return ResultError(f"result '{path}': its cell hashes to {computed}, not to its cell_id {result['cell_id']}")
    if path.parent.name != computed:
        return ResultError(f"result '{path}' is the result of cell {computed}, not of the cell its folder names")
    return None


def implausible(result: dict) -> str | None:
    """Why an `ok` result's measurements cannot be used, or None when they can."""
    if result["status"] != "ok":
        return None
    accuracy, time, params = result.get("accuracy"), result.get("time"), result.get("params")
    if not _is_number(accuracy) or not 0.0 <= accuracy <= 1.0:
        return f"invalid result: accuracy {accuracy!r} is not a number in [0, 1]"
    if not _is_number(time) or time < 0.0:
        return f"invalid result: time {time!r} is not a non-negative number of seconds"
    if not isinstance(params, int) or isinstance(params, bool) or params < 0:
        return f"invalid result: params {params!r} is not a non-negative integer"
    return None


def concurrent(result: dict) -> float:
    """The mean count of trainings on the result's device while it trained, itself included
    (`sharing.concurrent_mean`); 1 (alone) for a result without one, written before it was
    recorded, or with one below 1."""
    sharing = result.get("sharing")
    mean = sharing.get("concurrent_mean") if isinstance(sharing, dict) else None
    return float(mean) if _is_number(mean) and mean >= 1.0 else 1.0


def job_seconds(result: dict) -> float:
    """The wall time of the job that trained the cell, from its interpreter's start to its
    result (`timings`: process_seconds + interpreter_seconds, the latter unknown off Linux and
    then counted as none), a crashed training's included (train_cell.record_crash: its job's
    wall up to the crash); NaN for a result without timings (a crash recorded by a version
    before that). The one definition of a job's wall: status, the budget and summary.csv all
    use it."""
    timings = result.get("timings") or {}
    process, interpreter = timings.get("process_seconds"), timings.get("interpreter_seconds")
    if not _is_number(process):
        return math.nan
    return float(process) + (float(interpreter) if _is_number(interpreter) else 0.0)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def stale_artefacts(layout: RunLayout, config: dict | None = None) -> tuple[set[str], list[str]]:
    """The files of a run that must be made again, each with why.

    For each step with a selection: a damaged result is made again (its cell retrained); a
    missing result of a step already collected makes its `trained.csv` be made again, which
    trains the cell first. A damaged table of a step is made again, and so is its latency
    table where it is missing from a collected step (its figures in `trained.csv` do not say
    why a latency is missing) or was measured where ONNX Runtime was missing or could not be
    loaded and can be now (latency.remeasure_reason). A damaged export.json of a final
    network is made again (the final report reads it). A failed initial thrust
    is trained again: the search cannot go on without it, and its failure (one cheap
    network) is more likely a passing fault than the empty cell's. Snakemake alone would do
    none of this: it does not rebuild a missing file that only finished files were made
    from, and a damaged file looks finished. The Snakefile passes these files to Snakemake as
    `--forcerun` does, so everything made from them is made again too.

    With the run's `config`, each file's provenance is checked too (popnas_steps.provenance):
    prepared data, results and final trainings made with other settings or data are made again.
    """
    forced: set[str] = set()
    reasons: list[str] = []
    data_changed = False
    if config is not None and layout.metadata.is_file():
        why = _data_differences(layout, config)
        if why:
            data_changed = True  # every cell trains again once the data is prepared again
            forced.add(str(layout.metadata))
            reasons.append(
                f"'{layout.data}' was prepared with {'; '.join(why)}: "
                "it will be prepared again, and every cell trained again"
            )
    expected = recipe(config, "cell") if config is not None and not data_changed else None
    data_sha = _data_sha256(layout)
    mismatches: Counter[str] = Counter()
    loads = cache(runtime_loads)  # one question per interpreter, whatever the count of steps
    for b in layout.step_numbers():
        step, selection = layout.step(b), layout.table(b, "selected")
        for table in sorted(step.glob("*.csv")) + sorted(step.glob("*.parquet")):
            why = tables.damage(table) if table != selection else None  # the selection is read below
            if why is not None:
                forced.add(str(table))
                reasons.append(f"{why}: it will be made again")
        latency = layout.table(b, "latency")
        why = _stale_latency(latency, layout.table(b, "trained"), loads) if str(latency) not in forced else None
        if why is not None:
            forced.add(str(latency))
            reasons.append(why)
        if not selection.is_file():
            continue
        try:
            selected = tables.read("selected", selection)
        except tables.TableError as error:  # damaged, or cut within its header
            forced.add(str(selection))
            reasons.append(f"{error}: it will be made again")
            continue
        trained = layout.table(b, "trained")
        paths = [layout.result(cell_id) for cell_id in selected["cell_id"]]
        present = [path for path in paths if path.is_file()]
        missing = [path.parent.name for path in paths if not path.is_file()]
        for path, (result, error) in zip(present, check_results(present), strict=True):
            if error is not None:
                forced.add(str(path))
                reasons.append(f"{error}: the cell will be trained again")
                continue
            found = made_differences(result, expected, data_sha) if expected is not None else []
            if found:
                forced.add(str(path))
                mismatches.update(describe(difference) for difference in found)
            elif result["cell_id"] == EMPTY_CELL_ID and result["status"] == "failed":
                forced.add(str(path))
                reasons.append(f"the initial thrust failed ({result.get('reason')}): it will be trained again")
        if missing and trained.is_file():
            forced.add(str(trained))
            reasons.append(f"'{trained}' lacks the results of {', '.join(missing)}: they will be trained and collected")
    reasons += [
        f"{count} result(s) in '{layout.cells}' were trained with {text}: they will be trained again"
        for text, count in mismatches.items()
    ]
    if config is not None and not data_changed:
        _stale_finals(layout, config, data_sha, forced, reasons)
    for path in sorted(layout.final.glob("*/export.json")):
        why = export_damage(path)
        if why is not None:
            forced.add(str(path))
            reasons.append(f"{why}: the network will be exported again")
    return forced, reasons


def _stale_latency(path: Path, trained: Path, loads) -> str | None:
    """Why a step's latency table must be measured again, or None (a damaged one is made again
    with the other tables)."""
    if not path.is_file():
        if trained.is_file():  # Snakemake would not remake it: its only reader, trained.csv, is finished
            return f"'{path}' is missing from collected step '{trained.parent.name}': it will be measured again"
        return None
    try:
        why = remeasure_reason(tables.read("latency", path), loads)
    except tables.TableError:
        return None
    return f"'{path}': {why}: it will be measured again" if why is not None else None


def _data_differences(layout: RunLayout, config: dict) -> list[str]:
    try:
        metadata = json.loads(layout.metadata.read_text())
    except (OSError, ValueError) as error:
        return [f"a metadata.json that cannot be read ({error})"]
    if not isinstance(metadata, dict):
        return ["a metadata.json that is not a mapping"]
    return data_differences(metadata, config)


def _data_sha256(layout: RunLayout) -> str | None:
    try:
        return json.loads(layout.metadata.read_text()).get("sha256")
    except (OSError, ValueError, AttributeError):
        return None


def _stale_finals(layout: RunLayout, config: dict, data_sha: str | None, forced: set[str], reasons: list[str]) -> None:
    """The final trainings whose metrics.json records another recipe or split, or none readable."""
    expected = recipe(config, "final")
    for path in sorted(layout.final.glob("*/metrics.json")):
        try:
            metrics = json.loads(path.read_text())
            made = metrics.get("settings") or {"final": {"epochs": metrics["epochs"]}}  # older: its epochs
            made = {**made, "data_sha256": metrics.get("data_sha256")}
        except (OSError, ValueError, AttributeError, KeyError, TypeError) as error:
            forced.add(str(path))
            reasons.append(f"final training '{path}' cannot be read ({error!r}): it will be trained again")
            continue
        found = made_differences(made, expected, data_sha)
        if found:
            forced.add(str(path))
            reasons.append(
                f"final training '{path.parent}' was trained with {'; '.join(map(describe, found))}: "
                "it will be trained again"
            )
