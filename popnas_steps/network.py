"""The one walk through a cell's network (paper 3.1, with the authors' choices where it is
silent), free of TensorFlow, with one backend per thing it is walked for: Keras layers
(model.KerasLayers), ONNX nodes (onnx_network.OnnxLayers), work counts (work.WorkLayers)
and feature-map sizes (ShapeLayers, below). Each operator is built from the backend's
primitives by its kind's entry (operators.OPERATOR_KINDS).

The network is M motifs of N normal cells, a reduction cell ending every motif but the
last: M*(N+1)-1 cells. Filters start at `filters` and double at each reduction. There is
no stem: the first cell reads the image as both -1 and -2. In a reduction cell only the
operators reading a lookback get stride 2 (block outputs are already reduced). When the
-2 input of a cell comes from before a reduction, a 1x1 conv with stride 2 matches it.

Each operator is op -> BatchNorm -> swish; a block is the Add of its two operators; the
cell output is the concatenation of its unused blocks reduced by a 1x1 conv to `filters`
(or the one unused block itself). Cells whose output nothing reads (e.g. every other cell
when a cell uses only -2) are never built. Head: GAP -> optional dropout -> Dense softmax.
The empty cell (initial thrust) is GAP -> Dense softmax on the image.

Convolutions and pools use "same" padding, so a stride-2 operator turns an HxW map into
ceil(H/2)xceil(W/2). `kernel_warnings` uses that to find kernels larger than the maps they
meet (e.g. a 7x7 conv on the 2x2 maps after three reductions of an 8x8 image): they still
build and train, but most of such a kernel only ever covers padding.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from popnas_steps.macro import NetworkSpec, resolutions
from popnas_steps.operators import Operator, build_operator, parse_operator
from popnas_steps.space import Cell


class Layers(Protocol):
    """What a network is built of; one implementation per backend (Keras, ONNX, work
    counts, map sizes), so that the walk through the cells below exists once."""

    def conv_bn_swish(self, x, filters: int, kernel, strides: int, name: str, separable: bool = False): ...
    def pool(self, x, kind: str, kernel: tuple[int, int], strides: int, name: str): ...
    def add(self, branches: list, name: str): ...
    def concat(self, branches: list, name: str): ...
    def channels(self, x) -> int: ...


class NetworkBuilder:
    """Walks one network's cells, building each with `layers` the first time it is read: the
    one walk through a cell, whatever the backend (Keras, ONNX, work counts, map sizes)."""

    def __init__(self, cell: Cell, spec: NetworkSpec, layers: Layers):
        self.cell = cell
        self.spec = spec
        self.layers = layers
        self.outputs: dict[int, object] = {}

    def cell_output(self, index: int, image):
        """Output of cell `index`, building it (and what it reads) on first use."""
        if index < 0:
            return image
        if index in self.outputs:
            return self.outputs[index]
        spec, reduction = self.spec, self.spec.is_reduction(index)
        filters = spec.filters_of(index)
        strides = 2 if reduction else 1
        lookbacks = {}
        uses = self.cell.uses_lookback
        if uses[-1]:
            lookbacks[-1] = self.cell_output(index - 1, image)
        if uses[-2]:
            x = self.cell_output(index - 2, image)
            if spec.reductions_through(index - 2) < spec.reductions_through(index - 1):
                # The cell before this one halved the resolution; bring -2 down to match.
                x = self.layers.conv_bn_swish(x, filters, 1, 2, f"cell{index}_skip_fix")
            lookbacks[-2] = x
        blocks = []
        for b, block in enumerate(self.cell.blocks):
            branches = []
            for side, (inp, op_name) in enumerate(block.pairs):
                name = f"cell{index}_block{b}_op{side}"
                source = lookbacks[inp] if inp < 0 else blocks[inp]
                stride = strides if inp < 0 else 1
                branches.append(build_operator(self.layers, source, parse_operator(op_name), filters, stride, name))
            blocks.append(self.layers.add(branches, f"cell{index}_block{b}_add"))
        unused = [blocks[b] for b in self.cell.unused_blocks]
        if len(unused) == 1:
            out = unused[0]
        else:
            out = self.layers.concat(unused, f"cell{index}_concat")
            out = self.layers.conv_bn_swish(out, filters, 1, 1, f"cell{index}_out")
        self.outputs[index] = out
        return out

    def network_output(self, image):
        """The last cell's output (the image itself for the empty cell), before the head."""
        return self.cell_output(self.spec.total_cells - 1, image) if self.cell.blocks else image


# --- kernels larger than their feature maps -----------------------------------------------


