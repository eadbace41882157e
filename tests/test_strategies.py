"""popnas_steps.strategies: the table of search strategies, and the schema that offers them."""

from __future__ import annotations

import pandas as pd
import pytest

from popnas_steps.objectives import capped
from popnas_steps.strategies import STRATEGIES, strategy_of


def cell_ids(table) -> list[str]:
    """A step table's cell ids, as strings (an id of digits only would read as a number)."""
    return pd.read_csv(table, dtype={"cell_id": str})["cell_id"].tolist()


def test_an_unknown_strategy_is_an_error_that_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown search.strategy 'grid'; choose one of popnas, pnas, random"):
        strategy_of("grid")


def test_each_strategy_sizes_its_steps_by_whether_it_explores():
    search = {"max_blocks": 4, "beam": 6, "exploration": 2}
    assert [STRATEGIES["popnas"].step_size(b, search) for b in (2, 3, 4)] == [8, 8, 6]  # no EPF at b = B
    assert [STRATEGIES["pnas"].step_size(b, search) for b in (2, 3, 4)] == [6, 6, 6]
    # random search trains as many as POPNASv2 at most: its draw fills the J places itself
    assert [STRATEGIES["random"].step_size(b, search) for b in (2, 3, 4)] == [8, 8, 6]
    assert [STRATEGIES["random"].front_size(b, search) for b in (2, 3, 4)] == [8, 8, 6]
    assert [STRATEGIES["popnas"].front_size(b, search) for b in (2, 3, 4)] == [6, 6, 6]
    assert not any(STRATEGIES["random"].exploring(b, search) for b in (2, 3, 4))
    assert not STRATEGIES["popnas"].exploring(2, {**search, "exploration": 0})
    assert STRATEGIES["popnas"].fits_time_predictor and not STRATEGIES["pnas"].fits_time_predictor


def test_each_strategy_cuts_its_front_its_own_way():
    import pandas as pd

    candidates = pd.DataFrame({"cell_id": list("abcd"), "cell": ["[]"] * 4, "predicted_accuracy": [0.9, 0.8, 0.7, 0.6],
                               "predicted_time": [9.0, 1.0, 5.0, 0.5]})  # fmt: skip
    config = {"seed": 1, "search": {"beam": 2, "time_constraint": None, "objective": ["time"]}}
    constrained = {**config, "search": {"beam": 2, "time_constraint": 2.0, "objective": ["time"]}}

    def front(name, config):
        # the caps, T among them, come before any front; T needs a time predictor
        within, _ = capped(candidates, config["search"], 2, STRATEGIES[name].fits_time_predictor)
        return STRATEGIES[name].front(within, config, 2, 2)["cell_id"].tolist()

    assert front("pnas", config) == ["a", "b"]  # accuracy alone
    # the Pareto front in accuracy order: a (best), b (faster), d (fastest); c is dominated by b
    assert front("popnas", config) == ["a", "b"]
    assert front("popnas", constrained) == ["b", "d"]
    drawn = front("random", config)
    assert len(drawn) == 2 and len(set(drawn)) == 2 and front("random", constrained) == drawn  # T needs a predictor


def candidate_pool():
    """The unique, canonical expansions of three b=1 cells, as the expand step lists them."""
    import pandas as pd

    from popnas_steps.predictors import unique_expansions
    from popnas_steps.space import canonical_ids, one_block_cells

    operators = ["3x3 conv", "identity", "2x2 maxpool"]
    unique = unique_expansions(one_block_cells(operators)[:3], operators)
    ids, texts = canonical_ids(unique, operators)
    return pd.DataFrame({"cell_id": ids, "cell": texts, "predicted_accuracy": 0.5, "predicted_time": float("nan")})


def test_the_random_draw_takes_unique_candidates_and_the_same_seed_draws_the_same_cells():
    pool = candidate_pool()
    draw = STRATEGIES["random"].front
    first = draw(pool, {"seed": 5}, 2, 10)
    assert len(first) == 10 and first["cell_id"].is_unique and set(first["cell_id"]) <= set(pool["cell_id"])
    assert first["rank"].tolist() == list(range(1, 11))
    shuffled = pool.sample(frac=1, random_state=3).reset_index(drop=True)  # scored in another order
    assert draw(shuffled, {"seed": 5}, 2, 10)["cell_id"].tolist() == first["cell_id"].tolist()
    assert draw(pool, {"seed": 6}, 2, 10)["cell_id"].tolist() != first["cell_id"].tolist()
    assert draw(pool, {"seed": 5}, 3, 10)["cell_id"].tolist() != first["cell_id"].tolist()  # each step its own
    assert draw(pool, {"seed": 5}, 2, 4)["cell_id"].tolist() == first["cell_id"].tolist()[:4]  # a prefix: uniform
    assert len(draw(pool, {"seed": 5}, 2, 10_000)) == len(pool)


