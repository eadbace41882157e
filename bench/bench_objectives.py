"""Benchmark: searches with different objectives judged in accuracy-latency space.

    python -m bench.bench_objectives --config config/config.yaml \
        --steps bench_work/results/default/popnas --steps bench_work/results/default-latency/popnas \
        [--out bench/results/objectives_default.json]

Every network the runs trained (their step tables) and each run's final cell is timed in one
process, in the same rounds, as the workflow's `measure_latency` job times a step's
(popnas_steps.latency): the runs' latencies are then directly comparable, whatever the
machine's speed did between the runs. For each run:
- its final cell (report/final.csv): test accuracy after the final training, latency;
- its most accurate network (validation) and that network's latency;
- its accuracy-latency front: the trained networks no other of the run beats in both;
- at each accuracy level (the first run's best validation accuracy less 0, 0.5, 1, 2 and 5
  points), the least latency among its networks that reach it.
The goal of issue 27: the second run's final cell at least 1.5x faster than the first's,
with a test accuracy within 0.5 points.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import RESULTS, machine, write_result
from popnas_steps import tables
from popnas_steps.config import load_config
from popnas_steps.latency import measure_latencies
from popnas_steps.layout import RunLayout
from popnas_steps.macro import NetworkSpec
from popnas_steps.space import Cell
from popnas_steps.work import DataShape

LEVELS = (0.0, 0.005, 0.01, 0.02, 0.05)  # below the first run's best validation accuracy


def accuracy_latency_front(trained: pd.DataFrame) -> pd.DataFrame:
    """The networks no other network of the table matches or beats in accuracy and latency."""
    ordered = trained.sort_values(["accuracy", "latency_ms"], ascending=[False, True])
    fastest, kept = np.inf, []
    for row in ordered.itertuples():
        if row.latency_ms < fastest:
            kept.append(row.Index)
            fastest = row.latency_ms
    return ordered.loc[kept]


def compare(config: dict, runs: list[Path]) -> dict:
    layouts = [RunLayout.of_steps(steps) for steps in runs]
    trained = {
        str(steps): tables.ok_rows(tables.read("trained", *layout.step_files("trained").values()))
        for steps, layout in zip(runs, layouts, strict=True)
    }
    finals = {str(steps): pd.read_csv(steps / "report" / "final.csv") for steps in runs}
    cells = {row.cell_id: Cell.from_json(row.cell) for table in trained.values() for row in table.itertuples()}
    cells |= {row.cell_id: Cell.from_json(row.cell) for table in finals.values() for row in table.itertuples()}
    data, spec = DataShape.read(layouts[0].metadata), NetworkSpec(**config["network"])
    measured = measure_latencies(cells, data, spec, config["deploy"], config["seed"]).set_index("cell_id")
    latency = measured["latency_ms"].astype(float)
    first_best = max(float(table["accuracy"].max()) for table in list(trained.values())[:1])
    result = {"reference_ms": float(measured["reference_ms"].iloc[0]), "networks_timed": len(cells), "runs": {}}
    for name, table in trained.items():
        table = table.assign(latency_ms=table["cell_id"].map(latency))
        best = table.sort_values(["accuracy", "latency_ms"], ascending=[False, True]).iloc[0]
        final = finals[name].iloc[0]
        front = accuracy_latency_front(table)
        result["runs"][name] = {
            "networks": len(table),
            "final_cell": {
                "cell_id": final["cell_id"], "cell": final["cell"], "params": int(final["params"]),
                "test_accuracy": float(final["test_accuracy"]), "latency_ms": float(latency[final["cell_id"]]),
                "onnx_latency_ms_of_export": float(final.get("onnx_latency_ms", np.nan)),
            },
            "most_accurate": {"cell_id": best["cell_id"], "val_accuracy": float(best["accuracy"]),
                              "latency_ms": float(best["latency_ms"])},
            "front": front[["cell_id", "b", "accuracy", "latency_ms", "params"]].to_dict("records"),
            "least_latency_at_accuracy": {
                f"{first_best - level:.4f}": _least(table, first_best - level) for level in LEVELS
            },
        }  # fmt: skip
    names = list(result["runs"])
    if len(names) >= 2:
        a, b = (result["runs"][name]["final_cell"] for name in names[:2])
        result["goal"] = {
            "final_latency_ratio_first_over_second": a["latency_ms"] / b["latency_ms"],
            "final_test_accuracy_gap_points_second_minus_first": 100 * (b["test_accuracy"] - a["test_accuracy"]),
            "met": a["latency_ms"] / b["latency_ms"] >= 1.5 and b["test_accuracy"] >= a["test_accuracy"] - 0.005,
        }
    return result


def _least(table: pd.DataFrame, accuracy: float) -> float | None:
    reaching = table[table["accuracy"] >= accuracy - 1e-12]
    return float(reaching["latency_ms"].min()) if len(reaching) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_objectives", description=__doc__.split("\n")[0])
    parser.add_argument("--config", nargs="+", required=True)
    parser.add_argument(
        "--steps", action="append", type=Path, required=True, help="a finished run; the first is the base"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "objectives.json")
    args = parser.parse_args(argv)
    config = load_config(*args.config)
    result = compare(config, args.steps)
    write_result(
        args.out, {"config": args.config, "deploy": config["deploy"], **result, "machine": machine()}, show=False
    )
    print(json.dumps({name: run["final_cell"] for name, run in result["runs"].items()}, indent=2))
    print(json.dumps(result.get("goal"), indent=2), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
