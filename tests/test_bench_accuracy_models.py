"""bench/bench_accuracy_models.py: candidate accuracy predictors replayed step by step."""

import json

import numpy as np
import pandas as pd
import pytest

from bench import bench_accuracy_models
from popnas_steps import tables
from popnas_steps.config import load_config
from popnas_steps.predictors import unique_expansions
from popnas_steps.space import Cell, decode, encode

OPERATORS = ["3x3 conv", "identity"]


def write_run(steps, accuracy_of) -> None:
    """A finished run's steps b0..b3 (every cell of b <= 1, 6 of each later step) whose
    accuracy is `accuracy_of(cell)`, with its reindex table and data metadata."""
    rng = np.random.default_rng(0)
    layers = [[Cell()]]
    layers.append(decode(unique_expansions([Cell()], OPERATORS), OPERATORS))
    for _ in (2, 3):
        children = decode(unique_expansions(layers[-1], OPERATORS), OPERATORS)
        layers.append([children[i] for i in rng.choice(len(children), 6, replace=False)])
    for b, cells in enumerate(layers):
        rows = [{"cell_id": c.cell_id, "cell": c.to_json(), "b": b, "origin": "pareto", "status": "ok",
                 "accuracy": accuracy_of(c), "time": 1.0 + b, "params": 10, "predicted_accuracy": None,
                 "predicted_time": None, "reason": None} for c in cells]  # fmt: skip
        tables.write("trained", pd.DataFrame(rows), steps / f"b{b}" / "trained.csv")
    reindex = pd.DataFrame(
        [{"operator": op, "cell_id": "x", "time": 2.0, "thrust_time": 1.0, "reindex": r}
         for op, r in zip(OPERATORS, (1.0, 0.0), strict=True)]
    )  # fmt: skip
    tables.write("reindex", reindex, steps / "b1" / "reindex.csv")
    (steps.parent / "data").mkdir(parents=True)
    (steps.parent / "data" / "metadata.json").write_text(json.dumps({"input_shape": [8, 8, 1], "num_classes": 10}))


def convolutions(cell: Cell) -> int:
    return sum(op == "3x3 conv" for block in cell.blocks for op in block.operators)


def test_models_that_see_the_operators_rank_cells_whose_accuracy_follows_them(tmp_path):
    steps = tmp_path / "run" / "popnas"
    write_run(steps, lambda cell: 0.3 + 0.05 * convolutions(cell) + 0.001 * len(cell))
    rows = bench_accuracy_models.replay(steps, load_config("config/tiny.yaml"), ["ridge_ops", "ridge", "catboost"])
    assert [row["b"] for row in rows] == [2, 3] and all(row["cells"] == 6 for row in rows)
    assert all(row["accuracy_sd_points"] > 0 for row in rows)
    assert all(row["ridge_ops_spearman"] > 0.8 for row in rows)  # accuracy grows with the conv count


def test_features_count_each_operator_beside_the_time_features_and_work():
    from popnas_steps.macro import NetworkSpec
    from popnas_steps.work import DataShape, WorkCounter

    spec = NetworkSpec(motifs=1, normal_cells=1, filters=4)
    work = WorkCounter(OPERATORS, spec, DataShape((8, 8, 1), 10))
    cell = Cell.from_json([[-1, "3x3 conv", -2, "identity"], [0, "3x3 conv", -1, "3x3 conv"]])
    features = bench_accuracy_models.accuracy_features(encode([cell], OPERATORS), np.array([1.0, 0.0]), spec, work)
    from popnas_steps.features import FEATURE_NAMES

    first = len(FEATURE_NAMES)
    assert features[0, first : first + 2].tolist() == [3, 1]
    assert features.shape == (1, first + 2 + 5)


def test_blend_needs_the_models_it_averages(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["x", "--config", "config/tiny.yaml", "--steps", "s", "--models", "blend"])
    with pytest.raises(SystemExit):
        bench_accuracy_models.main()
    assert "blend needs lstm and ridge" in capsys.readouterr().err


def test_the_time_replay_scores_the_configured_accuracy_predictor_through_this_replay(tmp_path):
    from bench.bench_time_predictor import accuracy_spearman

    steps = tmp_path / "run" / "popnas"
    write_run(steps, lambda cell: 0.3 + 0.05 * convolutions(cell) + 0.001 * len(cell))
    config = load_config("config/tiny.yaml")
    assert config["predictors"]["accuracy"]["model"] == "boosted_wiring"
    rows = bench_accuracy_models.replay(steps, config, ["boosted_wiring"])
    assert accuracy_spearman(steps, config) == {f"b{row['b']}": row["boosted_wiring_spearman"] for row in rows}
    stored = bench_accuracy_models.replay(steps, config, ["boosted_wiring"], canonical=False)
    assert accuracy_spearman(steps, config, canonical=False) == {
        f"b{row['b']}": row["boosted_wiring_spearman"] for row in stored
    }