def test_the_random_draw_is_uniform_over_the_candidates():
    import numpy as np

    pool = candidate_pool().head(12)
    counts = {cell: 0 for cell in pool["cell_id"]}
    for seed in range(600):
        for cell in STRATEGIES["random"].front(pool, {"seed": seed}, 2, 3)["cell_id"]:
            counts[cell] += 1
    expected = 600 * 3 / 12  # 150 each
    chi2 = sum((count - expected) ** 2 / expected for count in counts.values())
    assert chi2 < 31.3, np.array(list(counts.values()))  # the 0.1% quantile of chi2 with 11 degrees of freedom


def test_a_front_written_outside_a_step_folder_is_an_error_naming_the_file(tmp_path):
    from popnas_steps.cli import step
    from popnas_steps.config import validate

    with pytest.raises(ValueError, match=r"'.*front\.csv' is not a step's front \(b<b>/pareto\.csv\)"):
        step.pareto(validate({}), tmp_path / "candidates.parquet", tmp_path / "front.csv")


def scored_step(tmp_path, operators):
    """A run's data metadata and the candidates of its step 2 (canonical expansions of three
    one-block cells), with made-up predictions: accuracy and time grow with the cell's id hash."""
    import json

    import numpy as np

    from popnas_steps import tables

    pool = candidate_pool()
    rng = np.random.default_rng(0)
    pool["predicted_accuracy"] = rng.uniform(0.5, 0.9, len(pool)).round(3)
    pool["predicted_time"] = rng.uniform(1, 10, len(pool)).round(2)
    (tmp_path / "run" / "data").mkdir(parents=True)
    (tmp_path / "run" / "data" / "metadata.json").write_text(json.dumps({"input_shape": [8, 8, 1], "num_classes": 10}))
    step = tmp_path / "run" / "popnas" / "b2"
    step.mkdir(parents=True)
    tables.write("candidates", pool, step / "candidates.parquet")
    return step


@pytest.mark.parametrize("strategy", ["popnas", "pnas", "random"])
def test_every_front_honours_max_params_and_says_how_many_it_discarded(strategy, tmp_path, capsys):
    import pandas as pd

    from popnas_steps import tables
    from popnas_steps.cli import step
    from popnas_steps.config import validate
    from popnas_steps.macro import NetworkSpec
    from popnas_steps.space import Cell
    from popnas_steps.work import DataShape, params_of_cells

    operators = ["3x3 conv", "identity", "2x2 maxpool"]
    folder = scored_step(tmp_path, operators)
    network = {"motifs": 2, "normal_cells": 1, "filters": 4}
    candidates = tables.read("candidates", folder / "candidates.parquet")
    cells = [Cell.from_json(text) for text in candidates["cell"]]
    params = params_of_cells(cells, operators, NetworkSpec(**network), DataShape((8, 8, 1), 10))
    cap = int(pd.Series(params).median())
    config = validate({"search": {"strategy": strategy, "operators": operators, "beam": 6, "exploration": 2,
                                  "max_blocks": 3, "max_params": cap}, "network": network})  # fmt: skip
    step.pareto(config, folder / "candidates.parquet", folder / "pareto.csv")
    step.explore(config, 2, folder / "candidates.parquet", folder / "pareto.csv", folder / "exploration.csv")
    over = int((params > cap).sum())
    assert (
        f"b2: {over} of {len(candidates)} candidates have more than search.max_params = {cap}"
        in capsys.readouterr().out
    )
    by_id = dict(zip(candidates["cell_id"], params, strict=True))
    chosen = [*cell_ids(folder / "pareto.csv"), *cell_ids(folder / "exploration.csv")]
    assert chosen and all(by_id[cell_id] <= cap for cell_id in chosen)


