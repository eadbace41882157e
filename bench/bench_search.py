"""Benchmark: POPNASv2 against its baselines (PNAS, random search), same data, seed and
settings, side by side.

    python -m bench.bench_search [--config bench/search.yaml] [--workdir bench_work]
    python -m bench.bench_search --config bench/digits32.yaml --time-models catboost nnls_catboost \
        --share-b1 --out bench/results/search_digits32.json
    python -m bench.bench_search --config bench/history/fashion_mnist_cpu_v1.yaml --strategies pnas random \
        --share-b1 --out bench/results/search_fashion_mnist_cpu.json
    python -m bench.bench_search --config config/config.yaml --strategies --objectives latency --share-b1 \
        --out bench/results/search_default_latency.json
    python -m bench.bench_search --config bench/fashion_mnist_cpu.yaml --strategies pnas random --share-b1 \
        --random-at-first-cost --final-seeds 1001 1002 --out bench/results/search_fashion_mnist_clean_s42.json

Runs the whole workflow for POPNASv2 (once per time model of --time-models, else with the
config's) and for the PNAS overlay, each under its own run name so that none reuses
another's trainings of steps b >= 2: `<run>` for the first POPNASv2, `<run>-<model>` for
the others, `<run>-pnas`. Reports for each: networks trained, summed training time, wall
time, top-1 and mean top-5 validation accuracy, the test accuracy of the top-1 cell after
final training and that network's cell, blocks and params (paper Table 5), the operators' uses at
the steps b >= 2, the front sizes, the b=1 share of the summed time, the cost spread of the
trained networks and the predictor quality per step, and the ratios to the first.

--share-b1: the thrust and b=1 step are the same networks for every strategy (same seed,
same cells), so the later runs start from a copy of the first run's data split and b <= 1
results instead of training them again; their wall time counts the first run's b <= 1 wall
(up to its `reindex` job) plus their own.

--objectives: POPNASv2 runs with another `search.objective` (e.g. latency), `<run>-<objective>`,
beside the first (the config's objective).

--seed N: another search seed, under the run `<run>_s<N>` (its data split, b=1 and every
training its own).

--restore FOLDER: a comparison too long for one session resumes from the artefacts committed
from the last (FOLDER/<run>/cells/: each run's results), training only what they lack.

--strategies: the baselines beside POPNASv2 (default: pnas; none: `--strategies` alone). Each later run is also
reported stopped at the first run's summed t (`at_first_cost`, report.equal_cost_stop): its
networks, summed t and top-1 validation accuracy there, and the test accuracy of that top-1
cell after the same final training (trained here when it is not the run's own winner). For
random search, whose cells are drawn independently, that is the run an equal-cost stop makes.

--random-at-first-cost: random search is trained only as far as that stop reads (its draws in
order, step by step, until their summed t reaches the first run's) and reported there alone:
its trainings past that cost would enter no comparison.

--final-seeds S...: each run's top-1 cell (a stopped random search's: its top-1 at the stop)
is trained again with the final recipe and each of these seeds (final_seeds/<cell>/seed-<s>/),
beside the run's own seed: `final_over_seeds` gives the test accuracies, their mean and SD.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import RESULTS, ROOT, job_spans, machine, run_workflow, snakemake_command, write_result
from popnas_steps import tables
from popnas_steps.collect import trained_table
from popnas_steps.config import load_config
from popnas_steps.layout import RunLayout
from popnas_steps.predictors import predictor_quality
from popnas_steps.report import equal_cost_stop, finished_job_seconds, search_summary, usage_counts
from popnas_steps.results import read_results
from popnas_steps.strategies import STRATEGIES


def logged_wall(workdir: Path, run: str, until_rule: str | None = None) -> float:
    """Wall seconds of every Snakemake invocation that worked on `run` (a resumed run counts each
    part); with `until_rule`, only up to the end of that rule's job (the invocation that ran it)."""
    total = 0.0
    for log in sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log")):
        if f"results/{run}/" in log.read_text() and (spans := job_spans(log)):
            ends = [end for rule, _, end in spans if until_rule is None or rule == until_rule]
            total += max(ends) - min(start for _, start, _ in spans) if ends else 0.0
    return total


