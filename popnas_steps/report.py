"""Reports from cached artefacts: the paper's figures and tables, never any training.

The figures and tables of rules/report.smk; their command line is popnas_steps.cli.report.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from popnas_steps import objectives, tables
from popnas_steps.deploy import export_damage
from popnas_steps.drawing import draw_cell_on
from popnas_steps.layout import RunLayout
from popnas_steps.results import job_seconds, read_results
from popnas_steps.space import Cell

log = logging.getLogger("popnas.report")

# --- figures -------------------------------------------------------------------------------


def plot_pareto(trained: pd.DataFrame, b: int, out: str | Path, objective: tuple[str, ...] = ("time",)) -> None:
    """Paper Fig. 2: predicted (cost, a_hat) beside measured (cost, a), ranks shown; one panel
    per cost of `search.objective` (the paper: training time), which says so where the
    trained table carries no column of that cost."""
    fig = _figure(7 * len(objective), 5)
    axes = fig.subplots(1, len(objective), squeeze=False)[0]
    ok = tables.ok_rows(tables.with_added("trained", trained))
    for ax, cost in zip(axes, objective, strict=True):
        entry = objectives.objective_of(cost)
        predicted, measured, label = entry.predicted, entry.measured, entry.axis
        absent = [column for column in dict.fromkeys((predicted, measured)) if column not in ok]
        if absent:  # a cost whose columns the trained table does not carry: said, not drawn
            ax.text(0.5, 0.5, f"trained.csv has no {' or '.join(absent)} column", ha="center", va="center",
                    transform=ax.transAxes)  # fmt: skip
            ax.set_title(f"{cost}, b = {b}")
            continue
        for origin, marker in (("pareto", "o"), ("exploration", "^")):
            part = ok[ok["origin"] == origin]
            if part.empty:
                continue
            ax.scatter(part[predicted], part["predicted_accuracy"], c="tab:green", marker=marker,
                       label=f"predicted ({origin})")  # fmt: skip
            ax.scatter(part[measured], part["accuracy"], c="tab:blue", marker=marker, label=f"measured ({origin})")
            for rank, row in enumerate(part.to_dict("records"), start=1):
                ax.plot([row[predicted], row[measured]], [row["predicted_accuracy"], row["accuracy"]], c="0.8",
                        lw=0.8, zorder=0)  # fmt: skip
                ax.annotate(str(rank), (row[predicted], row["predicted_accuracy"]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")  # fmt: skip
        ax.set_xlabel(label)
        ax.set_ylabel("validation accuracy a")
        ax.set_title(f"Pareto front and exploration cells, b = {b}")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    _save(fig, out)


def plot_predictor(trained: pd.DataFrame, target: str, out: str | Path) -> None:
    """Paper Fig. 1: predicted against measured, per b, with MAPE and Spearman in the legend
    (`target`: accuracy, time or latency)."""
    from popnas_steps.predictors import predictor_quality

    trained = tables.with_added("trained", trained)
    quality = predictor_quality(trained).set_index("b")
    measured = {"latency": "latency_ms"}.get(target, target)
    ok = tables.ok_rows(trained)
    ok = ok[ok[f"predicted_{target}"].notna()].rename(columns={measured: target})
    fig = _figure(6, 6)
    ax = fig.subplots()
    if ok.empty:
        ax.text(
            0.5,
            0.5,
            f"no {target} predictions in this run\n(the PNAS baseline has no time predictor; "
            "latency needs ONNX Runtime)",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    for b, group in ok.groupby("b"):
        if b not in quality.index:  # no accuracy prediction at this step: not a step the predictors chose
            continue
        q = quality.loc[b]
        ax.scatter(
            group[target],
            group[f"predicted_{target}"],
            s=14,
            label=f"b={b}: MAPE {q[f'{target}_mape']:.1f}%, Spearman {q[f'{target}_spearman']:.2f}",
        )
    if not ok.empty:
        low = min(ok[target].min(), ok[f"predicted_{target}"].min())
        high = max(ok[target].max(), ok[f"predicted_{target}"].max())
        ax.plot([low, high], [low, high], c="0.5", ls="--", lw=1, label="predicted = measured")
    unit = {"time": " (s)", "latency": " (ms)"}.get(target, "")
    ax.set_xlabel(f"measured {target}{unit}")
    ax.set_ylabel(f"predicted {target}{unit}")
    ax.set_title(f"{target.capitalize()} predictor on the cells it selected")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, out)


def usage_counts(trained: pd.DataFrame, operators: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Operator and input uses in each step's selection (both of every block), for b >= 1."""
    from popnas_steps.search import usage

    op_rows, input_rows = [], []
    for b, group in trained[trained["b"] >= 1].groupby("b"):
        op_uses, input_uses = usage(group["cell"])
        op_rows.append({"b": b, **{op: 0 for op in operators}, **op_uses})
        input_rows.append({"b": b, **{str(k): v for k, v in sorted(input_uses.items())}})
    return pd.DataFrame(op_rows).set_index("b"), pd.DataFrame(input_rows).set_index("b").fillna(0)


