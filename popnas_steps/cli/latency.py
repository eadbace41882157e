"""Measure the inference latency of a step's networks in ONNX Runtime (popnas_steps.latency).

    python -m popnas_steps.cli.latency --settings S --data results/<run>/data/metadata.json
        --selected b<b>/selected.csv [--reference b1/latency.csv] --out b<b>/latency.csv

Without --reference (or with an empty one), the job calibrates the run's reference latency
(the workflow's step b1); with it, the job reads it from that table.

One row per selected cell: its latency at batch 1 in milliseconds, or why it has none
(`missing`: ONNX Runtime is not installed; `failed`: it cannot be loaded, it refused the
graph, or it crashed), each reason said in one line on stderr. The timing runs in a child
process, so a native crash of the runtime is a recorded failure (latency.measure_in_child).
Exits 0 whatever a cell's latency, 2 on bad input, 1 where the machine failed (an error the
timing process raised: its traceback is in the log).
"""

from __future__ import annotations

import argparse
import sys
import time

from popnas_steps import tables
from popnas_steps.children import ChildError
from popnas_steps.cli.arguments import config_from_args
from popnas_steps.config import ConfigError
from popnas_steps.exits import bad_input, machine_fault
from popnas_steps.files import output_lock
from popnas_steps.latency import measure_in_child, run_reference_ms
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
        return bad_input(error)
    spec = NetworkSpec(**config["network"])
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        table = measure_in_child(cells, data, spec, config["deploy"], config["seed"], reference_ms)
    except ChildError as error:  # the machine's failure (memory, a disk): the job fails, a rerun retries
        print(error, file=sys.stderr)
        return machine_fault(
            "the timing process failed on this machine (its traceback is above); a rerun measures again"
        )
    measured = int((table["latency_status"] == "ok").sum())
    print(f"{measured} of {len(table)} networks timed in {time.perf_counter() - started:.1f} s "
          f"({time.process_time() - cpu_started:.1f} s of CPU)", flush=True)  # fmt: skip
    unmeasured = table.loc[table["latency_status"] != "ok", "latency_reason"]
    for reason, count in unmeasured.value_counts(sort=False).items():  # one line per reason, for the workflow's stderr
        print(f"popnas: no latency of {count} networks: {reason}", file=sys.stderr)
    with output_lock(args.out):
        tables.write("latency", table, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
