import numpy as np
import pytest
from scipy.stats import spearmanr

from popnas_steps.accuracy_predictor import (
    AccuracyEnsemble,
    AccuracySettings,
    build_member,
    cell_tensors,
    load_accuracy_ensemble,
)
from popnas_steps.operators import PAPER_OPERATORS
from popnas_steps.space import Cell, encode

from .synthetic import sample_cells, synthetic_accuracy

OPS = list(PAPER_OPERATORS)
SETTINGS = AccuracySettings(epochs=20)


def test_cells_become_one_based_codes_with_padding():
    cell = Cell.from_json('[[-2, "3x3 dconv", -1, "2x2 avgpool"], [0, "identity", -1, "3x3 dconv"]]')
    inputs, operators = cell_tensors(encode([cell], OPS), max_blocks=4)
    assert inputs[0].tolist() == [[1, 2], [3, 2], [0, 0], [0, 0]]
    assert operators[0].tolist() == [[1, 12], [7, 1], [0, 0], [0, 0]]
    with pytest.raises(ValueError, match="at most 1"):
        cell_tensors(encode([cell], OPS), max_blocks=1)


def test_member_has_the_paper_layers():
    member = build_member(5, 12, AccuracySettings())
    kinds = [type(layer).__name__ for layer in member.layers]
    for kind in ("Embedding", "Conv1D", "Attention", "Bidirectional", "Dense"):
        assert kind in kinds
    assert member.output.shape[1:] == (1,)
    assert member.layers[-1].activation.__name__ == "sigmoid"


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    steps = sample_cells(rng, OPS, per_step=60, max_blocks=4)
    inputs, operators, accuracy = [], [], []
    for encoded in steps:
        i, o = cell_tensors(encoded, 4)
        inputs.append(i), operators.append(o), accuracy.append(synthetic_accuracy(encoded, 12))
    data = np.concatenate(inputs), np.concatenate(operators), np.concatenate(accuracy)
    test_cells = sample_cells(np.random.default_rng(9), OPS, per_step=40, max_blocks=4)
    test = [
        np.concatenate(x)
        for x in zip(*[(*cell_tensors(e, 4), synthetic_accuracy(e, 12)) for e in test_cells], strict=True)
    ]
    return AccuracyEnsemble(4, 12, SETTINGS, seed=1).fit(*data), data, test


@pytest.mark.slow  # fits the five-member ensemble (~30 s)
def test_ensemble_learns_a_nontrivial_target(fitted):
    ensemble, _, (inputs, operators, accuracy) = fitted
    assert len(ensemble.members) == 5
    predicted = ensemble.predict(inputs, operators)
    assert spearmanr(predicted, accuracy).statistic > 0.9
    # the prediction is the mean of the members
    members = np.mean([m.predict([inputs, operators], verbose=0)[:, 0] for m in ensemble.members], axis=0)
    assert np.allclose(predicted, members, atol=1e-5)
    assert np.allclose(ensemble.predict(inputs, operators, chunk=7), predicted, atol=1e-6)


@pytest.mark.slow  # fits the ensemble twice (~35 s)
def test_same_seed_same_predictions_and_reload(fitted, tmp_path):
    ensemble, data, (inputs, operators, _) = fitted
    again = AccuracyEnsemble(4, 12, SETTINGS, seed=1).fit(*data)
    assert np.allclose(again.predict(inputs, operators), ensemble.predict(inputs, operators), atol=1e-4)
    ensemble.save(tmp_path / "acc")
    reloaded = load_accuracy_ensemble(tmp_path / "acc")
    assert np.allclose(reloaded.predict(inputs, operators), ensemble.predict(inputs, operators), atol=1e-6)
    assert reloaded.cv_scores == ensemble.cv_scores


def test_too_few_cells_is_an_error():
    with pytest.raises(ValueError, match="at least 5 trained cells"):
        AccuracyEnsemble(2, 12, SETTINGS, 0).fit(np.zeros((3, 2, 2), int), np.zeros((3, 2, 2), int), np.ones(3))
