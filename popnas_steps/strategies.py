"""Search strategies: what differs between POPNASv2 and its baselines, one entry each.

Every strategy shares Algorithm 1's frame: the initial thrust, every one-block cell, then
for b = 2..B the expansions of the previous step's cells scored by the predictors and a
selection trained. A strategy says only:

- whether the search fits a time predictor for it (`fits_time_predictor`);
- how a step's front is cut from the scored candidates (`front`);
- whether a step b < B adds an exploration front (`explores`).

Adding a strategy is one `Strategy` entry in STRATEGIES plus its front function; the
schema's `search.strategy` enum is checked against this table by the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from popnas_steps import search

# (scored candidates, the config's `search` section) -> the front, best first
Front = Callable[[pd.DataFrame, dict], pd.DataFrame]


@dataclass(frozen=True)
class Strategy:
    name: str
    summary: str
    fits_time_predictor: bool
    explores: bool
    front: Front

    def exploring(self, b: int, settings: dict) -> bool:
        """Whether step b has an exploration front (never the last step, nor with J = 0)."""
        return self.explores and b < settings["max_blocks"] and settings["exploration"] > 0

    def step_size(self, b: int, settings: dict) -> int:
        """The most cells step b >= 2 selects: K, plus J where it explores."""
        return settings["beam"] + (settings["exploration"] if self.exploring(b, settings) else 0)


def pareto(candidates: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """POPNASv2 (paper 3.2): the time-accuracy Pareto front of the candidates within the time
    constraint T, at most K cells."""
    return search.pareto_front(search.apply_time_constraint(candidates, settings["time_constraint"]), settings["beam"])


def top_accuracy(candidates: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """PNAS: the K cells of highest predicted accuracy."""
    return search.top_k(candidates, settings["beam"])


STRATEGIES: dict[str, Strategy] = {
    strategy.name: strategy
    for strategy in (
        Strategy(
            "popnas",
            "POPNASv2: time and accuracy predictors, the Pareto front, exploration",
            fits_time_predictor=True,
            explores=True,
            front=pareto,
        ),
        Strategy(
            "pnas",
            "the PNAS baseline: the accuracy predictor alone, the K cells of highest predicted accuracy",
            fits_time_predictor=False,
            explores=False,
            front=top_accuracy,
        ),
    )
}


def strategy_of(name: str) -> Strategy:
    """The strategy named `name`; ValueError naming the known ones otherwise."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown search.strategy {name!r}; choose one of {', '.join(STRATEGIES)}") from None
