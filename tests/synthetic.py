"""A synthetic evaluator: made-up accuracy and time of cells, for fast tests of the search
logic and the predictors. Never the default; real searches train real networks."""

from __future__ import annotations

import numpy as np

from popnas_steps import space, tables
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


def synthetic_wall(t: float) -> float:
    """A made-up job wall of a training of t seconds: start-up plus validation, as a real
    job adds to its t (the cost model fits wall = a + s t)."""
    return 4.0 + 1.2 * t


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


def synthetic_training(selected, b: int, operators: list[str], cells_dir=None, altered=None):
    """The trained.csv rows training would give, made up; also each result.json if cells_dir.

    `altered` maps a cell id to result fields that replace the made-up ones (a NaN accuracy),
    or to None for a cell left out of the step, as if it had never been selected.
    """
    import json
    from pathlib import Path

    from popnas_steps.collect import trained_table
    from popnas_steps.space import Cell

    if selected.empty:  # a step the budget left empty
        return trained_table([], selected, b)
    altered = altered or {}
    selected = selected[[altered.get(cell_id, {}) is not None for cell_id in selected["cell_id"]]]
    cells = [Cell.from_json(text) for text in selected["cell"]]
    sizes = {len(c) for c in cells}
    encoded = space.encode(cells, operators) if sizes != {0} else np.zeros((len(cells), 0, 4), dtype=np.int16)
    accuracy, seconds = synthetic_accuracy(encoded, len(operators)), synthetic_time(encoded, len(operators))
    results = [
        {"cell_id": c.cell_id, "cell": c.to_list(), "status": "ok", "accuracy": float(a), "time": float(t), "params": 1,
         "timings": {"process_seconds": synthetic_wall(float(t)), "interpreter_seconds": 0.0}}
        for c, a, t in zip(cells, accuracy, seconds, strict=True)
    ]  # fmt: skip
    results = [result | altered.get(result["cell_id"], {}) for result in results]
    if cells_dir is not None:
        for result in results:
            folder = Path(cells_dir) / result["cell_id"]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "result.json").write_text(json.dumps(result) + "\n")
    return trained_table(results, selected, b)


def run_synthetic_search(steps, config: dict, cells_dir=None, altered=None):
    """Algorithm 1 through the workflow's step entry points, training replaced by the
    synthetic evaluator (its results `altered` as synthetic_training says); writes every
    artefact of every step into `steps`. With search.budget_hours, `cells_dir` must be the
    run's cells/ folder (steps/../cells): the budget is measured on the results there."""
    import json
    from pathlib import Path

    import pandas as pd

    from popnas_steps.cli import step
    from popnas_steps.space import Cell, one_block_cells

    steps = Path(steps)
    operators = config["search"]["operators"]
    metadata = steps / "synthetic_metadata.json"  # the data shape the work counts need: digits'
    steps.mkdir(parents=True, exist_ok=True)
    metadata.write_text(json.dumps({"input_shape": [8, 8, 1], "num_classes": 10}))
    for b, (cells, origin) in enumerate([([Cell()], "thrust"), (one_block_cells(operators), "b1")]):
        (steps / f"b{b}").mkdir(parents=True)
        selected = tables.selection_table(cells, origin)
        selected.to_csv(steps / f"b{b}" / "selected.csv", index=False)
        trained = synthetic_training(selected, b, operators, cells_dir, altered)
        trained.to_csv(steps / f"b{b}" / "trained.csv", index=False)
    step.reindex(config, steps / "b0" / "trained.csv", steps / "b1" / "trained.csv", steps / "b1" / "reindex.csv")
    for b in range(2, config["search"]["max_blocks"] + 1):
        here = steps / f"b{b}"
        here.mkdir()
        trained_before = [steps / f"b{i}" / "trained.csv" for i in range(b)]
        step.fit(config, trained_before, steps / "b1" / "reindex.csv", here / "predictors", metadata)
        step.expand(config, here / "predictors", steps / f"b{b - 1}" / "trained.csv", here / "candidates.parquet")
        step.pareto(config, here / "candidates.parquet", here / "pareto.csv")
        step.explore(config, b, here / "candidates.parquet", here / "pareto.csv", here / "exploration.csv")
        step.select(
            config, b, here / "pareto.csv", here / "exploration.csv", here / "selected.csv", here / "dropped.csv"
        )
        trained = synthetic_training(
            pd.read_csv(here / "selected.csv", dtype={"cell_id": str}), b, operators, cells_dir, altered
        )
        trained.to_csv(here / "trained.csv", index=False)
    return steps