def share_b1(workdir: Path, source: str, target: str) -> None:
    """Start run `target` from `source`'s data split and thrust and b=1 results (mtimes kept,
    so Snakemake takes them as up to date)."""
    src, dst = workdir / "results" / source, workdir / "results" / target
    trained = tables.read("trained", src / "popnas" / "b0" / "trained.csv", src / "popnas" / "b1" / "trained.csv")
    shutil.copytree(src / "data", dst / "data", dirs_exist_ok=True)
    for cell_id in trained["cell_id"]:
        shutil.copytree(src / "cells" / cell_id, dst / "cells" / cell_id, dirs_exist_ok=True)


def restore(workdir: Path, committed: Path, run: str, configs: list[Path]) -> int:
    """Start run `run` from the cells of its committed artefacts (`committed`/<run>/cells/, as
    a session that did not finish left them): the data is prepared again (the split is
    seeded, so its SHA-256, which each result records, comes out the same), then the results
    are copied in, newer than the data, so Snakemake takes them as finished trainings and
    the steps, remade from them, select what they selected. Returns the cells restored."""
    source = committed / run / "cells"
    if not source.is_dir():
        return 0
    command = snakemake_command(workdir, f"results/{run}/data/metadata.json", "--cores", "all", "--configfile",
                                *map(str, configs), "--config", f"run={run}")  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cells = 0
    for folder in sorted(source.iterdir()):
        if (folder / "result.json").is_file() and not (workdir / "results" / run / "cells" / folder.name).exists():
            target = workdir / "results" / run / "cells" / folder.name
            target.mkdir(parents=True)
            for name in ("result.json", "history.csv"):
                if (folder / name).is_file():
                    shutil.copyfile(folder / name, target / name)  # a fresh mtime: newer than the data
            cells += 1
    return cells


def operator_usage(trained: pd.DataFrame, operators: list[str]) -> dict:
    """Uses of each operator (both of every block) in the networks a strategy trained at the
    steps b >= 2, where the strategies differ (b <= 1 is shared), and each operator's share."""
    ops, _ = usage_counts(tables.ok_rows(trained), operators)
    counts = ops.loc[ops.index >= 2].sum()
    return {
        "uses_b_ge_2": {op: int(counts[op]) for op in operators},
        "share_b_ge_2": {op: round(float(counts[op] / max(counts.sum(), 1)), 3) for op in operators},
    }


def figures(steps: Path, wall: float, operators: list[str]) -> dict:  # wall: from the Snakemake logs, 1 s resolution
    trained = tables.read("trained", *sorted(steps.glob("b*/trained.csv")))
    summary = search_summary(trained, finished_job_seconds(RunLayout.of_steps(steps), trained)).iloc[0]
    ok = tables.ok_rows(trained)
    t = ok["time"].to_numpy(float)
    final = pd.read_csv(steps / "report" / "final.csv").iloc[0]
    fronts = {}
    for pareto in sorted(steps.glob("b*/pareto.csv")):
        b = pareto.parent.name
        fronts[b] = {
            "pareto": len(pd.read_csv(pareto)),
            "exploration": len(pd.read_csv(pareto.parent / "exploration.csv")),
        }
    return {
        "networks": int(summary["networks"]),
        "networks_per_step": trained.groupby("b").size().to_dict(),
        "summed_training_seconds": round(float(summary["search_time_seconds"]), 1),
        "summed_job_seconds": round(float(summary["search_wall_seconds"]), 1),
        "wall_seconds": round(wall, 1),
        "top1_val_accuracy": round(float(summary["top1_accuracy"]), 4),
        "top5_mean_val_accuracy": round(float(summary["top5_mean_accuracy"]), 4),
        "top1_test_accuracy_after_final_training": round(float(final["test_accuracy"]), 4),
        "top1_network": {  # paper Table 5: the cell the final training trained
            "cell_id": str(final["cell_id"]),
            "cell": str(final["cell"]),
            "blocks": len(json.loads(final["cell"])),
            "params": int(final["params"]),
            "latency_ms_in_search": round(
                float(tables.with_added("trained", trained).set_index("cell_id").loc[final["cell_id"], "latency_ms"]), 4
            ),
            "onnx_latency_ms_of_export": round(float(final["onnx_latency_ms"]), 4),
        },
        "operator_usage": operator_usage(trained, operators),
        "fronts": fronts,
        "b1_share_of_summed_training": round(float(ok.loc[ok["b"] <= 1, "time"].sum() / t.sum()), 3),
        "summed_training_seconds_b_ge_2": round(float(ok.loc[ok["b"] >= 2, "time"].sum()), 1),
        "training_seconds_spread": {
            "min": round(float(t.min()), 2),
            "median": round(float(np.median(t)), 2),
            "max": round(float(t.max()), 2),
            "max_over_min": round(float(t.max() / t.min()), 1),
        },
        "predictor_quality": predictor_quality(trained).round(3).to_dict("records"),
    }


