"""A fitted linear model kept as the numbers that define it, and the non-negative fit that
makes one from counted work: the `work_nnls` time model (popnas_steps.time_predictor) and the
latency predictor (popnas_steps.predictors) both predict from the work counts this way.

Owned by us rather than scikit-learn so that saving and reloading it relies on no
estimator internals (which change between scikit-learn versions): plain JSON, numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LINEAR_FORMAT = 2  # version of the saved layout (to_json), bumped on any change to its keys (2: floor)


@dataclass(frozen=True)
class LinearModel:
    """y = features @ coefficients + intercept, never below `floor`."""

    coefficients: np.ndarray
    intercept: float
    floor: float = float("-inf")  # the least it predicts (work_nnls: a positive time)

    @classmethod
    def from_estimator(cls, estimator) -> LinearModel:
        """The coefficients of a fitted scikit-learn linear regressor (single target), copied out."""
        coefficients = np.asarray(estimator.coef_, dtype=float).reshape(-1)
        return cls(coefficients, float(np.asarray(estimator.intercept_, dtype=float).reshape(())))

    def predict(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype=float)
        if features.ndim != 2 or features.shape[1] != len(self.coefficients):
            raise ValueError(
                f"the linear model takes {len(self.coefficients)} features per row; got shape {features.shape}"
            )
        return np.maximum(features @ self.coefficients + self.intercept, self.floor)

    def to_json(self) -> dict:
        """Plain lists and numbers (json keeps float64 exactly: it writes the shortest repr)."""
        floor = None if np.isinf(self.floor) else self.floor  # JSON has no infinity
        coefficients = self.coefficients.tolist()
        return {"format": LINEAR_FORMAT, "coefficients": coefficients, "intercept": self.intercept, "floor": floor}

    @classmethod
    def from_json(cls, data: dict) -> LinearModel:
        if data.get("format", LINEAR_FORMAT) not in (1, LINEAR_FORMAT):  # format 1: no floor
            raise ValueError(f"unknown linear model format {data['format']!r}; this code reads {LINEAR_FORMAT}")
        floor = data.get("floor")
        return cls(
            np.asarray(data["coefficients"], dtype=float),
            float(data["intercept"]),
            float("-inf") if floor is None else float(floor),
        )


def fit_nonnegative(features: np.ndarray, targets: np.ndarray) -> LinearModel:
    """y = c0 + sum_k c_k * x_k with every c_k >= 0, floored at 5% of the least target.

    For counts of work (work.WORK_NAMES), which no count makes faster. They span six orders
    of magnitude (layers ~10^2, multiply-adds ~10^8), so they are scaled to [0, 1] for the
    solver; the coefficients kept are those of the raw counts. The floor keeps a prediction
    positive where a negative intercept would outweigh a small network's work.
    """
    from sklearn.linear_model import LinearRegression

    features, targets = np.asarray(features, dtype=float), np.asarray(targets, dtype=float)
    scale = np.abs(features).max(axis=0)
    scale[scale == 0] = 1.0
    fitted = LinearRegression(positive=True).fit(features / scale, targets)
    return LinearModel(fitted.coef_ / scale, float(fitted.intercept_), 0.05 * float(np.min(targets)))
