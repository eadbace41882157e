"""IDX files, the format of MNIST and Fashion-MNIST, read from a local folder (no download).

A folder holds the four files of the original distribution, each gzipped or not:
`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and
`t10k-labels-idx1-ubyte` (a '.' for the '-' before `idx` is read too, as some copies spell
it). Debian's package `dataset-fashion-mnist` installs Fashion-MNIST's four in
/usr/share/datasets/fashion-mnist.

An IDX file is a 4-byte magic number (two zero bytes, the type of the values, the number of
dimensions), the size of each dimension as a big-endian 32-bit integer, then the values. A
file whose size differs from what its header announces is cut or padded, and refused.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

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


class IdxError(ValueError):
    """A file that is not a usable IDX file, or a folder without the four of a data set."""


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in the IDX file at `path` (gzipped or not), in native byte order."""
    path = Path(path)
    data = _bytes(path)
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in VALUE_TYPES:
        raise IdxError(
            f"'{path}' is not an IDX file: its magic number is {data[:4].hex() or 'missing'} (expected 0000 "
            "followed by a value type and a dimension count, e.g. 00000803 for images)"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"'{path}' is truncated: it ends inside its header ({len(data)} of {header} bytes)")
    shape = tuple(int(size) for size in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(VALUE_TYPES[data[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        problem = "is truncated" if len(data) < expected else "has bytes past its values"
        raise IdxError(
            f"'{path}' {problem}: its header announces shape {list(shape)} ({expected} bytes), the file holds "
            f"{len(data)}"
        )
    values = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def _bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise IdxError(f"'{path}' cannot be read ({error.strerror})") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as error:
        raise IdxError(f"'{path}' is a damaged or truncated gzip file ({error})") from None


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
    if missing:
        raise IdxError(f"'{folder}' lacks {', '.join(missing)} (the four files of MNIST's format)")
    return found


def load_idx_folder(folder: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) from the four IDX files in `folder`."""
    files = split_files(folder)
    arrays = []
    for split in ("train", "test"):
        images, labels = (files[split, "images"], files[split, "labels"])
        x, y = read_idx(images), read_idx(labels)
        if x.ndim not in (3, 4):
            raise IdxError(f"'{images}' holds an array of shape {list(x.shape)}; images are (n, height, width)")
        if y.ndim != 1:
            raise IdxError(f"'{labels}' holds an array of shape {list(y.shape)}; labels are (n,)")
        if len(x) != len(y):
            raise IdxError(f"'{images}' holds {len(x)} images but '{labels}' {len(y)} labels")
        arrays += [x, y]
    return tuple(arrays)
