"""Time predictors (paper 3.3.2): `work_nnls` by default (ours: NNLS on the network's counted
work, which extrapolates to a new step); the paper's CatBoost; NNLS, Ridge and XGBoost for
its Table 1; `nnls_catboost` (ours, the default before `work_nnls`).

The paper's kinds fit on its nine time features (features.FEATURE_NAMES); `work_nnls` on
the five work counts of the network (work.WORK_NAMES). Callers pass both, side by side, and
each kind takes its own columns (`inputs_of`).

Every kind with hyperparameters fits them with a seeded random search, scored by 5-fold
cross-validation (mean validation MAPE), and is refit on all the data with the best
configuration. The boosted models stop early on each validation fold (patience 50 of up to
2500 iterations) and are refit with the mean best iteration count of the folds: the paper
refits "with the best hyperparameters" and the number of trees is the one that early
stopping chose.

All kinds share one interface (`fit`, `predict`, `save`, `load_time_predictor`), take
their thread count from the caller, and write nothing outside the folder they are saved to.
Each kind is one entry of TIME_MODELS (at the end of this file): its inputs, whether it is
tuned and extrapolates, and how it is built, fitted on a fold, saved and loaded. Adding a
kind is adding an entry; the schema's enum of `predictors.time.model` is checked against it.

Every kind predicts the time of a training alone on its device, the paper's t. A time
measured while k trainings shared the device (`concurrent` in trained.csv, the mean k over
the training) is taken as t_alone * k^alpha: `sharing.sharing_fit` estimates alpha in [0, 1]
from the rows (0: the device had room to spare; 1: it was time-sliced, each training
getting 1/k of it), and the predictor is fitted on t / k^alpha. Where every row trained alone, as without
`devices.trainings_per_gpu`, alpha is 0 and the fit is the one on t, bit for bit.

The boosted models are saved in their libraries' own formats (public and versioned). The
linear models (NNLS, Ridge, work_nnls) are fitted with scikit-learn but kept as a
`linear.LinearModel`, saved as plain JSON and evaluated with numpy. The sharing exponent
is popnas_steps.sharing's.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from popnas_steps.features import FEATURE_NAMES
from popnas_steps.linear import LinearModel, fit_nonnegative
from popnas_steps.sharing import SharingFit, sharing_fit
from popnas_steps.work import WORK_NAMES

LINEAR_FILE = "linear.json"


@dataclass(frozen=True)
class TimeSettings:
    """The `predictors.time` config slice."""

    model: str = "work_nnls"
    search_iterations: int = 20
    folds: int = 5
    validation: str = "kfold"
    max_iterations: int = 2500
    early_stopping: int = 50


def mape(true: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute percentage error, in percent."""
    true, predicted = np.asarray(true, dtype=float), np.asarray(predicted, dtype=float)
    return float(np.mean(np.abs((predicted - true) / true)) * 100)


def inputs_of(kind: str, features: np.ndarray) -> np.ndarray:
    """The columns kind `kind` fits on, out of the paper's nine features followed by the work
    counts (the work counts may be absent where only a paper kind is used)."""
    features = np.asarray(features, dtype=float)
    paper = len(FEATURE_NAMES)
    if TIME_MODELS[kind].inputs == "features":
        return features[:, :paper]
    if features.shape[1] != paper + len(WORK_NAMES):
        raise ValueError(
            f"the time predictor {kind!r} needs the work counts of the networks ({', '.join(WORK_NAMES)}), "
            "which need the data's input shape and class count (the dataset's metadata.json, `fit --data`); "
            "none was given to these predictors"
        )
    return features[:, paper:]


