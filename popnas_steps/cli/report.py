"""Reports from cached artefacts: the paper's figures and tables, never any training.

python -m popnas_steps.cli.report pareto     --trained b<b>/trained.csv --out b<b>_pareto.png
python -m popnas_steps.cli.report predictors --out-time time.png --out-accuracy accuracy.png
                                         --out-table predictor_quality.csv TRAINED.csv...
python -m popnas_steps.cli.report usage      --settings S --out usage.png TRAINED.csv...
python -m popnas_steps.cli.report anytime    --out anytime.png TRAINED.csv...
python -m popnas_steps.cli.report tensorboard --out report/tensorboard TRAINED.csv...   (TensorBoard event file)
python -m popnas_steps.cli.report summary    --out-summary summary.csv --out-top top_networks.csv
                                         --results cells/<id>/result.json... --trained TRAINED.csv...
python -m popnas_steps.cli.report ablation   --settings S --reindex b1/reindex.csv --data data/metadata.json
                                             --out time_ablation.csv TRAINED.csv...
python -m popnas_steps.cli.report draw       --cell JSON --out cell.png   (and cell.dot beside it, for graphviz)
python -m popnas_steps.cli.report cells      --top top_networks.csv --out top_cells.png
python -m popnas_steps.cli.report final      --out final.csv final/<cell_id>/metrics.json...
python -m popnas_steps.cli.report compare    --out-dir DIR RUN_DIR...   (RUN_DIR = results/<run>/<strategy>)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from popnas_steps import tables
from popnas_steps.drawing import draw_cell
from popnas_steps.files import output_lock
from popnas_steps.report import (
    compare_runs,
    final_table,
    plot_anytime,
    plot_pareto,
    plot_predictor,
    plot_top_cells,
    plot_usage,
    process_seconds,
    search_scalars,
    search_summary,
    time_ablation,
    top_networks,
)
from popnas_steps.space import Cell


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popnas_steps.cli.report", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pareto = commands.add_parser("pareto")
    pareto.add_argument("--trained", required=True)
    pareto.add_argument("--settings", help="search.objective as JSON: one panel per cost (default: time)")
    pareto.add_argument("--out", required=True)
    predictors = commands.add_parser("predictors")
    predictors.add_argument("--out-time", required=True)
    predictors.add_argument("--out-accuracy", required=True)
    predictors.add_argument("--out-table", required=True)
    predictors.add_argument("--out-latency", help="the latency predictor's figure")
    predictors.add_argument("trained", nargs="+")
    usage = commands.add_parser("usage")
    usage.add_argument("--settings", required=True)
    usage.add_argument("--out", required=True)
    usage.add_argument("trained", nargs="+")
    anytime = commands.add_parser("anytime")
    anytime.add_argument("--out", required=True)
    anytime.add_argument("trained", nargs="+")
    tensorboard = commands.add_parser("tensorboard")
    tensorboard.add_argument("--out", required=True, help="folder of the event file (its old event files are replaced)")
    tensorboard.add_argument("trained", nargs="+")
    summary = commands.add_parser("summary")
    summary.add_argument("--out-summary", required=True)
    summary.add_argument("--out-top", required=True)
    summary.add_argument("--results", nargs="+", required=True, help="result.json of every cell trained")
    summary.add_argument("--trained", nargs="+", required=True)
    summary.add_argument("--dropped", nargs="*", default=[], help="b<b>/dropped.csv of the steps b >= 2")
    ablation = commands.add_parser("ablation")
    ablation.add_argument("--settings", required=True)
    ablation.add_argument("--reindex", required=True)
    ablation.add_argument("--data", help="the dataset's metadata.json; without it, no work_nnls row")
    ablation.add_argument("--out", required=True)
    ablation.add_argument("trained", nargs="+")
    draw = commands.add_parser("draw")
    draw.add_argument("--cell", required=True)
    draw.add_argument("--out", required=True)
    cells = commands.add_parser("cells")
    cells.add_argument("--top", required=True)
    cells.add_argument("--out", required=True)
    final = commands.add_parser("final")
    final.add_argument("--out", required=True)
    final.add_argument("metrics", nargs="+")
    compare = commands.add_parser("compare")
    compare.add_argument("--out-dir", required=True)
    compare.add_argument("runs", nargs="+", help="results/<run>/<strategy> folders")
    args = parser.parse_args(argv)
    # Each command writes one or a few outputs: the lock of the first keeps an orphan of a
    # killed Snakemake and the rerun's job from writing them at once.
    first_output = next(getattr(args, name) for name in OUTPUT_ARGUMENTS if getattr(args, name, None))
    with output_lock(first_output):
        _report(args)
    return 0


# The arguments naming a command's outputs, in the order a command's first output is found.
OUTPUT_ARGUMENTS = ("out", "out_table", "out_summary", "out_dir")


def _report(args: argparse.Namespace) -> None:
    from popnas_steps.cli.arguments import config_from_args

    if args.command == "pareto":
        trained = tables.read("trained", args.trained)
        objective = tuple(config_from_args(args)["search"]["objective"]) if args.settings else ("time",)
        plot_pareto(trained, int(trained["b"].iloc[0]) if len(trained) else 0, args.out, objective)
    elif args.command == "predictors":
        from popnas_steps.predictors import predictor_quality

        trained = tables.read("trained", *args.trained)
        plot_predictor(trained, "time", args.out_time)
        plot_predictor(trained, "accuracy", args.out_accuracy)
        if args.out_latency:
            plot_predictor(trained, "latency", args.out_latency)
        tables.write("quality", predictor_quality(trained), args.out_table)
    elif args.command == "usage":
        plot_usage(tables.read("trained", *args.trained), config_from_args(args)["search"]["operators"], args.out)
    elif args.command == "anytime":
        plot_anytime({"search": tables.read("trained", *args.trained)}, args.out)
    elif args.command == "tensorboard":
        from popnas_steps.events import write_scalars
        from popnas_steps.predictors import predictor_quality

        trained = tables.read("trained", *args.trained)
        write_scalars(args.out, search_scalars(trained, predictor_quality(trained)))
    elif args.command == "summary":
        trained = tables.read("trained", *args.trained)
        # b<b>/dropped.csv: the step is the name of its folder
        dropped = {int(Path(path).parent.name[1:]): tables.read("dropped", path) for path in args.dropped}
        tables.write("summary", search_summary(trained, process_seconds(args.results), dropped), args.out_summary)
        tables.write("top", top_networks(trained), args.out_top)
    elif args.command == "ablation":
        from popnas_steps.features import reindex_values
        from popnas_steps.macro import NetworkSpec
        from popnas_steps.work import DataShape

        config = config_from_args(args)
        reindex = reindex_values(tables.read("reindex", args.reindex))
        data = None if args.data is None else DataShape.read(args.data)
        time_ablation(
            tables.read("trained", *args.trained),
            reindex,
            config["search"]["operators"],
            NetworkSpec(**config["network"]),
            config["predictors"],
            config["seed"],
            data,
        ).to_csv(args.out, index=False)
    elif args.command == "cells":
        plot_top_cells(tables.read("top", args.top), args.out)
    elif args.command == "final":
        tables.write("final", final_table(args.metrics), args.out)
    elif args.command == "draw":
        draw_cell(Cell.from_json(args.cell), args.out)
    else:
        print(compare_runs([Path(run) for run in args.runs], Path(args.out_dir)).to_string())


if __name__ == "__main__":
    sys.exit(main())
