"""A run's data: one fixed, seeded, stratified train/val/test split per run.

`prepare` reads a source once (popnas_steps.readers), checks it, splits it and writes
`train.npz`, `val.npz`, `test.npz` and `metadata.json` into the run's `data/` folder; every
training then calls `load_prepared`, so all networks of a search see exactly the same
samples.

Pixels are stored as they come (uint8 where the source is integer-valued, which keeps
CIFAR-sized data small) with `pixel_max` in the metadata; `load_prepared` scales to [0, 1].
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from popnas_steps.files import write_json, write_with
from popnas_steps.provenance import SourceError, source_fingerprint
from popnas_steps.readers import RawData, load_source
from popnas_steps.slices import without_watch_keys
from popnas_steps.sources import (
    DatasetError,
    reads_path,
    source_files,
)

log = logging.getLogger("popnas.datasets")


@dataclass(frozen=True)
class Split:
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class PreparedData:
    train: Split
    val: Split
    test: Split
    metadata: dict

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.metadata["input_shape"])

    @property
    def num_classes(self) -> int:
        return int(self.metadata["num_classes"])


# --- checks and split ----------------------------------------------------------------------


def _checked(x: np.ndarray, y: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Images as (n, H, W, C) and labels as (n,), or a DatasetError saying what is wrong."""
    x, y = np.asarray(x), np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DatasetError(f"{name} labels must have shape (n,) or (n, 1); got {y.shape}")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise DatasetError(f"{name} images must have shape (n, H, W) or (n, H, W, C); got {x.shape}")
    if len(x) != len(y):
        raise DatasetError(f"{name} has {len(x)} images but {len(y)} labels")
    if not np.issubdtype(x.dtype, np.number):
        raise DatasetError(f"{name} images must be numeric; got dtype {x.dtype}")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise DatasetError(f"{name} images contain NaN or infinite values")
    return x, y


def _pixel_range(raw_max: float | None, *arrays: np.ndarray) -> tuple[str, float]:
    """Storage dtype, and the value that maps to 1.0 when scaling to [0, 1].

    The scale follows the dtype and the range, not whether the values happen to be whole:
    integer pixels are 8-bit levels (255, or their maximum above it); float pixels within
    [0, 1] are already scaled (1.0: a binary image of 0.0 and 1.0 is not 255 times too dark);
    float pixels above 1 are 8-bit levels stored as floats where whole and at most 255, else
    scaled by their maximum. Whole values up to 255 are stored as uint8 either way."""
    high = max(float(a.max()) for a in arrays if a.size)
    low = min(float(a.min()) for a in arrays if a.size)
    if low < 0:
        raise DatasetError(f"pixel values must be >= 0; found {low}")
    integer = all(np.issubdtype(a.dtype, np.integer) for a in arrays)
    whole = integer or all(np.all(np.mod(a, 1) == 0) for a in arrays)
    dtype = "uint8" if whole and high <= 255 else "float32"
    if raw_max:
        return dtype, raw_max
    if not integer and high <= 1.0:
        return dtype, 1.0
    return dtype, 255.0 if whole and high <= 255 else max(high, 1.0)


