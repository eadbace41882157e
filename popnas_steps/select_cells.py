"""Entry point: write a step's selection, `selected.csv`, and a `cell.json` per selected cell.

    python -m popnas_steps.select_cells thrust --out b0/selected.csv --cells-dir cells
    python -m popnas_steps.select_cells b1 --settings '{"search": {...}}' --out b1/selected.csv --cells-dir cells

`selected.csv` columns: cell_id, cell (JSON), origin (thrust | b1 | pareto | exploration),
predicted_accuracy, predicted_time (empty where no prediction was made).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from popnas_steps.config import ConfigError, add_config_arguments, config_from_args
from popnas_steps.space import Cell, one_block_cells

SELECTED_COLUMNS = ["cell_id", "cell", "origin", "predicted_accuracy", "predicted_time"]


def selection_table(cells: list[Cell], origin: str) -> pd.DataFrame:
    rows = [{"cell_id": cell.cell_id, "cell": cell.to_json(), "origin": origin} for cell in cells]
    return pd.DataFrame(rows, columns=SELECTED_COLUMNS)


def write_selection(table: pd.DataFrame, out: str | Path, cells_dir: str | Path) -> None:
    """Write selected.csv and, for each cell, cells/<cell_id>/cell.json (left alone if present)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for row in table.itertuples():
        cell_file = Path(cells_dir) / row.cell_id / "cell.json"
        if not cell_file.exists():  # an equivalent cell trained before keeps its files
            cell_file.parent.mkdir(parents=True, exist_ok=True)
            cell_file.write_text(row.cell + "\n")
    table.to_csv(out, index=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m popnas_steps.select_cells", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    thrust = commands.add_parser("thrust", help="the empty cell (initial thrust)")
    b1 = commands.add_parser("b1", help="every unique one-block cell")
    add_config_arguments(b1)
    for command in (thrust, b1):
        command.add_argument("--out", required=True, help="selected.csv to write")
        command.add_argument("--cells-dir", required=True, help="the run's cells/ folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "thrust":
            table = selection_table([Cell()], "thrust")
        else:
            table = selection_table(one_block_cells(config_from_args(args)["search"]["operators"]), "b1")
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_selection(table, args.out, args.cells_dir)
    print(f"selected {len(table)} cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
