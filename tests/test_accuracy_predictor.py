import numpy as np
import pytest
from scipy.stats import spearmanr

from popnas_steps.accuracy_predictor import (
    AccuracyEnsemble,
    AccuracySettings,
    BoostedWiring,
    OperatorRidge,
    WiringRidge,
    accuracy_model,
    build_member,
    cell_tensors,
    chain_features,
    load_accuracy_model,
    loo_ridge,
    operator_counts,
    wiring_features,
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
    reloaded = load_accuracy_model(tmp_path / "acc")
    assert np.allclose(reloaded.predict(inputs, operators), ensemble.predict(inputs, operators), atol=1e-6)
    assert reloaded.cv_scores == ensemble.cv_scores


def test_too_few_cells_is_an_error():
    with pytest.raises(ValueError, match="at least 5 trained cells"):
        AccuracyEnsemble(2, 12, SETTINGS, 0).fit(np.zeros((3, 2, 2), int), np.zeros((3, 2, 2), int), np.ones(3))


def synthetic_steps(seed: int, per_step: int, score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells of steps 1..4 as (inputs, operators) tensors with their accuracy by `score`."""
    steps = sample_cells(np.random.default_rng(seed), OPS, per_step=per_step, max_blocks=4)
    return tuple(np.concatenate(x) for x in zip(*[(*cell_tensors(e, 4), score(e)) for e in steps], strict=True))


def operator_score(encoded: np.ndarray) -> np.ndarray:
    """A made-up accuracy that only the operators decide: each use adds its operator's weight."""
    weights = np.linspace(-0.4, 0.4, len(OPS))
    return 1 / (1 + np.exp(-weights[encoded[:, :, [1, 3]]].sum(axis=(1, 2))))


def test_operator_counts_count_both_operators_of_every_block_and_skip_padding():
    cell = Cell.from_json('[[-2, "3x3 dconv", -1, "3x3 dconv"], [0, "identity", -1, "2x2 avgpool"]]')
    _, operators = cell_tensors(encode([cell], OPS), max_blocks=4)
    counts = operator_counts(operators, len(OPS))
    assert counts.shape == (1, 12) and counts.sum() == 4
    assert counts[0, OPS.index("3x3 dconv")] == 2 and counts[0, OPS.index("identity")] == 1


def test_the_operator_ridge_recovers_an_operator_additive_accuracy_on_larger_cells(tmp_path):
    inputs, operators, accuracy = synthetic_steps(0, 40, operator_score)
    small = operators[:, 2, 0] == 0  # cells of one and two blocks: fit on them, predict three and four
    ridge = OperatorRidge(4, 12, AccuracySettings(), seed=0).fit(inputs[small], operators[small], accuracy[small])
    predicted = ridge.predict(inputs[~small], operators[~small])
    assert spearmanr(predicted, accuracy[~small]).statistic > 0.99
    assert np.abs(predicted - accuracy[~small]).max() < 0.02  # logit is additive: it extrapolates
    ridge.save(tmp_path / "ridge")
    reloaded = load_accuracy_model(tmp_path / "ridge")
    assert isinstance(reloaded, OperatorRidge) and reloaded.alpha == ridge.alpha
    assert np.array_equal(reloaded.predict(inputs, operators), ridge.predict(inputs, operators))


def test_the_operator_ridge_is_deterministic_and_gives_every_arrangement_of_the_same_operators_one_score():
    inputs, operators, accuracy = synthetic_steps(1, 30, lambda e: synthetic_accuracy(e, 12))
    first = OperatorRidge(4, 12, AccuracySettings(), 0).fit(inputs, operators, accuracy).predict(inputs, operators)
    again = OperatorRidge(4, 12, AccuracySettings(), 5).fit(inputs, operators, accuracy).predict(inputs, operators)
    assert np.array_equal(first, again)  # no randomness at all: the seed is unused
    swapped = operators[:, ::-1].copy(), operators[:, :, ::-1].copy()  # blocks reversed, operands swapped
    for shuffled in swapped:
        still = OperatorRidge(4, 12, AccuracySettings(), 0).fit(inputs, operators, accuracy)
        assert np.allclose(still.predict(inputs, shuffled), first)


def test_an_accuracy_model_is_one_of_the_table_and_an_unknown_one_is_named():
    assert isinstance(accuracy_model(4, 12, AccuracySettings(model="ridge_ops"), 0), OperatorRidge)
    assert isinstance(accuracy_model(4, 12, AccuracySettings(model="lstm"), 0), AccuracyEnsemble)
    assert isinstance(accuracy_model(4, 12, AccuracySettings(model="ridge_wiring"), 0), WiringRidge)
    assert isinstance(accuracy_model(4, 12, AccuracySettings(model="boosted_wiring"), 0), BoostedWiring)
    with pytest.raises(
        ValueError,
        match="unknown accuracy predictor 'gin'; choose one of lstm, ridge_ops, ridge_wiring, boosted_wiring",
    ):
        accuracy_model(4, 12, AccuracySettings(model="gin"), 0)
    with pytest.raises(ValueError, match="at least 2 trained cells"):
        OperatorRidge(4, 12, AccuracySettings(), 0).fit(np.zeros((1, 4, 2), int), np.ones((1, 4, 2), int), [0.5])


def test_an_ensemble_saved_before_there_were_kinds_reloads_as_the_lstm(tmp_path):
    import json

    inputs, operators, accuracy = synthetic_steps(2, 5, lambda e: synthetic_accuracy(e, 12))
    settings = AccuracySettings(model="lstm", members=2, epochs=1)
    ensemble = AccuracyEnsemble(4, 12, settings, seed=0).fit(inputs, operators, accuracy)
    ensemble.save(tmp_path / "acc")
    info = json.loads((tmp_path / "acc" / "info.json").read_text())
    del info["kind"], info["settings"]["model"]  # as an ensemble saved before the kinds
    (tmp_path / "acc" / "info.json").write_text(json.dumps(info))
    reloaded = load_accuracy_model(tmp_path / "acc")
    assert isinstance(reloaded, AccuracyEnsemble) and reloaded.settings.model == "lstm"
    assert np.allclose(reloaded.predict(inputs, operators), ensemble.predict(inputs, operators), atol=1e-6)


def test_wiring_features_count_operators_inputs_pairs_and_positions_of_a_cell_written_out_by_hand():
    cell = Cell.from_json('[[-2, "3x3 dconv", -1, "identity"], [0, "identity", -1, "3x3 dconv"]]')
    inputs, operators = cell_tensors(encode([cell], OPS), max_blocks=3)
    groups = wiring_features(inputs, operators, max_blocks=3, n_operators=len(OPS))
    dconv, identity = OPS.index("3x3 dconv"), OPS.index("identity")
    assert groups["operators"][0][[dconv, identity]].tolist() == [2, 2] and groups["operators"].sum() == 4
    # reads of -2, -1, block 0, block 1, block 2; then blocks 2, unread blocks 1 (block 1), depth 2
    assert groups["inputs"][0].tolist() == [1, 2, 1, 0, 0, 2, 1, 2]
    pairs = groups["pairs"][0].reshape(len(OPS), 5)
    assert pairs[dconv].tolist() == [1, 1, 0, 0, 0] and pairs[identity].tolist() == [0, 1, 1, 0, 0]
    assert groups["positions"].shape == (1, 6 * (len(OPS) + 5)) and groups["positions"].sum() == 8  # 4 slots x 2
    # block 1's identity reads block 0, whose operators are a dconv and an identity
    chains = chain_features(inputs, operators, max_blocks=3, n_operators=len(OPS))[0].reshape(len(OPS), len(OPS))
    assert chains[dconv, identity] == 1 and chains[identity, identity] == 1 and chains.sum() == 2


def test_loo_ridge_is_scikit_learns_ridge_cv():
    from sklearn.linear_model import RidgeCV

    rng = np.random.default_rng(0)
    design = rng.normal(size=(40, 12))
    design -= design.mean(axis=0)
    target = design[:, 0] - 0.5 * design[:, 3] + rng.normal(size=40)
    alphas = np.logspace(-3, 3, 13)
    error, alpha, coef = loo_ridge(design, target, alphas)
    reference = RidgeCV(alphas=alphas).fit(design, target)
    assert alpha == reference.alpha_ and error == pytest.approx(-reference.best_score_)
    assert np.allclose(coef, reference.coef_)


@pytest.mark.parametrize("kind", [WiringRidge, BoostedWiring])
def test_the_wiring_models_tell_apart_cells_that_differ_only_in_their_wiring(kind):
    inputs, operators, accuracy = synthetic_steps(3, 40, operator_score)  # a target blind to the wiring
    model = kind(4, 12, AccuracySettings(model=kind.KIND), 0).fit(inputs, operators, accuracy)
    cells = [
        '[[-2, "3x3 conv", -2, "identity"], [0, "3x3 conv", -2, "identity"]]',
        '[[-1, "3x3 conv", -2, "identity"], [0, "3x3 conv", -2, "identity"]]',  # reads -1 too
        '[[-1, "3x3 conv", -1, "identity"], [0, "3x3 conv", -1, "identity"]]',
        '[[-2, "3x3 conv", -2, "identity"], [-2, "3x3 conv", -2, "identity"]]',  # two blocks side by side
    ]
    rewired = cell_tensors(encode([Cell.from_json(cell) for cell in cells], OPS), 4)
    predictions = model.predict(*rewired)
    assert len(set(predictions.tolist())) == len(cells)  # ridge_ops gives all four one score
    assert len(set(OperatorRidge(4, 12, AccuracySettings(), 0).fit(inputs, operators, accuracy).predict(*rewired))) == 1


def test_the_wiring_ridge_learns_a_wiring_dependent_accuracy_deterministically_and_reloads_as_itself(tmp_path):
    inputs, operators, accuracy = synthetic_steps(4, 60, lambda e: synthetic_accuracy(e, 12))
    test_inputs, test_operators, test_accuracy = synthetic_steps(5, 30, lambda e: synthetic_accuracy(e, 12))
    model = WiringRidge(4, 12, AccuracySettings(model="ridge_wiring"), 0).fit(inputs, operators, accuracy)
    plain = OperatorRidge(4, 12, AccuracySettings(), 0).fit(inputs, operators, accuracy)
    wiring_rho = spearmanr(model.predict(test_inputs, test_operators), test_accuracy).statistic
    assert (
        wiring_rho > 0.95
        and wiring_rho > spearmanr(plain.predict(test_inputs, test_operators), test_accuracy).statistic
    )
    again = WiringRidge(4, 12, AccuracySettings(model="ridge_wiring"), 7).fit(inputs, operators, accuracy)
    assert np.array_equal(again.predict(inputs, operators), model.predict(inputs, operators))  # no randomness
    model.save(tmp_path / "acc")
    reloaded = load_accuracy_model(tmp_path / "acc")
    assert isinstance(reloaded, WiringRidge) and reloaded.weights == model.weights
    assert np.array_equal(reloaded.predict(inputs, operators), model.predict(inputs, operators))


def interaction_score(encoded: np.ndarray) -> np.ndarray:
    """A made-up accuracy that no sum of per-feature effects gives: a cell does well with
    3x3 convs or with identities, not with both or neither (1x1 convs add a little)."""
    ops = encoded[:, :, [1, 3]]
    conv, identity = ((ops == OPS.index(name)).any(axis=(1, 2)) for name in ("3x3 conv", "identity"))
    return np.where(conv ^ identity, 0.8, 0.4) + 0.01 * (ops == OPS.index("1x1 conv")).sum(axis=(1, 2))


def test_the_boosted_model_learns_what_the_ridge_cannot_deterministically_and_reloads_as_itself(tmp_path):
    inputs, operators, accuracy = synthetic_steps(6, 80, interaction_score)
    test_inputs, test_operators, test_accuracy = synthetic_steps(7, 40, interaction_score)
    boosted = BoostedWiring(4, 12, AccuracySettings(model="boosted_wiring"), 0).fit(inputs, operators, accuracy)
    ridge = WiringRidge(4, 12, AccuracySettings(model="ridge_wiring"), 0).fit(inputs, operators, accuracy)
    boosted_rho = spearmanr(boosted.predict(test_inputs, test_operators), test_accuracy).statistic
    ridge_rho = spearmanr(ridge.predict(test_inputs, test_operators), test_accuracy).statistic
    assert boosted_rho > ridge_rho + 0.2, (boosted_rho, ridge_rho)  # 0.65 against 0.34 when written
    again = BoostedWiring(4, 12, AccuracySettings(model="boosted_wiring"), 0).fit(inputs, operators, accuracy)
    assert np.array_equal(again.predict(inputs, operators), boosted.predict(inputs, operators))
    boosted.save(tmp_path / "acc")
    assert (tmp_path / "acc" / BoostedWiring.TREES_FILE).is_file()
    reloaded = load_accuracy_model(tmp_path / "acc")
    assert isinstance(reloaded, BoostedWiring) and reloaded.weights == boosted.weights
    assert np.array_equal(reloaded.predict(test_inputs, test_operators), boosted.predict(test_inputs, test_operators))


def test_the_boosted_model_is_its_ridge_where_the_residuals_leave_nothing_to_learn(tmp_path):
    inputs, operators, _ = synthetic_steps(8, 10, operator_score)
    constant = np.full(len(inputs), 0.7)
    model = BoostedWiring(4, 12, AccuracySettings(model="boosted_wiring"), 0).fit(inputs, operators, constant)
    assert model.trees is None and np.allclose(model.predict(inputs, operators), 0.7)
    (tmp_path / "acc").mkdir()
    (tmp_path / "acc" / BoostedWiring.TREES_FILE).write_text("trees of an earlier fit")
    model.save(tmp_path / "acc")  # a refit into the same folder leaves no stale trees behind
    assert not (tmp_path / "acc" / BoostedWiring.TREES_FILE).exists()
    assert load_accuracy_model(tmp_path / "acc").trees is None
