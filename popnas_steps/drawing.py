"""A cell drawn as a DAG (paper Fig. 3): lookback inputs, operators, adds and the output.

The drawing is laid out and rendered in Python (networkx + matplotlib's Agg canvas), so a
machine with only pip can draw cells; graphviz is optional: the DOT text is written beside
every drawing for whoever wants graphviz's rendering.

python -m popnas_steps.cli.report draw --cell JSON --out cell.png   (writes cell.dot too)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx

from popnas_steps.files import write_with
from popnas_steps.space import Cell

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# Per kind: matplotlib box style, fill colour, and the graphviz attributes of the DOT text.
_STYLES = {
    "input": ("square,pad=0.3", "lightblue", {"shape": "box", "style": "filled", "fillcolor": "lightblue"}),
    "operator": ("round,pad=0.3", "white", {"shape": "box", "style": "rounded"}),
    "add": ("round,pad=0.3,rounding_size=0.7", "lightyellow",
            {"shape": "circle", "style": "filled", "fillcolor": "lightyellow"}),
    "output": ("square,pad=0.3", "lightgreen", {"shape": "box", "style": "filled", "fillcolor": "lightgreen"}),
}  # fmt: skip

# Layout units: x in ems of the label font, one layer per unit of y. The estimates are for
# DejaVu Sans, matplotlib's default; a little generous so that neighbours never touch.
_CHAR_EM = 0.62  # mean advance of a character
_LINE_EM = 1.2  # line height
_PAD_EM = 0.3  # box padding on each side, as in the box styles above
_GAP_EM = 1.0  # free space between neighbouring boxes
_DUMMY_EM = 1.0  # the slot of an edge crossing a layer
_LAYER_EM = 4.4  # vertical room per layer: a two-line box and its arrows
_SLOPE = 0.45  # the least drop of an edge per em sideways


def _source(inp: int) -> str:
    return f"in{inp}" if inp < 0 else f"add{inp}"


def cell_graph(cell: Cell) -> nx.DiGraph:
    """The cell as a DAG whose nodes carry `label` and `kind`, the one structure that both
    the matplotlib drawing and the DOT text are made from, so they cannot disagree."""
    graph = nx.DiGraph()
    # Both lookbacks always appear, so the reader sees which one the cell leaves unused.
    graph.add_node("in-2", label="-2 (cell before)", kind="input")
    graph.add_node("in-1", label="-1 (previous cell)", kind="input")
    for b, block in enumerate(cell.blocks):
        for side, (_, op) in enumerate(block.pairs):
            graph.add_node(f"op{b}_{side}", label=op, kind="operator")
        graph.add_node(f"add{b}", label=f"+ (block {b})", kind="add")
        for side, (inp, _) in enumerate(block.pairs):
            graph.add_edge(_source(inp), f"op{b}_{side}")
            graph.add_edge(f"op{b}_{side}", f"add{b}")
    if not cell.blocks:
        label = "empty cell: GAP + softmax on the image"
    else:
        label = "concat + 1x1 conv" if len(cell.unused_blocks) > 1 else "output"
    graph.add_node("out", label=label, kind="output")
    for b in cell.unused_blocks:
        graph.add_edge(f"add{b}", "out")
    if not cell.blocks:
        graph.add_edge("in-1", "out")
    return graph


def cell_dot(cell: Cell) -> str:
    """The DOT text of the drawing, styled as graphviz drew it before: `dot -Tpng` renders it
    where graphviz is installed; making the text needs no binary."""
    import pydot

    graph = cell_graph(cell)
    dot = pydot.Dot(graph_type="digraph", rankdir="TB", bgcolor="white")
    for name, data in graph.nodes(data=True):
        dot.add_node(pydot.Node(name, label=data["label"], kind=data["kind"], **_STYLES[data["kind"]][2]))
    for source, target in graph.edges:
        dot.add_edge(pydot.Edge(source, target))
    return dot.to_string()


# --- layout ----------------------------------------------------------------------------------


def _display(data: dict) -> str:
    """The label as drawn: operators on two lines, so that wide layers stay legible."""
    label = data["label"]
    if data["kind"] == "operator" and " " in label:
        kernel, _, kind = label.rpartition(" ")
        return f"{kernel}\n{kind}"
    if data["kind"] == "output" and len(label) > 20:
        head, _, tail = label.partition(": ")
        return f"{head}:\n{tail}" if tail else label
    return label


def _width_em(text: str) -> float:
    return max(len(line) for line in text.split("\n")) * _CHAR_EM + 2 * _PAD_EM


@dataclass(frozen=True)
class _Layout:
    positions: dict[str, tuple[float, float]]  # real nodes and edge bends
    routes: dict[tuple[str, str], list[str]]  # per edge: source, its bends, target
    width: float  # of the widest layer, gaps included, in ems
    height: float  # from half a layer above the top one to half a layer below the bottom one


def _layered(graph: nx.DiGraph) -> _Layout:
    """A Sugiyama-style layering: longest-path layers, a bend per layer an edge crosses,
    then barycentre sweeps to limit crossings. Deterministic: ties keep insertion order."""
    layer: dict[str, int] = {}
    for node in nx.topological_sort(graph):
        layer[node] = max((layer[p] + 1 for p in graph.predecessors(node)), default=0)
    bottom = max((layer[n] for n, kind in graph.nodes(data="kind") if kind != "output"), default=0) + 1
    for node, kind in graph.nodes(data="kind"):
        if kind == "output":
            layer[node] = bottom
    rows: list[list[str]] = [[] for _ in range(bottom + 1)]
    width = {node: _width_em(_display(data)) + _GAP_EM for node, data in graph.nodes(data=True)}
    for node in graph:
        rows[layer[node]].append(node)
    above: dict[str, list[str]] = {node: [] for node in graph}
    below: dict[str, list[str]] = {node: [] for node in graph}
    routes = {}
    for source, target in graph.edges:
        route = [source]
        for depth in range(layer[source] + 1, layer[target]):
            bend = f"{source}>{target}@{depth}"
            layer[bend] = depth
            rows[depth].append(bend)
            width[bend] = _DUMMY_EM
            above[bend], below[bend] = [], []
            route.append(bend)
        route.append(target)
        for upper, lower in zip(route, route[1:], strict=False):
            below[upper].append(lower)
            above[lower].append(upper)
        routes[(source, target)] = route

    x: dict[str, float] = {}

    def spread(row: list[str]) -> None:
        left = -sum(width[node] for node in row) / 2
        for node in row:
            x[node] = left + width[node] / 2
            left += width[node]

    def sweep(indices: range, neighbours: dict[str, list[str]]) -> None:
        for index in indices:
            row = rows[index]
            keys = {}
            for position, node in enumerate(row):
                near = neighbours[node]
                keys[node] = (sum(x[n] for n in near) / len(near) if near else x[node], position)
            row.sort(key=keys.__getitem__)
            spread(row)

    def crossings() -> int:
        count = 0
        for row in rows[:-1]:
            edges = [(x[upper], x[lower]) for upper in row for lower in below[upper]]
            count += sum((a[0] - b[0]) * (a[1] - b[1]) < 0 for i, a in enumerate(edges) for b in edges[i + 1 :])
        return count

    for row in rows:
        spread(row)
    # Down and up sweeps, keeping the best order seen; the lookbacks stay put (in-2 left of
    # in-1) and everything else follows them.
    best = (crossings(), [list(row) for row in rows])
    for direction in range(8):
        if direction % 2:
            sweep(range(len(rows) - 2, 0, -1), below)
        else:
            sweep(range(1, len(rows)), above)
        count = crossings()
        if count < best[0]:
            best = (count, [list(row) for row in rows])
    rows = best[1]
    for row in rows:
        spread(row)
    # A layer is _LAYER_EM below the one above, or more where an edge between them reaches
    # far sideways: steep enough to pass under the boxes beside the one it leaves.
    level = [0.0]
    for row in rows[:-1]:
        reach = max((abs(x[upper] - x[lower]) for upper in row for lower in below[upper]), default=0.0)
        level.append(level[-1] - max(1.0, _SLOPE * reach / _LAYER_EM))
    positions = {node: (x[node], level[layer[node]]) for node in x}
    total = max(sum(width[node] for node in row) for row in rows)
    return _Layout(positions, routes, total, 1.0 - level[-1])


def cell_layout(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Node positions with no graphviz: inputs on top (y = 0), then one layer per step of the
    longest path from an input, the output at the bottom; y falls by 1 or more per layer (more
    where edges reach far sideways), x is in ems of the label font."""
    positions = _layered(graph).positions
    return {node: positions[node] for node in graph}


