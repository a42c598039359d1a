"""iRNN: a dense ReLU RNN whose recurrent matrix starts at the identity (Le et al. 2015).

The Wave-RNN paper's main baseline, and its ablations: the same dense network started from
a *dense shift* (a permutation that moves each unit one place around its ring, the wRNN's
shift initialisation written as an N x N matrix), with or without the wRNN's input
initialisation.

The recurrence runs in a custom autograd function: the states live in one (T, B, N) buffer
(the projection ``V x_t + b`` of all steps is computed into it, then each step is one
in-place ``addmm`` and ReLU), and the backward pass through time is written by hand, with
the gradients of U, V and b taken as a few large matrix products over blocks of steps. A
plain loop under autograd that indexes the drive at each step (``drive[:, t]``) makes the
backward zero-fill a full (B, T, N) gradient at every step; see
``benchmarks/bench_wavernn.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from ._memory import empty_huge
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

    Examples
    --------
    >>> import torch
    >>> from wavescope.training.models import IRNN
    >>> model = IRNN(n_in=2, n_out=1, hidden=32)
    >>> out, hidden = model(torch.zeros(3, 20, 2), return_hidden=True)  # (batch, time, n_in)
    >>> print(tuple(out.shape), tuple(hidden.shape))
    (3, 1) (3, 20, 1, 32)
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
        weight = self.input.weight
        if x.dtype != weight.dtype or x.device != weight.device:
            raise TypeError(
                f"input is {x.dtype} on {x.device} but the model is {weight.dtype} on "
                f"{weight.device}; move one to the other (x.to(...), model.to(...))"
            )
        states, last = _DenseRecurrence.apply(x, weight, self.input.bias, self.recurrent.weight)
        hidden = states.transpose(0, 1)  # (time, batch, N) -> (batch, time, N)
        output = self.readout(hidden.contiguous() if self.per_step else last)
        if not return_hidden:
            return output
        return output, hidden.view(*hidden.shape[:2], self.channels, -1)


_BLOCK = 64  # steps per block of the backward's parameter-gradient products


class _DenseRecurrence(torch.autograd.Function):
    """States of h_t = ReLU(V x_t + b + U h_{t-1}), h_{-1} = 0, with a hand-written BPTT.

    Forward inputs: x (B, T, I), V (N, I), b (N) or None, U (N, N). Outputs: the states
    (T, B, N) and a copy of the last state (B, N), so that a loss on the last state alone
    never materialises a gradient for all states. The backward pass saves x, V, U and the
    states, and allocates O(B N) per step: the gradient of each step's pre-activation is
    written into a block of ``_BLOCK`` steps, and each full block adds its share to the
    gradients of U, V, b and x in one matrix product each.
    """

    @staticmethod
    def forward(ctx, x, V, b, u):
        batch, steps, n_in = x.shape
        states = empty_huge((steps, batch, V.shape[0]), like=x)
        rows = states.view(steps * batch, -1)
        xt = x.transpose(0, 1).reshape(steps * batch, n_in)
        if b is None:
            torch.mm(xt, V.T, out=rows)
        else:
            torch.addmm(b, xt, V.T, out=rows)
        states[0].relu_()
        u_t = u.T
        for t in range(1, steps):
            states[t].addmm_(states[t - 1], u_t).relu_()
        ctx.save_for_backward(x, V, u, states)
        ctx.has_b = b is not None
        ctx.set_materialize_grads(False)
        return states, states[-1].clone()

    @staticmethod
    def backward(ctx, grad_states, grad_last):
        x, V, u, states = ctx.saved_tensors
        steps, batch, n = states.shape
        need_x, need_V, need_b, need_u = ctx.needs_input_grad
        need_b = need_b and ctx.has_b
        xt = x.transpose(0, 1)  # (T, B, I)
        grad_x = x.new_empty(xt.shape) if need_x else None
        grad_V = torch.zeros_like(V) if need_V else None
        grad_b = V.new_zeros(n) if need_b else None
        grad_u = torch.zeros_like(u) if need_u else None
        carry = states.new_zeros((batch, n))  # d loss / d h_t from the loss and later steps
        if grad_last is not None:
            carry.copy_(grad_last)
        block = states.new_empty((min(_BLOCK, steps), batch, n))
        for end in range(steps, 0, -block.shape[0]):
            start = max(0, end - block.shape[0])
            g = block[: end - start]  # d loss / d pre-activation of steps start .. end - 1
            for t in range(end - 1, start - 1, -1):
                if grad_states is not None:
                    carry += grad_states[t]
                # The ReLU's own backward kernel: the gradient passes where the state is > 0.
                torch.ops.aten.threshold_backward.grad_input(
                    carry, states[t], 0, grad_input=g[t - start])
                if t > 0:
                    torch.mm(g[t - start], u, out=carry)
            g_rows = g.view(-1, n)
            if need_u and end > 1:  # sum_t g_t^T h_{t-1} over the block (h_{-1} = 0)
                first = max(start, 1)
                prev = states[first - 1 : end - 1].reshape(-1, n)
                torch.addmm(grad_u, g[first - start :].view(-1, n).T, prev, out=grad_u)
            if need_V:
                torch.addmm(grad_V, g_rows.T, xt[start:end].reshape(-1, x.shape[2]),
                            out=grad_V)
            if need_b:
                grad_b += g_rows.sum(0)
            if need_x:
                torch.matmul(g, V, out=grad_x[start:end])
        if need_x:
            grad_x = grad_x.transpose(0, 1)
        return grad_x, grad_V, grad_b, grad_u
