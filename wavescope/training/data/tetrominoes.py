"""Tetrominoes: a seeded generator of RGB images of coloured tetromino pieces and their masks.

Images are 64×64 RGB on black by default; masks hold 6 classes: 0 background, 1 I, 2 O,
3 T, 4 S/Z, 5 J/L. Each piece is drawn on a grid of ``cell``×``cell`` pixel cells (I is
7×28, O 14×14, the others 14×21 at ``cell`` = 7), rotated by a random multiple of 90°,
mirrored with probability 1/2 (S/Z and J/L), painted one random RGB colour with a one-pixel
lighter border on every cell. 1–5 pieces per image, never overlapping; a piece gets a bounded
number of placement attempts, and an image that cannot be filled is redrawn — the count of
redrawn images is returned, not hidden.

Every image has its own random generator, seeded by (seed, split, index): any prefix of a
split is the same whatever its length, and the splits are drawn from different streams.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .cache import cached

__all__ = [
    "CLASSES",
    "SHAPES",
    "draw_tetrominoes_image",
    "make_tetrominoes",
    "tetrominoes",
    "assert_disjoint",
    "image_hash",
]

CLASSES = ("background", "I", "O", "T", "S/Z", "J/L")

# Cell patterns (rows of cells) and their class; S and J are mirrored at random into Z and L.
SHAPES = {
    "I": (np.array([[1, 1, 1, 1]]), 1),
    "O": (np.array([[1, 1], [1, 1]]), 2),
    "T": (np.array([[1, 1, 1], [0, 1, 0]]), 3),
    "S": (np.array([[0, 1, 1], [1, 1, 0]]), 4),
    "J": (np.array([[1, 0, 0], [1, 1, 1]]), 5),
}
_SPLIT_ID = {"train": 0, "val": 1, "test": 2}
_BORDER_GAIN = 0.25


def _piece(rng: np.random.Generator, cell: int):
    """One random piece: (pixel mask (h, w) bool, border mask, class, colour (3,))."""
    name = list(SHAPES)[rng.integers(len(SHAPES))]
    cells, label = SHAPES[name]
    if name in ("S", "J") and rng.random() < 0.5:
        cells = cells[:, ::-1]
    cells = np.rot90(cells, k=int(rng.integers(4)))
    mask = np.kron(cells, np.ones((cell, cell), dtype=int)).astype(bool)
    one = np.zeros((cell, cell), dtype=bool)
    one[0, :] = one[-1, :] = one[:, 0] = one[:, -1] = True
    border = np.kron(cells, one).astype(bool)
    colour = rng.uniform(0.15, 0.75, size=3)
    return mask, border, label, colour


def draw_tetrominoes_image(rng: np.random.Generator, height: int = 64, width: int = 64,
                           cell: int = 7, min_pieces: int = 1, max_pieces: int = 5,
                           attempts: int = 50, max_redraws: int = 100):
    """Draw one image.

    Returns
    -------
    image : numpy.ndarray, (3, height, width), uint8
    mask : numpy.ndarray, (height, width), uint8
    redraws : int
        How many times the image was started again because a piece found no place.
    """
    for redraw in range(max_redraws + 1):
        image = np.zeros((3, height, width))
        mask = np.zeros((height, width), dtype=np.uint8)
        n = int(rng.integers(min_pieces, max_pieces + 1))
        placed = 0
        for _ in range(n):
            piece, border, label, colour = _piece(rng, cell)
            ph, pw = piece.shape
            if ph > height or pw > width:
                break
            for _ in range(attempts):
                y0 = int(rng.integers(height - ph + 1))
                x0 = int(rng.integers(width - pw + 1))
                region = mask[y0:y0 + ph, x0:x0 + pw]
                if not (region[piece] > 0).any():
                    region[piece] = label
                    window = image[:, y0:y0 + ph, x0:x0 + pw]
                    window[:, piece] = colour[:, None]
                    window[:, border] = np.minimum(colour + _BORDER_GAIN, 1.0)[:, None]
                    placed += 1
                    break
            else:
                break
        if placed == n:
            return (np.round(image * 255).astype(np.uint8), mask, redraw)
    raise RuntimeError(
        f"could not place {min_pieces}-{max_pieces} pieces of cell {cell} in a {height}×{width} "
        f"image after {max_redraws} redraws; use a bigger image or fewer pieces")


def make_tetrominoes(n: int, split: str = "train", seed: int = 0, height: int = 64,
                     width: int = 64, cell: int = 7, min_pieces: int = 1,
                     max_pieces: int = 5, exclude=frozenset()) -> dict[str, np.ndarray]:
    """Generate ``n`` images of one split (no caching).

    An image whose hash (:func:`image_hash`) is in ``exclude`` (images of other splits) is
    drawn again from a new stream, so the splits never share an instance.

    Returns
    -------
    dict
        ``images`` (n, 3, height, width) uint8, ``masks`` (n, height, width) uint8,
        ``redraws`` (n,) int32.

    Examples
    --------
    >>> from wavescope.training.data import make_tetrominoes
    >>> data = make_tetrominoes(3, height=32, width=32, max_pieces=2)
    >>> print(data["images"].shape, data["masks"].shape, data["images"].dtype)
    (3, 3, 32, 32) (3, 32, 32) uint8
    """
    if split not in _SPLIT_ID:
        raise ValueError(f"split must be one of {sorted(_SPLIT_ID)}, got {split!r}")
    if not 1 <= min_pieces <= max_pieces:
        raise ValueError(f"need 1 <= min_pieces <= max_pieces, got {min_pieces}, {max_pieces}")
    images = np.empty((n, 3, height, width), dtype=np.uint8)
    masks = np.empty((n, height, width), dtype=np.uint8)
    redraws = np.empty(n, dtype=np.int32)
    for i in range(n):
        for retry in range(100):
            rng = np.random.default_rng([int(seed), _SPLIT_ID[split], i, retry])
            images[i], masks[i], redraws[i] = draw_tetrominoes_image(
                rng, height, width, cell, min_pieces, max_pieces)
            if image_hash(images[i]) not in exclude:
                break
    return {"images": images, "masks": masks, "redraws": redraws}


def tetrominoes(root=None, sizes=None, seed: int = 0, **params) -> dict[str, dict]:
    """The three splits, cached under ``root``; asserts that no image occurs in two splits.

    Parameters
    ----------
    root : path or None
        Cache folder (None: generate in memory).
    sizes : dict, optional
        Images per split; default ``{"train": 10000, "val": 1000, "test": 1000}``.
    seed : int
        Data seed (the same for every training seed, so runs share their data).
    **params
        ``height``, ``width``, ``cell``, ``min_pieces``, ``max_pieces`` of
        :func:`make_tetrominoes`.

    Examples
    --------
    >>> from wavescope.training.data import tetrominoes
    >>> splits = tetrominoes(sizes={"train": 4, "val": 2, "test": 2}, height=32, width=32,
    ...                      max_pieces=2)
    >>> print({name: len(split["images"]) for name, split in splits.items()})
    {'train': 4, 'val': 2, 'test': 2}
    """
    return generate_splits(root, "tetrominoes", make_tetrominoes, sizes, seed, params)


def image_hash(image: np.ndarray) -> bytes:
    """A 128-bit hash of an image's bytes (for split disjointness)."""
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