# --- rendering ---------------------------------------------------------------------------------


def _box_placer(texts: list):
    """Edges are drawn under the boxes, so that an edge passing a box never hides its label,
    yet they are clipped to the boxes, which matplotlib places only when it draws their text:
    this artist, drawn just before the edges, places them first."""
    from matplotlib.artist import Artist

    class BoxPlacer(Artist):
        zorder = 1.5  # after the long edges' curves (1), before the arrows (2) and boxes (3)

        def draw(self, renderer) -> None:
            for text in texts:
                text.update_bbox_position_size(renderer)

    return BoxPlacer()


def draw_cell_on(ax: Axes, cell: Cell, fontsize: float | None = None) -> None:
    """Draws the cell onto `ax`, the font sized to the axes unless given, so that a subplot
    of a few inches still fits five blocks."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as Curve

    graph = cell_graph(cell)
    layout = _layered(graph)
    extent = ax.get_window_extent()  # pixels; needs no renderer
    width_pt, height_pt = extent.width * 72 / ax.figure.dpi, extent.height * 72 / ax.figure.dpi
    if fontsize is None:
        fontsize = min(10.0, width_pt / layout.width, height_pt / (layout.height * _LAYER_EM))
    ax.set_xlim(-layout.width / 2, layout.width / 2)
    ax.set_ylim(0.5 - layout.height, 0.5)
    ax.set_axis_off()
    texts, boxes = [], {}
    for node, data in graph.nodes(data=True):
        style, colour, _ = _STYLES[data["kind"]]
        text = ax.text(
            *layout.positions[node],
            _display(data),
            ha="center",
            va="center",
            multialignment="center",
            fontsize=fontsize,
            zorder=3,
            bbox={"boxstyle": style, "facecolor": colour, "edgecolor": "0.2", "linewidth": 0.8},
        )
        texts.append(text)
        boxes[node] = text.get_bbox_patch()
    ax.add_artist(_box_placer(texts))
    colour, linewidth = "0.3", 0.8
    layers_per_em = fontsize * layout.height / height_pt
    # Half the height of a two-line box, in layers: a long edge runs vertically through the
    # layers it crosses, so it never cuts a box beside its bend.
    half = min(0.35, 0.5 * (2 * _LINE_EM + 2 * _PAD_EM + 0.2) * layers_per_em)
    for (source, target), route in layout.routes.items():
        start = layout.positions[source]
        if len(route) > 2:
            lines = _display(graph.nodes[source]).count("\n") + 1
            start = (start[0], start[1] - 0.5 * (lines * _LINE_EM + 2 * _PAD_EM) * layers_per_em)  # the box's bottom
            vertices, codes = [start], [Curve.MOVETO]
            for bend in route[1:-1]:
                x, y = layout.positions[bend]
                drop = (vertices[-1][1] - (y + half)) / 2
                vertices += [
                    (vertices[-1][0], vertices[-1][1] - drop),
                    (x, y + half + drop),
                    (x, y + half),
                    (x, y - half),
                ]
                codes += [Curve.CURVE4, Curve.CURVE4, Curve.CURVE4, Curve.LINETO]
            ax.add_patch(
                PathPatch(Curve(vertices, codes), facecolor="none", edgecolor=colour, linewidth=linewidth, zorder=1)
            )
            start = vertices[-1]
        ax.annotate(
            "",
            xy=layout.positions[target],
            xytext=start,
            arrowprops={
                "arrowstyle": "-|>",
                "color": colour,
                "linewidth": linewidth,
                "mutation_scale": max(fontsize, 6.0),
                "patchA": boxes[source] if len(route) == 2 else None,
                "patchB": boxes[target],
                "shrinkA": 0,
                "shrinkB": 1,
            },
            zorder=2,
            annotation_clip=False,
        )


def draw_cell(cell: Cell, out: str | Path) -> None:
    """Writes the drawing (format by suffix, PNG if none) and `out.with_suffix(".dot")`.

    Only matplotlib's Agg canvas is used, never pyplot, so no display and no graphviz are
    needed, and a caller's pyplot state is left alone. Both files are written under temporary
    names and renamed, so a killed job leaves no half-written drawing."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(out)
    fmt = out.suffix.lstrip(".").lower() or "png"
    if fmt == "dot":
        raise ValueError(f"{out}: the drawing needs an image suffix (.png, .svg, .pdf); the .dot is written beside it")
    layout = _layered(cell_graph(cell))
    base_pt = 10.0  # font size of a standalone drawing
    inches = (layout.width * base_pt / 72 / 0.98, layout.height * _LAYER_EM * base_pt / 72 / 0.98)
    figure = Figure(figsize=(max(3.0, inches[0]), max(2.0, inches[1])))
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0.01, 0.01, 0.98, 0.98))
    draw_cell_on(ax, cell, fontsize=base_pt)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_with(out, lambda path: figure.savefig(path, format=fmt, dpi=150, facecolor="white"))
    write_with(out.with_suffix(".dot"), lambda path: path.write_text(cell_dot(cell)))
