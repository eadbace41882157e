"""Entry points of the search rules of one block step (lines 5 and 7-20 of Algorithm 1;
line 21, the training, is train_cell).

    python -m popnas_steps.cli.step reindex --settings S --thrust b0/trained.csv --b1 b1/trained.csv
                                            --out b1/reindex.csv
    python -m popnas_steps.cli.step fit     --settings S --reindex b1/reindex.csv --out b<b>/predictors TRAINED.csv...
    python -m popnas_steps.cli.step expand  --settings S --predictors b<b>/predictors --parents b<b-1>/trained.csv
                                        --out b<b>/candidates.parquet
    python -m popnas_steps.cli.step pareto  --settings S --candidates b<b>/candidates.parquet --out b<b>/pareto.csv
    python -m popnas_steps.cli.step explore --settings S --b b --candidates ... --pareto ... --out b<b>/exploration.csv
    python -m popnas_steps.cli.step select  [--settings S] --b b --pareto ... --exploration ... --out b<b>/selected.csv
                                        [--dropped b<b>/dropped.csv]

Each reads files, calls the pure functions of popnas_steps.search / predictors, and writes
one artefact; --settings is the rule's slice of the config as JSON. With it, `select` also
logs one line: the cells selected, their predicted GPU time and the forecast end of the
search (popnas_steps.status). Given search.budget_hours in its settings, `select` cuts the
selection to what the budget still pays for (popnas_steps.budget) and writes the dropped
cells to --dropped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from popnas_steps import objectives, search, tables
from popnas_steps.cli.arguments import config_from_args
from popnas_steps.config import ConfigError
from popnas_steps.exits import bad_input
from popnas_steps.files import output_lock
from popnas_steps.layout import RunLayout, step_number
from popnas_steps.strategies import strategy_of


def reindex(config: dict, thrust: Path, b1: Path, out: Path) -> None:
    from popnas_steps.features import reindex_table

    trained = [tables.read("trained", path) for path in (thrust, b1)]
    tables.write("reindex", reindex_table(*trained, config["search"]["operators"]), out)


def fit(config: dict, trained: list[Path], reindex_file: Path, out: Path, data_file: Path | None = None) -> None:
    from popnas_steps.features import reindex_values
    from popnas_steps.macro import NetworkSpec
    from popnas_steps.predictors import fit_predictors
    from popnas_steps.work import DataShape

    if tables.read("trained", trained[-1]).empty:  # the budget or a cap ended the search: nothing to expand
        out.mkdir(parents=True, exist_ok=True)
        (out / "SKIPPED").write_text(f"'{trained[-1]}' holds no cell: no expansion, no predictor to fit\n")
        print(f"'{trained[-1]}' holds no cell: step b-1 selected nothing, so no predictor is fitted")
        return
    data = None if data_file is None else DataShape.read(data_file)
    table = tables.read("trained", *trained)
    predictors = fit_predictors(
        table,
        reindex_values(tables.read("reindex", reindex_file)),
        config["search"]["operators"],
        NetworkSpec(**config["network"]),
        config["search"]["max_blocks"],
        config["predictors"],
        config["seed"],
        with_time=strategy_of(config["search"]["strategy"]).fits_time_predictor,
        data=data,
    )
    predictors.save(out)
    if predictors.time is not None and predictors.time.sharing is not None:
        print(predictors.time.sharing.line(), flush=True)


def expand(config: dict, predictors_dir: Path, parents_file: Path, out: Path) -> None:
    from popnas_steps.predictors import load_predictors, score_expansions
    from popnas_steps.space import Cell

    trained = tables.read("trained", parents_file)
    if trained.empty:  # the budget or a cap ended the search: step b-1 selected nothing, nor does this one
        tables.write("candidates", tables.empty("candidates"), out)
        print(f"'{parents_file}' holds no cell: step b-1 selected nothing, so there is nothing to expand")
        return
    parents = [Cell.from_json(text) for text in tables.ok_rows(trained)["cell"]]
    if not parents:  # cells were trained and all failed: the search cannot go on
        raise ValueError(
            f"'{parents_file}' has no successfully trained cell to expand: every cell of step b-1 failed (its "
            "`reason` column says why). A change of the network or training recipe trains them again; to "
            "retry them as they are, delete their folders results/<run>/cells/<cell_id>/ and rerun"
        )
    predictors = load_predictors(predictors_dir, config["predictors"]["threads"])
    candidates = score_expansions(predictors, parents, config["predictors"]["score_chunk"])
    tables.write("candidates", candidates, out)


def capped_candidates(config: dict, candidates_file: Path, b: int, objective: list[str] | tuple = ()) -> pd.DataFrame:
    """The scored candidates of step b, with the costs that `objective` (the front's
    search.objective; the exploration front reads none) and the config's caps read, less
    those over a cap (printed: the step's log)."""
    from popnas_steps.work import DataShape

    candidates = objectives.with_costs(
        tables.read("candidates", candidates_file),
        config,
        objective,
        data=lambda: DataShape.read(RunLayout.of_steps(candidates_file.parent.parent).metadata),
        source=f"step b{b}'s candidates ('{candidates_file}')",
    )
    with_time = strategy_of(config["search"]["strategy"]).fits_time_predictor
    kept, lines = objectives.capped(candidates, config["search"], b, with_time)
    for line in lines:
        print(line)
    return kept


def pareto(config: dict, candidates_file: Path, out: Path) -> None:
    """The step's front, as its strategy cuts it (pareto.csv whatever the strategy)."""
    strategy = strategy_of(config["search"]["strategy"])
    b = step_number(out.parent)  # the rule writes b<b>/pareto.csv; the shell command stays as it was
    if b is None:
        raise ValueError(f"'{out}' is not a step's front (b<b>/pareto.csv): the step it cuts is its folder's")
    candidates = capped_candidates(config, candidates_file, b, config["search"]["objective"])
    tables.write("pareto", strategy.front(candidates, config, b, strategy.front_size(b, config["search"])), out)


def explore(config: dict, b: int, candidates_file: Path, pareto_file: Path, out: Path) -> None:
    settings = config["search"]
    exploring = strategy_of(settings["strategy"]).exploring(b, settings)
    front = tables.read("pareto", pareto_file)
    table = tables.empty("exploration")
    if exploring:
        candidates = capped_candidates(config, candidates_file, b)
        sets = search.exploration_sets(front, settings["operators"], b)
        table = search.exploration_front(candidates, front, sets, settings["exploration"])
    tables.write("exploration", table, out)


def select(
    config: dict, b: int, pareto_file: Path, exploration_file: Path, out: Path, dropped_file: Path | None
) -> str:
    """Write the selection of step b (and, given a path, its dropped.csv); the line to log
    when the budget cut it or its fronts were empty (`why_empty`), else ''."""
    front = tables.read("pareto", pareto_file).assign(origin="pareto")
    exploration = tables.read("exploration", exploration_file).assign(origin="exploration")
    selected = pd.concat([front, exploration], ignore_index=True)[tables.COLUMNS["selected"]]
    dropped = tables.empty("dropped")
    budget_hours = config.get("search", {}).get("budget_hours")
    line = ""
    if budget_hours is not None:
        from popnas_steps.budget import cut_step

        selected, dropped, line = cut_step(step_layout(out, b), b, selected, budget_hours)
    if selected.empty and dropped.empty:  # the fronts were empty: the budget or a cap ended the search
        line = f"b{b}: nothing to select: {why_empty(out, b, config)}"
    tables.write("selected", selected, out)
    if dropped_file is not None:
        tables.write("dropped", dropped, dropped_file)
    return line


def why_empty(selected: Path, b: int, config: dict) -> str:
    """Why step b's fronts are empty, said from the run's steps before it: step b-1 selected
    no cell, and what emptied the first empty step, the budget (its dropped.csv) or the caps;
    or else every candidate of step b was over a cap. The caps are named where `config` has
    them (the select rule passes those set: search.max_params, search.max_latency_ms, and
    search.time_constraint for a strategy with a time predictor)."""
    try:
        layout, _ = RunLayout.of_step_file(selected)
    except ValueError:  # not a run's step: nothing to look back at
        return f"the fronts of step b{b} are empty (pareto_b{b}.log says why)"
    first = b  # the first of the empty steps that end at b
    while first > 2 and _selected_nothing(layout, first - 1):
        first -= 1
    dropped = layout.table(first, "dropped")
    if first < b and dropped.is_file() and not tables.read("dropped", dropped).empty:
        cause = f"the budget ended the search at b{first} (select_b{first}.log)"
    else:
        cause = (
            f"no candidate of step b{first} is within {_caps_text(config)} "
            f"(pareto_b{first}.log says how many each discarded)"
        )
    return cause if first == b else f"step b{b - 1} selected no cell: {cause}"


def _selected_nothing(layout: RunLayout, b: int) -> bool:
    """Whether step b is known to have selected no cell (its trained table is there and empty)."""
    trained = layout.table(b, "trained")
    return trained.is_file() and tables.read("trained", trained).empty


def _caps_text(config: dict) -> str:
    """The caps set in `config`, as 'search.max_params = 1 and ...'; what they are, where none is."""
    settings = config.get("search", {})
    with_time = "strategy" not in settings or strategy_of(settings["strategy"]).fits_time_predictor
    named = [f"search.{entry.cap} = {settings[entry.cap]}" for entry in objectives.caps_set(settings, with_time)]
    every = ", ".join(f"search.{entry.cap}" for entry in objectives.OBJECTIVES.values())
    return " and ".join(named) if named else f"the caps ({every})"


def step_layout(selected: Path, b: int) -> RunLayout:
    """The run whose trainings a selection of step b is priced on: `selected` must be
    results/<run>/<strategy>/b<b>/selected.csv."""
    layout, step = RunLayout.of_step_file(selected)
    if step != b:
        raise ValueError(f"'{selected}' is not the selection of step b{b} of a run (results/<run>/<strategy>/b{b}/)")
    return layout


def log_forecast(selected: Path, b: int, config: dict) -> None:
    """One line on the selection just written and the forecast it makes. Only a report: any
    error in it is a warning, never the step's failure."""
    from popnas_steps.status import selection_line

    try:
        print(selection_line(step_layout(selected, b), b, config), flush=True)
    except Exception as error:  # the selection is written: a forecast must not fail it
        print(f"warning: no forecast ({type(error).__name__}: {error})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popnas_steps.cli.step", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    spec = {
        "reindex": ["--thrust", "--b1"],
        "fit": ["--reindex"],
        "expand": ["--predictors", "--parents"],
        "pareto": ["--candidates"],
        "explore": ["--b", "--candidates", "--pareto"],
        "select": ["--b", "--pareto", "--exploration"],
    }
    for name, options in spec.items():
        command = commands.add_parser(name)
        # select needs no settings; given them (K, J, B, the strategy), it logs its forecast
        command.add_argument("--settings", required=name != "select", help="the rule's config slice as JSON")
        for option in options:
            command.add_argument(option, required=True, type=int if option == "--b" else Path)
        command.add_argument("--out", required=True, type=Path)
        if name == "fit":
            command.add_argument("trained", nargs="+", type=Path, help="trained.csv of every step so far")
            command.add_argument("--data", type=Path, help="the dataset's metadata.json (input shape, classes)")
        if name == "select":
            command.add_argument("--dropped", type=Path, help="dropped.csv: the cells the budget dropped")
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args) if args.settings is not None else {}
    except ConfigError as error:
        return bad_input(error)
    with output_lock(args.out):
        try:
            run(args, config)
        except tables.DamagedTableError as error:  # the workflow makes a damaged table again when it starts
            return bad_input(f"{error}; run the workflow again, which makes it again")
        except ValueError as error:  # the steps' own checks (no parent to expand, a budget without its run)
            return bad_input(error)
    print(json.dumps({"step": args.command, "out": str(args.out)}))
    return 0


def run(args: argparse.Namespace, config: dict) -> None:
    if args.command == "reindex":
        reindex(config, args.thrust, args.b1, args.out)
    elif args.command == "fit":
        fit(config, args.trained, args.reindex, args.out, args.data)
    elif args.command == "expand":
        expand(config, args.predictors, args.parents, args.out)
    elif args.command == "pareto":
        pareto(config, args.candidates, args.out)
    elif args.command == "explore":
        explore(config, args.b, args.candidates, args.pareto, args.out)
    else:
        line = select(config, args.b, args.pareto, args.exploration, args.out, args.dropped)
        if line:
            print(line, flush=True)
        if config and not tables.read("selected", args.out).empty:
            log_forecast(args.out, args.b, config)


if __name__ == "__main__":
    sys.exit(main())
