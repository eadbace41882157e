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
import hashlib
import itertools
import json
import math
import sys
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from popnas_steps.operators import PAPER_OPERATORS, OperatorError, parse_operator, parse_operators

LOOKBACKS = (-2, -1)


class CellError(ValueError):
    """A malformed cell: bad JSON, a bad input index or an unknown operator."""


@dataclass(frozen=True)
class Block:
    in1: int
    op1: str
    in2: int
    op2: str

    @property
    def pairs(self) -> tuple[tuple[int, str], tuple[int, str]]:
        return ((self.in1, self.op1), (self.in2, self.op2))

    @property
    def inputs(self) -> tuple[int, int]:
        return (self.in1, self.in2)

    @property
    def operators(self) -> tuple[str, str]:
        return (self.op1, self.op2)

    def to_list(self) -> list:
        return [self.in1, self.op1, self.in2, self.op2]


@dataclass(frozen=True)
class Cell:
    """An immutable, hashable cell spec. Equality is by encoding; use `cell_id` for equivalence."""

    blocks: tuple[Block, ...] = ()

    def __len__(self) -> int:
        return len(self.blocks)

    def to_list(self) -> list[list]:
        return [block.to_list() for block in self.blocks]

    def to_json(self) -> str:
        return json.dumps(self.to_list(), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str | list) -> Cell:
        """Parse and validate a cell from JSON text or an already-decoded list."""
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as error:
                raise CellError(f"cell is not valid JSON ({error.msg}): {data!r}") from None
        return cell_from_list(data)

    @property
    def uses_lookback(self) -> dict[int, bool]:
        used = {inp for block in self.blocks for inp in block.inputs}
        return {lookback: lookback in used for lookback in LOOKBACKS}

    @property
    def unused_blocks(self) -> tuple[int, ...]:
        """Blocks no later block reads: their outputs are concatenated into the cell output."""
        used = {inp for block in self.blocks for inp in block.inputs if inp >= 0}
        return tuple(index for index in range(len(self.blocks)) if index not in used)

    @cached_property
    def cell_id(self) -> str:
        return cell_id(self)


def cell_from_list(data: object) -> Cell:
    """Build a Cell from `[[in1, "op1", in2, "op2"], ...]`, raising CellError on bad input."""
    if not isinstance(data, (list, tuple)):
        raise CellError(f"a cell is a list of blocks [in1, op1, in2, op2]; got {data!r}")
    blocks = []
    for position, raw in enumerate(data):
        if not isinstance(raw, (list, tuple)) or len(raw) != 4:
            raise CellError(f"block {position} must be [in1, op1, in2, op2]; got {raw!r}")
        in1, op1, in2, op2 = raw
        for inp in (in1, in2):
            if isinstance(inp, bool) or not isinstance(inp, int):
                raise CellError(f"block {position} input {inp!r} is not an integer")
            if inp < -2 or inp >= position:
                allowed = "-2, -1" + (f", 0..{position - 1}" if position else "")
                raise CellError(f"block {position} input {inp} is out of range (allowed: {allowed})")
        try:
            op1, op2 = parse_operator(op1).name, parse_operator(op2).name
        except OperatorError as error:
            raise CellError(f"block {position}: {error}") from None
        blocks.append(Block(in1, op1, in2, op2))
    return Cell(tuple(blocks))


def check_operators(cell: Cell, operators: tuple[str, ...] | list[str]) -> None:
    """Raise CellError if the cell uses an operator outside the configured set."""
    allowed = {parse_operator(op).name for op in operators}
    for position, block in enumerate(cell.blocks):
        for op in block.operators:
            if op not in allowed:
                raise CellError(f"block {position} uses {op!r}, not in the operator set {sorted(allowed)}")


# --- equivalence -------------------------------------------------------------------------


def _block_signatures(cell: Cell) -> tuple[list[str], list[int]]:
    """Content signature and height of each block, with block inputs replaced by content."""
    signatures: list[str] = []
    heights: list[int] = []
    for block in cell.blocks:
        parts, height = [], 0
        for inp, op in block.pairs:
            if inp < 0:
                parts.append(f"L{inp}>{op}")
            else:
                parts.append(f"{signatures[inp]}>{op}")
                height = max(height, heights[inp] + 1)
        signatures.append("(" + "+".join(sorted(parts)) + ")")
        heights.append(height)
    return signatures, heights


def _renumbered(cell: Cell, order: list[int]) -> tuple[tuple, ...]:
    """The cell's blocks in `order`, references renumbered, each block's pairs sorted."""
    new_index = {old: new for new, old in enumerate(order)}
    blocks = []
    for old in order:
        pairs = sorted((new_index[inp] if inp >= 0 else inp, op) for inp, op in cell.blocks[old].pairs)
        blocks.append((pairs[0][0], pairs[0][1], pairs[1][0], pairs[1][1]))
    return tuple(blocks)


