import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from popnas_steps.cli import datasets as cli_datasets
from popnas_steps.datasets import DatasetError, load_prepared, prepare
from popnas_steps.readers import CLASS_NAMES, DEBIAN_FASHION_MNIST, load_folder

from .conftest import tiny_config
from .test_idx import write_idx, write_idx_folder


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


def test_digits_resized_to_image_size_keep_their_levels_and_split(tmp_path):
    small = prepare(dataset_slice(source="digits"), 42, tmp_path / "small")
    meta = prepare(dataset_slice(source="digits", image_size=[32, 24]), 42, tmp_path / "large")
    assert meta["input_shape"] == [32, 24, 1] and meta["sizes"] == small["sizes"]
    assert meta["pixel_max"] == 16.0 and meta["pixel_dtype"] == "float32"  # interpolated levels kept
    large, original = load_prepared(tmp_path / "large"), load_prepared(tmp_path / "small")
    assert large.train.x.shape[1:] == (32, 24, 1) and 0.0 <= large.train.x.min() <= large.train.x.max() <= 1.0
    np.testing.assert_array_equal(large.test.y, original.test.y)  # the same samples, in the same order
    # the upscaled image averages back to its original (bilinear keeps the mean brightness)
    np.testing.assert_allclose(large.train.x.mean(axis=(1, 2, 3)), original.train.x.mean(axis=(1, 2, 3)), atol=0.02)


