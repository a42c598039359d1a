"""The local, feed-forward CNN baseline of Jacobs et al. 2025.

L 3×3 convolutions with zero padding and ReLU (c_in → 16, 16 → 16, ..., 16 → C), a 1×1
convolution C → 49·C, and a per-pixel MLP head. Its receptive field is 2L + 1 pixels, so
it sees only local structure: the baseline that shows what the waves add.
"""

from __future__ import annotations

import torch
from torch import nn

from .readouts import make_head

__all__ = ["LocalCNN"]


class LocalCNN(nn.Module):
    """Local CNN segmentation baseline.

    Parameters
    ----------
    in_channels, n_classes : int
        Image channels and segmentation classes.
    layers : int
        Number L of 3×3 convolutions (>= 2): receptive field 2L + 1.
    channels : int
        Channels C of the last convolution.
    hidden : int
        Width of the other convolutions.
    expand : int
        The 1×1 convolution maps C to ``expand``·C features (49 in the paper).
    head : str
        Per-pixel head, "mlp256" or "mlp32x5".

    Examples
    --------
    >>> import torch
    >>> from wavescope.training.models import LocalCNN
    >>> model = LocalCNN(in_channels=3, n_classes=6, layers=4)
    >>> print(tuple(model(torch.zeros(2, 3, 16, 16)).shape))  # per-pixel class logits
    (2, 6, 16, 16)
    """

    dt = 1.0
    periodic = False

    def __init__(self, in_channels: int = 3, n_classes: int = 6, layers: int = 8,
                 channels: int = 2, hidden: int = 16, expand: int = 49, head: str = "mlp256"):
        super().__init__()
        if layers < 2:
            raise ValueError(f"layers must be >= 2 (first and last convolution), got {layers}")
        self.in_channels, self.n_classes, self.layers = in_channels, n_classes, int(layers)
        widths = [in_channels] + [hidden] * (layers - 1) + [channels]
        convs: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            convs += [nn.Conv2d(a, b, 3, padding=1), nn.ReLU()]
        self.features = nn.Sequential(*convs)
        self.expand = nn.Conv2d(channels, expand * channels, 1)
        self.head = make_head(head, expand * channels, n_classes)

    def forward(self, x: torch.Tensor, return_hidden: bool = False):
        """Logits (B, n_classes, H, W); with ``return_hidden`` also the last convolution's
        output as a one-frame sequence (B, 1, C, H, W) (the CNN has no time axis)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected images (B, {self.in_channels}, H, W), got shape "
                             f"{tuple(x.shape)}")
        hidden = self.features(x)
        logits = self.head(self.expand(hidden))
        return (logits, hidden[:, None]) if return_hidden else logits
