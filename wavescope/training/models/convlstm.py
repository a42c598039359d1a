"""The ConvLSTM baseline of Jacobs et al. 2025.

Encoders read the image once and give the initial output y₀ (4 convolutions, Tanh), hidden
state h₀ and cell state c₀ (3 convolutions each, no final activation). At each of T steps a
3×3 convolution with circular padding maps [y; h] (2C channels) to the gates (4C, order
i, f, g, o)::

    c ← σ(f) ⊙ c + σ(i) ⊙ tanh(g),    h ← σ(o) ⊙ tanh(c),    y ← MLP(h)

with MLP = Linear(C → 2C), ReLU, Linear(2C → C) per pixel. The recorded sequence is y; it
goes through the same readouts and heads as the Neural Wave Machine.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._encoders import conv_encoder
from .readouts import make_head, make_readout, readout_head

__all__ = ["ConvLSTM"]


def _pixel_linear(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """``layer`` applied to the channel vector of every pixel of x (B, C, H, W)."""
    return F.conv2d(x, layer.weight[:, :, None, None], layer.bias)


class ConvLSTM(nn.Module):
    """ConvLSTM segmentation baseline.

    Parameters
    ----------
    in_channels, channels, n_classes : int
        Image channels, hidden channels C, segmentation classes.
    steps : int
        Recorded time steps T (20 in the paper).
    hidden : int
        Width c_mid of the encoders.
    readout, head : str
        As for :class:`~wavescope.training.models.NeuralWaveMachine`.

    Examples
    --------
    >>> import torch
    >>> from wavescope.training.models import ConvLSTM
    >>> model = ConvLSTM(in_channels=3, channels=2, n_classes=6, steps=5)
    >>> logits, hidden = model(torch.zeros(2, 3, 16, 16), return_hidden=True)
    >>> print(tuple(logits.shape), tuple(hidden.shape))
    (2, 6, 16, 16) (2, 5, 2, 16, 16)
    """

    periodic = True
    dt = 1.0

    def __init__(self, in_channels: int = 3, channels: int = 2, n_classes: int = 6,
                 steps: int = 20, hidden: int = 16, readout: str = "linear",
                 head: str = "mlp256"):
        super().__init__()
        self.in_channels, self.channels, self.n_classes = in_channels, channels, n_classes
        self.steps = int(steps)
        self.y0_encoder = conv_encoder(in_channels, hidden, channels, 4, nn.Tanh())
        self.h0_encoder = conv_encoder(in_channels, hidden, channels, 3, nn.Identity())
        self.c0_encoder = conv_encoder(in_channels, hidden, channels, 3, nn.Identity())
        self.cell = nn.Conv2d(2 * channels, 4 * channels, 3, padding=1, padding_mode="circular")
        self.out1 = nn.Linear(channels, 2 * channels)
        self.out2 = nn.Linear(2 * channels, channels)
        self.readout = make_readout(readout, self.steps, channels)
        self.head = make_head(head, self.readout.n_features, n_classes)

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """The recorded outputs y (B, T, C, H, W)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected images (B, {self.in_channels}, H, W), got shape "
                             f"{tuple(x.shape)}")
        y, h, c = self.y0_encoder(x), self.h0_encoder(x), self.c0_encoder(x)
        frames = []
        for _ in range(self.steps):
            i, f, g, o = self.cell(torch.cat([y, h], dim=1)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            y = _pixel_linear(torch.relu(_pixel_linear(h, self.out1)), self.out2)
            frames.append(y)
        return torch.stack(frames, dim=1)

    def forward(self, x: torch.Tensor, return_hidden: bool = False):
        """Logits (B, n_classes, H, W), and the outputs (B, T, C, H, W) if asked."""
        seq = self.hidden_states(x)
        logits = readout_head(seq, self.readout, self.head)
        return (logits, seq) if return_hidden else logits
