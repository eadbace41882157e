import logging

import numpy as np
import pytest

from popnas_steps.model import NetworkSpec, build_model, built_cells
from popnas_steps.network import kernel_warnings
from popnas_steps.operators import PAPER_OPERATORS
from popnas_steps.space import Cell

SPEC = NetworkSpec(motifs=2, normal_cells=1, filters=4)  # cells: normal, reduction, normal


def cell(*blocks) -> Cell:
    return Cell.from_json([list(b) for b in blocks])


def add_shape(model, index, block=0):
    return tuple(model.get_layer(f"cell{index}_block{block}_add").output.shape[1:])


@pytest.mark.parametrize("op", PAPER_OPERATORS + ("1x7-7x1 conv", "1x1-1x1 conv", "3x3 maxpool", "7x7 dconv"))
def test_every_operator_builds_in_normal_and_reduction_cells(op):
    c = cell((-1, op, -2, op), (0, op, -1, "identity"))
    model = build_model(c, (8, 8, 3), 5, SPEC)
    assert add_shape(model, 0) == (8, 8, 4)
    assert add_shape(model, 1) == (4, 4, 8)  # reduction: half the size, twice the filters
    assert add_shape(model, 1, block=1) == (4, 4, 8)  # block input in a reduction: stride 1
    assert add_shape(model, 2) == (4, 4, 8)
    assert model.output.shape[1:] == (5,)
    prediction = model.predict(np.zeros((2, 8, 8, 3), np.float32), verbose=0)
    assert prediction.shape == (2, 5) and np.allclose(prediction.sum(axis=1), 1, atol=1e-5)


def test_a_stacked_1x1_conv_builds_and_its_work_is_counted():
    from popnas_steps.space import by_size
    from popnas_steps.work import DataShape, WorkCounter

    from .test_work import keras_work

    # both halves are 1x1: their layers need names of their own, or Keras refuses the network
    c = cell((-1, "1x1-1x1 conv", -2, "1x3-3x1 conv"))
    model = build_model(c, (8, 8, 3), 5, SPEC)
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    assert {"cell0_block0_op1_1x3_conv", "cell0_block0_op1_3x1_conv"} <= set(names)  # N > 1: names as before
    assert sum(name.startswith("cell0_block0_op0_") and name.endswith("_conv") for name in names) == 2
    operators = ["1x1-1x1 conv", "1x3-3x1 conv"]
    counter = WorkCounter(operators, SPEC, DataShape((8, 8, 3), 5))
    (counted,) = by_size([c], operators, lambda encoded: (counter.count(encoded),))
    assert counted[0] == pytest.approx(keras_work(model), rel=1e-12)


def test_paper_macro_structure_has_eight_cells_and_doubling_filters():
    spec = NetworkSpec(motifs=3, normal_cells=2, filters=24)
    assert spec.total_cells == 8
    assert [spec.is_reduction(i) for i in range(8)] == [False, False, True, False, False, True, False, False]
    model = build_model(cell((-1, "3x3 conv", -2, "identity")), (32, 32, 3), 10, spec)
    assert [add_shape(model, i)[2] for i in range(8)] == [24, 24, 48, 48, 48, 96, 96, 96]
    assert add_shape(model, 7)[:2] == (8, 8)
    # -2 of the cell right after each reduction is brought down by a stride-2 1x1 conv
    assert {layer.name for layer in model.layers if "skip_fix" in layer.name} >= {
        "cell3_skip_fix_conv",
        "cell6_skip_fix_conv",
    }


def test_cells_using_only_minus_two_skip_the_cells_nothing_reads():
    c = cell((-2, "3x3 conv", -2, "identity"))
    assert built_cells(c, NetworkSpec(3, 2)) == [1, 3, 5, 7]
    assert built_cells(c, SPEC) == [0, 2]
    model = build_model(c, (8, 8, 1), 3, SPEC)
    names = {layer.name for layer in model.layers}
    assert not any(name.startswith("cell1_") for name in names)
    assert "cell2_skip_fix_conv" in names
    assert add_shape(model, 2) == (4, 4, 8)
    assert built_cells(cell((-1, "identity", -1, "identity")), SPEC) == [0, 1, 2]
    assert built_cells(Cell(), SPEC) == []


