"""Sequence task generators follow their definitions; splits are seeded and disjoint."""

import numpy as np
import pytest
import torch

from wavescope.training.data.sequences import (
    COPY_DELIMITER,
    GeneratedSequences,
    NoisyCIFARSequences,
    SequentialImages,
    adding_example,
    cifar_noise,
    copy_example,
    seeded_permutation,
)


def test_copy_example_follows_the_definition():
    rng = np.random.default_rng(0)
    for T in (0, 1, 10, 30):
        tokens, target = copy_example(rng, T)
        assert tokens.shape == target.shape == (T + 20,)
        symbols = tokens[:10]
        assert np.all((symbols >= 1) & (symbols <= 8))
        assert np.all(tokens[10 : 10 + T] == 0)  # T blanks
        assert tokens[10 + T] == COPY_DELIMITER
        assert np.all(tokens[11 + T :] == 0)  # then 9 blanks
        assert np.all(target[:-10] == 0)
        assert np.array_equal(target[-10:], symbols)


def test_copy_symbols_are_uniform_over_one_to_eight():
    rng = np.random.default_rng(1)
    symbols = np.concatenate([copy_example(rng, 0)[0][:10] for _ in range(4000)])
    counts = np.bincount(symbols, minlength=10)
    assert counts[0] == counts[9] == 0
    assert np.all(np.abs(counts[1:9] / symbols.size - 1 / 8) < 0.01)


def test_adding_example_follows_the_definition():
    rng = np.random.default_rng(2)
    for T in (2, 7, 100):
        for _ in range(50):
            x, y = adding_example(rng, T)
            assert x.shape == (T, 2) and x.dtype == np.float32 and y.shape == (1,)
            assert np.all((x[:, 0] >= 0) & (x[:, 0] < 1))
            marked = np.flatnonzero(x[:, 1])
            assert marked.size == 2 and set(np.unique(x[:, 1])) <= {0.0, 1.0}
            assert marked[0] < T // 2 <= marked[1] < T
            assert y[0] == pytest.approx(x[marked, 0].sum())


def test_predicting_the_mean_scores_one_sixth_on_adding():
    rng = np.random.default_rng(3)
    y = np.array([adding_example(rng, 50)[1][0] for _ in range(20000)])
    assert np.mean((y - 1.0) ** 2) == pytest.approx(1 / 6, abs=0.005)


def test_generated_sets_are_deterministic_and_lazy_sets_equal_materialised_ones():
    lazy = GeneratedSequences("adding", 20, 30, [5, 0])
    again = GeneratedSequences("adding", 20, 30, [5, 0], materialize=True)
    for i in (0, 7, 19):
        for a, b in zip(lazy[i], again[i], strict=True):
            assert torch.equal(a, b)
    other = GeneratedSequences("adding", 20, 30, [6, 0])
    assert not torch.equal(lazy[0][0], other[0][0])


def test_copy_items_are_one_hot():
    data = GeneratedSequences("copy", 5, 4, [0])
    x, y = data[3]
    assert x.shape == (24, 10) and y.shape == (24,) and y.dtype == torch.int64
    assert torch.equal(x.sum(1), torch.ones(24))
    assert torch.equal(x.argmax(1)[:10], y[-10:])


def test_excluded_instances_are_redrawn():
    # Ban the first item's instance: it is redrawn (deterministically), the others stay.
    base = GeneratedSequences("copy", 3, 2, [9, 9], materialize=True)
    banned = {base.key(base._raw(0))}
    redrawn = GeneratedSequences("copy", 3, 2, [9, 9], exclude=banned, materialize=True)
    assert base.key(redrawn._raw(0)) not in banned
    assert torch.equal(redrawn[1][0], base[1][0])  # other items untouched


def test_sequential_images_and_permutation():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    data = SequentialImages(images, [4, 7])
    x, y = data[1]
    assert x.shape == (12, 1) and int(y) == 7
    assert torch.allclose(x[:, 0], torch.arange(12, 24) / 255.0)
    perm = seeded_permutation(12, seed=3)
    assert np.array_equal(perm, seeded_permutation(12, seed=3))
    assert not np.array_equal(perm, seeded_permutation(12, seed=4))
    permuted = SequentialImages(images, [4, 7], permutation=perm)
    assert torch.equal(permuted[1][0][:, 0], x[perm, 0])
    with pytest.raises(ValueError, match="not a permutation"):
        SequentialImages(images, [4, 7], permutation=np.zeros(12, int))


def test_noisy_cifar_sequence_layout():
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, size=(3, 3, 32, 32), dtype=np.uint8)
    noise = cifar_noise(seed=1)
    assert noise.shape == (968, 96)
    assert np.array_equal(noise, cifar_noise(seed=1))
    assert abs(noise.mean()) < 0.02 and abs(noise.std() - 1) < 0.02
    data = NoisyCIFARSequences(images, [0, 1, 2], noise)
    x, y = data[2]
    assert x.shape == (1000, 96) and int(y) == 2
    row = 5
    expected = np.concatenate([images[2, ch, row] for ch in range(3)]) / 255.0
    np.testing.assert_allclose(x[row].numpy(), expected, rtol=1e-6)
    assert torch.equal(x[32:], torch.from_numpy(noise))
    assert torch.equal(data[0][0][32:], x[32:])  # the same noise for every image


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="T >= 2"):
        GeneratedSequences("adding", 3, 1, [0])
    with pytest.raises(ValueError, match="unknown sequence task"):
        GeneratedSequences("add", 3, 10, [0])
    with pytest.raises(ValueError, match=r"\(n, 3, 32, 32\)"):
        NoisyCIFARSequences(np.zeros((2, 32, 32, 3), np.uint8), [0, 1], cifar_noise(0))
