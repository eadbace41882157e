"""The costs a Pareto front can weigh against predicted accuracy (`search.objective`), one
entry each, and the caps that bound them.

Each `Objective` says everything the search, the report, the rules and validation ask of
a cost: the candidates' column a front and a cap read, the trained table's measured column
and a figure's axis, the config key that caps it, the config keys its column needs, how the
column is made where the predictors do not make it, and what it needs to be measured.

Adding an objective is one entry here, its column maker where the predictors do not make
its column, and its word in the schema's `search.objective` enum (which the tests check
against this table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from popnas_steps import runtime

# (the candidates, the config, the run's data shape) -> the cost of each candidate
ColumnMaker = Callable[[pd.DataFrame, dict, object], pd.Series]


def _exact_params(candidates: pd.DataFrame, config: dict, data) -> pd.Series:
    """Each candidate network's parameters, counted exactly from its cell (no model built)."""
    from popnas_steps.macro import NetworkSpec
    from popnas_steps.space import Cell
    from popnas_steps.work import params_of_cells

    cells = [Cell.from_json(text) for text in candidates["cell"]]
    spec = NetworkSpec(**config["network"])
    return pd.Series(params_of_cells(cells, config["search"]["operators"], spec, data), index=candidates.index)


@dataclass(frozen=True)
class Objective:
    name: str  # its word in search.objective
    predicted: str  # the candidates' column that fronts and caps read
    measured: str  # the trained table's column of the measured cost
    axis: str  # a figure's axis label
    cap: str  # search.<cap> bounds `predicted` (None in the config: no cap)
    unit: str  # the cap's unit, as a log line says it
    measures: str = ""  # what a cost of it is, as an error says it
    reads: tuple[str, ...] = ()  # config keys `make` reads (the rules pass them where it is used)
    make: ColumnMaker | None = None  # makes `predicted` where the predictors do not
    unavailable: Callable[[], str | None] | None = None  # why it cannot be measured here, or None
    # Only strategies that fit a time predictor have the column; elsewhere it is NaN and no
    # cap discards a candidate (the time constraint is Algorithm 1's, line 13).
    needs_time_predictor: bool = False


OBJECTIVES: dict[str, Objective] = {
    objective.name: objective
    for objective in (
        Objective(
            "time",
            predicted="predicted_time",
            measured="time",
            axis="training time t (s)",
            cap="time_constraint",
            unit="s of predicted training time",
            measures="the predicted training time of the networks",
            needs_time_predictor=True,
        ),
        Objective(
            "latency",
            predicted="predicted_latency",
            measured="latency_ms",
            axis="inference latency (ms, batch 1)",
            cap="max_latency_ms",
            unit="ms of predicted latency",
            measures="the measured latency of the networks",
            unavailable=lambda: runtime.latency_unavailable(),  # looked up when asked: tests replace it
        ),
        Objective(
            "params",
            predicted="params",
            measured="params",
            axis="parameters (exact: predicted = measured)",
            cap="max_params",
            unit="parameters",
            measures="the parameters of the networks",
            reads=("network", "search.operators"),
            make=_exact_params,
        ),
    )
}


def objective_of(name: str) -> Objective:
    """The objective named `name`; ValueError naming the known ones otherwise."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ValueError(f"unknown search.objective {name!r}; choose one of {', '.join(OBJECTIVES)}") from None


def front_costs(objective: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The candidates' cost columns of a front for `search.objective`."""
    return tuple(objective_of(word).predicted for word in objective)


def in_use(search: dict, objective: list[str] | tuple[str, ...] = ()) -> list[Objective]:
    """The objectives a front of `objective` reads or whose cap `search` sets, in table order."""
    return [entry for entry in OBJECTIVES.values() if entry.name in objective or search.get(entry.cap) is not None]


def reads(search: dict) -> tuple[str, ...]:
    """The config keys the fronts read to make the costs of `search` (its objective and caps):
    left out where no objective in use needs them, so that a run's fronts keep their params."""
    keys = [key for entry in in_use(search, search["objective"]) for key in entry.reads]
    return tuple(dict.fromkeys(keys))


def caps_set(search: dict, fits_time_predictor: bool) -> list[Objective]:
    """The objectives whose cap `search` sets and that can discard candidates of a strategy
    (T only where it fits a time predictor)."""
    return [
        entry
        for entry in OBJECTIVES.values()
        if search.get(entry.cap) is not None and (fits_time_predictor or not entry.needs_time_predictor)
    ]


def cap_keys(search: dict, fits_time_predictor: bool) -> list[str]:
    """The config keys of `caps_set`."""
    return [f"search.{entry.cap}" for entry in caps_set(search, fits_time_predictor)]


def unavailable_lines(search: dict) -> list[str]:
    """For each objective in use that cannot be measured on this machine, the keys that use
    it and why not."""
    lines = []
    for entry in in_use(search, search.get("objective", ())):
        reason = entry.unavailable() if entry.unavailable else None
        if reason:
            keys = ["search.objective"] if entry.name in search.get("objective", ()) else []
            keys += [f"search.{entry.cap}"] if search.get(entry.cap) is not None else []
            lines.append(f"{' and '.join(keys)} use {entry.measures}, which {reason}")
    return lines


def with_costs(
    candidates: pd.DataFrame,
    config: dict,
    objective: list[str] | tuple[str, ...],
    data: Callable[[], object],
    source: str,
) -> pd.DataFrame:
    """The candidates with the cost column of every objective in use (`objective`, the
    front's, and the caps `config` sets) made; ValueError where one the predictors should
    have made has no value. `data` gives the run's DataShape, asked only where a maker needs
    it; `source` names the candidates in that error."""
    search = config["search"]
    for entry in in_use(search, objective):
        if entry.make is not None:
            candidates = candidates.assign(**{entry.predicted: entry.make(candidates, config, data())})
        elif len(candidates) and not entry.needs_time_predictor and candidates[entry.predicted].isna().all():
            raise ValueError(
                f"search.objective or search.{entry.cap} needs the {entry.predicted.replace('_', ' ')} of {source}, "
                f"and it has none: no {entry.name} predictor was fitted, because too few networks of the steps before "
                f"have a measured {entry.name} (b<b>/{entry.name}.csv says why)"
            )
    return candidates


def capped(
    candidates: pd.DataFrame, search: dict, b: int, fits_time_predictor: bool = True
) -> tuple[pd.DataFrame, list[str]]:
    """The candidates within every cap that `search` sets for a strategy (T only where it
    fits a time predictor), and one log line per cap that discarded some (a candidate over
    two caps counts for both)."""
    within = pd.Series(True, index=candidates.index)
    discarded = []
    for entry in caps_set(search, fits_time_predictor):
        over = candidates[entry.predicted] > search[entry.cap]
        within &= ~over
        if over.any():
            discarded.append((entry, int(over.sum())))
    kept = candidates[within].reset_index(drop=True)
    return kept, [
        f"b{b}: {count} of {len(candidates)} candidates have more than search.{entry.cap} = {search[entry.cap]} "
        f"{entry.unit} and are discarded; {len(kept)} remain"
        for entry, count in discarded
    ]
