import numpy as np
import pandas as pd
import pytest

from popnas_steps import predictors as P
from popnas_steps import tables
from popnas_steps.config import validate
from popnas_steps.features import symmetric_cell
from popnas_steps.space import Cell, canonical_cell, decode, encode, expand
from popnas_steps.work import DataShape

from .synthetic import SPEC, synthetic_accuracy, synthetic_time

OPS = ["3x3 conv", "identity", "2x2 maxpool", "1x1 conv"]
DATA = DataShape((8, 8, 1), 10)


def trained_table(cells: list[Cell], b: int) -> pd.DataFrame:
    encoded = encode(cells, OPS)
    return pd.DataFrame({
        "cell_id": [c.cell_id for c in cells], "cell": [c.to_json() for c in cells], "b": b, "origin": "b1",
        "status": "ok", "accuracy": synthetic_accuracy(encoded, 4), "time": synthetic_time(encoded, 4),
        "params": 1, "predicted_accuracy": np.nan, "predicted_time": np.nan,
    })  # fmt: skip


SETTINGS = validate({"predictors": {"time": {"search_iterations": 2}, "accuracy": {"epochs": 5}}})["predictors"]
REINDEX = {op: float(v) for op, v in zip(OPS, np.linspace(0, 1, 4) ** 2, strict=True)}


def two_steps() -> tuple[pd.DataFrame, list[Cell]]:
    from popnas_steps.space import one_block_cells

    b1 = one_block_cells(OPS)
    rng = np.random.default_rng(0)
    b2 = decode(expand(encode(b1[:6], OPS), 4)[rng.choice(6 * 78, 40, replace=False)], OPS)
    trained = pd.concat([trained_table(b1, 1), trained_table(b2, 2)], ignore_index=True)
    trained.loc[3, "status"], trained.loc[3, "accuracy"] = "failed", np.nan  # excluded from fitting
    return trained, b2


@pytest.fixture(scope="module")
def fitted():
    trained, b2 = two_steps()  # no `concurrent` column: a table of a run without sharing
    return P.fit_predictors(trained, REINDEX, OPS, SPEC, max_blocks=3, settings=SETTINGS, seed=0, data=DATA), b2


def test_rows_that_all_trained_alone_give_the_time_predictor_of_times_without_sharing(fitted):
    predictors, parents = fitted
    trained, _ = two_steps()
    alone = P.fit_predictors(trained.assign(concurrent=1.0), REINDEX, OPS, SPEC, 3, SETTINGS, seed=0, data=DATA)
    assert alone.time.sharing_exponent == 0.0 == predictors.time.sharing_exponent
    first, second = P.score_expansions(predictors, parents[:5]), P.score_expansions(alone, parents[:5])
    assert np.array_equal(first["predicted_time"], second["predicted_time"])  # bit for bit


def test_score_every_unique_expansion(fitted):
    predictors, parents = fitted
    candidates = P.score_expansions(predictors, parents[:10])
    assert list(candidates.columns) == tables.COLUMNS["candidates"]
    # every expansion of every parent is there, once per equivalence class
    every = decode(expand(encode(parents[:10], OPS), 4), OPS)
    assert len(every) == 10 * 136  # p = 4 inputs x 4 operators at position 3: 16 * 17 / 2
    assert set(candidates["cell_id"]) == {c.cell_id for c in every}
    assert candidates["cell_id"].is_unique
    assert candidates["cell"].iloc[0] == canonical_cell(Cell.from_json(candidates["cell"].iloc[0])).to_json()
    assert candidates["predicted_accuracy"].between(0, 1).all() and (candidates["predicted_time"] > 0).all()
    # the same numbers as predicting the cells one size-group at a time
    accuracy, time, latency = P.predict_cells(predictors, [Cell.from_json(t) for t in candidates["cell"][:50]])
    assert np.allclose(accuracy, candidates["predicted_accuracy"][:50], atol=1e-5)
    assert np.allclose(time, candidates["predicted_time"][:50])
    assert np.isnan(latency).all()  # no latency measured, no latency predictor


def test_saved_predictors_reload_without_refitting(fitted, tmp_path):
    predictors, parents = fitted
    predictors.save(tmp_path / "predictors")
    assert (tmp_path / "predictors" / "time" / "linear.json").is_file()  # work_nnls, the default
    reloaded = P.load_predictors(tmp_path / "predictors")
    assert reloaded.data == DATA
    first, second = P.score_expansions(predictors, parents[:3]), P.score_expansions(reloaded, parents[:3])
    pd.testing.assert_frame_equal(first, second, atol=1e-5)


