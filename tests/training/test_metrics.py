import numpy as np
import pytest
import torch

from wavescope.training.metrics import SegmentationMeter, confusion_matrix, segmentation_metrics


def test_metrics_on_hand_made_masks():
    truth = np.array([[0, 0, 1, 1],
                      [0, 0, 1, 1],
                      [2, 2, 0, 0]])
    pred = np.array([[0, 1, 1, 1],
                     [0, 0, 1, 0],
                     [2, 1, 0, 0]])
    cm = confusion_matrix(pred, truth, 3)
    np.testing.assert_array_equal(cm, [[5, 1, 0], [1, 3, 0], [0, 1, 1]])
    m = segmentation_metrics(cm)
    assert m["pixel_accuracy"] == pytest.approx(9 / 12)
    assert m["fg_accuracy"] == pytest.approx(4 / 6)
    # IoU: class 0: 5 / (6 + 6 - 5); class 1: 3 / (5 + 4 - 3); class 2: 1 / (1 + 2 - 1)
    iou = [5 / 7, 3 / 6, 1 / 2]
    assert [m[f"iou_{k}"] for k in range(3)] == pytest.approx(iou)
    assert m["miou"] == pytest.approx(np.mean(iou))
    assert m["miou_fg"] == pytest.approx(np.mean(iou[1:]))
    assert m["collapsed"] == 0.0


def _pooled_fg_iou(pred, truth, n_classes):
    """The papers' definition written out: one-hot maps restricted to true-foreground
    pixels, intersections and unions summed over classes."""
    fg = truth > 0
    p = np.eye(n_classes)[pred[fg]]
    t = np.eye(n_classes)[truth[fg]]
    return (p * t).sum() / np.maximum(p, t).sum()


def test_paper_fg_iou_is_a_over_two_minus_a():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 4, size=(20, 20))
    pred = np.where(rng.random((20, 20)) < 0.7, truth, rng.integers(0, 4, size=(20, 20)))
    m = segmentation_metrics(confusion_matrix(pred, truth, 4))
    a = m["fg_accuracy"]
    assert m["paper_fg_iou"] == pytest.approx(a / (2 - a))
    assert m["paper_fg_iou"] == pytest.approx(_pooled_fg_iou(pred, truth, 4))


def test_collapse_and_missing_classes():
    truth = np.array([[0, 1], [2, 0]])
    m = segmentation_metrics(confusion_matrix(np.zeros_like(truth), truth, 4))
    assert m["collapsed"] == 1.0 and m["fg_accuracy"] == 0.0 and m["paper_fg_iou"] == 0.0
    assert np.isnan(m["iou_3"])  # class 3 in neither truth nor prediction
    assert m["miou_fg"] == pytest.approx(0.0)


def test_meter_accumulates_batches_and_loss():
    meter = SegmentationMeter(3)
    truth = torch.tensor([[[0, 1], [2, 2]]])
    logits = torch.nn.functional.one_hot(torch.tensor([[[0, 1], [2, 1]]]), 3).permute(0, 3, 1, 2)
    meter.update(logits.float(), truth, loss=2.0)
    meter.update(logits.float(), truth, loss=1.0)
    out = meter.compute()
    assert out["loss"] == pytest.approx(1.5)
    assert out["pixel_accuracy"] == pytest.approx(0.75)
    assert out["fg_accuracy"] == pytest.approx(2 / 3)


def test_bad_labels_are_rejected():
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
