"""How much trainings that share a device slow each other: alpha of t = t_alone * k^alpha,
k being a training's mean count of trainings on its device (`concurrent` in trained.csv,
1 = alone). The time predictor fits on t / k^alpha (popnas_steps.time_predictor), so that
it predicts the paper's t, a training alone on its device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHARING_TREES = {"iterations": 300, "depth": 4, "learning_rate": 0.1}  # sharing_fit's fixed CatBoost

# Rows needed to estimate alpha, and how much log k must vary (its standard deviation, and
# that of what the features leave of it): k spread over about 5%. Below either, the rows
# cannot tell a slow-down from the cells' own cost, and any estimate is noise.
MIN_SHARING_ROWS = 10
MIN_LOG_K_SPREAD = 0.05


@dataclass(frozen=True)
class SharingFit:
    """alpha of t = t_alone * k^alpha, as estimated: `estimate` is the slope before clipping
    to [0, 1] (None where the rows could not identify it), `why` says how alpha came out."""

    alpha: float
    estimate: float | None
    why: str

    @property
    def clipped(self) -> bool:
        return self.estimate is not None and self.estimate != self.alpha

    def line(self) -> str:
        """The line the fit step logs."""
        if self.estimate is None:
            return f"sharing exponent alpha = {self.alpha:g}: {self.why}"
        clipped = f", clipped from {self.estimate:.3f} to [0, 1]" if self.clipped else ""
        return f"sharing exponent alpha = {self.alpha:.3f}{clipped}: {self.why}"


def sharing_exponent(
    features: np.ndarray, times: np.ndarray, concurrent: np.ndarray, seed: int = 0, threads: int = 1
) -> float:
    """The alpha of t = t_alone * k^alpha (sharing_fit, which says how it was reached)."""
    return sharing_fit(features, times, concurrent, seed, threads).alpha


def sharing_fit(
    features: np.ndarray, times: np.ndarray, concurrent: np.ndarray, seed: int = 0, threads: int = 1
) -> SharingFit:
    """The alpha of t = t_alone * k^alpha, k being each row's mean count of trainings on its
    device (1 = alone), clipped to [0, 1].

    In logs, log t = g(features) + alpha log k: a partially linear model, estimated as
    Robinson (1988) does, with cross-fitting: alpha is the slope of log t's residual on log
    k's residual, each residual out of fold against a CatBoost of the features (SHARING_TREES).
    Removing from log k what the features predict matters: the trainings that outlast the
    others of their step, alone at the end, are the long ones, so k is not independent of
    the cells' cost. Where k barely varies (every row alone, all shared alike, or a spread
    under MIN_LOG_K_SPREAD), or there are fewer than MIN_SHARING_ROWS rows, the rows cannot
    tell a slowdown from the cells' own cost: 0, no correction.
    """
    features, times = np.asarray(features, dtype=float), np.asarray(times, dtype=float)
    concurrent = np.asarray(concurrent, dtype=float)
    if concurrent.shape != times.shape or not np.all(np.isfinite(concurrent) & (concurrent >= 1.0)):
        raise ValueError("each time needs its count of concurrent trainings, a number >= 1 (1 = alone)")
    log_k = np.log(concurrent)
    if np.ptp(concurrent) == 0.0:
        k = concurrent[0]
        alike = "had its device to itself" if k == 1.0 else f"shared its device alike (k = {k:g})"
        return SharingFit(0.0, None, f"every training {alike}: not estimated")
    if len(times) < MIN_SHARING_ROWS:
        return SharingFit(0.0, None, f"{len(times)} trainings, fewer than {MIN_SHARING_ROWS}: not estimated")
    if np.std(log_k) < MIN_LOG_K_SPREAD:
        return SharingFit(0.0, None, f"k barely varies (std of log k {np.std(log_k):.4f} < {MIN_LOG_K_SPREAD}): "
                          "not estimated")  # fmt: skip
    from sklearn.model_selection import KFold

    splits = list(KFold(min(5, len(times)), shuffle=True, random_state=seed).split(features))
    log_t = np.log(np.maximum(times, 1e-6))
    rest_t = log_t - _out_of_fold(features, log_t, splits, seed, threads)
    rest_k = log_k - _out_of_fold(features, log_k, splits, seed, threads)
    if np.std(rest_k) < MIN_LOG_K_SPREAD:
        return SharingFit(0.0, None, f"the cells' features explain k (std of its residual {np.std(rest_k):.4f} < "
                          f"{MIN_LOG_K_SPREAD}): not estimated")  # fmt: skip
    estimate = float(np.sum(rest_t * rest_k) / np.sum(rest_k**2))
    return SharingFit(float(np.clip(estimate, 0.0, 1.0)), estimate, f"estimated on {len(times)} trainings")


def _out_of_fold(features: np.ndarray, target: np.ndarray, splits, seed: int, threads: int) -> np.ndarray:
    """Each row's `target` as predicted by a CatBoost fitted on the other folds."""
    from catboost import CatBoostRegressor

    predicted = np.empty_like(target)
    for train, held in splits:
        if np.ptp(target[train]) == 0.0:  # CatBoost refuses a constant target
            predicted[held] = target[train][0]
            continue
        trees = CatBoostRegressor(
            **SHARING_TREES, random_seed=seed, thread_count=threads, allow_writing_files=False, verbose=False
        )
        predicted[held] = trees.fit(features[train], target[train]).predict(features[held])
    return predicted