def test_the_params_objective_makes_the_front_over_accuracy_and_parameters(tmp_path):

    from popnas_steps import search, tables
    from popnas_steps.cli import step
    from popnas_steps.config import validate
    from popnas_steps.macro import NetworkSpec
    from popnas_steps.space import Cell
    from popnas_steps.work import DataShape, params_of_cells

    operators = ["3x3 conv", "identity", "2x2 maxpool"]
    folder = scored_step(tmp_path, operators)
    network = {"motifs": 2, "normal_cells": 1, "filters": 4}
    candidates = tables.read("candidates", folder / "candidates.parquet")
    cells = [Cell.from_json(text) for text in candidates["cell"]]
    candidates["params"] = params_of_cells(cells, operators, NetworkSpec(**network), DataShape((8, 8, 1), 10))
    for objective, costs in ((["params"], ("params",)), (["time", "params"], ("predicted_time", "params"))):
        config = validate({"search": {"operators": operators, "beam": 50, "objective": objective}, "network": network})
        step.pareto(config, folder / "candidates.parquet", folder / "pareto.csv")
        expected = search.pareto_front(candidates, 50, costs)["cell_id"].tolist()
        assert cell_ids(folder / "pareto.csv") == expected
    time_only = search.pareto_front(candidates, 50)["cell_id"].tolist()
    assert len(expected) > len(time_only)  # two costs: more cells are non-dominated


@pytest.mark.parametrize("strategy", ["popnas", "pnas", "random"])
def test_every_front_honours_max_latency_ms_and_says_how_many_it_discarded(
    strategy, tmp_path, capsys, latency_measurable
):
    import numpy as np

    from popnas_steps import tables
    from popnas_steps.cli import step
    from popnas_steps.config import validate

    folder = scored_step(tmp_path, ["3x3 conv", "identity", "2x2 maxpool"])
    candidates = tables.read("candidates", folder / "candidates.parquet")
    candidates["predicted_latency"] = np.random.default_rng(1).uniform(0.1, 1.0, len(candidates)).round(3)
    tables.write("candidates", candidates, folder / "candidates.parquet")
    cap = float(candidates["predicted_latency"].median())
    config = validate({"search": {"strategy": strategy, "operators": ["3x3 conv", "identity", "2x2 maxpool"],
                                  "beam": 6, "exploration": 2, "max_blocks": 3, "max_latency_ms": cap}})  # fmt: skip
    step.pareto(config, folder / "candidates.parquet", folder / "pareto.csv")
    step.explore(config, 2, folder / "candidates.parquet", folder / "pareto.csv", folder / "exploration.csv")
    over = int((candidates["predicted_latency"] > cap).sum())
    assert (
        f"b2: {over} of {len(candidates)} candidates have more than search.max_latency_ms = {cap} ms of predicted "
        "latency and are discarded" in capsys.readouterr().out
    )
    by_id = dict(zip(candidates["cell_id"], candidates["predicted_latency"], strict=True))
    chosen = [*cell_ids(folder / "pareto.csv"), *cell_ids(folder / "exploration.csv")]
    assert chosen and all(by_id[cell_id] <= cap for cell_id in chosen)


def test_the_latency_objective_makes_the_front_over_accuracy_and_predicted_latency(tmp_path, latency_measurable):
    import numpy as np
    import pandas as pd

    from popnas_steps import search, tables
    from popnas_steps.cli import step
    from popnas_steps.config import validate

    operators = ["3x3 conv", "identity", "2x2 maxpool"]
    folder = scored_step(tmp_path, operators)
    candidates = tables.read("candidates", folder / "candidates.parquet")
    candidates["predicted_latency"] = np.random.default_rng(2).uniform(0.1, 1.0, len(candidates)).round(3)
    tables.write("candidates", candidates, folder / "candidates.parquet")
    config = validate({"search": {"operators": operators, "beam": 50, "objective": "latency"}})
    step.pareto(config, folder / "candidates.parquet", folder / "pareto.csv")
    front = pd.read_csv(folder / "pareto.csv")
    assert front["cell_id"].tolist() == search.pareto_front(candidates, 50, ("predicted_latency",))["cell_id"].tolist()
    assert front["cell_id"].tolist() != search.pareto_front(candidates, 50)["cell_id"].tolist()
    assert (np.diff(front["predicted_latency"]) < 0).all()  # by accuracy down, each one faster


def test_a_latency_objective_without_predicted_latencies_is_an_error_saying_why(tmp_path, latency_measurable):
    from popnas_steps.cli import step
    from popnas_steps.config import validate

    folder = scored_step(tmp_path, ["3x3 conv", "identity", "2x2 maxpool"])  # no predicted_latency: an older step
    config = validate({"search": {"operators": ["3x3 conv", "identity", "2x2 maxpool"], "objective": "latency"}})
    with pytest.raises(ValueError, match="no latency predictor was fitted"):
        step.pareto(config, folder / "candidates.parquet", folder / "pareto.csv")


