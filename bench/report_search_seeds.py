"""Report: POPNASv2, PNAS and random search over search seeds, from the committed run folders
that `bench_search` left (`<run>`, `<run>-pnas`, `<run>-random` of each seed).

    python -m bench.report_search_seeds --runs bench/results/fashion_mnist_clean \\
        --seeds fmnist_clean fmnist_clean_s43 --figure bench/results/fashion_mnist_clean/anytime.png \\
        --out bench/results/search_fashion_mnist_clean_seeds.json

Prints, as Markdown tables:
- the paper's Table 4 layout: networks, top-1 and mean top-5 validation accuracy, summed t;
  random search stopped at POPNASv2's summed t (report.equal_cost_stop);
- the Table 5 layout: each top-1 cell's params, blocks, test accuracy after the final
  training (every final seed: final/<cell>/ and final_seeds/<cell>/seed-*/) and its t;
- the Tables 2 and 3 layouts: POPNASv2's accuracy and time predictors per step b (MAPE,
  Spearman on the cells the step trained), beside the paper's Fashion-MNIST rows;
- the front sizes per step against K, operator usage at b >= 2 and the share of trained
  cells at b >= 2 that read lookback -1;
- the goals of issue 37, each with its figure.

--figure draws the anytime curves (best validation accuracy against cumulative t) of the
three strategies of every seed in one figure. A seed whose runs are not all there yet is
reported as far as they go.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from bench.bench_search import operator_usage, stop_figures, strategy_run, trained_so_far
from bench.common import write_result
from popnas_steps import tables
from popnas_steps.config import load_config
from popnas_steps.predictors import predictor_quality
from popnas_steps.report import anytime_curve, equal_cost_stop


class Strategy(NamedTuple):
    label: str
    colour: str  # in the anytime figure
    at_first_cost: bool = False  # judged stopped at POPNASv2's summed t (its cells are drawn independently)
    first: bool = False  # POPNASv2: the cost the others are judged at; its fronts and predictors are reported


STRATEGIES = {  # steps folder (bench_search's runs) -> how it is reported
    "popnas": Strategy("POPNASv2", "tab:blue", first=True),
    "pnas": Strategy("PNAS", "tab:red"),
    "random": Strategy("random search", "tab:green", at_first_cost=True),
}
# The paper's Fashion-MNIST rows (Tables 2 and 3: MAPE %, Spearman, b = 2..5), the reference
# its predictors are judged against.
PAPER_FASHION_MNIST = {
    "accuracy": {"mape": [2.296, 0.891, 1.067, 0.861], "spearman": [0.798, 0.875, 0.84, 0.928]},
    "time": {"mape": [23.45, 11.916, 4.884, 8.706], "spearman": [0.919, 0.983, 0.99, 0.982]},
}


def run_name(base: str, strategy: str) -> str:
    """The run bench_search gives a strategy of the search seed whose POPNASv2 run is `base`."""
    return base if STRATEGIES[strategy].first else strategy_run(base, strategy)


def steps_of(runs: Path, base: str, strategy: str) -> Path:
    return runs / run_name(base, strategy) / strategy


def reads_minus_1(cell: str) -> bool:
    """Whether any block of `cell` (JSON) reads lookback -1, the previous cell's output (a cell
    that reads only -2 leaves the previous cell unused, and the network builds fewer cells)."""
    return any(block[0] == -1 or block[2] == -1 for block in json.loads(cell))


def search_seed(runs: Path, base: str) -> int:
    """The seed the search of run `base` ran with (every result records it)."""
    return json.loads(next((runs / base / "cells").glob("*/result.json")).read_text())["seed"]


def final_tests(steps: Path, cell_id: str) -> dict[str, float]:
    """The test accuracy of every final training of `cell_id` in `steps`, by seed folder
    ('run' for the run's own seed)."""
    tests = {}
    for path in [
        steps / "final" / cell_id / "metrics.json",
        *sorted(steps.glob(f"final_seeds/{cell_id}/*/metrics.json")),
    ]:
        if path.is_file():
            tests["run" if path.parent.name == cell_id else path.parent.name] = json.loads(path.read_text())[
                "test_accuracy"
            ]
    return tests


def summarise(runs: Path, base: str, operators: list[str]) -> dict:
    """Every figure of one search seed's strategies that are there."""
    popnas = trained_so_far(steps_of(runs, base, "popnas"))
    budget = float(popnas["time"].fillna(0).sum())
    out = {}
    for strategy in STRATEGIES:
        steps = steps_of(runs, base, strategy)
        if not (steps / "b1" / "trained.csv").is_file():
            continue
        trained = trained_so_far(steps)
        stopped = equal_cost_stop(trained, budget) if STRATEGIES[strategy].at_first_cost else trained
        top = tables.best(stopped, 5)
        best = top.iloc[0]
        metrics_path = steps / "final" / best["cell_id"] / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        later = tables.ok_rows(stopped).query("b >= 2")
        out[strategy] = {
            **stop_figures(stopped),
            "top1_val_accuracy": round(float(best["accuracy"]), 4),
            "top5_mean_val_accuracy": round(float(top["accuracy"].mean()), 4),
            "top1_cell_id": str(best["cell_id"]),
            "top1_cell": str(best["cell"]),
            "top1_blocks": len(json.loads(best["cell"])),
            "top1_params": metrics.get("params"),
            "top1_final_t_seconds": round(float(metrics["time"]), 1) if "time" in metrics else None,
            "top1_test_accuracy": final_tests(steps, str(best["cell_id"])),
            "operator_uses_b_ge_2": operator_usage(stopped, operators)["uses_b_ge_2"],
            "share_reading_minus_1_b_ge_2": round(float(later["cell"].map(reads_minus_1).mean()), 3)
            if len(later)
            else None,
            "fronts": {
                int(path.parent.name[1:]): len(pd.read_csv(path)) for path in sorted(steps.glob("b*/pareto.csv"))
            },
            # a run stopped at POPNASv2's t is complete once it got there (or ran to its end)
            "complete": (steps / "report" / "final.csv").is_file()
            or (STRATEGIES[strategy].at_first_cost and float(stopped["time"].fillna(0).sum()) >= budget),
        }
        if STRATEGIES[strategy].first:
            quality = predictor_quality(trained).round(3)
            out[strategy]["predictor_quality"] = quality.to_dict("records")
        out[strategy]["anytime"] = (
            anytime_curve(stopped)[["cumulative_time_seconds", "best_accuracy"]].round(4).values.tolist()
        )
    return out


def mean_and_values(values: list[float], digits: int = 4) -> str:
    """'mean (v1, v2, ...)' of `values`, or '' where there are none."""
    values = [v for v in values if v is not None]
    if not values:
        return ""
    inner = ", ".join(f"{v:.{digits}f}" for v in values)
    return f"{np.mean(values):.{digits}f} ({inner})" if len(values) > 1 else f"{values[0]:.{digits}f}"


def tests_of(entry: dict) -> list[float]:
    return list(entry["top1_test_accuracy"].values())


def markdown(seeds: dict[str, dict], k: int | None) -> str:
    lines = []
    names = list(seeds)
    lines += ["Table 4 layout (random search stopped at POPNASv2's summed t; values per search seed in brackets):", ""]
    lines += [
        "| method | networks | top-1 val. accuracy | top-5 mean val. accuracy | summed t (s) |",
        "|---|---|---|---|---|",
    ]
    for strategy, (label, *_) in STRATEGIES.items():
        got = [seeds[name][strategy] for name in names if strategy in seeds[name]]
        if got:
            lines.append(
                f"| {label} | {mean_and_values([g['networks'] for g in got], 0)} "
                f"| {mean_and_values([g['top1_val_accuracy'] for g in got])} "
                f"| {mean_and_values([g['top5_mean_val_accuracy'] for g in got])} "
                f"| {mean_and_values([g['summed_training_seconds'] for g in got], 0)} |"
            )
    lines += [
        "",
        "Table 5 layout (the top-1 cells; test accuracy per final seed, their mean and SD):",
        "",
    ]
    lines += [
        "| method | search seed | cell | params | B | test accuracy per final seed | mean | SD | final t (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for strategy, (label, *_) in STRATEGIES.items():
        for name in names:
            if strategy not in seeds[name]:
                continue
            g = seeds[name][strategy]
            tests = tests_of(g)
            sd = f"{np.std(tests, ddof=1):.4f}" if len(tests) > 1 else ""
            lines.append(
                f"| {label} | {name} | `{g['top1_cell_id']}` | {g['top1_params'] or ''} | {g['top1_blocks']} "
                f"| {', '.join(f'{t:.4f}' for t in tests)} | {np.mean(tests):.4f} | {sd} "
                f"| {g['top1_final_t_seconds'] or ''} |"
                if tests
                else f"| {label} | {name} | `{g['top1_cell_id']}` | | {g['top1_blocks']} | not trained yet | | | |"
            )
    lines += ["", "Tables 2 and 3 layouts (POPNASv2's predictors on the cells each step trained):", ""]
    lines += [
        "| predictor | search seed | MAPE b=2 | MAPE b=3 | Spearman b=2 | Spearman b=3 |",
        "|---|---|---|---|---|---|",
    ]
    for kind in ("accuracy", "time"):
        for name in names:
            quality = {q["b"]: q for q in seeds[name].get("popnas", {}).get("predictor_quality", [])}
            cells = [quality.get(b, {}) for b in (2, 3)]
            lines.append(
                f"| {kind} | {name} | "
                + " | ".join(f"{c.get(f'{kind}_mape', float('nan')):.2f}%" for c in cells)
                + " | "
                + " | ".join(f"{c.get(f'{kind}_spearman', float('nan')):.3f}" for c in cells)
                + " |"
            )
        paper = PAPER_FASHION_MNIST[kind]
        lines.append(
            f"| {kind} | paper, Fashion-MNIST (b = 2..5: MAPE {', '.join(map(str, paper['mape']))}%; "
            f"Spearman {', '.join(map(str, paper['spearman']))}) | {paper['mape'][0]}% | {paper['mape'][1]}% "
            f"| {paper['spearman'][0]} | {paper['spearman'][1]} |"
        )
    lines += ["", f"Fronts against K = {k}, operator usage at b >= 2 and cells reading -1:", ""]
    lines += [
        "| method | search seed | networks per step | POPNASv2's Pareto front per step | operator uses, b >= 2 "
        "| reading -1, b >= 2 |",
        "|---|---|---|---|---|---|",
    ]
    for strategy, (label, *_) in STRATEGIES.items():
        for name in names:
            if strategy in seeds[name]:
                g = seeds[name][strategy]
                fronts = ", ".join(f"b{b}: {n}" for b, n in g["fronts"].items()) if STRATEGIES[strategy].first else ""
                steps = ", ".join(f"{n}" for n in g["networks_per_step"].values())
                uses = ", ".join(
                    f"{op} {n}" for op, n in sorted(g["operator_uses_b_ge_2"].items(), key=lambda item: -item[1])
                )
                share = g["share_reading_minus_1_b_ge_2"]
                share = "" if share is None else f"{100 * share:.1f}%"
                lines.append(f"| {label} | {name} | {steps} | {fronts} | {uses} | {share} |")
    return "\n".join(lines)


def goals(seeds: dict[str, dict]) -> dict:
    """Issue 37's goals, each with its figure (None where the runs are not all there)."""
    complete = [s for s in seeds.values() if all(k in s and s[k]["complete"] for k in ("popnas", "pnas", "random"))]
    out: dict = {"search_seeds_complete": len(complete)}
    if complete:
        ratio = [s["pnas"]["summed_training_seconds"] / s["popnas"]["summed_training_seconds"] for s in complete]
        gaps = [np.mean(tests_of(s["popnas"])) - np.mean(tests_of(s["pnas"])) for s in complete
                if tests_of(s["popnas"]) and tests_of(s["pnas"])]  # fmt: skip
        out["pnas_over_popnas_summed_t"] = [round(r, 2) for r in ratio]
        out["pnas_over_popnas_summed_t_mean"] = round(float(np.mean(ratio)), 2)
        # each search seed's mean over its final seeds, then the mean over search seeds
        out["top1_test_popnas_minus_pnas_points"] = round(100 * float(np.mean(gaps)), 2) if gaps else None
        margins = []
        for s in complete:
            a, r = tests_of(s["popnas"]), tests_of(s["random"])
            if a and r:
                spread = max(np.ptp(a), np.ptp(r))  # the final seeds' spread: the wider range of the two
                margins.append(
                    {
                        "popnas_minus_random_points": round(100 * (np.mean(a) - np.mean(r)), 2),
                        "final_seeds_spread_points": round(100 * spread, 2),
                    }
                )
        out["popnas_against_random_at_equal_t"] = margins
    quality = [q for s in seeds.values() if "popnas" in s for q in s["popnas"]["predictor_quality"]]
    out["accuracy_spearman_b_ge_3"] = [q["accuracy_spearman"] for q in quality if q["b"] >= 3]
    out["time_mape_b_ge_2"] = [q["time_mape"] for q in quality if q["b"] >= 2]
    out["time_spearman_b_ge_2"] = [q["time_spearman"] for q in quality if q["b"] >= 2]
    return out


def draw(seeds: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = ["-", "--", ":", "-."]
    figure, axes = plt.subplots(figsize=(8, 5))
    for i, (name, seed) in enumerate(seeds.items()):
        for strategy, entry in seed.items():
            curve = np.array(entry["anytime"], dtype=float)
            axes.step(curve[:, 0], 100 * curve[:, 1], where="post", color=STRATEGIES[strategy].colour,
                      linestyle=styles[i % len(styles)], label=f"{STRATEGIES[strategy].label}, {name}")  # fmt: skip
    axes.set_xlabel("cumulative training time t (s)")
    axes.set_ylabel("best validation accuracy so far (%)")
    axes.set_ylim(bottom=max(axes.get_ylim()[0], 60))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=Path, required=True, help="the folder of the committed runs")
    parser.add_argument("--seeds", nargs="+", required=True, help="each search seed's POPNASv2 run name")
    parser.add_argument("--config", type=Path, default=Path("bench/fashion_mnist_cpu.yaml"), help="the runs' config")
    parser.add_argument("--figure", type=Path, help="where to draw the anytime curves (PNG)")
    parser.add_argument("--out", type=Path, help="a JSON of every figure")
    args = parser.parse_args()
    search = load_config(args.config)["search"]
    seeds = {}  # "seed <n>" -> its strategies' figures
    for name in args.seeds:
        if (args.runs / name / "cells").is_dir():
            seeds[f"seed {search_seed(args.runs, name)}"] = summarise(args.runs, name, search["operators"])
        else:
            print(f"no runs for {name} in {args.runs}", file=sys.stderr)
    print(markdown(seeds, search["beam"]))
    result = goals(seeds)
    print("\nGoals:", json.dumps(result, indent=1))
    if args.figure:
        draw(seeds, args.figure)
    if args.out:
        write_result(args.out, {"seeds": seeds, "goals": result}, show=False)  # its report is the tables above


if __name__ == "__main__":
    main()
