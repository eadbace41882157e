"""Where a run's data comes from: the sources there are, which of them read files from
`dataset.path`, and which files those are (what the provenance fingerprints).

A leaf: config validation (which sources need a path), provenance (which files to
fingerprint) and dataset preparation (which files to read) all read it, and it imports
none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Source:
    """One `dataset.source`: where its images come from, and whether it reads `dataset.path`."""

    name: str
    origin: str  # "bundled" (in a Python package), "keras" (keras.datasets, downloaded once) or "files"
    # "always": it reads the files at dataset.path; "optional": a Keras data set that reads
    # the four files of MNIST's format from dataset.path where it is set, instead of
    # downloading (popnas_steps.idx); "never": dataset.path is an error
    path: str


SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        Source("digits", "bundled", "never"),  # scikit-learn's 8x8 digits: the embedded default
        Source("cifar10", "keras", "never"),
        Source("cifar100", "keras", "never"),
        Source("mnist", "keras", "optional"),
        Source("fashion_mnist", "keras", "optional"),
        Source("folder", "files", "always"),  # one subfolder of images per class
        Source("npz", "files", "always"),
        Source("idx", "files", "always"),  # the four files of MNIST's format
    )
}
KERAS_SOURCES = tuple(name for name, source in SOURCES.items() if source.origin == "keras")
FILE_SOURCES = tuple(name for name, source in SOURCES.items() if source.path == "always")
IDX_KERAS_SOURCES = tuple(name for name, source in SOURCES.items() if source.path == "optional")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


class DatasetError(ValueError):
    """Unusable data: a missing path, a single class, mismatched lengths, a wrong rank."""


def reads_idx(dataset: dict) -> bool:
    """Whether the `dataset` config slice reads MNIST-format files from `dataset.path`."""
    return dataset["source"] == "idx" or (dataset["source"] in IDX_KERAS_SOURCES and dataset.get("path") is not None)


def reads_path(dataset: dict) -> bool:
    """Whether the `dataset` config slice reads its data from `dataset.path`."""
    return dataset["source"] in FILE_SOURCES or reads_idx(dataset)


def source_files(dataset: dict) -> list[Path] | None:
    """The files the source of the `dataset` config slice reads from `dataset.path`, in name
    order, which its fingerprint covers (popnas_steps.provenance): the four IDX files, the
    .npz file, the images of a folder's classes; nothing else there, readable or not. None
    for a source that reads no files, or a path that is not there (a run copied without its
    raw data); a DatasetError where they cannot be told (an IDX folder without its four
    files, a folder that cannot be listed)."""
    path = dataset.get("path")
    if not reads_path(dataset) or not path or not Path(path).expanduser().exists():
        return None
    root = Path(path).expanduser()
    if reads_idx(dataset):
        from popnas_steps.idx import IdxError, split_files

        try:
            return sorted(split_files(root).values())
        except IdxError as error:
            raise DatasetError(str(error)) from None
    if dataset["source"] == "folder":  # a path that is no folder: reading it says so
        return sorted(file for files in class_files(root).values() for file in files) if root.is_dir() else []
    return [root] if root.is_file() else []  # npz: a folder is refused as it is read


def visible(folder: Path) -> list[Path]:
    """Entries of `folder` in name order, without hidden ones (thumbnails, .DS_Store, ._ forks)."""
    try:
        return sorted(entry for entry in folder.iterdir() if not entry.name.startswith("."))
    except OSError as error:
        raise DatasetError(f"folder '{folder}' cannot be read ({error.strerror})") from None


def class_files(root: Path) -> dict[str, list[Path]]:
    """Image files of each class subfolder, in name order; a DatasetError if there are none."""
    class_dirs = [entry for entry in visible(root) if entry.is_dir()]
    if not class_dirs:
        raise DatasetError(f"image folder '{root}' has no class subfolders")
    classes = {}
    for class_dir in class_dirs:
        files = [f for f in visible(class_dir) if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()]
        if not files:
            raise DatasetError(f"class folder '{class_dir}' holds no images ({', '.join(IMAGE_SUFFIXES)})")
        classes[class_dir.name] = files
    return classes
