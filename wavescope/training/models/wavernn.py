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
import torch.nn.functional as F
from torch import nn

from ._memory import StatePool, empty_huge
from ._sequence import check_positive, check_sequence_input, make_sequence_readout

__all__ = ["WaveRNN", "RECURRENT_INITS"]

RECURRENT_INITS = ("shift", "identity", "random")
_BLOCK = 8  # steps whose gradients the backward pass keeps, for one call per block


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
        self._pool = StatePool()
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
        # The state buffer is reused between calls only when no caller can still see it.
        pool = None if (return_hidden or self.per_step) else self._pool
        states, last = _WaveRecurrence.apply(
            x, self.input.weight, self.input.bias, self.recurrent.weight, self.recurrent.bias,
            pool,
        )
        if pool is not None and not last.requires_grad:  # no backward pass will read it
            pool.give(states)
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


def _wraps(padded: torch.Tensor, pad: int) -> list:
    """Per step of ``padded`` (T, B, n + 2 pad, C), the ``fill()`` that copies each ring's
    last ``pad`` units before its start and its first after its end (the views are made
    once: a step's loop pays for two copies only)."""
    if not pad:
        return [lambda: None] * padded.shape[0]
    n = padded.shape[2] - 2 * pad
    pairs = zip(padded[:, :, :pad].unbind(0), padded[:, :, n : n + pad].unbind(0),
                padded[:, :, n + pad :].unbind(0), padded[:, :, pad : 2 * pad].unbind(0),
                strict=True)
    return [lambda a=a, b=b, c=c, d=d: (a.copy_(b), c.copy_(d)) for a, b, c, d in pairs]


def _image(rows: torch.Tensor) -> torch.Tensor:
    """(B, W, C) rows seen as a (B, C, 1, W) image, channels last (no copy)."""
    return rows.unsqueeze(1).permute(0, 3, 1, 2)


def _images(steps: torch.Tensor) -> tuple:
    """Each step of (T, B, W, C) as a (B, C, 1, W) image (views made in one call)."""
    return _image(steps.flatten(0, 1)).split(steps.shape[1])


def _rows(image: torch.Tensor) -> torch.Tensor:
    """A (B, C, 1, W) image seen as (B, W, C) rows (no copy when channels last)."""
    return image.squeeze(2).transpose(1, 2)


