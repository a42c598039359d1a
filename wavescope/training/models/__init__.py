"""Segmentation models: one architecture per file, hyperparameters as constructor arguments.

``forward(x, return_hidden=False)`` returns logits (B, n_classes, H, W), or
``(logits, hidden)`` with hidden (B, T, C, H, W) when asked.

Sequence models (WaveRNN, IRNN, GatedRNN) take (B, T, n_in) and return (B, n_out) or, per
step, (B, T, n_out); their hidden states are (B, T, C, n).
"""

from .cnn import LocalCNN
from .convlstm import ConvLSTM
from .gated import GatedRNN
from .irnn import IRNN
from .nwm import NeuralWaveMachine, wave_rollout
from .readouts import HEADS, READOUTS, make_head, make_readout, pixel_mlp, readout_head
from .unet import UNet
from .wavernn import WaveRNN

__all__ = [
    "NeuralWaveMachine",
    "ConvLSTM",
    "LocalCNN",
    "UNet",
    "WaveRNN",
    "IRNN",
    "GatedRNN",
    "wave_rollout",
    "make_readout",
    "make_head",
    "readout_head",
    "pixel_mlp",
    "READOUTS",
    "HEADS",
]