def test_unused_blocks_are_concatenated_and_reduced():
    multi_level = cell(
        (-1, "3x3 conv", -2, "identity"), (0, "1x1 conv", -1, "2x2 maxpool"), (-2, "3x3 dconv", -2, "2x2 avgpool")
    )
    model = build_model(multi_level, (8, 8, 3), 4, SPEC)
    concat = model.get_layer("cell0_concat")
    assert tuple(concat.output.shape[1:]) == (8, 8, 8)  # blocks 1 and 2 are unused
    assert tuple(model.get_layer("cell0_out_conv").output.shape[1:]) == (8, 8, 4)
    single = build_model(cell((-1, "3x3 conv", -1, "identity"), (0, "identity", 0, "1x1 conv")), (8, 8, 3), 4, SPEC)
    assert not any("concat" in layer.name for layer in single.layers)


def test_empty_cell_is_gap_and_softmax():
    model = build_model(Cell(), (8, 8, 3), 7, SPEC)
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "GlobalAveragePooling2D", "Dense"]
    assert model.count_params() == 3 * 7 + 7


def test_dropout_is_optional():
    spec = NetworkSpec(motifs=1, normal_cells=1, filters=4, dropout=0.3)
    model = build_model(cell((-1, "identity", -1, "identity")), (8, 8, 3), 2, spec)
    assert model.get_layer("dropout").rate == 0.3


def test_kernel_warnings_for_the_operators_of_a_search():
    # 8x8 images and one reduction: operators can meet 8x8 and 4x4 maps
    warnings = kernel_warnings(["3x3 conv", "99x99 conv", "identity", "1x5-5x1 conv", "5x5 dconv"], (8, 8, 3), SPEC)
    assert warnings == [
        "operator '99x99 conv' has a 99x99 kernel, larger than the 8x8 and 4x4 feature maps it can meet "
        "(8x8 images, 1 reduction cell); most of the kernel only covers padding there",
        "operator '1x5-5x1 conv' has 1x5 and 5x1 kernels, larger than the 4x4 feature maps it can meet "
        "(8x8 images, 1 reduction cell); most of the kernel only covers padding there",
        "operator '5x5 dconv' has a 5x5 kernel, larger than the 4x4 feature maps it can meet "
        "(8x8 images, 1 reduction cell); most of the kernel only covers padding there",
    ]
    assert kernel_warnings(PAPER_OPERATORS, (32, 32, 3), NetworkSpec(motifs=3, normal_cells=2)) == []


@pytest.mark.parametrize(
    "input_shape, spec, operators, sizes",
    [
        ((5, 5, 1), NetworkSpec(motifs=3, normal_cells=1), ["3x3 conv"], "2x2"),  # 5 -> 3 -> 2: ceil, "same"
        ((8, 2), SPEC, ["3x3 maxpool"], "8x2 and 4x1"),  # height and width apart; (H, W) is enough
        ((4, 4, 3), NetworkSpec(motifs=1, normal_cells=2), ["3x3 conv", "5x5 conv"], "4x4"),  # no reduction
    ],
)
def test_kernel_warnings_follow_the_reductions(input_shape, spec, operators, sizes):
    warnings = kernel_warnings(operators, input_shape, spec)
    assert len(warnings) == 1 and f"larger than the {sizes} feature maps" in warnings[0]


def test_kernel_warnings_for_a_cell_count_its_operators_once():
    c = cell((-1, "5x5 conv", -2, "identity"), (0, "5x5 conv", -1, "3x3 conv"))
    assert kernel_warnings(c, (8, 8, 3), SPEC) == [
        "operator '5x5 conv' has a 5x5 kernel, larger than the 4x4 feature maps it meets "
        "(8x8 images, 1 reduction cell); most of the kernel only covers padding there"
    ]
    assert kernel_warnings(c, (16, 16, 3), SPEC) == []
    assert kernel_warnings(Cell(), (1, 1, 3), SPEC) == []


def test_build_model_logs_kernel_warnings(caplog):
    with caplog.at_level(logging.WARNING, logger="popnas.model"):
        build_model(cell((-1, "3x3 conv", -1, "identity")), (8, 8, 3), 2, SPEC)
        assert not caplog.records
        build_model(cell((-1, "7x7 dconv", -1, "identity")), (8, 8, 3), 2, SPEC)
    assert [(r.name, r.levelname) for r in caplog.records] == [("popnas.model", "WARNING")]
    assert (
        caplog.records[0]
        .getMessage()
        .startswith("operator '7x7 dconv' has a 7x7 kernel, larger than the 4x4 feature maps it meets")
    )