class _WaveRecurrence(torch.autograd.Function):
    """States of the wRNN for all steps, with a hand-written backward through time.

    Forward inputs: x (B, T, I), V (N, I), b (N) or None, u (C, C, K), u_bias (C) or None,
    and a :class:`StatePool` or None. Outputs: the states (T, B, n, C) and a copy of the
    last state (B, n, C), so that a loss on the last state alone never materialises a
    gradient for all states.

    Layout: the states live in one buffer (T, B, n + 2p, C), p = K // 2, channels last,
    whose p units at each end of a ring repeat the other end (circular padding, kept up to
    date). Seen as a (B, C, 1, n + 2p) image, a step's circular convolution is an ordinary
    unpadded 2-D convolution of the previous step, which torch runs on oneDNN's
    channels-last kernels on the CPU (about twice as fast as K (B n, C) x (C, C) matrix
    products on this layout), and the transposed convolution and the kernel's gradient
    are a convolution and a convolution's weight gradient of the same kind. The backward
    pass saves x, V, u and this buffer, nothing else of the states' size; it keeps the
    pre-activation gradients of ``_BLOCK`` steps, so that the gradients of u, V and the
    biases take one call per block instead of one per step.

    With a pool, the buffer is taken from it and handed back after the backward pass (the
    module hands it back at once when nothing needs a gradient), so a training loop reuses
    one buffer instead of faulting 1.6 GB of fresh pages in at every step (sequential-MNIST
    sizes). Only the module passes a pool, and only when the states are not returned.
    """

    @staticmethod
    def forward(ctx, x, V, b, u, u_bias, pool):
        batch, steps, n_in = x.shape
        channels, _, n_taps = u.shape
        n = V.shape[0] // channels
        pad = n_taps // 2
        shape = (steps, batch, n + 2 * pad, channels)
        buf = pool.take(shape, x) if pool is not None else empty_huge(shape, like=x)
        states = buf[:, :, pad : pad + n]
        _drive(states, x, V, b, u_bias)
        weight = u.unsqueeze(2)  # (C_out, C_in, 1, K)
        images, wraps = _images(buf), _wraps(buf, pad)
        for t, h in enumerate(states.unbind(0)):
            if t > 0:
                h.add_(_rows(F.conv2d(images[t - 1], weight)))
            h.clamp_(min=0)
            wraps[t]()
        last = states[-1].clone()
        ctx.has_b, ctx.has_u_bias, ctx.pool = b is not None, u_bias is not None, pool
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, V, u, buf)
        return states, last

    @staticmethod
    def backward(ctx, grad_states, grad_last):
        x, V, u, buf = ctx.saved_tensors
        steps, batch, width, channels = buf.shape
        n_taps = u.shape[2]
        pad = n_taps // 2
        n = width - 2 * pad
        n_in = x.shape[2]
        states = buf[:, :, pad : pad + n]
        need_x, need_V, need_b, need_u, need_ub, _ = ctx.needs_input_grad
        weight = u.unsqueeze(2)
        # The transposed convolution: tap K - 1 - k of u with input and output swapped.
        weight_t = u.transpose(0, 1).flip(2).unsqueeze(2)
        V_nc = V.view(channels, n, n_in).transpose(0, 1).reshape(n * channels, n_in)

        grad_x = torch.zeros_like(x) if need_x else None
        grad_w = torch.zeros_like(weight) if need_u else None
        need_ub = need_ub and ctx.has_u_bias
        # V and both biases together: d loss / d [V | b] per unit, from the inputs with a
        # ones column; the convolution's bias gets the sum of b's over each ring.
        need_Vb = need_V or (need_b and ctx.has_b) or need_ub
        grad_Vb = V.new_zeros((n_in + 1, width * channels)) if need_Vb else None
        # [x_t | 1] of every step as columns, (I + 1, T B), in the order of buf's rows.
        xt = torch.cat([x, x.new_ones(x.shape[:2] + (1,))], dim=2).transpose(0, 1)
        xt = xt.reshape(steps * batch, n_in + 1).T

        # Gradient reaching h_t from later steps (and from the loss on the last state).
        carry = grad_last if grad_last is not None else buf.new_zeros((batch, n, channels))
        # d loss / d pre-activation of the steps of one block, each padded with zeros (the
        # parameters' sums below rely on it; the transposed convolution borrows a step's
        # padding for a moment). The parameters' gradients take one call per block.
        block = min(_BLOCK, steps)
        g_blk = buf.new_zeros((block, batch, width, channels))
        g_inner, g_images, g_wraps = g_blk[:, :, pad : pad + n].unbind(0), _images(g_blk), \
            _wraps(g_blk, pad)
        g_ends = list(zip(g_blk[:, :, :pad].unbind(0), g_blk[:, :, pad + n :].unbind(0),
                          strict=True))
        hs = states.unbind(0)
        for hi in range(steps, 0, -block):
            lo = max(hi - block, 0)
            for t in range(hi - 1, lo - 1, -1):
                g = g_inner[t - lo]
                # ReLU: the gradient passes where the state is positive. threshold_backward
                # is the ReLU's own backward kernel: one pass, no mask tensor.
                src = carry
                if grad_states is not None:
                    src = torch.add(src, grad_states[t], out=g)
                torch.ops.aten.threshold_backward.grad_input(src, hs[t], 0, grad_input=g)
                if grad_x is not None:
                    torch.mm(g.reshape(batch, -1), V_nc, out=grad_x[:, t])
                if t > 0:
                    g_wraps[t - lo]()
                    carry = _rows(F.conv2d(g_images[t - lo], weight_t))
                    if pad:
                        for end in g_ends[t - lo]:
                            end.zero_()
            g_rows = g_blk[: hi - lo].flatten(0, 1)  # ((hi - lo) B, W, C)
            if grad_Vb is not None:
                torch.addmm(grad_Vb, xt[:, lo * batch : hi * batch],
                            g_rows.view(-1, width * channels), out=grad_Vb)
            first = max(lo, 1)  # h_{-1} = 0 contributes nothing at t = 0
            if grad_w is not None and first < hi:
                # Row f of a padded step pairs with row f + k - p of the step before, padded
                # with zeros by p: the zeros of g's own padding mask the rows past each ring.
                grad_w += torch.ops.aten.convolution_backward(
                    _image(g_rows[(first - lo) * batch :]),
                    _image(buf[first - 1 : hi - 1].flatten(0, 1)), weight, None, [1, 1],
                    [0, pad], [1, 1], False, [0, 0], 1, [False, True, False])[1]
        del states, hs
        if ctx.pool is not None:
            ctx.pool.give(buf)
        grad_u = grad_w.squeeze(2) if need_u else None
        grad_V = grad_b = grad_ub = None
        if grad_Vb is not None:
            inner = grad_Vb.view(n_in + 1, width, channels)[:, pad : pad + n]  # (I + 1, n, C)
            if need_V:
                grad_V = inner[:-1].permute(2, 1, 0).reshape(V.shape)
            if need_b and ctx.has_b:
                grad_b = inner[-1].T.reshape(-1)
            if need_ub:
                grad_ub = inner[-1].sum(0)
        return grad_x, grad_V, grad_b, grad_u, grad_ub, None
