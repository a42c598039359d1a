import gzip
import hashlib
import json

import numpy as np
import pytest
import torch

from wavescope.datasets import ChecksumError
from wavescope.training.data import (
    ImageMaskDataset,
    assert_disjoint,
    cached,
    load_mnist,
    make_multi_mnist,
    make_polygons,
    make_tetrominoes,
    mnist_segmentation_splits,
    multi_mnist,
    polygon_mask,
    polygons,
    read_idx,
    segmentation_sample,
    tetrominoes,
    write_idx,
)

SMALL = dict(sizes={"train": 12, "val": 4, "test": 4})


# ------------------------------------------------------------------ Tetrominoes
def test_tetrominoes_are_deterministic_and_prefix_stable():
    a = make_tetrominoes(6, "train", seed=3)
    b = make_tetrominoes(6, "train", seed=3)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    c = make_tetrominoes(3, "train", seed=3)
    np.testing.assert_array_equal(c["images"], a["images"][:3])
    assert not np.array_equal(make_tetrominoes(6, "train", seed=4)["masks"], a["masks"])


def test_tetromino_pieces_have_the_right_sizes():
    d = make_tetrominoes(40, "train", seed=0)
    assert d["images"].shape == (40, 3, 64, 64) and d["masks"].shape == (40, 64, 64)
    assert set(np.unique(d["masks"])) <= set(range(6))
    # every piece is 4 cells of 7×7 pixels; pieces never overlap, so per image and class the
    # area is a multiple of 196 pixels, and images hold 1 to 5 pieces
    for mask in d["masks"]:
        areas = np.bincount(mask.ravel(), minlength=6)[1:]
        assert np.all(areas % 196 == 0)
        assert 1 <= areas.sum() // 196 <= 5
    # background pixels are black, piece pixels are not
    assert d["images"][np.broadcast_to(d["masks"][:, None] == 0, d["images"].shape)].max() == 0
    assert (d["images"].max(axis=1)[d["masks"] > 0] > 0).all()


def test_tetromino_splits_are_disjoint_and_cached(tmp_path):
    splits = tetrominoes(tmp_path, **SMALL)
    assert {k: len(v["images"]) for k, v in splits.items()} == {"train": 12, "val": 4, "test": 4}
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len([f for f in files if f.endswith(".npz")]) == 3
    meta = json.loads(next(tmp_path.glob("tetrominoes-val-*.json")).read_text())
    assert meta["params"]["n"] == 4 and len(meta["sha256"]) == 64
    again = tetrominoes(tmp_path, **SMALL)
    np.testing.assert_array_equal(again["test"]["masks"], splits["test"]["masks"])
    with pytest.raises(AssertionError, match="both"):
        assert_disjoint({"train": splits["train"]["images"],
                         "test": splits["train"]["images"][:1]})


def test_cache_rebuilds_a_corrupted_file(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return {"a": np.arange(5)}

    cached(tmp_path, "x", {"p": 1}, build)
    np.testing.assert_array_equal(cached(tmp_path, "x", {"p": 1}, build)["a"], np.arange(5))
    assert len(calls) == 1
    npz = next(tmp_path.glob("x-*.npz"))
    npz.write_bytes(npz.read_bytes()[:-3] + b"bad")
    with pytest.warns(UserWarning, match="SHA-256"):
        cached(tmp_path, "x", {"p": 1}, build)
    assert len(calls) == 2


def test_non_square_tetrominoes():
    d = make_tetrominoes(3, "val", height=40, width=72, max_pieces=3)
    assert d["images"].shape == (3, 3, 40, 72)


# ------------------------------------------------------------------ polygons
@pytest.mark.parametrize("sides", [3, 4, 6, 8])
def test_polygon_mask_area_matches_geometry(sides):
    r = 40.0
    mask = polygon_mask(101, 101, sides, (50.0, 50.0), r, 0.3)
    area = 0.5 * sides * r * r * np.sin(2 * np.pi / sides)
    assert mask.sum() == pytest.approx(area, rel=0.02)


def test_polygons_labels_and_splits(tmp_path):
    d = make_polygons(20, "test", seed=1)
    assert d["images"].shape == (20, 1, 32, 32)
    for mask, label in zip(d["masks"], d["labels"], strict=True):
        assert set(np.unique(mask)) == {0, label}  # one polygon per image by default
    splits = polygons(tmp_path, **SMALL)
    assert len(splits["val"]["labels"]) == 4


# ------------------------------------------------------------------ MNIST-format files
def _fake_mnist(folder, n_train=30, n_test=12, gz=True):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    data = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = np.zeros((n, 28, 28), dtype=np.uint8)
        images[:, 8:20, 10:18] = rng.integers(150, 256, size=(n, 12, 8))  # a bright block
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", labels)
        data[split] = (images, labels)
    return data


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip_and_loader(tmp_path, gz):
    truth = _fake_mnist(tmp_path, gz=gz)
    arrays = load_mnist(tmp_path)
    np.testing.assert_array_equal(arrays["train_images"], truth["train"][0])
    np.testing.assert_array_equal(arrays["test_labels"], truth["t10k"][1])
    assert arrays["train_labels"].dtype == np.int64


def test_idx_parsing_of_a_hand_written_file(tmp_path):
    # magic 0x00000C02 (int32, 2 dims), dims 2 × 3, then big-endian values
    raw = bytes([0, 0, 0x0C, 2]) + np.array([2, 3], ">i4").tobytes()
    raw += np.arange(6, dtype=">i4").tobytes()
    (tmp_path / "a.idx").write_bytes(raw)
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(raw))
    for name in ("a.idx", "a.idx.gz"):
        np.testing.assert_array_equal(read_idx(tmp_path / name), np.arange(6).reshape(2, 3))
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(raw[:-4])
    with pytest.raises(ValueError, match="needs"):
        read_idx(tmp_path / "short")


