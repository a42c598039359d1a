"""Pieces shared by the sequence models (Wave-RNN, iRNN, LSTM/GRU): readouts and checks.

Every sequence model takes inputs of shape (batch, time, n_in) and returns either one output
per sequence, read from the last hidden state (classification, adding), or one output per step
(copy task), through the same readout.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SEQUENCE_READOUTS", "make_sequence_readout", "check_sequence_input", "check_positive"]

SEQUENCE_READOUTS = ("linear", "mlp")


def make_sequence_readout(n_features: int, n_out: int, kind: str = "linear", mlp_hidden: int = 100):
    """The readout from a flattened hidden state to the outputs.

    Parameters
    ----------
    n_features : int
        Size of the flattened hidden state (all units of all channels).
    n_out : int
        Number of outputs (classes, or 1 for regression).
    kind : {"linear", "mlp"}
        "linear": one Linear layer. "mlp": Linear(n_features, mlp_hidden), ReLU,
        Linear(mlp_hidden, n_out), the paper's "wRNN + MLP".
    mlp_hidden : int
        Width of the MLP's hidden layer (the paper: 100).
    """
    if kind == "linear":
        return nn.Linear(n_features, n_out)
    if kind == "mlp":
        if mlp_hidden < 1:
            raise ValueError(f"mlp_hidden must be a positive integer, got {mlp_hidden}")
        return nn.Sequential(
            nn.Linear(n_features, mlp_hidden), nn.ReLU(), nn.Linear(mlp_hidden, n_out)
        )
    raise ValueError(f"unknown readout {kind!r}; choose one of {SEQUENCE_READOUTS}")


def check_sequence_input(x: torch.Tensor, n_in: int) -> None:
    """Raise a clear error unless ``x`` is a float tensor of shape (batch, time, n_in)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor of shape (batch, time, {n_in}), got {type(x)}")
    if x.ndim != 3 or x.shape[-1] != n_in:
        raise ValueError(
            f"input has shape {tuple(x.shape)}; expected (batch, time, {n_in}) "
            "(batch first, one row of n_in values per time step)"
        )
    if x.shape[1] < 1:
        raise ValueError("input has no time steps")
    if not torch.is_floating_point(x):
        raise TypeError(f"input must be a floating-point tensor, got {x.dtype}; use x.float()")


def check_positive(**values: int) -> None:
    """Raise ValueError for any argument that is not a positive integer."""
    for name, value in values.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
