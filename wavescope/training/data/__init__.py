"""Data for the image tasks: seeded generators (Tetrominoes, polygons), MNIST-format
loaders (MNIST, Fashion-MNIST) and the segmentation data sets built on them.

Every generator is seeded and deterministic, writes only inside the cache folder it is
given, records its parameters and a SHA-256 with the data, and never lets two splits share
an instance.
"""

from __future__ import annotations

import numpy as np
import torch

from .cache import cached, sha256_file
from .mnist import (
    FASHION_MNIST_DIR,
    find_mnist,
    load_mnist,
    make_multi_mnist,
    mnist_segmentation_splits,
    multi_mnist,
    read_idx,
    segmentation_sample,
    write_idx,
)
from .polygons import make_polygons, polygon_mask, polygons
from .tetrominoes import assert_disjoint, make_tetrominoes, tetrominoes

__all__ = [
    "ImageMaskDataset",
    "cached",
    "sha256_file",
    "tetrominoes",
    "make_tetrominoes",
    "polygons",
    "make_polygons",
    "polygon_mask",
    "assert_disjoint",
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


class ImageMaskDataset(torch.utils.data.Dataset):
    """(image, mask) pairs from uint8 arrays.

    Parameters
    ----------
    images : numpy.ndarray, (n, c, H, W) uint8, or None
        Images, scaled to [0, 1] floats on access. None: the input is the binary mask
        ``masks > 0`` as one channel (Multi-MNIST).
    masks : numpy.ndarray, (n, H, W)
        Integer class masks.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope.training.data import ImageMaskDataset
    >>> images = np.full((2, 3, 4, 4), 255, np.uint8)
    >>> masks = np.ones((2, 4, 4), np.uint8)
    >>> x, y = ImageMaskDataset(images, masks)[0]
    >>> print(x.dtype, float(x.max()), tuple(y.shape))
    torch.float32 1.0 (4, 4)
    """

    def __init__(self, images: np.ndarray | None, masks: np.ndarray):
        if images is not None and (images.ndim != 4 or len(images) != len(masks)
                                   or images.shape[-2:] != masks.shape[-2:]):
            raise ValueError(f"images {images.shape} and masks {masks.shape} do not match")
        self.images, self.masks = images, masks

    def __len__(self) -> int:
        return len(self.masks)

    def __getitem__(self, i):
        mask = torch.from_numpy(np.asarray(self.masks[i], dtype=np.int64))
        if self.images is None:
            return (mask > 0).float()[None], mask
        return torch.from_numpy(self.images[i].astype(np.float32) / 255.0), mask
