"""Sequence tasks of the Wave-RNN paper: copy, adding, sequential images, noisy CIFAR-10.

Every data set here is a map-style :class:`torch.utils.data.Dataset` of ``(input, target)``
pairs with input of shape (time, n_in), the layout the sequence models take after batching.

The synthetic tasks (copy, adding) are *generated*: item ``i`` is drawn from its own random
generator seeded with ``(seed, i)``, so a data set of any length costs no memory, reads the
same on every machine, and the trainer's shuffled batches are still fresh examples, as in the
paper (which drew a new batch at every step). Held-out splits are built once as fixed arrays
from a separate seed, and a split can exclude the instances of others: an item that would
repeat one is redrawn from the same generator (deterministically).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = [
    "COPY_BLANK",
    "COPY_DELIMITER",
    "copy_example",
    "adding_example",
    "GeneratedSequences",
    "SequentialImages",
    "NoisyCIFARSequences",
    "CIFAR_ROWS",
    "CIFAR_STEPS",
    "seeded_permutation",
    "cifar_noise",
]

COPY_BLANK = 0
COPY_DELIMITER = 9
CIFAR_ROWS = 32  # one image row (R, G, B rows concatenated) per step
CIFAR_STEPS = 1000  # rows, then fixed noise, 1000 steps in all


def copy_example(rng: np.random.Generator, T: int, memory: int = 10, n_symbols: int = 8):
    """One copy-task instance.

    ``memory`` symbols drawn uniformly from {1, ..., n_symbols}, then ``T`` blanks (0), the
    delimiter (9), then ``memory - 1`` blanks; the target is blank except the last ``memory``
    steps, which repeat the symbols. Length ``T + 2 * memory``.

    Returns
    -------
    tokens, target : np.ndarray of int64, shape (T + 2 * memory,)
        Input symbols and target symbols, both over the 10 classes {0, ..., 9}.
    """
    if T < 0 or memory < 1 or not 1 <= n_symbols <= 8:
        raise ValueError(
            f"need T >= 0, memory >= 1 and 1 <= n_symbols <= 8; got {T}, {memory}, {n_symbols}"
        )
    length = T + 2 * memory
    symbols = rng.integers(1, n_symbols + 1, size=memory)
    tokens = np.full(length, COPY_BLANK, dtype=np.int64)
    tokens[:memory] = symbols
    tokens[memory + T] = COPY_DELIMITER
    target = np.full(length, COPY_BLANK, dtype=np.int64)
    target[-memory:] = symbols
    return tokens, target


def adding_example(rng: np.random.Generator, T: int):
    """One adding-task instance.

    Channel 0 holds T values drawn from U[0, 1); channel 1 marks one index in [0, T/2) and one
    in [T/2, T). The target is the sum of the two marked values.

    Returns
    -------
    x : np.ndarray of float32, shape (T, 2)
    y : np.ndarray of float32, shape (1,)
    """
    if T < 2:
        raise ValueError(f"the adding task needs T >= 2 steps, got {T}")
    half = T // 2
    x = np.zeros((T, 2), dtype=np.float32)
    x[:, 0] = rng.random(T, dtype=np.float32)
    first, second = rng.integers(0, half), rng.integers(half, T)
    x[[first, second], 1] = 1.0
    y = np.array([x[first, 0] + x[second, 0]], dtype=np.float32)
    return x, y


class GeneratedSequences(Dataset):
    """A seeded, generated data set of copy or adding instances.

    Parameters
    ----------
    kind : {"copy", "adding"}
        Which task.
    size : int
        Number of items.
    T : int
        Sequence length parameter (copy: blanks between symbols and delimiter; adding: steps).
    seed : int or sequence of int
        Item ``i`` is drawn from ``numpy.random.default_rng([*seed, i])``.
    exclude : set, optional
        Instance keys (see :meth:`key`) this split must not contain; such items are redrawn.
    materialize : bool
        Build all items once and keep them (for fixed held-out splits).

    Notes
    -----
    Copy items are returned as ``(one-hot tokens (L, 10) float32, target (L,) int64)``;
    adding items as ``(x (T, 2) float32, y (1,) float32)``.
    """

    def __init__(self, kind: str, size: int, T: int, seed, *, exclude=None, materialize=False):
        if kind not in ("copy", "adding"):
            raise ValueError(f"unknown sequence task {kind!r}; choose 'copy' or 'adding'")
        if int(size) != size or size < 0:
            raise ValueError(f"size must be a non-negative integer, got {size!r}")
        self.kind, self.size, self.T = kind, int(size), int(T)
        self.seed = [int(s) for s in np.atleast_1d(seed)]
        self.exclude = frozenset(exclude or ())
        self._make = copy_example if kind == "copy" else adding_example
        self._make(np.random.default_rng(0), self.T)  # check T now, not at the first batch
        self._items = [self._draw(i) for i in range(self.size)] if materialize else None

    def __len__(self) -> int:
        return self.size

    def key(self, item) -> bytes:
        """What makes an instance the same: its whole input sequence."""
        return item[0].tobytes()

    def keys(self) -> set:
        """The keys of every item (materialised splits: from memory; else generated)."""
        return {self.key(self._raw(i)) for i in range(self.size)}

    def _draw(self, i: int):
        rng = np.random.default_rng([*self.seed, i])
        while True:
            item = self._make(rng, self.T)
            if not self.exclude or self.key(item) not in self.exclude:
                return item

    def _raw(self, i: int):
        return self._items[i] if self._items is not None else self._draw(i)

    def __getitem__(self, i: int):
        if not -self.size <= i < self.size:
            raise IndexError(f"index {i} out of range for {self.size} items")
        inputs, target = self._raw(i % self.size)
        if self.kind == "copy":
            return torch.nn.functional.one_hot(torch.from_numpy(inputs), 10).float(), (
                torch.from_numpy(target)
            )
        return torch.from_numpy(inputs), torch.from_numpy(target)


def seeded_permutation(length: int, seed: int) -> np.ndarray:
    """The fixed pixel permutation of permuted sequential MNIST, drawn from ``seed``."""
    return np.random.default_rng(seed).permutation(length)


class SequentialImages(Dataset):
    """Grey-value images read one pixel per step (sequential MNIST-format images).

    Parameters
    ----------
    images : array_like of uint8, shape (n, H, W)
        Images with grey values 0..255 (MNIST or Fashion-MNIST).
    labels : array_like of int, shape (n,)
        Class labels.
    permutation : array_like of int, shape (H * W,), optional
        A fixed pixel order (permuted sequential MNIST); None reads in raster order.

    Items are ``(x (H * W, 1) float32 in [0, 1], label int64)``.
    """

    def __init__(self, images, labels, permutation=None):
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.ndim != 3 or images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"images {images.shape} and labels {labels.shape} do not match; expected "
                "(n, H, W) and (n,)"
            )
        length = images.shape[1] * images.shape[2]
        if permutation is not None:
            permutation = np.asarray(permutation)
            if sorted(permutation.tolist()) != list(range(length)):
                raise ValueError(f"permutation is not a permutation of {length} pixels")
        self.images = images.reshape(len(images), length)
        self.labels = labels.astype(np.int64)
        self.permutation = permutation

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        pixels = self.images[i]
        if self.permutation is not None:
            pixels = pixels[self.permutation]
        x = torch.from_numpy(pixels.astype(np.float32) / 255.0).unsqueeze(-1)
        return x, torch.tensor(self.labels[i])


def cifar_noise(seed: int, steps: int = CIFAR_STEPS - CIFAR_ROWS, width: int = 96) -> np.ndarray:
    """The one fixed N(0, 1) noise tensor that follows every image in noisy sCIFAR-10."""
    return np.random.default_rng(seed).standard_normal((steps, width)).astype(np.float32)


class NoisyCIFARSequences(Dataset):
    """Noisy sequential CIFAR-10: 32 image rows, then 968 steps of one fixed noise tensor.

    Parameters
    ----------
    images : array_like of uint8, shape (n, 3, 32, 32)
        CIFAR images (channels first, as stored in the CIFAR-10 files).
    labels : array_like of int, shape (n,)
        Class labels.
    noise : array_like of float32, shape (968, 96)
        The fixed noise (see :func:`cifar_noise`), the same for every image and split.

    Items are ``(x (1000, 96) float32, label int64)``; step r < 32 holds the R, G and B values
    of image row r (each in [0, 1]) side by side.
    """

    def __init__(self, images, labels, noise):
        images = np.asarray(images)
        labels = np.asarray(labels)
        noise = np.asarray(noise, dtype=np.float32)
        if images.ndim != 4 or images.shape[1:] != (3, 32, 32):
            raise ValueError(f"images have shape {images.shape}; expected (n, 3, 32, 32)")
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
        if noise.shape != (CIFAR_STEPS - CIFAR_ROWS, 96):
            raise ValueError(f"noise has shape {noise.shape}; expected (968, 96)")
        self.images, self.labels = images, labels.astype(np.int64)
        self.noise = torch.from_numpy(noise)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        rows = self.images[i].transpose(1, 0, 2).reshape(CIFAR_ROWS, 96)  # (row, RGB * col)
        rows = torch.from_numpy(rows.astype(np.float32) / 255.0)
        return torch.cat([rows, self.noise]), torch.tensor(self.labels[i])
