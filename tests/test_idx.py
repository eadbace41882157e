"""IDX files (popnas_steps.idx), written by the tests themselves; and Debian's Fashion-MNIST
where the package is installed."""

import gzip
import os
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from popnas_steps.idx import IdxError, load_idx_folder, read_idx, split_files

TYPE_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">f4"): 0x0D}


def idx_bytes(array: np.ndarray) -> bytes:
    """`array` as an IDX file's bytes, written from the format's description."""
    array = np.asarray(array)
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    code = TYPE_CODES[np.dtype(big.dtype.str if big.dtype.itemsize > 1 else big.dtype)]
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", size) for size in array.shape)
    return header + big.tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_idx_folder(folder: Path, n_train: int = 40, n_test: int = 20, gz: bool = True, sep: str = "-") -> Path:
    """The four files of a tiny 4-class data set of 6x6 images, named as MNIST's."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    for stem, n in (("train", n_train), ("t10k", n_test)):
        y = np.arange(n, dtype=np.uint8) % 4
        x = (rng.integers(0, 50, size=(n, 6, 6)) + 60 * y[:, None, None]).astype(np.uint8)
        write_idx(folder / f"{stem}-images{sep}idx3-ubyte{suffix}", x, gz)
        write_idx(folder / f"{stem}-labels{sep}idx1-ubyte{suffix}", y, gz)
    return folder


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, ">i2", ">f4"])
def test_an_idx_file_reads_back_its_array(tmp_path, gz, dtype):
    array = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
    if np.dtype(dtype) == np.uint8:
        array = np.arange(30, dtype=np.uint8).reshape(2, 3, 5)
    read = read_idx(write_idx(tmp_path / "a-idx3-ubyte", array, gz))
    assert read.shape == (2, 3, 5) and np.array_equal(read, array) and read.dtype.isnative


def test_a_bad_magic_number_names_the_file(tmp_path):
    bad = tmp_path / "x-idx3-ubyte"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    with pytest.raises(IdxError, match=r"'.*x-idx3-ubyte' is not an IDX file: its magic number is 89504e47"):
        read_idx(bad)
    (tmp_path / "unknown-type").write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]))
    with pytest.raises(IdxError, match="unknown-type' is not an IDX file"):
        read_idx(tmp_path / "unknown-type")


@pytest.mark.parametrize("gz", [False, True])
def test_a_truncated_file_names_the_file(tmp_path, gz):
    data = idx_bytes(np.zeros((4, 6, 6), np.uint8))
    cut = tmp_path / "cut-idx3-ubyte"
    cut.write_bytes(gzip.compress(data)[:-9] if gz else data[:-5])
    message = "is a damaged or truncated gzip file" if gz else r"is truncated: its header announces shape \[4, 6, 6\]"
    with pytest.raises(IdxError, match=f"'.*cut-idx3-ubyte' {message}"):
        read_idx(cut)
    header_only = tmp_path / "head"
    header_only.write_bytes(data[:10])
    with pytest.raises(IdxError, match="it ends inside its header"):
        read_idx(header_only)
    padded = tmp_path / "padded"
    padded.write_bytes(data + b"\0")
    with pytest.raises(IdxError, match="has bytes past its values"):
        read_idx(padded)


@pytest.mark.parametrize("sep", ["-", "."])
@pytest.mark.parametrize("gz", [False, True])
def test_a_folder_of_the_four_files_loads_in_either_spelling(tmp_path, gz, sep):
    x_train, y_train, x_test, y_test = load_idx_folder(write_idx_folder(tmp_path, gz=gz, sep=sep))
    assert x_train.shape == (40, 6, 6) and y_train.shape == (40,) and x_test.shape == (20, 6, 6)
    assert sorted(set(y_test.tolist())) == [0, 1, 2, 3]


def test_a_missing_file_is_named(tmp_path):
    folder = write_idx_folder(tmp_path)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(IdxError, match=r"lacks t10k-labels-idx1-ubyte\[.gz\]"):
        split_files(folder)
    with pytest.raises(IdxError, match="is not a folder"):
        split_files(folder / "train-images-idx3-ubyte.gz")


def test_a_folder_that_cannot_be_read_is_said_so_not_said_to_lack_its_files(tmp_path, monkeypatch):
    folder = write_idx_folder(tmp_path)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()  # as is_file() sees every file of a folder without x
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != folder)  # chmod 000, for all but root
    with pytest.raises(IdxError, match=rf"'{folder}' cannot be read \(permission denied\)"):
        split_files(folder)


def test_two_copies_of_one_file_are_refused(tmp_path):
    folder = write_idx_folder(tmp_path, gz=True)
    write_idx_folder(tmp_path, gz=False)
    with pytest.raises(IdxError, match="holds 2 copies of one file"):
        split_files(folder)


def test_counts_that_differ_between_images_and_labels_name_both_files(tmp_path):
    folder = write_idx_folder(tmp_path, gz=False)
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(39, np.uint8))
    with pytest.raises(IdxError, match=r"train-images-idx3-ubyte' holds 40 images but '.*train-labels-idx1-ubyte' 39"):
        load_idx_folder(folder)


def test_labels_of_the_wrong_rank_are_refused(tmp_path):
    folder = write_idx_folder(tmp_path, gz=False)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros((20, 2), np.uint8))
    with pytest.raises(IdxError, match=r"t10k-labels-idx1-ubyte' holds an array of shape \[20, 2\]"):
        load_idx_folder(folder)


def test_an_empty_split_names_its_files(tmp_path):
    folder = write_idx_folder(tmp_path, n_train=0)
    with pytest.raises(
        IdxError, match=r"train-images-idx3-ubyte.gz' and '.*train-labels-idx1-ubyte.gz' hold no images"
    ):
        load_idx_folder(folder)


def write_bomb(path: Path, shape: tuple[int, ...], inflated: int) -> Path:
    """A gzipped IDX file whose header announces `shape` (bytes) and whose content is then
    `inflated` zero bytes: a few kB on disk."""
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(bytes([0, 0, 0x08, len(shape)]) + b"".join(struct.pack(">I", size) for size in shape))
        for _ in range(inflated >> 20):
            handle.write(bytes(1 << 20))
    return path


def peak_memory(read, *args) -> tuple[int, Exception]:
    """The most memory Python and numpy held while `read(*args)` ran, and what it raised."""
    tracemalloc.start()
    try:
        read(*args)
    except Exception as error:  # returned to the test, which checks it
        raised = error
    else:
        raised = None
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, raised


def test_a_gzip_bomb_is_refused_having_inflated_no_more_than_its_header_announces(tmp_path):
    bomb = write_bomb(tmp_path / "bomb-idx3-ubyte.gz", (10, 6, 6), 64 << 20)  # 360 bytes announced, 64 MiB held
    assert bomb.stat().st_size < 1 << 20
    peak, raised = peak_memory(read_idx, bomb)
    assert isinstance(raised, IdxError) and "bomb-idx3-ubyte.gz' has bytes past its values" in str(raised)
    assert peak < 8 << 20, f"{peak} bytes held to read 360"


def test_a_header_announcing_more_than_max_bytes_is_refused_before_any_value_is_inflated(tmp_path):
    bomb = write_bomb(tmp_path / "big-idx3-ubyte.gz", (1024, 1024, 64), 64 << 20)  # announces 64 MiB, honestly
    peak, raised = peak_memory(read_idx, bomb, 1 << 20)
    assert isinstance(raised, IdxError), raised
    assert str(raised).startswith(
        f"'{bomb}' is too large: its header announces shape [1024, 1024, 64] (67108880 bytes)"
    )
    assert peak < 1 << 20
    assert read_idx(bomb, 64 << 20).shape == (1024, 1024, 64)  # within the cap it is read


@pytest.mark.parametrize("gz", [False, True])
def test_gzipped_or_plain_content_shorter_or_longer_than_announced_is_refused_naming_the_file(tmp_path, gz):
    data = idx_bytes(np.zeros((4, 6, 6), np.uint8))
    for name, content, message in (("short", data[:-5], "is truncated"), ("long", data + b"\0", "has bytes past")):
        path = tmp_path / f"{name}-idx3-ubyte"
        path.write_bytes(gzip.compress(content) if gz else content)
        with pytest.raises(
            IdxError, match=rf"'.*{name}-idx3-ubyte' {message}.*announces shape \[4, 6, 6\] \(160 bytes\)"
        ):
            read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_a_header_whose_size_overflows_int64_is_refused_naming_the_file(tmp_path, gz):
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">III", 2**31, 2**31, 4)  # 2^64 values: 0 in int64
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(gzip.compress(header) if gz else header)
    problem = "is too large" if gz else "is truncated"
    size = 2**64 + 16
    with pytest.raises(
        IdxError, match=rf"'.*huge-idx3-ubyte' {problem}: .*\[2147483648, 2147483648, 4\] \({size} bytes\)"
    ):
        read_idx(path)
    with pytest.raises(IdxError, match=rf"'.*huge-idx3-ubyte' {problem}"):
        read_idx(path, max_bytes=1 << 30)