def plot_usage(trained: pd.DataFrame, operators: list[str], out: str | Path) -> None:
    ops, inputs = usage_counts(trained, operators)
    fig = _figure(12, 4.5)
    left, right = fig.subplots(1, 2)
    ops.T.plot.bar(ax=left)
    left.set_title("Operators in each step's selection")
    left.set_ylabel("uses (both operators of every block)")
    left.set_xlabel("operator")
    left.legend(title="b")
    inputs.T.plot.bar(ax=right)
    right.set_title("Inputs in each step's selection")
    right.set_ylabel("uses (both inputs of every block)")
    right.set_xlabel("input (-2, -1: lookbacks; 0, 1, ...: blocks)")
    right.legend(title="b")
    _save(fig, out)


def training_order(trained: pd.DataFrame) -> pd.DataFrame:
    """A run's trained cells in the order the search trained them: step by step, each step in
    its selection's order (a random search's draw order)."""
    return trained.sort_values("b", kind="mergesort").reset_index(drop=True)


def equal_cost_stop(trained: pd.DataFrame, seconds: float) -> pd.DataFrame:
    """The cells a run would have trained had it stopped once its summed t reached `seconds`:
    in training order, up to the cell whose t reaches it (a training is not cut short).

    Applied to a random search, it is the equal-cost stop: its cells are drawn independently
    of one another, step by step, so the first cells of its record are what a run stopped
    there trains."""
    ordered = training_order(trained)
    before = ordered["time"].fillna(0).cumsum() - ordered["time"].fillna(0)  # t spent when each cell starts
    return ordered[before < seconds].reset_index(drop=True)


def anytime_curve(trained: pd.DataFrame) -> pd.DataFrame:
    """Best validation accuracy found against cumulative training time, in training order."""
    ordered = training_order(trained)
    time = ordered["time"].fillna(0).cumsum()
    best = ordered["accuracy"].where(ordered["status"] == "ok").cummax().ffill()  # a failure keeps the best
    return pd.DataFrame({"cumulative_time_seconds": time, "best_accuracy": best, "networks": range(1, len(time) + 1)})


