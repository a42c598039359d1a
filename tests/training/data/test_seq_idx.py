"""The minimal IDX reader, on files written here in the MNIST format."""

import gzip
import struct

import numpy as np
import pytest

from wavescope.training.data.seq_idx import load_mnist_folder, read_idx


def _idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist_folder(folder, n_train=12, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for i, (name, array) in enumerate(arrays.items()):
        raw = _idx_bytes(array)
        if i % 2:  # mix gzipped and plain files, as users have both
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


def test_round_trip(tmp_path):
    arrays = write_mnist_folder(tmp_path)
    data = load_mnist_folder(tmp_path)
    assert np.array_equal(data["train"][0], arrays["train-images-idx3-ubyte"])
    assert np.array_equal(data["train"][1], arrays["train-labels-idx1-ubyte"])
    assert np.array_equal(data["test"][0], arrays["t10k-images-idx3-ubyte"])
    assert data["test"][1].dtype == np.int64


def test_bad_files_are_named(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(_idx_bytes(np.zeros((2, 3)))[:-1])
    with pytest.raises(ValueError, match="header says"):
        read_idx(tmp_path / "short")
    with pytest.raises(FileNotFoundError, match="train-images"):
        load_mnist_folder(tmp_path)
