"""bench/bench_accuracy_real_labels.py: the accuracy predictors replayed on NB301 and NB201 labels."""

import json
from collections import Counter

import numpy as np
import pytest

from bench import bench_accuracy_real_labels as real
from popnas_steps.accuracy_predictor import ACCURACY_MODELS
from popnas_steps.space import decode

# The first architecture of bench/data/nb301_cifar10_725.json (NASLib's compact encoding).
NB301_ARCH = (
    "[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], "
    "[(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]"
)
NB201_CELL = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_3x3~0|skip_connect~1|none~2|"


def test_a_darts_node_is_a_popnas_block():
    normal = [(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)]
    # DARTS input 0 -> lookback -2, 1 -> lookback -1, 2 + j -> block j; ops keep their index
    assert real.darts_blocks(normal).tolist() == [[-2, 0, -1, 5], [-1, 1, -2, 1], [-1, 3, -2, 3], [-1, 3, 1, 2]]


def test_an_nb301_architecture_is_its_normal_then_its_reduction_cell():
    encoded = real.nb301_encoded([NB301_ARCH], canonical=False)[0]
    assert encoded.tolist() == [
        [-2, 0, -1, 5], [-1, 1, -2, 1], [-1, 3, -2, 3], [-1, 3, 1, 2],  # normal: ops 0..6
        [-1, 7, -2, 9], [-1, 10, -2, 10], [5, 7, -2, 8], [4, 7, 5, 13],  # reduction: blocks 4..7, ops 7..13
    ]  # fmt: skip
    table = real.read_nb301()
    inputs, operators = table.inputs[0], table.operators[0]  # canonical: the normal cell's blocks reordered
    assert table.max_blocks == 8 and table.n_operators == 14 and len(table.accuracy) == 725
    assert inputs[:4].max() <= 2 + 3 and inputs[4:].max() <= 7 + 3 - 1  # no cell reads the other's blocks
    assert sorted(operators[:4].ravel()) == sorted([1, 6, 2, 2, 4, 4, 4, 3])  # the counts are the stored form's
    assert sorted(operators[4:].ravel()) == sorted([8, 10, 11, 11, 8, 9, 8, 14])
    assert np.isclose(table.accuracy[0], 0.9332119084207302)


def test_equivalent_darts_cells_get_one_encoding():
    # nodes 0 and 1 swapped (node 3's reference renumbered), pairs mirrored: the same cell
    swapped = (
        "[[(1, 1), (0, 1), (1, 5), (0, 0), (0, 3), (1, 3), (2, 2), (1, 3)], "
        "[(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]"
    )
    stored = real.nb301_encoded([NB301_ARCH, swapped], canonical=False)
    canonical = real.nb301_encoded([NB301_ARCH, swapped])
    assert not np.array_equal(stored[0], stored[1]) and np.array_equal(canonical[0], canonical[1])


def test_an_nb201_cell_is_four_blocks_whose_output_is_node_3():
    # none 0, skip_connect 1, nor_conv_1x1 2, nor_conv_3x3 3, avg_pool_3x3 4; node 0 is lookback -1
    blocks = real.nb201_blocks(NB201_CELL)
    assert blocks.tolist() == [[-1, 4, -1, 0], [-1, 2, 0, 1], [-1, 3, 0, 1], [1, 0, 2, 1]]
    assert decode(blocks[None], real._KEY_NAMES[:5])[0].unused_blocks == (3,)
    table = real.read_nb201(canonical=False)
    assert table.max_blocks == 4 and table.n_operators == 5 and len(table.accuracy) == 15625
    with pytest.raises(ValueError, match="not an NB201 cellstr"):
        real.nb201_blocks("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|")


def paths(blocks: np.ndarray, names: tuple[str, ...]) -> Counter:
    """The input-to-output paths of a popnas cell (an identity left out, a `none` edge cutting
    its path), each the sequence of its operators: the terms the cell's output sums."""
    terms: list[Counter] = []
    for in1, op1, in2, op2 in blocks.tolist():
        terms.append(Counter())
        for source, op in ((in1, op1), (in2, op2)):
            if names[op] == "none":
                continue
            step = () if names[op] == "skip_connect" else (names[op],)
            for path, count in (terms[source] if source >= 0 else Counter({(): 1})).items():
                terms[-1][path + step] += count
    return terms[-1]


