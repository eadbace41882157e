"""Dynamic reindex (paper eq. 1) and the nine time features of paper 3.3.2, with the work
counts of work.py beside them where the data's shape is known.

Features are computed for whole arrays of encoded cells (n, b, 4) at once: the expansion
step featurises hundreds of thousands of candidates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from popnas_steps import tables
from popnas_steps.macro import NetworkSpec, built_indices
from popnas_steps.operators import parse_operator
from popnas_steps.space import Block, Cell, by_size
from popnas_steps.work import DataShape, WorkCounter, unused_block_counts

FEATURE_NAMES = (
    "blocks",
    "cells",
    "op_score",
    "multiple_lookbacks",
    "lookback_score_fraction",
    "block_dependencies",
    "dag_depth",
    "concatenated_outputs",
    "heaviest_path_fraction",
)


def symmetric_cell(operator: str) -> Cell:
    """The flat cell [(-1, o, -1, o)] whose time measures operator o."""
    name = parse_operator(operator).name
    return Cell((Block(-1, name, -1, name),))


def dynamic_reindex(t0: float, operator_times: dict[str, float]) -> dict[str, float]:
    """index_o = (t_o - t0) / (max_o t_o - t0), clipped to [0, 1].

    A t_o below t0 is measurement noise (no operator is cheaper than no operator), hence
    the clip at 0; an operator without a time (its symmetric cell failed) gets 1, the
    cost of the slowest, so the search never mistakes an unknown for a cheap operator.
    """
    known = {op: t for op, t in operator_times.items() if t is not None and np.isfinite(t)}
    if not known:
        raise ValueError("dynamic reindex needs the time of at least one symmetric one-block cell")
    span = max(known.values()) - t0
    result = {}
    for op, t in operator_times.items():
        if op not in known:
            result[op] = 1.0
        elif span <= 0:
            result[op] = 0.0
        else:
            result[op] = float(np.clip((t - t0) / span, 0.0, 1.0))
    return result


def reindex_table(thrust: pd.DataFrame, b1: pd.DataFrame, operators: list[str]) -> pd.DataFrame:
    """The reindex of each operator with the times it comes from (b1/reindex.csv), from the
    thrust's and the b=1 step's trained tables."""
    ok_thrust = tables.ok_rows(thrust)
    if ok_thrust.empty:
        reasons = "; ".join(str(reason) for reason in thrust.get("reason", pd.Series()).dropna()) or "no result"
        raise ValueError(
            f"the initial thrust (empty cell) has no successful training ({reasons}), so the operators "
            "cannot be reindexed. Rerun the same command: a failed thrust is trained again on every run "
            "(results/<run>/cells/<its id>/train.log says why it failed)"
        )
    ok_b1 = tables.ok_rows(b1)
    times = dict(zip(ok_b1["cell_id"], ok_b1["time"], strict=True))
    thrust_time = float(ok_thrust["time"].iloc[0])
    cell_ids = {parse_operator(op).name: symmetric_cell(op).cell_id for op in operators}
    values = dynamic_reindex(thrust_time, {op: times.get(cell_id) for op, cell_id in cell_ids.items()})
    rows = [
        {
            "operator": op,
            "cell_id": cell_id,
            "time": times.get(cell_id),
            "thrust_time": thrust_time,
            "reindex": values[op],
        }
        for op, cell_id in cell_ids.items()
    ]
    return pd.DataFrame(rows, columns=tables.COLUMNS["reindex"])


def reindex_from_trained(thrust: pd.DataFrame, b1: pd.DataFrame, operators: list[str]) -> dict[str, float]:
    """The reindex of each operator (canonical name), from the thrust's and b=1's trained tables."""
    return reindex_values(reindex_table(thrust, b1, operators))


def reindex_values(table: pd.DataFrame) -> dict[str, float]:
    """Operator -> reindex, from a reindex table (b1/reindex.csv)."""
    return dict(zip(table["operator"], table["reindex"], strict=True))


def time_features(encoded: np.ndarray, reindex: np.ndarray, spec: NetworkSpec) -> np.ndarray:
    """The nine features (columns in FEATURE_NAMES order) of cells encoded as (n, b, 4).

    `reindex` holds the reindex value of each operator index. The OP score sums it over
    all 2b operators. The heaviest path is the path from a lookback to the cell output
    whose operators have the largest summed reindex; DAG depth is the longest chain of
    blocks (a true longest path, not a graph diameter). Both fractions are 1 when the OP
    score is 0 (e.g. the empty cell): all of no work is on the lookbacks and on one path.
    """
    encoded = np.asarray(encoded)
    reindex = np.asarray(reindex, dtype=np.float64)
    n, b = encoded.shape[0], encoded.shape[1]
    features = np.zeros((n, len(FEATURE_NAMES)), dtype=np.float64)
    features[:, [4, 8]] = 1.0
    if b == 0:
        return features
    rows = np.arange(n)
    inputs = encoded[:, :, [0, 2]].astype(np.int64)
    weights = reindex[encoded[:, :, [1, 3]]]
    op_score = weights.sum(axis=(1, 2))
    uses_minus_one = (inputs == -1).any(axis=(1, 2))
    uses_minus_two = (inputs == -2).any(axis=(1, 2))
    only_minus_two_cells = len(built_indices({-1: False, -2: True}, spec))

    depth = np.zeros((n, b), dtype=np.int64)
    heaviest = np.zeros((n, b), dtype=np.float64)
    for i in range(b):
        for side in (0, 1):
            source = inputs[:, i, side]
            is_block = source >= 0
            reference = np.where(is_block, source, 0)
            depth[:, i] = np.maximum(depth[:, i], np.where(is_block, depth[rows, reference], 0) + 1)
            path = weights[:, i, side] + np.where(is_block, heaviest[rows, reference], 0.0)
            heaviest[:, i] = np.maximum(heaviest[:, i], path)
    unused = unused_block_counts(encoded)
    lookback_score = (weights * (inputs < 0)).sum(axis=(1, 2))
    positive = op_score > 0
    safe_score = np.where(positive, op_score, 1.0)

    features[:, 0] = b
    features[:, 1] = np.where(uses_minus_one, spec.total_cells, only_minus_two_cells)
    features[:, 2] = op_score
    features[:, 3] = uses_minus_one & uses_minus_two
    features[:, 4] = np.where(positive, lookback_score / safe_score, 1.0)
    features[:, 5] = (inputs >= 0).sum(axis=(1, 2))
    features[:, 6] = depth.max(axis=1)
    features[:, 7] = np.where(unused > 1, unused, 0)
    features[:, 8] = np.where(positive, heaviest.max(axis=1) / safe_score, 1.0)
    return features


def reindex_array(reindex: dict[str, float], operators: list[str]) -> np.ndarray:
    """The reindex values in operator-index order."""
    return np.array([reindex[parse_operator(op).name] for op in operators], dtype=np.float64)


def time_inputs(encoded: np.ndarray, reindex: np.ndarray, spec: NetworkSpec, work: WorkCounter | None) -> np.ndarray:
    """What the time predictors take: the nine features, then the work counts (WORK_NAMES)
    where `work` is given (time_predictor.inputs_of picks a kind's columns)."""
    features = time_features(encoded, reindex, spec)
    return features if work is None else np.hstack([features, work.count(encoded)])


def features_of_cells(
    cells: list[Cell], reindex: dict[str, float], operators: list[str], spec: NetworkSpec, data: DataShape | None = None
) -> np.ndarray:
    """Time inputs of cells of any sizes, in their order: the nine features, and the work
    counts of their networks for data of shape `data` where it is given."""
    values = reindex_array(reindex, operators)
    work = None if data is None else WorkCounter(operators, spec, data)
    (features,) = by_size(cells, operators, lambda encoded: (time_inputs(encoded, values, spec, work),))
    return features