def test_predictors_saved_before_the_work_counts_still_predict(tmp_path):
    import json

    trained, b2 = two_steps()
    time_model = {"model": "nnls_catboost", "search_iterations": 1}
    old = validate({"predictors": {"time": time_model, "accuracy": {"epochs": 2}}})
    predictors = P.fit_predictors(trained, REINDEX, OPS, SPEC, 3, old["predictors"], seed=0)  # no data shape
    predictors.save(tmp_path / "predictors")
    context = json.loads((tmp_path / "predictors" / "context.json").read_text())
    assert "data" not in context  # as a context saved before the work counts
    reloaded = P.load_predictors(tmp_path / "predictors")
    first, second = P.score_expansions(predictors, b2[:3]), P.score_expansions(reloaded, b2[:3])
    pd.testing.assert_frame_equal(first, second, atol=1e-5)


def test_the_work_model_without_the_data_shape_is_a_clear_error():
    trained, _ = two_steps()
    with pytest.raises(ValueError, match="'work_nnls' needs the work counts of the networks"):
        P.fit_predictors(trained, REINDEX, OPS, SPEC, 3, SETTINGS, seed=0)


def test_predictor_quality_per_step():
    trained = pd.DataFrame({
        "b": [1, 1, 2, 2, 2, 2], "status": ["ok"] * 5 + ["failed"],
        "accuracy": [0.5, 0.6, 0.5, 0.6, 0.7, np.nan], "time": [10.0, 20.0, 10.0, 20.0, 40.0, np.nan],
        "predicted_accuracy": [np.nan, np.nan, 0.55, 0.6, 0.63, 0.9],
        "predicted_time": [np.nan, np.nan, 11.0, 18.0, 48.0, 5.0],
    })  # fmt: skip
    quality = P.predictor_quality(trained)
    assert quality["b"].tolist() == [2] and quality["cells"].tolist() == [3]
    assert quality["time_mape"][0] == pytest.approx((10 + 10 + 20) / 3)
    assert quality["time_spearman"][0] == pytest.approx(1.0)
    assert quality["accuracy_mape"][0] == pytest.approx((10 + 0 + 10) / 3)


def test_reindex_cells_are_the_symmetric_ones():
    assert symmetric_cell("3x3 conv").to_list() == [[-1, "3x3 conv", -1, "3x3 conv"]]


@pytest.mark.parametrize("column", ["accuracy", "time"])
@pytest.mark.parametrize("value", [np.nan, np.inf, None])
def test_a_successful_row_without_a_finite_measurement_is_refused_before_fitting(column, value):
    from popnas_steps.space import one_block_cells

    trained = trained_table(one_block_cells(OPS)[:5], 1)
    trained[column] = trained[column].astype(object)
    trained.loc[2, column] = value
    trained.loc[3, "status"], trained.loc[3, column] = "failed", np.nan  # a failed row may lack it
    settings, bad = validate({})["predictors"], trained["cell_id"][2]
    with pytest.raises(ValueError, match=rf"successful cells \['{bad}'\] have a missing or non-finite"):
        P.fit_predictors(trained, {op: 1.0 for op in OPS}, OPS, SPEC, max_blocks=3, settings=settings, seed=0)


def test_equivalent_forms_of_a_cell_get_identical_predictions(fitted):
    predictors, _ = fitted
    mirrored = Cell.from_json('[[-2, "identity", -2, "3x3 conv"]]')  # canonical: 3x3 conv first or second
    forms = [
        [mirrored, Cell.from_json('[[-2, "3x3 conv", -2, "identity"]]')],
        [
            Cell.from_json('[[-1, "3x3 conv", -2, "identity"], [-2, "2x2 maxpool", -1, "1x1 conv"]]'),
            Cell.from_json('[[-1, "1x1 conv", -2, "2x2 maxpool"], [-2, "identity", -1, "3x3 conv"]]'),
            Cell.from_json('[[-2, "identity", -1, "3x3 conv"], [-1, "1x1 conv", -2, "2x2 maxpool"]]'),
        ],
        [
            Cell.from_json('[[-1, "3x3 conv", -2, "identity"], [0, "2x2 maxpool", -1, "1x1 conv"]]'),
            Cell.from_json('[[-2, "identity", -1, "3x3 conv"], [-1, "1x1 conv", 0, "2x2 maxpool"]]'),
        ],
    ]
    for equivalent in forms:
        assert len({cell.cell_id for cell in equivalent}) == 1 and len({c.to_json() for c in equivalent}) > 1
        accuracy, time, _ = P.predict_cells(predictors, equivalent)
        assert np.ptp(accuracy) == 0 and np.ptp(time) == 0


@pytest.mark.parametrize("kind", ["lstm", "ridge_ops"])
def test_the_accuracy_model_is_the_configured_kind_and_reloads_as_it(kind, tmp_path):
    from popnas_steps.accuracy_predictor import ACCURACY_MODELS

    trained, b2 = two_steps()
    settings = validate({"predictors": {"time": {"search_iterations": 1}, "accuracy": {"model": kind, "epochs": 2}}})
    predictors = P.fit_predictors(trained, REINDEX, OPS, SPEC, 3, settings["predictors"], seed=0, data=DATA)
    assert predictors.accuracy.settings.model == kind
    predictors.save(tmp_path / "predictors")
    reloaded = P.load_predictors(tmp_path / "predictors")
    assert type(reloaded.accuracy) is type(predictors.accuracy) is ACCURACY_MODELS[kind].build
    first, second = P.score_expansions(predictors, b2[:3]), P.score_expansions(reloaded, b2[:3])
    pd.testing.assert_frame_equal(first, second, atol=1e-5)


