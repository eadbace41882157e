"""Benchmark: where the wall time of a search goes.

    python -m bench.bench_overhead                         # runs the embedded default in bench_work/overhead
    python -m bench.bench_overhead --analyse-only --workdir DIR --run default   # a run already finished in DIR
    python -m bench.bench_overhead --fit-models catboost nnls_catboost --workdir DIR --run default \
        --config config/config.yaml      # the fit and expand steps of a finished run, per time model

Per network (from each result.json): interpreter start-up, TensorFlow import, data loading,
model building, one-off tracing (first batch), training (t), validation, writing. Per job
(from the Snakemake log, 1 s resolution): the time of each rule's jobs, and the time
Snakemake itself spends between jobs (wall time not covered by any job). Pipeline overhead
= wall time - summed t, as a fraction of the wall time.
Writes bench/results/overhead.json.

With --fit-models, nothing is trained: the `fit` and `expand` step commands of every step
b >= 2 of a finished run are replayed with each time model in turn, interleaved and
repeated, and the median seconds and the ratio to the first model are written to
bench/results/fit_overhead.json: what a change of `predictors.time.model` costs the search.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import DEFAULT_CONFIG, RESULTS, ROOT, job_spans, machine, run_workflow, write_result

PHASES = ["interpreter_seconds", "import_seconds", "data_seconds", "build_seconds", "trace_seconds",
          "validation_seconds", "write_seconds"]  # fmt: skip


def covered(spans: list[tuple[str, float, float]]) -> float:
    """Seconds of wall time during which at least one job ran."""
    total, end = 0.0, -1.0
    for _, start, stop in sorted(spans, key=lambda s: s[1]):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def analyse(workdir: Path, run: str, wall: float | None) -> dict:
    cells = workdir / "results" / run / "cells"
    results = [json.loads(p.read_text()) for p in sorted(cells.glob("*/result.json"))]
    ok = [r for r in results if r["status"] == "ok"]
    phases = {p: round(sum(r["timings"].get(p) or 0.0 for r in ok) / len(ok), 2) for p in PHASES}
    train = sum(r["time"] for r in ok) / len(ok)
    per_network = sum(r["timings"]["process_seconds"] + (r["timings"].get("interpreter_seconds") or 0) for r in ok)
    log = max((workdir / ".snakemake" / "log").glob("*.snakemake.log"), key=lambda p: p.stat().st_mtime)
    spans = job_spans(log)
    log_wall = max(s[2] for s in spans) - min(s[1] for s in spans)
    wall = wall or log_wall
    by_rule: dict[str, float] = {}
    for rule, start, stop in spans:
        by_rule[rule] = by_rule.get(rule, 0.0) + stop - start
    summed_t = sum(r["time"] for r in ok)
    return {
        "networks": len(results),
        "mean_per_network_seconds": {
            **phases,
            "training_t": round(train, 2),
            "job_total": round(per_network / len(ok), 2),
        },
        "fixed_cost_per_network_seconds": round(per_network / len(ok) - train, 2),
        "wall_seconds": round(wall, 1),
        "summed_training_seconds": round(summed_t, 1),
        "pipeline_overhead_fraction": round((wall - summed_t) / wall, 3),
        "seconds_by_rule": {k: round(v) for k, v in sorted(by_rule.items(), key=lambda kv: -kv[1])},
        "snakemake_between_jobs_seconds": round(log_wall - covered(spans), 1),
        "snakemake_between_jobs_fraction": round((log_wall - covered(spans)) / log_wall, 3),
    }


def fit_seconds(config: dict, steps: Path, models: list[str], repeats: int) -> list[dict]:
    """Median seconds of the `fit` and `expand` commands of each step b >= 2, per time model."""
    timings: dict[tuple[int, str, str], list[float]] = {}
    bs = sorted(int(p.name[1:]) for p in steps.glob("b*") if (p / "predictors").is_dir())
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(repeats):
            for b in bs:
                for model in models:  # interleaved, so drifts of a shared machine hit every model alike
                    settings = json.dumps({**config, "predictors": {**config["predictors"],
                                           "time": {**config["predictors"]["time"], "model": model}}})  # fmt: skip
                    predictors, candidates = Path(scratch) / f"p{b}{model}", Path(scratch) / "c.parquet"
                    commands = {
                        "fit": ["fit", "--settings", settings, "--reindex", str(steps / "b1" / "reindex.csv"),
                                "--data", str(steps.parent / "data" / "metadata.json"), "--out", str(predictors),
                                *(str(steps / f"b{i}" / "trained.csv") for i in range(b))],
                        "expand": ["expand", "--settings", settings, "--predictors", str(predictors),
                                   "--parents", str(steps / f"b{b - 1}" / "trained.csv"), "--out", str(candidates)],
                    }  # fmt: skip
                    for name, arguments in commands.items():
                        started = time.perf_counter()
                        subprocess.run([sys.executable, "-m", "popnas_steps.cli.step", *arguments], check=True,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
                        timings.setdefault((b, name, model), []).append(time.perf_counter() - started)
    rows = []
    for (b, name, model), seconds in sorted(timings.items()):
        median, base = statistics.median(seconds), statistics.median(timings[(b, name, models[0])])
        rows.append({"b": b, "command": name, "time_model": model, "median_seconds": round(median, 2),
                     f"ratio_to_{models[0]}": round(median / base, 3)})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", default=str(ROOT / "bench_work" / "overhead"))
    parser.add_argument("--run", default="default")
    parser.add_argument("--analyse-only", action="store_true")
    parser.add_argument("--out", default=None, help="default: bench/results/overhead.json (fit_overhead.json)")
    parser.add_argument("--fit-models", nargs="+", help="replay fit and expand with each")
    parser.add_argument("--config", nargs="+", default=[str(DEFAULT_CONFIG)], help="with --fit-models")
    parser.add_argument("--strategy", default="popnas", help="with --fit-models: the steps folder")
    parser.add_argument("--repeats", type=int, default=3, help="with --fit-models")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    where = machine()
    if args.fit_models:
        from popnas_steps.config import load_config

        steps = workdir / "results" / args.run / args.strategy
        result = {"machine": where, "date": time.strftime("%Y-%m-%d"), "run": str(steps), "repeats": args.repeats,
                  "steps": fit_seconds(load_config(*args.config), steps, args.fit_models, args.repeats)}  # fmt: skip
        write_result(args.out or RESULTS / "fit_overhead.json", result)
        return
    wall = None
    if not args.analyse_only:
        wall = run_workflow(workdir)
    result = {"machine": where, "date": time.strftime("%Y-%m-%d"), **analyse(workdir, args.run, wall)}
    write_result(args.out or RESULTS / "overhead.json", result)


if __name__ == "__main__":
    main()
