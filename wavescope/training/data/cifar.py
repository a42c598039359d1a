"""CIFAR-10 from its official "python version" files, read without torchvision.

CIFAR-10 (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html): 60,000 32x32
colour images in 10 classes, 50,000 for training and 10,000 for testing. The files
``data_batch_1`` ... ``data_batch_5`` and ``test_batch`` are pickled dicts whose ``data``
entry is a (10000, 3072) uint8 array (the red, green and blue planes of each image, row by
row) and whose ``labels`` entry is a list of ints.

Pickle can run code while loading, so the files are read with an unpickler that accepts
only what these files contain (dicts, lists, strings and NumPy arrays).
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from ..._download import retrieve

__all__ = ["load_cifar10", "fetch_cifar10", "CIFAR10_URL", "CIFAR10_MD5"]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"  # of the archive, as published with it
_FOLDER = "cifar-10-batches-py"
_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST = "test_batch"
_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: a CIFAR-10 batch file holds only arrays, "
            "lists and strings"
        )


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as fh:
        batch = _ArrayUnpickler(io.BytesIO(fh.read()), encoding="bytes").load()
    if not isinstance(batch, dict):
        raise ValueError(f"{path} does not hold a CIFAR-10 batch (a pickled dict)")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise ValueError(f"{path} has no 'data'/'labels' entries; is it a CIFAR-10 batch file?")
    data = np.asarray(batch["data"], dtype=np.uint8)
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise ValueError(
            f"{path}: data {data.shape} and labels {labels.shape} are not (n, 3072) and (n,)"
        )
    return data.reshape(-1, 3, 32, 32), labels


def _batch_folder(folder) -> Path:
    folder = Path(folder).expanduser()
    for candidate in (folder, folder / _FOLDER):
        if all((candidate / name).exists() for name in (*_TRAIN, _TEST)):
            return candidate
    raise FileNotFoundError(
        f"no CIFAR-10 batch files ({', '.join(_TRAIN)}, {_TEST}) in {folder} or "
        f"{folder / _FOLDER}; download the python version from {CIFAR10_URL} and extract it "
        "there, or call fetch_cifar10(folder)"
    )


def load_cifar10(folder) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read CIFAR-10 from a folder holding the python-version batch files.

    Parameters
    ----------
    folder : path
        The folder with ``data_batch_1`` ... ``data_batch_5`` and ``test_batch``, or its
        parent (holding ``cifar-10-batches-py``).

    Returns
    -------
    dict
        ``{"train": (images, labels), "test": (images, labels)}`` with images uint8 of shape
        (n, 3, 32, 32) and labels int64 of shape (n,).
    """
    root = _batch_folder(folder)
    parts = [_read_batch(root / name) for name in _TRAIN]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return {"train": train, "test": _read_batch(root / _TEST)}


def fetch_cifar10(folder, *, url: str = CIFAR10_URL) -> Path:
    """Download and extract CIFAR-10 into ``folder`` (once), checking the archive's MD5.

    Returns the folder holding the batch files. The download is pooch's (MD5-checked; an
    archive already in ``folder`` with the right MD5 is used without a network); an
    existing extraction is reused without one.
    """
    folder = Path(folder).expanduser()
    try:
        return _batch_folder(folder)
    except FileNotFoundError:
        pass
    archive = retrieve(url, f"md5:{CIFAR10_MD5}", folder, fname="cifar-10-python.tar.gz",
                       advice=f"Download the python version from {CIFAR10_URL} by hand and "
                              f"put the archive (or its extracted batch files) in {folder}.")
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # refuses links and paths outside the folder
            tar.extractall(folder, filter="data")
        else:  # pragma: no cover - Python without extraction filters
            tar.extractall(folder)  # noqa: S202
    return _batch_folder(folder)
