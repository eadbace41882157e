"""The cell search space of paper section 3.1: blocks, cells, equivalence and expansion.

A block is (in1, op1, in2, op2): two operators applied to two inputs, joined by an add.
An input is a lookback (-1 = previous cell output, -2 = the one before) or the 0-based
index of an earlier block of the same cell. A cell is a tuple of blocks, stored as JSON
`[[in1, "op1", in2, "op2"], ...]`; the empty cell `[]` is the initial thrust.

Equivalence (paper 3.2): the add is commutative, so a block equals its mirror; a cell
equals any cell whose blocks are a permutation of its own, block references renumbered to
match. `canonical_cell` picks one representative per equivalence class, and `cell_id`
hashes it, so equivalent cells share an id.

For the hot path (expanding ~340k candidates at paper scale) cells are also encoded as
integer arrays of shape (n, b, 4) = [in1, op1 index, in2, op2 index], built with numpy.
"""

from __future__ import annotations

import argparse
import json
import sys

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
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
