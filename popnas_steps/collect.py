"""A step's trained table: its selection joined with each cell's measured result.

Columns: popnas_steps.tables.COLUMNS["trained"]. Entry point: popnas_steps.cli.collect.
"""

from __future__ import annotations

import json

import pandas as pd

from popnas_steps import tables
from popnas_steps.results import concurrent, implausible


def trained_table(
    results: list[dict], selected: pd.DataFrame, b: int, latency: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per selected cell, in selection order, with its measured result.

    An `ok` result with implausible measurements (a NaN accuracy, a negative time) is a
    failed row with the reason, so that no predictor learns from it. `concurrent` is the
    mean count of trainings on the cell's device while it trained (1 = alone; results
    written before it was recorded count as alone). `latency`: the step's latency table
    (latency.measure_latencies); a cell without an ok latency has none.
    """
    latency_of, relative_of = {}, {}
    if latency is not None:
        ok = latency[latency["latency_status"] == "ok"]
        latency_of = dict(zip(ok["cell_id"], ok["latency_ms"].astype(float), strict=True))
        relative_of = dict(zip(ok["cell_id"], ok["latency_relative"].astype(float), strict=True))
    by_id = {result["cell_id"]: result for result in results}
    missing = sorted(set(selected["cell_id"]) - set(by_id))
    if missing:
        raise ValueError(f"no result for selected cells {missing}")
    rows = []
    for row in selected.to_dict("records"):
        result = by_id[row["cell_id"]]
        reason = implausible(result)
        if reason is not None:
            result = {"cell": result["cell"], "status": "failed", "reason": reason}
        rows.append(
            {
                "cell_id": row["cell_id"],
                "cell": json.dumps(result["cell"], separators=(",", ":")),
                "b": b,
                "origin": row["origin"],
                "status": result["status"],
                "accuracy": result.get("accuracy"),
                "time": result.get("time"),
                "params": result.get("params"),
                "predicted_accuracy": row.get("predicted_accuracy"),
                "predicted_time": row.get("predicted_time"),
                "reason": result.get("reason"),
                "concurrent": concurrent(by_id[row["cell_id"]]),
                "latency_ms": latency_of.get(row["cell_id"]),
                "latency_relative": relative_of.get(row["cell_id"]),
                "predicted_latency": row.get("predicted_latency"),
            }
        )
    return pd.DataFrame(rows, columns=tables.COLUMNS["trained"])
