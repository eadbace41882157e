"""The macro structure of the networks: which cells a network holds, without Keras.

Kept apart from the model builder so that time features and reports can count cells
without importing TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from popnas_steps.space import Cell


@dataclass(frozen=True)
class NetworkSpec:
    """Macro parameters of the networks (the `network` config slice)."""

    motifs: int = 3
    normal_cells: int = 2
    filters: int = 24
    batchnorm_momentum: float | None = None  # None: statistics recomputed before each validation (train.py)
    dropout: float = 0.0

    @property
    def recomputes_batchnorm(self) -> bool:
        """Whether training recomputes the BatchNorm statistics before each validation
        (train.BatchNormRecompute): where no momentum is set."""
        return self.batchnorm_momentum is None

    @property
    def total_cells(self) -> int:
        return self.motifs * (self.normal_cells + 1) - 1

    def is_reduction(self, index: int) -> bool:
        return (index + 1) % (self.normal_cells + 1) == 0

    def reductions_through(self, index: int) -> int:
        """Reduction cells among cells 0..index (index < 0 is the input image: 0)."""
        return sum(self.is_reduction(i) for i in range(index + 1))

    def filters_of(self, index: int) -> int:
        """The output channels of cell `index`: `filters`, doubled at each reduction so far."""
        return self.filters * 2 ** self.reductions_through(index)


def built_cells(cell: Cell, spec: NetworkSpec) -> list[int]:
    """Indices of the cells the network really contains (those the output depends on)."""
    if not cell.blocks:
        return []
    return built_indices(cell.uses_lookback, spec)


def built_indices(uses: dict[int, bool], spec: NetworkSpec) -> list[int]:
    """Cells the output depends on, given which lookbacks (-1, -2) a non-empty cell reads."""
    needed = {spec.total_cells - 1}
    for index in range(spec.total_cells - 1, -1, -1):
        if index in needed:
            needed.update(index + lookback for lookback in (-1, -2) if uses[lookback] and index + lookback >= 0)
    return sorted(needed)


def resolutions(input_shape: Sequence[int], spec: NetworkSpec) -> list[tuple[int, int]]:
    """(H, W) of the feature maps after 0, 1, ... reductions (a network of M motifs has M-1)."""
    sizes = [(int(input_shape[0]), int(input_shape[1]))]
    for _ in range(spec.motifs - 1):
        height, width = sizes[-1]
        sizes.append((math.ceil(height / 2), math.ceil(width / 2)))  # stride 2, "same" padding
    return sizes
