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

import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from popnas_steps.operators import OperatorError, parse_operator, parse_operators

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
#
# One vectorised routine canonicalises any number of encoded cells; single cells go
# through it too, so there is exactly one definition of the canonical form.
#
# Each block gets a 64-bit content signature: its two (input, operator) pairs hashed in
# sorted order, where a block input contributes that block's signature (so references
# are compared by content, recursively). Blocks are then ordered by (height in the cell
# DAG, signature), which keeps every reference pointing backwards, and references are
# renumbered. Only content-identical blocks can tie; for those rare cells every ordering
# of the tied blocks is tried and the smallest encoding wins, which keeps the form exact
# even when identical blocks feed different successors. Operators are keyed by name, so
# the canonical form does not depend on the order of the configured operator set.

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_LOOKBACK_KEYS = np.array([0xA0761D6478BD642F, 0xE7037ED1A0B428DB], dtype=np.uint64)  # -2, -1
_EMPTY_HASH = np.uint64(0x8EBC6AF09C88C6E3)


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _combine(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """An order-dependent 64-bit hash of two 64-bit values."""
    return _splitmix(first ^ _splitmix(second))


def operator_keys(operators: tuple[str, ...] | list[str]) -> np.ndarray:
    """A stable 64-bit key per operator index, derived from the operator's name."""
    names = [parse_operator(op).name for op in operators]
    digests = [hashlib.sha256(name.encode()).digest()[:8] for name in names]
    return np.array([int.from_bytes(d, "little") for d in digests], dtype=np.uint64)


def _ordered(encoded: np.ndarray, order: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Blocks of each row put in `order`, references renumbered, each block's pairs sorted."""
    n, b = order.shape
    new_index = np.empty_like(order)
    np.put_along_axis(new_index, order, np.broadcast_to(np.arange(b), (n, b)), axis=1)
    blocks = np.take_along_axis(encoded, order[:, :, None], axis=1).copy()
    for column in (0, 2):
        inputs = blocks[:, :, column]
        renumbered = np.take_along_axis(new_index, np.where(inputs >= 0, inputs, 0), axis=1)
        blocks[:, :, column] = np.where(inputs >= 0, renumbered, inputs)
    first_key, second_key = keys[blocks[..., 1]], keys[blocks[..., 3]]
    swap = (blocks[..., 0] > blocks[..., 2]) | ((blocks[..., 0] == blocks[..., 2]) & (first_key > second_key))
    blocks[swap] = blocks[swap][:, [2, 3, 0, 1]]
    return blocks


def _smallest_tied_order(row: np.ndarray, order: np.ndarray, tie_ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Among the orderings that permute tied blocks, the one giving the smallest encoding."""
    groups = [list(order[tie_ids == g]) for g in np.unique(tie_ids)]
    candidates = np.array(
        [[i for group in choice for i in group] for choice in itertools.product(*map(itertools.permutations, groups))]
    )
    encodings = _ordered(np.broadcast_to(row, (len(candidates), *row.shape)), candidates, keys)
    comparable = [
        tuple((int(r[0]), int(keys[r[1]]), int(r[2]), int(keys[r[3]])) for r in encoding) for encoding in encodings
    ]
    return encodings[min(range(len(comparable)), key=comparable.__getitem__)]


def canonicalize(encoded: np.ndarray, operators: tuple[str, ...] | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Canonical encodings (n, b, 4) of encoded cells, and a 64-bit hash of each.

    Equivalent cells get the same canonical encoding and hash; use the hash to find
    equivalent candidates among hundreds of thousands at once.
    """
    encoded = np.asarray(encoded, dtype=np.int16)
    n, b = encoded.shape[0], encoded.shape[1]
    if b == 0:
        return encoded.copy(), np.full(n, _EMPTY_HASH, dtype=np.uint64)
    keys = operator_keys(operators)
    rows = np.arange(n)
    signature = np.zeros((n, b), dtype=np.uint64)
    height = np.zeros((n, b), dtype=np.int16)
    for i in range(b):
        pair_keys, pair_heights = [], []
        for column in (0, 2):
            inputs = encoded[:, i, column].astype(np.int64)
            is_block = inputs >= 0
            reference = np.where(is_block, inputs, 0)
            source = np.where(is_block, signature[rows, reference], _LOOKBACK_KEYS[np.where(is_block, 0, inputs + 2)])
            pair_keys.append(_combine(source, keys[encoded[:, i, column + 1]]))
            pair_heights.append(np.where(is_block, height[rows, reference] + 1, 0))
        signature[:, i] = _combine(np.minimum(*pair_keys), np.maximum(*pair_keys))
        height[:, i] = np.maximum(*pair_heights)
    order = np.lexsort((signature, height), axis=1)
    canonical = _ordered(encoded, order, keys)

    sorted_signature = np.take_along_axis(signature, order, axis=1)
    sorted_height = np.take_along_axis(height, order, axis=1)
    same_as_previous = (sorted_signature[:, 1:] == sorted_signature[:, :-1]) & (
        sorted_height[:, 1:] == sorted_height[:, :-1]
    )
    for r in np.flatnonzero(same_as_previous.any(axis=1)):
        tie_ids = np.concatenate([[0], np.cumsum(~same_as_previous[r])])
        canonical[r] = _smallest_tied_order(encoded[r], order[r], tie_ids, keys)

    cell_hash = np.full(n, _EMPTY_HASH, dtype=np.uint64)
    for i in range(b):
        block = canonical[:, i]
        first = _combine(block[:, 0].astype(np.uint64) + np.uint64(3), keys[block[:, 1]])
        second = _combine(block[:, 2].astype(np.uint64) + np.uint64(3), keys[block[:, 3]])
        cell_hash = _combine(cell_hash, _combine(first, second))
    return canonical, cell_hash


def canonical_cell(cell: Cell) -> Cell:
    """The representative of the cell's equivalence class."""
    if not cell.blocks:
        return cell
    operators = sorted({op for block in cell.blocks for op in block.operators})
    canonical, _ = canonicalize(encode([cell], operators), operators)
    return decode(canonical, operators)[0]


def _json_of(rows: np.ndarray, names: list[str]) -> str:
    """Compact JSON of one encoded cell; identical to Cell.to_json of the decoded cell."""
    return "[" + ",".join(f'[{r[0]},"{names[r[1]]}",{r[2]},"{names[r[3]]}"]' for r in rows.tolist()) + "]"


def _id_of_json(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cell_id(cell: Cell) -> str:
    """A short stable id: 12 hex digits of the SHA-256 of the canonical JSON encoding."""
    return _id_of_json(canonical_cell(cell).to_json())


def cell_ids(cells: list[Cell]) -> list[str]:
    """`cell_id` of each cell, the cells of one size canonicalised together (vectorised)."""
    if not cells:
        return []
    operators = sorted({op for cell in cells for block in cell.blocks for op in block.operators})
    (ids,) = by_size(cells, operators, lambda canonical: (np.asarray(canonical_ids(canonical, operators)[0]),))
    return ids.tolist()


def canonical_ids(canonical: np.ndarray, operators: tuple[str, ...] | list[str]) -> tuple[list[str], list[str]]:
    """Cell ids and JSON encodings of cells already in canonical form (see `canonicalize`)."""
    names = [parse_operator(op).name for op in operators]
    texts = [_json_of(rows, names) for rows in np.asarray(canonical)]
    return [_id_of_json(text) for text in texts], texts


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


def by_size(
    cells: list[Cell], operators: tuple[str, ...] | list[str], compute, canonical: bool = True
) -> tuple[np.ndarray, ...]:
    """Apply `compute` (encoded (n, b, 4) -> tuple of arrays with n rows) to each group of
    same-size cells, and return its arrays with the rows back in the cells' order.

    Each group is passed in canonical form, the form `expand` candidates are scored in: the
    predictors see one form of each cell, whatever form its JSON was stored in (b=1 cells
    are selected in enumeration order, and some are the mirror of their canonical form).
    canonical=False passes the cells as stored, which only the replay of the encoding
    before canonicalisation wants (bench/bench_accuracy_models.py --stored-form).
    """
    sizes = np.array([len(cell) for cell in cells])
    outputs: list[np.ndarray] = []
    for size in np.unique(sizes):
        chosen = np.flatnonzero(sizes == size)
        encoded = encode([cells[i] for i in chosen], operators)
        parts = compute(canonicalize(encoded, operators)[0] if canonical else encoded)
        if not outputs:
            outputs = [np.zeros((len(cells), *np.shape(part)[1:]), dtype=np.asarray(part).dtype) for part in parts]
        for output, part in zip(outputs, parts, strict=True):
            output[chosen] = part
    return tuple(outputs)


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