def candidate_table(rows) -> pd.DataFrame:
    """Scored candidates (cell_id, cell, predicted_accuracy, predicted_time) from (cell, accuracy, time)."""
    return pd.DataFrame(
        [{"cell_id": f"c{i}", "cell": json.dumps(cell), "predicted_accuracy": accuracy, "predicted_time": time}
         for i, (cell, accuracy, time) in enumerate(rows)]
    )  # fmt: skip


def test_front_fields_count_the_ties_and_the_front_cells_that_read_input_minus_1():
    lookbacks_2, reads_1 = [[-2, "3x3 conv", -2, "identity"]], [[-1, "3x3 conv", -2, "identity"]]
    candidates = candidate_table(
        [(lookbacks_2, 0.9, 1.0), (reads_1, 0.9, 2.0), (reads_1, 0.8, 0.5), (lookbacks_2, 0.7, 3.0)]
    )
    fields = bench_accuracy_models.front_fields(candidates, 2)
    # the tie at 0.9 goes to the cheaper cell, which reads -2 only; the front's second cell is cheaper still
    assert fields == {"distinct_predictions": 3, "largest_tie": 2, "front_cells": 2, "front_minus1_share": 0.5,
                      "top_k_minus1_share": 0.5}  # fmt: skip
    assert bench_accuracy_models.front_fields(candidates, 1)["front_minus1_share"] == 0.0
    untimed = bench_accuracy_models.front_fields(candidates.assign(predicted_time=np.nan), 2)
    assert untimed["front_cells"] is None and untimed["front_minus1_share"] is None  # PNAS: no time predictor
    assert untimed["top_k_minus1_share"] == 0.5


def save_time_predictors(steps, config) -> None:
    """Each step b >= 2's predictors, fitted on the steps before as the search fits them
    (the time predictor work_nnls: fast), saved where the step's fit rule saves them."""
    from popnas_steps.layout import RunLayout
    from popnas_steps.macro import NetworkSpec
    from popnas_steps.predictors import fit_predictors
    from popnas_steps.work import DataShape

    layout = RunLayout.of_steps(steps)
    trained = tables.read("trained", *layout.step_files("trained").values())
    settings = {**config["predictors"], "time": {**config["predictors"]["time"], "model": "work_nnls"}}
    for b in (2, 3):
        predictors = fit_predictors(
            trained[trained["b"] < b], {"3x3 conv": 1.0, "identity": 0.0}, OPERATORS, NetworkSpec(**config["network"]),
            config["search"]["max_blocks"], settings, config["seed"], data=DataShape.read(layout.metadata),
        )  # fmt: skip
        predictors.save(layout.predictors(b))


def test_the_replay_reports_each_models_ties_and_front_on_the_steps_candidates(tmp_path):
    steps = tmp_path / "run" / "popnas"
    write_run(steps, lambda cell: 0.3 + 0.05 * convolutions(cell) + 0.001 * len(cell))
    config = load_config("config/tiny.yaml")
    models = ["ridge_ops", "ridge_wiring"]
    untimed = bench_accuracy_models.replay(steps, config, models, fronts=True)
    assert all(row["ridge_ops_front_cells"] is None and row["ridge_ops_top_k_minus1_share"] is not None
               for row in untimed)  # fmt: skip
    save_time_predictors(steps, config)
    rows = bench_accuracy_models.replay(steps, config, models, fronts=True)
    plain = bench_accuracy_models.replay(steps, config, models)
    for row, before in zip(rows, plain, strict=True):
        assert {key: row[key] for key in before if not key.endswith("_seconds")} == {
            key: value for key, value in before.items() if not key.endswith("_seconds")
        }  # the existing fields are as they were
        parents = [
            Cell.from_json(c) for c in tables.read("trained", steps / f"b{row['b'] - 1}" / "trained.csv")["cell"]
        ]
        assert row["candidates"] == len(unique_expansions(parents, OPERATORS)) and row["candidates_read_minus1"]
        # operator counts: at most one prediction per count of convolutions (0 to 2b) among the candidates
        assert row["ridge_ops_distinct_predictions"] <= 2 * row["b"] + 1 < row["candidates"]
        assert row["ridge_ops_largest_tie"] >= row["candidates"] / row["ridge_ops_distinct_predictions"]
        assert row["ridge_wiring_distinct_predictions"] > row["ridge_ops_distinct_predictions"]
        for name in models:
            assert 1 <= row[f"{name}_front_cells"] <= config["search"]["beam"]
            assert 0.0 <= row[f"{name}_front_minus1_share"] <= 1.0
