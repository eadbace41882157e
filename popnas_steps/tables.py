"""The tables a run writes, in one place: their columns, a reader and a writer, and the
rows of successful trainings. The executable form of docs/outputs.md.

| name | file | one row per |
|---|---|---|
| selected | b<b>/selected.csv | cell chosen for training at step b |
| trained | b<b>/trained.csv | selected cell, with its measured result |
| latency | b<b>/latency.csv | selected cell: its network's measured latency |
| reindex | b1/reindex.csv | operator: its dynamic reindex |
| candidates | b<b>/candidates.parquet | expansion scored by the predictors |
| pareto | b<b>/pareto.csv | cell of the Pareto front |
| exploration | b<b>/exploration.csv | cell of the exploration front |
| dropped | b<b>/dropped.csv | cell of the selection that the budget dropped |
| quality | report/predictor_quality.csv | step: MAPE and Spearman of both predictors |
| summary | report/summary.csv | search (paper Table 4) |
| top | report/top_networks.csv | best network (paper Table 5) |
| final_selected | final/selected.csv | cell chosen for the final training |
| final | report/final.csv | cell of the final training |

`cell` is always the JSON of the cell's blocks. Pandas only: no TensorFlow.

A CSV table cut at a line break, or mid-row where the cut still parses, reads as a shorter
table; so `write` puts a hidden sidecar beside each CSV table, `.<name>.sha256`, holding
the SHA-256 of its bytes and its row count, written after the table: a table that does not
match its sidecar is damaged (and made again by the workflow), as is one killed between the
two writes. A CSV without a sidecar (an older popnas, or written by hand) reads as before; a
table edited by hand after popnas wrote it is damaged and made again, unless its sidecar is
deleted. Parquet tables are checked by their footer.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from popnas_steps.files import write_text, write_with

COLUMNS: dict[str, list[str]] = {
    "selected": ["cell_id", "cell", "origin", "predicted_accuracy", "predicted_time", "predicted_latency"],
    "trained": [
        "cell_id", "cell", "b", "origin", "status", "accuracy", "time", "params",
        "predicted_accuracy", "predicted_time", "reason", "concurrent", "latency_ms", "latency_relative",
        "predicted_latency",
    ],
    "latency": [
        "cell_id", "latency_status", "latency_ms", "latency_relative", "measured_ms", "reference_ms",
        "latency_reason", "latency_runtime", "latency_threads", "latency_machine",
    ],
    "reindex": ["operator", "cell_id", "time", "thrust_time", "reindex"],
    "candidates": ["cell_id", "cell", "predicted_accuracy", "predicted_time", "predicted_latency"],
    "pareto": ["rank", "cell_id", "cell", "predicted_accuracy", "predicted_time", "predicted_latency"],
    "exploration": ["rank", "cell_id", "cell", "predicted_accuracy", "predicted_time", "predicted_latency", "score"],
    "dropped": [
        "cell_id", "cell", "origin", "predicted_accuracy", "predicted_time", "predicted_latency", "predicted_seconds",
        "reason",
    ],
    "quality": [
        "b", "cells", "accuracy_mape", "accuracy_spearman", "time_mape", "time_spearman", "latency_mape",
        "latency_spearman",
    ],
    "summary": [
        "networks", "failed", "top1_accuracy", "top5_mean_accuracy", "top1_params", "top1_latency_ms",
        "search_time_seconds", "search_wall_seconds", "budget_ended_at",
    ],
    "top": ["rank", "cell_id", "cell", "b", "origin", "params", "accuracy", "time", "latency_ms"],
    "final_selected": ["cell_id", "cell", "b", "origin", "accuracy", "time"],
    "final": [
        "cell_id", "cell", "params", "val_accuracy", "test_accuracy", "test_top5_accuracy", "test_macro_f1",
        "time", "epochs",
        "onnx_top1_agreement", "onnx_latency_ms", "litert_top1_agreement", "litert_latency_ms",
        "litert_int8_test_accuracy", "litert_int8_latency_ms",
    ],
}  # fmt: skip

# Columns added after runs were written, with the value they mean where absent: a table of
# an older run reads (and writes) with it, so that no finished step is made again.
# (Latency: an older run's trained.csv has none until its step's latency job runs.)
_NO_LATENCY_PREDICTION = {"predicted_latency": float("nan")}
ADDED: dict[str, dict[str, object]] = {
    "trained": {  # concurrent: 1 = alone
        "concurrent": 1.0,
        "latency_ms": float("nan"),
        "latency_relative": float("nan"),
        **_NO_LATENCY_PREDICTION,
    },
    "selected": _NO_LATENCY_PREDICTION,
    "candidates": _NO_LATENCY_PREDICTION,
    "pareto": _NO_LATENCY_PREDICTION,
    "exploration": _NO_LATENCY_PREDICTION,
    "dropped": _NO_LATENCY_PREDICTION,
}


class TableError(ValueError):
    """A table that is not what its step expects (a missing column)."""


class DamagedTableError(TableError):
    """A table file that exists but cannot be parsed (truncated, overwritten), or that does
    not match its checksum sidecar (`error` is then the text saying so)."""

    def __init__(self, path: str | Path, error: Exception | str):
        why = error if isinstance(error, str) else f"cannot be read (truncated or damaged?): {error}"
        super().__init__(f"table '{path}' {why}")
        self.path = Path(path)


def read(name: str, *paths: str | Path) -> pd.DataFrame:
    """The `name` tables at `paths` as one, checked to hold their columns (parquet by suffix)."""
    frames = []
    for path in paths:
        frame = with_added(name, _read_file(path))
        missing = [column for column in COLUMNS[name] if column not in frame.columns]
        if missing:
            raise TableError(f"{path}: not a {name} table, it lacks the columns {missing}")
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=COLUMNS[name])
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def with_added(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    absent = {column: value for column, value in ADDED.get(name, {}).items() if column not in frame.columns}
    return frame.assign(**absent) if absent else frame


def _read_file(path: str | Path) -> pd.DataFrame:
    if not Path(path).is_file():
        raise FileNotFoundError(f"table '{path}' does not exist")
    if str(path).endswith(".parquet"):
        with _damage_named(path):
            return pd.read_parquet(path)
    with _damage_named(path):
        data = Path(path).read_bytes()  # read once: parsed, then hashed
        frame = _parse_csv(data)
    expected = _sidecar(path)
    if expected is not None and expected[0] != hashlib.sha256(data).hexdigest():
        why = "does not match its checksum (cut or edited after it was written)"
        raise DamagedTableError(path, f"{why}: {expected[1]} rows expected, {len(frame)} found")
    return frame


def _parse_csv(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), dtype={"cell_id": str})  # an id of 12 hex digits may be all digits


def sidecar_path(path: str | Path) -> Path:
    """The checksum sidecar of the CSV table at `path`: `.<name>.sha256` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.sha256")