def _stratified_split(y: np.ndarray, fraction: float, seed: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    try:
        keep, held = train_test_split(np.arange(len(y)), test_size=fraction, stratify=y, random_state=seed)
    except ValueError as error:
        raise DatasetError(f"cannot make a stratified {what} split: {error}") from None
    return np.sort(keep), np.sort(held)


def split(raw: RawData, dataset: dict, seed: int) -> tuple[dict[str, Split], dict]:
    """Seeded stratified split into train/val/test, with labels mapped to 0..K-1."""
    x_train, y_train = _checked(raw.x_train, raw.y_train, "training data")
    if raw.x_test is not None:
        x_test, y_test = _checked(raw.x_test, raw.y_test, "test data")
        if x_test.shape[1:] != x_train.shape[1:]:
            raise DatasetError(f"test images have shape {x_test.shape[1:]} but training images {x_train.shape[1:]}")
    else:
        keep, held = _stratified_split(y_train, dataset["test_fraction"], seed, "test")
        x_test, y_test = x_train[held], y_train[held]
        x_train, y_train = x_train[keep], y_train[keep]
    source_sizes = {"train": len(y_train), "test": len(y_test)}
    x_train, y_train = _subset(x_train, y_train, dataset.get("train_samples"), seed, "dataset.train_samples")
    x_test, y_test = _subset(x_test, y_test, dataset.get("test_samples"), seed, "dataset.test_samples")
    classes = np.unique(y_train)
    if not len(classes):
        raise DatasetError("the training data holds no images")
    if len(classes) < 2:
        raise DatasetError(f"the data has a single class ({classes.tolist()}); classification needs at least 2")
    unknown = np.setdiff1d(np.unique(y_test), classes)
    if unknown.size:
        raise DatasetError(f"test labels {unknown.tolist()} never occur in the training data")
    train_idx, val_idx = _stratified_split(y_train, dataset["val_fraction"], seed, "validation")

    dtype, pixel_max = _pixel_range(raw.pixel_max, x_train, x_test)
    splits = {
        "train": Split(x_train[train_idx].astype(dtype), np.searchsorted(classes, y_train[train_idx])),
        "val": Split(x_train[val_idx].astype(dtype), np.searchsorted(classes, y_train[val_idx])),
        "test": Split(x_test.astype(dtype), np.searchsorted(classes, y_test)),
    }
    names = _class_names(raw.class_names, classes)
    metadata = {
        "source": dataset["source"],
        "path": dataset.get("path"),
        "seed": seed,
        "val_fraction": dataset["val_fraction"],
        "test_fraction": None if raw.x_test is not None else dataset["test_fraction"],
        "input_shape": list(x_train.shape[1:]),
        "num_classes": len(classes),
        "class_names": list(names),
        "pixel_dtype": dtype,
        "pixel_max": pixel_max,
        "sizes": {name: len(part.y) for name, part in splits.items()},
        "source_sizes": source_sizes,  # before dataset.train_samples and test_samples drew their subsets
    }
    return splits, metadata


def _class_names(known: tuple[str, ...] | None, classes: np.ndarray) -> tuple[str, ...]:
    """The name of each class present: `known` names every label of its source by index (a
    subset or a test file may lack some), else the labels themselves."""
    if known is None:
        return tuple(str(c) for c in classes.tolist())
    return tuple(known[int(c)] if 0 <= int(c) < len(known) else str(c) for c in classes.tolist())


def _subset(x: np.ndarray, y: np.ndarray, samples: int | None, seed: int, key: str) -> tuple[np.ndarray, np.ndarray]:
    """A seeded, stratified subset of `samples` images (all of them where None), in source order."""
    if samples is None or samples == len(y):
        return x, y
    if samples > len(y):
        raise DatasetError(f"{key} is {samples}, more than the {len(y)} images the source has there")
    from sklearn.model_selection import train_test_split

    try:
        keep, _ = train_test_split(np.arange(len(y)), train_size=samples, stratify=y, random_state=seed)
    except ValueError as error:
        raise DatasetError(f"cannot draw a stratified subset of {samples} images ({key}): {error}") from None
    keep = np.sort(keep)
    return x[keep], y[keep]


# --- files -----------------------------------------------------------------------------------


def prepare(dataset: dict, seed: int, out_dir: str | Path) -> dict:
    """Read, check and split the source, then write the split and its metadata to `out_dir`,
    each file atomically and `metadata.json` last. The metadata records what made the split
    (popnas_steps.provenance): the settings, the source's fingerprint (taken before it is
    read, so a source replaced while it is read is seen as changed) and the split's SHA-256."""
    try:
        source = source_fingerprint(dataset.get("path"), source_files(dataset)) if reads_path(dataset) else None
    except SourceError as error:
        raise DatasetError(str(error)) from None
    splits, metadata = split(load_source(dataset), dataset, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    for name, part in splits.items():
        write_with(out / f"{name}.npz", lambda partial, part=part: _save_split(partial, part))
        digest.update(part.x.tobytes())
        digest.update(part.y.astype(np.int32).tobytes())
    metadata["sha256"] = digest.hexdigest()
    metadata["settings"] = without_watch_keys({"dataset": dataset, "seed": seed})
    metadata["source_files"] = source
    write_json(out / "metadata.json", metadata)
    return metadata


def _save_split(path: Path, part: Split) -> None:
    with open(path, "wb") as handle:  # a file object: np.savez would add .npz to the name
        np.savez(handle, x=part.x, y=part.y.astype(np.int32))


def data_sha256(data_dir: str | Path) -> str | None:
    """The SHA-256 of the prepared split in `data_dir` (its metadata's), None if unreadable."""
    try:
        return json.loads((Path(data_dir) / "metadata.json").read_text()).get("sha256")
    except (OSError, ValueError, AttributeError):
        return None


def load_prepared(data_dir: str | Path) -> PreparedData:
    """The prepared split of a run, images scaled to float32 in [0, 1]."""
    folder = Path(data_dir)
    meta_file = folder / "metadata.json"
    if not meta_file.is_file():
        raise DatasetError(
            f"'{folder}' holds no prepared data (no metadata.json); run "
            "`python -m popnas_steps.cli.datasets prepare --config CONFIG --out FOLDER` first"
        )
    metadata = json.loads(meta_file.read_text())
    parts = {}
    for name in ("train", "val", "test"):
        with np.load(folder / f"{name}.npz") as arrays:
            x = arrays["x"].astype(np.float32) / np.float32(metadata["pixel_max"])
            parts[name] = Split(x, arrays["y"])
    return PreparedData(parts["train"], parts["val"], parts["test"], metadata)
