"""Segmentation metrics from an accumulated confusion matrix.

Every metric is computed from one confusion matrix pooled over all pixels of all images
seen (rows: true class, columns: predicted class; class 0 is background):

``pixel_accuracy``
    correct pixels / all pixels.
``fg_accuracy``
    correct pixels / pixels whose true class is not background.
``iou_<k>``
    intersection over union of class k: TP / (TP + FP + FN); NaN when class k occurs in
    neither truth nor prediction.
``miou``, ``miou_fg``
    the mean of the per-class IoUs (over classes that occur), with and without background —
    the standard segmentation measure.
``paper_fg_iou``
    the "foreground IoU" of Jacobs et al. 2025: one-hot prediction and truth restricted to
    true-foreground pixels, intersections and unions pooled over classes. On n foreground
    pixels of which a·n are right, the pooled intersection is a·n and the pooled union
    n + n − a·n, so the score is a / (2 − a). Kept only to compare with the papers' tables.
``collapsed``
    1.0 when every prediction is background (the model has collapsed), else 0.0; its mean
    over seeds is the collapse rate.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .tasks import Meter

__all__ = ["confusion_matrix", "segmentation_metrics", "SegmentationMeter"]


def confusion_matrix(pred, target, n_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) pairs.

    Parameters
    ----------
    pred, target : array_like of int
        Predicted and true labels of the same shape, values in [0, n_classes).
    n_classes : int
        Number of classes, background included.

    Returns
    -------
    numpy.ndarray, shape (n_classes, n_classes), int64

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope.training.metrics import confusion_matrix
    >>> truth = np.array([0, 0, 1, 1, 2])
    >>> pred = np.array([0, 1, 1, 1, 0])
    >>> print(confusion_matrix(pred, truth, n_classes=3))  # rows: true class
    [[1 1 0]
     [0 2 0]
     [1 0 0]]
    """
    pred = torch.as_tensor(pred).reshape(-1).long()
    target = torch.as_tensor(target).reshape(-1).long()
    if pred.shape != target.shape:
        raise ValueError(f"pred has {pred.numel()} labels and target {target.numel()}")
    for name, t in (("pred", pred), ("target", target)):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= n_classes):
            raise ValueError(f"{name} holds labels outside [0, {n_classes}); check n_classes")
    counts = torch.bincount(target * n_classes + pred, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes).cpu().numpy().astype(np.int64)


def segmentation_metrics(confusion) -> dict[str, float]:
    """All segmentation metrics of a confusion matrix (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope.training.metrics import confusion_matrix, segmentation_metrics
    >>> truth = np.array([0, 0, 1, 1, 2])
    >>> pred = np.array([0, 1, 1, 1, 0])
    >>> m = segmentation_metrics(confusion_matrix(pred, truth, n_classes=3))
    >>> print(m["pixel_accuracy"], round(m["fg_accuracy"], 3), round(m["iou_1"], 3), m["collapsed"])
    0.6 0.667 0.667 0.0
    """
    cm = np.asarray(confusion, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] < 2:
        raise ValueError(f"confusion must be a square matrix of >= 2 classes, got {cm.shape}")
    tp = np.diag(cm)
    total = cm.sum()
    fg_total = cm[1:].sum()
    union = cm.sum(axis=0) + cm.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
    out = {
        "pixel_accuracy": tp.sum() / total if total else math.nan,
        "fg_accuracy": tp[1:].sum() / fg_total if fg_total else math.nan,
    }
    a = out["fg_accuracy"]
    out["paper_fg_iou"] = a / (2.0 - a) if not math.isnan(a) else math.nan
    out["miou"] = float(np.nanmean(iou)) if np.isfinite(iou).any() else math.nan
    out["miou_fg"] = float(np.nanmean(iou[1:])) if np.isfinite(iou[1:]).any() else math.nan
    out["collapsed"] = float(total > 0 and cm[:, 1:].sum() == 0)
    out.update({f"iou_{k}": float(v) for k, v in enumerate(iou)})
    return {k: float(v) for k, v in out.items()}


class SegmentationMeter(Meter):
    """Accumulates a confusion matrix over batches of logits (B, n_classes, H, W) and
    integer masks (B, H, W); ``compute`` adds the mean ``loss`` (weighted by pixels).

    Examples
    --------
    >>> import torch
    >>> from wavescope.training.metrics import SegmentationMeter
    >>> meter = SegmentationMeter(n_classes=2)
    >>> logits = torch.zeros(1, 2, 2, 2)
    >>> logits[0, 1, 0] = 1.0  # predicts class 1 on the top row
    >>> meter.update(logits, torch.tensor([[[1, 1], [0, 1]]]), loss=0.5)
    >>> m = meter.compute()
    >>> print(m["loss"], m["pixel_accuracy"])
    0.5 0.75
    """

    def __init__(self, n_classes: int):
        self.n_classes = int(n_classes)
        self.confusion = np.zeros((self.n_classes, self.n_classes), dtype=np.int64)
        self.loss_sum = 0.0
        self.count = 0

    def update(self, output: torch.Tensor, target: torch.Tensor, loss: float) -> None:
        if output.shape[1] != self.n_classes:
            raise ValueError(f"output has {output.shape[1]} classes, meter {self.n_classes}")
        pred = output.detach().argmax(dim=1)
        self.confusion += confusion_matrix(pred, target, self.n_classes)
        n = target.numel()
        self.loss_sum += float(loss) * n
        self.count += n

    def compute(self) -> dict[str, float]:
        out = {"loss": self.loss_sum / self.count if self.count else math.nan}
        out.update(segmentation_metrics(self.confusion))
        return out
