"""Entry point: write the selection, `selected.csv`, of the initial thrust and of step b=1.

    python -m popnas_steps.cli.select_cells thrust --out b0/selected.csv
    python -m popnas_steps.cli.select_cells b1 --settings '{"search": {...}}' --out b1/selected.csv

`selected.csv` columns: cell_id, cell (JSON), origin (thrust | b1 | pareto | exploration),
predicted_accuracy, predicted_time (empty where no prediction was made).
"""

from __future__ import annotations

import argparse
import sys

from popnas_steps import tables
from popnas_steps.cli.arguments import add_config_arguments, config_from_args
from popnas_steps.config import ConfigError
from popnas_steps.exits import bad_input
from popnas_steps.files import output_lock
from popnas_steps.space import Cell, one_block_cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popnas_steps.cli.select_cells", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    thrust = commands.add_parser("thrust", help="the empty cell (initial thrust)")
    b1 = commands.add_parser("b1", help="every unique one-block cell")
    add_config_arguments(b1)
    for command in (thrust, b1):
        command.add_argument("--out", required=True, help="selected.csv to write")
    args = parser.parse_args(argv)
    try:
        if args.command == "thrust":
            table = tables.selection_table([Cell()], "thrust")
        else:
            table = tables.selection_table(one_block_cells(config_from_args(args)["search"]["operators"]), "b1")
    except ConfigError as error:
        return bad_input(error)
    with output_lock(args.out):
        tables.write("selected", table, args.out)
    print(f"selected {len(table)} cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