def search_scalars(trained: pd.DataFrame, quality: pd.DataFrame) -> list[tuple[str, int, float]]:
    """The search's TensorBoard scalars as (tag, step, value), from every step's trained table
    and the predictors' quality (popnas_steps.predictors.predictor_quality):

    - search/best_accuracy, search/cumulative_training_seconds: step = networks trained so
      far, in training order (step by step, as anytime.png);
    - search/best_accuracy_by_training_seconds: step = cumulative training time t in whole
      seconds (TensorBoard's steps are integers; networks ending in the same second share one);
    - steps/networks, steps/failed, steps/training_seconds: step = the block step b;
    - predictors/{accuracy,time}_{mape,spearman}: step = b, the quality of the predictions
      made for the cells of step b (NaN where there is none, e.g. no time predictor in PNAS).
    """
    curve = anytime_curve(trained)
    scalars = []
    for row in curve.itertuples():
        scalars.append(("search/best_accuracy", row.networks, float(row.best_accuracy)))
        scalars.append(("search/cumulative_training_seconds", row.networks, float(row.cumulative_time_seconds)))
        seconds = int(round(row.cumulative_time_seconds))
        scalars.append(("search/best_accuracy_by_training_seconds", seconds, float(row.best_accuracy)))
    for b, step in trained.groupby("b"):
        scalars.append(("steps/networks", int(b), float(len(step))))
        scalars.append(("steps/failed", int(b), float(len(step) - len(tables.ok_rows(step)))))
        scalars.append(("steps/training_seconds", int(b), float(step["time"].fillna(0).sum())))
    for row in quality.itertuples():
        for name in ("accuracy_mape", "accuracy_spearman", "time_mape", "time_spearman"):
            scalars.append((f"predictors/{name}", int(row.b), float(getattr(row, name))))
    return scalars


def plot_anytime(runs: dict[str, pd.DataFrame], out: str | Path) -> None:
    fig = _figure(7, 4.5)
    ax = fig.subplots()
    for label, trained in runs.items():
        curve = anytime_curve(trained)
        ax.step(curve["cumulative_time_seconds"] / 60, curve["best_accuracy"], where="post", label=label)
    ax.set_xlabel("cumulative training time (min)")
    ax.set_ylabel("best validation accuracy so far")
    ax.set_title("Search progress")
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, out)


def plot_top_cells(top: pd.DataFrame, out: str | Path, count: int = 3) -> None:
    """The drawings of the best `count` cells side by side, with their accuracy and time."""
    rows = top.head(count)
    fig = _figure(5 * max(len(rows), 1), 6)
    axes = fig.subplots(1, max(len(rows), 1), squeeze=False)
    # Near the final axes sizes before drawing: draw_cell_on sizes its font to the axes.
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.9, wspace=0.04)
    for ax, row in zip(axes[0], rows.itertuples(), strict=False):
        draw_cell_on(ax, Cell.from_json(row.cell))
        ax.set_title(f"#{row.rank} {row.cell_id}\na = {row.accuracy:.4f}, t = {row.time:.1f} s", fontsize=9)
    for ax in axes[0]:
        ax.axis("off")
    _save(fig, out)