def canonical_cell(cell: Cell) -> Cell:
    """The representative of the cell's equivalence class.

    Blocks are ordered by (height in the cell DAG, content signature), which keeps every
    reference pointing backwards; only identical blocks tie, and among their orderings
    the lexicographically smallest encoding wins, so the result is exact even when a cell
    holds identical blocks feeding different successors.
    """
    if not cell.blocks:
        return cell
    signatures, heights = _block_signatures(cell)
    order = sorted(range(len(cell.blocks)), key=lambda i: (heights[i], signatures[i]))
    groups = [list(group) for _, group in itertools.groupby(order, key=lambda i: (heights[i], signatures[i]))]
    if all(len(group) == 1 for group in groups):
        best = _renumbered(cell, order)
    else:
        best = min(
            _renumbered(cell, [i for group in choice for i in group])
            for choice in itertools.product(*(itertools.permutations(g) for g in groups))
        )
    return Cell(tuple(Block(*block) for block in best))


def cell_id(cell: Cell) -> str:
    """A short stable id: 12 hex digits of the SHA-256 of the canonical JSON encoding."""
    canonical = canonical_cell(cell).to_json()
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def equivalent(first: Cell, second: Cell) -> bool:
    return canonical_cell(first) == canonical_cell(second)


# --- enumeration and expansion -----------------------------------------------------------


def input_choices(position: int) -> np.ndarray:
    """Valid inputs of the block at 1-based `position`: -2, -1 and blocks 0..position-2."""
    return np.arange(-2, position - 1, dtype=np.int16)


def block_choices(position: int, n_operators: int) -> np.ndarray:
    """Every canonical block at 1-based `position`, as rows [in1, op1, in2, op2] (op indices).

    A block and its mirror are the same block, so only pairs with
    (in1, op1) <= (in2, op2) are kept: p(p+1)/2 rows for p = |inputs| * |operators|.
    """
    inputs = input_choices(position)
    pairs = np.array([(inp, op) for inp in inputs for op in range(n_operators)], dtype=np.int16)
    first, second = np.triu_indices(len(pairs))
    return np.concatenate([pairs[first], pairs[second]], axis=1)


def expand(parents: np.ndarray, n_operators: int) -> np.ndarray:
    """Every expansion of each parent by one canonical new block.

    `parents` has shape (P, b-1, 4); the result has shape (P * Q, b, 4), parent-major,
    with Q = len(block_choices(b, n_operators)).
    """
    parents = np.asarray(parents, dtype=np.int16)
    n_parents, n_blocks = parents.shape[0], parents.shape[1]
    new_blocks = block_choices(n_blocks + 1, n_operators)
    expanded = np.empty((n_parents, len(new_blocks), n_blocks + 1, 4), dtype=np.int16)
    expanded[:, :, :n_blocks, :] = parents[:, None, :, :]
    expanded[:, :, n_blocks, :] = new_blocks[None, :, :]
    return expanded.reshape(n_parents * len(new_blocks), n_blocks + 1, 4)


def encode(cells: list[Cell], operators: tuple[str, ...] | list[str]) -> np.ndarray:
    """Encode cells with the same number of blocks as an int array (n, b, 4)."""
    index = {parse_operator(op).name: i for i, op in enumerate(operators)}
    sizes = {len(cell) for cell in cells}
    if len(sizes) > 1:
        raise CellError(f"cells to encode together must have the same number of blocks; got {sorted(sizes)}")
    try:
        rows = [[[b.in1, index[b.op1], b.in2, index[b.op2]] for b in cell.blocks] for cell in cells]
    except KeyError as error:
        raise CellError(f"operator {error.args[0]!r} is not in the operator set {list(operators)}") from None
    width = sizes.pop() if sizes else 0
    return np.array(rows, dtype=np.int16).reshape(len(cells), width, 4)


def decode(encoded: np.ndarray, operators: tuple[str, ...] | list[str]) -> list[Cell]:
    """Decode an int array (n, b, 4) back into Cells."""
    names = [parse_operator(op).name for op in operators]
    return [
        Cell(tuple(Block(int(r[0]), names[r[1]], int(r[2]), names[r[3]]) for r in cell)) for cell in np.asarray(encoded)
    ]


def one_block_cells(operators: tuple[str, ...] | list[str]) -> list[Cell]:
    """All unique one-block cells (step b=1 of Algorithm 1)."""
    return decode(block_choices(1, len(operators))[:, None, :], operators)


def space_stats(blocks: int, operators: tuple[str, ...] | list[str]) -> dict:
    """Counts of the search space: b=1 cells, new blocks per parent for each b, upper bound."""
    n_operators = len(parse_operators(list(operators)))
    per_position = {b: len(block_choices(b, n_operators)) for b in range(1, blocks + 1)}
    return {
        "operators": n_operators,
        "blocks": blocks,
        "blocks_b1": per_position[1],
        "new_blocks_per_cell": {str(b): per_position[b] for b in range(2, blocks + 1)},
        "upper_bound": float(math.prod(per_position.values())),
    }


# --- command line ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popnas_steps.space", description=__doc__.split("\n")[0])
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
