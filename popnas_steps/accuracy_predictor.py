"""Accuracy predictors: ours (ridges on the cell's operators and wiring, boosted trees on
their residuals) and the paper's LSTM ensemble (3.3.1).

A cell becomes two (B, 2) integer tensors, the inputs and the operators of each block,
as 1-based categorical codes with 0 for padding (cells with fewer than B blocks):
inputs -2, -1, 0, 1, ... are coded 1, 2, 3, 4, ...; operator index k is coded k + 1.
Every kind fits and predicts on these tensors; each is one entry of ACCURACY_MODELS (at
the end of this file), chosen by `predictors.accuracy.model`:

- `boosted_wiring` (the default): `ridge_wiring`, then CatBoost trees fitted to its
  residuals on its features and the operator pairs along the cell's edges. It ranks real
  labels (NAS-Bench-301 and NAS-Bench-201, bench_accuracy_real_labels) best of the kinds.
- `ridge_wiring`: ridge regression of logit(accuracy) on the operator counts and the
  cell's wiring, each wiring group weighted by leave-one-out error.
- `ridge_ops`: the same ridge on the operator counts only (the default until 2026-12).
  With tens of trained cells, few parameters generalise where five LSTMs memorise, and the
  logit spreads accuracies bunched near 1. Cells of the same operators get one prediction.
- `lstm`, the paper's. Each member: an embedding of each tensor -> concatenation per block
  -> two Conv1D (kernel 1, relu) giving Q and K -> dot-product attention -> bidirectional
  LSTM -> a sigmoid unit. Five members are trained on the five 4/5 folds of a seeded 5-fold
  split; the prediction is their mean. For scoring, the members are fused into one Keras
  model that averages them, called on large chunks: one predict call per chunk, not per
  member per 32 cells as in the authors' code.

docs/method.md says what each sees and why the default was chosen; BENCHMARKS.md has the figures.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold


@dataclass(frozen=True)
class AccuracySettings:
    """The `predictors.accuracy` config slice (the `lstm` settings are the paper's, 4.1)."""

    model: str = "boosted_wiring"
    members: int = 5
    embedding_dim: int = 10
    conv_filters: int = 16
    lstm_units: int = 48
    l2: float = 1e-5
    learning_rate: float = 0.004
    epochs: int = 30
    batch_size: int = 16


def cell_tensors(encoded: np.ndarray, max_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """The (n, B, 2) input codes and operator codes of cells encoded as (n, b, 4)."""
    encoded = np.asarray(encoded)
    n, b = encoded.shape[0], encoded.shape[1]
    if b > max_blocks:
        raise ValueError(f"cells have {b} blocks but the predictor was built for at most {max_blocks}")
    inputs = np.zeros((n, max_blocks, 2), dtype=np.int32)
    operators = np.zeros((n, max_blocks, 2), dtype=np.int32)
    inputs[:, :b] = encoded[:, :, [0, 2]] + 3
    operators[:, :b] = encoded[:, :, [1, 3]] + 1
    return inputs, operators


def build_member(max_blocks: int, n_operators: int, settings: AccuracySettings, name: str = "member"):
    import keras
    from keras import layers

    regularizer = keras.regularizers.L2(settings.l2)
    inputs = keras.Input((max_blocks, 2), dtype="int32", name="inputs")
    operators = keras.Input((max_blocks, 2), dtype="int32", name="operators")
    embedded_inputs = layers.Embedding(max_blocks + 3, settings.embedding_dim, embeddings_regularizer=regularizer)(
        inputs
    )
    embedded_ops = layers.Embedding(n_operators + 1, settings.embedding_dim, embeddings_regularizer=regularizer)(
        operators
    )
    # (B, 2, d) each -> one vector of 4d per block: the sequence the attention reads.
    blocks = layers.Reshape((max_blocks, 4 * settings.embedding_dim))(
        layers.Concatenate(axis=-1)([embedded_inputs, embedded_ops])
    )
    query = layers.Conv1D(settings.conv_filters, 1, activation="relu", kernel_regularizer=regularizer)(blocks)
    key = layers.Conv1D(settings.conv_filters, 1, activation="relu", kernel_regularizer=regularizer)(blocks)
    attended = layers.Attention()([query, key])
    hidden = layers.Bidirectional(
        layers.LSTM(settings.lstm_units, kernel_regularizer=regularizer, recurrent_regularizer=regularizer)
    )(attended)
    output = layers.Dense(1, activation="sigmoid", kernel_regularizer=regularizer)(hidden)
    return keras.Model([inputs, operators], output, name=name)


class AccuracyEnsemble:
    """Members trained on the folds of a seeded K-fold split; predicts their mean."""

    def __init__(self, max_blocks: int, n_operators: int, settings: AccuracySettings, seed: int):
        self.max_blocks, self.n_operators, self.settings, self.seed = max_blocks, n_operators, settings, seed
        self.members: list = []
        self.cv_scores: dict = {}
        self._fused = None

    def fit(self, inputs: np.ndarray, operators: np.ndarray, accuracy: np.ndarray) -> AccuracyEnsemble:
        import keras
        from scipy.stats import spearmanr

        accuracy = np.asarray(accuracy, dtype=np.float32)
        if len(accuracy) < self.settings.members:
            raise ValueError(
                f"the accuracy predictor needs at least {self.settings.members} trained cells; got {len(accuracy)}"
            )
        splits = KFold(self.settings.members, shuffle=True, random_state=self.seed).split(inputs)
        self.members, fold_mae, fold_spearman = [], [], []
        for k, (train_idx, val_idx) in enumerate(splits):
            keras.utils.set_random_seed(self.seed + k)
            member = build_member(self.max_blocks, self.n_operators, self.settings, name=f"member{k}")
            member.compile(optimizer=keras.optimizers.Adam(self.settings.learning_rate), loss="mse")
            member.fit(
                [inputs[train_idx], operators[train_idx]],
                accuracy[train_idx],
                epochs=self.settings.epochs,
                batch_size=self.settings.batch_size,
                shuffle=True,
                verbose=0,
            )
            held_out = member.predict([inputs[val_idx], operators[val_idx]], verbose=0)[:, 0]
            fold_mae.append(float(np.mean(np.abs(held_out - accuracy[val_idx]))))
            rho = spearmanr(held_out, accuracy[val_idx]).statistic if len(val_idx) > 2 else float("nan")
            fold_spearman.append(float(rho))
            self.members.append(member)
        self.cv_scores = {"mae_folds": fold_mae, "spearman_folds": fold_spearman}
        self._fused = None
        return self

    def fused(self):
        """One model averaging all members: one call scores a chunk with the whole ensemble."""
        if self._fused is None:
            import keras

            inputs = keras.Input((self.max_blocks, 2), dtype="int32", name="inputs")
            operators = keras.Input((self.max_blocks, 2), dtype="int32", name="operators")
            outputs = [member([inputs, operators]) for member in self.members]
            mean = keras.layers.Average()(outputs) if len(outputs) > 1 else outputs[0]
            self._fused = keras.Model([inputs, operators], mean, name="ensemble")
        return self._fused

    def predict(self, inputs: np.ndarray, operators: np.ndarray, chunk: int = 32768) -> np.ndarray:
        model = self.fused()
        predictions = np.empty(len(inputs), dtype=np.float32)
        for start in range(0, len(inputs), chunk):
            stop = start + chunk
            predictions[start:stop] = np.asarray(model.predict_on_batch([inputs[start:stop], operators[start:stop]]))[
                :, 0
            ]
        return predictions

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for k, member in enumerate(self.members):
            member.save(folder / f"member{k}.keras")
        info = {
            "kind": "lstm",
            "max_blocks": self.max_blocks,
            "n_operators": self.n_operators,
            "seed": self.seed,
            "settings": asdict(self.settings),
            "cv_scores": self.cv_scores,
        }
        (folder / "info.json").write_text(json.dumps(info, indent=2) + "\n")


def _load_ensemble(folder: Path, info: dict) -> AccuracyEnsemble:
    import keras

    ensemble = AccuracyEnsemble(
        info["max_blocks"], info["n_operators"], AccuracySettings(**info["settings"]), info["seed"]
    )
    ensemble.members = [keras.saving.load_model(folder / f"member{k}.keras") for k in range(ensemble.settings.members)]
    ensemble.cv_scores = info["cv_scores"]
    return ensemble


def operator_counts(operators: np.ndarray, n_operators: int) -> np.ndarray:
    """(n, n_operators) uses of each operator in cells given as (n, B, 2) operator codes."""
    codes = np.asarray(operators).reshape(len(operators), -1)
    return np.stack([(codes == k + 1).sum(axis=1) for k in range(n_operators)], axis=1).astype(float)


def logit(accuracy: np.ndarray) -> np.ndarray:
    clipped = np.clip(accuracy, 1e-3, 1 - 1e-3)
    return np.log(clipped / (1 - clipped))


def sigmoid(value: np.ndarray) -> np.ndarray:
    """The inverse of `logit`."""
    return 1 / (1 + np.exp(-value))


class SavedRidge:
    """What the ridges share: a linear model of logit(accuracy) on standardised features,
    saved as JSON coefficients in info.json (its `kind`, then the fields of `saved_fields`)."""

    KIND = ""

    def __init__(self, max_blocks: int, n_operators: int, settings: AccuracySettings, seed: int):
        self.max_blocks, self.n_operators, self.settings, self.seed = max_blocks, n_operators, settings, seed
        self.mean = self.scale = self.coef = np.zeros(0)
        self.intercept, self.alpha = 0.0, 0.0
        self.cv_scores: dict = {}

    def saved_fields(self) -> dict:
        """What a kind saves beyond the linear model (none here)."""
        return {}

    def _linear(self, design: np.ndarray) -> np.ndarray:
        """The linear model's logit(accuracy) of each row of unstandardised features."""
        return (design - self.mean) / self.scale @ self.coef + self.intercept

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        info = {
            "kind": self.KIND,
            "max_blocks": self.max_blocks,
            "n_operators": self.n_operators,
            "seed": self.seed,
            "settings": asdict(self.settings),
            "cv_scores": self.cv_scores,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "alpha": self.alpha,
            **self.saved_fields(),
        }
        (folder / "info.json").write_text(json.dumps(info, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path, info: dict) -> SavedRidge:
        model = cls(info["max_blocks"], info["n_operators"], AccuracySettings(**info["settings"]), info["seed"])
        model.mean, model.scale, model.coef = (np.asarray(info[key], dtype=float) for key in ("mean", "scale", "coef"))
        model.intercept, model.alpha, model.cv_scores = info["intercept"], info["alpha"], info["cv_scores"]
        for key in model.saved_fields():
            setattr(model, key, info[key])
        return model


class OperatorRidge(SavedRidge):
    """Ridge regression of logit(accuracy) on the operator counts, standardised."""

    KIND = "ridge_ops"
    ALPHAS = np.logspace(-3, 3, 13)

    def fit(self, inputs: np.ndarray, operators: np.ndarray, accuracy: np.ndarray) -> OperatorRidge:
        from sklearn.linear_model import RidgeCV

        accuracy = np.asarray(accuracy, dtype=float)
        if len(accuracy) < 2:
            raise ValueError(f"the accuracy predictor needs at least 2 trained cells; got {len(accuracy)}")
        counts = operator_counts(operators, self.n_operators)
        self.mean, spread = counts.mean(axis=0), counts.std(axis=0)
        self.scale = np.where(spread > 0, spread, 1.0)  # an operator no cell varies in weighs nothing
        ridge = RidgeCV(alphas=self.ALPHAS).fit((counts - self.mean) / self.scale, logit(accuracy))
        self.coef, self.intercept, self.alpha = ridge.coef_, float(ridge.intercept_), float(ridge.alpha_)
        self.cv_scores = {"alpha": self.alpha, "loo_mse_logit": float(ridge.best_score_ * -1)}
        return self

    def predict(self, inputs: np.ndarray, operators: np.ndarray, chunk: int = 32768) -> np.ndarray:
        return sigmoid(self._linear(operator_counts(operators, self.n_operators))).astype(np.float32)


def wiring_features(inputs: np.ndarray, operators: np.ndarray, max_blocks: int, n_operators: int) -> dict:
    """Feature groups of cells given as (n, B, 2) input and operator codes, each (n, width):

    - `operators`: each operator's count (what `ridge_ops` reads);
    - `inputs`: how many times each input (-2, -1, block 0, ...) is read, and the shape of
      the cell: its blocks, those no later block reads (concatenated at the output), its
      depth (the longest chain of blocks);
    - `pairs`: how many times each operator reads each input;
    - `positions`: the operator and the input of each slot of each block (one-hot), which
      tells apart cells that differ only in how they are wired.
    """
    inputs, operators = np.asarray(inputs), np.asarray(operators)
    n, n_inputs = len(inputs), max_blocks + 2
    op_onehot = operators.reshape(n, -1)[..., None] == np.arange(1, n_operators + 1)  # (n, 2B, operators)
    in_onehot = inputs.reshape(n, -1)[..., None] == np.arange(1, n_inputs + 1)  # (n, 2B, inputs)
    reads = in_onehot.sum(axis=1)  # (n, inputs)
    present = operators[:, :, 0] > 0  # (n, B)
    unread = (present & (reads[:, 2:] == 0)).sum(axis=1)
    depth = np.zeros((n, max_blocks))
    for j in range(max_blocks):  # a block is one deeper than the deepest block it reads
        source = inputs[:, j] - 3  # block index read by each slot, negative for a lookback or padding
        before = np.where(source >= 0, np.take_along_axis(depth, np.clip(source, 0, None), axis=1), 0)
        depth[:, j] = np.where(present[:, j], 1 + before.max(axis=1), 0)
    shape = np.stack([present.sum(axis=1), unread, depth.max(axis=1)], axis=1)
    op_float, in_float = op_onehot.astype(np.float32), in_onehot.astype(np.float32)
    return {
        "operators": op_onehot.sum(axis=1).astype(float),
        "inputs": np.hstack([reads, shape]).astype(float),
        "pairs": (op_float.transpose(0, 2, 1) @ in_float).reshape(n, -1).astype(float),  # (n, operators x inputs)
        "positions": np.hstack([op_onehot.reshape(n, -1), in_onehot.reshape(n, -1)]).astype(float),
    }


def chain_features(inputs: np.ndarray, operators: np.ndarray, max_blocks: int, n_operators: int) -> np.ndarray:
    """(n, operators x operators): how many times operator k's output is read by operator l,
    over every edge from a block to a later block of cells given as (n, B, 2) input and
    operator codes: the operator pairs that follow each other along the cell's paths."""
    inputs, operators = np.asarray(inputs), np.asarray(operators)
    n = len(inputs)
    op_onehot = (operators.reshape(n, -1)[..., None] == np.arange(1, n_operators + 1)).astype(np.float32)
    block_ops = op_onehot.reshape(n, max_blocks, 2, n_operators).sum(axis=2)  # (n, B, operators)
    source = inputs.reshape(n, -1) - 3  # the block each slot reads; negative for a lookback or padding
    read = np.take_along_axis(block_ops, np.clip(source, 0, None)[..., None], axis=1) * (source >= 0)[..., None]
    return (read.transpose(0, 2, 1) @ op_onehot).reshape(n, -1).astype(float)  # (n, 2B, k) x (n, 2B, l)


def loo_ridge(design: np.ndarray, target: np.ndarray, alphas: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(leave-one-out mean squared error, alpha, coefficients) of the ridge regression of
    `target` on the centred `design` (with an intercept: target's mean) whose alpha, of
    `alphas`, has the least leave-one-out error. One thin SVD serves every alpha: each
    held-out residual is the residual over one minus the point's leverage."""
    n = len(target)
    centred = target - target.mean()
    u, singular, vt = np.linalg.svd(design, full_matrices=False)
    projected = u.T @ centred
    best = None
    for alpha in alphas:
        shrink = singular**2 / (singular**2 + alpha)
        residual = centred - u @ (shrink * projected)
        leverage = (u**2) @ shrink + 1.0 / n  # the intercept's share of each point is 1/n
        error = float(np.mean((residual / (1.0 - leverage)) ** 2))
        if best is None or error < best[0]:
            best = (error, float(alpha), vt.T @ (singular / (singular**2 + alpha) * projected))
    return best


class WiringRidge(SavedRidge):
    """Ridge regression of logit(accuracy) on the operator counts and the cell's wiring.

    The feature groups (wiring_features) are standardised, and each wiring group is scaled
    by a weight of its own before one ridge: a smaller weight is a stronger penalty on that
    group. The weights and the ridge's strength are chosen together by leave-one-out error,
    so with few trained cells the wiring weighs little or nothing (the operator counts are
    then the prior, as in `ridge_ops`) and it counts once the data supports it.
    """

    KIND = "ridge_wiring"
    ALPHAS = np.logspace(-3, 3, 13)
    WEIGHTS = (0.1, 0.3, 1.0)  # of each wiring group, against the operator counts' 1: never 0, so rewirings differ
    WIRING = ("inputs", "pairs", "positions")

    def __init__(self, max_blocks: int, n_operators: int, settings: AccuracySettings, seed: int):
        super().__init__(max_blocks, n_operators, settings, seed)
        self.weights = dict.fromkeys(self.WIRING, 0.0)

    def saved_fields(self) -> dict:
        return {"weights": self.weights}

    def _design(self, inputs: np.ndarray, operators: np.ndarray) -> np.ndarray:
        groups = wiring_features(inputs, operators, self.max_blocks, self.n_operators)
        return np.hstack([groups["operators"], *(groups[name] for name in self.WIRING)])

    def _group_weights(self, weights: dict) -> np.ndarray:
        """Each design column's weight: 1 for the operator counts, its group's for the wiring."""
        k, i, slots = self.n_operators, self.max_blocks + 2, 2 * self.max_blocks
        widths = {"inputs": i + 3, "pairs": k * i, "positions": slots * (k + i)}  # as wiring_features makes them
        return np.concatenate([np.ones(k), *(np.full(widths[group], weights[group]) for group in self.WIRING)])

    def fit(self, inputs: np.ndarray, operators: np.ndarray, accuracy: np.ndarray) -> WiringRidge:
        return self._fit_design(self._design(inputs, operators), accuracy)

    def _fit_design(self, design: np.ndarray, accuracy: np.ndarray) -> WiringRidge:
        """Fit on the cells' unstandardised features (`_design`)."""
        from itertools import product

        accuracy = np.asarray(accuracy, dtype=float)
        if len(accuracy) < 3:
            raise ValueError(f"the accuracy predictor needs at least 3 trained cells; got {len(accuracy)}")
        self.mean, spread = design.mean(axis=0), design.std(axis=0)
        self.scale = np.where(spread > 0, spread, 1.0)  # a feature no cell varies in weighs nothing
        standardised, target = (design - self.mean) / self.scale, logit(accuracy)
        best = None
        for chosen in product(self.WEIGHTS, repeat=len(self.WIRING)):  # the plainest first: ties keep it
            weights = dict(zip(self.WIRING, chosen, strict=True))
            group = self._group_weights(weights)
            error, alpha, coef = loo_ridge(standardised * group, target, self.ALPHAS)
            if best is None or error < best[0] - 1e-12:
                best = (error, weights, alpha, coef * group)
        error, self.weights, self.alpha, self.coef = best
        self.intercept = float(target.mean())
        self.cv_scores = {"alpha": self.alpha, "weights": self.weights, "loo_mse_logit": error}
        return self

    def predict(self, inputs: np.ndarray, operators: np.ndarray, chunk: int = 32768) -> np.ndarray:
        predictions = np.empty(len(inputs), dtype=np.float32)
        for start in range(0, len(inputs), chunk):
            stop = start + chunk
            predictions[start:stop] = sigmoid(self._linear(self._design(inputs[start:stop], operators[start:stop])))
        return predictions


class BoostedWiring(WiringRidge):
    """`ridge_wiring`, then gradient-boosted trees (CatBoost) fitted to its residuals.

    The ridge is the prior: with few trained cells its residuals are mostly noise, and the
    trees, starting from its predictions with a small learning rate, move them little. The
    trees read the ridge's features and `chain_features`, and learn what a sum of
    per-feature effects cannot: an operator that helps in one place and hurts in another,
    or a path whose worth depends on the operators along it. TREES was chosen on the
    real-label replays (bench_accuracy_real_labels, BENCHMARKS.md); the trees are
    deterministic for a seed whatever the thread count.
    """

    KIND = "boosted_wiring"
    TREES = {"iterations": 1500, "depth": 6, "learning_rate": 0.03}
    TREES_FILE = "trees.cbm"

    def __init__(self, max_blocks: int, n_operators: int, settings: AccuracySettings, seed: int):
        super().__init__(max_blocks, n_operators, settings, seed)
        self.trees = None  # a CatBoostRegressor of the ridge's residual logit, None while the residuals are constant

    def _tree_features(self, design: np.ndarray, inputs: np.ndarray, operators: np.ndarray) -> np.ndarray:
        return np.hstack([design, chain_features(inputs, operators, self.max_blocks, self.n_operators)])

    def fit(self, inputs: np.ndarray, operators: np.ndarray, accuracy: np.ndarray) -> BoostedWiring:
        from catboost import CatBoostRegressor

        design = self._design(inputs, operators)
        self._fit_design(design, accuracy)
        residual = logit(np.asarray(accuracy, dtype=float)) - self._linear(design)
        self.trees = None
        if np.ptp(residual) > 1e-9:  # CatBoost refuses a constant target
            self.trees = CatBoostRegressor(**self.TREES, random_seed=self.seed, verbose=0, allow_writing_files=False)
            self.trees.fit(self._tree_features(design, inputs, operators), residual)
        return self

    def predict(self, inputs: np.ndarray, operators: np.ndarray, chunk: int = 32768) -> np.ndarray:
        predictions = np.empty(len(inputs), dtype=np.float32)
        for start in range(0, len(inputs), chunk):
            part = inputs[start : start + chunk], operators[start : start + chunk]
            design = self._design(*part)
            value = self._linear(design)
            if self.trees is not None:
                value = value + self.trees.predict(self._tree_features(design, *part))
            predictions[start : start + chunk] = sigmoid(value)
        return predictions

    def save(self, folder: str | Path) -> None:
        super().save(folder)
        trees = Path(folder) / self.TREES_FILE
        if self.trees is not None:
            self.trees.save_model(str(trees))
        else:
            trees.unlink(missing_ok=True)

    @classmethod
    def load(cls, folder: Path, info: dict) -> BoostedWiring:
        from catboost import CatBoostRegressor

        model = super().load(folder, info)
        trees = Path(folder) / cls.TREES_FILE
        model.trees = CatBoostRegressor().load_model(str(trees)) if trees.exists() else None
        return model


AccuracyModel = AccuracyEnsemble | OperatorRidge | WiringRidge | BoostedWiring


@dataclass(frozen=True)
class AccuracyModelKind:
    build: Callable[[int, int, AccuracySettings, int], AccuracyModel]  # (max_blocks, n_operators, settings, seed)
    load: Callable[[Path, dict], AccuracyModel]  # (folder, its info.json)


ACCURACY_MODELS: dict[str, AccuracyModelKind] = {
    "lstm": AccuracyModelKind(AccuracyEnsemble, _load_ensemble),
    "ridge_ops": AccuracyModelKind(OperatorRidge, OperatorRidge.load),
    "ridge_wiring": AccuracyModelKind(WiringRidge, WiringRidge.load),
    "boosted_wiring": AccuracyModelKind(BoostedWiring, BoostedWiring.load),
}


def accuracy_model(max_blocks: int, n_operators: int, settings: AccuracySettings, seed: int) -> AccuracyModel:
    """An unfitted accuracy predictor of the kind `settings.model`."""
    try:
        kind = ACCURACY_MODELS[settings.model]
    except KeyError:
        raise ValueError(
            f"unknown accuracy predictor {settings.model!r}; choose one of {', '.join(ACCURACY_MODELS)}"
        ) from None
    return kind.build(max_blocks, n_operators, settings, seed)


def load_accuracy_model(folder: str | Path) -> AccuracyModel:
    """Reload an accuracy predictor saved by its `save`, without refitting."""
    folder = Path(folder)
    info = json.loads((folder / "info.json").read_text())
    kind = info.get("kind", "lstm")  # saved before there were kinds
    info["settings"] = {"model": kind, **info["settings"]}
    return ACCURACY_MODELS[kind].load(folder, info)
