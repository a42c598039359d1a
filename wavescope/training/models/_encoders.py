"""The image encoders the Neural Wave Machine and the ConvLSTM share (MODELS.md).

A stack of 3×3 convolutions with zero padding and ReLU between them, applied once to the
image to give a per-pixel initial state or parameter.
"""

from __future__ import annotations

from torch import nn


def conv_encoder(c_in: int, c_mid: int, c_out: int, n_conv: int,
                 final: nn.Module) -> nn.Sequential:
    """``n_conv`` 3×3 convolutions c_in → c_mid → … → c_out, ReLU between, ``final`` last."""
    layers: list[nn.Module] = []
    widths = [c_in] + [c_mid] * (n_conv - 1) + [c_out]
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Conv2d(a, b, 3, padding=1))
        layers.append(final if i == n_conv - 1 else nn.ReLU())
    return nn.Sequential(*layers)