def strategy_run(base: str, strategy: str) -> str:
    """The run of a baseline strategy beside the POPNASv2 run `base`."""
    return f"{base}-{strategy}"


def stop_figures(stopped: pd.DataFrame) -> dict:
    """What a run (or the part of it before a stop) trained: networks, per step, summed t."""
    return {
        "networks": len(stopped),
        "networks_per_step": {int(b): int(n) for b, n in stopped.groupby("b").size().items()},
        "summed_training_seconds": round(float(stopped["time"].fillna(0).sum()), 1),
    }


def stopped_figures(steps: Path, wall: float, operators: list[str], seconds: float) -> dict:
    """A run trained only as far as its stop at the first run's cost, `seconds`
    (train_to_cost): what it trained up to that stop (a last batch may have trained a few
    more, which no figure counts); its final training is that of `at_first_cost`."""
    trained = equal_cost_stop(trained_so_far(steps), seconds)
    ok = tables.ok_rows(trained)
    return {
        "stopped_at_first_cost": True,
        **stop_figures(trained),
        "summed_training_seconds_b_ge_2": round(float(ok.loc[ok["b"] >= 2, "time"].sum()), 1),
        "wall_seconds": round(wall, 1),
        "top1_val_accuracy": round(float(tables.best(trained, 1).iloc[0]["accuracy"]), 4),
        "operator_usage": operator_usage(trained, operators),
    }


def first_seconds(runs: dict, workdir: Path) -> float:
    """The summed t of the first run (finished), the cost the others are stopped at."""
    run, _, steps = next(iter(runs.values()))
    return float(trained_so_far(workdir / "results" / run / steps)["time"].fillna(0).sum())


def train_final(steps: Path, cell: str, configs: list[Path], run: str, out: Path, seed: int | None = None) -> dict:
    """The test metrics of `cell` after the config's final training, trained into `out` as the
    workflow would (with another `seed` than the config's where given) unless already there."""
    if not (out / "metrics.json").is_file():
        config = load_config(*configs)
        config["run"] = run
        if seed is not None:
            config["seed"] = seed
        command = [sys.executable, "-m", "popnas_steps.cli.final", "train", "--settings", json.dumps(config), "--data",
                   str(steps.parent / "data"), "--cell", cell, "--out", str(out)]  # fmt: skip
        subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL)
    return json.loads((out / "metrics.json").read_text())


def at_cost(steps: Path, seconds: float, configs: list[Path], run: str) -> dict:
    """The run of `steps` stopped once its summed t reached `seconds`: its figures there, and
    the final test accuracy of its top-1 cell there (trained with the config's final recipe,
    in final/<cell>/ as the workflow would, where the run's own final training is of another)."""
    stopped = equal_cost_stop(trained_so_far(steps), seconds)
    best = tables.best(stopped, 1).iloc[0]
    metrics = train_final(steps, best["cell"], configs, run, steps / "final" / best["cell_id"])
    return {
        **stop_figures(stopped),
        "top1_cell": best["cell_id"],
        "top1_network": {"cell": best["cell"], "blocks": len(json.loads(best["cell"])), "params": int(best["params"])},
        "top1_val_accuracy": round(float(best["accuracy"]), 4),
        "top1_test_accuracy_after_final_training": round(float(metrics["test_accuracy"]), 4),
    }


def final_over_seeds(steps: Path, cell_id: str, cell: str, configs: list[Path], run: str, seeds: list[int]) -> dict:
    """The test accuracy of one cell after the final training with the run's seed
    (final/<cell_id>/, as the workflow or at_cost trains it) and with each other of `seeds`
    (final_seeds/<cell_id>/seed-<s>/): the spread a top-1's test accuracy owes to its final
    training alone."""
    own = load_config(*configs)["seed"]
    accuracy = {own: train_final(steps, cell, configs, run, steps / "final" / cell_id)["test_accuracy"]}
    for seed in seeds:
        if seed not in accuracy:
            out = steps / "final_seeds" / cell_id / f"seed-{seed}"
            accuracy[seed] = train_final(steps, cell, configs, run, out, seed)["test_accuracy"]
    values = np.array(list(accuracy.values()), dtype=float)
    return {
        "cell_id": cell_id,
        "seeds": list(accuracy),
        "test_accuracy": [round(float(value), 4) for value in values],
        "mean": round(float(values.mean()), 4),
        "sd": round(float(values.std(ddof=1)), 4) if len(values) > 1 else None,
    }