def b1_trained(steps, operators):
    """b1/trained.csv of a run: every one-block cell of `operators` trained ok."""
    from popnas_steps import tables
    from popnas_steps.collect import trained_table
    from popnas_steps.space import one_block_cells
    from popnas_steps.tables import selection_table

    cells = one_block_cells(operators)
    results = [{"cell_id": cell.cell_id, "cell": cell.to_list(), "status": "ok", "accuracy": 0.5, "time": 2.0,
                "params": 1000} for cell in cells]  # fmt: skip
    tables.write("trained", trained_table(results, selection_table(cells, "b1"), 1), steps / "b1" / "trained.csv")


def empty_step_after(steps, config, b):
    """Steps b-1's empty trained table, then step b fitted, expanded, cut and selected as the
    rules do; the select step's line."""
    from popnas_steps import tables
    from popnas_steps.cli import step
    from popnas_steps.collect import trained_table

    before, folder = steps / f"b{b - 1}", steps / f"b{b}"
    tables.write("trained", trained_table([], tables.read("selected", before / "selected.csv"), b - 1),
                 before / "trained.csv")  # fmt: skip
    step.fit(config, [before / "trained.csv"], steps / "reindex.csv", folder / "predictors")
    step.expand(config, folder / "predictors", before / "trained.csv", folder / "candidates.parquet")
    step.pareto(config, folder / "candidates.parquet", folder / "pareto.csv")
    step.explore(config, b, folder / "candidates.parquet", folder / "pareto.csv", folder / "exploration.csv")
    line = step.select(config, b, folder / "pareto.csv", folder / "exploration.csv", folder / "selected.csv",
                       folder / "dropped.csv")  # fmt: skip
    assert tables.read("pareto", folder / "pareto.csv").empty and tables.read("selected", folder / "selected.csv").empty
    return line


@pytest.mark.parametrize("strategy", ["popnas", "pnas", "random"])
@pytest.mark.parametrize("objective", [["time"], ["params"], ["time", "params"]])
def test_a_step_left_empty_by_a_cap_ends_the_search_and_says_which_cap(strategy, objective, tmp_path):
    from popnas_steps.cli import step
    from popnas_steps.config import validate

    operators = ["3x3 conv", "identity", "2x2 maxpool"]
    b2 = scored_step(tmp_path, operators)
    b1_trained(b2.parent, operators)
    config = validate({"search": {"strategy": strategy, "operators": operators, "beam": 2, "exploration": 1,
                                  "max_blocks": 3, "max_params": 1, "objective": objective},
                       "network": {"motifs": 1, "normal_cells": 1, "filters": 4}})  # fmt: skip
    step.pareto(config, b2 / "candidates.parquet", b2 / "pareto.csv")
    step.explore(config, 2, b2 / "candidates.parquet", b2 / "pareto.csv", b2 / "exploration.csv")
    line = step.select(config, 2, b2 / "pareto.csv", b2 / "exploration.csv", b2 / "selected.csv", b2 / "dropped.csv")
    assert line == ("b2: nothing to select: no candidate of step b2 is within search.max_params = 1 (pareto_b2.log "
                    "says how many each discarded)")  # fmt: skip
    # b3 counts the parameters of no candidate: an empty front, not a failed job
    line = empty_step_after(b2.parent, config, 3)
    assert line.startswith("b3: nothing to select: step b2 selected no cell: no candidate of step b2 is within "
                           "search.max_params = 1")  # fmt: skip


@pytest.mark.parametrize("search", [{"max_params": 100_000_000}, {"objective": ["params"]}])
def test_a_step_after_one_the_budget_emptied_ends_the_search_where_parameters_are_counted(search, tmp_path):
    from popnas_steps import tables
    from popnas_steps.config import validate

    from .test_budget import selection

    operators = ["3x3 conv", "identity", "2x2 maxpool"]
    steps = scored_step(tmp_path, operators).parent
    b1_trained(steps, operators)
    # the budget dropped every cell of b2's fronts
    tables.write("selected", tables.empty("selected"), steps / "b2" / "selected.csv")
    dropped = selection([0.9]).assign(predicted_seconds=5.0, reason="budget used up")
    tables.write("dropped", dropped[tables.COLUMNS["dropped"]], steps / "b2" / "dropped.csv")
    config = validate({"search": {"strategy": "popnas", "operators": operators, "max_blocks": 3,
                                  "budget_hours": 0.00001, **search}})  # fmt: skip
    line = empty_step_after(steps, {**config, "search": {**config["search"], "budget_hours": None}}, 3)
    assert line.startswith("b3: nothing to select: step b2 selected no cell: the budget ended the search at b2")
