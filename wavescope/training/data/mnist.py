"""MNIST-format data: an IDX reader, the MNIST and Fashion-MNIST files, and the two
segmentation tasks built on them (MNIST segmentation and Multi-MNIST).

IDX is the format of the MNIST files: a magic number (two zero bytes, a type code, the
number of dimensions), the dimensions as big-endian int32, then the values. Files may be
gzipped. Fashion-MNIST uses the same format and file names; Debian's package
``dataset-fashion-mnist`` (MIT licence; Xiao, Rasul & Vollgraf 2017) installs it in
``/usr/share/datasets/fashion-mnist``. Results computed on it are Fashion-MNIST results,
never MNIST ones.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..._download import retrieve
from ..._safeio import write_bytes
from .cache import cached

__all__ = [
    "read_idx",
    "write_idx",
    "find_mnist",
    "load_mnist",
    "segmentation_sample",
    "mnist_segmentation_splits",
    "make_multi_mnist",
    "multi_mnist",
    "FASHION_MNIST_DIR",
]

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B,
          np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
# MNIST mirror and the MD5 sums of its gzipped files (as published with the data set).
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


# --------------------------------------------------------------------------- IDX
def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a NumPy array in native byte order.

    Raises
    ------
    ValueError
        When the file is not IDX or is shorter than its header says.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from wavescope.training.data import read_idx, write_idx
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_idx(Path(tmp) / "labels-idx1-ubyte.gz", np.array([3, 1, 4], np.uint8))
    ...     print(read_idx(path))
    ...
    [3 1 4]
    """
    path = Path(path)
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4]!r})")
    dtype = np.dtype(_TYPES[raw[2]])
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    count = int(np.prod(shape)) if shape else 1
    offset = 4 + 4 * ndim
    if len(raw) - offset < count * dtype.itemsize:
        raise ValueError(f"{path} holds {len(raw) - offset} bytes of data; its header "
                         f"{shape} needs {count * dtype.itemsize}")
    data = np.frombuffer(raw, dtype, count=count, offset=offset).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path, array, compress: bool | None = None) -> Path:
    """Write an array as an IDX file (gzipped when ``compress`` or the name ends in .gz).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from wavescope.training.data import read_idx, write_idx
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_idx(Path(tmp) / "images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    ...     print(path.stat().st_size, read_idx(path).shape)  # 16 header bytes, then the pixels
    ...
    1584 (2, 28, 28)
    """
    path = Path(path)
    array = np.asarray(array)
    dtype = array.dtype if array.dtype.itemsize == 1 else array.dtype.newbyteorder(">")
    if dtype not in _CODES:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, _CODES[dtype], array.ndim]) + np.asarray(array.shape, ">i4").tobytes()
    raw = header + array.astype(dtype).tobytes()
    if compress or (compress is None and path.suffix == ".gz"):
        raw = gzip.compress(raw)
    return write_bytes(path, raw)


def find_mnist(root) -> dict[str, Path]:
    """Paths of the four MNIST-format files in ``root`` (plain or .gz).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from wavescope.training.data import write_idx
    >>> rng = np.random.default_rng(0)
    >>> tmp = tempfile.TemporaryDirectory()
    >>> root = Path(tmp.name)  # a tiny stand-in for the four MNIST files
    >>> for split, n in (("train", 20), ("t10k", 10)):
    ...     _ = write_idx(root / f"{split}-images-idx3-ubyte.gz",
    ...                   rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
    ...     _ = write_idx(root / f"{split}-labels-idx1-ubyte.gz",
    ...                   rng.integers(0, 10, n, dtype=np.uint8))
    ...
    >>> from wavescope.training.data import find_mnist
    >>> print(sorted(find_mnist(root)))
    ['test_images', 'test_labels', 'train_images', 'train_labels']
    >>> tmp.cleanup()
    """
    root = Path(root).expanduser()
    found = {}
    for key, stem in FILES.items():
        for name in (stem, stem + ".gz"):
            if (root / name).exists():
                found[key] = root / name
                break
        else:
            raise FileNotFoundError(
                f"no {stem}[.gz] in {root}; put the MNIST-format files there (for "
                "Fashion-MNIST: apt-get install dataset-fashion-mnist)")
    return found


def download_mnist(root) -> Path:
    """Download the four MNIST files into ``root`` (pooch, MD5-checked; kept when present).

    A file already in ``root`` with the right MD5 is used without a network. Where no
    mirror can be reached, the error names the file and what to do: copy the files there
    by hand, or use Debian's Fashion-MNIST (:data:`FASHION_MNIST_DIR`).
    """
    root = Path(root).expanduser()
    advice = (f"Put the four MNIST files in {root} by hand, or for Fashion-MNIST "
              f"`apt-get install dataset-fashion-mnist` and read {FASHION_MNIST_DIR}.")
    for name, md5 in MNIST_MD5.items():
        retrieve(MNIST_URL + name, f"md5:{md5}", root, advice=advice)
    return root