def test_8bit_npz_resized_stays_8bit(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "d.npz"
    np.savez(path, x=rng.integers(0, 256, (40, 6, 6, 3), dtype=np.uint8), y=np.arange(40) % 2)
    meta = prepare(dataset_slice(source="npz", path=str(path), image_size=[12, 12]), 0, tmp_path / "out")
    assert meta["input_shape"] == [12, 12, 3] and meta["pixel_dtype"] == "uint8" and meta["pixel_max"] == 255.0


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
    with pytest.raises(DatasetError, match=r"odd.png' has shape 5x5 but '.*forest/0.png' has 12x12"):
        prepare(dataset_slice(source="folder", path=str(tmp_path / "imgs")), 0, tmp_path / "out2")
    resized = prepare(
        dataset_slice(source="folder", path=str(tmp_path / "imgs"), image_size=[8, 8]), 0, tmp_path / "out3"
    )
    assert resized["input_shape"] == [8, 8, 3]


def write_image(path, pixels):
    """A PNG (lossless) or JPEG file of uint8 `pixels` (H, W, C), by the file's suffix."""
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    encode = tf.io.encode_jpeg if path.suffix == ".jpg" else tf.io.encode_png
    path.write_bytes(encode(pixels).numpy())
    return pixels


def image_folder(root, classes=("a", "b"), per_class=10, channels=3, suffix=".png"):
    rng = np.random.default_rng(4)
    for name in classes:
        for i in range(per_class):
            write_image(root / name / f"{i}{suffix}", rng.integers(0, 256, (6, 6, channels), dtype=np.uint8))
    return root


def test_hidden_entries_are_skipped_and_classes_are_logged(tmp_path, caplog):
    root = image_folder(tmp_path / "imgs")
    image_folder(root, classes=(".thumbs",), per_class=3)  # would be a third class
    (root / "a" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "a" / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # would fail to decode
    with caplog.at_level(logging.INFO, logger="popnas.datasets"):
        meta = prepare(dataset_slice(source="folder", path=str(root)), 0, tmp_path / "out")
    assert meta["class_names"] == ["a", "b"] and sum(meta["sizes"].values()) == 20
    messages = [r.getMessage() for r in caplog.records if r.name == "popnas.datasets"]
    assert f"image folder '{root}': 2 classes, images per class: a (10), b (10)" in messages
    assert f"image folder '{root}': skipping hidden folders .thumbs" in messages


def test_a_class_folder_that_cannot_be_listed_is_a_clear_error_naming_it(tmp_path, monkeypatch):
    root = image_folder(tmp_path / "imgs")
    real_iterdir = Path.iterdir

    def iterdir(folder):  # as chmod 000 would for anyone but root, whom the tests run as
        if folder == root / "b":
            raise PermissionError(13, "Permission denied", str(folder))
        return real_iterdir(folder)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    with pytest.raises(DatasetError, match=f"folder '{root / 'b'}' cannot be read \\(Permission denied\\)"):
        prepare(dataset_slice(source="folder", path=str(root)), 0, tmp_path / "out")


def test_rgba_png_next_to_rgb_jpegs_is_read_as_rgb(tmp_path):
    root = image_folder(tmp_path / "imgs", suffix=".jpg")
    rgba = np.random.default_rng(5).integers(0, 256, (6, 6, 4), dtype=np.uint8)
    write_image(root / "a" / "-first.png", rgba)  # read first: it used to set 4 channels for all
    raw = load_folder(str(root))
    assert raw.x_train.shape == (21, 6, 6, 3)
    np.testing.assert_array_equal(raw.x_train[0], rgba[..., :3])  # alpha dropped, colour kept
    meta = prepare(dataset_slice(source="folder", path=str(root)), 0, tmp_path / "out")
    assert meta["input_shape"] == [6, 6, 3]


def test_grayscale_image_in_a_colour_folder_is_repeated_to_rgb(tmp_path):
    root = tmp_path / "imgs"
    gray = write_image(root / "a" / "-gray.png", np.arange(36, dtype=np.uint8).reshape(6, 6, 1))
    rgb = write_image(root / "a" / "rgb.png", np.arange(108, dtype=np.uint8).reshape(6, 6, 3))
    write_image(root / "b" / "gray_alpha.png", np.zeros((6, 6, 2), np.uint8))
    raw = load_folder(str(root))
    # the gray image is read first: it used to make the whole folder (RGB images too) grayscale
    assert raw.x_train.shape == (3, 6, 6, 3)
    np.testing.assert_array_equal(raw.x_train[0], np.repeat(gray, 3, axis=-1))
    np.testing.assert_array_equal(raw.x_train[1], rgb)


def test_a_folder_without_colour_is_read_as_one_channel(tmp_path):
    root = image_folder(tmp_path / "imgs", channels=1, suffix=".jpg")
    gray_alpha = write_image(root / "b" / "alpha.png", np.full((6, 6, 2), 7, np.uint8))
    raw = load_folder(str(root))
    assert raw.x_train.shape == (21, 6, 6, 1)
    np.testing.assert_array_equal(raw.x_train[-1], gray_alpha[..., :1])


def test_an_undecodable_image_is_named(tmp_path):
    root = image_folder(tmp_path / "imgs")
    (root / "b" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match=re.escape(f"cannot decode image '{root / 'b' / 'broken.jpg'}'")):
        load_folder(str(root))


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
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(DatasetError, match="set dataset.path to a folder.*apt-get install dataset-fashion-mnist"):
        prepare(dataset_slice(source="fashion_mnist"), 0, tmp_path / "out3")


@pytest.mark.parametrize("source", ["idx", "mnist", "fashion_mnist"])
def test_mnist_format_files_are_read_from_dataset_path_without_keras(tmp_path, monkeypatch, source):
    import keras

    def no_download(**kwargs):
        raise AssertionError("keras.datasets was asked to download")

    for name in ("mnist", "fashion_mnist"):
        monkeypatch.setattr(getattr(keras.datasets, name), "load_data", no_download)
    folder = write_idx_folder(tmp_path / "files")
    meta = prepare(dataset_slice(source=source, path=str(folder)), 0, tmp_path / "out")
    assert meta["sizes"] == {"train": 36, "val": 4, "test": 20} and meta["input_shape"] == [6, 6, 1]
    assert meta["source_files"]["files"] == 4  # fingerprinted: a replaced file prepares the data again
    names = {
        "idx": ["0", "1", "2", "3"],
        "mnist": ["0", "1", "2", "3"],
        "fashion_mnist": list(CLASS_NAMES["fashion_mnist"][:4]),
    }
    assert meta["class_names"] == names[source]


def test_subsets_are_seeded_stratified_and_recorded(tmp_path):
    folder = write_idx_folder(tmp_path / "files", n_train=400, n_test=200)
    dataset = dataset_slice(source="idx", path=str(folder), train_samples=80, test_samples=40)
    meta = prepare(dataset, 3, tmp_path / "a")
    assert meta["sizes"] == {"train": 72, "val": 8, "test": 40}
    assert meta["source_sizes"] == {"train": 400, "test": 200}
    assert meta["settings"]["dataset"]["train_samples"] == 80  # compared on every plan (provenance)
    data = load_prepared(tmp_path / "a")
    assert np.bincount(data.train.y).tolist() == [18] * 4 and np.bincount(data.test.y).tolist() == [10] * 4
    again = prepare(dataset, 3, tmp_path / "b")
    assert again["sha256"] == meta["sha256"]
    assert prepare(dataset, 4, tmp_path / "c")["sha256"] != meta["sha256"]


def idx_folder_with_labels(tmp_path, train: np.ndarray, test: np.ndarray | None = None) -> Path:
    """The tiny IDX folder of 40 training and 20 test images, with these labels."""
    folder = write_idx_folder(tmp_path / "files")
    write_idx(folder / "train-labels-idx1-ubyte.gz", train, gz=True)
    if test is not None:
        write_idx(folder / "t10k-labels-idx1-ubyte.gz", test, gz=True)
    return folder


@pytest.mark.parametrize("source", ["mnist", "fashion_mnist"])
@pytest.mark.parametrize(
    "labels, shown",
    [(np.where(np.arange(40) < 4, 255, np.arange(40) % 10), "255"), (np.arange(40) % 11, "10")],
    ids=["255", "0..10"],
)
def test_labels_outside_a_known_data_sets_classes_are_refused_naming_the_file(tmp_path, source, labels, shown):
    folder = idx_folder_with_labels(tmp_path, labels.astype(np.uint8))
    message = rf"'.*train-labels-idx1-ubyte.gz' holds labels {shown}, outside {source}'s 10 classes \(0..9\)"
    with pytest.raises(DatasetError, match=message):  # 12 validation images: 11 classes could be split
        prepare(dataset_slice(source=source, path=str(folder), val_fraction=0.3), 0, tmp_path / "out")
    meta = prepare(dataset_slice(source="idx", path=str(folder), val_fraction=0.3), 0, tmp_path / "out")
    assert meta["num_classes"] == 11  # source idx reads any data set's labels


@pytest.mark.parametrize("source", ["idx", "mnist", "fashion_mnist"])
def test_idx_labels_that_are_not_integers_are_refused_naming_the_file(tmp_path, source):
    halves = [(np.arange(n) % 4 + 0.5).astype(">f4") for n in (40, 20)]
    folder = idx_folder_with_labels(tmp_path, *halves)
    message = r"'.*train-labels-idx1-ubyte.gz': labels must be integer class indices; got dtype float32 .* 0.5"
    with pytest.raises(DatasetError, match=message):
        prepare(dataset_slice(source=source, path=str(folder)), 0, tmp_path / "out")
    whole = idx_folder_with_labels(tmp_path / "whole", (np.arange(40) % 4).astype(">f4"))
    assert prepare(dataset_slice(source=source, path=str(whole)), 0, tmp_path / "out")["num_classes"] == 4


def test_an_empty_idx_training_set_names_its_files(tmp_path):
    folder = write_idx_folder(tmp_path / "files", n_train=0)
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz' and '.*train-labels-idx1-ubyte.gz' hold no"):
        prepare(dataset_slice(source="fashion_mnist", path=str(folder)), 0, tmp_path / "out")


def test_an_idx_file_announcing_more_than_half_the_memory_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from popnas_steps import readers

    monkeypatch.setattr(readers, "_physical_memory", lambda: 2000)  # half is 1000 bytes; the images are 1440
    folder = write_idx_folder(tmp_path / "files")
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.gz' is too large: .* \[40, 6, 6\] \(1456 bytes\)"):
        prepare(dataset_slice(source="idx", path=str(folder)), 0, tmp_path / "out")


def test_a_subset_larger_than_the_source_names_its_key(tmp_path):
    folder = write_idx_folder(tmp_path / "files")
    with pytest.raises(DatasetError, match="dataset.test_samples is 21, more than the 20 images"):
        prepare(dataset_slice(source="idx", path=str(folder), test_samples=21), 0, tmp_path / "out")


def test_a_subset_of_a_source_without_a_test_split_is_drawn_after_the_test_share(tmp_path):
    meta = prepare(dataset_slice(source="digits", train_samples=500, test_samples=100), 0, tmp_path / "out")
    assert meta["source_sizes"] == {"train": 1437, "test": 360}
    assert meta["sizes"] == {"train": 450, "val": 50, "test": 100}


@pytest.mark.skipif(
    not Path(DEBIAN_FASHION_MNIST).is_dir(),
    reason=f"Debian's dataset-fashion-mnist is not installed ({DEBIAN_FASHION_MNIST})",
)
def test_debians_fashion_mnist_files_are_read_whole_and_named(tmp_path):
    meta = prepare(
        dataset_slice(source="fashion_mnist", path=DEBIAN_FASHION_MNIST, train_samples=6000, test_samples=1000),
        42,
        tmp_path / "out",
    )
    assert meta["source_sizes"] == {"train": 60000, "test": 10000}
    assert meta["sizes"] == {"train": 5400, "val": 600, "test": 1000} and meta["input_shape"] == [28, 28, 1]
    assert meta["class_names"][0] == "T-shirt/top" and meta["class_names"][9] == "Ankle boot"


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


def bad_npz_path(tmp_path, kind):
    """A dataset.path that is not an .npz archive, of the given kind."""
    path = tmp_path / {"folder": "folder.npz", "png": "image.png", "npy": "array.npy", "damaged": "damaged.npz"}[kind]
    if kind == "folder":
        image_folder(path)
    elif kind == "png":
        write_image(path, np.zeros((4, 4, 3), np.uint8))
    elif kind == "npy":
        np.save(path, np.zeros((20, 4, 4)))
    else:
        path.write_bytes(b"PK\x03\x04 cut short")
    return path


@pytest.mark.parametrize(
    "kind, message",
    [
        ("folder", "dataset.path '{path}' is a folder, but source 'npz' reads one .npz file"),
        ("png", "dataset.path '{path}' is not an .npz archive (a PNG image); write one with numpy.savez"),
        ("npy", "dataset.path '{path}' is a single .npy array, not an .npz archive"),
        ("damaged", "npz file '{path}' is damaged (BadZipFile"),
    ],
    ids=["folder", "png", "npy", "damaged"],
)
def test_a_path_that_is_no_npz_archive_is_named(tmp_path, kind, message):
    path = bad_npz_path(tmp_path, kind)
    with pytest.raises(DatasetError, match=re.escape(message.format(path=path))):
        prepare(dataset_slice(source="npz", path=str(path)), 0, tmp_path / "out")


@pytest.mark.parametrize(
    "arrays, message",
    [
        (
            {"x": np.zeros((20, 4, 4)), "y": np.array([0, 1] * 10, dtype=object)},
            "npz file '{path}': array 'y' has dtype object, which is not loaded since unpickling can run",
        ),
        (
            {"x": np.array([None] * 20, dtype=object), "y": np.arange(20) % 2},
            "npz file '{path}': array 'x' has dtype object",
        ),
        (
            {"x_train": np.zeros((20, 4, 4)), "y_train": np.arange(20) * 0.5},
            "npz file '{path}': labels 'y_train' must be integer class indices (or class-name strings); "
            "got dtype float64 with non-integer values such as 0.5",
        ),
        (
            {"x": np.zeros((20, 4, 4)), "y": (np.arange(20) % 2).astype(complex)},
            "npz file '{path}': labels 'y' must be integer class indices (or class-name strings); got dtype complex128",
        ),
    ],
    ids=["object-labels", "object-images", "fractional-labels", "complex-labels"],
)
def test_bad_npz_arrays_are_named(tmp_path, arrays, message):
    dataset = write_npz(tmp_path, **arrays)
    with pytest.raises(DatasetError, match=re.escape(message.format(path=dataset["path"]))):
        prepare(dataset, 0, tmp_path / "out")


def test_object_arrays_are_never_unpickled(tmp_path, monkeypatch):
    calls = []
    real_load = np.load
    monkeypatch.setattr(np, "load", lambda *args, **kwargs: calls.append(kwargs) or real_load(*args, **kwargs))
    dataset = write_npz(tmp_path, x=np.zeros((20, 4, 4)), y=np.array([0, 1] * 10, dtype=object))
    with pytest.raises(DatasetError, match="dtype object"):
        prepare(dataset, 0, tmp_path / "out")
    assert calls and all(kwargs.get("allow_pickle") is False for kwargs in calls)


@pytest.mark.parametrize(
    "y, names",
    [(np.array(["cat", "dog"] * 10), ["cat", "dog"]), (np.arange(20) % 2 * 1.0, ["0.0", "1.0"])],
    ids=["strings", "whole-floats"],
)
def test_string_and_whole_float_labels_still_work(tmp_path, y, names):
    meta = prepare(write_npz(tmp_path, x=np.zeros((20, 4, 4)), y=y), 0, tmp_path / "out")
    assert meta["class_names"] == names


def test_missing_path_and_unprepared_folder(tmp_path):
    with pytest.raises(DatasetError, match="dataset.path '.*nowhere.npz' does not exist"):
        prepare(dataset_slice(source="npz", path=str(tmp_path / "nowhere.npz")), 0, tmp_path / "out")
    with pytest.raises(DatasetError, match="dataset.path must be set"):
        load_folder(None)
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


@pytest.mark.parametrize(
    ("x", "pixel_max"),
    [
        (np.arange(20 * 16).reshape(20, 4, 4) % 2 * 1.0, 1.0),  # binary floats: already in [0, 1]
        (np.linspace(0.0, 1.0, 20 * 16).reshape(20, 4, 4), 1.0),
        (np.arange(20 * 16).reshape(20, 4, 4) % 256 * 1.0, 255.0),  # 8-bit levels stored as floats
        ((np.arange(20 * 16).reshape(20, 4, 4) % 2).astype(np.uint8), 255.0),  # integer pixels: 8-bit levels
    ],
)
def test_the_pixel_scale_follows_the_dtype_and_range(tmp_path, x, pixel_max):
    meta = prepare(write_npz(tmp_path, x=x, y=np.arange(20) % 2), 0, tmp_path / "out")
    assert meta["pixel_max"] == pixel_max


def test_an_oversized_image_size_is_a_config_error_naming_the_key():
    from popnas_steps.config import ConfigError, validate

    with pytest.raises(ConfigError, match=r"dataset.image_size\[0\]"):
        validate({"dataset": {"image_size": [100000, 100000]}})


def test_an_image_size_beyond_the_memory_is_refused_before_any_image_is_resized(tmp_path, monkeypatch):
    from popnas_steps import readers

    monkeypatch.setattr(readers, "_physical_memory", lambda: 2**30)  # 1 GiB: half is 512 MiB
    x, y = np.zeros((20, 4, 4)), np.arange(20) % 2
    with pytest.raises(
        DatasetError, match=r"dataset.image_size \[4096, 4096\] needs 1.2 GiB .* half of this machine's"
    ):
        prepare(write_npz(tmp_path, x=x, y=y) | {"image_size": [4096, 4096]}, 0, tmp_path / "out")
