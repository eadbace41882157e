"""A cell's network written directly as an ONNX graph, without TensorFlow (ours).

Latency depends on the architecture, not on the weights, so the search times each trained
cell's network in ONNX Runtime as built here: the same layers as model.build_model (the
walk through the cells is network.NetworkBuilder, shared), in inference form, with seeded
random weights. It costs milliseconds per network where exporting a Keras model costs
seconds plus TensorFlow's start, which is what lets every trained network be timed for a
few percent of a search (BENCHMARKS.md, "Latency of every trained network").

`weights` decides the values: `seeded_weights` for timing, `keras_weights(model)` to copy a
trained Keras model's (tests/test_onnx_network.py checks that the two graphs then predict
the same probabilities, i.e. that they are the same network).

Layout: the input is NHWC float32 images, as Keras', transposed once to ONNX's NCHW.
"same" padding is SAME_UPPER (TensorFlow's: the odd pixel of padding goes at the end);
average pooling leaves the padding out of its count, as TensorFlow does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from popnas_steps.macro import NetworkSpec
from popnas_steps.network import NetworkBuilder
from popnas_steps.space import Cell

OPSET = 17  # every op used here exists unchanged since; ONNX Runtime >= 1.18 runs it
IR_VERSION = 8
BATCHNORM_EPSILON = 1e-3  # Keras' default

# (Keras layer name, the shapes of its weights in Keras' layout) -> those weights
Weights = Callable[[str, list[tuple[int, ...]]], list[np.ndarray]]


def seeded_weights(seed: int) -> Weights:
    """Random weights of a fixed seed; BatchNorm variances positive (any other value is timed the same)."""
    rng = np.random.default_rng(seed)

    def weights(layer: str, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        arrays = [rng.normal(0.0, 0.1, shape).astype(np.float32) for shape in shapes]
        if layer.endswith("_bn"):
            arrays[3] = np.abs(arrays[3]) + 1.0  # moving variance
        return arrays

    return weights


def keras_weights(model) -> Weights:
    """The weights of a built Keras model (model.build_model), found by layer name."""

    def weights(layer: str, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        arrays = [np.asarray(array, dtype=np.float32) for array in model.get_layer(layer).get_weights()]
        if [array.shape for array in arrays] != [tuple(shape) for shape in shapes]:
            raise ValueError(f"layer {layer}: Keras has weights {[a.shape for a in arrays]}, the graph wants {shapes}")
        return arrays

    return weights


@dataclass(frozen=True)
class _Value:
    name: str
    channels: int


class OnnxLayers:
    """network.Layers as ONNX nodes; collects the graph's nodes and initializers."""

    def __init__(self, weights: Weights):
        from onnx import helper

        self.helper = helper
        self.weights = weights
        self.nodes: list = []
        self.initializers: list = []

    def _node(self, op: str, inputs: list[str], name: str, **attributes) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [name], name=name, **attributes))
        return name

    def _constant(self, name: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    def _conv(self, x: str, kernel: np.ndarray, strides: int, name: str, group: int = 1) -> str:
        """`kernel` in ONNX's layout (out, in / group, kh, kw)."""
        weight = self._constant(f"{name}/W", kernel)
        shape = list(kernel.shape[2:])
        return self._node(
            "Conv",
            [x, weight],
            name,
            kernel_shape=shape,
            strides=[strides, strides],
            auto_pad="SAME_UPPER",
            group=group,
        )

    def conv_bn_swish(self, x, filters, kernel, strides, name, separable=False):
        kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
        depth = x.channels
        if separable:
            depthwise, pointwise = self.weights(f"{name}_conv", [(*kernel, depth, 1), (1, 1, depth, filters)])
            y = self._conv(x.name, depthwise.transpose(2, 3, 0, 1), strides, f"{name}_depthwise", group=depth)
            y = self._conv(y, pointwise.transpose(3, 2, 0, 1), 1, f"{name}_conv")
        else:
            (weight,) = self.weights(f"{name}_conv", [(*kernel, depth, filters)])
            y = self._conv(x.name, weight.transpose(3, 2, 0, 1), strides, f"{name}_conv")
        gamma, beta, mean, variance = self.weights(f"{name}_bn", [(filters,)] * 4)
        stats = [
            self._constant(f"{name}_bn/{key}", array)
            for key, array in zip("gbmv", (gamma, beta, mean, variance), strict=True)
        ]
        y = self._node("BatchNormalization", [y, *stats], f"{name}_bn", epsilon=BATCHNORM_EPSILON)
        gate = self._node("Sigmoid", [y], f"{name}_sigmoid")
        return _Value(self._node("Mul", [y, gate], f"{name}_swish"), filters)

    def pool(self, x, kind, kernel, strides, name):
        op = "MaxPool" if kind == "maxpool" else "AveragePool"
        attributes = {"kernel_shape": list(kernel), "strides": [strides, strides], "auto_pad": "SAME_UPPER"}
        return _Value(self._node(op, [x.name], f"{name}_pool", **attributes), x.channels)

    def add(self, branches, name):
        return _Value(self._node("Add", [branch.name for branch in branches], name), branches[0].channels)

    def concat(self, branches, name):
        channels = sum(branch.channels for branch in branches)
        return _Value(self._node("Concat", [branch.name for branch in branches], name, axis=1), channels)

    def channels(self, x) -> int:
        return x.channels


def onnx_network(
    cell: Cell, input_shape: tuple[int, int, int], num_classes: int, spec: NetworkSpec, weights: Weights
) -> bytes:
    """The serialized ONNX model of `cell`'s network: NHWC float32 images in, probabilities out."""
    from onnx import TensorProto, helper

    layers = OnnxLayers(weights)
    height, width, channels = (int(size) for size in input_shape)
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", height, width, channels])
    nchw = _Value(layers._node("Transpose", ["image"], "image_nchw", perm=[0, 3, 1, 2]), channels)
    x = NetworkBuilder(cell, spec, layers).network_output(nchw)
    pooled = layers._node("GlobalAveragePool", [x.name], "gap")
    flat = layers._node("Flatten", [pooled], "gap_flat", axis=1)
    kernel, bias = weights("softmax", [(x.channels, num_classes), (num_classes,)])
    logits = layers._node(
        "Gemm", [flat, layers._constant("softmax/W", kernel), layers._constant("softmax/b", bias)], "logits"
    )
    layers._node("Softmax", [logits], "probabilities", axis=1)
    probabilities = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", num_classes])
    graph = helper.make_graph(layers.nodes, "popnas", [image], [probabilities], layers.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="popnas")
    model.ir_version = IR_VERSION
    return model.SerializeToString()
