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

from ._memory import empty_huge
from ._sequence import check_positive, check_sequence_input, make_sequence_readout

__all__ = ["WaveRNN", "RECURRENT_INITS"]

RECURRENT_INITS = ("shift", "identity", "random")


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

    Examples
    --------
    >>> import torch
    >>> from wavescope.training.models import WaveRNN
    >>> model = WaveRNN(n_in=2, n_out=1, n=32, channels=4)
    >>> out, hidden = model(torch.zeros(3, 20, 2), return_hidden=True)  # (batch, time, n_in)
    >>> print(tuple(out.shape), tuple(hidden.shape))
    (3, 1) (3, 20, 4, 32)
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
        if recurrent_init == "shift" and kernel_size < 3:
            raise ValueError("the shift initialisation needs kernel_size >= 3")
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
        self.readout = make_sequence_readout(channels * n, n_out, readout, mlp_hidden)
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
        if x.dtype != self.input.weight.dtype or x.device != self.input.weight.device:
            raise TypeError(
                f"input is {x.dtype} on {x.device} but the model is {self.input.weight.dtype} "
                f"on {self.input.weight.device}; move one to the other (x.to(...), model.to(...))"
            )
        states, last = _WaveRecurrence.apply(
            x, self.input.weight, self.input.bias, self.recurrent.weight, self.recurrent.bias
        )
        hidden = states.permute(1, 0, 3, 2)  # (time, batch, n, C) -> (batch, time, C, n)
        if self.per_step:
            output = self.readout(hidden.flatten(2))
        else:
            output = self.readout(last.transpose(1, 2).flatten(1))
        return (output, hidden) if return_hidden else output


def _drive(states: torch.Tensor, x: torch.Tensor, V: torch.Tensor, b, u_bias) -> None:
    """Write V x_t + b (+ the convolution's bias) for every step into ``states`` (T, B, n, C),
    a strided view.

    With one or two inputs per step (the adding task, pixel sequences) the projection is a
    sum of outer products, written elementwise straight into the buffer; wider inputs take
    one matrix product over all steps, into the buffer seen as (T B, n C).
    """
    steps, batch, n, channels = states.shape
    n_in = x.shape[2]
    xt = x.transpose(0, 1)  # (T, B, I)
    # V's rows in the buffer's unit order (ring position, then channel), as (I, n C).
    V_nc = V.view(channels, n, n_in).permute(2, 1, 0).reshape(n_in, n * channels)
    # Both biases are constant over time: added here once instead of at every step.
    bias = V.new_zeros((n, channels))
    if b is not None:
        bias += b.view(channels, n).T
    if u_bias is not None:
        bias += u_bias
    bias = bias.view(-1)
    flat = states.view(steps, batch, n * channels)  # each (t, b) row is contiguous
    if n_in <= 2:
        for j in range(n_in):
            xj = xt[..., j : j + 1]
            if j == 0:
                torch.addcmul(bias, xj, V_nc[j], out=flat)
            else:
                flat.addcmul_(xj, V_nc[j])
        return
    torch.addmm(bias, xt.reshape(steps * batch, n_in), V_nc,
                out=flat.view(steps * batch, n * channels))


def _fill_wrap(padded: torch.Tensor, pad: int) -> None:
    """Copy each ring's last ``pad`` units before its start and its first after its end.

    ``padded`` is (B, n + 2 pad, C): rings along the middle axis.
    """
    if pad:
        n = padded.shape[1] - 2 * pad
        padded[:, :pad] = padded[:, n : n + pad]
        padded[:, n + pad :] = padded[:, pad : 2 * pad]