def forward_split(features: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """One split: the cells of the steps before the last (by feature 0, the block count) to
    fit, those of the last step to score, as a search fits on steps < b and predicts step b.
    None where either side has fewer than 2 cells."""
    blocks = np.asarray(features)[:, 0]
    last = blocks.max() if len(blocks) else 0
    train, validate = np.flatnonzero(blocks < last), np.flatnonzero(blocks == last)
    return [(train, validate)] if len(train) >= 2 and len(validate) >= 2 else None


class WorkNNLS:
    """`work_nnls`: time = c0 + sum_k c_k * work_k with every c_k >= 0 (work.WORK_NAMES),
    fitted by linear.fit_nonnegative.

    Each count is a sum over the network's layers, and a larger cell only adds layers, so a
    model additive in them carries its coefficients (seconds per multiply-add, per value
    written, per layer) to cells larger than those it was fitted on. Non-negative, because
    no work makes a training faster.
    """

    def __init__(self):
        self.linear: LinearModel | None = None

    def fit(self, features: np.ndarray, times: np.ndarray) -> WorkNNLS:
        self.linear = fit_nonnegative(features, times)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.linear.predict(features)


class LinearTimesTrees:
    """`nnls_catboost`: NNLS on the features, times CatBoost's correction exp(log(t / NNLS)).

    Trees cannot predict beyond the times they were fitted on, and every cell of a new step
    is larger than the cells fitted. The linear part, monotone in the work, carries a new
    step's larger times; the trees learn a bounded, multiplicative correction, which stays in
    range when the cells grow.
    """

    def __init__(self, trees, linear: LinearModel | None = None, floor: float = 0.0, exact: bool = False):
        self.trees, self.linear, self.floor = trees, linear, floor
        self.exact = exact  # the linear part fits every time: nothing for the trees to correct

    def _base(self, features: np.ndarray) -> np.ndarray:
        return np.maximum(self.linear.predict(features), self.floor)

    def fit(self, features, times, eval_set=None, early_stopping_rounds=None) -> LinearTimesTrees:
        from sklearn.linear_model import LinearRegression

        self.linear = LinearModel.from_estimator(LinearRegression(positive=True).fit(features, times))
        self.floor = 0.05 * float(np.min(times))  # a positive base where the linear part is near zero
        if eval_set is not None:
            eval_set = (eval_set[0], np.log(eval_set[1] / self._base(eval_set[0])))
        target = np.log(times / self._base(features))
        self.exact = bool(np.ptp(target) < 1e-9)  # CatBoost refuses a constant target
        if not self.exact:
            self.trees.fit(features, target, eval_set=eval_set, early_stopping_rounds=early_stopping_rounds)
        return self

    def get_best_iteration(self) -> int:
        return 0 if self.exact else self.trees.get_best_iteration()

    def predict(self, features: np.ndarray) -> np.ndarray:
        correction = 0.0 if self.exact else self.trees.predict(features)
        return self._base(features) * np.exp(correction)


@dataclass
class TimePredictor:
    kind: str
    settings: TimeSettings
    seed: int
    threads: int
    hyperparameters: dict = field(default_factory=dict)
    cv_scores: dict = field(default_factory=dict)
    model: object = None
    sharing_exponent: float = 0.0  # alpha of t = t_alone * k^alpha; predictions are at k = 1
    sharing: SharingFit | None = None  # how alpha was reached (None: no counts given, or loaded)

    @property
    def spec(self) -> TimeModelKind:
        return time_model(self.kind)

    def _new_model(self, params: dict, iterations: int | None = None):
        return self.spec.build(self, params, iterations)

    # --- fitting and prediction ---------------------------------------------------------

    def fit(self, features: np.ndarray, times: np.ndarray, concurrent: np.ndarray | None = None) -> TimePredictor:
        """Fit on the times measured; with `concurrent` (each time's mean count of trainings
        on its device), on the times alone on the device that they imply (sharing_exponent)."""
        from sklearn.model_selection import KFold  # here, so that a reloaded predictor needs no scikit-learn

        times = np.asarray(times, dtype=float)
        splits = forward_split(features) if self.settings.validation == "forward" else None  # by the block count
        features = inputs_of(self.kind, features)
        if concurrent is not None:
            self.sharing = sharing_fit(features, times, concurrent, self.seed, self.threads)
            self.sharing_exponent = self.sharing.alpha
            if self.sharing_exponent > 0.0:
                times = times / np.asarray(concurrent, dtype=float) ** self.sharing_exponent
        folds = min(self.settings.folds, len(times))
        if folds < 2:
            raise ValueError(f"the time predictor needs at least 2 trained cells; got {len(times)}")
        if splits is None:
            splits = list(KFold(folds, shuffle=True, random_state=self.seed).split(features))
        rng = np.random.default_rng(self.seed)
        trials = self.settings.search_iterations if self.spec.tuned else 1
        best = None
        for _ in range(trials):
            params = self.spec.sample(rng)
            scores, iterations = [], []
            for train_idx, val_idx in splits:
                model = self._new_model(params)
                best_iteration = self.spec.fit_fold(
                    model, features[train_idx], times[train_idx], features[val_idx], times[val_idx], self.settings
                )
                scores.append(mape(times[val_idx], model.predict(features[val_idx])))
                iterations.append(best_iteration)
            if best is None or np.mean(scores) < best[0]:
                best = (float(np.mean(scores)), params, scores, iterations)
        score, params, scores, iterations = best
        refit_iterations = int(round(np.mean(iterations))) if iterations[0] is not None else None
        self.model = self._new_model(params, refit_iterations)
        self.model.fit(features, times)
        self.model = self.spec.kept(self.model)  # the same numbers and code as after `load_time_predictor`
        self.hyperparameters = {**params, **({"iterations": refit_iterations} if refit_iterations else {})}
        self.cv_scores = {"mape_mean": score, "mape_folds": [float(s) for s in scores], "trials": trials}
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted times of cells given the paper's nine features and the work counts
        side by side (the work counts may be absent for a paper kind)."""
        return np.asarray(self.model.predict(inputs_of(self.kind, features)), dtype=float)

    # --- persistence ----------------------------------------------------------------------

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        info = {
            "kind": self.kind,
            "seed": self.seed,
            "settings": self.settings.__dict__,
            "hyperparameters": self.hyperparameters,
            "cv_scores": self.cv_scores,
            "sharing_exponent": self.sharing_exponent,
            **({"sharing": dataclasses.asdict(self.sharing)} if self.sharing is not None else {}),
        }
        self.spec.save(self.model, folder)
        (folder / "info.json").write_text(json.dumps(info, indent=2) + "\n")


def fit_time_predictor(
    features: np.ndarray,
    times: np.ndarray,
    settings: TimeSettings,
    seed: int,
    threads: int,
    concurrent: np.ndarray | None = None,
) -> TimePredictor:
    """Fit the configured kind of time predictor (on the times alone on the device, given
    each time's `concurrent`: TimePredictor.fit)."""
    time_model(settings.model)  # a clear error for an unknown kind, before any work
    return TimePredictor(settings.model, settings, seed, threads).fit(features, times, concurrent)


def load_time_predictor(folder: str | Path, threads: int = 1) -> TimePredictor:
    """Reload a predictor saved by `TimePredictor.save`, without refitting."""
    folder = Path(folder)
    info = json.loads((folder / "info.json").read_text())
    settings = TimeSettings(**info["settings"])
    predictor = TimePredictor(info["kind"], settings, info["seed"], threads, info["hyperparameters"], info["cv_scores"])
    predictor.sharing_exponent = float(info.get("sharing_exponent", 0.0))  # absent: saved before sharing
    predictor.model = time_model(predictor.kind).load(folder, info, threads)
    return predictor


def _load_linear(folder: Path, info: dict, threads: int = 1) -> LinearModel:
    """The linear model of `folder`; folders saved before LINEAR_FILE existed kept its numbers in info.json."""
    path = folder / LINEAR_FILE
    if path.exists():
        return LinearModel.from_json(json.loads(path.read_text()))
    return LinearModel.from_json({"coefficients": info["coefficients"], "intercept": info["intercept"]})


# --- the kinds: how each is built, tuned, fitted on a fold, saved and loaded ------------------


def _catboost(predictor: TimePredictor, params: dict, iterations: int | None):
    from catboost import CatBoostRegressor

    return CatBoostRegressor(
        iterations=iterations or predictor.settings.max_iterations,
        random_seed=predictor.seed,
        thread_count=predictor.threads,
        allow_writing_files=False,  # no catboost_info/ in the working directory
        verbose=False,
        **params,
    )


def _xgboost(predictor: TimePredictor, params: dict, iterations: int | None):
    from xgboost import XGBRegressor

    return XGBRegressor(
        n_estimators=iterations or predictor.settings.max_iterations,
        early_stopping_rounds=None if iterations else predictor.settings.early_stopping,
        random_state=predictor.seed,
        n_jobs=predictor.threads,
        **params,
    )


def _ridge(predictor: TimePredictor, params: dict, iterations: int | None):
    from sklearn.linear_model import Ridge

    return Ridge(**params)


def _nnls(predictor: TimePredictor, params: dict, iterations: int | None):
    from sklearn.linear_model import LinearRegression

    return LinearRegression(positive=True)


def _nnls_catboost(predictor: TimePredictor, params: dict, iterations: int | None):
    return LinearTimesTrees(_catboost(predictor, params, iterations))


def _work_nnls(predictor: TimePredictor, params: dict, iterations: int | None):
    return WorkNNLS()


def _sample_catboost(rng: np.random.Generator) -> dict:
    """The paper's search space of CatBoost's hyperparameters."""
    return {
        "learning_rate": float(rng.uniform(0.02, 0.2)),
        "depth": int(rng.integers(3, 8)),  # randint(3, 7) inclusive
        "l2_leaf_reg": float(rng.uniform(0.1, 5)),
        "random_strength": float(rng.uniform(0.3, 3)),
        "bagging_temperature": float(rng.uniform(0.3, 3)),
    }


def _sample_xgboost(rng: np.random.Generator) -> dict:
    return {
        "learning_rate": float(rng.uniform(0.02, 0.2)),
        "max_depth": int(rng.integers(3, 8)),
        "reg_lambda": float(rng.uniform(0.1, 5)),
        "subsample": float(rng.uniform(0.6, 1.0)),
        "colsample_bytree": float(rng.uniform(0.6, 1.0)),
    }


def _sample_ridge(rng: np.random.Generator) -> dict:
    return {"alpha": float(10 ** rng.uniform(-3, 2))}


def _no_hyperparameters(rng: np.random.Generator) -> dict:
    return {}


def _fit_catboost_fold(model, x_train, y_train, x_val, y_val, settings: TimeSettings) -> int:
    model.fit(x_train, y_train, eval_set=(x_val, y_val), early_stopping_rounds=settings.early_stopping)
    return model.get_best_iteration() + 1


def _fit_xgboost_fold(model, x_train, y_train, x_val, y_val, settings: TimeSettings) -> int:
    model.fit(x_train, y_train, eval_set=[(x_val, y_val)], verbose=False)
    return model.best_iteration + 1


def _fit_fold(model, x_train, y_train, x_val, y_val, settings: TimeSettings) -> None:
    model.fit(x_train, y_train)  # no early stopping: nothing to count


@dataclass(frozen=True)
class OwnFormat:
    """A boosted model saved in its library's own format (public and versioned), one file."""

    file_name: str
    new_model: Callable[[int], object]  # an empty model of the library, given the thread count

    def save(self, model, folder: Path) -> None:
        model.save_model(str(folder / self.file_name))

    def load(self, folder: Path, info: dict, threads: int):
        model = self.new_model(threads)
        model.load_model(str(folder / self.file_name))
        return model


def _empty_catboost(threads: int):
    from catboost import CatBoostRegressor

    return CatBoostRegressor(thread_count=threads)


def _empty_xgboost(threads: int):
    from xgboost import XGBRegressor

    return XGBRegressor(n_jobs=threads)


CATBOOST_FORMAT = OwnFormat("model.cbm", _empty_catboost)
XGBOOST_FORMAT = OwnFormat("model.json", _empty_xgboost)


def _save_linear_times_trees(model: LinearTimesTrees, folder: Path) -> None:
    if not model.exact:
        CATBOOST_FORMAT.save(model.trees, folder)
    linear = {**model.linear.to_json(), "floor": model.floor, "exact": model.exact}
    (folder / LINEAR_FILE).write_text(json.dumps(linear, indent=2) + "\n")


def _load_linear_times_trees(folder: Path, info: dict, threads: int) -> LinearTimesTrees:
    linear = json.loads((folder / LINEAR_FILE).read_text())
    trees = CATBOOST_FORMAT.load(folder, info, threads) if not linear["exact"] else _empty_catboost(threads)
    return LinearTimesTrees(trees, LinearModel.from_json(linear), linear["floor"], linear["exact"])


def _save_linear(model: LinearModel, folder: Path) -> None:
    (folder / LINEAR_FILE).write_text(json.dumps(model.to_json(), indent=2) + "\n")


def _as_fitted(model):
    return model


def _linear_part(model: WorkNNLS) -> LinearModel:
    return model.linear


@dataclass(frozen=True)
class TimeModelKind:
    """One kind of time model: what it fits on and how it is built, tuned, saved and loaded."""

    name: str
    inputs: str  # "features": the paper's nine (features.FEATURE_NAMES); "work": work.WORK_NAMES
    tuned: bool  # hyperparameters searched (search_iterations trials); else one fit per fold
    extrapolates: bool  # predicts beyond the times fitted (a linear part); trees alone do not
    build: Callable[[TimePredictor, dict, int | None], object]  # (predictor, hyperparameters, refit iterations)
    sample: Callable[[np.random.Generator], dict]  # one random configuration of its hyperparameters
    fit_fold: Callable  # (model, x_train, y_train, x_val, y_val, settings) -> the best iteration count or None
    kept: Callable  # the fitted model -> the form kept, saved and predicted with
    save: Callable[[object, Path], None]
    load: Callable[[Path, dict, int], object]  # (folder, info.json, threads)


TIME_MODELS: dict[str, TimeModelKind] = {
    kind.name: kind
    # in the order of the ablation report's rows (time_ablation.csv)
    for kind in (
        TimeModelKind("catboost", "features", True, False, _catboost, _sample_catboost, _fit_catboost_fold,
                      _as_fitted, CATBOOST_FORMAT.save, CATBOOST_FORMAT.load),
        TimeModelKind("nnls", "features", False, True, _nnls, _no_hyperparameters, _fit_fold,
                      LinearModel.from_estimator, _save_linear, _load_linear),
        TimeModelKind("ridge", "features", True, True, _ridge, _sample_ridge, _fit_fold,
                      LinearModel.from_estimator, _save_linear, _load_linear),
        TimeModelKind("xgboost", "features", True, False, _xgboost, _sample_xgboost, _fit_xgboost_fold,
                      _as_fitted, XGBOOST_FORMAT.save, XGBOOST_FORMAT.load),
        TimeModelKind("nnls_catboost", "features", True, True,
                      _nnls_catboost, _sample_catboost,
                      _fit_catboost_fold, _as_fitted, _save_linear_times_trees, _load_linear_times_trees),
        TimeModelKind("work_nnls", "work", False, True, _work_nnls, _no_hyperparameters, _fit_fold,
                      _linear_part, _save_linear, _load_linear),
    )
}  # fmt: skip


def time_model(kind: str) -> TimeModelKind:
    """The kind named `kind`; ValueError naming the known ones otherwise."""
    try:
        return TIME_MODELS[kind]
    except KeyError:
        raise ValueError(f"unknown time predictor {kind!r}; choose one of {', '.join(TIME_MODELS)}") from None
