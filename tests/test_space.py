import itertools
import json
import random

import networkx as nx
import numpy as np
import pytest

from popnas_steps import space
from popnas_steps.cli import space as cli_space
from popnas_steps.operators import PAPER_OPERATORS
from popnas_steps.space import Block, Cell, CellError, canonical_cell, cell_id


def cell(*blocks) -> Cell:
    return Cell.from_json(json.dumps([list(b) for b in blocks]))


def as_graph(c: Cell) -> nx.DiGraph:
    """An independent oracle: the cell as a labelled DAG (inputs -> operator nodes -> adds)."""
    graph = nx.DiGraph()
    graph.add_node("L-1", label="L-1")
    graph.add_node("L-2", label="L-2")
    for b, block in enumerate(c.blocks):
        graph.add_node(f"add{b}", label="add")
        for side, (inp, op) in enumerate(block.pairs):
            graph.add_node(f"op{b}.{side}", label=op)
            graph.add_edge(f"L{inp}" if inp < 0 else f"add{inp}", f"op{b}.{side}")
            graph.add_edge(f"op{b}.{side}", f"add{b}")
    return graph


def isomorphic(a: Cell, b: Cell) -> bool:
    return len(a) == len(b) and nx.is_isomorphic(
        as_graph(a), as_graph(b), node_match=lambda x, y: x["label"] == y["label"]
    )


def test_stats_match_the_paper_counts():
    stats = space.space_stats(5, PAPER_OPERATORS)
    assert stats["blocks_b1"] == 300
    assert stats["new_blocks_per_cell"] == {"2": 666, "3": 1176, "4": 1830, "5": 2628}
    assert stats["upper_bound"] == pytest.approx(1.13e15, rel=0.01)


def test_stats_command_prints_json(capsys):
    assert cli_space.main(["stats", "--blocks", "3", "--operators", "3x3 conv", "identity"]) == 0
    stats = json.loads(capsys.readouterr().out)
    # 2 operators, inputs -2,-1: p = 4 -> 10 blocks; b=2: p = 6 -> 21; b=3: p = 8 -> 36
    assert (stats["blocks_b1"], stats["new_blocks_per_cell"]) == (10, {"2": 21, "3": 36})


def test_mirrored_block_is_the_same_cell():
    a = cell((-1, "3x3 conv", -2, "identity"))
    b = cell((-2, "identity", -1, "3x3 conv"))
    assert a != b and a.cell_id == b.cell_id


def test_permuted_blocks_with_renumbered_references_are_the_same_cell():
    a = cell((-1, "1x1 conv", -1, "3x3 conv"), (-2, "identity", -1, "3x3 conv"), (1, "2x2 maxpool", 0, "1x1 conv"))
    b = cell((-1, "3x3 conv", -2, "identity"), (-1, "3x3 conv", -1, "1x1 conv"), (1, "1x1 conv", 0, "2x2 maxpool"))
    assert a.cell_id == b.cell_id
    assert canonical_cell(a) == canonical_cell(b)


def test_references_are_compared_by_content_recursively():
    # Same shape of DAG but the deep block differs in one operator: not equivalent.
    a = cell((-1, "3x3 conv", -1, "3x3 conv"), (0, "identity", -2, "1x1 conv"), (1, "1x1 conv", -1, "identity"))
    b = cell((-1, "3x3 conv", -1, "5x5 conv"), (0, "identity", -2, "1x1 conv"), (1, "1x1 conv", -1, "identity"))
    assert a.cell_id != b.cell_id


def test_identical_blocks_with_different_successors_are_told_apart():
    x = (-1, "3x3 conv", -1, "3x3 conv")
    shared = cell(x, x, (0, "identity", -1, "1x1 conv"), (0, "identity", -2, "1x1 conv"))
    split = cell(x, x, (0, "identity", -1, "1x1 conv"), (1, "identity", -2, "1x1 conv"))
    assert not isomorphic(shared, split)
    assert shared.cell_id != split.cell_id
    swapped = cell(x, x, (1, "identity", -1, "1x1 conv"), (0, "identity", -2, "1x1 conv"))
    assert split.cell_id == swapped.cell_id


