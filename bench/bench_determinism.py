"""Benchmark: the cost of deterministic trainings (`training.deterministic`), and what they buy.

    python -m bench.bench_determinism                    # single trainings, in bench_work/determinism
    python -m bench.bench_determinism --searches         # then two fresh default searches with it on
    python -m bench.bench_determinism --searches-only    # only the two searches (about 15 min each here)
    python -m bench.bench_determinism --compare DIR1 DIR2 [--run default]   # compare two finished runs

Single trainings: prepares the embedded default's data once, then trains five representative
cells of the default config (0 to 3 blocks of the default operators), each as its own
process exactly as the workflow's train_cell rule does, with `training.deterministic` off
and on interleaved per cell (off, on, off, on, ...) so that both settings see the same
machine load. Reports the job wall (result.json `process_seconds`, and the subprocess
timed from outside) and the training time t, as ratios on/off of adjacent pairs (median per
cell and over all pairs), whether the runs of one setting are bit-identical (accuracy and
every loss / accuracy / val_loss / val_accuracy of the history), and whether on equals off.

Searches (`--searches`): two complete default searches with `training.deterministic: true`,
one after the other, each in its own folder under the workdir, then `--compare` on them:
which step tables (`popnas/b*/{selected,trained,pareto,exploration}.csv`), cell results
(`cells/*/result.json`) and final metrics are byte-identical, which columns or keys differ
in the others (over the cells both hold), and how the predicted accuracy and time of the
candidates both runs scored (`b*/candidates.parquet`) compare.

Writes bench/results/determinism.json: each invocation replaces the parts it ran
("trainings", "searches") and keeps the others.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import DEFAULT_CONFIG, RESULTS, ROOT, machine, run_training_job, run_workflow, write_result

PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
CELLS = {
    "empty": [],
    "one_block": [[-1, "3x3 conv", -2, "identity"]],
    "two_blocks_a": [[-1, "3x3 conv", -2, "identity"], [0, "3x3 dconv", -1, "2x2 maxpool"]],
    "two_blocks_b": [[-2, "3x3 dconv", -1, "3x3 conv"], [-1, "2x2 maxpool", 0, "identity"]],
    "three_blocks": [
        [-1, "3x3 conv", -2, "3x3 dconv"],
        [0, "2x2 maxpool", -1, "identity"],
        [1, "3x3 conv", 0, "3x3 dconv"],
    ],
}
HISTORY_VALUES = ["loss", "accuracy", "val_loss", "val_accuracy"]
STEP_TABLES = ["selected", "trained", "pareto", "exploration"]


def overlay(workdir: Path, deterministic: bool) -> Path:
    """A config file that sets training.deterministic, read after config/config.yaml."""
    path = workdir / f"deterministic_{str(deterministic).lower()}.yaml"
    path.write_text(f"training:\n  deterministic: {str(deterministic).lower()}\n")
    return path


def prepare(workdir: Path) -> Path:
    data = workdir / "data"
    if not data.exists():
        command = [PYTHON, "-m", "popnas_steps.cli.datasets", "prepare", "--config", str(DEFAULT_CONFIG),
                   "--out", str(data)]  # fmt: skip
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return data


def train(workdir: Path, data: Path, cell: list, deterministic: bool, out: Path) -> dict:
    """One training as its own process, as the workflow runs it; its result.json plus the outside wall."""
    config = ["--config", str(DEFAULT_CONFIG), str(overlay(workdir, deterministic))]
    result, outside = run_training_job(config, data, json.dumps(cell), out, python=PYTHON, cwd=ROOT)
    if result["status"] != "ok":
        raise RuntimeError(f"training of {cell} failed: {result['reason']}")
    if result["training"].get("deterministic", False) != deterministic:
        raise RuntimeError(f"the overlay did not reach the recipe: {result['training']}")
    return {
        "deterministic": deterministic,
        "outside_wall": outside,
        "process_seconds": result["timings"]["process_seconds"],
        "t": result["time"],
        "trace_seconds": result["timings"].get("trace_seconds"),
        "accuracy": result["accuracy"],
        "history": [{k: epoch[k] for k in HISTORY_VALUES} for epoch in result["history"]],
    }


def identical(runs: list[dict]) -> bool:
    """Whether all runs have the same accuracy and history values, bit for bit."""
    return all(r["accuracy"] == runs[0]["accuracy"] and r["history"] == runs[0]["history"] for r in runs[1:])


def max_difference(runs: list[dict]) -> dict:
    """Largest absolute difference between runs, per history value and for the accuracy."""
    out = {"accuracy": max(abs(r["accuracy"] - runs[0]["accuracy"]) for r in runs)}
    for key in HISTORY_VALUES:
        pairs = (pair for r in runs for pair in zip(r["history"], runs[0]["history"], strict=True))
        out[key] = max(abs(a[key] - b[key]) for a, b in pairs)
    return {k: float(f"{v:.3g}") for k, v in out.items()}


def ratios(runs: list[dict], measure: str) -> list[float]:
    """on / off of each adjacent pair (off, on) of the interleaved runs."""
    return [on[measure] / off[measure] for off, on in zip(runs[0::2], runs[1::2], strict=True)]


def bench_trainings(workdir: Path, repeats: int) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    data = prepare(workdir)
    # Warm-up, not counted: the first process after preparing pays for cold file caches.
    train(workdir, data, CELLS["one_block"], False, workdir / "runs" / "warmup")
    per_cell, all_pairs = {}, {"process_seconds": [], "outside_wall": [], "t": []}
    for name, cell in CELLS.items():
        runs = []
        for repeat in range(repeats):
            for deterministic in (False, True):
                out = workdir / "runs" / name / f"{'on' if deterministic else 'off'}_{repeat}"
                runs.append(train(workdir, data, cell, deterministic, out))
                print(f"{name:13s} det={'on ' if deterministic else 'off'} wall {runs[-1]['outside_wall']:6.2f} s "
                      f"process {runs[-1]['process_seconds']:6.2f} s t {runs[-1]['t']:5.2f} s "
                      f"accuracy {runs[-1]['accuracy']:.4f}", flush=True)  # fmt: skip
        off, on = runs[0::2], runs[1::2]
        entry = {"cell": cell, "runs": runs}
        for measure in all_pairs:
            pairs = ratios(runs, measure)
            all_pairs[measure] += pairs
            entry[f"median_{measure}_off"] = round(statistics.median(r[measure] for r in off), 3)
            entry[f"median_{measure}_on"] = round(statistics.median(r[measure] for r in on), 3)
            entry[f"ratio_{measure}"] = round(statistics.median(pairs), 3)
        entry["deterministic_runs_identical"] = identical(on)
        entry["nondeterministic_runs_identical"] = identical(off)
        entry["on_equals_off"] = identical(off + on)
        entry["max_difference_on"] = max_difference(on)
        entry["max_difference_off"] = max_difference(off)
        entry["accuracy_on"] = [r["accuracy"] for r in on]
        entry["accuracy_off"] = [r["accuracy"] for r in off]
        per_cell[name] = entry
    return {
        "command": "python -m bench.bench_determinism",
        "repeats_per_setting": repeats,
        "order": "per cell: off, on, off, on (adjacent pairs share the machine load)",
        "median_ratio_on_off": {m: round(statistics.median(v), 3) for m, v in all_pairs.items()},
        "pair_ratios": {m: [round(x, 3) for x in v] for m, v in all_pairs.items()},
        "cells_deterministic_identical": sum(e["deterministic_runs_identical"] for e in per_cell.values()),
        "cells_nondeterministic_identical": sum(e["nondeterministic_runs_identical"] for e in per_cell.values()),
        "cells_on_equals_off": sum(e["on_equals_off"] for e in per_cell.values()),
        "cells": len(per_cell),
        "per_cell": per_cell,
    }


def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def compare_csv(a: Path, b: Path) -> dict:
    """Which columns of two tables differ, and whether their cells (cell_id, in order) are the same."""
    columns_a, rows_a = _read_csv(a)
    columns_b, rows_b = _read_csv(b)
    out: dict = {"rows": [len(rows_a), len(rows_b)]}
    if columns_a != columns_b:
        out["columns_only_in_one"] = sorted(set(columns_a) ^ set(columns_b))
    if "cell_id" in columns_a and "cell_id" in columns_b:
        ids_a, ids_b = [r["cell_id"] for r in rows_a], [r["cell_id"] for r in rows_b]
        out["same_cells_same_order"] = ids_a == ids_b
        out["same_cells"] = sorted(ids_a) == sorted(ids_b)
        out["cells_in_both"] = len(set(ids_a) & set(ids_b))
        # Compare row by cell: a different order is reported above, not as every column differing.
        by_id_b = {r["cell_id"]: r for r in rows_b}
        pairs = [(r, by_id_b[r["cell_id"]]) for r in rows_a if r["cell_id"] in by_id_b]
    else:
        pairs = list(zip(rows_a, rows_b, strict=False))  # unequal lengths: "rows" says so
    out["differing_columns"] = sorted({c for ra, rb in pairs for c in columns_a if c in rb and ra[c] != rb[c]})
    return out


def _flatten(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        records: dict = {}
        for item in value:
            for k, v in _flatten(item, f"{prefix}[*]").items():
                records.setdefault(k, []).append(v)
        return records
    return {prefix: value}


def compare_json(a: Path, b: Path) -> list[str]:
    """Keys (lists of records as [*]) whose values differ between two JSON files."""
    flat_a, flat_b = _flatten(json.loads(a.read_text())), _flatten(json.loads(b.read_text()))
    return sorted(k for k in flat_a.keys() | flat_b.keys() if flat_a.get(k) != flat_b.get(k))


def compare_candidates(a: Path, b: Path) -> dict:
    """Scores of the candidates both runs scored (b*/candidates.parquet): how many equal, the largest relative gap."""
    import pandas as pd

    both = pd.read_parquet(a).merge(pd.read_parquet(b), on="cell_id", suffixes=("_1", "_2"))
    out: dict = {"candidates": [len(pd.read_parquet(a)), len(pd.read_parquet(b))], "in_both": len(both)}
    for column in ("predicted_accuracy", "predicted_time"):
        gap = (both[f"{column}_1"] - both[f"{column}_2"]).abs()
        out[column] = {
            "equal_fraction": round(float((gap == 0).mean()), 4),
            "max_relative_difference": float(f"{(gap / both[f'{column}_1'].abs()).max():.3g}"),
        }
    return out


def compare_runs(dir_a: Path, dir_b: Path, run: str = "default") -> dict:
    """Step tables, cell results and final metrics of two finished runs: identical or which columns/keys differ."""
    root_a, root_b = dir_a / "results" / run, dir_b / "results" / run
    tables: dict = {}
    steps_a = sorted(p.name for p in (root_a / "popnas").glob("b*") if re.fullmatch(r"b\d+", p.name))
    for step in steps_a:
        for name in STEP_TABLES:
            a, b = root_a / "popnas" / step / f"{name}.csv", root_b / "popnas" / step / f"{name}.csv"
            if not a.exists() and not b.exists():
                continue
            key = f"{step}/{name}.csv"
            if not (a.exists() and b.exists()):
                tables[key] = {"identical": False, "missing_in": str(dir_b if a.exists() else dir_a)}
            elif a.read_bytes() == b.read_bytes():
                tables[key] = {"identical": True}
            else:
                tables[key] = {"identical": False, **compare_csv(a, b)}
    candidates = {}
    for step in steps_a:
        a, b = root_a / "popnas" / step / "candidates.parquet", root_b / "popnas" / step / "candidates.parquet"
        if a.exists() and b.exists():
            candidates[step] = compare_candidates(a, b)
    cells_a = {p.parent.name for p in (root_a / "cells").glob("*/result.json")}
    cells_b = {p.parent.name for p in (root_b / "cells").glob("*/result.json")}
    differing_keys: dict[str, int] = {}
    byte_identical = 0
    for cell in sorted(cells_a & cells_b):
        a, b = root_a / "cells" / cell / "result.json", root_b / "cells" / cell / "result.json"
        if a.read_bytes() == b.read_bytes():
            byte_identical += 1
        for key in compare_json(a, b):
            differing_keys[key] = differing_keys.get(key, 0) + 1
    final: dict = {}
    for a in sorted((root_a / "popnas" / "final").glob("*/metrics.json")):
        b = root_b / "popnas" / "final" / a.parent.name / "metrics.json"
        name = f"final/{a.parent.name}/metrics.json"
        if not b.exists():
            final[name] = {"identical": False, "missing_in": str(dir_b)}
        else:
            final[name] = {"identical": a.read_bytes() == b.read_bytes(), "differing_keys": compare_json(a, b)}
    for name in ("popnas/final/selected.csv", "popnas/report/final.csv"):
        a, b = root_a / name, root_b / name
        if a.exists() and b.exists():
            same = a.read_bytes() == b.read_bytes()
            final[name.removeprefix("popnas/")] = {"identical": same, **({} if same else compare_csv(a, b))}
    return {
        "dirs": [str(dir_a), str(dir_b)],
        "step_tables": tables,
        "step_tables_identical": sorted(k for k, v in tables.items() if v["identical"]),
        "step_tables_differing": {k: v.get("differing_columns") for k, v in tables.items() if not v["identical"]},
        "candidate_scores": candidates,
        "cells": {
            "in_both": len(cells_a & cells_b),
            "only_in_first": sorted(cells_a - cells_b),
            "only_in_second": sorted(cells_b - cells_a),
            "result_json_byte_identical": byte_identical,
            "differing_keys_count_of_cells": dict(sorted(differing_keys.items())),
        },
        "final": final,
    }


def run_searches(workdir: Path) -> dict:
    """Two fresh complete default searches with deterministic trainings, one after the other."""
    walls = {}
    dirs = [workdir / "search_1", workdir / "search_2"]
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        det = d / "det.yaml"
        det.write_text("training:\n  deterministic: true\n")
        print(f"search in {d} ...", flush=True)
        walls[d.name] = round(run_workflow(d, configs=[DEFAULT_CONFIG, det]), 1)
        print(f"  {walls[d.name]} s", flush=True)
    return {"walls_seconds": walls, **compare_runs(*dirs)}


def summary(result: dict) -> None:
    trainings = result.get("trainings")
    if trainings:
        print("\nper cell: ratio on/off (median of pairs) process wall | outside wall | t; identical on | off")
        for name, e in trainings["per_cell"].items():
            same = f"{e['deterministic_runs_identical']} | {e['nondeterministic_runs_identical']}"
            figures = f"{e['ratio_process_seconds']:.3f} | {e['ratio_outside_wall']:.3f} | {e['ratio_t']:.3f}"
            print(f"  {name:13s} {figures}; {same}")
        print(f"  overall median ratios: {trainings['median_ratio_on_off']}")
        n, on = trainings["cells"], trainings["cells_deterministic_identical"]
        off = trainings["cells_nondeterministic_identical"]
        print(f"  cells identical with deterministic on: {on}/{n}, off: {off}/{n}; "
              f"on equal to off: {trainings.get('cells_on_equals_off')}/{n}")  # fmt: skip
    searches = result.get("searches")
    if searches:
        print(f"\nsearches: identical step tables {searches['step_tables_identical']}")
        print(f"  differing step tables (columns): {searches['step_tables_differing']}")
        print(f"  candidate scores: {searches['candidate_scores']}")
        print(f"  cells: {searches['cells']}")
        print(f"  final: {searches['final']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=str(ROOT / "bench_work" / "determinism"))
    parser.add_argument("--repeats", type=int, default=2, help="runs per setting and cell")
    parser.add_argument("--searches", action="store_true", help="also run and compare two deterministic searches")
    parser.add_argument("--searches-only", action="store_true", help="only the two searches and their comparison")
    parser.add_argument("--compare", nargs=2, metavar="DIR", help="only compare two finished runs")
    parser.add_argument("--run", default="default", help="run name of the compared runs")
    parser.add_argument("--out", default=str(RESULTS / "determinism.json"))
    args = parser.parse_args()
    workdir, out = Path(args.workdir).resolve(), Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {}  # keep the parts not run now
    result.update({"date": time.strftime("%Y-%m-%d"), "machine": machine()})
    if not (args.compare or args.searches_only):
        result["trainings"] = bench_trainings(workdir, args.repeats)
    if args.compare:
        dirs = [Path(d).resolve() for d in args.compare]
        previous = result.get("searches", {})
        result["searches"] = {"command": f"python -m bench.bench_determinism --compare {' '.join(args.compare)}",
                              **compare_runs(*dirs, args.run)}  # fmt: skip
        if previous.get("dirs") == result["searches"]["dirs"] and "walls_seconds" in previous:
            result["searches"]["walls_seconds"] = previous["walls_seconds"]  # the same runs: keep their walls
    elif args.searches or args.searches_only:
        result["searches"] = {"command": "python -m bench.bench_determinism --searches-only", **run_searches(workdir)}
    write_result(out, result, show=False)
    summary(result)
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