def test_the_latency_predictor_extrapolates_an_additive_latency_to_larger_cells():
    from popnas_steps.work import WorkCounter

    trained, b2 = two_steps()
    counter = WorkCounter(OPS, SPEC, DATA)
    rates = np.array([2e-7, 3e-7, 1e-7, 5e-8, 4e-3])  # ms per multiply-add, ..., per layer

    def latency_of(cells):
        return 0.02 + np.concatenate([counter.count(encode([cell], OPS)) for cell in cells]) @ rates

    cells = [Cell.from_json(text) for text in trained["cell"]]
    trained = trained.assign(latency_ms=latency_of(cells))
    b1_only = trained[trained["b"] == 1]
    model = P.fit_latency(b1_only, OPS, SPEC, DATA)
    predicted = model.predict(np.concatenate([counter.count(encode([cell], OPS)) for cell in b2]))
    assert np.abs(predicted / latency_of(b2) - 1).max() < 0.01  # fitted on 1 block, right on 2
    assert P.fit_latency(b1_only.head(2), OPS, SPEC, DATA) is None  # too few measured
    assert P.fit_latency(b1_only.assign(latency_ms=np.nan), OPS, SPEC, DATA) is None  # none measured
    assert P.fit_latency(b1_only, OPS, SPEC, None) is None  # no data shape, no work counts


def test_scored_candidates_carry_the_predicted_latency_and_it_reloads(tmp_path):
    trained, b2 = two_steps()
    trained = trained.assign(latency_ms=np.linspace(0.1, 0.5, len(trained)))
    predictors = P.fit_predictors(trained, REINDEX, OPS, SPEC, 3, SETTINGS, seed=0, data=DATA)
    candidates = P.score_expansions(predictors, b2[:3])
    assert candidates["predicted_latency"].gt(0).all()
    # the work counts the time inputs end with are the ones the latency predictor reads
    encoded = encode([Cell.from_json(text) for text in candidates["cell"][:20]], OPS)
    direct = predictors.latency.predict(predictors.work_counter.count(encoded))
    assert np.array_equal(P.predict_encoded(predictors, encoded)[2], direct)
    predictors.save(tmp_path)
    reloaded = P.load_predictors(tmp_path)
    assert np.array_equal(P.score_expansions(reloaded, b2[:3])["predicted_latency"], candidates["predicted_latency"])
    without = P.fit_predictors(trained.drop(columns="latency_ms"), REINDEX, OPS, SPEC, 3, SETTINGS, seed=0, data=DATA)
    assert without.latency is None and P.score_expansions(without, b2[:3])["predicted_latency"].isna().all()


def test_predictor_quality_scores_the_latency_predictions_per_step():
    trained = pd.DataFrame({
        "b": [2, 2, 2, 3, 3, 3], "status": "ok", "accuracy": 0.5, "predicted_accuracy": 0.5, "time": 1.0,
        "predicted_time": 1.0, "latency_ms": [1.0, 2.0, 3.0, 1.0, 2.0, 4.0],
        "predicted_latency": [1.1, 2.2, 3.3, 2.0, 1.0, 4.0],
    })  # fmt: skip
    quality = P.predictor_quality(trained).set_index("b")
    assert quality.loc[2, "latency_mape"] == pytest.approx(10.0) and quality.loc[2, "latency_spearman"] == 1.0
    assert quality.loc[3, "latency_spearman"] == pytest.approx(0.5)


@pytest.mark.parametrize("kind", ["ridge_ops", "lstm"])
def test_an_old_runs_predictors_reload_and_score_as_they_did(kind, tmp_path):
    """Predictors saved by popnas at 4a1f8dd, before ridge_wiring and boosted_wiring
    (tests/data/make_saved_predictors.py), reload as their kind and score as they did then."""
    import json
    import shutil
    from pathlib import Path

    saved = Path(__file__).parent / "data" / "predictors-4a1f8dd"
    assert json.loads((saved / "made.json").read_text())["commit"].startswith("4a1f8dd")
    folder = shutil.copytree(saved / kind, tmp_path / kind)  # a reload must not write into the run
    reloaded = P.load_predictors(folder)
    assert reloaded.accuracy.settings.model == kind and reloaded.latency is not None
    _, b2 = two_steps()
    then = pd.read_csv(folder / "scored.csv")
    now = P.score_expansions(reloaded, b2[:3])
    assert now["cell_id"].tolist() == then["cell_id"].tolist()
    for column in ("predicted_accuracy", "predicted_time", "predicted_latency"):
        assert np.allclose(now[column], then[column], rtol=1e-5, atol=1e-6), column
