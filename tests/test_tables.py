import numpy as np
import pandas as pd
import pytest

from popnas_steps import tables


def trained(statuses, accuracies, times) -> pd.DataFrame:
    n = len(statuses)
    return pd.DataFrame({
        "cell_id": [f"c{i}" for i in range(n)], "cell": ["[]"] * n, "b": 1, "origin": "b1", "status": statuses,
        "accuracy": accuracies, "time": times, "params": 10, "predicted_accuracy": np.nan,
        "predicted_time": np.nan, "reason": None,
    })  # fmt: skip


def test_a_table_round_trips_with_its_columns_first(tmp_path):
    table = trained(["ok", "failed"], [0.5, np.nan], [1.0, np.nan]).assign(extra=1, concurrent=1.0)
    table = table.assign(latency_ms=0.5, latency_relative=1.5, predicted_latency=0.6)
    table = table[["extra", *reversed(tables.COLUMNS["trained"])]]  # any order in memory
    tables.write("trained", table, tmp_path / "b1" / "trained.csv")
    back = tables.read("trained", tmp_path / "b1" / "trained.csv")
    assert list(back.columns) == [*tables.COLUMNS["trained"], "extra"]
    assert not (tmp_path / "b1" / "trained.csv.partial").exists()
    both = tables.read("trained", tmp_path / "b1" / "trained.csv", tmp_path / "b1" / "trained.csv")
    assert len(both) == 4


def test_a_trained_table_written_before_the_concurrent_column_reads_as_alone(tmp_path):
    old = trained(["ok", "failed"], [0.5, np.nan], [1.0, np.nan])  # the columns of earlier runs
    assert "concurrent" not in old.columns
    old.to_csv(tmp_path / "old.csv", index=False)
    back = tables.read("trained", tmp_path / "old.csv")
    assert list(back.columns) == tables.COLUMNS["trained"] and back["concurrent"].tolist() == [1.0, 1.0]
    assert tables.damage(tmp_path / "old.csv") is None  # not a table to make again
    tables.write("trained", old, tmp_path / "new.csv")
    assert tables.read("trained", tmp_path / "new.csv").equals(back)


def test_parquet_by_suffix(tmp_path):
    table = pd.DataFrame({"cell_id": ["a"], "cell": ["[]"], "predicted_accuracy": [0.5], "predicted_time": [1.0],
                          "predicted_latency": [0.2]})  # fmt: skip
    tables.write("candidates", table, tmp_path / "candidates.parquet")
    assert tables.read("candidates", tmp_path / "candidates.parquet").equals(table)


def test_a_table_without_its_columns_is_an_error_naming_the_file_and_columns(tmp_path):
    (tmp_path / "selected.csv").write_text("cell_id,cell\na,[]\n")
    with pytest.raises(tables.TableError, match=r"selected.csv: not a selected table, it lacks the columns "
                       r"\['origin', 'predicted_accuracy', 'predicted_time'\]"):  # fmt: skip
        tables.read("selected", tmp_path / "selected.csv")


def test_ok_rows_and_best():
    table = trained(["ok", "failed", "ok", "ok"], [0.7, np.nan, 0.9, 0.9], [1.0, np.nan, 3.0, 2.0])
    assert tables.ok_rows(table)["cell_id"].tolist() == ["c0", "c2", "c3"]
    assert tables.best(table, 2)["cell_id"].tolist() == ["c3", "c2"]  # a tie goes to the faster
    assert tables.empty("pareto").columns.tolist() == tables.COLUMNS["pareto"]


def candidates_table() -> pd.DataFrame:
    return pd.DataFrame({"cell_id": ["a"], "cell": ["[]"], "predicted_accuracy": [0.5], "predicted_time": [1.0]})


def test_good_tables_have_no_damage(tmp_path):
    tables.write("trained", trained(["ok"], [0.5], [1.0]), tmp_path / "trained.csv")
    tables.write("candidates", candidates_table(), tmp_path / "candidates.parquet")
    assert tables.damage(tmp_path / "trained.csv") is None
    assert tables.damage(tmp_path / "candidates.parquet") is None
    assert tables.damage(str(tmp_path / "candidates.parquet")) is None


def test_a_truncated_parquet_is_damaged_and_unreadable(tmp_path):
    path = tmp_path / "candidates.parquet"
    tables.write("candidates", candidates_table(), path)
    path.write_bytes(path.read_bytes()[:-20])  # lost its footer
    assert tables.damage(path).startswith(f"table '{path}' cannot be read (truncated or damaged?): ")
    with pytest.raises(tables.DamagedTableError, match=f"table '{path}' cannot be read") as raised:
        tables.read("candidates", path)
    assert raised.value.path == path and isinstance(raised.value, tables.TableError)


