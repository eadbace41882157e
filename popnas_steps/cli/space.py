"""The search space by hand: its size, and the id of a cell (popnas_steps.space).

python -m popnas_steps.cli.space stats --blocks 5 [--operators OP ...]
python -m popnas_steps.cli.space id CELL_JSON [--canonical]
"""

from __future__ import annotations

import argparse
import json
import sys

from popnas_steps.exits import bad_input
from popnas_steps.operators import PAPER_OPERATORS, OperatorError
from popnas_steps.space import Cell, CellError, canonical_cell, space_stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popnas_steps.cli.space", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    stats = commands.add_parser("stats", help="print the size of the search space as JSON")
    stats.add_argument("--blocks", type=int, default=5, help="B, the maximum number of blocks")
    stats.add_argument("--operators", nargs="+", default=list(PAPER_OPERATORS), help="operator strings")
    ident = commands.add_parser("id", help="print the id of a cell given as JSON")
    ident.add_argument("cell", help='cell JSON, e.g. \'[[-1, "3x3 conv", -2, "identity"]]\'')
    ident.add_argument("--canonical", action="store_true", help="also print the canonical encoding")
    args = parser.parse_args(argv)
    try:
        if args.command == "stats":
            if args.blocks < 1:
                raise CellError(f"--blocks must be >= 1; got {args.blocks}")
            print(json.dumps(space_stats(args.blocks, args.operators), indent=2))
        else:
            cell = Cell.from_json(args.cell)
            if args.canonical:
                print(json.dumps({"cell_id": cell.cell_id, "canonical": canonical_cell(cell).to_list()}))
            else:
                print(cell.cell_id)
    except (CellError, OperatorError) as error:
        return bad_input(error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
