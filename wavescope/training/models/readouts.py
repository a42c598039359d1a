"""Readouts over time and per-pixel heads for the recurrent segmentation models.

A readout turns the recorded state sequence (B, T, C, H, W) into features (B, F, H, W),
pixel by pixel; a head (a per-pixel MLP) turns features into class logits (B, n, H, W).

Readouts (K = T // 2 + 1):

``linear``  a learned Linear(T -> K, no bias) over time, shared by pixels and channels;
            F = K·C.
``fft``     |rFFT over time| (DC kept); F = K·C.
``last``    the final frame; F = C.
``mean``, ``max``   over time; F = C.

Feature f of the ``linear`` and ``fft`` readouts is row/frequency k = f % K of channel
c = f // K. Heads: ``mlp256`` (F -> 256 -> 256 -> 256 -> n) and ``mlp32x5``
(F -> 32, four times 32 -> 32, -> n), ReLU between layers.

Heads run block by block over pixels (:func:`pixel_mlp`); :func:`readout_head` evaluates the
``linear`` readout inside those blocks, so the (B, K·C, H, W) feature tensor is never built.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "READOUTS",
    "HEADS",
    "LinearReadout",
    "FFTReadout",
    "LastReadout",
    "MeanReadout",
    "MaxReadout",
    "PixelMLP",
    "pixel_mlp",
    "make_readout",
    "make_head",
    "readout_head",
]


def _check_sequence(seq: torch.Tensor, steps: int | None = None) -> None:
    if seq.ndim != 5:
        raise ValueError(f"expected a state sequence (B, T, C, H, W), got shape {tuple(seq.shape)}")
    if steps is not None and seq.shape[1] != steps:
        raise ValueError(f"readout built for {steps} steps got a sequence of {seq.shape[1]}")


class LinearReadout(nn.Module):
    """A learned Linear(T -> K, no bias) over time, shared by all pixels and channels."""

    def __init__(self, steps: int, channels: int):
        super().__init__()
        self.steps, self.channels = int(steps), int(channels)
        self.n_freq = self.steps // 2 + 1
        self.n_features = self.n_freq * self.channels
        self.linear = nn.Linear(self.steps, self.n_freq, bias=False)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        _check_sequence(seq, self.steps)
        b, t, c, h, w = seq.shape
        feats = torch.matmul(self.linear.weight, seq.reshape(b, t, c * h * w))  # (B, K, C·P)
        return feats.reshape(b, self.n_freq, c, h, w).transpose(1, 2).reshape(
            b, self.n_features, h, w)


class FFTReadout(nn.Module):
    """Magnitude of the real FFT over time (DC bin kept); no parameters."""

    def __init__(self, steps: int, channels: int):
        super().__init__()
        self.steps, self.channels = int(steps), int(channels)
        self.n_features = (self.steps // 2 + 1) * self.channels

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        _check_sequence(seq, self.steps)
        b, _, _, h, w = seq.shape
        spec = _SpectrumMagnitude.apply(seq)  # (B, K, C, H, W)
        return spec.transpose(1, 2).reshape(b, self.n_features, h, w)


class _SpectrumMagnitude(torch.autograd.Function):
    """|rFFT(seq)| over dim 1, with the adjoint of the real FFT as one inverse real FFT.

    Autograd would keep the complex spectrum (twice the output's size) and run its
    backward as a full-length complex FFT of a zero-padded copy; here the spectrum is
    recomputed from ``seq`` (which the roll-out keeps anyway) and the gradient is
    T · irfft(g · sgn(X) with the bins that stand for two (not DC, not Nyquist) halved),
    the same function (equal up to float rounding) at half the cost. The forward is
    unchanged.
    """

    @staticmethod
    def forward(ctx, seq):
        ctx.save_for_backward(seq)
        return torch.fft.rfft(seq, dim=1).abs()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (seq,) = ctx.saved_tensors
        steps = seq.shape[1]
        z = torch.fft.rfft(seq, dim=1).sgn_().mul_(grad)  # d|X|/dX, as abs's own backward
        z[:, 1:(steps + 1) // 2].mul_(0.5)  # irfft counts each of these bins twice
        return torch.fft.irfft(z, n=steps, dim=1).mul_(steps)


class LastReadout(nn.Module):
    """The final frame."""

    def __init__(self, steps: int, channels: int):
        super().__init__()
        self.n_features = int(channels)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        _check_sequence(seq)
        return seq[:, -1]


class MeanReadout(LastReadout):
    """The mean over time."""

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        _check_sequence(seq)
        return seq.mean(dim=1)


class MaxReadout(LastReadout):
    """The maximum over time."""

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        _check_sequence(seq)
        return seq.amax(dim=1)


READOUTS = {"linear": LinearReadout, "fft": FFTReadout, "last": LastReadout,
            "mean": MeanReadout, "max": MaxReadout}

HEADS = {"mlp256": (256, 256, 256), "mlp32x5": (32, 32, 32, 32, 32)}


class PixelMLP(nn.Module):
    """An MLP applied to the feature vector of every pixel (ReLU between layers).

    Parameters
    ----------
    in_features : int
        Features per pixel.
    hidden : sequence of int
        Hidden layer widths.
    n_classes : int
        Output logits per pixel.
    chunk : int
        Pixels per block of the blocked evaluation (see :func:`pixel_mlp`).
    """

    def __init__(self, in_features: int, hidden, n_classes: int, chunk: int = 1024):
        super().__init__()
        widths = [int(in_features), *map(int, hidden), int(n_classes)]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:],
                                                                     strict=True))
        self.chunk = int(chunk)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_classes, H, W) for features (B, F, H, W)."""
        if feats.ndim != 4:
            raise ValueError(f"expected features (B, F, H, W), got shape {tuple(feats.shape)}")
        b, f, h, w = feats.shape
        weights = [layer.weight for layer in self.layers]
        biases = [layer.bias for layer in self.layers]
        return pixel_mlp(feats.reshape(b, f, h * w), weights, biases,
                         chunk=self.chunk).reshape(b, -1, h, w)


def pixel_mlp(x: torch.Tensor, weights, biases, readout: torch.Tensor | None = None,
              channels: int = 1, chunk: int = 1024) -> torch.Tensor:
    """A per-pixel MLP on x (B, F0, P) giving (B, n, P), evaluated in blocks of pixels.

    With ``readout`` (K, T) given, x is a state sequence (B, T·C, P) (``channels`` = C) and
    the MLP's input is the linear readout: feature c·K + k of a pixel is
    sum_t readout[k, t] · x[t·C + c].

    The layers run block by block (``chunk`` pixels of one image at a time) so each block's
    activations stay in cache across layers, and no (pixels × features) temporary is ever
    allocated; only the post-ReLU activations are kept for the backward pass.

    Examples
    --------
    >>> import torch
    >>> from wavescope.training.models import pixel_mlp
    >>> x = torch.ones(1, 2, 5)  # (B, features, pixels)
    >>> weights = [torch.ones(3, 2), torch.ones(1, 3)]
    >>> biases = [torch.zeros(3), torch.zeros(1)]
    >>> print(pixel_mlp(x, weights, biases))  # 3 * relu(1 + 1) = 6 at every pixel
    tensor([[[6., 6., 6., 6., 6.]]])
    """
    if x.ndim != 3:
        raise ValueError(f"expected (B, F, P) input, got shape {tuple(x.shape)}")
    if len(weights) != len(biases) or not weights:
        raise ValueError("give one bias per weight, and at least one layer")
    if readout is not None and x.shape[1] != readout.shape[1] * channels:
        raise ValueError(f"input has {x.shape[1]} rows; a readout over {readout.shape[1]} steps "
                         f"of {channels} channels needs {readout.shape[1] * channels}")
    if torch.is_autocast_enabled(x.device.type):  # its out= buffers take one dtype: float32
        with torch.autocast(x.device.type, enabled=False):
            return pixel_mlp(x.float(), [w.float() for w in weights],
                             [b.float() for b in biases],
                             None if readout is None else readout.float(), channels, chunk)
    return _PixelMLP.apply(x, readout, int(channels), int(chunk), len(weights), *weights,
                           *biases)


def _blocks(batch: int, pixels: int, chunk: int):
    for b in range(batch):
        for p0 in range(0, pixels, chunk):
            yield b, p0, min(p0 + chunk, pixels)


def _view(flat: torch.Tensor, rows: int, cols: int, offset: int = 0) -> torch.Tensor:
    """A contiguous (rows, cols) matrix inside a flat buffer."""
    return flat[offset:offset + rows * cols].view(rows, cols)


def _readout_block(out, x, readout, channels, b, p0, p1):
    """Linear-readout features (C·K, n) of pixels p0:p1 of image b, written into ``out``."""
    seq = x[b].view(readout.shape[1], channels, -1)
    k = readout.shape[0]
    for c in range(channels):
        torch.mm(readout, seq[:, c, p0:p1], out=out[c * k:(c + 1) * k])
    return out


class _PixelMLP(torch.autograd.Function):
    """Blocked per-pixel MLP. Every matrix product writes into a contiguous block of a
    preallocated buffer (a strided destination would cost a copy, and a fresh allocation
    per block costs page faults), so the only large allocations are the kept activations."""

    @staticmethod
    def forward(ctx, x, readout, channels, chunk, n_layers, *params):
        weights, biases = params[:n_layers], params[n_layers:]
        batch, _, pixels = x.shape
        # Activations stored block after block: block (b, p0:p1) is one contiguous matrix.
        # One buffer per image and layer: a few MB each, below glibc's mmap threshold, so
        # the heap recycles them from step to step instead of the kernel faulting in fresh
        # zeroed pages for one huge buffer every step.
        acts = [x.new_empty(w.shape[0] * pixels) for w in weights[:-1] for _ in range(batch)]
        out = x.new_empty(batch, weights[-1].shape[0], pixels)
        width = readout.shape[0] * channels if readout is not None else 0
        feat = x.new_empty(width * min(chunk, pixels))
        logits = x.new_empty(weights[-1].shape[0] * min(chunk, pixels))
        for b, p0, p1 in _blocks(batch, pixels, chunk):
            m = p1 - p0
            h = x[b, :, p0:p1] if readout is None else _readout_block(
                _view(feat, width, m), x, readout, channels, b, p0, p1)
            for i, (w, bias) in enumerate(zip(weights, biases, strict=True)):
                last = i == n_layers - 1
                dest = _view(logits, w.shape[0], m) if last else _view(
                    acts[i * batch + b], w.shape[0], m, w.shape[0] * p0)
                # (mm, then the bias in cache: addmm would first copy the bias into dest)
                h = torch.mm(w, h, out=dest).add_(bias[:, None])
                if not last:
                    h.relu_()
            out[b, :, p0:p1] = h
        ctx.channels, ctx.chunk, ctx.n_layers = channels, chunk, n_layers
        ctx.save_for_backward(x, readout, *weights, *acts)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        n_layers = ctx.n_layers
        x, readout, *rest = ctx.saved_tensors
        weights, acts = rest[:n_layers], rest[n_layers:]
        g_weights = [torch.zeros_like(w) for w in weights]
        g_biases = [w.new_zeros(w.shape[0]) for w in weights]
        need_x = ctx.needs_input_grad[0]
        g_x = torch.empty_like(x) if need_x else None  # every block is written
        g_readout = torch.zeros_like(readout) if readout is not None else None
        batch, _, pixels = x.shape
        cs = min(ctx.chunk, pixels)
        widest = max(w.shape[1] for w in weights)
        ping, pong = x.new_empty(widest * cs), x.new_empty(widest * cs)
        width = readout.shape[0] * ctx.channels if readout is not None else 0
        feat = x.new_empty(width * cs)
        for b, p0, p1 in _blocks(batch, pixels, ctx.chunk):
            m = p1 - p0
            g = grad_out[b, :, p0:p1]
            for i in range(n_layers - 1, 0, -1):
                rows = weights[i].shape[1]
                a = _view(acts[(i - 1) * batch + b], rows, m, rows * p0)
                g_weights[i].addmm_(g, a.t())
                g_biases[i].add_(g.sum(dim=1))
                g_in = torch.mm(weights[i].t(), g, out=_view(ping, rows, m))
                # g lives in pong, the next product in ping: never the buffer being read.
                g = torch.ops.aten.threshold_backward.grad_input(
                    g_in, a, 0.0, grad_input=_view(pong, rows, m))
            if readout is None:
                h = x[b, :, p0:p1]
            else:
                h = _readout_block(_view(feat, width, m), x, readout, ctx.channels, b, p0, p1)
            g_weights[0].addmm_(g, h.t())
            g_biases[0].add_(g.sum(dim=1))
            if not (need_x or readout is not None):
                continue
            g_h = torch.mm(weights[0].t(), g, out=_view(ping, weights[0].shape[1], m))
            if readout is None:
                g_x[b, :, p0:p1] = g_h
                continue
            k = readout.shape[0]
            seq = x[b].view(readout.shape[1], ctx.channels, -1)
            g_seq = g_x[b].view(readout.shape[1], ctx.channels, -1) if need_x else None
            for c in range(ctx.channels):
                g_c = g_h[c * k:(c + 1) * k]
                g_readout.addmm_(g_c, seq[:, c, p0:p1].t())
                if need_x:
                    torch.mm(readout.t(), g_c, out=g_seq[:, c, p0:p1])
        return (g_x, g_readout, None, None, None, *g_weights, *g_biases)


def make_readout(name: str, steps: int, channels: int) -> nn.Module:
    """A readout by name (see the module docstring); only what it uses is built.

    Examples
    --------
    >>> import torch
    >>> from wavescope.training.models import make_readout
    >>> readout = make_readout("linear", steps=10, channels=2)
    >>> seq = torch.zeros(3, 10, 2, 8, 8)  # (B, T, C, H, W)
    >>> print(type(readout).__name__, tuple(readout(seq).shape))
    LinearReadout (3, 12, 8, 8)
    """
    try:
        cls = READOUTS[name]
    except KeyError:
        raise ValueError(f"unknown readout {name!r}; choose from {sorted(READOUTS)}") from None
    return cls(steps, channels)


def make_head(name: str, in_features: int, n_classes: int) -> PixelMLP:
    """A per-pixel head by name: "mlp256" or "mlp32x5".

    Examples
    --------
    >>> import torch
    >>> from wavescope.training.models import make_head
    >>> head = make_head("mlp32x5", in_features=4, n_classes=6)
    >>> print(type(head).__name__)
    PixelMLP
    """
    try:
        hidden = HEADS[name]
    except KeyError:
        raise ValueError(f"unknown head {name!r}; choose from {sorted(HEADS)}") from None
    return PixelMLP(in_features, hidden, n_classes)


def readout_head(seq: torch.Tensor, readout: nn.Module, head: PixelMLP) -> torch.Tensor:
    """Logits (B, n, H, W) of ``head(readout(seq))`` for a state sequence (B, T, C, H, W).

    For the ``linear`` readout the readout matrix L (K, T) and the first head layer
    W1 (F1, C·K) are two linear maps in a row. Per pixel they cost C·K·(T + F1)
    multiplications as written, and T·C·F1 composed into one (F1, T·C) matrix; the cheaper
    form is used. Both compute the same function, gradients reach L and W1 either way, and
    neither builds a (B, C·K, H, W) feature tensor: the readout runs inside the head's
    pixel blocks.

    Examples
    --------
    >>> import torch
    >>> from wavescope.training.models import make_head, make_readout, readout_head
    >>> readout = make_readout("mean", steps=10, channels=2)
    >>> head = make_head("mlp256", in_features=2, n_classes=6)
    >>> print(tuple(readout_head(torch.zeros(3, 10, 2, 8, 8), readout, head).shape))
    (3, 6, 8, 8)
    """
    if not isinstance(readout, LinearReadout):
        return head(readout(seq))
    _check_sequence(seq, readout.steps)
    b, t, c, h, w = seq.shape
    k = readout.n_freq
    weights = [layer.weight for layer in head.layers]
    biases = [layer.bias for layer in head.layers]
    flat = seq.reshape(b, t * c, h * w)
    f1 = weights[0].shape[0]
    if t * f1 < k * (t + f1):
        # M[f, t, c] = sum_k W1[f, c·K + k] L[k, t], flattened to match seq's (t, c) rows.
        composed = torch.matmul(weights[0].reshape(f1, c, k), readout.linear.weight)
        weights[0] = composed.transpose(1, 2).reshape(f1, t * c)
        out = pixel_mlp(flat, weights, biases, chunk=head.chunk)
    else:
        out = pixel_mlp(flat, weights, biases, readout=readout.linear.weight, channels=c,
                        chunk=head.chunk)
    return out.reshape(b, -1, h, w)
