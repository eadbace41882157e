"""Measure the inference latency of a step's networks in ONNX Runtime (popnas_steps.latency).

    python -m popnas_steps.cli.latency --settings S --data results/<run>/data/metadata.json
        --selected b<b>/selected.csv [--reference b1/latency.csv] --out b<b>/latency.csv

Without --reference (or with an empty one), the job calibrates the run's reference latency
(the workflow's step b1); with it, the job reads it from that table.

One row per selected cell: its latency at batch 1 in milliseconds, or why it has none
(`missing`: ONNX Runtime is not installed, said in one line on stderr; `failed`: the
runtime refused the graph). Exits 0 whatever a cell's latency, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
import time

from popnas_steps import tables
from popnas_steps.cli.arguments import config_from_args
from popnas_steps.config import ConfigError
from popnas_steps.files import output_lock
from popnas_steps.latency import measure_latencies, run_reference_ms
from popnas_steps.macro import NetworkSpec
from popnas_steps.space import Cell, CellError
from popnas_steps.work import DataShape


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popnas_steps.cli.latency", description=__doc__.split("\n")[0])
    parser.add_argument("--settings", required=True, help="the seed, network and deploy config slices as JSON")
    parser.add_argument("--data", required=True, help="the prepared data's metadata.json")
    parser.add_argument("--selected", required=True, help="selected.csv of the step")
    parser.add_argument("--reference", default="", help="latency.csv of the calibrating step (empty: calibrate)")
    parser.add_argument("--out", required=True, help="latency.csv to write")
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
        data = DataShape.read(args.data)
        selected = tables.read("selected", args.selected)
        cells = {row.cell_id: Cell.from_json(row.cell) for row in selected.itertuples()}
        reference_ms = run_reference_ms(tables.read("latency", args.reference)) if args.reference else None
    except (ConfigError, ValueError, CellError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    spec = NetworkSpec(**config["network"])
    started, cpu_started = time.perf_counter(), time.process_time()
    table = measure_latencies(cells, data, spec, config["deploy"], config["seed"], reference_ms)
    measured = int((table["latency_status"] == "ok").sum())
    print(f"{measured} of {len(table)} networks timed in {time.perf_counter() - started:.1f} s "
          f"({time.process_time() - cpu_started:.1f} s of CPU)", flush=True)  # fmt: skip
    missing = table[table["latency_status"] == "missing"]
    if len(missing):
        print(f"popnas: no latency of {len(missing)} networks: {missing['latency_reason'].iloc[0]}", file=sys.stderr)
    with output_lock(args.out):
        tables.write("latency", table, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
