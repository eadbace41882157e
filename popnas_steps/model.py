"""From a cell to a Keras model: the Keras backend of the walk through the cell
(popnas_steps.network, whose docstring describes the network), and its head.

Head: GAP -> optional dropout -> Dense softmax; the empty cell (initial thrust) is GAP ->
Dense softmax on the image.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from popnas_steps.macro import NetworkSpec, built_cells
from popnas_steps.network import NetworkBuilder, kernel_warnings
from popnas_steps.space import Cell

# Keras is imported where layers are built: importing this module costs no TensorFlow start-up.
if TYPE_CHECKING:
    import keras

__all__ = ["KerasLayers", "NetworkSpec", "build_model", "built_cells"]

log = logging.getLogger("popnas.model")


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
