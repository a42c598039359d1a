"""Segmentation models: one architecture per file, hyperparameters as constructor arguments.

``forward(x, return_hidden=False)`` returns logits (B, n_classes, H, W), or
``(logits, hidden)`` with hidden (B, T, C, H, W) when asked.
"""

from .cnn import LocalCNN
from .convlstm import ConvLSTM
from .nwm import NeuralWaveMachine, wave_rollout
from .readouts import HEADS, READOUTS, make_head, make_readout, pixel_mlp, readout_head
from .unet import UNet

__all__ = [
    "NeuralWaveMachine",
    "ConvLSTM",
    "LocalCNN",
    "UNet",
    "wave_rollout",
    "make_readout",
    "make_head",
    "readout_head",
    "pixel_mlp",
    "READOUTS",
    "HEADS",
]
