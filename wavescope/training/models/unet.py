"""The U-Net baseline (non-local): the standard encoder-decoder with skip connections.

Widths c, 2c, 4c, 8c, 16c with four 2×2 max-pool downsamplings; DoubleConv = (3×3 conv
without bias, BatchNorm, ReLU) twice; upsampling by 2×2 transposed convolution,
concatenation with the skip, DoubleConv; a 1×1 output convolution. Images of any size
work: an upsampled map is zero-padded to its skip's size when the size was odd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UNet"]


class _DoubleConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int):
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class _Up(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_in // 2, 2, stride=2)
        self.conv = _DoubleConv(c_in, c_out)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        dy, dx = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
        if dy or dx:
            x = F.pad(x, (dx // 2, dx - dx // 2, dy // 2, dy - dy // 2))
        return self.conv(torch.cat([skip, x], dim=1))


class UNet(nn.Module):
    """U-Net segmentation baseline.

    Parameters
    ----------
    in_channels, n_classes : int
        Image channels and segmentation classes.
    width : int
        Base width c (the paper uses 2 to 5); the widths are c, 2c, 4c, 8c, 16c.

    Examples
    --------
    >>> import torch
    >>> from wavescope.training.models import UNet
    >>> model = UNet(in_channels=1, n_classes=11, width=4)
    >>> print(tuple(model(torch.zeros(2, 1, 32, 32)).shape))  # per-pixel class logits
    (2, 11, 32, 32)
    """

    dt = 1.0
    periodic = False

    def __init__(self, in_channels: int = 1, n_classes: int = 11, width: int = 4):
        super().__init__()
        self.in_channels, self.n_classes, self.width = in_channels, n_classes, int(width)
        c = self.width
        self.inc = _DoubleConv(in_channels, c)
        self.downs = nn.ModuleList(_DoubleConv(c * 2**i, c * 2 ** (i + 1)) for i in range(4))
        self.ups = nn.ModuleList(_Up(c * 2 ** (i + 1), c * 2**i) for i in reversed(range(4)))
        self.outc = nn.Conv2d(c, n_classes, 1)

    def forward(self, x: torch.Tensor, return_hidden: bool = False):
        """Logits (B, n_classes, H, W); with ``return_hidden`` also the last decoder map as
        a one-frame sequence (B, 1, c, H, W) (the U-Net has no time axis)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected images (B, {self.in_channels}, H, W), got shape "
                             f"{tuple(x.shape)}")
        if min(x.shape[-2:]) < 16:
            raise ValueError(f"images must be at least 16×16 for four poolings, got "
                             f"{tuple(x.shape[-2:])}")
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(F.max_pool2d(skips[-1], 2)))
        h = skips.pop()
        for up in self.ups:
            h = up(h, skips.pop())
        logits = self.outc(h)
        return (logits, h[:, None]) if return_hidden else logits
