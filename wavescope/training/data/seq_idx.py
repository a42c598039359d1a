"""Minimal reader of MNIST-format (IDX) files for the sequence tasks.

The sequence side needs only "read the four files of an MNIST-format folder"; this module
does that and nothing more, until it is folded into the image side's MNIST loader.
IDX (http://yann.lecun.com/exdb/mnist/): a big-endian header of two zero bytes, a type byte
(0x08 = uint8), the number of dimensions, one uint32 per dimension, then the data.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "load_mnist_folder", "MNIST_FILES"]

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read one IDX file (gzipped or not) into a NumPy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_TYPES[raw[2]])
    offset = 4 + 4 * ndim
    count = int(np.prod(shape))
    if len(raw) - offset != count * dtype.itemsize:
        raise ValueError(
            f"{path}: header says {shape} values of {dtype}, but the file holds "
            f"{len(raw) - offset} bytes of data"
        )
    return np.frombuffer(raw, dtype, count=count, offset=offset).reshape(shape).astype(
        dtype.newbyteorder("=")
    )


def load_mnist_folder(folder) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read MNIST or Fashion-MNIST from a folder of the four IDX files (``.gz`` or not).

    Returns ``{"train": (images, labels), "test": (images, labels)}``: images uint8
    (n, 28, 28), labels int64 (n,).
    """
    folder = Path(folder).expanduser()
    found = {}
    for key, stem in MNIST_FILES.items():
        for name in (stem, stem + ".gz"):
            if (folder / name).exists():
                found[key] = folder / name
                break
        else:
            raise FileNotFoundError(
                f"{folder} has no {stem}[.gz]; give a folder holding the four MNIST-format "
                f"files {sorted(MNIST_FILES.values())}"
            )
    out = {}
    for split in ("train", "test"):
        images = read_idx(found[f"{split}_images"])
        labels = read_idx(found[f"{split}_labels"]).astype(np.int64)
        if images.ndim != 3 or len(images) != len(labels):
            raise ValueError(f"{folder}: {split} images {images.shape} and labels {labels.shape}")
        out[split] = (images, labels)
    return out