def load_mnist(root, download: bool = False) -> dict[str, np.ndarray]:
    """The four MNIST-format arrays of ``root``: train/test images (n, 28, 28) uint8 and
    labels (n,) int64. With ``download``, fetch MNIST into ``root`` when missing.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from wavescope.training.data import write_idx
    >>> rng = np.random.default_rng(0)
    >>> tmp = tempfile.TemporaryDirectory()
    >>> root = Path(tmp.name)  # a tiny stand-in for the four MNIST files
    >>> for split, n in (("train", 20), ("t10k", 10)):
    ...     _ = write_idx(root / f"{split}-images-idx3-ubyte.gz",
    ...                   rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
    ...     _ = write_idx(root / f"{split}-labels-idx1-ubyte.gz",
    ...                   rng.integers(0, 10, n, dtype=np.uint8))
    ...
    >>> from wavescope.training.data import load_mnist
    >>> arrays = load_mnist(root)
    >>> print(arrays["train_images"].shape, arrays["test_labels"].dtype)
    (20, 28, 28) int64
    >>> tmp.cleanup()
    """
    try:
        paths = find_mnist(root)
    except FileNotFoundError:
        if not download:
            raise
        paths = find_mnist(download_mnist(root))
    out = {k: read_idx(p) for k, p in paths.items()}
    for split in ("train", "test"):
        images, labels = out[f"{split}_images"], out[f"{split}_labels"]
        if images.ndim != 3 or len(images) != len(labels):
            raise ValueError(f"{split} images {images.shape} and labels {labels.shape} do not "
                             "match")
        out[f"{split}_labels"] = labels.astype(np.int64)
    return out


# --------------------------------------------------------------------------- segmentation
def segmentation_sample(image, label: int, size: int = 56, threshold: float = 0.5):
    """One MNIST segmentation item: the digit resized bilinearly to ``size``×``size``
    (grey values in [0, 1]) and its mask (pixel > ``threshold`` → label + 1, else 0).

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope.training.data import segmentation_sample
    >>> digit = np.zeros((28, 28), np.uint8)
    >>> digit[10:18, 12:16] = 255
    >>> x, mask = segmentation_sample(digit, label=7, size=56)
    >>> print(tuple(x.shape), mask.unique().tolist())  # background 0, the digit label + 1
    (1, 56, 56) [0, 8]
    """
    x = torch.as_tensor(np.asarray(image), dtype=torch.float32)[None, None] / 255.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)[0]
    mask = (x[0] > threshold).long() * (int(label) + 1)
    return x, mask


class SegmentationDigits(torch.utils.data.Dataset):
    """Digits (n, 28, 28) uint8 and labels as segmentation items (see
    :func:`segmentation_sample`)."""

    def __init__(self, images, labels, size: int = 56, threshold: float = 0.5):
        self.images, self.labels = images, labels
        self.size, self.threshold = size, threshold

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return segmentation_sample(self.images[i], self.labels[i], self.size, self.threshold)


def mnist_segmentation_splits(arrays: dict, n_val: int = 9000, seed: int = 0,
                              size: int = 56) -> dict[str, SegmentationDigits]:
    """Train/val/test segmentation splits: the training set split (60k → 51k / 9k for
    MNIST) by a seeded permutation, and the official test set.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from wavescope.training.data import write_idx
    >>> rng = np.random.default_rng(0)
    >>> tmp = tempfile.TemporaryDirectory()
    >>> root = Path(tmp.name)  # a tiny stand-in for the four MNIST files
    >>> for split, n in (("train", 20), ("t10k", 10)):
    ...     _ = write_idx(root / f"{split}-images-idx3-ubyte.gz",
    ...                   rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
    ...     _ = write_idx(root / f"{split}-labels-idx1-ubyte.gz",
    ...                   rng.integers(0, 10, n, dtype=np.uint8))
    ...
    >>> from wavescope.training.data import load_mnist, mnist_segmentation_splits
    >>> splits = mnist_segmentation_splits(load_mnist(root), n_val=5)
    >>> print({name: len(split) for name, split in splits.items()})
    {'train': 15, 'val': 5, 'test': 10}
    >>> tmp.cleanup()
    """
    n = len(arrays["train_images"])
    if not 0 < n_val < n:
        raise ValueError(f"n_val must be between 1 and {n - 1}, got {n_val}")
    order = np.random.default_rng(seed).permutation(n)
    val, train = order[:n_val], order[n_val:]
    return {
        "train": SegmentationDigits(arrays["train_images"][train], arrays["train_labels"][train],
                                    size),
        "val": SegmentationDigits(arrays["train_images"][val], arrays["train_labels"][val], size),
        "test": SegmentationDigits(arrays["test_images"], arrays["test_labels"], size),
    }


