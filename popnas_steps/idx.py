"""IDX files, the format of MNIST and Fashion-MNIST, read from a local folder (no download).

A folder holds the four files of the original distribution, each gzipped or not:
`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and
`t10k-labels-idx1-ubyte` (a '.' for the '-' before `idx` is read too, as some copies spell
it). Debian's package `dataset-fashion-mnist` installs Fashion-MNIST's four in
/usr/share/datasets/fashion-mnist.

An IDX file is a 4-byte magic number (two zero bytes, the type of the values, the number of
dimensions), the size of each dimension as a big-endian 32-bit integer, then the values. A
file whose size differs from what its header announces is cut or padded, and refused.

The header is read first, and only the bytes it announces after it: a gzipped file is
inflated as it is read, so a small file that inflates to gigabytes (a gzip bomb) costs no
more than its header announces, and a header announcing more than the caller's `max_bytes`
is refused before any value is read.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

# The value types of the format (the third byte of the magic number), big-endian.
VALUE_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# The four files of a split folder: (split, what) -> the name's stem before `-ubyte`.
FILES = {
    ("train", "images"): ("train-images", "idx3"),
    ("train", "labels"): ("train-labels", "idx1"),
    ("test", "images"): ("t10k-images", "idx3"),
    ("test", "labels"): ("t10k-labels", "idx1"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # bytes inflated at a time


class IdxError(ValueError):
    """A file that is not a usable IDX file, or a folder without the four of a data set."""


def read_idx(path: str | Path, max_bytes: int | None = None) -> np.ndarray:
    """The array stored in the IDX file at `path` (gzipped or not), in native byte order.

    `max_bytes` caps the values' size its header may announce (None: no cap)."""
    path = Path(path)
    try:
        handle = open(path, "rb")  # closed below; an error reading it is not one opening it
    except OSError as error:
        raise IdxError(f"'{path}' cannot be read ({error.strerror})") from None
    with handle:
        gzipped = handle.read(2) == _GZIP_MAGIC
        handle.seek(0)
        if not gzipped:
            try:
                return _read(handle, path, max_bytes, os.fstat(handle.fileno()).st_size)
            except OSError as error:
                raise IdxError(f"'{path}' cannot be read ({error.strerror})") from None
        try:
            with gzip.GzipFile(fileobj=handle, mode="rb") as stream:
                return _read(stream, path, max_bytes, None)
        except (EOFError, OSError, zlib.error) as error:
            raise IdxError(f"'{path}' is a damaged or truncated gzip file ({error})") from None


def _read(stream: BinaryIO, path: Path, max_bytes: int | None, size: int | None) -> np.ndarray:
    """The array of the IDX content in `stream`, whose length is `size` where known (a plain
    file), else found by reading no more than its header announces (a gzipped one)."""
    magic = stream.read(4)
    if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in VALUE_TYPES:
        raise IdxError(
            f"'{path}' is not an IDX file: its magic number is {magic.hex() or 'missing'} (expected 0000 "
            "followed by a value type and a dimension count, e.g. 00000803 for images)"
        )
    ndim = magic[3]
    header = 4 + 4 * ndim
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise IdxError(f"'{path}' is truncated: it ends inside its header ({4 + len(dims)} of {header} bytes)")
    shape = tuple(int.from_bytes(dims[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
    dtype = np.dtype(VALUE_TYPES[magic[2]])
    values = math.prod(shape) * dtype.itemsize  # Python ints: 2^31 x 2^31 x 4 does not wrap to 0
    announced = f"its header announces shape {list(shape)} ({header + values} bytes)"
    if size is not None and size != header + values:
        problem = "is truncated" if size < header + values else "has bytes past its values"
        raise IdxError(f"'{path}' {problem}: {announced}, the file holds {size}")
    if max_bytes is not None and values > max_bytes:
        raise IdxError(f"'{path}' is too large: {announced}, more than the {max_bytes} bytes it may hold here")
    try:
        buffer = np.empty(values, np.uint8)
    except (MemoryError, ValueError):
        raise IdxError(f"'{path}' is too large: {announced}, more than this machine can hold") from None
    read = _read_into(stream, memoryview(buffer))
    if read < values:
        raise IdxError(f"'{path}' is truncated: {announced}, its content holds {header + read}")
    if stream.read(1):
        raise IdxError(f"'{path}' has bytes past its values: {announced}, its content holds more")
    return buffer.view(dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def _read_into(stream: BinaryIO, view: memoryview) -> int:
    """Fills `view` from `stream` a chunk at a time; the number of bytes read (fewer at its end)."""
    done = 0
    while done < len(view):
        count = stream.readinto(view[done : done + _CHUNK])
        if not count:
            break
        done += count
    return done


def split_files(folder: str | Path) -> dict[tuple[str, str], Path]:
    """The four files of the data set in `folder`, by (split, "images" or "labels")."""
    folder = Path(folder)
    if not folder.is_dir():
        raise IdxError(f"'{folder}' is not a folder (the IDX source reads a folder of the four MNIST-format files)")
    found, missing = {}, []
    for key, (stem, kind) in FILES.items():
        names = [f"{stem}{sep}{kind}-ubyte{gz}" for sep in ("-", ".") for gz in ("", ".gz")]
        present = [folder / name for name in names if (folder / name).is_file()]
        if len(present) > 1:
            raise IdxError(f"'{folder}' holds {len(present)} copies of one file: {', '.join(p.name for p in present)}")
        if present:
            found[key] = present[0]
        else:
            missing.append(names[0] + "[.gz]")
    if missing and not os.access(folder, os.R_OK | os.X_OK):  # its files would seem missing
        raise IdxError(f"'{folder}' cannot be read (permission denied): its files cannot be found")
    if missing:
        raise IdxError(f"'{folder}' lacks {', '.join(missing)} (the four files of MNIST's format)")
    return found


def load_idx_folder(
    folder: str | Path, max_bytes: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) from the four IDX files in `folder`; `max_bytes`
    caps each file's values (read_idx)."""
    files = split_files(folder)
    arrays = []
    for split in ("train", "test"):
        images, labels = (files[split, "images"], files[split, "labels"])
        x, y = read_idx(images, max_bytes), read_idx(labels, max_bytes)
        if x.ndim not in (3, 4):
            raise IdxError(f"'{images}' holds an array of shape {list(x.shape)}; images are (n, height, width)")
        if y.ndim != 1:
            raise IdxError(f"'{labels}' holds an array of shape {list(y.shape)}; labels are (n,)")
        if len(x) != len(y):
            raise IdxError(f"'{images}' holds {len(x)} images but '{labels}' {len(y)} labels")
        if not len(x):
            raise IdxError(f"'{images}' and '{labels}' hold no images and labels (their headers announce 0)")
        arrays += [x, y]
    return tuple(arrays)
