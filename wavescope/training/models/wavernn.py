"""Wave-RNN (wRNN), the sequence model of Keller et al. 2024.

The hidden state is C channels, each a ring of n units. One step is

    h_{t+1} = ReLU( V x_t + b + u * h_t ),   h_0 = 0,

where ``u *`` is a circular 1-D convolution (kernel 3 in the paper) mixing all channels.
With the *shift initialisation* every channel's kernel is a one-tap shift, so activity moves
exactly one unit per step around its ring: a travelling wave. With the *input
initialisation* every input dimension feeds unit 0 of each ring only (weight 1), a single
source per ring.

The recurrence runs in a custom autograd function that keeps one copy of the hidden states
(the projection ``V x_t + b`` is computed for all steps at once, into the buffer that then
becomes the states) and back-propagates through time by hand. Autograd on the plain loop
would keep about three state-sized tensors per step (ReLU output, padded convolution input,
pre-activation); see ``benchmarks/bench_wavernn.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from ._sequence import check_positive, check_sequence_input, make_readout

__all__ = ["WaveRNN", "RECURRENT_INITS"]

RECURRENT_INITS = ("shift", "identity", "random")

# Chunk of time steps whose gradients are gathered before larger matrix products.
_CHUNK_BYTES = 32 * 2**20


class WaveRNN(nn.Module):
    """Wave-RNN: rings of ReLU units coupled by a circular convolution.

    Parameters
    ----------
    n_in : int
        Input values per time step.
    n_out : int
        Outputs (classes, or 1 for regression).
    n : int
        Units per ring (the paper: 100 for copy and adding, 256 for images).
    channels : int
        Number of rings C (the paper: 6 copy, 27 adding, 16 images).
    kernel_size : int
        Odd width of the circular convolution (the paper: 3).
    recurrent_init : {"shift", "identity", "random"}
        "shift": each channel's own kernel is a one-tap shift by +1 unit per step, all
        cross-channel weights zero (the paper's wave initialisation). "identity": each
        channel's own kernel is the centre tap (the "no shift init" ablation). "random":
        torch's default initialisation.
    input_init : bool
        True: V and b start at zero except weight 1 from every input into unit 0 of each
        ring. False: V ~ N(0, 0.001²) as in the original code, b zero.
    bias : bool
        Include the paper's bias b (one per unit, N = C * n values).
    conv_bias : bool
        Include the original code's second bias, one per channel on the convolution,
        initialised randomly (torch's default). Not in the paper.
    readout : {"linear", "mlp"}
        Linear readout of the flattened state, or the paper's "wRNN + MLP"
        (Linear(N, mlp_hidden), ReLU, Linear(mlp_hidden, n_out)).
    mlp_hidden : int
        Width of the MLP readout.
    per_step : bool
        Read out every step (copy task: output (batch, time, n_out)) instead of the last
        state only (output (batch, n_out)).

    Notes
    -----
    Parameter count: ``N * n_in`` (V) + ``C * C * kernel_size`` (u) + readout, plus N for
    ``bias`` and C for ``conv_bias``. The paper's published counts (adding 10.29k, noisy
    sCIFAR-10 435k) are those with ``bias=False, conv_bias=False``; its "wRNN + MLP" count
    (420k) is the one with ``bias=True``.
    """

    periodic = True  # the hidden units lie on rings (read by the export)

    def __init__(
        self,
        n_in: int,
        n_out: int,
        n: int = 100,
        channels: int = 6,
        kernel_size: int = 3,
        *,
        recurrent_init: str = "shift",
        input_init: bool = True,
        bias: bool = True,
        conv_bias: bool = False,
        readout: str = "linear",
        mlp_hidden: int = 100,
        per_step: bool = False,
    ):
        super().__init__()
        check_positive(n_in=n_in, n_out=n_out, n=n, channels=channels, kernel_size=kernel_size)
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd (a centred kernel), got {kernel_size}")
        if n < kernel_size:
            raise ValueError(f"a ring of n={n} units is shorter than the kernel ({kernel_size})")
        if recurrent_init not in RECURRENT_INITS:
            raise ValueError(
                f"unknown recurrent_init {recurrent_init!r}; choose one of {RECURRENT_INITS}"
            )
        self.n_in, self.n_out, self.n, self.channels = n_in, n_out, n, channels
        self.kernel_size = kernel_size
        self.per_step = bool(per_step)
        self.input = nn.Linear(n_in, channels * n, bias=bias)
        # Only a container for u (weight (C, C, K), optional bias (C,)); forward never calls it.
        self.recurrent = nn.Conv1d(
            channels,
            channels,
            kernel_size,
            padding=kernel_size // 2,
            padding_mode="circular",
            bias=conv_bias,
        )
        self.readout = make_readout(channels * n, n_out, readout, mlp_hidden)
        self._init_input(input_init)
        self._init_recurrent(recurrent_init)

    @torch.no_grad()
    def _init_input(self, input_init: bool) -> None:
        if input_init:
            self.input.weight.zero_()
            self.input.weight.view(self.channels, self.n, self.n_in)[:, 0] = 1.0
        else:
            nn.init.normal_(self.input.weight, mean=0.0, std=1e-3)
        if self.input.bias is not None:
            self.input.bias.zero_()

    @torch.no_grad()
    def _init_recurrent(self, how: str) -> None:
        if how == "random":
            return
        w = self.recurrent.weight
        w.zero_()
        centre = self.kernel_size // 2
        # Tap k reads unit i + k - centre, so tap centre - 1 reads unit i - 1: a shift by +1.
        tap = centre - 1 if how == "shift" else centre
        idx = torch.arange(self.channels)
        w[idx, idx, tap] = 1.0

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
            (batch, n_out) from the last state, or (batch, time, n_out) with ``per_step``.
        hidden : torch.Tensor, shape (batch, time, channels, n)
            Only with ``return_hidden``: the state after each step (ring position last).
        """
        check_sequence_input(x, self.n_in)
        states, last = _WaveRecurrence.apply(
            x, self.input.weight, self.input.bias, self.recurrent.weight, self.recurrent.bias
        )
        hidden = states.permute(2, 0, 1, 3)  # (time, C, batch, n) -> (batch, time, C, n)
        if self.per_step:
            output = self.readout(hidden.flatten(2))
        else:
            output = self.readout(last.transpose(0, 1).flatten(1))
        return (output, hidden) if return_hidden else output


def _add_rolled(out: torch.Tensor, src: torch.Tensor, shift: int) -> None:
    """``out += torch.roll(src, shift, dims=-1)`` without allocating the rolled copy."""
    n = src.shape[-1]
    s = shift % n
    if s == 0:
        out += src
    else:
        out[..., s:] += src[..., : n - s]
        out[..., :s] += src[..., n - s :]


class _WaveRecurrence(torch.autograd.Function):
    """States of the wRNN for all steps, with a hand-written backward through time.

    Forward inputs: x (B, T, I), V (N, I), b (N) or None, u (C, C, K), u_bias (C) or None.
    Outputs: the states (T, C, B, n) and a copy of the last state (C, B, n), so that a loss
    on the last state alone never materialises a gradient for all states.

    Layout: the states live in one buffer (T, C, B, n + 2p), p = K // 2, whose p columns at
    each end of a ring repeat the other end (circular padding, kept up to date). Channels
    come before the batch so that one step of the convolution is a single (K C, C) x
    (C, B (n + 2p)) matrix product, and every tap is then a plain window of that product.
    The backward pass saves x, V, u and this buffer, nothing else of the states' size.
    """

    @staticmethod
    def forward(ctx, x, V, b, u, u_bias):
        batch, steps, n_in = x.shape
        channels, _, taps = u.shape
        n = V.shape[0] // channels
        pad = taps // 2
        width = n + 2 * pad
        buf = x.new_empty((steps, channels, batch, width))
        states = buf[..., pad : pad + n]
        # V x_t + b for every step at once (a channel at a time, to keep the temporary
        # small), written where the states will be.
        xs = x.transpose(0, 1).reshape(steps * batch, n_in)
        Vc = V.view(channels, n, n_in)
        for c in range(channels):
            drive = xs @ Vc[c].T if b is None else torch.addmm(b.view(channels, n)[c], xs, Vc[c].T)
            states[:, c] = drive.view(steps, batch, n)
        stacked = u.permute(2, 0, 1).reshape(-1, channels)  # taps stacked: (K * C, C)
        for t in range(steps):
            h = states[t]
            if t > 0:
                prod = (stacked @ buf[t - 1].view(channels, -1)).view(taps, channels, batch, width)
                for k in range(taps):  # tap k reads unit i + k - pad, padded column i + k
                    h += prod[k][..., k : k + n]
            if u_bias is not None:
                h += u_bias[:, None, None]
            h.clamp_(min=0)
            if pad:
                buf[t][..., :pad] = buf[t][..., n : n + pad]
                buf[t][..., n + pad :] = buf[t][..., pad : 2 * pad]
        last = states[-1].clone()
        ctx.save_for_backward(x, V, u, buf)
        ctx.has_b, ctx.has_u_bias = b is not None, u_bias is not None
        ctx.set_materialize_grads(False)
        return states, last

    @staticmethod
    def backward(ctx, grad_states, grad_last):
        x, V, u, buf = ctx.saved_tensors
        steps, channels, batch, width = buf.shape
        taps = u.shape[2]
        pad = taps // 2
        n = width - 2 * pad
        states = buf[..., pad : pad + n]
        need_x, need_V, need_b, need_u, need_ub = ctx.needs_input_grad
        stacked_t = u.permute(2, 1, 0).reshape(-1, channels)  # transposed taps: (K * C, C)
        Vc = V.view(channels, n, -1)

        grad_x = torch.zeros_like(x) if need_x else None
        grad_V = torch.zeros_like(Vc) if need_V else None
        grad_b = V.new_zeros((channels, n)) if need_b and ctx.has_b else None
        grad_u = torch.zeros_like(u) if need_u else None
        grad_ub = u.new_zeros(channels) if need_ub and ctx.has_u_bias else None

        # Gradient reaching h_t from later steps (and from the loss on the last state).
        carry = grad_last.clone() if grad_last is not None else states.new_zeros(states[0].shape)
        chunk = max(1, min(steps, _CHUNK_BYTES // max(1, buf[0].numel() * buf.itemsize)))
        # d loss / d pre-activation for a chunk of steps, in the padded layout; the padding
        # columns stay zero, so padded positions add nothing to the sums below.
        pre = buf.new_zeros((chunk, channels, batch, width))
        for stop in range(steps, 0, -chunk):
            start = max(0, stop - chunk)
            for t in range(stop - 1, start - 1, -1):
                g_pad = pre[t - start]
                g = g_pad[..., pad : pad + n]
                g.copy_(carry)
                if grad_states is not None:
                    g += grad_states[t]
                g.mul_(states[t] > 0)  # ReLU: the state is positive where it let gradient through
                if t > 0:
                    prod = (stacked_t @ g_pad.view(channels, -1)).view(taps, channels, batch, width)
                    carry = torch.zeros_like(carry)
                    for k in range(taps):
                        _add_rolled(carry, prod[k][..., pad : pad + n], k - pad)
            block = pre[: stop - start]  # (L, C, B, n + 2p)
            if grad_V is not None:
                xs = x[:, start:stop].transpose(0, 1).unsqueeze(1)  # (L, 1, B, I)
                grad_V += torch.matmul(block.transpose(2, 3), xs).sum(0)[:, pad : pad + n]
            if grad_b is not None:
                grad_b += block.sum((0, 2))[:, pad : pad + n]
            if grad_x is not None:
                inner = block[..., pad : pad + n]
                grad_x[:, start:stop] = torch.tensordot(inner, Vc, dims=([1, 3], [0, 1])).transpose(
                    0, 1
                )
            if grad_ub is not None:
                grad_ub += block.sum((0, 2, 3))
            if grad_u is not None and stop > 1:
                first = max(start, 1)  # h_{-1} = 0 contributes nothing at t = 0
                _add_kernel_grad(grad_u, block[first - start :], buf[first - 1 : stop - 1])
        grad_V = grad_V.view_as(V) if grad_V is not None else None
        grad_b = grad_b.view(-1) if grad_b is not None else None
        return grad_x, grad_V, grad_b, grad_u, grad_ub


def _add_kernel_grad(grad_u, pre, prev, /) -> None:
    """Add sum_{t,b,i} pre[t,c,b,i] * prev[t,c',b,(i + k - p) mod n] to grad_u[c, c', k].

    Both arrive padded, (L, C, B, n + 2p): ``pre`` with zeros in its padding columns,
    ``prev`` with the circular copies. Flattening (B, n + 2p), tap k pairs flat position f
    of ``pre`` with f + k - p of ``prev``, which stays in the same ring and lands on the
    right unit; the zeros of ``pre`` mask the rest. So each tap is one batched product of
    strided windows, (C, M) x (M, C), with no copies.
    """
    steps, channels, batch, width = pre.shape
    taps = grad_u.shape[2]
    pad = taps // 2
    flat = batch * width
    g = pre.reshape(steps, channels, flat)[..., pad : flat - pad]
    h = prev.reshape(steps, channels, flat)
    for k in range(taps):
        window = h[..., k : flat - 2 * pad + k]
        grad_u[:, :, k] += torch.bmm(g, window.transpose(1, 2)).sum(0)