def generate_splits(root, name: str, make, sizes, seed: int, params: dict) -> dict[str, dict]:
    """Generate (or load) train, val and test in that order, each excluding the images of
    the splits before it, and assert that they are disjoint."""
    sizes = {"train": 10000, "val": 1000, "test": 1000, **(sizes or {})}
    out: dict[str, dict] = {}
    seen: set[bytes] = set()
    for split in ("train", "val", "test"):
        n = int(sizes[split])
        # The earlier splits' sizes are part of the key: they decide what is excluded.
        before = {s: int(sizes[s]) for s in out}
        key = {"generator": f"{name}-v1", "split": split, "n": n, "seed": int(seed),
               "after": before, **params}
        exclude = frozenset(seen)
        out[split] = cached(root, f"{name}-{split}", key,
                            lambda split=split, n=n, exclude=exclude: make(
                                n, split, seed, exclude=exclude, **params))
        seen.update(image_hash(img) for img in out[split]["images"])
    assert_disjoint({s: d["images"] for s, d in out.items()})
    return out


def assert_disjoint(images_by_split: dict[str, np.ndarray]) -> None:
    """Raise ``AssertionError`` if an identical image occurs in two splits.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope.training.data import assert_disjoint
    >>> a, b = np.zeros((1, 4, 4), np.uint8), np.ones((1, 4, 4), np.uint8)
    >>> assert_disjoint({"train": a, "test": b})  # nothing shared: no error
    >>> try:
    ...     assert_disjoint({"train": a, "test": a})
    ... except AssertionError as err:
    ...     print(err)
    ...
    an image occurs in both the train and test splits
    """
    seen: dict[bytes, str] = {}
    for split, images in images_by_split.items():
        for img in images:
            other = seen.setdefault(image_hash(img), split)
            if other != split:
                raise AssertionError(f"an image occurs in both the {other} and {split} splits")
