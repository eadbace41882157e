import numpy as np
import pytest

from popnas_steps.macro import NetworkSpec
from popnas_steps.operators import PAPER_OPERATORS
from popnas_steps.space import Cell, by_size, decode
from popnas_steps.work import WORK_NAMES, DataShape, WorkCounter, unused_block_counts

from .synthetic import sample_cells


def keras_work(model) -> np.ndarray:
    """The five counts read off a built Keras model, layer by layer (what work.py must match)."""
    counts = dict.fromkeys(WORK_NAMES, 0)
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        out_shape = layer.output.shape
        in_shape = None if kind in ("Add", "Concatenate") else layer.input.shape  # those take lists
        counts["layers"] += 1
        counts["values"] += int(np.prod(out_shape[1:]))
        if kind == "Conv2D":
            counts["conv_madds"] += int(np.prod(out_shape[1:])) * int(np.prod(layer.kernel_size)) * in_shape[-1]
        elif kind == "SeparableConv2D":
            pixels = out_shape[1] * out_shape[2]
            counts["separable_madds"] += pixels * in_shape[-1] * (int(np.prod(layer.kernel_size)) + out_shape[-1])
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            counts["pool_reads"] += int(np.prod(out_shape[1:])) * int(np.prod(layer.pool_size))
        elif kind == "Dense":
            counts["conv_madds"] += in_shape[-1] * out_shape[-1]
    return np.array([counts[name] for name in WORK_NAMES], dtype=float)


def sampled_cells(operators, blocks: int, count: int, seed: int) -> list[Cell]:
    """`count` random cells of `blocks` blocks (the synthetic evaluator's sampling)."""
    return decode(sample_cells(np.random.default_rng(seed), operators, count, blocks)[-1], operators)


@pytest.mark.parametrize(
    ("spec", "data"),
    [
        (NetworkSpec(motifs=3, normal_cells=2, filters=8), DataShape((32, 32, 1), 10)),
        (NetworkSpec(motifs=2, normal_cells=1, filters=16, dropout=0.2), DataShape((8, 8, 1), 10)),
        (NetworkSpec(motifs=3, normal_cells=0, filters=4), DataShape((7, 9, 3), 5)),  # odd sizes, reductions only
    ],
)
def test_counts_match_the_built_keras_model(spec, data):
    from popnas_steps.model import build_model

    operators = list(PAPER_OPERATORS)
    cells = [Cell(())] + sampled_cells(operators, 1, 6, 0) + sampled_cells(operators, 2, 6, 1)
    cells += sampled_cells(operators, 3, 6, 2)
    counter = WorkCounter(operators, spec, data)
    counted, params = by_size(cells, operators, lambda encoded: (counter.count(encoded), counter.params(encoded)))
    for cell, row, count in zip(cells, counted, params, strict=True):
        model = build_model(cell, data.input_shape, data.num_classes, spec)
        assert row == pytest.approx(keras_work(model), rel=1e-12), cell.to_json()
        assert count == model.count_params(), cell.to_json()  # exact: trainable and BatchNorm statistics


def walked_work(cell: Cell, spec: NetworkSpec, data: DataShape) -> np.ndarray:
    """The counts of one network from the whole walk through its cells, with the work backend."""
    from popnas_steps.network import FeatureMap, NetworkBuilder
    from popnas_steps.work import WorkLayers, head_work

    layers = WorkLayers()
    out = NetworkBuilder(cell, spec, layers).network_output(FeatureMap(*data.input_shape))
    return layers.total + head_work(out.channels, spec, data)


