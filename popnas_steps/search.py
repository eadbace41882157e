"""Selection of the cells to train at step b (paper 3.2): Pareto front, exploration sets
and the exploration Pareto front (EPF), PNAS's top-K and random search's uniform draw.

Pure functions on candidate tables with columns cell_id, cell (canonical JSON),
predicted_accuracy, predicted_time. Candidates are unique up to equivalence (the
expansion step scores each equivalence class once), so "not equivalent to a cell already
kept" is a check on cell ids. The caps, the time constraint T among them, are
popnas_steps.objectives'.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from popnas_steps import tables
from popnas_steps.operators import parse_operator


def by_accuracy(candidates: pd.DataFrame, costs: tuple[str, ...] = ("predicted_time",)) -> pd.DataFrame:
    """Highest predicted accuracy first; ties broken by the lower costs (the columns `costs`,
    in order, where they hold values), then id: deterministic, and among equally accurate
    cells one that is no worse in every cost comes first."""
    present = [cost for cost in costs if cost in candidates and candidates[cost].notna().any()]
    keys, ascending = ["predicted_accuracy", *present, "cell_id"], [False, *[True] * len(present), True]
    return candidates.sort_values(keys, ascending=ascending, kind="mergesort").reset_index(drop=True)


def _ranked(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=[c for c in columns if c != "rank"])
    table.insert(0, "rank", range(1, len(table) + 1))
    return table


def refuse_missing(candidates: pd.DataFrame, columns: tuple[str, ...]) -> None:
    """ValueError naming each of `columns` where candidates have NaN, and how many rows do."""
    missing = {column: int(candidates[column].isna().sum()) for column in columns}
    named = [f"{column} ({count} of {len(candidates)} rows)" for column, count in missing.items() if count]
    if named:
        raise ValueError(
            f"candidates with NaN in {', '.join(named)} cannot enter a Pareto front: a NaN has no rank in "
            "accuracy or cost"
        )


def pareto_front(candidates: pd.DataFrame, k: int, costs: tuple[str, ...] = ("predicted_time",)) -> pd.DataFrame:
    """The K non-dominated candidates of highest predicted accuracy, over accuracy and the
    cost columns `costs` (the paper: predicted time alone).

    Walk the candidates by predicted accuracy; keep each one that no kept candidate matches
    or beats in every cost (a kept one is at least as accurate, so this is domination),
    until K are kept. Whatever dominates a candidate is walked before it, and what dominates
    that is too, so comparing with the kept ones is enough. With one cost this keeps each
    candidate strictly cheaper than every one walked before it.

    A NaN accuracy or cost is refused (ValueError naming the column and how many rows): no
    order ranks it, and the one-cost walk and the several-cost walk would treat it apart."""
    refuse_missing(candidates, ("predicted_accuracy", *costs))
    ordered = by_accuracy(candidates, costs)
    values = ordered[list(costs)].to_numpy(float)
    if len(costs) == 1:  # vectorised: kept where cheaper than everything walked before
        cheapest_before = np.minimum.accumulate(np.concatenate([[math.inf], values[:-1, 0]]))
        kept = list(np.flatnonzero(values[:, 0] < cheapest_before)[:k])
    else:
        kept = []
        for index in range(len(ordered)):
            if kept and (values[kept] <= values[index]).all(axis=1).any():
                continue
            kept.append(index)
            if len(kept) == k:
                break
    return _ranked(ordered.iloc[kept].to_dict("records"), tables.COLUMNS["pareto"])


def top_k(candidates: pd.DataFrame, k: int) -> pd.DataFrame:
    """PNAS: the K candidates of highest predicted accuracy."""
    return _ranked(by_accuracy(candidates).head(k).to_dict("records"), tables.COLUMNS["pareto"])


def uniform_draw(candidates: pd.DataFrame, n: int, seed: int, b: int) -> pd.DataFrame:
    """n candidates drawn uniformly without replacement (all where there are fewer), in the
    order drawn, by a generator seeded with (seed, b). The candidates are first put in cell-id
    order, so the draw depends on the set of candidates, not on the order they were scored in."""
    pool = candidates.sort_values("cell_id", kind="stable").reset_index(drop=True)
    picks = np.random.default_rng([seed, b]).permutation(len(pool))[:n]
    return _ranked(pool.iloc[picks].to_dict("records"), tables.COLUMNS["pareto"])


def _blocks(cell_json: str) -> list[list]:
    return json.loads(cell_json)


def usage(cells) -> tuple[Counter, Counter]:
    """Operator and input uses of the cells (JSON), both of every block counted."""
    op_uses: Counter = Counter()
    input_uses: Counter = Counter()
    for cell in cells:
        for in1, op1, in2, op2 in _blocks(cell):
            op_uses.update([op1, op2])
            input_uses.update([in1, in2])
    return op_uses, input_uses


@dataclass(frozen=True)
class ExplorationSets:
    operators: frozenset[str]
    inputs: frozenset[int]

    @property
    def empty(self) -> bool:
        return not self.operators and not self.inputs


def exploration_sets(front: pd.DataFrame, operators: list[str], b: int) -> ExplorationSets:
    """Operators and inputs under-used by the front: an operator is explored when its share
    of all operator uses is below 1 / (5 |O|); an input when its share is below 1 / (5 |I|),
    with I = {-2, -1, 0, ..., b-2}, the inputs of the newest block. Both operators and
    both inputs of every block count."""
    op_uses, input_uses = usage(front["cell"])
    operators = [parse_operator(op).name for op in operators]  # cells hold canonical operator names
    valid_inputs = list(range(-2, b - 1))
    op_total, input_total = sum(op_uses.values()), sum(input_uses.values())
    if op_total == 0:
        return ExplorationSets(frozenset(), frozenset())
    explored_ops = {op for op in operators if op_uses[op] / op_total < 1 / (5 * len(operators))}
    explored_inputs = {i for i in valid_inputs if input_uses[i] / input_total < 1 / (5 * len(valid_inputs))}
    return ExplorationSets(frozenset(explored_ops), frozenset(explored_inputs))


def exploration_front(candidates: pd.DataFrame, front: pd.DataFrame, sets: ExplorationSets, j: int) -> pd.DataFrame:
    """The exploration Pareto front (EPF), at most J cells.

    Walking the candidates by predicted accuracy, a cell outside the front earns points:
    +1 per use of an exploration input (+2 if that input's share of the EPF's exploration
    inputs so far is <= 1/|I~|, +1 if the EPF used no more exploration inputs than
    exploration operators), and likewise +1 per use of an exploration operator, both
    operators of every block counted (+2 if its share <= 1/|O~|, +1 if the EPF used at
    least as many exploration inputs as operators). A cell with points then earns one
    more per 4% of relative accuracy difference and per 10% of relative time difference
    from the last EPF cell (from the second cell on). It joins the EPF when it is faster
    than the last EPF cell and reaches 8 points (4 when one of the two sets is empty).
    """
    if sets.empty or j <= 0:
        return _ranked([], tables.COLUMNS["exploration"])
    threshold = 8 if sets.operators and sets.inputs else 4
    in_front = set(front["cell_id"])
    accepted: list[dict] = []
    input_counts: Counter = Counter()
    op_counts: Counter = Counter()
    for row in by_accuracy(candidates).itertuples(index=False):
        if row.cell_id in in_front:
            continue
        last = accepted[-1] if accepted else None
        if last is not None and not row.predicted_time < last["predicted_time"]:
            continue
        blocks = _blocks(row.cell)
        used_inputs = [i for block in blocks for i in (block[0], block[2]) if i in sets.inputs]
        used_ops = [op for block in blocks for op in (block[1], block[3]) if op in sets.operators]
        input_total, op_total = sum(input_counts.values()), sum(op_counts.values())
        score = 0
        for i in used_inputs:
            share = input_counts[i] / input_total if input_total else 0.0
            score += 1 + (2 if share <= 1 / len(sets.inputs) else 0) + (1 if input_total <= op_total else 0)
        for op in used_ops:
            share = op_counts[op] / op_total if op_total else 0.0
            score += 1 + (2 if share <= 1 / len(sets.operators) else 0) + (1 if input_total >= op_total else 0)
        if score > 0 and last is not None:
            accuracy_gap = abs(row.predicted_accuracy - last["predicted_accuracy"]) / max(
                last["predicted_accuracy"], 1e-9
            )
            time_gap = abs(row.predicted_time - last["predicted_time"]) / max(last["predicted_time"], 1e-9)
            score += int(accuracy_gap / 0.04) + int(time_gap / 0.10)
        if score >= threshold:
            accepted.append({**row._asdict(), "score": score})
            input_counts.update(used_inputs)
            op_counts.update(used_ops)
            if len(accepted) == j:
                break
    return _ranked(accepted, tables.COLUMNS["exploration"])
