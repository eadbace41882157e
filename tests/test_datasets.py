import json

import numpy as np
import pytest

from popnas_steps.cli import datasets as cli_datasets
from popnas_steps.datasets import DatasetError, load_prepared, prepare

from .conftest import tiny_config


def dataset_slice(**keys) -> dict:
    return tiny_config(dataset=keys)["dataset"]


def test_digits_split_is_stratified_seeded_and_reused(tmp_path):
    meta = prepare(dataset_slice(source="digits"), 42, tmp_path / "a")
    assert meta["sizes"] == {"train": 1293, "val": 144, "test": 360}
    assert meta["input_shape"] == [8, 8, 1] and meta["num_classes"] == 10
    data = load_prepared(tmp_path / "a")
    assert 0.0 <= data.train.x.min() and data.train.x.max() == 1.0
    assert data.train.x.dtype == np.float32
    # stratified: every class holds about a tenth of each split
    for part in (data.train, data.val, data.test):
        counts = np.bincount(part.y, minlength=10) / len(part.y)
        assert counts.min() > 0.08 and counts.max() < 0.12
    assert prepare(dataset_slice(source="digits"), 42, tmp_path / "b")["sha256"] == meta["sha256"]
    assert prepare(dataset_slice(source="digits"), 43, tmp_path / "c")["sha256"] != meta["sha256"]


def test_npz_with_its_own_test_split(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "d.npz"
    np.savez(
        path,
        x_train=rng.random((50, 6, 6)),
        y_train=np.arange(50) % 2 + 5,
        x_test=rng.random((10, 6, 6)),
        y_test=np.arange(10) % 2 + 5,
    )
    meta = prepare(dataset_slice(source="npz", path=str(path)), 0, tmp_path / "out")
    assert meta["sizes"] == {"train": 45, "val": 5, "test": 10}
    assert meta["class_names"] == ["5", "6"] and meta["pixel_dtype"] == "float32"
    data = load_prepared(tmp_path / "out")
    assert set(np.unique(data.test.y)) == {0, 1}
    assert data.input_shape == (6, 6, 1)


def test_image_folder(tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(2)
    for name in ("forest", "river", "sea"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(10):
            pixels = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
            (tmp_path / "imgs" / name / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    meta = prepare(dataset_slice(source="folder", path=str(tmp_path / "imgs")), 0, tmp_path / "out")
    assert meta["class_names"] == ["forest", "river", "sea"]
    assert meta["input_shape"] == [12, 12, 3] and sum(meta["sizes"].values()) == 30
    assert meta["pixel_max"] == 255.0
    (tmp_path / "imgs" / "sea" / "odd.png").write_bytes(tf.io.encode_png(np.zeros((5, 5, 3), np.uint8)).numpy())
    with pytest.raises(DatasetError, match="odd.png' has shape"):
        prepare(dataset_slice(source="folder", path=str(tmp_path / "imgs")), 0, tmp_path / "out2")
    resized = prepare(
        dataset_slice(source="folder", path=str(tmp_path / "imgs"), image_size=[8, 8]), 0, tmp_path / "out3"
    )
    assert resized["input_shape"] == [8, 8, 3]


def test_keras_source_goes_through_keras_datasets(tmp_path, monkeypatch):
    import keras

    rng = np.random.default_rng(3)
    calls = []

    def fake_load_data(**kwargs):
        calls.append(kwargs)
        return (
            (rng.integers(0, 256, (40, 4, 4, 3), dtype=np.uint8), (np.arange(40) % 4)[:, None]),
            (rng.integers(0, 256, (8, 4, 4, 3), dtype=np.uint8), (np.arange(8) % 4)[:, None]),
        )

    monkeypatch.setattr(keras.datasets.cifar100, "load_data", fake_load_data)
    meta = prepare(dataset_slice(source="cifar100"), 0, tmp_path / "out")
    assert calls == [{"label_mode": "fine"}]
    assert meta["sizes"]["test"] == 8 and meta["num_classes"] == 4

    def offline(**kwargs):
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DatasetError, match="keras.datasets.mnist.*internet"):
        prepare(dataset_slice(source="mnist"), 0, tmp_path / "out2")


def write_npz(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return dataset_slice(source="npz", path=str(path))


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((20, 4, 4)), "y": np.zeros(20)}, "single class"),
        ({"x": np.zeros((20, 4, 4)), "y": np.arange(19) % 2}, "20 images but 19 labels"),
        ({"x": np.zeros((20, 16)), "y": np.arange(20) % 2}, r"shape \(n, H, W\) or \(n, H, W, C\); got \(20, 16\)"),
        ({"x": np.zeros((20, 4, 4)), "y": np.zeros((20, 2))}, r"labels must have shape"),
        ({"images": np.zeros((20, 4, 4))}, "must hold arrays x_train and y_train"),
        ({"x": -np.ones((20, 4, 4)), "y": np.arange(20) % 2}, "pixel values must be >= 0"),
    ],
)
def test_bad_data_is_a_clear_error(tmp_path, arrays, message):
    with pytest.raises(DatasetError, match=message):
        prepare(write_npz(tmp_path, **arrays), 0, tmp_path / "out")


def test_missing_path_and_unprepared_folder(tmp_path):
    with pytest.raises(DatasetError, match="dataset.path '.*nowhere.npz' does not exist"):
        prepare(dataset_slice(source="npz", path=str(tmp_path / "nowhere.npz")), 0, tmp_path / "out")
    with pytest.raises(DatasetError, match="dataset.path must be set"):
        prepare(dataset_slice(source="folder"), 0, tmp_path / "out")
    with pytest.raises(DatasetError, match="no prepared data"):
        load_prepared(tmp_path)


def test_prepare_command(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("dataset:\n  source: digits\n")
    assert cli_datasets.main(["prepare", "--config", str(config), "--out", str(tmp_path / "data")]) == 0
    assert json.loads(capsys.readouterr().out)["val"] == 144
    config.write_text("dataset:\n  source: npz\n  path: /no/such.npz\n")
    assert cli_datasets.main(["prepare", "--config", str(config), "--out", str(tmp_path / "data2")]) == 2
    assert "/no/such.npz" in capsys.readouterr().err
