import json

import numpy as np
import pandas as pd
import pytest

from popnas_steps import search, tables
from popnas_steps.space import Cell


def candidates(*rows) -> pd.DataFrame:
    """rows: (cell blocks, predicted accuracy, predicted time)."""
    cells = [Cell.from_json([list(b) for b in blocks]) for blocks, _, _ in rows]
    return pd.DataFrame({
        "cell_id": [c.cell_id for c in cells], "cell": [c.to_json() for c in cells],
        "predicted_accuracy": [a for _, a, _ in rows], "predicted_time": [t for _, _, t in rows],
    })  # fmt: skip


def flat(op1, op2, in1=-1, in2=-1):
    return [(in1, op1, in2, op2)]


POOL = candidates(
    (flat("3x3 conv", "3x3 conv"), 0.90, 50.0),
    (flat("3x3 conv", "identity"), 0.88, 30.0),
    (flat("3x3 conv", "2x2 maxpool"), 0.89, 60.0),  # dominated: slower than a more accurate one
    (flat("identity", "identity"), 0.70, 10.0),
    (flat("2x2 maxpool", "identity"), 0.80, 30.0),  # dominated: same time as a more accurate one
    (flat("2x2 maxpool", "2x2 maxpool"), 0.75, 20.0),
)


def test_pareto_front_keeps_the_non_dominated_cells_by_accuracy():
    front = search.pareto_front(POOL, k=10)
    assert list(front.columns) == tables.COLUMNS["pareto"]
    assert front["predicted_accuracy"].tolist() == [0.90, 0.88, 0.75, 0.70]
    assert front["rank"].tolist() == [1, 2, 3, 4]
    assert search.pareto_front(POOL, k=2)["predicted_accuracy"].tolist() == [0.90, 0.88]


def test_pnas_top_k():
    assert search.top_k(POOL, 3)["predicted_accuracy"].tolist() == [0.90, 0.89, 0.88]


def front_of(*cells) -> pd.DataFrame:
    return candidates(*[(blocks, 0.9, 1.0) for blocks in cells])


def test_exploration_sets_use_both_operators_and_both_inputs():
    ops = ["3x3 conv", "identity", "2x2 maxpool", "1x1 conv"]
    # 10 cells x 2 blocks: 40 operator uses, 40 input uses. Threshold: share < 1/(5*4) = 5%.
    cells = [[(-1, "3x3 conv", -1, "identity"), (0, "3x3 conv", -1, "identity")]] * 9
    cells.append([(-1, "3x3 conv", -1, "identity"), (-2, "3x3 conv", 0, "2x2 maxpool")])  # maxpool as op2
    sets = search.exploration_sets(front_of(*cells), ["3x3  conv", *ops[1:]], b=2)  # spacing as a user may write
    # maxpool: 1/40 = 2.5% < 5% -> explored; 1x1 conv unused -> explored
    assert sets.operators == {"2x2 maxpool", "1x1 conv"}
    # inputs at b=2: {-2, -1, 0}, threshold 1/(5*3) = 6.7%: -2 used 1/40 -> explored; 0 used 10/40
    assert sets.inputs == {-2}


def test_exploration_front_scores_and_thresholds():
    sets = search.ExplorationSets(frozenset({"2x2 maxpool", "1x1 conv"}), frozenset({-2}))
    front = candidates((flat("3x3 conv", "3x3 conv"), 0.95, 50.0))
    pool = candidates(
        (flat("3x3 conv", "3x3 conv"), 0.95, 50.0),  # in the front: never explored
        (flat("3x3 conv", "2x2 maxpool"), 0.90, 40.0),  # one exploration op: 1+2+1 = 4 < 8
        (flat("2x2 maxpool", "1x1 conv", -2, -1), 0.89, 30.0),  # -2: 1+2+1, ops: 2 x (1+2+1) -> 12
        (flat("1x1 conv", "1x1 conv", -2, -2), 0.88, 35.0),  # slower than the last accepted: skipped
        (flat("2x2 maxpool", "2x2 maxpool", -2, -2), 0.60, 5.0),
    )
    epf = search.exploration_front(pool, front, sets, j=5)
    assert list(epf.columns) == tables.COLUMNS["exploration"]
    assert epf["predicted_accuracy"].tolist() == [0.89, 0.60]
    assert epf["score"].tolist()[0] == 12
    # second: inputs -2 twice, after the EPF used 1 input and 2 ops: each +1 +2 (share 1 <= 1) +1 (1 <= 2)
    # = 8; ops twice: maxpool share 1/2 <= 1/2: +1 +2, no +1 (1 < 2) -> 6; relative gaps:
    # accuracy 0.29/0.89 = 32.6% -> 8 points, time 25/30 = 83% -> 8 points
    assert epf["score"].tolist()[1] == 8 + 6 + 8 + 8
    assert len(search.exploration_front(pool, front, sets, j=1)) == 1
    assert search.exploration_front(pool, front, search.ExplorationSets(frozenset(), frozenset()), 5).empty