def test_the_tables_count_what_the_walk_counts_over_many_cells_and_macro_structures():
    # The Keras test above proves the walk's primitives; this proves the tables that score
    # hundreds of thousands of candidates at once add up to the walk, cell by cell, without
    # building a model (150 cells, 5 macro structures and data shapes).
    operators = list(PAPER_OPERATORS)
    rng = np.random.default_rng(7)
    for trial in range(5):
        motifs = int(rng.integers(1, 4))
        normal_cells = int(rng.integers(0 if motifs > 1 else 1, 3))  # at least one cell
        spec = NetworkSpec(motifs, normal_cells, int(rng.integers(2, 12)), dropout=float(rng.choice([0.0, 0.3])))
        data = DataShape((int(rng.integers(5, 20)), int(rng.integers(5, 20)), int(rng.integers(1, 4))), 7)
        counter = WorkCounter(operators, spec, data)
        cells = [Cell(())] + [
            cell for blocks in (1, 2, 3, 4, 5) for cell in sampled_cells(operators, blocks, 6, 10 * trial + blocks)
        ]
        counted, params = by_size(
            cells, operators, lambda encoded, counter=counter: (counter.count(encoded), counter.params(encoded))
        )
        for cell, row, count in zip(cells, counted, params, strict=True):
            walked = walked_work(cell, spec, data)
            assert row == pytest.approx(walked[: len(WORK_NAMES)], rel=1e-12), (spec, data, cell.to_json())
            assert count == round(walked[-1]), (spec, data, cell.to_json())


def test_equivalent_forms_count_the_same():
    operators = ["3x3 conv", "identity", "2x2 maxpool"]
    counter = WorkCounter(operators, NetworkSpec(), DataShape((8, 8, 1), 10))
    forms = [
        [[-1, "3x3 conv", -2, "identity"], [-1, "2x2 maxpool", 0, "3x3 conv"]],
        [[-2, "identity", -1, "3x3 conv"], [0, "3x3 conv", -1, "2x2 maxpool"]],
    ]
    cells = [Cell.from_json(form) for form in forms]
    (counted,) = by_size(cells, operators, lambda encoded: (counter.count(encoded),), canonical=False)
    assert counted[0] == pytest.approx(counted[1])


def test_a_second_unused_block_adds_the_concat_and_projection():
    operators = ["identity", "1x1 conv"]
    counter = WorkCounter(operators, NetworkSpec(), DataShape((8, 8, 1), 10))
    chained = Cell.from_json([[-1, "1x1 conv", -1, "1x1 conv"], [0, "1x1 conv", 0, "1x1 conv"]])
    side_by_side = Cell.from_json([[-1, "1x1 conv", -1, "1x1 conv"], [-1, "1x1 conv", -1, "1x1 conv"]])
    (counts,) = by_size([chained, side_by_side], operators, lambda encoded: (counter.count(encoded),))
    layers = WORK_NAMES.index("layers")
    # the same layers (conv, BN, swish per op, an Add per block) but for concat + conv + BN + swish
    # in each of the 8 cells (both read -1 alone, so every cell is built)
    assert counts[1][layers] - counts[0][layers] == 4 * NetworkSpec().total_cells


def test_unused_block_counts():
    encoded = np.array([[[-1, 0, -1, 0], [0, 0, -2, 0], [-1, 0, -1, 0]]])
    assert unused_block_counts(encoded).tolist() == [2]
    assert unused_block_counts(np.zeros((3, 0, 4), dtype=int)).tolist() == [0, 0, 0]


def test_data_shape_from_metadata():
    assert DataShape.from_metadata({"input_shape": [32, 32, 3], "num_classes": 100}) == DataShape((32, 32, 3), 100)


def test_a_data_shape_is_read_from_metadata_json_and_a_bad_file_is_named(tmp_path):
    good = tmp_path / "metadata.json"
    good.write_text('{"input_shape": [32, 32, 3], "num_classes": 100, "source": "cifar100"}')
    assert DataShape.read(good) == DataShape((32, 32, 3), 100)
    for text in ("{not json", '{"input_shape": [32, 32, 3]}', '{"input_shape": [32, 32], "num_classes": 10}',
                 '{"input_shape": [32, 0, 3], "num_classes": 10}'):  # fmt: skip
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(ValueError, match="bad.json"):
            DataShape.read(bad)
    with pytest.raises(ValueError, match="missing.json"):
        DataShape.read(tmp_path / "missing.json")


def test_the_params_of_no_cells_are_an_empty_array():
    # a step left empty by the budget or a cap scores no candidate: its front must still be cut
    from popnas_steps.work import params_of_cells

    params = params_of_cells([], ["3x3 conv", "identity"], NetworkSpec(motifs=1, normal_cells=1, filters=4),
                             DataShape((8, 8, 1), 10))  # fmt: skip
    assert params.dtype == np.int64 and params.shape == (0,)
