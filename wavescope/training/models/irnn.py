"""iRNN: a dense ReLU RNN whose recurrent matrix starts at the identity (Le et al. 2015).

The Wave-RNN paper's main baseline, and its ablations: the same dense network started from
a *dense shift* (a permutation that moves each unit one place around its ring, the wRNN's
shift initialisation written as an N x N matrix), with or without the wRNN's input
initialisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._sequence import check_positive, check_sequence_input, make_sequence_readout

__all__ = ["IRNN", "IRNN_INITS"]

IRNN_INITS = ("identity", "shift", "random")


class IRNN(nn.Module):
    """Dense ReLU RNN, h_{t+1} = ReLU(V x_t + b + U h_t), h_0 = 0.

    Parameters
    ----------
    n_in : int
        Input values per time step.
    n_out : int
        Outputs (classes, or 1 for regression).
    hidden : int
        Number of hidden units N (the paper: 100 adding and copy, 256 sMNIST, 529 sCIFAR).
    channels : int
        Split the N units into this many rings of N / channels units. Only the
        ``recurrent_init="shift"`` and ``input_init`` ablations and the layout of the
        returned hidden states use it; the network itself is dense.
    recurrent_init : {"identity", "shift", "random"}
        U starts at the identity (iRNN), at the ring shift by +1 unit per step (the dense
        shift ablation), or at torch's default.
    input_init : bool
        True: V starts at zero except weight 1 from every input into unit 0 of each ring.
        False: V ~ N(0, 0.001²) as in the original code.
    bias : bool
        Include the bias b (N values, initialised to zero).
    readout : {"linear", "mlp"}
        As in :class:`~wavescope.training.models.wavernn.WaveRNN`.
    mlp_hidden : int
        Width of the MLP readout.
    per_step : bool
        Read out every step (output (batch, time, n_out)) instead of the last state.

    Notes
    -----
    Parameter count: ``N * n_in + N * N`` + readout, plus N with ``bias``. The paper's
    published counts (adding 10.3k, copy 12k / 403k, sMNIST 68k, sCIFAR 336k) are those with
    ``bias=False``.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        hidden: int = 100,
        *,
        channels: int = 1,
        recurrent_init: str = "identity",
        input_init: bool = False,
        bias: bool = True,
        readout: str = "linear",
        mlp_hidden: int = 100,
        per_step: bool = False,
    ):
        super().__init__()
        check_positive(n_in=n_in, n_out=n_out, hidden=hidden, channels=channels)
        if hidden % channels:
            raise ValueError(f"hidden={hidden} units do not split into {channels} equal rings")
        if recurrent_init not in IRNN_INITS:
            raise ValueError(
                f"unknown recurrent_init {recurrent_init!r}; choose one of {IRNN_INITS}"
            )
        self.n_in, self.n_out, self.hidden, self.channels = n_in, n_out, hidden, channels
        self.per_step = bool(per_step)
        # Only the shift ablation puts its units on rings; otherwise they have no order.
        self.periodic = recurrent_init == "shift"
        self.input = nn.Linear(n_in, hidden, bias=bias)
        self.recurrent = nn.Linear(hidden, hidden, bias=False)
        self.readout = make_sequence_readout(hidden, n_out, readout, mlp_hidden)
        self._init(recurrent_init, input_init)

    @torch.no_grad()
    def _init(self, recurrent_init: str, input_init: bool) -> None:
        n = self.hidden // self.channels
        if input_init:
            self.input.weight.zero_()
            self.input.weight.view(self.channels, n, self.n_in)[:, 0] = 1.0
        else:
            nn.init.normal_(self.input.weight, mean=0.0, std=1e-3)
        if self.input.bias is not None:
            self.input.bias.zero_()
        u = self.recurrent.weight
        if recurrent_init == "identity":
            nn.init.eye_(u)
        elif recurrent_init == "shift":
            u.zero_()
            unit = torch.arange(self.hidden)
            ring, pos = unit // n, unit % n
            u[ring * n + (pos + 1) % n, unit] = 1.0  # unit i of each ring feeds unit i + 1

    def forward(self, x: torch.Tensor, return_hidden: bool = False):
        """Run the network over a batch of sequences.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, time, n_in)
            Input sequences.
        return_hidden : bool
            Also return the hidden states.

        Returns
        -------
        output : torch.Tensor
            (batch, n_out), or (batch, time, n_out) with ``per_step``.
        hidden : torch.Tensor, shape (batch, time, channels, hidden // channels)
            Only with ``return_hidden``: the state after each step.
        """
        check_sequence_input(x, self.n_in)
        drive = self.input(x)  # V x_t + b for all steps at once
        u = self.recurrent.weight
        h = F.relu(drive[:, 0])
        states = [h]
        for t in range(1, x.shape[1]):
            h = F.relu(torch.addmm(drive[:, t], h, u.T))
            states.append(h)
        if self.per_step:
            output = self.readout(torch.stack(states, 1))
        else:
            output = self.readout(h)
        if not return_hidden:
            return output
        hidden = torch.stack(states, 1)
        return output, hidden.view(*hidden.shape[:2], self.channels, -1)
