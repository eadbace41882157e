"""Reading each data source (popnas_steps.sources.SOURCES) into images and labels, checked:
scikit-learn's digits, keras.datasets, MNIST-format files, npz files and image folders,
resized to `dataset.image_size` where set.

Image folders (source `folder`) hold one subfolder per class. Entries whose name starts
with '.' (`.thumbs/`, `.DS_Store`, macOS `._x.png` resource forks) are skipped. All images
of a folder get the same channel count, whatever their files hold: 3 (RGB) if any image has
colour, else 1 (grayscale). Alpha is always dropped, and a grayscale image in a colour
folder has its one channel repeated. So an RGBA PNG can sit next to RGB JPEGs, and the
result does not depend on which file happens to be read first.

Npz files are read with allow_pickle=False: a data file may come from anywhere, and
unpickling it would run whatever code it holds. Object arrays are therefore refused.
"""

from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from popnas_steps.sources import IDX_KERAS_SOURCES, KERAS_SOURCES, DatasetError, class_files, reads_idx

log = logging.getLogger("popnas.datasets")  # the logger these messages always had

# The number of classes of each of IDX_KERAS_SOURCES (labels 0..n-1): a file of other labels
# is another data set, for source `idx`.
IDX_CLASSES = {"mnist": 10, "fashion_mnist": 10}
# The class names of the known data sets, in label order.
CLASS_NAMES = {
    "fashion_mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}  # fmt: skip
# Where Debian's package puts Fashion-MNIST's files (apt-get install dataset-fashion-mnist).
DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
# First bytes of the files np.load can open without pickle: a zip archive (.npz, also an
# empty one) and a single .npy array.
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"
# Files people pass as dataset.path by mistake, to say what the file is instead.
_OTHER_MAGICS = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
}


@dataclass(frozen=True)
class RawData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    class_names: tuple[str, ...] | None = None
    pixel_max: float | None = None  # None: 255 for integer pixels, else the largest value


def load_digits() -> RawData:
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes, pixel values 0..16)."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    return RawData(digits.images.astype(np.uint8), digits.target, None, None, pixel_max=16.0)


def load_keras(name: str) -> RawData:
    """A keras.datasets dataset; downloaded once into ~/.keras/datasets by Keras itself."""
    import keras

    module = getattr(keras.datasets, name)
    kwargs = {"label_mode": "fine"} if name == "cifar100" else {}
    try:
        (x_train, y_train), (x_test, y_test) = module.load_data(**kwargs)
    except Exception as error:  # network failures surface as many exception types
        offline = ""
        if name in IDX_KERAS_SOURCES:
            offline = (
                "; or read local files: set dataset.path to a folder holding the four MNIST-format files "
                "(train-images-idx3-ubyte.gz, ...)"
            )
            if name == "fashion_mnist":
                offline += f", such as {DEBIAN_FASHION_MNIST} after `apt-get install dataset-fashion-mnist`"
        raise DatasetError(
            f"could not load keras.datasets.{name} ({type(error).__name__}: {error}); "
            f"it is downloaded on first use, so this machine needs internet access once{offline}"
        ) from error
    return RawData(x_train, y_train, x_test, y_test, CLASS_NAMES.get(name))