def kernel_warnings(
    cell_or_operators: Cell | Iterable[str], input_shape: Sequence[int], spec: NetworkSpec
) -> list[str]:
    """One warning per operator whose kernel is larger than a feature map it meets.

    Given a Cell: the maps its operators meet in the network of `spec` built for images of
    `input_shape` ((H, W, C) or (H, W)). Given operator strings (a search space, e.g.
    ["3x3 conv", "99x99 conv", "identity"]): the maps an operator can meet in some cell,
    i.e. every resolution from the input's down to the one after the last reduction.
    """
    if isinstance(cell_or_operators, Cell):
        met, verb = _sizes_in_cell(cell_or_operators, input_shape, spec), "meets"
    else:
        every = set(resolutions(input_shape, spec))
        met, verb = {parse_operator(name).name: every for name in cell_or_operators}, "can meet"
    height, width, reductions = input_shape[0], input_shape[1], spec.motifs - 1
    context = f"{height}x{width} images, {reductions} reduction cell{'' if reductions == 1 else 's'}"
    warnings = []
    for name, sizes in met.items():
        op = parse_operator(name)
        smaller = sorted((size for size in sizes if _larger(op.kernel, size)), reverse=True)
        if smaller:
            warnings.append(
                f"operator '{name}' has {_kernel_text(op)}, larger than the {_sizes_text(smaller)} feature maps "
                f"it {verb} ({context}); most of the kernel only covers padding there"
            )
    return warnings


def _sizes_in_cell(cell: Cell, input_shape: Sequence[int], spec: NetworkSpec) -> dict[str, set[tuple[int, int]]]:
    """The (H, W) each operator of `cell` meets, over the cells the network really builds:
    the maps its own windows (not its 1x1 projections) slide over, from the walk itself."""
    layers = ShapeLayers(cell)
    NetworkBuilder(cell, spec, layers).network_output(
        FeatureMap(input_shape[0], input_shape[1], _channels(input_shape))
    )
    return layers.met


def _channels(input_shape: Sequence[int]) -> int:
    return int(input_shape[2]) if len(input_shape) > 2 else 1


@dataclass(frozen=True)
class FeatureMap:
    """A feature map's size: what the shape and work backends walk instead of tensors."""

    height: int
    width: int
    channels: int

    @property
    def values(self) -> int:
        return self.height * self.width * self.channels

    def strided(self, stride: int, channels: int) -> FeatureMap:
        # "same" padding: a stride-2 layer turns H into ceil(H / 2)
        return FeatureMap(math.ceil(self.height / stride), math.ceil(self.width / stride), channels)


def as_kernel(kernel) -> tuple[int, int]:
    """A kernel as (height, width); the builders pass 1 for a 1x1 projection."""
    return (kernel, kernel) if isinstance(kernel, int) else (kernel[0], kernel[1])


class MapLayers:
    """The walk as feature-map sizes alone ("same" padding): the base of the backends that
    walk sizes instead of tensors, the map sizes below and the work counts (work.WorkLayers)."""

    def conv_bn_swish(self, x, filters, kernel, strides, name, separable=False):
        return x.strided(strides, filters)

    def pool(self, x, kind, kernel, strides, name):
        return x.strided(strides, x.channels)

    def add(self, branches, name):
        return branches[0]

    def concat(self, branches, name):
        return FeatureMap(branches[0].height, branches[0].width, sum(branch.channels for branch in branches))

    def channels(self, x) -> int:
        return x.channels


class ShapeLayers(MapLayers):
    """The walk as feature-map sizes: records, per operator of the cell, the (H, W) of the
    maps its windows slide over (its layers are named cell<i>_block<b>_op<side>...)."""

    _OPERATOR = re.compile(r"cell\d+_block(\d+)_op(\d)")

    def __init__(self, cell: Cell):
        self.cell = cell
        self.met: dict[str, set[tuple[int, int]]] = {}

    def _meets(self, x: FeatureMap, name: str) -> None:
        found = self._OPERATOR.match(name)
        if found and not name.endswith("_proj"):  # a projection is a 1x1 of the operator's, not its window
            _, operator = self.cell.blocks[int(found.group(1))].pairs[int(found.group(2))]
            self.met.setdefault(operator, set()).add((x.height, x.width))

    def conv_bn_swish(self, x, filters, kernel, strides, name, separable=False):
        self._meets(x, name)
        return super().conv_bn_swish(x, filters, kernel, strides, name, separable)

    def pool(self, x, kind, kernel, strides, name):
        self._meets(x, name)
        return super().pool(x, kind, kernel, strides, name)


def _larger(kernel: tuple[int, int], size: tuple[int, int]) -> bool:
    return kernel[0] > size[0] or kernel[1] > size[1]


def _kernel_text(op: Operator) -> str:
    height, width = op.kernel
    if op.kind == "stacked_conv":
        return f"1x{width} and {height}x1 kernels"
    return f"a {height}x{width} kernel"


def _sizes_text(sizes: list[tuple[int, int]]) -> str:
    names = [f"{height}x{width}" for height, width in sizes]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
