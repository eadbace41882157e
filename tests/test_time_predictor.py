import numpy as np
import pytest
from scipy.stats import spearmanr

from popnas_steps.features import time_features
from popnas_steps.operators import PAPER_OPERATORS
from popnas_steps.time_predictor import TimeSettings, fit_time_predictor, load_time_predictor, mape

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


@pytest.mark.parametrize("kind, minimum", [("catboost", 0.9), ("xgboost", 0.9), ("ridge", 0.9), ("nnls", 0.9)])
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


def test_catboost_search_uses_the_paper_ranges_and_is_seeded(data):
    features, times, test, train = data
    settings = TimeSettings(search_iterations=4)
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
        fit_time_predictor(np.zeros((1, 9)), np.ones(1), TimeSettings(), 0, 1)
    with pytest.raises(ValueError, match="unknown time predictor 'svm'"):
        fit_time_predictor(np.zeros((4, 9)), np.ones(4), TimeSettings(model="svm"), 0, 1)