def test_an_nb201_cell_computes_the_benchmarks_sum():
    names = real.NB201_OPERATORS
    rng = np.random.default_rng(0)
    for _ in range(20):
        ops = [names[k] for k in rng.integers(0, len(names), 6)]
        cellstr = f"|{ops[0]}~0|+|{ops[1]}~0|{ops[2]}~1|+|{ops[3]}~0|{ops[4]}~1|{ops[5]}~2|"
        node = [Counter({(): 1})]  # NB201's own definition: node k sums op(node j) over j < k
        for k, edges in ((1, ops[:1]), (2, ops[1:3]), (3, ops[3:])):
            node.append(Counter())
            for j, op in enumerate(edges):
                if op != "none":
                    for path, count in node[j].items():
                        node[k][path + (() if op == "skip_connect" else (op,))] += count
        assert paths(real.nb201_blocks(cellstr), names) == node[3], cellstr


def test_splits_are_seeded_disjoint_and_nested():
    train, test = real.split(100, 20, 3, seed=0)
    again, _ = real.split(100, 20, 3, seed=0)
    assert np.array_equal(train, again) and len(train) == 20 and len(test) == 80
    assert not set(train) & set(test) and set(train) | set(test) == set(range(100))
    assert not np.array_equal(train, real.split(100, 20, 4, seed=0)[0])
    assert not np.array_equal(train, real.split(100, 20, 3, seed=1)[0])
    assert set(train) <= set(real.split(100, 40, 3, seed=0)[0])  # a larger n adds cells to the same split
    with pytest.raises(ValueError):
        real.split(100, 100, 0, seed=0)


def tiny_table(n_cells: int = 40) -> real.Table:
    """Two-block cells of 3 operators whose accuracy grows with the uses of operator 0."""
    from popnas_steps.accuracy_predictor import cell_tensors

    rng = np.random.default_rng(1)
    encoded = np.zeros((n_cells, 2, 4), dtype=int)
    encoded[:, 0, [0, 2]] = rng.integers(-2, 0, (n_cells, 2))
    encoded[:, 1, [0, 2]] = rng.integers(-2, 1, (n_cells, 2))
    encoded[:, :, [1, 3]] = rng.integers(0, 3, (n_cells, 2, 2))
    inputs, operators = cell_tensors(encoded, 2)
    accuracy = 0.5 + 0.05 * (operators == 1).sum(axis=(1, 2)) + rng.normal(0, 0.005, n_cells)
    return real.Table("tiny", inputs, operators, accuracy, 3)


def test_the_replay_runs_end_to_end_and_resumes(tmp_path, monkeypatch):
    out, table = tmp_path / "real.json", tiny_table()
    models = ["ridge_ops", "ridge_counts", "ridge_onehot"]
    sizes, splits = {"tiny": (10, 20)}, dict.fromkeys(models, 3) | {"ridge_onehot": 2}
    result = real.run(out, [table], models, sizes, splits)
    assert len(result["records"]) == 3 * 2 * 3 - 2 and json.loads(out.read_text()) == result
    summary = {(row["model"], row["n"]): row for row in result["summary"]}
    assert summary["ridge_ops", 20]["splits"] == 3 and summary["ridge_onehot", 20]["splits"] == 2
    assert summary["ridge_ops", 20]["spearman"] > 0.8 and summary["ridge_counts", 20]["kendall"] > 0.6
    assert all(record["held_out"] == 40 - record["n"] for record in result["records"])

    kept = [r for r in result["records"] if (r["model"], r["n"], r["split"]) != ("ridge_counts", 10, 1)]
    out.write_text(json.dumps({**result, "records": kept}))
    fitted = []
    original = real.fit_predict
    monkeypatch.setattr(real, "fit_predict", lambda name, *rest: fitted.append(name) or original(name, *rest))
    resumed = real.run(out, [table], models, sizes, splits)
    assert fitted == ["ridge_counts"] and len(resumed["records"]) == len(result["records"])
    assert real.learning_curves(resumed["summary"], "tiny").shape == (3, 2)
    with pytest.raises(ValueError, match="made with"):
        real.run(out, [table], models, sizes, splits, seed=1)


def test_every_accuracy_model_is_replayed_beside_the_floors():
    assert real.all_models() == [*ACCURACY_MODELS, "ridge_counts", "ridge_onehot"]