def _conv_rows(out, taps, src, offsets, *, accumulate: bool) -> None:
    """``out (+)= sum_k src[offsets[k] : offsets[k] + len(out)] @ taps[k]``.

    ``src`` is a padded state flattened to (B (n + 2p), C), one row per unit; every tap's
    operand is a window of its rows, a strided matrix that BLAS reads in place, and ``out``
    is itself a window of a padded buffer, written in place (added to with
    ``accumulate``). Rows that fall on padding receive meaningless sums, which the callers
    overwrite or ignore.
    """
    rows = out.shape[0]
    for k, (tap, offset) in enumerate(zip(taps, offsets, strict=True)):
        beta = 1 if accumulate or k > 0 else 0  # beta 0 ignores what out held
        torch.addmm(out, src[offset : offset + rows], tap, beta=beta, out=out)


class _WaveRecurrence(torch.autograd.Function):
    """States of the wRNN for all steps, with a hand-written backward through time.

    Forward inputs: x (B, T, I), V (N, I), b (N) or None, u (C, C, K), u_bias (C) or None.
    Outputs: the states (T, B, n, C) and a copy of the last state (B, n, C), so that a loss
    on the last state alone never materialises a gradient for all states.

    Layout: the states live in one buffer (T, B, n + 2p, C), p = K // 2, channels last,
    whose p units at each end of a ring repeat the other end (circular padding, kept up to
    date). Flattening a step to (B (n + 2p), C), tap k of the convolution at row f reads
    row f + k - p, which stays inside the same ring and lands on the right unit. So one
    step is K matrix products of shifted row windows of the previous step with (C, C)
    taps, computed in place, with no copies; channels last makes these tall-skinny
    products about 15 % faster than the (C, C) x (C, B n) ones of channels first. The
    backward pass saves x, V, u and this buffer, nothing else of the states' size.
    """

    @staticmethod
    def forward(ctx, x, V, b, u, u_bias):
        batch, steps, n_in = x.shape
        channels, _, n_taps = u.shape
        n = V.shape[0] // channels
        pad = n_taps // 2
        width = n + 2 * pad
        span = batch * width - 2 * pad  # rows every tap can reach
        buf = empty_huge((steps, batch, width, channels), like=x)
        states = buf[:, :, pad : pad + n]
        _drive(states, x, V, b, u_bias)
        taps = [u[:, :, k].T.contiguous() for k in range(n_taps)]  # (C_in, C_out)
        for t in range(steps):
            h = states[t]
            if t > 0:  # added to the drive in place; the padding rows are refilled below
                _conv_rows(buf[t].view(-1, channels)[pad : pad + span], taps,
                           buf[t - 1].view(-1, channels), range(n_taps), accumulate=True)
            h.clamp_(min=0)
            _fill_wrap(buf[t], pad)
        last = states[-1].clone()
        ctx.save_for_backward(x, V, u, buf)
        ctx.has_b, ctx.has_u_bias = b is not None, u_bias is not None
        ctx.set_materialize_grads(False)
        return states, last

    @staticmethod
    def backward(ctx, grad_states, grad_last):
        x, V, u, buf = ctx.saved_tensors
        steps, batch, width, channels = buf.shape
        n_taps = u.shape[2]
        pad = n_taps // 2
        n = width - 2 * pad
        span = batch * width - 2 * pad
        n_in = x.shape[2]
        states = buf[:, :, pad : pad + n]
        need_x, need_V, need_b, need_u, need_ub = ctx.needs_input_grad
        taps = [u[:, :, k].contiguous() for k in range(n_taps)]  # (C_out, C_in)
        V_nc = V.view(channels, n, n_in).transpose(0, 1).reshape(n * channels, n_in)

        grad_x = torch.zeros_like(x) if need_x else None
        # The kernel's gradient per tap, (K, C, C): each tap's sum is accumulated in place.
        grad_taps = u.new_zeros((n_taps, channels, channels)) if need_u else None
        need_ub = need_ub and ctx.has_u_bias
        # V and both biases together: d loss / d [V | b] per unit, from the inputs with a
        # ones column; the convolution's bias gets the sum of b's over each ring.
        need_Vb = need_V or (need_b and ctx.has_b) or need_ub
        grad_Vb = V.new_zeros((n_in + 1, width * channels)) if need_Vb else None
        xt = torch.cat([x, x.new_ones(x.shape[:2] + (1,))], dim=2).transpose(0, 1)
        xt = xt.transpose(1, 2)  # (T, I + 1, B)

        # Gradient reaching h_t from later steps (and from the loss on the last state), kept
        # padded so that the transposed convolution can write it in place.
        carry = buf.new_zeros((batch, width, channels))
        if grad_last is not None:
            carry[:, pad : pad + n] = grad_last
        # d loss / d pre-activation of the current step, padded with zeros (the sums below
        # rely on it; the transposed convolution borrows the padding for a moment).
        g_pad = buf.new_zeros((batch, width, channels))
        g = g_pad[:, pad : pad + n]
        g_rows = g_pad.view(-1, channels)
        for t in range(steps - 1, -1, -1):
            # ReLU: the gradient passes where the state is positive. threshold_backward is
            # the ReLU's own backward kernel: one pass, no mask tensor.
            src = carry[:, pad : pad + n]
            if grad_states is not None:
                src = torch.add(src, grad_states[t], out=g)
            torch.ops.aten.threshold_backward.grad_input(src, states[t], 0, grad_input=g)
            # Every parameter's share of this step, while g is in cache.
            if grad_taps is not None and t > 0:  # h_{-1} = 0 contributes nothing at t = 0
                _add_kernel_grad(grad_taps, g_rows, buf[t - 1].view(-1, channels))
            if grad_Vb is not None:
                torch.addmm(grad_Vb, xt[t], g_pad.view(batch, -1), out=grad_Vb)
            if grad_x is not None:
                torch.mm(g.reshape(batch, -1), V_nc, out=grad_x[:, t])
            if t > 0:
                # Transposed convolution: tap k sends row f to f - k + p, i.e. reads
                # f + p - k of the circularly padded gradient.
                _fill_wrap(g_pad, pad)
                _conv_rows(carry.view(-1, channels)[pad : pad + span], taps, g_rows,
                           [2 * pad - k for k in range(n_taps)], accumulate=False)
                g_pad[:, :pad] = 0
                g_pad[:, pad + n :] = 0
        grad_u = grad_taps.permute(1, 2, 0).contiguous() if need_u else None
        grad_V = grad_b = grad_ub = None
        if grad_Vb is not None:
            inner = grad_Vb.view(n_in + 1, width, channels)[:, pad : pad + n]  # (I + 1, n, C)
            if need_V:
                grad_V = inner[:-1].permute(2, 1, 0).reshape(V.shape)
            if need_b and ctx.has_b:
                grad_b = inner[-1].T.reshape(-1)
            if need_ub:
                grad_ub = inner[-1].sum(0)
        return grad_x, grad_V, grad_b, grad_u, grad_ub


def _add_kernel_grad(grad_taps, pre, prev, /) -> None:
    """Add sum_{b,i} pre[b,i,c] * prev[b,(i + k - p) mod n,c'] to grad_taps[k, c, c'].

    Both arrive padded and flattened to rows, (B (n + 2p), C): ``pre`` (the gradient of
    one step's pre-activation) with zeros in its padding rows, ``prev`` (the state before
    it) with the circular copies. Tap k pairs row f of ``pre`` with row f + k - p of
    ``prev``, which stays in the same ring and lands on the right unit; the zeros of
    ``pre`` mask the rest. So each tap is one (C, M) x (M, C) product of strided windows,
    added in place, with no copies.
    """
    taps = grad_taps.shape[0]
    pad = taps // 2
    span = pre.shape[0] - 2 * pad
    g = pre[pad : pad + span].T
    for k in range(taps):
        torch.addmm(grad_taps[k], g, prev[k : k + span], out=grad_taps[k])
