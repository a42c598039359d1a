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
``linear`` and ``fft`` readouts inside those blocks, so the (B, K·C, H, W) feature tensor is
never built.
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
    "dft_matrix",
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
              channels: int = 1, chunk: int = 1024, spectrum: bool = False) -> torch.Tensor:
    """A per-pixel MLP on x (B, F0, P) giving (B, n, P), evaluated in blocks of pixels.

    With ``readout`` (R, T) given, x is a state sequence (B, T·C, P) (``channels`` = C) and
    the MLP's input is a readout of each pixel's time series: feature c·R + r is
    sum_t readout[r, t] · x[t·C + c] (the ``linear`` readout, R = K). With ``spectrum``,
    ``readout`` must be :func:`dft_matrix` (T, T) and the features are the magnitudes of the
    real DFT it computes, c·K + k (the ``fft`` readout; no gradient reaches ``readout``).

    The layers run block by block (``chunk`` pixels of one image at a time) so each block's
    activations stay in cache across layers, and no (pixels × features) temporary is ever
    allocated; only the post-ReLU activations are kept for the backward pass, except those
    of the first layer where that layer is cheap (at most half the multiplications of the
    others): the backward recomputes them in its blocks instead.

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
    if spectrum and (readout is None or readout.shape[0] != readout.shape[1]):
        raise ValueError("spectrum=True needs readout=dft_matrix(T)")
    if torch.is_autocast_enabled(x.device.type):  # its out= buffers take one dtype: float32
        with torch.autocast(x.device.type, enabled=False):
            return pixel_mlp(x.float(), [w.float() for w in weights],
                             [b.float() for b in biases],
                             None if readout is None else readout.float(), channels, chunk,
                             spectrum)
    return _PixelMLP.apply(x, readout, int(channels), int(chunk), bool(spectrum),
                           len(weights), *weights, *biases)


def dft_matrix(steps: int, like: torch.Tensor) -> torch.Tensor:
    """The real DFT over ``steps`` samples as a (T, T) matrix with ``like``'s dtype/device.

    Rows 0 … K−1 (K = T // 2 + 1) are cos(2πkt/T), the real parts of rFFT bins 0 … K−1;
    rows K … T−1 are sin(2πkt/T) for k = 1 … (T−1) // 2 (minus the imaginary parts; bin 0
    and an even T's Nyquist bin have none).

    Examples
    --------
    >>> import torch
    >>> from wavescope.training.models.readouts import dft_matrix
    >>> y = torch.randn(8, dtype=torch.float64)
    >>> d = dft_matrix(8, y) @ y
    >>> spec = torch.fft.rfft(y)
    >>> print(torch.allclose(d[:5], spec.real), torch.allclose(d[5:], -spec.imag[1:4]))
    True True
    """
    k_cos = torch.arange(steps // 2 + 1, dtype=torch.float64)
    k_sin = torch.arange(1, (steps - 1) // 2 + 1, dtype=torch.float64)
    t = torch.arange(steps, dtype=torch.float64)
    # (k·t) mod T first: the angles stay exact for any T
    angle = lambda k: (2 * torch.pi / steps) * torch.remainder(k[:, None] * t, steps)  # noqa: E731
    mat = torch.cat([torch.cos(angle(k_cos)), torch.sin(angle(k_sin))])
    return mat.to(dtype=like.dtype, device=like.device)


def _blocks(batch: int, pixels: int, chunk: int):
    for b in range(batch):
        for p0 in range(0, pixels, chunk):
            yield b, p0, min(p0 + chunk, pixels)


def _view(flat: torch.Tensor, rows: int, cols: int, offset: int = 0) -> torch.Tensor:
    """A contiguous (rows, cols) matrix inside a flat buffer."""
    return flat[offset:offset + rows * cols].view(rows, cols)


class _Features:
    """The first layer's input for block (b, p0:p1), in buffers reused from block to block:
    x's own rows, a linear readout (C·R rows) or DFT magnitudes (C·K rows, the transform's
    C·T rows kept beside them for the backward)."""

    def __init__(self, x, readout, channels, spectrum, chunk):
        self.x, self.readout, self.channels, self.spectrum = x, readout, channels, spectrum
        m = min(chunk, x.shape[2])
        if readout is None:
            return
        rows = readout.shape[0]
        self.n_freq = rows // 2 + 1 if spectrum else rows
        self.lin = x.new_empty(rows * channels * m)
        self.mag = x.new_empty(self.n_freq * channels * m) if spectrum else None

    def __call__(self, b, p0, p1):
        if self.readout is None:
            return self.x[b, :, p0:p1]
        m, rows, c_n = p1 - p0, self.readout.shape[0], self.channels
        seq = self.x[b].view(self.readout.shape[1], c_n, -1)
        lin = _view(self.lin, rows * c_n, m)
        for c in range(c_n):
            torch.mm(self.readout, seq[:, c, p0:p1], out=lin[c * rows:(c + 1) * rows])
        if not self.spectrum:
            return lin
        k, n_sin = self.n_freq, rows - self.n_freq
        mag = _view(self.mag, k * c_n, m)
        for c in range(c_n):
            re, im = lin[c * rows:c * rows + k], lin[c * rows + k:(c + 1) * rows]
            out = torch.mul(re, re, out=mag[c * k:(c + 1) * k])
            out[1:1 + n_sin].addcmul_(im, im)
        return mag.sqrt_()

    def backward(self, g_feat, g_x, b, p0, p1):
        """Write the gradient of x's block into ``g_x``, given the features' ``g_feat``;
        :meth:`__call__` of the same block must have run last."""
        readout, c_n = self.readout, self.channels
        if readout is None:
            g_x[b, :, p0:p1] = g_feat
            return
        rows, m = readout.shape[0], p1 - p0
        g_seq = g_x[b].view(readout.shape[1], c_n, -1)
        if self.spectrum:  # d|X_k| = (re dre + im dim) / |X_k|, and 0 where |X_k| = 0
            k, n_sin = self.n_freq, rows - self.n_freq
            mag = _view(self.mag, k * c_n, m)
            ratio = g_feat.div_(mag).masked_fill_(mag == 0, 0.0)
            lin = _view(self.lin, rows * c_n, m)
            for c in range(c_n):
                r = ratio[c * k:(c + 1) * k]
                lin[c * rows:c * rows + k].mul_(r)
                lin[c * rows + k:(c + 1) * rows].mul_(r[1:1 + n_sin])
            g_feat = lin
        for c in range(c_n):
            torch.mm(readout.t(), g_feat[c * rows:(c + 1) * rows], out=g_seq[:, c, p0:p1])


class _PixelMLP(torch.autograd.Function):
    """Blocked per-pixel MLP. Every matrix product writes into a contiguous block of a
    preallocated buffer (a strided destination would cost a copy, and a fresh allocation
    per block costs page faults), so the only large allocations are the kept activations."""

    @staticmethod
    def forward(ctx, x, readout, channels, chunk, spectrum, n_layers, *params):
        weights, biases = params[:n_layers], params[n_layers:]
        batch, _, pixels = x.shape
        # The first layer's activations are recomputed in the backward where that is cheap.
        macs = [w.shape[0] * w.shape[1] for w in weights]
        recompute = n_layers > 1 and 2 * macs[0] <= sum(macs[1:])
        # Activations stored block after block in one buffer of B + 1 slots, image b's in slot
        # b + 1: block (b, p0:p1) of a layer is one contiguous matrix. The backward writes the
        # gradient of image b's input into slot b, whose activations (image b − 1's) it has
        # used already, so that gradient takes no memory of its own.
        # Without any gradient to compute (inference) one block's activations are kept.
        keep = any(ctx.needs_input_grad)
        m_max = min(chunk, pixels)
        span = pixels if keep else m_max
        widths = [w.shape[0] for w in weights[recompute:-1]]
        slot = max(sum(widths), x.shape[1] if ctx.needs_input_grad[0] else 0) * span
        store = x.new_empty((batch * keep + 1) * slot)
        acts = [[store[(b + 1) * keep * slot + sum(widths[:i]) * span:][:width * span]
                 for b in range(batch)] for i, width in enumerate(widths)]
        out = x.new_empty(batch, weights[-1].shape[0], pixels)
        features = _Features(x, readout, channels, spectrum, chunk)
        first = x.new_empty(weights[0].shape[0] * m_max) if recompute else None
        logits = x.new_empty(weights[-1].shape[0] * m_max)
        for b, p0, p1 in _blocks(batch, pixels, chunk):
            m = p1 - p0
            h = features(b, p0, p1)
            for i, (w, bias) in enumerate(zip(weights, biases, strict=True)):
                if i == n_layers - 1:
                    dest = _view(logits, w.shape[0], m)
                elif i == 0 and recompute:
                    dest = _view(first, w.shape[0], m)
                else:
                    dest = _view(acts[i - recompute][b], w.shape[0], m,
                                 w.shape[0] * p0 * keep)
                # (mm, then the bias in cache: addmm would first copy the bias into dest)
                h = torch.mm(w, h, out=dest).add_(bias[:, None])
                if i < n_layers - 1:
                    h.relu_()
            out[b, :, p0:p1] = h
        ctx.channels, ctx.chunk, ctx.spectrum = channels, chunk, spectrum
        ctx.n_layers, ctx.recompute, ctx.slot = n_layers, recompute, slot
        ctx.save_for_backward(x, readout, *weights, *biases, store)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        if getattr(ctx, "done", False):
            raise RuntimeError("pixel_mlp's backward runs once per forward (it writes its "
                               "input's gradient over the activations it kept): run the "
                               "forward again instead of retain_graph=True")
        ctx.done = True
        n_layers, recompute = ctx.n_layers, ctx.recompute
        x, readout, *rest = ctx.saved_tensors
        weights, biases, store = rest[:n_layers], rest[n_layers:2 * n_layers], rest[-1]
        batch, f_in, pixels = x.shape
        slot = ctx.slot
        widths = [w.shape[0] for w in weights[recompute:-1]]
        g_weights = [torch.zeros_like(w) for w in weights]
        g_biases = [w.new_zeros(w.shape[0]) for w in weights]
        need_x = ctx.needs_input_grad[0]
        # (B, F0, P) in slots 0 … B−1 of the activations' buffer (see the forward)
        g_x = store.as_strided((batch, f_in, pixels), (slot, pixels, 1)) if need_x else None
        learn_readout = readout is not None and not ctx.spectrum
        g_readout = torch.zeros_like(readout) if learn_readout else None
        cs = min(ctx.chunk, pixels)
        widest = max(w.shape[1] for w in weights)
        ping, pong = x.new_empty(widest * cs), x.new_empty(widest * cs)
        features = _Features(x, readout, ctx.channels, ctx.spectrum, ctx.chunk)
        first = x.new_empty(weights[0].shape[0] * cs) if recompute else None
        for b, p0, p1 in _blocks(batch, pixels, ctx.chunk):
            m = p1 - p0
            h = features(b, p0, p1)
            if recompute:  # the forward's first layer, again
                a_first = torch.mm(weights[0], h, out=_view(first, weights[0].shape[0], m))
                a_first.add_(biases[0][:, None]).relu_()
            g = grad_out[b, :, p0:p1]
            for i in range(n_layers - 1, 0, -1):
                rows = weights[i].shape[1]
                layer = i - 1 - recompute  # its place in the image's slot
                a = a_first if layer < 0 else _view(
                    store, rows, m, (b + 1) * slot + sum(widths[:layer]) * pixels + rows * p0)
                g_weights[i].addmm_(g, a.t())
                g_biases[i].add_(g.sum(dim=1))
                g_in = torch.mm(weights[i].t(), g, out=_view(ping, rows, m))
                # g lives in pong, the next product in ping: never the buffer being read.
                g = torch.ops.aten.threshold_backward.grad_input(
                    g_in, a, 0.0, grad_input=_view(pong, rows, m))
            g_weights[0].addmm_(g, h.t())
            g_biases[0].add_(g.sum(dim=1))
            if not (need_x or learn_readout):
                continue
            g_h = torch.mm(weights[0].t(), g, out=_view(ping, weights[0].shape[1], m))
            if learn_readout:
                k, seq = readout.shape[0], x[b].view(readout.shape[1], ctx.channels, -1)
                for c in range(ctx.channels):
                    g_readout.addmm_(g_h[c * k:(c + 1) * k], seq[:, c, p0:p1].t())
            if need_x:
                features.backward(g_h, g_x, b, p0, p1)
        return (g_x, g_readout, None, None, None, None, *g_weights, *g_biases)


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
    pixel blocks. So does the ``fft`` readout, as a product with the real DFT matrix (T², not
    T log T, multiplications per pixel, but with a matrix product's speed, no strided FFT
    over time and no spectrum kept) followed by the magnitudes.

    Examples
    --------
    >>> import torch
    >>> from wavescope.training.models import make_head, make_readout, readout_head
    >>> readout = make_readout("mean", steps=10, channels=2)
    >>> head = make_head("mlp256", in_features=2, n_classes=6)
    >>> print(tuple(readout_head(torch.zeros(3, 10, 2, 8, 8), readout, head).shape))
    (3, 6, 8, 8)
    """
    if not isinstance(readout, (LinearReadout, FFTReadout)):
        return head(readout(seq))
    _check_sequence(seq, readout.steps)
    b, t, c, h, w = seq.shape
    weights = [layer.weight for layer in head.layers]
    biases = [layer.bias for layer in head.layers]
    flat = seq.reshape(b, t * c, h * w)
    if isinstance(readout, FFTReadout):
        out = pixel_mlp(flat, weights, biases, readout=dft_matrix(t, seq), channels=c,
                        chunk=head.chunk, spectrum=True)
        return out.reshape(b, -1, h, w)
    k = readout.n_freq
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