def test_ids_agree_with_graph_isomorphism_on_random_cells():
    ops = ["3x3 conv", "identity", "2x2 maxpool"]
    rng = random.Random(3)
    cells = []
    for _ in range(300):
        blocks = []
        for position in range(rng.randint(1, 4)):
            inputs = list(range(-2, position))
            blocks.append((rng.choice(inputs), rng.choice(ops), rng.choice(inputs), rng.choice(ops)))
        cells.append(cell(*blocks))
        # add an equivalent twin: shuffled blocks (topologically), mirrored pairs
        cells.append(_shuffled_twin(cells[-1], rng))
    for a, b in itertools.combinations(cells, 2):
        if len(a) == len(b):
            assert (a.cell_id == b.cell_id) == isomorphic(a, b), (a.to_json(), b.to_json())


def _shuffled_twin(c: Cell, rng: random.Random) -> Cell:
    order: list[int] = []
    remaining = list(range(len(c)))
    while remaining:
        ready = [i for i in remaining if all(inp < 0 or inp in order for inp in c.blocks[i].inputs)]
        pick = rng.choice(ready)
        order.append(pick)
        remaining.remove(pick)
    new = {old: n for n, old in enumerate(order)}
    blocks = []
    for old in order:
        pairs = [(new[i] if i >= 0 else i, op) for i, op in c.blocks[old].pairs]
        rng.shuffle(pairs)
        blocks.append(Block(pairs[0][0], pairs[0][1], pairs[1][0], pairs[1][1]))
    twin = Cell(tuple(blocks))
    assert isomorphic(c, twin)
    return twin


def test_json_round_trip_and_hashability():
    c = cell((-1, "3x3 dconv", -2, "identity"), (0, "1x3-3x1 conv", 0, "2x2 avgpool"))
    assert Cell.from_json(c.to_json()) == c
    assert json.loads(c.to_json()) == [[-1, "3x3 dconv", -2, "identity"], [0, "1x3-3x1 conv", 0, "2x2 avgpool"]]
    assert len({c, Cell.from_json(c.to_json())}) == 1
    assert Cell.from_json("[]") == Cell()


@pytest.mark.parametrize(
    "text, message",
    [
        ('[[-1, "3x3 conv", -2]]', "block 0 must be"),
        ('[[0, "3x3 conv", -1, "identity"]]', "block 0 input 0 is out of range"),
        ('[[-1, "3x3 conv", -1, "identity"], [2, "identity", -1, "identity"]]', "block 1 input 2"),
        ('[[-3, "3x3 conv", -1, "identity"]]', "input -3"),
        ('[[-1, "3x3 conv", -1, "warp drive"]]', "unknown operator 'warp drive'"),
        ('[[-1, "3x3 conv", true, "identity"]]', "not an integer"),
        ('{"a": 1}', "list of blocks"),
        ('[[-1, "3x3', "not valid JSON"),
    ],
)
def test_malformed_cells_are_clear_errors(text, message):
    with pytest.raises(CellError, match=message):
        Cell.from_json(text)


def test_id_command(capsys):
    assert cli_space.main(["id", '[[-1, "3x3 conv", -2, "identity"]]']) == 0
    first = capsys.readouterr().out.strip()
    assert cli_space.main(["id", '[[-2, "identity", -1, "3x3 conv"]]']) == 0
    assert capsys.readouterr().out.strip() == first == cell_id(cell((-1, "3x3 conv", -2, "identity")))
    assert cli_space.main(["id", '[[1, "3x3 conv", -2, "identity"]]']) == 2
    assert "out of range" in capsys.readouterr().err


def test_one_block_cells_are_unique_and_complete():
    cells = space.one_block_cells(PAPER_OPERATORS)
    assert len(cells) == 300
    assert len({c.cell_id for c in cells}) == 300


