"""A synthetic evaluator: made-up accuracy and time of cells, for fast tests of the search
logic and the predictors. Never the default; real searches train real networks."""

from __future__ import annotations

import numpy as np

from popnas_steps import space
from popnas_steps.features import time_features
from popnas_steps.macro import NetworkSpec

SPEC = NetworkSpec(motifs=3, normal_cells=2)


def synthetic_accuracy(encoded: np.ndarray, n_operators: int) -> np.ndarray:
    """A smooth, nontrivial function of the operators and wiring, in (0, 1)."""
    encoded = np.asarray(encoded)
    weights = np.linspace(-1.0, 1.0, n_operators)
    ops, inputs = encoded[:, :, [1, 3]], encoded[:, :, [0, 2]]
    logit = (
        0.6 * weights[ops].sum(axis=(1, 2))
        + 0.3 * (inputs >= 0).sum(axis=(1, 2))
        - 0.2 * (inputs == -2).sum(axis=(1, 2))
    )
    return 1 / (1 + np.exp(-logit))


def synthetic_reindex(n_operators: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, n_operators) ** 2


def synthetic_time(encoded: np.ndarray, n_operators: int) -> np.ndarray:
    """Seconds that grow nonlinearly with the work of the cell and its structure."""
    f = time_features(encoded, synthetic_reindex(n_operators), SPEC)
    return 5 + 0.4 * f[:, 1] * f[:, 2] ** 1.3 + 2.0 * f[:, 7] + 1.5 * f[:, 6] * f[:, 8]


def sample_cells(rng: np.random.Generator, operators: list[str], per_step: int, max_blocks: int) -> list[np.ndarray]:
    """Random encoded cells for b = 1..max_blocks: per_step of each size, grown by expansion."""
    level = space.encode(space.one_block_cells(operators), operators)
    steps = [level[rng.choice(len(level), min(per_step, len(level)), replace=False)]]
    for _ in range(2, max_blocks + 1):
        children = space.expand(
            steps[-1][rng.choice(len(steps[-1]), min(20, len(steps[-1])), replace=False)], len(operators)
        )
        steps.append(children[rng.choice(len(children), per_step, replace=False)])
    return steps
