"""Polygons: a seeded generator of small images of filled regular polygons.

Images are 32×32 single-channel by default, holding ``min_shapes`` to ``max_shapes``
filled regular polygons with 3 to 8 sides, each of random circumradius, rotation and
position, never overlapping. Masks hold 7 classes: 0 background and ``sides − 2``
(1 triangle … 6 octagon). ``labels`` gives the shape class of each image's first polygon:
with one polygon per image (the default) it is the whole-image label for "hearing the shape
of the drum" from hidden-state spectra.

A pixel belongs to a polygon when its centre lies inside. Every image has its own random
generator seeded by (seed, split, index), as for :mod:`.tetrominoes`.
"""

from __future__ import annotations

import numpy as np

from .tetrominoes import generate_splits, image_hash

__all__ = ["SIDES", "polygon_mask", "make_polygons", "polygons"]

SIDES = (3, 4, 5, 6, 7, 8)
_SPLIT_ID = {"train": 0, "val": 1, "test": 2}


def polygon_mask(height: int, width: int, sides: int, centre, radius: float,
                 angle: float) -> np.ndarray:
    """Boolean mask of a filled regular polygon (pixel centres inside it).

    Parameters
    ----------
    height, width : int
        Image size in pixels.
    sides : int
        Number of sides (>= 3).
    centre : (float, float)
        (y, x) of the centre, in pixels.
    radius : float
        Circumradius in pixels.
    angle : float
        Rotation of the first vertex, in radians.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope.training.data import polygon_mask
    >>> square = polygon_mask(7, 7, 4, centre=(3, 3), radius=3.4, angle=np.pi / 4)
    >>> print(square.astype(int))
    [[0 0 0 0 0 0 0]
     [0 1 1 1 1 1 0]
     [0 1 1 1 1 1 0]
     [0 1 1 1 1 1 0]
     [0 1 1 1 1 1 0]
     [0 1 1 1 1 1 0]
     [0 0 0 0 0 0 0]]
    """
    if sides < 3:
        raise ValueError(f"a polygon needs at least 3 sides, got {sides}")
    yy, xx = np.mgrid[0:height, 0:width].astype(float)
    theta = angle + 2 * np.pi * np.arange(sides) / sides
    vy = centre[0] + radius * np.sin(theta)
    vx = centre[1] + radius * np.cos(theta)
    inside = np.ones((height, width), dtype=bool)
    for i in range(sides):  # convex: inside = on the inner side of every edge
        j = (i + 1) % sides
        cross = (vx[j] - vx[i]) * (yy - vy[i]) - (vy[j] - vy[i]) * (xx - vx[i])
        inside &= cross >= 0
    return inside


def _draw(rng, height, width, min_shapes, max_shapes, min_radius, max_radius, attempts,
          max_redraws):
    for redraw in range(max_redraws + 1):
        image = np.zeros((height, width), dtype=np.uint8)
        mask = np.zeros((height, width), dtype=np.uint8)
        n = int(rng.integers(min_shapes, max_shapes + 1))
        first = -1
        placed = 0
        for _ in range(n):
            sides = int(rng.choice(SIDES))
            radius = rng.uniform(min_radius, max_radius)
            angle = rng.uniform(0, 2 * np.pi)
            for _ in range(attempts):
                centre = (rng.uniform(radius, height - radius), rng.uniform(radius, width - radius))
                shape = polygon_mask(height, width, sides, centre, radius, angle)
                if shape.any() and not (mask[shape] > 0).any():
                    mask[shape] = sides - 2
                    image[shape] = int(rng.integers(128, 256))
                    first = sides - 2 if first < 0 else first
                    placed += 1
                    break
            else:
                break
        if placed == n:
            return image, mask, first, redraw
    raise RuntimeError(f"could not place {min_shapes}-{max_shapes} polygons in "
                       f"{height}×{width} after {max_redraws} redraws; use smaller radii")


def make_polygons(n: int, split: str = "train", seed: int = 0, height: int = 32,
                  width: int = 32, min_shapes: int = 1, max_shapes: int = 1,
                  min_radius: float = 5.0, max_radius: float = 12.0, attempts: int = 50,
                  max_redraws: int = 100, exclude=frozenset()) -> dict[str, np.ndarray]:
    """Generate ``n`` images of one split (no caching); images whose hash is in ``exclude``
    are drawn again.

    Returns
    -------
    dict
        ``images`` (n, 1, height, width) uint8 (grey level 128–255 inside a polygon),
        ``masks`` (n, height, width) uint8, ``labels`` (n,) the first polygon's class,
        ``redraws`` (n,).

    Examples
    --------
    >>> from wavescope.training.data import make_polygons
    >>> data = make_polygons(4, height=32, width=32)
    >>> print(data["images"].shape, data["labels"].shape)
    (4, 1, 32, 32) (4,)
    """
    if split not in _SPLIT_ID:
        raise ValueError(f"split must be one of {sorted(_SPLIT_ID)}, got {split!r}")
    if not 0 < min_radius <= max_radius or 2 * max_radius > min(height, width):
        raise ValueError(f"radii {min_radius}-{max_radius} do not fit a {height}×{width} image")
    images = np.empty((n, 1, height, width), dtype=np.uint8)
    masks = np.empty((n, height, width), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    redraws = np.empty(n, dtype=np.int32)
    for i in range(n):
        for retry in range(100):
            rng = np.random.default_rng([int(seed), _SPLIT_ID[split], i, retry, 7])
            images[i, 0], masks[i], labels[i], redraws[i] = _draw(
                rng, height, width, min_shapes, max_shapes, min_radius, max_radius, attempts,
                max_redraws)
            if image_hash(images[i]) not in exclude:
                break
    return {"images": images, "masks": masks, "labels": labels, "redraws": redraws}


def polygons(root=None, sizes=None, seed: int = 0, **params) -> dict[str, dict]:
    """The three splits, cached under ``root``; asserts that no image occurs in two splits.

    ``sizes`` defaults to ``{"train": 10000, "val": 1000, "test": 1000}``; ``params`` are
    those of :func:`make_polygons`.

    Examples
    --------
    >>> from wavescope.training.data import polygons
    >>> splits = polygons(sizes={"train": 4, "val": 2, "test": 2})
    >>> print({name: split["masks"].shape for name, split in splits.items()})
    {'train': (4, 32, 32), 'val': (2, 32, 32), 'test': (2, 32, 32)}
    """
    return generate_splits(root, "polygons", make_polygons, sizes, seed, params)
