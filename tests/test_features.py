import numpy as np
import pandas as pd
import pytest

from popnas_steps.features import (
    FEATURE_NAMES,
    dynamic_reindex,
    features_of_cells,
    reindex_from_trained,
    symmetric_cell,
)
from popnas_steps.macro import NetworkSpec
from popnas_steps.space import Cell

OPS = ["3x3 conv", "identity", "2x2 maxpool", "1x1 conv"]
REINDEX = {"3x3 conv": 0.8, "identity": 0.0, "2x2 maxpool": 0.2, "1x1 conv": 0.4}
SPEC = NetworkSpec(motifs=3, normal_cells=2)


def features(*blocks) -> dict:
    values = features_of_cells([Cell.from_json([list(b) for b in blocks])], REINDEX, OPS, SPEC)[0]
    return dict(zip(FEATURE_NAMES, values, strict=True))


def test_flat_cell():
    f = features((-1, "3x3 conv", -2, "identity"), (-1, "2x2 maxpool", -1, "1x1 conv"))
    assert f == pytest.approx({
        "blocks": 2, "cells": 8, "op_score": 1.4, "multiple_lookbacks": 1, "lookback_score_fraction": 1.0,
        "block_dependencies": 0, "dag_depth": 1, "concatenated_outputs": 2, "heaviest_path_fraction": 0.8 / 1.4,
    })  # fmt: skip


def test_multi_level_cell_uses_the_longest_path():
    f = features((-1, "3x3 conv", -1, "1x1 conv"), (0, "2x2 maxpool", -1, "identity"), (1, "3x3 conv", 0, "1x1 conv"))
    assert f == pytest.approx({
        "blocks": 3, "cells": 8, "op_score": 2.6, "multiple_lookbacks": 0, "lookback_score_fraction": 1.2 / 2.6,
        "block_dependencies": 3, "dag_depth": 3, "concatenated_outputs": 0, "heaviest_path_fraction": 1.8 / 2.6,
    })  # fmt: skip


def test_minus_two_only_cell_builds_fewer_cells():
    f = features((-2, "1x1 conv", -2, "identity"))
    assert f == pytest.approx({
        "blocks": 1, "cells": 4, "op_score": 0.4, "multiple_lookbacks": 0, "lookback_score_fraction": 1.0,
        "block_dependencies": 0, "dag_depth": 1, "concatenated_outputs": 0, "heaviest_path_fraction": 1.0,
    })  # fmt: skip


def test_cell_with_an_unused_block():
    f = features((-1, "3x3 conv", -1, "3x3 conv"), (-2, "identity", -2, "2x2 maxpool"), (0, "1x1 conv", -1, "identity"))
    assert f == pytest.approx({
        "blocks": 3, "cells": 8, "op_score": 2.2, "multiple_lookbacks": 1, "lookback_score_fraction": 1.8 / 2.2,
        "block_dependencies": 1, "dag_depth": 2, "concatenated_outputs": 2, "heaviest_path_fraction": 1.2 / 2.2,
    })  # fmt: skip


def test_empty_cell_is_zero_but_the_fractions():
    f = features()
    assert [f[name] for name in FEATURE_NAMES] == [0, 0, 0, 0, 1, 0, 0, 0, 1]


def test_cells_of_mixed_sizes_keep_their_order():
    cells = [
        Cell.from_json('[[-1, "identity", -1, "identity"]]'),
        Cell(),
        Cell.from_json('[[-1, "3x3 conv", -1, "identity"], [0, "identity", -2, "identity"]]'),
    ]
    values = features_of_cells(cells, REINDEX, OPS, SPEC)
    assert values[:, 0].tolist() == [1, 0, 2]


def test_dynamic_reindex_formula():
    index = dynamic_reindex(2.0, {"a": 4.0, "b": 10.0, "c": 6.0, "d": None, "e": 1.0})
    assert index == pytest.approx({"a": 0.25, "b": 1.0, "c": 0.5, "d": 1.0, "e": 0.0})
    with pytest.raises(ValueError, match="at least one"):
        dynamic_reindex(2.0, {"a": None})


def test_reindex_from_trained_tables():
    thrust = pd.DataFrame({"cell_id": [Cell().cell_id], "status": ["ok"], "time": [1.0]})
    ids = [symmetric_cell(op).cell_id for op in OPS]
    b1 = pd.DataFrame({"cell_id": ids, "status": ["ok", "ok", "failed", "ok"], "time": [5.0, 1.5, np.nan, 3.0]})
    index = reindex_from_trained(thrust, b1, OPS)
    assert index == pytest.approx({"3x3 conv": 1.0, "identity": 0.125, "2x2 maxpool": 1.0, "1x1 conv": 0.5})


def test_reindex_needs_a_successful_thrust():
    thrust = pd.DataFrame({"cell_id": [Cell().cell_id], "status": ["failed"], "time": [np.nan]})
    b1 = pd.DataFrame({"cell_id": [symmetric_cell(OPS[0]).cell_id], "status": ["ok"], "time": [2.0]})
    with pytest.raises(ValueError, match="initial thrust"):
        reindex_from_trained(thrust, b1, OPS)
