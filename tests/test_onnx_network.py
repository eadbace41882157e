"""The ONNX graph written from a cell is the network Keras builds: with Keras' weights copied
in, it predicts the same probabilities (every operator kind, macro structures, odd sizes)."""

import numpy as np
import pytest

from popnas_steps.macro import NetworkSpec
from popnas_steps.operators import PAPER_OPERATORS
from popnas_steps.space import Block, Cell

pytest.importorskip("onnxruntime", reason="the deploy extra is not installed: pip install 'popnas[deploy]'")


def random_cell(rng, operators, blocks) -> Cell:
    chosen = []
    for index in range(blocks):
        inputs = [-2, -1, *range(index)]
        sides = [(int(rng.choice(inputs)), str(rng.choice(operators))) for _ in range(2)]
        chosen.append(Block(*sides[0], *sides[1]))
    return Cell(tuple(chosen))


def test_the_onnx_graph_predicts_what_the_keras_model_predicts():
    import keras

    from popnas_steps.deploy import onnx_runner
    from popnas_steps.model import build_model
    from popnas_steps.onnx_network import keras_weights, onnx_network

    rng = np.random.default_rng(0)
    operators = [*PAPER_OPERATORS, "3x5 avgpool", "1x1-1x1 conv"]
    cells = [Cell(), *(random_cell(rng, operators, blocks) for blocks in (1, 2, 3, 3, 4, 5))]
    for number, cell in enumerate(cells):
        spec = NetworkSpec(motifs=int(rng.integers(1, 4)), normal_cells=int(rng.integers(0, 3)), filters=6)
        shape = (int(rng.integers(5, 12)), int(rng.integers(5, 12)), int(rng.integers(1, 4)))
        keras.utils.set_random_seed(number)
        model = build_model(cell, shape, 5, spec)
        for layer in model.layers:  # trained-looking statistics, so that BatchNorm is checked too
            if isinstance(layer, keras.layers.BatchNormalization):
                size = layer.gamma.shape[0]
                layer.set_weights([rng.normal(1, 0.2, size), rng.normal(0, 0.2, size),
                                   rng.normal(0, 0.2, size), rng.uniform(0.5, 2, size)])  # fmt: skip
        images = rng.random((3, *shape), dtype=np.float32)
        predict = onnx_runner(onnx_network(cell, shape, 5, spec, keras_weights(model)), 1)
        assert np.abs(predict(images) - model.predict_on_batch(images)).max() < 1e-5, (cell, spec, shape)


def test_seeded_weights_give_the_same_graph_every_time():
    from popnas_steps.onnx_network import onnx_network, seeded_weights

    cell = Cell.from_json('[[-2, "3x3 dconv", -1, "2x2 maxpool"], [0, "identity", -2, "3x3 conv"]]')
    spec = NetworkSpec(motifs=2, normal_cells=1, filters=8)
    first = onnx_network(cell, (8, 8, 1), 10, spec, seeded_weights(3))
    assert first == onnx_network(cell, (8, 8, 1), 10, spec, seeded_weights(3))
    assert first != onnx_network(cell, (8, 8, 1), 10, spec, seeded_weights(4))
