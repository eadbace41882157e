"""Entry point: gather the result.json of each cell trained in step b into `b<b>/trained.csv`.

    python -m popnas_steps.collect --b 0 --selected b0/selected.csv --out b0/trained.csv \
        cells/<id>/result.json ...

Columns: cell_id, cell (JSON), b, origin, status (ok | failed), accuracy, time, params,
predicted_accuracy, predicted_time (empty where no prediction was made), reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from popnas_steps import tables


def trained_table(results: list[dict], selected: pd.DataFrame, b: int) -> pd.DataFrame:
    """One row per selected cell, in selection order, with its measured result."""
    by_id = {result["cell_id"]: result for result in results}
    missing = sorted(set(selected["cell_id"]) - set(by_id))
    if missing:
        raise ValueError(f"no result for selected cells {missing}")
    rows = []
    for row in selected.to_dict("records"):
        result = by_id[row["cell_id"]]
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
            }
        )
    return pd.DataFrame(rows, columns=tables.COLUMNS["trained"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popnas_steps.collect", description=__doc__.split("\n")[0])
    parser.add_argument("--b", type=int, required=True, help="the block step")
    parser.add_argument("--selected", required=True, help="selected.csv of the step")
    parser.add_argument("--out", required=True, help="trained.csv to write")
    parser.add_argument("results", nargs="*", help="result.json files of the step's cells")
    args = parser.parse_args(argv)
    results = [json.loads(Path(path).read_text()) for path in args.results]
    tables.write("trained", trained_table(results, tables.read("selected", args.selected), args.b), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