# --------------------------------------------------------------------------- Multi-MNIST
def _binarised_digit(image, size: int) -> np.ndarray:
    x = torch.as_tensor(np.asarray(image), dtype=torch.float32)[None, None] / 255.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return (x[0, 0] > 0.5).numpy()


def make_multi_mnist(images, labels, n: int, seed, canvas: int = 128, digit: int = 42,
                     min_digits: int = 1, max_digits: int = 4,
                     attempts: int = 50) -> dict[str, np.ndarray]:
    """Paste 1–4 binarised digits per canvas without pixel overlap.

    Parameters
    ----------
    images, labels : array_like
        The digit pool (n, 28, 28) uint8 and its labels.
    n : int
        Number of canvases.
    seed : int
        Seed of this split's draws.

    Returns
    -------
    dict
        ``masks`` (n, canvas, canvas) uint8 with label + 1 on the digit pixels (the input is
        ``masks > 0``), ``sources`` (n, max_digits) int64 pool indices (−1: none),
        ``unplaced`` (n,) digits that found no place within ``attempts`` tries.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope.training.data import make_multi_mnist
    >>> digits = np.zeros((5, 28, 28), np.uint8)
    >>> digits[:, 6:22, 10:18] = 255
    >>> out = make_multi_mnist(digits, np.arange(5), n=2, seed=0, canvas=64, digit=20)
    >>> print(out["masks"].shape, out["sources"].shape)
    (2, 64, 64) (2, 4)
    """
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, canvas, canvas), dtype=np.uint8)
    sources = np.full((n, max_digits), -1, dtype=np.int64)
    unplaced = np.zeros(n, dtype=np.int32)
    for i in range(n):
        k = int(rng.integers(min_digits, max_digits + 1))
        for j, src in enumerate(rng.integers(len(images), size=k)):
            shape = _binarised_digit(images[src], digit)
            for _ in range(attempts):
                y0, x0 = (int(v) for v in rng.integers(canvas - digit + 1, size=2))
                region = masks[i, y0:y0 + digit, x0:x0 + digit]
                if not (region[shape] > 0).any():
                    region[shape] = int(labels[src]) + 1
                    sources[i, j] = src
                    break
            else:
                unplaced[i] += 1
    return {"masks": masks, "sources": sources, "unplaced": unplaced}


def multi_mnist(arrays: dict, root=None, sizes=None, seed: int = 0, source: str = "mnist",
                **params) -> dict[str, dict]:
    """Multi-MNIST splits, cached under ``root``.

    Train canvases draw digits from the training set; val and test canvases draw from the
    first and second halves of the test set, so no digit instance is shared between splits
    (the original drew every split from the training set).

    Parameters
    ----------
    arrays : dict
        Output of :func:`load_mnist`.
    sizes : dict, optional
        Canvases per split; default 10000 / 1000 / 1000.
    source : str
        Name of the digit source, part of the cache key ("mnist" or "fashion_mnist").

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from wavescope.training.data import write_idx
    >>> rng = np.random.default_rng(0)
    >>> tmp = tempfile.TemporaryDirectory()
    >>> root = Path(tmp.name)  # a tiny stand-in for the four MNIST files
    >>> for split, n in (("train", 20), ("t10k", 10)):
    ...     _ = write_idx(root / f"{split}-images-idx3-ubyte.gz",
    ...                   rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
    ...     _ = write_idx(root / f"{split}-labels-idx1-ubyte.gz",
    ...                   rng.integers(0, 10, n, dtype=np.uint8))
    ...
    >>> from wavescope.training.data import load_mnist, multi_mnist
    >>> splits = multi_mnist(load_mnist(root), sizes={"train": 3, "val": 2, "test": 2}, canvas=64,
    ...                      digit=20)
    >>> print({name: split["masks"].shape for name, split in splits.items()})
    {'train': (3, 64, 64), 'val': (2, 64, 64), 'test': (2, 64, 64)}
    >>> tmp.cleanup()
    """
    sizes = {"train": 10000, "val": 1000, "test": 1000, **(sizes or {})}
    half = len(arrays["test_images"]) // 2
    pools = {
        "train": (arrays["train_images"], arrays["train_labels"]),
        "val": (arrays["test_images"][:half], arrays["test_labels"][:half]),
        "test": (arrays["test_images"][half:], arrays["test_labels"][half:]),
    }
    fingerprint = {s: hashlib.sha256(np.ascontiguousarray(p[0]).tobytes()).hexdigest()[:16]
                   for s, p in pools.items()}
    out = {}
    for k, split in enumerate(("train", "val", "test")):
        key = {"generator": "multi-mnist-v1", "source": source, "split": split,
               "n": int(sizes[split]), "seed": int(seed), "pool": fingerprint[split], **params}
        out[split] = cached(root, f"multi-{source}-{split}", key,
                            lambda split=split, k=k: make_multi_mnist(
                                *pools[split], int(sizes[split]), seed=[int(seed), k], **params))
    return out
