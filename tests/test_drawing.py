"""Cell drawings (paper Fig. 3) made without graphviz's binary."""

import shutil

import pandas as pd
import pydot
import pytest

from popnas_steps import report
from popnas_steps.cli import report as cli_report
from popnas_steps.drawing import cell_dot, cell_graph, cell_layout, draw_cell
from popnas_steps.space import Cell

PNG = b"\x89PNG\r\n\x1a\n"
TWO_UNUSED = Cell.from_json([[-1, "3x3 conv", -2, "identity"], [-2, "2x2 maxpool", -1, "1x7-7x1 conv"]])
CHAIN = Cell.from_json([[-1, "3x3 conv", -1, "identity"], [0, "2x2 maxpool", -1, "3x3 dconv"]])
THREE = Cell.from_json([
    [-2, "3x3 dconv", -1, "identity"], [0, "1x7-7x1 conv", -1, "2x2 maxpool"], [-2, "5x5 dconv", 0, "3x3 avgpool"],
])  # fmt: skip
FIVE = Cell.from_json([
    [-1, "3x3 dconv", -2, "identity"], [0, "1x7-7x1 conv", -1, "2x2 maxpool"], [-2, "5x5 dconv", 1, "3x3 avgpool"],
    [2, "7x7 dconv", -2, "1x3-3x1 conv"], [-1, "2x2 avgpool", 0, "3x3 maxpool"],
])  # fmt: skip
WIDE = Cell.from_json([[-1, "3x3 conv", -2, "identity"]] * 5)


@pytest.fixture
def no_graphviz(tmp_path, monkeypatch):
    """PATH is an empty folder: graphviz's `dot` is out of reach even where it is installed."""
    empty = tmp_path / "empty_path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_graph_of_two_blocks_both_unused():
    graph = cell_graph(TWO_UNUSED)
    assert list(graph.nodes) == ["in-2", "in-1", "op0_0", "op0_1", "add0", "op1_0", "op1_1", "add1", "out"]
    assert set(graph.edges) == {
        ("in-1", "op0_0"), ("in-2", "op0_1"), ("op0_0", "add0"), ("op0_1", "add0"),
        ("in-2", "op1_0"), ("in-1", "op1_1"), ("op1_0", "add1"), ("op1_1", "add1"),
        ("add0", "out"), ("add1", "out"),
    }  # fmt: skip
    kinds = dict(graph.nodes(data="kind"))
    assert kinds == {
        "in-2": "input", "in-1": "input", "out": "output", "add0": "add", "add1": "add",
        "op0_0": "operator", "op0_1": "operator", "op1_0": "operator", "op1_1": "operator",
    }  # fmt: skip
    labels = dict(graph.nodes(data="label"))
    assert labels["op0_0"] == "3x3 conv" and labels["op1_1"] == "1x7-7x1 conv"
    assert labels["add1"] == "+ (block 1)" and labels["out"] == "concat + 1x1 conv"
    assert labels["in-2"] == "-2 (cell before)" and labels["in-1"] == "-1 (previous cell)"


def test_graph_of_the_empty_cell():
    graph = cell_graph(Cell())
    assert list(graph.nodes) == ["in-2", "in-1", "out"]
    assert list(graph.edges) == [("in-1", "out")]
    assert graph.nodes["out"] == {"label": "empty cell: GAP + softmax on the image", "kind": "output"}


def test_a_single_unused_block_feeds_the_output_alone():
    graph = cell_graph(CHAIN)
    assert CHAIN.unused_blocks == (1,)
    assert list(graph.predecessors("out")) == ["add1"]
    assert graph.nodes["out"]["label"] == "output"
    assert set(graph.successors("add0")) == {"op1_0"}
    assert set(graph.successors("in-1")) == {"op0_0", "op0_1", "op1_1"}
    assert not list(graph.successors("in-2"))  # unused, yet drawn


@pytest.mark.parametrize("cell", [Cell(), CHAIN, TWO_UNUSED, THREE, FIVE, WIDE], ids=lambda c: f"b{len(c)}")
def test_layout_goes_downward_and_is_deterministic(cell):
    graph = cell_graph(cell)
    layout = cell_layout(graph)
    assert set(layout) == set(graph.nodes)
    for source, target in graph.edges:
        assert layout[source][1] > layout[target][1], (source, target)
    assert layout["in-2"][1] == layout["in-1"][1] == max(y for _, y in layout.values())
    assert layout["in-2"][0] < layout["in-1"][0]
    assert layout["out"][1] < min(y for node, (_, y) in layout.items() if node != "out")
    assert len(set(layout.values())) == len(layout)  # no two nodes on one spot
    assert cell_layout(cell_graph(cell)) == layout


@pytest.mark.filterwarnings("ignore:'setParseAction' deprecated")  # pydot's parser on a newer pyparsing
def test_draw_cell_writes_png_and_dot_without_graphviz(tmp_path, no_graphviz):
    assert shutil.which("dot") is None
    for name, cell in (("three", THREE), ("five", FIVE), ("empty", Cell())):
        out = tmp_path / "drawings" / f"{name}.png"
        draw_cell(cell, out)
        assert out.read_bytes()[:8] == PNG
        dot = out.with_suffix(".dot").read_text()
        assert dot == cell_dot(cell)
        (parsed,) = pydot.graph_from_dot_data(dot)
        graph = cell_graph(cell)
        assert {node.get_name().strip('"') for node in parsed.get_nodes()} == set(graph.nodes)
        edges = {(edge.get_source().strip('"'), edge.get_destination().strip('"')) for edge in parsed.get_edges()}
        assert edges == set(graph.edges)
    written = sorted(path.name for path in (tmp_path / "drawings").iterdir())  # no temporary file left behind
    assert written == [f"{name}.{suffix}" for name in ("empty", "five", "three") for suffix in ("dot", "png")]


def test_draw_command_without_graphviz(tmp_path, no_graphviz):
    assert shutil.which("dot") is None
    out = tmp_path / "cell.svg"
    assert cli_report.main(["draw", "--cell", THREE.to_json(), "--out", str(out)]) == 0
    assert b"<svg" in out.read_bytes()[:400]
    assert "op2_1" in (tmp_path / "cell.dot").read_text()


def test_plot_top_cells_without_graphviz(tmp_path, no_graphviz):
    assert shutil.which("dot") is None
    cells = [FIVE, THREE, Cell()]
    top = pd.DataFrame({
        "rank": [1, 2, 3], "cell_id": [cell.cell_id for cell in cells], "cell": [cell.to_json() for cell in cells],
        "b": [len(cell) for cell in cells], "origin": "pareto", "params": 100, "accuracy": [0.9, 0.8, 0.1],
        "time": [12.0, 8.0, 1.0],
    })  # fmt: skip
    report.plot_top_cells(top, tmp_path / "top_cells.png")
    assert (tmp_path / "top_cells.png").read_bytes()[:8] == PNG
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty_path", "top_cells.png"]
