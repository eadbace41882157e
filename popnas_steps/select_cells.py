"""The selections of the initial thrust and of step b=1 as `selected.csv` tables
(command line: popnas_steps.cli.select_cells)."""

from __future__ import annotations

import pandas as pd

from popnas_steps import tables
from popnas_steps.space import Cell


def selection_table(cells: list[Cell], origin: str) -> pd.DataFrame:
    rows = [{"cell_id": cell.cell_id, "cell": cell.to_json(), "origin": origin} for cell in cells]
    return pd.DataFrame(rows, columns=tables.COLUMNS["selected"])
