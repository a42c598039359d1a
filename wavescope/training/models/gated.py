"""LSTM and GRU baselines (torch's own cells) with the sequence models' readouts."""

from __future__ import annotations

import torch
from torch import nn

from ._sequence import check_positive, check_sequence_input, make_sequence_readout

__all__ = ["GatedRNN", "CELLS"]

CELLS = ("lstm", "gru")


class GatedRNN(nn.Module):
    """One-layer LSTM or GRU with a linear (or MLP) readout.

    Parameters
    ----------
    n_in : int
        Input values per time step.
    n_out : int
        Outputs (classes, or 1 for regression).
    hidden : int
        Hidden units.
    cell : {"lstm", "gru"}
        Which torch recurrent layer.
    readout : {"linear", "mlp"}
        As in :class:`~wavescope.training.models.wavernn.WaveRNN`.
    mlp_hidden : int
        Width of the MLP readout.
    per_step : bool
        Read out every step (output (batch, time, n_out)) instead of the last state.

    Examples
    --------
    >>> import torch
    >>> from wavescope.training.models import GatedRNN
    >>> model = GatedRNN(n_in=2, n_out=1, hidden=16, cell="gru")
    >>> out, hidden = model(torch.zeros(3, 20, 2), return_hidden=True)  # (batch, time, n_in)
    >>> print(tuple(out.shape), tuple(hidden.shape))
    (3, 1) (3, 20, 1, 16)
    """

    periodic = False  # the hidden units have no spatial order (read by the export)

    def __init__(
        self,
        n_in: int,
        n_out: int,
        hidden: int = 128,
        *,
        cell: str = "lstm",
        readout: str = "linear",
        mlp_hidden: int = 100,
        per_step: bool = False,
    ):
        super().__init__()
        check_positive(n_in=n_in, n_out=n_out, hidden=hidden)
        layers = {"lstm": nn.LSTM, "gru": nn.GRU}
        if cell not in layers:
            raise ValueError(f"unknown cell {cell!r}; choose one of {CELLS}")
        self.n_in, self.n_out, self.hidden, self.cell = n_in, n_out, hidden, cell
        self.per_step = bool(per_step)
        # Time first: with batch_first torch copies the (time, batch, hidden) outputs into
        # batch-first order (100 MB at batch 128 x 784 steps); here they are only viewed so.
        self.rnn = layers[cell](n_in, hidden)
        self.readout = make_sequence_readout(hidden, n_out, readout, mlp_hidden)

    def forward(self, x: torch.Tensor, return_hidden: bool = False):
        """Run the network over a batch of sequences.

        Returns
        -------
        output : torch.Tensor
            (batch, n_out), or (batch, time, n_out) with ``per_step``.
        hidden : torch.Tensor, shape (batch, time, 1, hidden)
            Only with ``return_hidden``: the output state h_t after each step (for the
            LSTM, not the cell state), as one feature row without spatial order.
        """
        check_sequence_input(x, self.n_in)
        states, _ = self.rnn(x.transpose(0, 1))
        states = states.transpose(0, 1)  # (batch, time, hidden), a view
        output = self.readout(states if self.per_step else states[:, -1])
        if return_hidden:
            return output, states.unsqueeze(2)
        return output