def load_idx(path: str | None, source: str) -> RawData:
    """The four MNIST-format files in the folder `path` (popnas_steps.idx), with the class
    names of `source` where it is a known data set. Labels must be integers, and those of a
    known data set its classes; no file may announce more than half of this machine's memory."""
    from popnas_steps.idx import IdxError, load_idx_folder, split_files

    folder = _existing(path, source)
    memory = _physical_memory()
    try:
        files = split_files(folder)
        x_train, y_train, x_test, y_test = load_idx_folder(folder, memory // 2 if memory else None)
    except IdxError as error:
        raise DatasetError(str(error)) from None
    for split, y in (("train", y_train), ("test", y_test)):
        _check_labels(y, f"'{files[split, 'labels']}'", source)
    return RawData(x_train, y_train, x_test, y_test, CLASS_NAMES.get(source))


def _check_labels(y: np.ndarray, where: str, source: str) -> None:
    """A DatasetError unless the IDX labels `y` of the file `where` are integers, and the
    classes of `source` where it is a known data set."""
    problem = _label_problem(y)
    if problem:
        raise DatasetError(f"{where}: labels must be integer class indices; got {problem}")
    classes = IDX_CLASSES.get(source)
    if classes is None:
        return
    outside = np.unique(y[(y < 0) | (y >= classes)])
    if outside.size:
        shown = ", ".join(str(value) for value in outside[:5].tolist()) + (", ..." if outside.size > 5 else "")
        raise DatasetError(
            f"{where} holds labels {shown}, outside {source}'s {classes} classes (0..{classes - 1}); "
            "source 'idx' reads a data set of other classes"
        )


def _label_problem(y: np.ndarray) -> str | None:
    """Why `y` are not class labels (integers, whole-valued floats, booleans or strings naming
    the classes), or None."""
    if y.dtype.kind in "biuUS":
        return None
    if y.dtype.kind == "f":
        bad = y[~np.isfinite(y) | (np.mod(y, 1) != 0)]
        return f"dtype {y.dtype} with non-integer values such as {bad.flat[0]}" if bad.size else None
    return f"dtype {y.dtype}"


def load_npz(path: str | None) -> RawData:
    """Arrays x_train, y_train (+ optional x_test, y_test), or x, y, from a .npz file."""
    file = _existing(path, "npz")
    with _open_npz(file) as arrays:
        keys = set(arrays.files)
        if {"x_train", "y_train"} <= keys:
            has_test = {"x_test", "y_test"} <= keys
            return RawData(
                _npz_array(arrays, file, "x_train"),
                _npz_labels(arrays, file, "y_train"),
                _npz_array(arrays, file, "x_test") if has_test else None,
                _npz_labels(arrays, file, "y_test") if has_test else None,
            )
        if {"x", "y"} <= keys:
            return RawData(_npz_array(arrays, file, "x"), _npz_labels(arrays, file, "y"), None, None)
    raise DatasetError(
        f"npz file '{file}' must hold arrays x_train and y_train (optionally x_test, y_test) "
        f"or x and y; it holds {sorted(keys)}"
    )


def _open_npz(file: Path) -> np.lib.npyio.NpzFile:
    """The opened archive, or a DatasetError saying what `file` is instead of an .npz archive."""
    if file.is_dir():
        raise DatasetError(
            f"dataset.path '{file}' is a folder, but source 'npz' reads one .npz file "
            "(source 'folder' reads a folder of images)"
        )
    try:
        with open(file, "rb") as handle:
            head = handle.read(8)
    except OSError as error:
        raise DatasetError(f"dataset.path '{file}' cannot be read ({error.strerror})") from None
    if head.startswith(_NPY_MAGIC):
        raise DatasetError(
            f"dataset.path '{file}' is a single .npy array, not an .npz archive; "
            "write one with numpy.savez(path, x=images, y=labels)"
        )
    if not head.startswith(_ZIP_MAGICS):
        # np.load would take any other file for a pickle and complain about allow_pickle.
        what = next((name for magic, name in _OTHER_MAGICS.items() if head.startswith(magic)), "not a zip archive")
        raise DatasetError(
            f"dataset.path '{file}' is not an .npz archive ({what}); "
            "write one with numpy.savez(path, x=images, y=labels)"
        )
    try:
        return np.load(file, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DatasetError(f"npz file '{file}' is damaged ({type(error).__name__}: {error})") from None


def _npz_array(arrays: np.lib.npyio.NpzFile, file: Path, key: str) -> np.ndarray:
    """One array of the archive; members are only read here, so a damaged one fails here."""
    try:
        return arrays[key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        # numpy says "Object arrays cannot be loaded when allow_pickle=False"; say why and what to do.
        if isinstance(error, ValueError) and "allow_pickle" in str(error):
            raise DatasetError(
                f"npz file '{file}': array '{key}' has dtype object, which is not loaded since unpickling "
                "can run arbitrary code; save it as a numeric array"
            ) from None
        problem = f"{type(error).__name__}: {error}"
        raise DatasetError(f"npz file '{file}': array '{key}' cannot be read ({problem})") from None


def _npz_labels(arrays: np.lib.npyio.NpzFile, file: Path, key: str) -> np.ndarray:
    """Class labels: integers (or whole-valued floats, or booleans), or strings naming the classes."""
    y = _npz_array(arrays, file, key)
    problem = _label_problem(y)
    if problem is None:
        return y
    raise DatasetError(
        f"npz file '{file}': labels '{key}' must be integer class indices (or class-name strings); got {problem}"
    )


def load_folder(path: str | None, image_size: list[int] | None = None) -> RawData:
    """An image folder with one subfolder per class (EuroSAT's layout); see the module docstring."""
    root = _existing(path, "folder")
    if not root.is_dir():
        raise DatasetError(f"dataset.path '{root}' is not a folder")
    classes = class_files(root)
    hidden = sorted(entry.name for entry in root.iterdir() if entry.is_dir() and entry.name.startswith("."))
    if hidden:
        log.info("image folder '%s': skipping hidden folders %s", root, ", ".join(hidden))
    counts = ", ".join(f"{name} ({len(files)})" for name, files in classes.items())
    log.info("image folder '%s': %d classes, images per class: %s", root, len(classes), counts)
    images, labels, first = [], [], None
    for label, files in enumerate(classes.values()):
        for file in files:
            image = _decode(file)
            if image_size is not None:
                image = _resized(image, image_size)
            elif first is None:
                first = file
            elif image.shape[:2] != images[0].shape[:2]:
                raise DatasetError(
                    f"image '{file}' has shape {_size(image)} but '{first}' has {_size(images[0])}; "
                    "set dataset.image_size to resize them"
                )
            images.append(image)
            labels.append(label)
    images = _same_channels(images, root)
    return RawData(np.stack(images), np.array(labels), None, None, tuple(classes))


def _decode(file: Path) -> np.ndarray:
    """The image in `file` as uint8 (H, W, C) with the channels the file holds (1 to 4)."""
    import tensorflow as tf

    try:
        return tf.io.decode_image(tf.io.read_file(str(file)), channels=0, expand_animations=False).numpy()
    except tf.errors.OpError as error:
        raise DatasetError(f"cannot decode image '{file}': {error.message}") from None


def _resized(image: np.ndarray, image_size: list[int]) -> np.ndarray:
    import tensorflow as tf

    return tf.cast(tf.image.resize(image, image_size), tf.uint8).numpy()


def _size(image: np.ndarray) -> str:
    return f"{image.shape[0]}x{image.shape[1]}"


def _same_channels(images: list[np.ndarray], root: Path) -> list[np.ndarray]:
    """The images with the folder's channel count: 3 if any has colour, else 1; alpha dropped."""
    held = [image.shape[-1] for image in images]
    channels = 3 if any(c >= 3 for c in held) else 1
    alpha = sum(c in (2, 4) for c in held)
    gray = sum(c < 3 for c in held) if channels == 3 else 0
    if alpha or gray:
        log.info(
            "image folder '%s': read as %d channel(s); alpha dropped from %d image(s), %d grayscale image(s) "
            "repeated to RGB",
            root,
            channels,
            alpha,
            gray,
        )
    return [_with_channels(image, channels) for image in images]


def _with_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """`image` (1 to 4 channels: gray, gray+alpha, RGB, RGBA) as `channels` (1 or 3) channels."""
    colour = image[..., :1] if image.shape[-1] < 3 else image[..., :3]
    if colour.shape[-1] == channels:
        return colour
    return np.repeat(colour, channels, axis=-1)  # gray into a colour folder: R = G = B


def load_source(dataset: dict) -> RawData:
    """Read the source named by the `dataset` config slice, resized to `dataset.image_size` if set."""
    source = dataset["source"]
    image_size = dataset.get("image_size")
    if source == "folder":  # its images may differ in size, so each is resized as it is read
        return load_folder(dataset.get("path"), image_size)
    if source == "digits":
        raw = load_digits()
    elif reads_idx(dataset):
        raw = load_idx(dataset.get("path"), source)
    elif source in KERAS_SOURCES:
        raw = load_keras(source)
    elif source == "npz":
        raw = load_npz(dataset.get("path"))
    else:
        raise DatasetError(f"unknown dataset.source {source!r}")
    return raw if image_size is None else resized_source(raw, image_size)


def resized_source(raw: RawData, image_size: list[int]) -> RawData:
    """`raw` with every image resized (bilinear) to `image_size` = [height, width].

    8-bit images stay 8-bit (rounded); others, such as digits' 0..16 levels, become float32 so
    that the interpolated values are kept; `pixel_max` is unchanged either way.
    """
    needed = sum(len(x) * int(np.prod(np.shape(x)[3:] or (1,))) for x in (raw.x_train, raw.x_test) if x is not None)
    needed *= image_size[0] * image_size[1] * 4  # float32 while resizing
    memory = _physical_memory()
    if memory and needed > memory / 2:
        raise DatasetError(
            f"dataset.image_size {list(image_size)} needs {needed / 2**30:.1f} GiB for the resized images, more than "
            f"half of this machine's {memory / 2**30:.1f} GiB"
        )
    import tensorflow as tf

    def resize(x: np.ndarray | None) -> np.ndarray | None:
        if x is None:
            return None
        x = np.asarray(x)
        images = x[..., None] if x.ndim == 3 else x
        if images.ndim != 4:
            raise DatasetError(f"images must have shape (n, H, W) or (n, H, W, C) to be resized; got {x.shape}")
        out = tf.image.resize(images.astype(np.float32), image_size).numpy()
        return np.clip(np.round(out), 0, 255).astype(np.uint8) if x.dtype == np.uint8 and raw.pixel_max is None else out

    return replace(raw, x_train=resize(raw.x_train), x_test=resize(raw.x_test))


def _physical_memory() -> int | None:
    """This machine's memory in bytes (None where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _existing(path: str | None, source: str) -> Path:
    if not path:
        raise DatasetError(f"dataset.path must be set for source '{source}'")
    file = Path(path).expanduser()
    if not file.exists():
        raise DatasetError(f"dataset.path '{file}' does not exist")
    return file
