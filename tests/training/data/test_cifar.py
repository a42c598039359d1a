"""CIFAR-10 python-format reader, on small files in the official format."""

import hashlib
import pickle
import tarfile

import numpy as np
import pytest

from wavescope.datasets import ChecksumError
from wavescope.training.data import cifar
from wavescope.training.data.cifar import load_cifar10


def _write_batches(folder, per_batch=4, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=per_batch).tolist()
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [b"x.png"] * per_batch}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        written[name] = (data, labels)
    return written


def test_reads_train_and_test_in_order(tmp_path):
    written = _write_batches(tmp_path / "cifar-10-batches-py")
    data = load_cifar10(tmp_path)  # the parent folder works too
    images, labels = data["train"]
    assert images.shape == (20, 3, 32, 32) and images.dtype == np.uint8
    assert labels.tolist() == sum((written[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    first = written["data_batch_1"][0][0]
    # Red plane first, row by row: pixel (row 1, col 2) of the green plane is at 1024 + 34.
    assert images[0, 1, 1, 2] == first[1024 + 32 + 2]
    test_images, test_labels = data["test"]
    assert np.array_equal(test_images.reshape(4, -1), written["test_batch"][0])
    assert test_labels.tolist() == written["test_batch"][1]


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        load_cifar10(tmp_path)


def test_refuses_pickles_that_would_run_code(tmp_path):
    _write_batches(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("this must not run",))

    (tmp_path / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_cifar10(tmp_path)


def test_fetch_extracts_an_md5_checked_archive(tmp_path, monkeypatch):
    written = _write_batches(tmp_path / "src" / "cifar-10-batches-py")
    archive = tmp_path / "src" / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    monkeypatch.setattr(cifar, "CIFAR10_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    folder = cifar.fetch_cifar10(tmp_path / "data", url=archive.as_uri())
    assert folder == tmp_path / "data" / "cifar-10-batches-py"
    test_images, _ = load_cifar10(folder)["test"]
    assert np.array_equal(test_images.reshape(4, -1), written["test_batch"][0])
    archive.unlink()  # extracted once: a second call needs no download
    assert cifar.fetch_cifar10(tmp_path / "data", url=archive.as_uri()) == folder


def test_fetch_refuses_an_archive_with_the_wrong_md5(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"not CIFAR-10")
    with pytest.raises(ChecksumError, match="does not match the known hash"):
        cifar.fetch_cifar10(tmp_path / "data", url=archive.as_uri())
    assert not (tmp_path / "data" / "cifar-10-python.tar.gz").exists()
