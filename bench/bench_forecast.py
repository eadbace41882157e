"""Benchmark: how right the forecast of `python -m popnas_steps.cli.status` was on finished runs.

    python -m bench.bench_forecast --run WORKDIR/results/<run> CONFIG [CONFIG...] [--run ...] [--gpus N]

For each step b >= 2 of each run, the forecast made right after b's selection (`--as-of b`:
the results of the steps before b only) against what then happened:

- the step's wall: from its selection to the end of its last training (the `finished_unix`
  of the results). Cross-checked against the run's Snakemake logs where they are in
  WORKDIR/.snakemake/log (1 s resolution): from the end of the step's `select` job to the
  end of its last `train_cell` job;
- the rest of the search: from b's selection to the end of the last step's trainings.

Writes bench/results/forecast.json and prints a table. The runs must have finished; they
are only read.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.common import RESULTS, LoggedJob, logged_jobs, machine, write_result
from popnas_steps.artefacts import read_cells
from popnas_steps.config import load_config
from popnas_steps.layout import RunLayout
from popnas_steps.status import search_status


def logged_walls(jobs: list[LoggedJob], run: str, strategy: str, cells, b: int, last: int):
    """The step's wall and the rest of the search, from the Snakemake log; None where absent."""
    ends = {job.output: job.end for job in jobs if job.output}
    selected = ends.get(f"results/{run}/{strategy}/b{b}/selected.csv")

    def trained(step: int) -> float | None:
        outputs = [f"results/{run}/cells/{cell_id}/result.json" for cell_id in cells.loc[cells["b"] == step, "cell_id"]]
        found = [ends[output] for output in outputs if output in ends]
        return max(found) if found and len(found) == len(outputs) else None

    step_end, search_end = trained(b), trained(last)
    if selected is None:
        return None, None
    return (step_end - selected if step_end else None), (search_end - selected if search_end else None)


def replay(run_dir: Path, config: dict, gpus: int) -> list[dict]:
    strategy = config["search"]["strategy"]
    cells, selected_at = read_cells(RunLayout(Path(run_dir), strategy))
    last = config["search"]["max_blocks"]
    if last not in selected_at or (cells["state"] == "pending").any():
        raise SystemExit(f"{run_dir}: the search has not finished (b{last} trained), nothing to replay")
    logs = sorted((run_dir.parent.parent / ".snakemake" / "log").glob("*.snakemake.log"))
    jobs = [job for log in logs for job in logged_jobs(log)]
    search_end = cells["finished"].max()
    rows = []
    for b in range(2, last + 1):
        status = search_status(run_dir, config, strategy, gpus, as_of=b)
        forecast = status["forecast"]
        step_end = cells.loc[cells["b"] == b, "finished"].max()
        log_step, log_rest = logged_walls(jobs, run_dir.name, strategy, cells, b, last)
        row = {
            "run": f"{run_dir.parent.parent.name}/{run_dir.name}",
            "b": b,
            "cells": int((cells["b"] == b).sum()),
            "step_forecast_seconds": forecast["current_step"]["seconds"],
            "step_actual_seconds": step_end - selected_at[b],
            "step_logged_seconds": log_step,
            "rest_forecast_seconds": forecast["remaining_seconds"],
            "rest_actual_seconds": search_end - selected_at[b],
            "rest_logged_seconds": log_rest,
            "time_ratio": forecast["current_step"]["time_ratio"],
            "predicted_t_seconds": forecast["current_step"]["predicted_time_seconds"],
            "measured_t_seconds": float(cells.loc[cells["b"] == b, "time"].sum()),
        }
        for part in ("step", "rest"):
            actual = row[f"{part}_actual_seconds"]
            row[f"{part}_error_percent"] = 100.0 * (row[f"{part}_forecast_seconds"] - actual) / actual
        rows.append({key: round(value, 2) if isinstance(value, float) else value for key, value in row.items()})
    return rows


def table(rows: list[dict]) -> str:
    header = ["run", "b", "cells", "step fc", "step act", "(log)", "err %", "rest fc", "rest act", "(log)", "err %",
              "r", "sum t^", "sum t"]  # fmt: skip
    lines = [header]
    for row in rows:
        lines.append([row["run"], str(row["b"]), str(row["cells"]), *(_s(row[f"step_{k}"]) for k in
                      ("forecast_seconds", "actual_seconds", "logged_seconds")), f"{row['step_error_percent']:+.0f}",
                      *(_s(row[f"rest_{k}"]) for k in ("forecast_seconds", "actual_seconds", "logged_seconds")),
                      f"{row['rest_error_percent']:+.0f}", f"{row['time_ratio']:.2f}", _s(row["predicted_t_seconds"]),
                      _s(row["measured_t_seconds"])])  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in lines)


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", nargs="+", action="append", required=True, metavar="RUN_DIR CONFIG",
                        help="a finished run's results/<run> folder, then its config file(s)")  # fmt: skip
    parser.add_argument("--gpus", type=int, default=1, help="the trainings the runs ran at once")
    parser.add_argument("--out", default=str(RESULTS / "forecast.json"))
    args = parser.parse_args()
    rows, runs = [], []
    for run_dir, *configs in args.run:
        if not configs:
            parser.error(f"--run {run_dir}: name its config file(s) after it")
        config = load_config(*configs)
        rows += replay(Path(run_dir), config, args.gpus)
        search = config["search"]
        runs.append({"run": run_dir, "config": configs, "strategy": search["strategy"], "B": search["max_blocks"],
                     "K": search["beam"], "J": search["exploration"]})  # fmt: skip
    result = {
        "machine": machine() | {"note": "where this replay ran"},
        "date": time.strftime("%Y-%m-%d"),
        "gpus": args.gpus,
        "runs": runs,
        "steps": rows,
    }
    write_result(args.out, result, show=False)
    print(table(rows))


if __name__ == "__main__":
    main()