def test_exploration_threshold_is_4_when_one_set_is_empty():
    sets = search.ExplorationSets(frozenset({"2x2 maxpool"}), frozenset())
    pool = candidates((flat("3x3 conv", "2x2 maxpool"), 0.9, 40.0))
    epf = search.exploration_front(pool, candidates(), sets, j=3)
    assert epf["score"].tolist() == [4]


def test_selections_are_deterministic_under_ties():
    tied = candidates(
        (flat("3x3 conv", "identity"), 0.8, 10.0),
        (flat("identity", "2x2 maxpool"), 0.8, 10.0),
    )
    first = search.pareto_front(tied, 5)
    again = search.pareto_front(tied.iloc[::-1].reset_index(drop=True), 5)
    assert first["cell_id"].tolist() == again["cell_id"].tolist()
    assert json.loads(first["cell"][0])


def brute_force_front(points: pd.DataFrame, costs: list[str]) -> set[str]:
    """Every candidate no other candidate dominates (at least as accurate and no costlier in
    every cost, better in one), by comparing all pairs; of identical ones, the first id."""
    front = set()
    for row in points.itertuples():
        other = points.drop(index=row.Index)
        no_worse = (other["predicted_accuracy"] >= row.predicted_accuracy) & (
            other[costs] <= points.loc[row.Index, costs]
        ).all(axis=1)
        better = (other["predicted_accuracy"] > row.predicted_accuracy) | (
            other[costs] < points.loc[row.Index, costs]
        ).any(axis=1)
        identical = no_worse & ~better & (other["cell_id"] < row.cell_id)
        if not (no_worse & better).any() and not identical.any():
            front.add(row.cell_id)
    return front


@pytest.mark.parametrize(
    "costs", [["predicted_time"], ["predicted_time", "params"], ["predicted_time", "params", "latency"]]
)
@pytest.mark.parametrize("seed", range(5))
def test_the_front_over_several_costs_is_the_brute_force_non_dominated_set_cut_to_k_by_accuracy(costs, seed):
    rng = np.random.default_rng(seed)
    n = 300
    points = pd.DataFrame({
        "cell_id": [f"c{i:03d}" for i in range(n)], "cell": "[]",
        # rounded, so that ties in accuracy and in costs happen
        "predicted_accuracy": rng.uniform(0.5, 0.9, n).round(2), "predicted_time": rng.uniform(1, 10, n).round(1),
        "params": rng.integers(1, 30, n), "latency": rng.uniform(0.1, 2, n).round(1),
    })  # fmt: skip
    expected = brute_force_front(points, costs)
    whole = search.pareto_front(points, k=n, costs=tuple(costs))
    assert set(whole["cell_id"]) == expected
    assert whole["predicted_accuracy"].is_monotonic_decreasing and whole["rank"].tolist() == list(
        range(1, len(whole) + 1)
    )
    ranked = points[points["cell_id"].isin(expected)].sort_values(
        ["predicted_accuracy", *costs, "cell_id"], ascending=[False] + [True] * (len(costs) + 1)
    )
    assert (
        search.pareto_front(points, k=5, costs=tuple(costs))["cell_id"].tolist() == ranked["cell_id"].head(5).tolist()
    )


@pytest.mark.parametrize("costs", [("predicted_time",), ("predicted_time", "params")])
def test_a_nan_cost_or_accuracy_is_refused_naming_the_column_and_how_many_rows(costs):
    # one cost used to cut its front at the NaN (np.minimum.accumulate), several to walk past it
    pool = POOL.assign(params=np.arange(len(POOL), 0, -1))
    for column in ("predicted_accuracy", *costs):
        holed = pool.copy()
        holed.loc[[1, 3], column] = np.nan
        with pytest.raises(ValueError, match=rf"NaN in {column} \(2 of 6 rows\) cannot enter a Pareto front"):
            search.pareto_front(holed, k=10, costs=costs)
    assert len(search.pareto_front(pool, k=10, costs=costs)) > 0