def test_a_garbage_csv_is_damaged_and_unreadable(tmp_path):
    path = tmp_path / "trained.csv"
    path.write_bytes(b"\xff\xfe\x00\x81garbage\n\x00\xff\xc3")
    assert tables.damage(path).startswith(f"table '{path}' cannot be read (truncated or damaged?): ")
    with pytest.raises(tables.DamagedTableError, match=f"table '{path}' cannot be read") as raised:
        tables.read("trained", path)
    assert raised.value.path == path


def test_an_empty_csv_is_damaged(tmp_path):
    (tmp_path / "selected.csv").write_text("")
    assert "selected.csv' cannot be read" in tables.damage(tmp_path / "selected.csv")
    with pytest.raises(tables.DamagedTableError):
        tables.read("selected", tmp_path / "selected.csv")


def test_a_missing_table_is_not_found_rather_than_damaged(tmp_path):
    with pytest.raises(FileNotFoundError, match="none.csv' does not exist"):
        tables.read("trained", tmp_path / "none.csv")
    with pytest.raises(FileNotFoundError):
        tables.read("candidates", tmp_path / "none.parquet")


def predicted_selection(n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "cell_id": [f"{i:012x}" for i in range(n)],
        "cell": ['[[-2, "3x3 dconv", -1, "2x2 maxpool"], [-2, "1x1 conv", 0, "3x3 conv"]]'] * n,
        "origin": "exploration", "predicted_accuracy": [0.123456789 + i / 1000 for i in range(n)],
        "predicted_time": [12.3456789 + i for i in range(n)],
    })  # fmt: skip


def test_a_selection_cut_mid_row_that_still_parses_is_damaged(tmp_path):
    path = tmp_path / "b2" / "selected.csv"
    tables.write("selected", predicted_selection(3), path)
    header, row, *_ = path.read_text().splitlines(keepends=True)
    assert len(row) > 110
    path.write_text(header + row[:110])  # the cut: header and the first 110 characters of row 1
    assert len(pd.read_csv(path)) == 1  # still parses: only the checksum tells it from a shorter table
    why = tables.damage(path)
    assert why == (
        f"table '{path}' does not match its checksum (cut or edited after it was written): 3 rows expected, 1 found"
    )
    with pytest.raises(tables.DamagedTableError, match="does not match its checksum") as raised:
        tables.read("selected", path)
    assert raised.value.path == path


def test_a_csv_written_by_tables_write_has_a_sidecar_and_is_not_damaged(tmp_path):
    path = tmp_path / "b2" / "selected.csv"
    tables.write("selected", predicted_selection(1000), path)
    digest, rows = (tmp_path / "b2" / ".selected.csv.sha256").read_text().split()
    assert rows == "1000" and len(digest) == 64 and tables.sidecar_path(path).name == ".selected.csv.sha256"
    assert tables.damage(path) is None and len(tables.read("selected", path)) == 1000
    assert not list((tmp_path / "b2").glob("*.partial"))


def test_rewriting_a_table_updates_its_sidecar(tmp_path):
    path = tmp_path / "selected.csv"
    tables.write("selected", predicted_selection(3), path)
    tables.write("selected", predicted_selection(2), path)
    assert tables.damage(path) is None and len(tables.read("selected", path)) == 2
    assert tables.sidecar_path(path).read_text().split()[1] == "2"


def test_a_csv_without_a_sidecar_reads_as_before(tmp_path):
    path = tmp_path / "selected.csv"
    predicted_selection(2).to_csv(path, index=False)  # an older popnas, or a table written by hand
    assert not tables.sidecar_path(path).exists()
    assert tables.damage(path) is None and len(tables.read("selected", path)) == 2


def test_a_table_edited_by_hand_is_damaged_until_its_sidecar_is_deleted(tmp_path):
    path = tmp_path / "selected.csv"
    tables.write("selected", predicted_selection(2), path)
    predicted_selection(2).assign(origin="by hand").to_csv(path, index=False)
    assert "2 rows expected, 2 found" in tables.damage(path)
    tables.sidecar_path(path).unlink()
    assert tables.damage(path) is None


def test_a_table_whose_sidecar_is_unreadable_is_damaged(tmp_path):
    path = tmp_path / "selected.csv"
    tables.write("selected", predicted_selection(2), path)
    tables.sidecar_path(path).write_text("")  # not written by popnas, which writes it whole
    assert "does not match its checksum" in tables.damage(path)


def test_a_killed_write_between_table_and_sidecar_leaves_a_damaged_table(tmp_path, monkeypatch):
    path = tmp_path / "selected.csv"
    tables.write("selected", predicted_selection(3), path)

    def killed(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(tables, "write_text", killed)
    with pytest.raises(KeyboardInterrupt):
        tables.write("selected", predicted_selection(2), path)
    assert "3 rows expected, 2 found" in tables.damage(path)  # made again rather than trusted
