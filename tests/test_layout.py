"""popnas_steps.layout: a run's paths built and parsed in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from popnas_steps.layout import RunLayout, step_number


def test_the_paths_of_a_run():
    layout = RunLayout("results/tiny", "popnas")
    assert layout.run_dir == Path("results/tiny")
    assert layout.metadata == Path("results/tiny/data/metadata.json")
    assert layout.result("0123456789ab") == Path("results/tiny/cells/0123456789ab/result.json")
    assert layout.table(2, "selected") == Path("results/tiny/popnas/b2/selected.csv")
    assert layout.table(3, "candidates") == Path("results/tiny/popnas/b3/candidates.parquet")
    assert layout.predictors(2) == Path("results/tiny/popnas/b2/predictors")
    assert (layout.final, layout.report) == (Path("results/tiny/popnas/final"), Path("results/tiny/popnas/report"))
    assert RunLayout("results/tiny", "pnas").cells == layout.cells  # a cell trains once for every strategy


def test_a_step_file_names_its_run_and_step():
    layout, b = RunLayout.of_step_file("results/tiny/pnas/b12/selected.csv")
    assert (layout, b) == (RunLayout(Path("results/tiny"), "pnas"), 12)
    assert RunLayout.of_steps("results/tiny/pnas") == layout
    with pytest.raises(ValueError, match="names no run and step"):
        RunLayout.of_step_file("elsewhere/selected.csv")


def test_steps_are_found_in_numeric_order_and_only_with_their_file(tmp_path):
    layout = RunLayout(tmp_path, "popnas")
    for name in ("b0", "b1", "b10", "b2", "backup", "b2x"):
        (layout.steps / name).mkdir(parents=True)
    for b in (0, 2, 10):
        layout.table(b, "selected").write_text("cell_id\n")
    assert layout.step_numbers() == [0, 1, 2, 10]
    assert layout.step_files("selected") == {b: layout.table(b, "selected") for b in (0, 2, 10)}
    assert [step_number(name) for name in ("b7", "b", "b-1", "final")] == [7, None, None, None]
