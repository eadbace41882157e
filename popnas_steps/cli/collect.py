"""Entry point: gather the result.json of each cell trained in step b into `b<b>/trained.csv`.

    python -m popnas_steps.cli.collect --b 0 --selected b0/selected.csv --latency b0/latency.csv
        --out b0/trained.csv cells/<id>/result.json ...

Columns: tables.COLUMNS["trained"]: cell_id, cell (JSON), b, origin, status (ok | failed),
accuracy, time, params, predicted_accuracy, predicted_time (empty where no prediction was
made), reason, concurrent, latency_ms (empty where it could not be measured),
predicted_latency.
"""

from __future__ import annotations

import argparse
import sys

from popnas_steps import tables
from popnas_steps.collect import trained_table
from popnas_steps.exits import bad_input
from popnas_steps.files import output_lock
from popnas_steps.results import ResultError, read_results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popnas_steps.cli.collect", description=__doc__.split("\n")[0])
    parser.add_argument("--b", type=int, required=True, help="the block step")
    parser.add_argument("--selected", required=True, help="selected.csv of the step")
    parser.add_argument("--latency", help="latency.csv of the step (without it: no latencies)")
    parser.add_argument("--out", required=True, help="trained.csv to write")
    parser.add_argument("results", nargs="*", help="result.json files of the step's cells")
    args = parser.parse_args(argv)
    try:
        results = read_results(args.results)
    except ResultError as error:  # the workflow retrains a damaged result before it runs this
        return bad_input(f"{error}; run the workflow again, which trains that cell again")
    with output_lock(args.out):
        latency = tables.read("latency", args.latency) if args.latency else None
        table = trained_table(results, tables.read("selected", args.selected), args.b, latency)
        tables.write("trained", table, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
