import json

import pandas as pd
import pytest

from popnas_steps import collect, select_cells, tables
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
    selected = select_cells.selection_table(cells, "b1")
    ok = {"cell_id": cells[0].cell_id, "cell": [], "status": "ok", "accuracy": 0.5, "time": 2.0, "params": 20}
    failed = {"cell_id": cells[1].cell_id, "cell": cells[1].to_list(), "status": "failed", "reason": "NaN loss"}
    table = collect.trained_table([failed, ok], selected, b=1)
    assert list(table.columns) == tables.COLUMNS["trained"]
    assert table["status"].tolist() == ["ok", "failed"]
    assert table["reason"].tolist()[1] == "NaN loss" and pd.isna(table["accuracy"][1])
    with pytest.raises(ValueError, match=cells[1].cell_id):
        collect.trained_table([ok], selected, b=1)


def test_a_step_whose_cells_all_failed_has_nothing_to_expand(tmp_path):
    from popnas_steps.cli import step
    from popnas_steps.config import validate

    cells = [Cell.from_json('[[-1, "identity", -1, "identity"]]')]
    failed = {"cell_id": cells[0].cell_id, "cell": cells[0].to_list(), "status": "failed", "reason": "NaN loss"}
    collect.trained_table([failed], select_cells.selection_table(cells, "b1"), b=1).to_csv(tmp_path / "t.csv")
    with pytest.raises(ValueError, match="t.csv' has no successfully trained cell to expand"):
        step.expand(validate({}), tmp_path / "predictors", tmp_path / "t.csv", tmp_path / "c.parquet")
