"""Search strategies: what differs between POPNASv2 and its baselines, one entry each.

Every strategy shares Algorithm 1's frame: the initial thrust, every one-block cell, then
for b = 2..B the expansions of the previous step's cells scored by the predictors and a
selection trained. A strategy says only:

- whether the search fits a time predictor for it (`fits_time_predictor`);
- how a step's front is cut from the scored candidates (`front`);
- whether a step b < B adds an exploration front (`explores`), or the front itself fills
  those J places (`draws_exploration`: random search trains as many cells per step as
  POPNASv2 trains at most).

Adding a strategy is one `Strategy` entry in STRATEGIES plus its front function; the
schema's `search.strategy` enum is checked against this table by the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from popnas_steps import objectives, search

# (scored candidates of step b, the config, b, the most cells it holds) -> the front, in order
Front = Callable[[pd.DataFrame, dict, int, int], pd.DataFrame]


@dataclass(frozen=True)
class Strategy:
    name: str
    summary: str
    fits_time_predictor: bool
    explores: bool
    front: Front
    draws_exploration: bool = False
    # config keys the front reads beyond search.strategy, search.beam and the caps:
    # the pareto rule passes them (the others' params, and so their cached fronts, stay as they were)
    front_reads: tuple[str, ...] = ()

    def exploration_places(self, b: int, settings: dict) -> int:
        """J where step b has exploration places (never the last step), else 0."""
        if (self.explores or self.draws_exploration) and b < settings["max_blocks"]:
            return settings["exploration"]
        return 0

    def exploring(self, b: int, settings: dict) -> bool:
        """Whether step b has an exploration front (never the last step, nor with J = 0)."""
        return self.explores and self.exploration_places(b, settings) > 0

    def front_size(self, b: int, settings: dict) -> int:
        """The most cells the front of step b holds: K, plus the J places it fills itself."""
        return settings["beam"] + (self.exploration_places(b, settings) if self.draws_exploration else 0)

    def step_size(self, b: int, settings: dict) -> int:
        """The most cells step b >= 2 selects: K, plus J where it has exploration places."""
        return settings["beam"] + self.exploration_places(b, settings)


def pareto(candidates: pd.DataFrame, config: dict, b: int, size: int) -> pd.DataFrame:
    """POPNASv2 (paper 3.2): the Pareto front of the candidates over predicted accuracy and
    the costs of `search.objective` (the paper: predicted time), at most K cells. The time
    constraint T (line 13 of Algorithm 1) is a cap: the candidates come within it
    (popnas_steps.objectives.capped)."""
    return search.pareto_front(candidates, size, objectives.front_costs(config["search"]["objective"]))


def top_accuracy(candidates: pd.DataFrame, config: dict, b: int, size: int) -> pd.DataFrame:
    """PNAS: the K cells of highest predicted accuracy."""
    return search.top_k(candidates, size)


def uniform_draw(candidates: pd.DataFrame, config: dict, b: int, size: int) -> pd.DataFrame:
    """Random search: K + J cells (K at b = B) drawn uniformly, without replacement, from the
    unique expansions of the previous step's cells, with a generator seeded by the run's seed
    and b. The predictions are ignored, and so is the time constraint, which needs a time
    predictor; the draw's order is kept (`rank`), so the first n cells are a uniform draw of n."""
    return search.uniform_draw(candidates, size, config["seed"], b)


STRATEGIES: dict[str, Strategy] = {
    strategy.name: strategy
    for strategy in (
        Strategy(
            "popnas",
            "POPNASv2: time and accuracy predictors, the Pareto front, exploration",
            fits_time_predictor=True,
            explores=True,
            front=pareto,
            front_reads=("search.objective",),
        ),
        Strategy(
            "pnas",
            "the PNAS baseline: the accuracy predictor alone, the K cells of highest predicted accuracy",
            fits_time_predictor=False,
            explores=False,
            front=top_accuracy,
        ),
        Strategy(
            "random",
            "random search: K + J cells drawn uniformly from each step's expansions, the control of any NAS",
            fits_time_predictor=False,
            explores=False,
            front=uniform_draw,
            draws_exploration=True,
            front_reads=("seed", "search.max_blocks", "search.exploration"),
        ),
    )
}


def strategy_of(name: str) -> Strategy:
    """The strategy named `name`; ValueError naming the known ones otherwise."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown search.strategy {name!r}; choose one of {', '.join(STRATEGIES)}") from None