def _sidecar(path: str | Path) -> tuple[str, str] | None:
    """(SHA-256, row count) from the sidecar of `path`, None where it has none. An unreadable
    sidecar gives a digest that matches nothing: the table is made again."""
    try:
        text = sidecar_path(path).read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return "", "?"
    fields = text.split()
    return (fields[0], fields[1]) if len(fields) == 2 else ("", "?")


@contextmanager
def _damage_named(path: str | Path) -> Iterator[None]:
    try:
        yield
    except (OSError, ValueError, UnicodeDecodeError) as error:  # Arrow's and pandas' parse errors are ValueErrors
        raise DamagedTableError(path, error) from None


def damage(path: str | Path) -> str | None:
    """Why the table file at `path` cannot be read or does not match its checksum sidecar, or
    None when it is good (parquet: its footer only, which a truncated file lacks)."""
    try:
        if str(path).endswith(".parquet"):
            import pyarrow.parquet

            with _damage_named(path):
                pyarrow.parquet.read_metadata(path)
        else:
            _read_file(path)
    except DamagedTableError as error:
        return str(error)
    return None


def write(name: str, table: pd.DataFrame, path: str | Path) -> None:
    """Write `table` as the `name` table at `path`, its columns first (extra ones after),
    under a temporary name renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = with_added(name, table)
    extra = [column for column in table.columns if column not in COLUMNS[name]]
    ordered = table[COLUMNS[name] + extra]
    if path.suffix == ".parquet":
        write_with(path, lambda partial: ordered.to_parquet(partial, index=False))
        return
    data = ordered.to_csv(index=False).encode()
    write_with(path, lambda partial: partial.write_bytes(data))
    # After the table: a kill between the two leaves a table that does not match its sidecar,
    # seen as damaged and made again, never a cut table accepted.
    write_text(sidecar_path(path), f"{hashlib.sha256(data).hexdigest()} {len(ordered)}\n")


def empty(name: str) -> pd.DataFrame:
    return pd.DataFrame(columns=COLUMNS[name])


def selection_table(cells: list, origin: str) -> pd.DataFrame:
    """The selected table of `cells` (space.Cell) chosen as `origin` with no prediction: the
    initial thrust and step b=1."""
    rows = [{"cell_id": cell.cell_id, "cell": cell.to_json(), "origin": origin} for cell in cells]
    return pd.DataFrame(rows, columns=COLUMNS["selected"])


def ok_rows(trained: pd.DataFrame) -> pd.DataFrame:
    """The cells whose training succeeded: the only ones with an accuracy and a time."""
    return trained[trained["status"] == "ok"]


def best(trained: pd.DataFrame, k: int) -> pd.DataFrame:
    """The k successful cells of highest accuracy (ties: the faster first)."""
    ordered = ok_rows(trained).sort_values(["accuracy", "time"], ascending=[False, True])
    return ordered.head(k).reset_index(drop=True)