def trained_so_far(steps: Path) -> pd.DataFrame:
    """A run's trained cells, its last step possibly unfinished: the trained tables of its
    finished steps, then the cells of a step in progress in its selection's order (for
    random search, the draw order: what an equal-cost stop reads) up to the first without a
    result, since Snakemake trains the cells it is given in any order and a session may end
    between them: a later draw's result never stands in for an earlier one's."""
    finished = sorted(steps.glob("b*/trained.csv"))
    trained = tables.read("trained", *finished)
    for selected in sorted(steps.glob("b*/selected.csv"), key=lambda path: int(path.parent.name[1:])):
        if (selected.parent / "trained.csv").is_file():
            continue
        table = tables.read("selected", selected)
        paths = [steps.parent / "cells" / cell_id / "result.json" for cell_id in table["cell_id"]]
        prefix = next((i for i, path in enumerate(paths) if not path.is_file()), len(paths))
        results = read_results(paths[:prefix])
        partial = trained_table(results, table.iloc[:prefix], int(selected.parent.name[1:]))
        trained = pd.concat([trained, partial], ignore_index=True)
    return trained


def train_to_cost(workdir: Path, configs: list[Path], run: str, steps: Path, seconds: float) -> None:
    """Train a random search only as far as its equal-cost stop reads (report.equal_cost_stop):
    step by step, each step's cells in draw order, until their summed t (the shared b <= 1
    included) reaches `seconds`, or the run ends. Its draws never depend on its results, so
    this is the run stopped there, without paying for the rest of it."""
    max_blocks = load_config(*configs)["search"]["max_blocks"]
    relative = steps.relative_to(workdir)
    run_workflow(workdir, configs, run, targets=[str(relative / "b2" / "selected.csv")])  # b <= 1 collected, b2 drawn
    while True:
        trained = trained_so_far(steps)
        spent = float(trained["time"].fillna(0).sum())
        b = max(int(path.parent.name[1:]) for path in steps.glob("b*/selected.csv"))
        done = set(trained["cell_id"])
        pending = [cell_id for cell_id in tables.read("selected", steps / f"b{b}" / "selected.csv")["cell_id"]
                   if cell_id not in done]  # fmt: skip
        if spent >= seconds or (not pending and b >= max_blocks):
            return
        if not pending:  # the next step's draw
            run_workflow(workdir, configs, run, targets=[str(relative / f"b{b + 1}" / "selected.csv")])
            continue
        started = (trained["b"] == b).any()
        times = tables.ok_rows(trained[trained["b"] == (b if started else b - 1)])["time"]
        count = 1  # without a successful training to go by, one at a time
        if len(times) and float(times.mean()) > 0:
            count = int(np.ceil((seconds - spent) / float(times.mean())))  # what the rest of the cost pays for, about
            if not started:  # estimated on the step before, whose cells, a block smaller, cost less: aim short
                count = int(np.ceil(count / 2))
        targets = [str(relative.parent / "cells" / cell_id / "result.json") for cell_id in pending[:count]]
        run_workflow(workdir, configs, run, targets=targets)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=str(ROOT / "bench" / "search.yaml"))
    parser.add_argument("--workdir", default=str(ROOT / "bench_work"))
    parser.add_argument("--out", default=str(RESULTS / "search_efficiency.json"))
    parser.add_argument("--analyse-only", action="store_true", help="use the runs already in --workdir")
    parser.add_argument("--time-models", nargs="+", help="one POPNASv2 run per time model (default: the config's)")
    parser.add_argument("--share-b1", action="store_true", help="later runs start from the first run's b <= 1")
    parser.add_argument(
        "--strategies", nargs="*", default=["pnas"], choices=[name for name in STRATEGIES if name != "popnas"],
        help="the baselines run beside POPNASv2 (default: pnas)",
    )  # fmt: skip
    parser.add_argument("--objectives", nargs="+", default=[], help="POPNASv2 runs with these search.objective")
    parser.add_argument("--seed", type=int, help="another search seed: run `<run>_s<seed>` with `seed: <seed>`")
    parser.add_argument(
        "--random-at-first-cost", action="store_true",
        help="train random search only as far as its stop at the first run's summed t reads, and report it there",
    )  # fmt: skip
    parser.add_argument(
        "--final-seeds", nargs="+", type=int, default=[],
        help="train each run's top-1 cell (a stopped run's: its top-1 there) again with these seeds",
    )  # fmt: skip
    parser.add_argument(
        "--restore", type=Path,
        help="resume from committed artefacts: FOLDER/<run>/cells/*/result.json, as a session left them",
    )  # fmt: skip
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = Path(args.config).resolve()
    settings = load_config(config)
    base_configs = [config]  # the config, and the overlay of another seed
    if args.seed is not None:  # under its own run name: nothing of the first seed's is reused
        base_configs.append(workdir / f"seed-{args.seed}.yaml")
        base_configs[1].write_text(json.dumps({"seed": args.seed, "run": f"{settings['run']}_s{args.seed}"}) + "\n")
        settings = load_config(*base_configs)
    base, operators = settings["run"], settings["search"]["operators"]
    runs = {}  # label -> (run name, config files, steps folder)
    for i, model in enumerate(args.time_models or [None]):
        overlay = []
        if model:
            overlay = [workdir / f"time-{model}.yaml"]
            overlay[0].write_text(json.dumps({"predictors": {"time": {"model": model}}}) + "\n")
        run = base if i == 0 else f"{base}-{model}"
        runs[f"popnas-{model}" if model else "popnas"] = (run, [*base_configs, *overlay], "popnas")
    for objective in args.objectives:
        overlay = workdir / f"objective-{objective}.yaml"
        overlay.write_text(json.dumps({"search": {"objective": [objective]}}) + "\n")
        runs[f"popnas-{objective}"] = (f"{base}-{objective}", [*base_configs, overlay], "popnas")
    for strategy in args.strategies:
        runs[strategy] = (strategy_run(base, strategy), [*base_configs, ROOT / "config" / f"{strategy}.yaml"], strategy)
    stopped = {"random"} & set(args.strategies) if args.random_at_first_cost else set()
    for i, (label, (run, configs, steps)) in enumerate(runs.items()):
        if args.analyse_only:
            break
        if i > 0 and args.share_b1:
            share_b1(workdir, base, run)
        if args.restore is not None:
            print(
                f"{run}: {restore(workdir, args.restore, run, configs)} cells restored from {args.restore}", flush=True
            )
        if label in stopped:
            train_to_cost(workdir, configs, run, workdir / "results" / run / steps, first_seconds(runs, workdir))
        else:
            run_workflow(workdir, configs, run)
    shared_wall = logged_wall(workdir, base, until_rule="reindex") if args.share_b1 else 0.0
    seconds = first_seconds(runs, workdir)  # the cost the baselines are judged at
    results = {}
    for i, (label, (run, _, steps)) in enumerate(runs.items()):
        wall = logged_wall(workdir, run) + (shared_wall if i else 0.0)
        steps_folder = workdir / "results" / run / steps
        if label in stopped:
            results[label] = stopped_figures(steps_folder, wall, operators, seconds)
        else:
            results[label] = figures(steps_folder, wall, operators)
    first = next(iter(results))
    for i, (label, (run, configs, steps)) in enumerate(runs.items()):
        steps_folder = workdir / "results" / run / steps
        if i and label in args.strategies:  # another objective is judged on its front (bench_latency), not at cost
            results[label]["at_first_cost"] = at_cost(steps_folder, seconds, configs, run)
        if args.final_seeds:
            if label in stopped:  # its top-1 where it stopped
                cell_id = results[label]["at_first_cost"]["top1_cell"]
                cell = results[label]["at_first_cost"]["top1_network"]["cell"]
            else:
                cell_id, cell = results[label]["top1_network"]["cell_id"], results[label]["top1_network"]["cell"]
            seeds = args.final_seeds
            results[label]["final_over_seeds"] = final_over_seeds(steps_folder, cell_id, cell, configs, run, seeds)
    result = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "config": str(config.relative_to(ROOT)),
        "shared_b1": args.share_b1,
        "seed": settings["seed"],
        **results,
        **{
            f"ratios_{label}_over_{first}": {
                key: round(figures_[key] / results[first][key], 2)
                for key in (
                    "networks",
                    "summed_training_seconds",
                    "summed_training_seconds_b_ge_2",
                    "summed_job_seconds",
                    "wall_seconds",
                )  # fmt: skip
                if key in figures_  # a stopped run has no job walls
            }
            for label, figures_ in results.items()
            if label != first
        },
        **{
            f"top1_gap_points_{first}_minus_{label}": round(
                100 * (results[first]["top1_val_accuracy"] - figures_["top1_val_accuracy"]), 2
            )
            for label, figures_ in results.items()
            if label != first
        },
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
