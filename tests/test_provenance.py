"""A run's files carry what made them, and a plan compares it with the config (issue: a
copied run, without .snakemake/, silently kept results of another recipe, seed or data)."""

import builtins
import json
import os
from pathlib import Path

import numpy as np
import pytest

from popnas_steps import tables
from popnas_steps.datasets import DatasetError, prepare, source_files
from popnas_steps.layout import RunLayout
from popnas_steps.provenance import data_differences, differences, recipe, source_change, source_fingerprint
from popnas_steps.results import stale_artefacts
from popnas_steps.space import Cell
from popnas_steps.train_cell import made_of, record_crash
from tests.conftest import tiny_config
from tests.test_idx import write_idx_folder

CELL = Cell.from_json('[[-1, "3x3 conv", -2, "identity"]]')
EMPTY = Cell()


def write_npz(path: Path, n: int = 40, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    np.savez(path, x=rng.integers(0, 256, (n, 8, 8), dtype=np.uint8), y=np.arange(n) % 2)
    return path


def npz_config(path: Path, **overrides) -> dict:
    dataset = {"source": "npz", "path": str(path), **overrides.pop("dataset", {})}
    return tiny_config(dataset=dataset, **overrides)


@pytest.fixture
def run(tmp_path, monkeypatch):
    """A prepared run whose b0 (the thrust) and b1 (one cell) are trained and collected."""
    monkeypatch.chdir(tmp_path)
    source = write_npz(tmp_path / "source.npz")
    config = npz_config(source)
    layout = RunLayout("results/r", "popnas")
    prepare(config["dataset"], config["seed"], layout.data)
    for b, cell in enumerate((EMPTY, CELL)):
        result = {"cell_id": cell.cell_id, "cell": cell.to_list(), "status": "ok", "accuracy": 0.5, "time": 1.0,
                  "params": 10, **made_of(config, layout.data)}  # fmt: skip
        layout.cell(cell.cell_id).mkdir(parents=True)
        layout.result(cell.cell_id).write_text(json.dumps(result))
        selected = tables.selection_table([cell], "b1")
        tables.write("selected", selected, layout.table(b, "selected"))
    return layout, config, source


def test_a_run_made_with_its_config_is_not_stale(run):
    layout, config, _ = run
    assert stale_artefacts(layout, config) == (set(), [])


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"training": {"epochs": 3}}, "training.epochs"),
        ({"network": {"filters": 32}}, "network.filters"),
        ({"training": {"augment_on_device": True}}, "training.augment_on_device"),  # a later key, set
    ],
)
def test_a_result_of_another_recipe_is_trained_again_naming_the_key(run, change, key):
    layout, config, source = run
    forced, reasons = stale_artefacts(layout, npz_config(source, **change))
    assert forced == {str(layout.result(EMPTY.cell_id)), str(layout.result(CELL.cell_id))}
    assert len(reasons) == 1 and key in reasons[0] and "2 result(s)" in reasons[0]
    assert "they will be trained again" in reasons[0]


@pytest.mark.parametrize(
    ("change", "key"),
    [({"seed": 8}, "seed ="), ({"dataset": {"image_size": [16, 16]}}, "dataset.image_size"),
     ({"dataset": {"val_fraction": 0.2}}, "dataset.val_fraction")],
)  # fmt: skip
def test_data_prepared_with_other_settings_is_prepared_again(run, change, key):
    layout, config, source = run
    forced, reasons = stale_artefacts(layout, npz_config(source, **change))
    assert forced == {str(layout.metadata)}  # and so every cell, which depends on it
    assert len(reasons) == 1 and key in reasons[0] and "every cell trained again" in reasons[0]


def test_a_replaced_source_file_is_noticed(run):
    layout, config, source = run
    write_npz(source, n=20, seed=1)  # 40 images became 20
    forced, reasons = stale_artefacts(layout, config)
    assert forced == {str(layout.metadata)}
    assert "changed since the data was prepared" in reasons[0] and str(source) in reasons[0]


def test_a_touched_or_copied_source_with_the_same_bytes_is_not_a_change(run):
    layout, config, source = run
    recorded = json.loads(layout.metadata.read_text())["source_files"]
    os.utime(source, (1, 1))  # copied without -p: another time, the same bytes
    assert source_change(recorded, source) is None
    assert stale_artefacts(layout, config) == (set(), [])


def test_a_run_copied_without_its_source_keeps_its_prepared_data(run):
    layout, config, source = run
    source.unlink()
    assert stale_artefacts(layout, config) == (set(), [])


def test_a_result_of_another_split_is_trained_again(run):
    layout, config, _ = run
    result = json.loads(layout.result(CELL.cell_id).read_text())
    layout.result(CELL.cell_id).write_text(json.dumps({**result, "data_sha256": "0" * 64}))
    forced, reasons = stale_artefacts(layout, config)
    assert forced == {str(layout.result(CELL.cell_id))} and "another split of the data" in reasons[0]


def test_a_result_of_an_older_popnas_compares_what_it_recorded(run):
    layout, config, _ = run
    result = json.loads(layout.result(CELL.cell_id).read_text())
    for key in ("network", "data_sha256"):
        del result[key]
    del result["training"]["translation"]
    layout.result(CELL.cell_id).write_text(json.dumps(result))
    assert stale_artefacts(layout, config) == (set(), [])
    assert stale_artefacts(layout, tiny_config(training={"epochs": 5}, dataset=config["dataset"]))[0]