def _figure(width: float, height: float) -> Figure:
    """A figure on matplotlib's Agg canvas: files only, no pyplot state and no display, so
    reports are made on machines without a screen and leave a caller's pyplot alone."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _save(fig: Figure, out: str | Path) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


# --- tables ----------------------------------------------------------------------------------


def process_seconds(result_files: list[str | Path]) -> dict[str, float]:
    """Each cell's training job wall time, from its result.json (results.job_seconds; none
    for a crash: 0)."""
    walls = {result["cell_id"]: job_seconds(result) for result in read_results(result_files)}
    return {cell_id: 0.0 if math.isnan(wall) else wall for cell_id, wall in walls.items()}


def finished_job_seconds(layout: RunLayout, trained: pd.DataFrame) -> dict[str, float]:
    """process_seconds of the cells of `trained` that have a result in the run of `layout` (a
    finished run given by hand, as in `compare`, rather than a rule's declared inputs)."""
    results = [layout.result(cell_id) for cell_id in trained["cell_id"]]
    missing = [str(path) for path in results if not path.is_file()]
    if missing:
        log.warning("no result.json for %d cells (%s): their job time is unknown", len(missing), ", ".join(missing))
    return process_seconds([path for path in results if path.is_file()])


def search_summary(
    trained: pd.DataFrame, job_seconds: dict[str, float] | None = None, dropped: dict[int, pd.DataFrame] | None = None
) -> pd.DataFrame:
    """Paper Table 4: networks trained, top-1 and mean top-5 accuracy, the top-1 network's
    parameters and inference latency (ours), search time (summed t) and, given each cell's
    job wall time, the summed wall of the training jobs (unknown, NaN, where a cell's is
    missing: a sum over fewer cells would understate it). Given each step's dropped.csv,
    budget_ended_at is the first step whose selection the budget cut (empty: it cut none,
    the search ran to B)."""
    ok = tables.best(tables.with_added("trained", trained), len(trained))  # ties: the faster first, as top_networks
    wall = np.nan
    if job_seconds is not None and set(trained["cell_id"]) <= set(job_seconds):
        wall = float(np.sum([job_seconds[cell_id] for cell_id in trained["cell_id"]]))
    row = {
        "networks": len(trained),
        "failed": len(trained) - len(tables.ok_rows(trained)),
        "top1_accuracy": float(ok["accuracy"].iloc[0]) if len(ok) else np.nan,
        "top5_mean_accuracy": float(ok["accuracy"].head(5).mean()) if len(ok) else np.nan,
        "top1_params": float(ok.iloc[0].get("params", np.nan)) if len(ok) else np.nan,
        "top1_latency_ms": float(ok["latency_ms"].iloc[0]) if len(ok) else np.nan,
        "search_time_seconds": float(trained["time"].fillna(0).sum()),
        "search_wall_seconds": wall,
        "budget_ended_at": budget_end(dropped or {}),
    }
    return pd.DataFrame([row], columns=tables.COLUMNS["summary"])


def budget_end(dropped: dict[int, pd.DataFrame]) -> int | None:
    """The first step b whose selection the budget cut (dropped.csv, by step), None if none
    (an empty field of summary.csv)."""
    cut = [b for b, table in dropped.items() if len(table)]
    return min(cut) if cut else None


def top_networks(trained: pd.DataFrame, k: int = 5) -> pd.DataFrame:
    """Paper Table 5: the best networks with their parameters, blocks, accuracy and time (and
    their inference latency, ours)."""
    table = tables.best(tables.with_added("trained", trained), k)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table[tables.COLUMNS["top"]]


def time_ablation(
    trained: pd.DataFrame,
    reindex: dict[str, float],
    operators: list[str],
    spec,
    settings: dict,
    seed: int,
    data=None,
) -> pd.DataFrame:
    """Paper Table 1: every time-predictor kind refit on the cached results of steps < b and
    scored on the cells trained at step b: MAPE (%), Spearman, and the error (%) of the
    step's summed time, which is what a forecast of the step's cost needs. Without `data`
    (work.DataShape), the kinds that fit on the work counts are left out."""
    from scipy.stats import spearmanr

    from popnas_steps.features import features_of_cells
    from popnas_steps.time_predictor import TIME_MODELS, TimeSettings, fit_time_predictor, mape

    ok = tables.ok_rows(trained).reset_index(drop=True)
    features = features_of_cells([Cell.from_json(t) for t in ok["cell"]], reindex, operators, spec, data)
    rows = []
    for kind in [kind for kind, model in TIME_MODELS.items() if data is not None or model.inputs != "work"]:
        row = {"model": kind}
        for b in sorted(ok.loc[ok["b"] >= 2, "b"].unique()):
            train, test = (ok["b"] < b).to_numpy(), (ok["b"] == b).to_numpy()
            time_settings = TimeSettings(**{**settings["time"], "model": kind})
            predictor = fit_time_predictor(features[train], ok.loc[train, "time"], time_settings, seed, 1)
            predicted = predictor.predict(features[test])
            row[f"mape_b{b}"] = mape(ok.loc[test, "time"], predicted)
            row[f"spearman_b{b}"] = (
                float(spearmanr(ok.loc[test, "time"], predicted).statistic) if test.sum() > 2 else np.nan
            )
            measured = float(ok.loc[test, "time"].sum())
            row[f"sum_error_b{b}"] = 100.0 * (float(np.sum(predicted)) - measured) / measured
        rows.append(row)
    return pd.DataFrame(rows)


def final_table(metric_files: list[str | Path]) -> pd.DataFrame:
    """The final trainings: test accuracy, top-5, macro F1 beside the validation accuracy, and
    from the `export.json` beside each `metrics.json` (where there is one) each deployment
    format's agreement with Keras, or its test accuracy, and its latency at batch 1 (ms: the
    least round median; an export.json written before rounds existed gives its median)."""
    rows = []
    for path in metric_files:
        metrics = json.loads(Path(path).read_text())
        row = {key: metrics.get(key) for key in tables.COLUMNS["final"]} | {"cell": json.dumps(metrics["cell"])}
        for name, result in _exported_formats(Path(path).with_name("export.json")).items():
            if result.get("status") == "ok":
                row |= {f"{name}_{key}": result[key] for key in ("top1_agreement", "test_accuracy")}
                timed = result["latency_ms"]
                row[f"{name}_latency_ms"] = timed.get("ms", timed["median"])  # ms: the least round median
        rows.append({key: row.get(key) for key in tables.COLUMNS["final"]})
    return pd.DataFrame(rows, columns=tables.COLUMNS["final"])


def _exported_formats(path: Path) -> dict:
    """The formats of a final network's export.json ({} where it has none); a damaged one is
    an error naming it (the workflow makes it again before this report: results.stale_artefacts)."""
    if not path.is_file():
        return {}
    damage = export_damage(path)
    if damage is not None:
        raise ValueError(
            f"{damage}: not a finished export; delete it and run the workflow again to export the network anew"
        )
    return json.loads(path.read_text())["formats"]


def compare_runs(run_dirs: list[Path], out_dir: Path) -> pd.DataFrame:
    """Tables 4 and 5 for several finished runs side by side, with ratios to the first run,
    and their anytime curves on one plot."""
    out_dir.mkdir(parents=True, exist_ok=True)
    runs, summaries, tops = {}, [], []
    for steps in run_dirs:
        layout = RunLayout.of_steps(steps)
        label = f"{layout.run_dir.name}/{layout.strategy}"
        trained = tables.read("trained", *sorted(map(str, layout.step_files("trained").values())))
        runs[label] = trained
        # a run made before search.budget_hours existed has no dropped.csv: no step was cut
        dropped = {b: tables.read("dropped", path) for b, path in layout.step_files("dropped").items()}
        job_seconds = finished_job_seconds(layout, trained)
        summaries.append(search_summary(trained, job_seconds, dropped).assign(run=label))
        tops.append(top_networks(trained, 1).assign(run=label))
    summary = pd.concat(summaries, ignore_index=True)
    base = summary.iloc[0]
    for column in ("networks", "search_time_seconds", "search_wall_seconds", "top1_latency_ms", "top1_params"):
        summary[f"{column}_ratio_to_first"] = base[column] / summary[column]
    summary["top1_gap_to_first"] = summary["top1_accuracy"] - base["top1_accuracy"]
    # each run stopped at the first run's summed t (equal_cost_stop): its best at equal cost
    at_first_cost = [search_summary(equal_cost_stop(trained, base["search_time_seconds"])) for trained in runs.values()]
    summary["networks_at_first_cost"] = [int(row["networks"].iloc[0]) for row in at_first_cost]
    summary["search_time_seconds_at_first_cost"] = [float(row["search_time_seconds"].iloc[0]) for row in at_first_cost]
    summary["top1_accuracy_at_first_cost"] = [float(row["top1_accuracy"].iloc[0]) for row in at_first_cost]
    tables.write("summary", summary, out_dir / "summary.csv")
    tables.write("top", pd.concat(tops, ignore_index=True), out_dir / "top_networks.csv")
    plot_anytime(runs, out_dir / "anytime.png")
    return summary


# --- command line ----------------------------------------------------------------------------
