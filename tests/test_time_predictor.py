import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from popnas_steps.features import time_features
from popnas_steps.linear import LinearModel
from popnas_steps.operators import PAPER_OPERATORS
from popnas_steps.sharing import sharing_exponent, sharing_fit
from popnas_steps.time_predictor import (
    LINEAR_FILE,
    TIME_MODELS,
    TimeSettings,
    fit_time_predictor,
    load_time_predictor,
    mape,
    time_model,
)

from .synthetic import SPEC, sample_cells, synthetic_reindex, synthetic_time

OPS = list(PAPER_OPERATORS)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    steps = sample_cells(rng, OPS, per_step=80, max_blocks=4)
    features = np.concatenate([time_features(s, synthetic_reindex(12), SPEC) for s in steps])
    times = np.concatenate([synthetic_time(s, 12) for s in steps])
    held_out = np.random.default_rng(1).permutation(len(times))
    return features, times, held_out[:80], held_out[80:]


@pytest.mark.parametrize(
    "kind, minimum", [("catboost", 0.9), ("xgboost", 0.9), ("ridge", 0.9), ("nnls", 0.9), ("nnls_catboost", 0.9)]
)
def test_each_kind_learns_a_nontrivial_target(data, kind, minimum, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    features, times, test, train = data
    settings = TimeSettings(model=kind, search_iterations=3)
    predictor = fit_time_predictor(features[train], times[train], settings, seed=3, threads=2)
    predicted = predictor.predict(features[test])
    assert spearmanr(predicted, times[test]).statistic > minimum
    assert predictor.cv_scores["mape_mean"] > 0 and len(predictor.cv_scores["mape_folds"]) == 5
    assert list(tmp_path.iterdir()) == []  # no stray files such as catboost_info/
    predictor.save(tmp_path / "saved")
    reloaded = load_time_predictor(tmp_path / "saved")
    assert np.allclose(reloaded.predict(features[test]), predicted)
    assert reloaded.hyperparameters == predictor.hyperparameters


def test_nnls_catboost_extrapolates_to_a_new_step_where_catboost_cannot():
    steps = sample_cells(np.random.default_rng(2), OPS, per_step=60, max_blocks=4)
    features = [time_features(s, synthetic_reindex(12), SPEC) for s in steps]
    times = [synthetic_time(s, 12) for s in steps]
    seen, seen_times = np.concatenate(features[:3]), np.concatenate(times[:3])  # steps b = 1..3
    errors = {}
    for kind in ("catboost", "nnls_catboost"):
        predictor = fit_time_predictor(seen, seen_times, TimeSettings(model=kind, search_iterations=3), 3, 2)
        predicted = predictor.predict(features[3])  # step b = 4: every cell larger than any seen
        errors[kind] = (mape(times[3], predicted), abs(predicted.sum() / times[3].sum() - 1) * 100)
    assert errors["nnls_catboost"][0] < errors["catboost"][0] and errors["nnls_catboost"][1] < errors["catboost"][1]


def work_steps(seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Inputs (the nine features, then the work counts) and times of sampled cells of b = 1..4,
    the times linear in the work (per multiply-add, per value, per layer) with 3% noise."""
    from popnas_steps.features import time_inputs
    from popnas_steps.work import DataShape, WorkCounter

    counter = WorkCounter(OPS, SPEC, DataShape((32, 32, 3), 10))
    rng = np.random.default_rng(seed)
    steps = sample_cells(rng, OPS, per_step=60, max_blocks=4)
    inputs = [time_inputs(s, synthetic_reindex(12), SPEC, counter) for s in steps]
    per_unit = np.array([2e-9, 6e-9, 1e-9, 4e-8, 2e-3])  # seconds per count, the WORK_NAMES order
    times = [(0.8 + x[:, 9:] @ per_unit) * rng.lognormal(0.0, 0.03, len(x)) for x in inputs]
    return inputs, times


def test_work_nnls_extrapolates_to_a_new_step_and_round_trips(tmp_path):
    inputs, times = work_steps(5)
    seen, seen_times = np.concatenate(inputs[:2]), np.concatenate(times[:2])  # steps b = 1, 2
    errors = {}
    for kind in ("work_nnls", "nnls_catboost", "catboost"):
        predictor = fit_time_predictor(seen, seen_times, TimeSettings(model=kind, search_iterations=2), 3, 2)
        predicted = np.concatenate([predictor.predict(x) for x in inputs[2:]])  # b = 3, 4: larger than any seen
        errors[kind] = mape(np.concatenate(times[2:]), predicted)
        if kind == "work_nnls":
            fitted = predictor
    assert errors["work_nnls"] < 5 and errors["work_nnls"] < errors["nnls_catboost"] < errors["catboost"]
    assert (fitted.model.coefficients >= 0).all() and fitted.model.floor > 0
    assert fitted.cv_scores["trials"] == 1  # nothing to search
    fitted.save(tmp_path / "saved")
    reloaded = load_time_predictor(tmp_path / "saved")
    assert type(reloaded.model) is LinearModel
    assert np.array_equal(reloaded.predict(inputs[3]), fitted.predict(inputs[3]))


def test_the_paper_kinds_take_the_nine_features_whatever_follows_them():
    inputs, times = work_steps(6)
    nine = fit_time_predictor(inputs[0][:, :9], times[0], TimeSettings(model="nnls"), 0, 1)
    both = fit_time_predictor(inputs[0], times[0], TimeSettings(model="nnls"), 0, 1)
    assert np.array_equal(nine.predict(inputs[1][:, :9]), both.predict(inputs[1]))


def test_catboost_search_uses_the_paper_ranges_and_is_seeded(data):
    features, times, test, train = data
    settings = TimeSettings(model="catboost", search_iterations=4)
    first = fit_time_predictor(features[train], times[train], settings, seed=5, threads=2)
    second = fit_time_predictor(features[train], times[train], settings, seed=5, threads=2)
    assert np.array_equal(first.predict(features[test]), second.predict(features[test]))
    hp = first.hyperparameters
    assert 0.02 <= hp["learning_rate"] <= 0.2 and 3 <= hp["depth"] <= 7 and 0.1 <= hp["l2_leaf_reg"] <= 5
    assert 0.3 <= hp["random_strength"] <= 3 and 0.3 <= hp["bagging_temperature"] <= 3
    assert 1 <= hp["iterations"] <= 2500


def test_mape_and_bad_inputs():
    assert mape(np.array([10.0, 20.0]), np.array([11.0, 18.0])) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="at least 2"):
        fit_time_predictor(np.zeros((1, 9)), np.ones(1), TimeSettings(model="nnls"), 0, 1)
    with pytest.raises(ValueError, match="'work_nnls' needs the work counts"):  # the paper's nine alone
        fit_time_predictor(np.zeros((4, 9)), np.ones(4), TimeSettings(model="work_nnls"), 0, 1)
    with pytest.raises(ValueError, match="unknown time predictor 'svm'"):
        fit_time_predictor(np.zeros((4, 9)), np.ones(4), TimeSettings(model="svm"), 0, 1)


@pytest.mark.parametrize("kind", ["nnls", "ridge"])
def test_linear_kinds_round_trip_through_our_json(data, kind, tmp_path):
    features, times, test, train = data
    predictor = fit_time_predictor(features[train], times[train], TimeSettings(model=kind, search_iterations=3), 3, 1)
    # what scikit-learn itself predicts with the chosen hyperparameters refit on the same data
    estimator = predictor._new_model(predictor.hyperparameters).fit(features[train], times[train])
    expected = estimator.predict(features[test])
    assert np.allclose(predictor.predict(features[test]), expected, rtol=1e-9, atol=0)

    predictor.save(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / LINEAR_FILE).read_text())
    assert set(saved) == {"format", "coefficients", "intercept", "floor"}
    assert saved["format"] == 2 and isinstance(saved["intercept"], float) and saved["floor"] is None
    assert len(saved["coefficients"]) == features.shape[1]
    assert all(type(c) is float for c in saved["coefficients"])
    info = json.loads((tmp_path / "saved" / "info.json").read_text())
    assert "coefficients" not in info and info["kind"] == kind

    reloaded = load_time_predictor(tmp_path / "saved")
    assert type(reloaded.model) is LinearModel
    assert not hasattr(reloaded.model, "get_params")  # not a scikit-learn estimator
    assert np.allclose(reloaded.predict(features[test]), expected, rtol=1e-9, atol=0)
    assert np.array_equal(reloaded.predict(features[test]), predictor.predict(features[test]))
    if kind == "nnls":
        assert (reloaded.model.coefficients >= 0).all()


def test_a_reloaded_linear_predictor_needs_no_sklearn(data, tmp_path):
    features, times, test, train = data
    settings = TimeSettings(model="ridge", search_iterations=2)
    predictor = fit_time_predictor(features[train], times[train], settings, 3, 1)
    predictor.save(tmp_path / "saved")
    np.save(tmp_path / "features.npy", features[test])
    np.save(tmp_path / "expected.npy", predictor.predict(features[test]))
    script = f"""
import sys
sys.modules["sklearn"] = None  # any import of scikit-learn now fails
import numpy as np
from popnas_steps.time_predictor import load_time_predictor
predicted = load_time_predictor({str(tmp_path / "saved")!r}).predict(np.load({str(tmp_path / "features.npy")!r}))
assert np.array_equal(predicted, np.load({str(tmp_path / "expected.npy")!r}))
assert not any(name.startswith("sklearn.") for name in sys.modules)
"""
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_folders_saved_before_the_linear_file_still_load(data, tmp_path):
    features, times, test, train = data
    predictor = fit_time_predictor(features[train], times[train], TimeSettings(model="nnls"), 3, 1)
    predictor.save(tmp_path / "saved")
    linear = json.loads((tmp_path / "saved" / LINEAR_FILE).read_text())
    info = json.loads((tmp_path / "saved" / "info.json").read_text())
    info.update(coefficients=linear["coefficients"], intercept=linear["intercept"])  # the old layout
    (tmp_path / "saved" / "info.json").write_text(json.dumps(info))
    (tmp_path / "saved" / LINEAR_FILE).unlink()
    reloaded = load_time_predictor(tmp_path / "saved")
    assert np.array_equal(reloaded.predict(features[test]), predictor.predict(features[test]))


def test_linear_model_checks_its_inputs():
    model = LinearModel(np.array([1.0, 2.0]), 0.5)
    assert np.array_equal(model.predict(np.array([[1.0, 1.0], [0.0, 2.0]])), [3.5, 4.5])
    with pytest.raises(ValueError, match="takes 2 features"):
        model.predict(np.zeros((3, 9)))
    with pytest.raises(ValueError, match="unknown linear model format 3"):
        LinearModel.from_json({"format": 3, "coefficients": [1.0], "intercept": 0.0})
    old = LinearModel.from_json({"format": 1, "coefficients": [1.0, 2.0], "intercept": 0.5})  # before floors
    assert np.array_equal(old.predict(np.array([[1.0, 1.0], [-9.0, 0.0]])), [3.5, -8.5])
    floored = LinearModel(np.array([1.0, 2.0]), 0.5, floor=0.25)
    assert np.array_equal(floored.predict(np.array([[1.0, 1.0], [-9.0, 0.0]])), [3.5, 0.25])


def test_nnls_catboost_on_times_the_linear_part_fits_exactly(tmp_path):
    features = np.random.default_rng(0).uniform(0, 3, size=(30, 9))
    times = 2.0 + features @ np.arange(1.0, 10.0)  # nothing left for the trees to correct
    predictor = fit_time_predictor(features, times, TimeSettings(model="nnls_catboost", search_iterations=1), 0, 1)
    assert predictor.model.exact and np.allclose(predictor.predict(features), times)
    predictor.save(tmp_path / "saved")
    assert not (tmp_path / "saved" / "model.cbm").exists()
    assert np.allclose(load_time_predictor(tmp_path / "saved").predict(features), times)


def test_forward_validation_scores_the_last_step_from_the_earlier_ones():
    from popnas_steps.time_predictor import forward_split

    steps = sample_cells(np.random.default_rng(4), OPS, per_step=20, max_blocks=3)
    features = np.concatenate([time_features(s, synthetic_reindex(12), SPEC) for s in steps])
    times = np.concatenate([synthetic_time(s, 12) for s in steps])
    ((train, validate),) = forward_split(features)
    assert set(features[train, 0]) == {1, 2} and set(features[validate, 0]) == {3}
    settings = TimeSettings(model="nnls_catboost", search_iterations=2, validation="forward")
    predictor = fit_time_predictor(features, times, settings, 0, 1)
    assert len(predictor.cv_scores["mape_folds"]) == 1  # one split: steps 1-2 predict step 3
    assert forward_split(features[features[:, 0] == 1]) is None  # one step only: k-fold instead


@pytest.mark.parametrize("kind", ["nnls_catboost", "catboost", "nnls"])
def test_rows_that_all_trained_alone_fit_the_predictor_of_today_bit_for_bit(data, kind, tmp_path):
    features, times, test, train = data
    settings = TimeSettings(model=kind, search_iterations=2)
    plain = fit_time_predictor(features[train], times[train], settings, 3, 2)
    alone = fit_time_predictor(features[train], times[train], settings, 3, 2, np.ones(len(train)))
    assert alone.sharing_exponent == 0.0 and alone.hyperparameters == plain.hyperparameters
    assert np.array_equal(alone.predict(features[test]), plain.predict(features[test]))
    alone.save(tmp_path / "saved")
    info = json.loads((tmp_path / "saved" / "info.json").read_text())
    assert info.pop("sharing_exponent") == 0.0
    (tmp_path / "saved" / "info.json").write_text(json.dumps(info))  # a folder saved before sharing
    reloaded = load_time_predictor(tmp_path / "saved")
    assert reloaded.sharing_exponent == 0.0
    assert np.allclose(reloaded.predict(features[test]), plain.predict(features[test]), rtol=1e-12)


def shared(times: np.ndarray, alpha: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Times measured on a shared device: a random half of the rows alone, the others beside
    1 or 3 more trainings (k = 2 or 4), slowed by k^alpha; with 5% noise."""
    rng = np.random.default_rng(seed)
    k = np.where(rng.random(len(times)) < 0.5, 1.0, rng.choice([2.0, 4.0], len(times)))
    return times * rng.lognormal(0.0, 0.05, len(times)) * k**alpha, k


@pytest.mark.parametrize("kind", ["nnls_catboost", "catboost"])
def test_times_measured_on_a_shared_device_give_the_times_alone(data, kind, tmp_path):
    features, times, test, train = data
    measured, k = shared(times, 0.6, seed=7)
    settings = TimeSettings(model=kind, search_iterations=2)
    aware = fit_time_predictor(features[train], measured[train], settings, 3, 2, k[train])
    blind = fit_time_predictor(features[train], measured[train], settings, 3, 2)  # ignores k
    assert abs(aware.sharing_exponent - 0.6) < 0.05
    aware_error, blind_error = (
        mape(times[test], aware.predict(features[test])),
        mape(times[test], blind.predict(features[test])),
    )
    assert aware_error < 5 and aware_error < blind_error / 4  # the true times alone, not the measured ones
    aware.save(tmp_path / "saved")
    reloaded = load_time_predictor(tmp_path / "saved")
    assert reloaded.sharing_exponent == aware.sharing_exponent
    assert np.allclose(reloaded.predict(features[test]), aware.predict(features[test]))


def test_the_sharing_exponent_is_not_fooled_by_long_trainings_outlasting_the_others(data):
    features, times, _, _ = data
    rng = np.random.default_rng(11)
    # two trainings per GPU; the long ones spend more of their time alone, at the end of their step
    k = np.clip(2.0 - 0.6 * times / times.max() - rng.uniform(0, 0.4, len(times)), 1.0, 2.0).round(3)
    for alpha in (0.0, 0.3, 0.7, 1.0):
        measured = times * rng.lognormal(0.0, 0.05, len(times)) * k**alpha
        assert abs(sharing_exponent(features, measured, k, seed=0, threads=2) - alpha) < 0.1, alpha


def test_the_sharing_exponent_needs_a_count_per_time_and_a_spread_of_counts(data):
    features, times, _, _ = data
    assert sharing_exponent(features, times * 2.0**0.5, np.full(len(times), 2.0)) == 0.0  # all shared alike
    with pytest.raises(ValueError, match="a number >= 1"):
        sharing_exponent(features, times, np.full(len(times), 0.5))
    with pytest.raises(ValueError, match="a number >= 1"):
        sharing_exponent(features, times, np.ones(len(times) - 1))


@pytest.mark.parametrize("seed", range(3))
def test_a_count_that_barely_varies_identifies_no_sharing_exponent(data, seed):
    features, times, _, _ = data
    rng = np.random.default_rng(seed)
    almost_constant = np.full(len(times), 2.0)
    almost_constant[0] = 2.001  # one row apart: alpha was 1.0, or -9.25 unclipped
    narrow = rng.uniform(1.95, 2.0, len(times))  # with a true alpha of 0.5: 0.00-0.93 over five draws
    for k in (almost_constant, narrow):
        measured = times * rng.lognormal(0.0, 0.05, len(times)) * k**0.5
        fit = sharing_fit(features, measured, k, seed=seed, threads=2)
        assert (fit.alpha, fit.estimate, fit.clipped) == (0.0, None, False)
        assert "k barely varies" in fit.why and "not estimated" in fit.line()


def test_too_few_rows_identify_no_sharing_exponent(data):
    features, times, _, _ = data
    k = np.where(np.arange(9) % 2, 1.0, 2.0)
    fit = sharing_fit(features[:9], times[:9] * k, k)
    assert fit.alpha == 0.0 and fit.estimate is None and "fewer than 10" in fit.why


def test_an_estimate_outside_zero_to_one_is_clipped_and_says_so(data):
    features, times, _, _ = data
    measured, k = shared(times, 1.6, seed=3)  # slower than time-slicing: not a sharing model
    fit = sharing_fit(features, measured, k, seed=0, threads=2)
    assert fit.alpha == 1.0 and fit.clipped and fit.estimate > 1.0
    assert f"clipped from {fit.estimate:.3f} to [0, 1]" in fit.line()


# --- the registry of kinds --------------------------------------------------------------------


def test_an_unknown_kind_is_an_error_that_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown time predictor 'lasso'; choose one of catboost, nnls"):
        time_model("lasso")


def test_each_kind_declares_its_inputs_tuning_and_extrapolation():
    assert {name for name, kind in TIME_MODELS.items() if kind.inputs == "work"} == {"work_nnls"}
    assert {name for name, kind in TIME_MODELS.items() if not kind.extrapolates} == {"catboost", "xgboost"}
    rng = np.random.default_rng(0)
    assert all((kind.sample(rng) != {}) == kind.tuned for kind in TIME_MODELS.values())
