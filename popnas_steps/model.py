"""From a cell to a Keras model (paper 3.1, with the authors' choices where it is silent).

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

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from popnas_steps.macro import NetworkSpec, built_cells, resolutions
from popnas_steps.operators import Operator, parse_operator
from popnas_steps.space import Cell

# Keras is imported where layers are built: importing this module for kernel_warnings (a
# config check, say) then costs no TensorFlow start-up.
if TYPE_CHECKING:
    import keras

__all__ = ["KerasLayers", "NetworkBuilder", "NetworkSpec", "build_model", "built_cells", "kernel_warnings"]

log = logging.getLogger("popnas.model")


class Layers(Protocol):
    """What a network is built of; one implementation per backend (Keras here, ONNX in
    onnx_network.py), so that the walk through the cells below exists once."""

    def conv_bn_swish(self, x, filters: int, kernel, strides: int, name: str, separable: bool = False): ...
    def pool(self, x, kind: str, kernel: tuple[int, int], strides: int, name: str): ...
    def add(self, branches: list, name: str): ...
    def concat(self, branches: list, name: str): ...
    def channels(self, x) -> int: ...


KERAS_MOMENTUM = 0.99  # Keras' and the paper's


class KerasLayers:
    """Keras layers, named as cell/block/op (the names checkpoints and weights are found by)."""

    def __init__(self, batchnorm_momentum: float | None):
        # None: the moving statistics are recomputed before each validation
        # (train.BatchNormRecompute), so the momentum they are kept with in between is moot.
        self.batchnorm_momentum = KERAS_MOMENTUM if batchnorm_momentum is None else batchnorm_momentum

    def conv_bn_swish(self, x, filters, kernel, strides, name, separable=False):
        from keras import layers

        conv_class = layers.SeparableConv2D if separable else layers.Conv2D
        init = (
            {"depthwise_initializer": "he_uniform", "pointwise_initializer": "he_uniform"}
            if separable
            else {"kernel_initializer": "he_uniform"}
        )
        x = conv_class(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv", **init)(x)
        x = layers.BatchNormalization(momentum=self.batchnorm_momentum, name=f"{name}_bn")(x)
        return layers.Activation("swish", name=f"{name}_swish")(x)

    def pool(self, x, kind, kernel, strides, name):
        from keras import layers

        pool_class = layers.MaxPooling2D if kind == "maxpool" else layers.AveragePooling2D
        return pool_class(kernel, strides=strides, padding="same", name=f"{name}_pool")(x)

    def add(self, branches, name):
        from keras import layers

        return layers.Add(name=name)(branches)

    def concat(self, branches, name):
        from keras import layers

        return layers.Concatenate(name=name)(branches)

    def channels(self, x) -> int:
        return int(x.shape[-1])


class NetworkBuilder:
    """Walks one network's cells, building each with `layers` the first time it is read."""

    def __init__(self, cell: Cell, spec: NetworkSpec, layers: Layers):
        self.cell = cell
        self.spec = spec
        self.layers = layers
        self.outputs: dict[int, object] = {}

    def operator(self, x, op: Operator, filters: int, strides: int, name: str):
        layers = self.layers
        if op.kind in ("conv", "dconv"):
            return layers.conv_bn_swish(x, filters, op.kernel, strides, name, separable=op.kind == "dconv")
        if op.kind == "stacked_conv":
            size = op.kernel[0]
            # Named by their kernels; "1x1-1x1 conv"'s two halves would share one name, which
            # Keras refuses, so its second half is _1x1b. Other sizes keep their names as they were.
            second = f"{name}_{size}x1" if size > 1 else f"{name}_1x1b"
            x = layers.conv_bn_swish(x, filters, (1, size), strides, f"{name}_1x{size}")
            return layers.conv_bn_swish(x, filters, (size, 1), 1, second)
        if op.kind in ("maxpool", "avgpool"):
            depth = layers.channels(x)
            x = layers.pool(x, op.kind, op.kernel, strides, name)
            return x if depth == filters else layers.conv_bn_swish(x, filters, 1, 1, f"{name}_proj")
        if op.kind == "identity":
            if layers.channels(x) == filters and strides == 1:
                return x
            return layers.conv_bn_swish(x, filters, 1, strides, f"{name}_proj")
        raise ValueError(f"operator kind {op.kind!r} has no layer")

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
                branches.append(self.operator(source, parse_operator(op_name), filters, stride, name))
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


def build_model(cell: Cell, input_shape: tuple[int, int, int], num_classes: int, spec: NetworkSpec) -> keras.Model:
    """The network of `cell` for images of `input_shape` and `num_classes` classes."""
    import keras
    from keras import layers

    for warning in kernel_warnings(cell, input_shape, spec):
        log.warning(warning)
    image = keras.Input(shape=tuple(input_shape), name="image")
    x = NetworkBuilder(cell, spec, KerasLayers(spec.batchnorm_momentum)).network_output(image)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if spec.dropout > 0:
        x = layers.Dropout(spec.dropout, name="dropout")(x)
    # float32 even under a mixed-precision policy: a float16 softmax loses small probabilities.
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="softmax")(x)
    name = f"popnas_{cell.cell_id}" if cell.blocks else "popnas_empty"
    return keras.Model(image, outputs, name=name)


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
    """The (H, W) each operator of `cell` meets, over the cells the network really builds."""
    maps = resolutions(input_shape, spec)
    met: dict[str, set[tuple[int, int]]] = {}
    for index in built_cells(cell, spec):
        # Lookbacks arrive at the resolution before this cell (-2 is matched to -1), block
        # outputs at the resolution after it: they differ only in a reduction cell.
        before = maps[spec.reductions_through(index - 1)]
        after = maps[spec.reductions_through(index)]
        for block in cell.blocks:
            for inp, name in block.pairs:
                sizes = met.setdefault(name, set())
                sizes.add(before if inp < 0 else after)
                if parse_operator(name).kind == "stacked_conv":
                    sizes.add(after)  # its Nx1 half runs on the (possibly strided) 1xN output
    return met


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