def test_missing_files_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_mnist(tmp_path)


def test_mnist_download_through_pooch_md5_checked(tmp_path, monkeypatch):
    from wavescope.training.data import mnist

    mirror = tmp_path / "mirror"
    truth = _fake_mnist(mirror)
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in mirror.iterdir()}
    monkeypatch.setattr(mnist, "MNIST_URL", mirror.as_uri() + "/")
    monkeypatch.setattr(mnist, "MNIST_MD5", md5)
    arrays = load_mnist(tmp_path / "data", download=True)
    np.testing.assert_array_equal(arrays["test_images"], truth["t10k"][0])
    # A damaged mirror file fails its MD5 and leaves nothing under the real name.
    name = "t10k-labels-idx1-ubyte.gz"
    (mirror / name).write_bytes(b"damaged")
    with pytest.raises(ChecksumError, match=f"{name}.*does not match the known hash"):
        mnist.download_mnist(tmp_path / "other")
    assert not (tmp_path / "other" / name).exists()


def test_mnist_download_failure_names_the_file_and_the_fix(tmp_path, monkeypatch):
    from wavescope.training.data import mnist

    monkeypatch.setattr(mnist, "MNIST_URL", (tmp_path / "nowhere").as_uri() + "/")
    with pytest.raises(OSError, match=r"cannot download train-images-idx3-ubyte.gz .*Put the "
                                      r"four MNIST files in .* dataset-fashion-mnist"):
        load_mnist(tmp_path / "data", download=True)


def test_mnist_segmentation_items_and_splits(tmp_path):
    _fake_mnist(tmp_path)
    splits = mnist_segmentation_splits(load_mnist(tmp_path), n_val=10, seed=0)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [20, 10, 12]
    x, mask = splits["train"][0]
    assert x.shape == (1, 56, 56) and mask.shape == (56, 56)
    label = int(mask.max()) - 1
    assert set(mask.unique().tolist()) == {0, label + 1}
    torch.testing.assert_close(mask > 0, x[0] > 0.5)
    # the train/val split is a partition of the training set
    train = {bytes(im) for im in splits["train"].images}
    val = {bytes(im) for im in splits["val"].images}
    assert not train & val and len(train | val) == 30


def test_segmentation_sample_threshold():
    image = np.zeros((28, 28), dtype=np.uint8)
    image[10:18, 10:18] = 255
    x, mask = segmentation_sample(image, 7)
    assert x.shape == (1, 56, 56) and float(x.max()) == pytest.approx(1.0)
    assert set(mask.unique().tolist()) == {0, 8}
    assert int((mask > 0).sum()) == int((x[0] > 0.5).sum())


def test_multi_mnist_places_digits_without_overlap(tmp_path):
    truth = _fake_mnist(tmp_path, n_train=40, n_test=20)
    images, labels = truth["train"]
    d = make_multi_mnist(images, labels, n=15, seed=[0, 0])
    assert d["masks"].shape == (15, 128, 128)
    for mask, src, unplaced in zip(d["masks"], d["sources"], d["unplaced"], strict=True):
        placed = src[src >= 0]
        assert 1 <= len(placed) + unplaced <= 4
        # every digit's pixels carry its own label: total area = sum of the digits' areas
        assert set(np.unique(mask)) - {0} <= {int(labels[s]) + 1 for s in placed}
    splits = multi_mnist(load_mnist(tmp_path), tmp_path / "cache", {"train": 5, "val": 3,
                                                                    "test": 3})
    # val and test draw from different halves of the test set
    assert (splits["val"]["sources"].max() < 10) and (splits["test"]["sources"].max() < 10)
    ds = ImageMaskDataset(None, splits["val"]["masks"])
    x, m = ds[0]
    assert x.shape == (1, 128, 128) and torch.equal(x[0] > 0, m > 0)
