import json

import pandas as pd
import pytest

from popnas_steps import collect, tables
from popnas_steps.cli import select_cells as cli_select_cells
from popnas_steps.space import Cell


def test_b1_selection_writes_every_one_block_cell(tmp_path, capsys):
    settings = json.dumps({"search": {"operators": ["3x3 conv", "identity"]}})
    out = tmp_path / "b1" / "selected.csv"
    assert cli_select_cells.main(["b1", "--settings", settings, "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == tables.COLUMNS["selected"]
    assert len(table) == 10 and table["cell_id"].is_unique and set(table["origin"]) == {"b1"}
    for row in table.itertuples():
        assert Cell.from_json(row.cell).cell_id == row.cell_id


def test_bad_settings_are_rejected(tmp_path, capsys):
    settings = json.dumps({"search": {"operators": ["3x3 conv"], "beams": 3}})
    assert cli_select_cells.main(["b1", "--settings", settings, "--out", str(tmp_path / "s.csv")]) == 2
    assert "search.beams" in capsys.readouterr().err


def test_collect_joins_results_to_the_selection(tmp_path):
    cells = [Cell(), Cell.from_json('[[-1, "identity", -1, "identity"]]')]
    selected = tables.selection_table(cells, "b1")
    ok = {"cell_id": cells[0].cell_id, "cell": [], "status": "ok", "accuracy": 0.5, "time": 2.0, "params": 20}
    failed = {"cell_id": cells[1].cell_id, "cell": cells[1].to_list(), "status": "failed", "reason": "NaN loss"}
    table = collect.trained_table([failed, ok], selected, b=1)
    assert list(table.columns) == tables.COLUMNS["trained"]
    assert table["status"].tolist() == ["ok", "failed"]
    assert table["reason"].tolist()[1] == "NaN loss" and pd.isna(table["accuracy"][1])
    with pytest.raises(ValueError, match=cells[1].cell_id):
        collect.trained_table([ok], selected, b=1)


def test_collect_carries_each_cells_sharing_of_its_device(tmp_path):
    texts = ["[]", '[[-1, "identity", -1, "identity"]]', '[[-2, "3x3 conv", -1, "identity"]]']
    cells = [Cell.from_json(text) for text in texts]
    sharing = {"device": "gpu0", "trainings_per_gpu": 4, "concurrent_max": 4}
    results = [
        ok_result(cells[0], 0.5, 2.0, 20),  # written before sharing was recorded: alone
        ok_result(cells[1], 0.6, 3.0, 30) | {"sharing": sharing | {"concurrent_mean": 2.5}},
        ok_result(cells[2], float("nan"), 3.0, 30) | {"sharing": sharing | {"concurrent_mean": 3.0}},
    ]
    table = collect.trained_table(results, tables.selection_table(cells, "b2"), b=2)
    assert table["concurrent"].tolist() == [1.0, 2.5, 3.0]  # an implausible result keeps its sharing
    tables.write("trained", table, tmp_path / "trained.csv")
    assert tables.read("trained", tmp_path / "trained.csv")["concurrent"].tolist() == [1.0, 2.5, 3.0]


def test_a_step_whose_cells_all_failed_has_nothing_to_expand(tmp_path):
    from popnas_steps.cli import step
    from popnas_steps.config import validate

    cells = [Cell.from_json('[[-1, "identity", -1, "identity"]]')]
    failed = {"cell_id": cells[0].cell_id, "cell": cells[0].to_list(), "status": "failed", "reason": "NaN loss"}
    collect.trained_table([failed], tables.selection_table(cells, "b1"), b=1).to_csv(tmp_path / "t.csv")
    with pytest.raises(ValueError, match="t.csv' has no successfully trained cell to expand"):
        step.expand(validate({}), tmp_path / "predictors", tmp_path / "t.csv", tmp_path / "c.parquet")


def ok_result(cell: Cell, accuracy: float, time: float, params: int) -> dict:
    return {"cell_id": cell.cell_id, "cell": cell.to_list(), "status": "ok", "accuracy": accuracy, "time": time,
            "params": params}  # fmt: skip


def test_implausible_results_are_collected_as_failed_rows():
    texts = ["[]", '[[-1, "identity", -1, "identity"]]', '[[-2, "3x3 conv", -1, "identity"]]']
    cells = [Cell.from_json(text) for text in texts]
    measured = [(float("nan"), 2.0, 20), (0.5, -3.0, 30), (0.7, 4.0, 40)]  # NaN accuracy, negative time, plausible
    results = [ok_result(cell, *values) for cell, values in zip(cells, measured, strict=True)]
    table = collect.trained_table(results, tables.selection_table(cells, "b1"), b=1)
    assert table["status"].tolist() == ["failed", "failed", "ok"]
    assert table[["accuracy", "time", "params"]].iloc[:2].isna().all().all()
    assert table["reason"][0] == "invalid result: accuracy nan is not a number in [0, 1]"
    assert table["reason"][1] == "invalid result: time -3.0 is not a non-negative number of seconds"
    assert table["cell"][1] == cells[1].to_json() and table["origin"].tolist() == ["b1"] * 3
    assert table.iloc[2][["accuracy", "time", "params"]].tolist() == [0.7, 4.0, 40] and pd.isna(table["reason"][2])
    assert len(tables.ok_rows(table)) == 1


def test_collect_refuses_a_truncated_result_and_leaves_the_table_alone(tmp_path, capsys):
    from popnas_steps.cli import collect as cli_collect

    cell = Cell.from_json('[[-1, "identity", -1, "identity"]]')
    tables.write("selected", tables.selection_table([cell], "b1"), tmp_path / "selected.csv")
    result = tmp_path / "cells" / cell.cell_id / "result.json"
    result.parent.mkdir(parents=True)
    result.write_text(json.dumps({"cell_id": cell.cell_id, "cell": cell.to_list(), "status": "ok"})[:30])
    args = ["--b", "1", "--selected", str(tmp_path / "selected.csv"), str(result)]
    assert cli_collect.main([*args, "--out", str(tmp_path / "new.csv")]) == 2
    assert f"result '{result}' is not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "new.csv").exists()
    (tmp_path / "old.csv").write_text("earlier\n")
    assert cli_collect.main([*args, "--out", str(tmp_path / "old.csv")]) == 2
    assert str(result) in capsys.readouterr().err
    assert (tmp_path / "old.csv").read_text() == "earlier\n"
    result.write_text(json.dumps({"cell_id": cell.cell_id, "cell": cell.to_list(), "status": "failed", "reason": "x"}))
    assert cli_collect.main([*args, "--out", str(tmp_path / "old.csv")]) == 0
    assert tables.read("trained", tmp_path / "old.csv")["reason"].tolist() == ["x"]