def test_expand_appends_every_canonical_block_to_every_parent():
    ops = list(PAPER_OPERATORS)
    parents = space.encode(space.one_block_cells(ops)[:3], ops)
    children = space.expand(parents, len(ops))
    assert children.shape == (3 * 666, 2, 4)
    assert np.array_equal(children[:666, 0], np.repeat(parents[0], 666, axis=0))
    assert np.array_equal(children[666:1332, 1], space.block_choices(2, 12))
    decoded = space.decode(children[:666], ops)
    assert all(c.blocks[0] == decoded[0].blocks[0] for c in decoded)
    assert len({c.blocks[1] for c in decoded}) == 666


def test_expansion_at_paper_scale_is_vectorised():
    ops = list(PAPER_OPERATORS)
    rng = np.random.default_rng(0)
    parents = space.expand(space.encode(space.one_block_cells(ops)[:1], ops), 12)
    for _ in range(2):
        parents = space.expand(parents[rng.choice(len(parents), 128, replace=False)], 12)
    children = space.expand(parents[:128], 12)
    assert children.shape == (128 * 2628, 5, 4)
    assert children[:, 4, [0, 2]].max() == 3 and children[:, 4, [0, 2]].min() == -2


def test_encode_decode_round_trip_and_unknown_operator():
    ops = ["3x3 conv", "identity"]
    cells = [cell((-1, "3x3 conv", -2, "identity"), (0, "identity", 0, "3x3 conv"))]
    assert space.decode(space.encode(cells, ops), ops) == cells
    with pytest.raises(CellError, match="5x5 conv"):
        space.encode([cell((-1, "5x5 conv", -1, "identity"))], ops)


def test_unused_blocks_and_lookbacks():
    c = cell((-2, "identity", -2, "3x3 conv"), (0, "identity", -2, "1x1 conv"), (-2, "identity", -2, "1x1 conv"))
    assert c.unused_blocks == (1, 2)
    assert c.uses_lookback == {-2: True, -1: False}


def test_vectorised_canonical_form_agrees_with_single_cells():
    ops = list(PAPER_OPERATORS)
    rng = np.random.default_rng(5)
    parents = space.encode(space.one_block_cells(ops), ops)[rng.choice(300, 20, replace=False)]
    children = space.expand(space.expand(parents, 12)[rng.choice(20 * 666, 30, replace=False)], 12)
    canonical, hashes = space.canonicalize(children, ops)
    ids, texts = space.canonical_ids(canonical, ops)
    sample = rng.choice(len(children), 300, replace=False)
    for i, c in zip(sample, space.decode(children[sample], ops), strict=True):
        assert ids[i] == c.cell_id
        assert texts[i] == space.canonical_cell(c).to_json()
    # hashes group exactly the equivalent cells
    by_hash, by_id = {}, {}
    for h, i in zip(hashes.tolist(), ids, strict=True):
        by_hash.setdefault(h, set()).add(i)
        by_id.setdefault(i, set()).add(h)
    assert all(len(v) == 1 for v in by_hash.values()) and all(len(v) == 1 for v in by_id.values())
    assert len(by_id) < len(children)  # expansions of different parents do coincide


def test_canonical_form_does_not_depend_on_the_operator_order():
    c = cell((-1, "3x3 conv", -1, "identity"), (0, "identity", -2, "3x3 conv"))
    forward, _ = space.canonicalize(space.encode([c], ["3x3 conv", "identity"]), ["3x3 conv", "identity"])
    backward, _ = space.canonicalize(space.encode([c], ["identity", "3x3 conv"]), ["identity", "3x3 conv"])
    assert space.decode(forward, ["3x3 conv", "identity"]) == space.decode(backward, ["identity", "3x3 conv"])


def test_cell_ids_of_many_cells_at_once_are_their_cell_ids():
    operators = ["3x3 conv", "identity", "2x2 maxpool", "1x3-3x1 conv"]
    level = space.one_block_cells(operators)
    cells = [space.Cell()] + level + space.decode(space.expand(space.encode(level[:3], operators), 4)[::7], operators)
    assert space.cell_ids(cells) == [cell.cell_id for cell in cells]
    assert space.cell_ids([]) == []