def test_a_failed_thrust_is_trained_again(run):
    layout, config, _ = run
    crashed = record_crash(EMPTY, layout.cell(EMPTY.cell_id), 9, "the warm worker", made_of(config, layout.data), 2)
    assert crashed["attempts"] == 2
    forced, reasons = stale_artefacts(layout, config)
    assert forced == {str(layout.result(EMPTY.cell_id))}
    assert "the initial thrust failed" in reasons[0] and "killed by signal 9" in reasons[0]


def test_a_final_training_of_another_recipe_is_trained_again(run):
    layout, config, _ = run
    metrics = layout.final / CELL.cell_id / "metrics.json"
    metrics.parent.mkdir(parents=True)
    sha = json.loads(layout.metadata.read_text())["sha256"]
    metrics.write_text(json.dumps({"epochs": 254, "settings": recipe(config, "final"), "data_sha256": sha}))
    assert stale_artefacts(layout, config) == (set(), [])
    assert stale_artefacts(layout, {**config, "final": {**config["final"], "top": 3}}) == (set(), [])  # not its
    forced, reasons = stale_artefacts(layout, {**config, "final": {**config["final"], "epochs": 30}})
    assert forced == {str(metrics)} and "final.epochs = 254, but the config has 30" in reasons[0]


def test_the_prepared_data_records_its_settings_and_source(tmp_path):
    source = write_npz(tmp_path / "s.npz")
    config = npz_config(source)
    metadata = prepare(config["dataset"], config["seed"], tmp_path / "data")
    assert metadata["settings"] == recipe(config, "data")
    assert metadata["source_files"] == source_fingerprint(source, [source])
    assert metadata["source_files"]["files"] == 1 and metadata["source_files"]["bytes"] == source.stat().st_size
    assert not list((tmp_path / "data").glob("*.partial"))


def test_a_folder_source_is_fingerprinted_by_the_images_it_reads(tmp_path):
    folder = tmp_path / "images"
    (folder / "cat").mkdir(parents=True)
    (folder / "cat" / "a.png").write_bytes(b"one")
    dataset = {"source": "folder", "path": str(folder)}
    before = source_fingerprint(folder, source_files(dataset))
    (folder / "cat" / ".DS_Store").write_bytes(b"ignored")
    (folder / "cat" / "notes.txt").write_bytes(b"not an image")
    (folder / "README").write_bytes(b"not a class")
    assert source_fingerprint(folder, source_files(dataset)) == before
    (folder / "cat" / "a.png").write_bytes(b"two")
    assert "changed since the data was prepared" in source_change(before, folder, source_files(dataset))


def test_a_fingerprint_of_an_older_popnas_is_compared_with_every_file_it_covered(tmp_path):
    folder = write_idx_folder(tmp_path / "files")
    (folder / "README").write_text("MNIST")
    dataset = {"source": "idx", "path": str(folder)}
    older = source_fingerprint(folder)  # every file but hidden ones, without a scope
    assert "scope" not in older and older["files"] == 5
    assert source_change(older, folder, source_files(dataset)) is None  # its data is not prepared again
    (folder / "README").write_text("MNIST, the digits")
    assert "5 file(s) of" in source_change(older, folder, source_files(dataset))


def unreadable(monkeypatch, *paths: Path) -> None:
    """open() refuses `paths` as chmod 000 would for anyone but root, whom the tests run as."""
    denied, real_open = {str(path) for path in paths}, builtins.open

    def guarded(file, *args, **kwargs):
        if str(file) in denied:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)


def idx_source(tmp_path) -> tuple[Path, dict]:
    """An IDX folder beside files of no concern to the source: a README and a lost+found."""
    folder = write_idx_folder(tmp_path / "files")
    (folder / "README").write_text("MNIST")
    (folder / "lost+found").mkdir()
    (folder / "lost+found" / "#1234").write_bytes(b"?")
    return folder, npz_config(folder, dataset={"source": "idx"})


def test_an_unreadable_file_beside_the_source_files_is_not_read(tmp_path, monkeypatch):
    folder, config = idx_source(tmp_path)
    unreadable(monkeypatch, folder / "README", folder / "lost+found" / "#1234")
    metadata = prepare(config["dataset"], config["seed"], tmp_path / "data")
    assert metadata["source_files"]["files"] == 4
    (folder / "README").write_text("MNIST, the digits")
    assert data_differences(metadata, config) == []


def test_an_unreadable_source_file_is_a_clear_error_naming_it(tmp_path, monkeypatch):
    folder, config = idx_source(tmp_path)
    metadata = prepare(config["dataset"], config["seed"], tmp_path / "data")
    labels = folder / "train-labels-idx1-ubyte.gz"
    unreadable(monkeypatch, labels)
    with pytest.raises(DatasetError, match=f"'{labels}' cannot be read \\(Permission denied\\)"):
        prepare(config["dataset"], config["seed"], tmp_path / "again")
    assert data_differences(metadata, config) == []  # unchanged: not read
    os.utime(labels, (1, 1))  # changed: read, and the plan says why it cannot be
    (reason,) = data_differences(metadata, config)
    assert "changed since the data was prepared" in reason and f"'{labels}' cannot be read" in reason


def test_differences_name_each_key_and_skip_what_was_not_recorded():
    recorded = {"seed": 1, "training": {"epochs": 2, "batch_size": 16}}
    expected = {"seed": 1, "training": {"epochs": 3, "batch_size": 16, "new_key": 0}, "network": {"filters": 8}}
    assert differences(recorded, expected) == [("training.epochs", 2, 3)]
