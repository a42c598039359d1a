"""Torch twins of the hot analysis kernels, selected with ``device=`` (private).

Each public function that takes ``device`` (:func:`~wavescope.analysis.analytic_signal`,
:func:`~wavescope.analysis.phase_gradient`, :func:`~wavescope.analysis.pgd`,
:func:`~wavescope.analysis.fit_plane_wave`, :func:`~wavescope.analysis.optical_flow`,
:func:`~wavescope.analysis.surrogates`) keeps its NumPy kernel for ``device=None`` and
otherwise calls the twin here, which does the same arithmetic in torch on that device,
block by block of frames (or sites, or surrogates): a block is copied to the device,
computed there, and its result copied back as NumPy. Inputs and outputs stay xarray with
the same coordinates and attributes. The NumPy side's set-up is reused (filter responses,
stencils, search lattices, and the random draws, so that a seed gives the same surrogates on
every device), and so are the plane fit's statistics, which ``PlaneFitter.fit`` computes
from the wave vectors the device search returns.

Precision follows the NumPy kernels (float64, or float32 where they use float32: complex64
inputs, the Horn–Schunck iterations at ``tol >= 1e-5``); on CPU the results equal
NumPy's within 1e-6 relative (``tests/analysis/test_torch_path.py``). Apple ``mps`` has
no float64, so there everything runs in float32 (about 1e-5 relative).

The band-pass of the analytic signal is NumPy's zero-phase Butterworth
(:func:`scipy.signal.sosfiltfilt`) written as two FFT convolutions: a recursive filter is
linear, so each pass over the odd-extended series is its convolution with the filter's
impulse response plus the response of the initial state (``sosfilt_zi`` times the first
sample), both computed once by SciPy for the padded length, which makes the FFT
products exact rather than truncated.

torch is imported inside the functions only: it is an optional dependency
(``pip install "wavescope[training]"``).
"""

from __future__ import annotations

import functools

import numpy as np

from ..core import DataModelError
from ._common import (
    HS_FLOAT32_TOL,
    frame_means,
    hs_neighbour_sum,
    parabolic_offset,
    phase_derivatives,
)

#: Bytes of working data per block on the CPU: the temporaries stay near the cache.
_CPU_BLOCK_BYTES = 1 << 24
#: Share of the free accelerator memory one block's working data may take.
_GPU_FRACTION = 0.125
_DEVICE_TYPES = ("cpu", "cuda", "mps")


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError(
            "device= runs the torch path of the analysis, which needs torch: "
            "pip install 'wavescope[training]' (or pass device=None for NumPy)") from None
    return torch


def resolve(device):
    """``device`` as a :class:`torch.device`, or None for the NumPy path.

    Raises
    ------
    ValueError
        A device string torch does not know, a kind other than cpu/cuda/mps, or a
        device this machine does not have.
    ImportError
        torch is not installed.
    """
    if device is None:
        return None
    torch = _torch()
    if not isinstance(device, str | torch.device):
        raise ValueError(f"device must be None, 'cpu', 'cuda', 'cuda:N' or 'mps'; got {device!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(
            f"device {device!r} is not a device name; use None (NumPy), 'cpu', 'cuda', "
            "'cuda:N' or 'mps'") from None
    if dev.type not in _DEVICE_TYPES:
        raise ValueError(f"device {device!r}: only None, 'cpu', 'cuda' and 'mps' are supported")
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device {device!r} is not available: torch sees no CUDA GPU "
                             "here; use device='cpu' or None")
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"device {device!r} is not available: torch sees {count} CUDA "
                             f"GPU(s), numbered 0 to {count - 1}")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None)
                                  and torch.backends.mps.is_available()):
        raise ValueError(f"device {device!r} is not available: torch sees no Apple MPS "
                         "device here; use device='cpu' or None")
    return dev


def twin(numpy_kernel, device):
    """``numpy_kernel`` for ``device=None``, else its torch twin bound to the device."""
    dev = resolve(device)
    if dev is None:
        return numpy_kernel
    return functools.partial(_TWINS[numpy_kernel.__name__], device=dev)


def _real(np_dtype, dev):
    """The torch real dtype matching a NumPy one (float32 stays float32; mps: float32)."""
    torch = _torch()
    single = np.dtype(np_dtype) in (np.float32, np.complex64) or dev.type == "mps"
    return torch.float32 if single else torch.float64


def _complex(real):
    torch = _torch()
    return torch.complex64 if real == torch.float32 else torch.complex128


def _block(dev, bytes_per_item: int, cpu_bytes: int = _CPU_BLOCK_BYTES) -> int:
    """Items (frames, rows, surrogates) per block whose working data take ``bytes_per_item``
    each: a cache-sized block on the CPU, a share of the free memory on an accelerator."""
    torch = _torch()
    budget = cpu_bytes
    if dev.type == "cuda":
        budget = int(_GPU_FRACTION * torch.cuda.mem_get_info(dev)[0])
    elif dev.type == "mps":
        budget = 1 << 28
    return max(1, budget // max(1, int(bytes_per_item)))


def _to(a: np.ndarray, dev, dtype=None):
    """A NumPy array on the device (as float32 / complex64 on mps, which lacks float64)."""
    torch = _torch()
    t = torch.from_numpy(np.ascontiguousarray(a))
    if dtype is None and dev.type == "mps" and t.dtype in (torch.float64, torch.complex128):
        dtype = torch.float32 if t.dtype == torch.float64 else torch.complex64
    return t.to(device=dev, dtype=dtype) if dtype is not None else t.to(dev)


def _double(dev):
    """float64, or float32 on mps."""
    torch = _torch()
    return torch.float32 if dev.type == "mps" else torch.float64


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def _wrap(d):
    """Wrap angles to [-pi, pi] as :func:`wavescope.analysis._circular.wrap` does."""
    torch = _torch()
    two_pi = 2.0 * np.pi
    return d - torch.round(d * (1.0 / two_pi)) * two_pi


def _angle(z):
    """Angle of complex ``z``, NaN at an exact zero (as ``_circular.angle``)."""
    torch = _torch()
    out = torch.atan2(z.imag, z.real)
    return torch.where(z == 0, torch.nan, out)


# --- analytic signal ------------------------------------------------------------------------


class _Filtfilt:
    """:func:`scipy.signal.sosfiltfilt` (odd padding, ``sosfilt_zi`` start) as two exact
    FFT convolutions over rows of a fixed length."""

    def __init__(self, sos, n: int, dev, dtype):
        from scipy import fft as sfft
        from scipy import signal

        torch = _torch()
        ntaps = 2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
        self.edge = 3 * ntaps
        if n <= self.edge:
            raise DataModelError(
                f"the recording is too short for this filter (the length of the input "
                f"vector x must be greater than padlen, which is {self.edge}); use a lower "
                "order, a wider band or a longer recording")
        m = n + 2 * self.edge
        impulse = np.zeros(m)
        impulse[0] = 1.0
        h = signal.sosfilt(sos, impulse)
        start, _ = signal.sosfilt(sos, np.zeros(m), zi=signal.sosfilt_zi(sos))
        self.m = m
        self.size = sfft.next_fast_len(2 * m - 1, real=True)  # linear, not circular
        self.spectrum = torch.fft.rfft(_to(h, dev, dtype), self.size)
        self.start = _to(start, dev, dtype)

    def _pass(self, x):
        torch = _torch()
        y = torch.fft.irfft(torch.fft.rfft(x, self.size) * self.spectrum, self.size)
        return y[:, : self.m] + x[:, :1] * self.start

    def __call__(self, x):
        e = self.edge
        ext = _torch().cat([2 * x[:, :1] - x[:, 1:e + 1].flip(1), x,
                            2 * x[:, -1:] - x[:, -e - 1:-1].flip(1)], dim=1)  # odd_ext
        y = self._pass(ext).flip(1)
        return self._pass(y).flip(1)[:, e:-e]


def _hilbert(x):
    """:func:`scipy.signal.hilbert` along the last axis: the one-sided spectrum doubled."""
    torch = _torch()
    n = x.shape[-1]
    spec = torch.fft.rfft(x)
    gain = torch.full((spec.shape[-1],), 2.0, dtype=x.dtype, device=x.device)
    gain[0] = 1.0
    if n % 2 == 0:
        gain[-1] = 1.0
    full = torch.zeros((*x.shape[:-1], n), dtype=spec.dtype, device=x.device)
    full[..., : spec.shape[-1]] = spec * gain
    return torch.fft.ifft(full)


def _analytic_core(x, *, sos, generalized, min_run, taper=(0, 0), device):
    """Twin of ``analytic._analytic_core``: gaps and flat runs are found and bridged by the
    NumPy code (a pass over the block), the band-pass and Hilbert transform run on the
    device; the generalized phase's PCHIP bridging stays NumPy."""
    from ._series import generalized_phase, prepare_rows

    torch = _torch()
    shape = x.shape
    n = shape[-1]
    flat = x.reshape(-1, n)
    ctype = np.complex64 if x.dtype == np.float32 else np.complex128
    out = np.empty(flat.shape[::-1], dtype=ctype).T  # frame-ordered, as the NumPy kernel
    dtype = torch.float32 if device.type == "mps" else torch.float64
    filt = None if sos is None else _Filtfilt(sos, n, device, dtype)
    step = _block(device, 64 * (n + 2 * (filt.edge if filt else 0)))
    for start in range(0, flat.shape[0], step):
        block, missing = prepare_rows(np.array(flat[start:start + step], dtype=float), min_run)
        t = _to(block, device, dtype)
        if filt is not None:
            t = filt(t)
        for k, ramp_end in zip(taper, (False, True), strict=True):
            if k:  # half Hann ramps over a chunk's pads (phase module docstring)
                ramp = 0.5 - 0.5 * torch.cos(torch.pi * torch.arange(
                    k, dtype=dtype, device=device) / k)
                if ramp_end:
                    t[:, n - k:] *= ramp.flip(0)
                else:
                    t[:, :k] *= ramp
        z = _np(_hilbert(t))
        if generalized:
            z = generalized_phase(z)
        z[missing] = np.nan
        out[start:start + step] = z
    return out.reshape(shape)


# --- phase gradient and PGD -----------------------------------------------------------------


def _phases(block: np.ndarray, dev):
    """Phase of a block on the device (angle of complex data, else the data as float)."""
    real = _real(block.dtype, dev)
    t = _to(block, dev)
    return _angle(t).to(real) if t.is_complex() else t.to(real)


def _axis_derivative(f, axis: int, coord: np.ndarray, periodic: bool):
    """Twin of ``_geometry.axis_derivative`` for phases, same operations in the same order."""
    torch = _torch()
    n = f.shape[axis]
    if n < 2:
        return torch.zeros_like(f)
    d = _wrap(torch.diff(f, dim=axis))
    h = np.diff(coord)
    shape = [1] * f.ndim
    shape[axis] = n - 1
    uniform = bool(np.allclose(h, h[0], rtol=1e-9, atol=0.0))
    if uniform:
        d = d * (1.0 / h[0])
    else:
        d = d / _to(h, f.device, f.dtype).reshape(shape)
    if periodic:
        last = _wrap(f.narrow(axis, 0, 1) - f.narrow(axis, n - 1, 1))
        h_wrap = float(np.mean(h))
        last = last / h_wrap
        d = torch.cat([last, d, last], dim=axis)
        h = np.concatenate([[h_wrap], h, [h_wrap]])
    m = d.shape[axis] - 1
    plus, minus = d.narrow(axis, 1, m), d.narrow(axis, 0, m)
    if uniform:
        inner = (plus + minus) * 0.5
    else:
        shape[axis] = m
        hm = _to(h[:-1], f.device, f.dtype).reshape(shape)
        hp = _to(h[1:], f.device, f.dtype).reshape(shape)
        inner = (hm * plus + hp * minus) / (hm + hp)
    inner = torch.where(torch.isnan(inner), torch.fmax(plus, minus), inner)
    if periodic:
        return inner
    return torch.cat([d.narrow(axis, 0, 1), inner, d.narrow(axis, n - 2, 1)], dim=axis)


def _stencil_derivative(f, st):
    """Twin of ``_geometry.stencil_derivative`` (phases), f: (frames, n_sites)."""
    torch = _torch()
    dev, dt = f.device, f.dtype
    nbr = _to(st.nbr, dev)
    d = _wrap(f[:, nbr] - f[:, :, None])
    finite = torch.isfinite(d)
    if bool(finite.all()):
        pinv = _to(st.pinv, dev, dt)
        gx = torch.einsum("bnk,nk->bn", d, pinv[..., 0])
        gy = torch.einsum("bnk,nk->bn", d, pinv[..., 1])
    else:
        d = torch.where(finite, d, 0.0)
        a = torch.einsum("bnk,nkc->bnc", finite.to(dt), _to(st.wdd, dev, dt))
        b = torch.einsum("bnk,nkc->bnc", d, _to(st.wd, dev, dt))
        det = a[..., 0] * a[..., 2] - a[..., 1] ** 2
        good = det > 1e-8 * (a[..., 0] + a[..., 2]) ** 2
        det = torch.where(good, det, torch.nan)
        gx = (a[..., 2] * b[..., 0] - a[..., 1] * b[..., 1]) / det
        gy = (a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]) / det
    bad = ~_to(st.ok, dev)[None, :] | torch.isnan(f)
    return torch.where(bad, torch.nan, gx), torch.where(bad, torch.nan, gy)


def _derivative(phi, geom, rows_per_stencil: int):
    """Twin of ``_geometry.derivative`` for phases, ``phi`` (frames, *geom.shape).

    On irregular positions the NumPy kernels build one stencil per block of
    ``rows_per_stencil`` frames, over the sites holding data somewhere in it; the same
    blocks are used here (runs of blocks with the same live sites share one solve)."""
    torch = _torch()
    if geom.kind == "irregular":
        gx, gy = torch.empty_like(phi), torch.empty_like(phi)
        starts = list(range(0, phi.shape[0], rows_per_stencil))
        alive = [~torch.isnan(phi[s:s + rows_per_stencil]).all(dim=0) for s in starts]
        alive = _np(torch.stack(alive)) if alive else np.zeros((0, geom.n_sites), bool)
        i = 0
        while i < len(starts):
            j = i + 1
            while j < len(starts) and np.array_equal(alive[j], alive[i]):
                j += 1
            sl = slice(starts[i], starts[j] if j < len(starts) else phi.shape[0])
            gx[sl], gy[sl] = _stencil_derivative(phi[sl], geom.stencil(alive[i]))
            i = j
        return gx, gy
    gx = _axis_derivative(phi, -1, geom.x, geom.periodic)
    if geom.kind == "line":
        return gx, torch.where(torch.isnan(gx), torch.nan, torch.zeros_like(gx))
    gy = _axis_derivative(phi, -2, geom.y, geom.periodic)
    missing = torch.isnan(gx) | torch.isnan(gy)  # a gradient is whole or missing
    return torch.where(missing, torch.nan, gx), torch.where(missing, torch.nan, gy)


def _frames(z: np.ndarray, geom):
    """(frames, *space) view of a kernel input, the lead shape, and NumPy's stencil block."""
    from ._common import BLOCK_VALUES

    lead = z.shape[: z.ndim - len(geom.shape)]
    flat = z.reshape(-1, *geom.shape)
    return flat, lead, max(1, BLOCK_VALUES // geom.n_sites)


def _device_frames(n_frames: int, per_frame_bytes: int, dev, rows_per_stencil: int):
    """Blocks of frames for the device, whole multiples of the NumPy stencil block."""
    step = _block(dev, per_frame_bytes)
    step = max(rows_per_stencil, step // rows_per_stencil * rows_per_stencil)
    for start in range(0, n_frames, step):
        yield slice(start, min(start + step, n_frames))


def _gradient_kernel(z: np.ndarray, *, geom, device):
    """Twin of ``gradient._gradient_kernel``: (..., *space) -> dphi/dx, dphi/dy."""
    flat, lead, rows = _frames(z, geom)
    dtype = np.float32 if z.dtype in (np.complex64, np.float32) else np.float64
    gx = np.empty(flat.shape, dtype=dtype)
    gy = np.empty(flat.shape, dtype=dtype)
    for sl in _device_frames(flat.shape[0], 96 * geom.n_sites, device, rows):
        bx, by = _derivative(_phases(flat[sl], device), geom, rows)
        gx[sl], gy[sl] = _np(bx), _np(by)
    return gx.reshape(*lead, *geom.shape), gy.reshape(*lead, *geom.shape)


def _means(gx, gy, unit: bool):
    """``waves._means`` on device tensors: per frame mean gx, gy, |g| and unit vector."""
    torch = _torch()
    gx, gy = gx.reshape(gx.shape[0], -1), gy.reshape(gy.shape[0], -1)
    out = torch.full((5, gx.shape[0]), torch.nan, dtype=_double(gx.device), device=gx.device)
    return frame_means(gx, gy, unit, out, xp=torch)


def _stats_kernel(z: np.ndarray, *, geom, unit: bool, device):
    """Twin of ``waves._stats_kernel``: per frame mean gradient, |gradient|, unit vector."""
    flat, lead, rows = _frames(z, geom)
    out = np.empty((5, flat.shape[0]))
    for sl in _device_frames(flat.shape[0], 96 * geom.n_sites, device, rows):
        gx, gy = _derivative(_phases(flat[sl], device), geom, rows)
        out[:, sl] = _np(_means(gx, gy, unit))
    return tuple(o.reshape(lead) for o in out)


# --- plane-wave fit -------------------------------------------------------------------------


class _PlaneFit:
    """The device copy of a :class:`~wavescope.analysis._planefit.PlaneFitter`'s search:
    :meth:`search` is its coarse search and safeguarded Newton refinement (``_coarse``,
    ``_refine``), the same steps, all frames of a block at once."""

    def __init__(self, fitter, dev, real):
        torch = _torch()
        self.f, self.dev, self.real, self.cplx = fitter, dev, real, _complex(real)
        self.moments = _to(fitter.moments, dev, real)
        geom = fitter.geom
        if geom.kind == "irregular":
            self.rc = _to(fitter.rc, dev, real)
        else:
            self.xs = _to(fitter.xs, dev, real)
            self.ys = None if fitter.ys is None else _to(fitter.ys, dev, real)
        if fitter.fft:
            self.ax = _to(fitter.ax, dev, real)
            if geom.y is not None:
                self.ay = _to(fitter.ay, dev, real)
                self.outside = None
                if fitter.k_max is not None:
                    self.outside = (self.ay[:, None] ** 2 + self.ax[None, :] ** 2
                                    ) > fitter.k_max**2
        else:
            self.basis = _to(fitter.basis, dev, self.cplx)
            self.cand = _to(fitter.cand, dev, real)
            self.nbrs = _to(fitter.lattice_nbrs, dev)
        self.torch = torch

    def _phase_factors(self, k):
        """exp(-i k . (r - centre)), (m, n_sites)."""
        torch = self.torch
        if self.f.geom.kind == "irregular":
            return torch.polar(torch.ones((), dtype=self.real, device=self.dev),
                               -(k @ self.rc.T))
        one = torch.ones((), dtype=self.real, device=self.dev)
        ex = torch.polar(one, -torch.outer(k[:, 0], self.xs))
        if self.ys is None:
            return ex
        ey = torch.polar(one, -torch.outer(k[:, 1], self.ys))
        return (ey[:, :, None] * ex[:, None, :]).reshape(len(k), -1)

    @staticmethod
    def _vertex(left, mid, right):
        torch = _torch()
        return parabolic_offset(torch.log(left), torch.log(mid), torch.log(right), xp=torch)

    def _coarse(self, u):
        torch, f = self.torch, self.f
        frames = torch.arange(len(u), device=self.dev)
        if f.fft and f.geom.y is None:
            spec = torch.fft.fft(u, n=f.px, dim=-1)
            power = spec.real**2 + spec.imag**2
            ix = torch.argmax(power, dim=-1)
            dx = self._vertex(power[frames, (ix - 1) % f.px], power[frames, ix],
                              power[frames, (ix + 1) % f.px])
            return torch.stack([self.ax[ix] + dx * f.dax, torch.zeros_like(dx)], dim=1)
        if f.fft:
            g = f.geom
            grid = u.reshape(-1, g.y.size, g.x.size)
            spec = torch.fft.fft(torch.fft.fft(grid, n=f.px, dim=-1), n=f.py, dim=-2)
            power = spec.real**2 + spec.imag**2
            if self.outside is not None:
                power[:, self.outside] = -1.0
            best = torch.argmax(power.reshape(len(u), -1), dim=-1)
            iy, ix = best // f.px, best % f.px
            mid = power[frames, iy, ix]
            dx = self._vertex(power[frames, iy, (ix - 1) % f.px], mid,
                              power[frames, iy, (ix + 1) % f.px])
            dy = self._vertex(power[frames, (iy - 1) % f.py, ix], mid,
                              power[frames, (iy + 1) % f.py, ix])
            return torch.stack([self.ax[ix] + dx * f.dax, self.ay[iy] + dy * f.day], dim=1)
        out = torch.empty((len(u), 2), dtype=self.real, device=self.dev)
        step = _block(self.dev, 48 * self.basis.shape[1], cpu_bytes=1 << 22)
        for s in range(0, len(u), step):
            spec = u[s:s + step] @ self.basis
            power = spec.real**2 + spec.imag**2
            best = torch.argmax(power, dim=-1)
            rows = torch.arange(len(best), device=self.dev)
            nbrs = self.nbrs[:, best]
            p = [power[rows, torch.clamp(nb, min=0)] for nb in nbrs]
            mid = power[rows, best]
            offset = torch.stack([self._vertex(p[0], mid, p[1]),
                                  self._vertex(p[2], mid, p[3])], dim=1)
            offset[:, 0] = torch.where((nbrs[0] < 0) | (nbrs[1] < 0), 0.0, offset[:, 0])
            offset[:, 1] = torch.where((nbrs[2] < 0) | (nbrs[3] < 0), 0.0, offset[:, 1])
            out[s:s + step] = self.cand[best] + offset * f.step
        return out

    def _refine(self, u, k):
        """``PlaneFitter._refine`` on the device (the same steps, trust radii and stopping
        rule: :func:`~wavescope.analysis._planefit.newton_ascent`)."""
        from ._planefit import newton_ascent

        torch, f = self.torch, self.f
        radius = torch.full((len(u),), f.step, dtype=self.real, device=self.dev)
        return newton_ascent(u, k.clone(), self._phase_factors, self.moments.to(self.cplx),
                             radius, torch.arange(len(u), device=self.dev), 1e-7 * f.step,
                             f.max_iter, xp=torch)

    def search(self, u: np.ndarray, _unused=None) -> tuple[np.ndarray, np.ndarray]:
        """Coarse search and Newton refinement of NumPy unit phasors ``u`` (0 at gaps):
        the wave vectors and ``c = u exp(-i k . (r - centre))``, as NumPy arrays (it
        stands in for ``PlaneFitter._refine``)."""
        t = _to(u, self.dev, self.cplx)
        k, c = self._refine(t, self._coarse(t))
        return _np(k).astype(float), _np(c).astype(complex)  # as NumPy's: float64 k


def _plane_fit_kernel(z: np.ndarray, *, fitter, device) -> tuple:
    """Twin of ``_planefit.plane_fit_kernel``: the search and the refinement run on the
    device; the fit statistics (strength, correlation, covariance, tests) are
    ``PlaneFitter.fit``'s own, run by NumPy on the wave vectors that come back."""
    import copy

    from ._planefit import FIELDS, phasors

    space = fitter.geom.shape
    lead = z.shape[: z.ndim - len(space)]
    flat = z.reshape(-1, int(np.prod(space)))
    on_device = copy.copy(fitter)  # its search is this device's; all else is NumPy's
    search = _PlaneFit(fitter, device, _double(device)).search
    on_device._coarse, on_device._refine = (lambda u: None), search
    out = np.empty((flat.shape[0], len(FIELDS)))
    step = _block(device, 256 * flat.shape[1])
    for s in range(0, flat.shape[0], step):
        out[s:s + step] = on_device.fit(phasors(flat[s:s + step]))
    return tuple(out[:, i].reshape(lead) for i in range(len(FIELDS)))


# --- Horn–Schunck optical flow --------------------------------------------------------------


def _gaussian_matrix(n: int, sigma: float, periodic: bool, dev, dtype):
    """(n, n) matrix of ``scipy.ndimage.gaussian_filter1d`` (truncate 3) on n samples."""
    radius = int(3.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    w = np.exp(-0.5 / (sigma * sigma) * x**2)
    w /= w.sum()
    m = np.zeros((n, n))
    rows = np.arange(n)[:, None]
    cols = rows + x[None, :]
    if periodic:
        np.add.at(m, (np.broadcast_to(rows, cols.shape), cols % n), np.broadcast_to(w, cols.shape))
    else:
        inside = (cols >= 0) & (cols < n)
        m[np.broadcast_to(rows, cols.shape)[inside], cols[inside]] = np.broadcast_to(
            w, cols.shape)[inside]
    return _to(m, dev, dtype)


def _flow_derivatives(frames, phase: bool, periodic: bool, smooth: float):
    """Twin of ``flow._derivatives`` on a (n + 1, ny, nx) device tensor."""
    torch = _torch()
    if phase:
        if smooth > 0:  # the Gaussian sum as matrix products (ndimage's, on the device)
            ny, nx = frames.shape[-2:]
            wy = _gaussian_matrix(ny, smooth, periodic, frames.device, frames.dtype)
            wx = _gaussian_matrix(nx, smooth, periodic, frames.device, frames.dtype)
        return phase_derivatives(frames, periodic, smooth, lambda p: (wy @ p) @ wx.T,
                                 xp=torch)
    gx = _central(frames, -1, periodic)
    gy = _central(frames, -2, periodic)
    gx, gy = (gx[:-1] + gx[1:]) / 2, (gy[:-1] + gy[1:]) / 2
    gt = frames[1:] - frames[:-1]
    ok = torch.isfinite(gx) & torch.isfinite(gy) & torch.isfinite(gt)
    return gx, gy, gt, ok


def _central(a, axis: int, periodic: bool):
    """Twin of ``flow._central_difference``."""
    torch = _torch()
    a = a.movedim(axis, -1)
    if periodic:
        fwd = torch.roll(a, -1, dims=-1) - a
        back = torch.roll(fwd, 1, dims=-1)
    else:
        d = torch.diff(a, dim=-1)
        gap = torch.full((*d.shape[:-1], 1), torch.nan, dtype=d.dtype, device=d.device)
        fwd, back = torch.cat([d, gap], dim=-1), torch.cat([gap, d], dim=-1)
    return ((back + fwd) / 2).movedim(-1, axis)


def _neighbour_sum(a, periodic: bool):
    """Horn–Schunck neighbour sum of (..., ny, nx): the sums of ``flow._Padded`` in the same
    order (so float32 iterates match NumPy's bit for bit)."""
    torch = _torch()
    lead = a.shape[:-2]
    flat = a.reshape(-1, 1, *a.shape[-2:])
    if periodic:
        p = torch.nn.functional.pad(flat, (1, 1, 1, 1), mode="circular")
    else:
        p = torch.nn.functional.pad(flat, (1, 1, 1, 1))
    p = p.reshape(*lead, *p.shape[-2:])
    lr = p[..., :, :-2] + p[..., :, 2:]
    corners = lr[..., :-2, :] + lr[..., 2:, :]
    x = lr[..., 1:-1, :] + (p[..., :-2, 1:-1] + p[..., 2:, 1:-1])
    return (corners + x) + x


def _horn_schunck(gx, gy, gt, alpha, max_iter: int, tol: float, periodic: bool):
    """Twin of ``flow._horn_schunck``: Jacobi iterations, each pair stopping on its own."""
    torch = _torch()
    dev = gx.device
    n, ny, nx = gx.shape
    out = torch.zeros((n, 2, ny, nx), dtype=_double(dev), device=dev)
    n_out = torch.full((n,), max_iter, dtype=torch.int64, device=dev)
    active = torch.arange(n, device=dev)
    w = _to(1.0 / hs_neighbour_sum(np.ones((1, ny, nx)), periodic), dev, gx.dtype)
    a2 = alpha**2
    denom = a2 + gx**2 + gy**2
    dtype = torch.float32 if tol >= HS_FLOAT32_TOL else torch.float64
    if dev.type == "mps":
        dtype = torch.float32
    diag = (torch.stack([a2 + gy**2, a2 + gx**2], dim=1) * (w / denom)[:, None]).to(dtype)
    off = (-gx * gy * w / denom)[:, None].to(dtype)
    const = (torch.stack([gx, gy], dim=1) * (-gt / denom)[:, None]).to(dtype)
    uv = torch.zeros(diag.shape, dtype=dtype, device=dev)
    for it in range(1, max_iter + 1):
        s = _neighbour_sum(uv, periodic)
        new = (diag * s + off * s.flip(1)) + const
        change = torch.abs(uv - new).reshape(len(new), -1).amax(dim=1)
        uv = new
        done = change < tol
        if bool(done.any()):
            idx = active[done]
            out[idx] = uv[done].to(out.dtype)
            n_out[idx] = it
            keep = ~done
            active = active[keep]
            if active.numel() == 0:
                break
            uv, diag, off, const = uv[keep], diag[keep], off[keep], const[keep]
    else:
        out[active] = uv.to(out.dtype)
    return out[:, 0], out[:, 1], n_out


def optical_flow_core(frames: np.ndarray, *, phase: bool, periodic: bool, smooth: float,
                      alpha, max_iter: int, tol: float, device, progress: bool = False):
    """The block loop of :func:`~wavescope.analysis.optical_flow` on ``device``.

    ``frames`` (lead, T, ny, nx): unit phasors (phase) or scaled amplitudes. Returns u, v
    (grid steps per frame), valid, n_iter and alpha per pair, as the NumPy loop."""
    from tqdm.auto import tqdm

    torch = _torch()
    dev = resolve(device)
    n_lead, n_t, ny, nx = frames.shape
    n_pairs = n_t - 1
    u = np.empty((n_lead, n_pairs, ny, nx))
    v = np.empty_like(u)
    valid = np.empty(u.shape, dtype=bool)
    n_iter = np.empty(u.shape[:2], dtype=np.int64)
    alphas = np.empty(u.shape[:2])
    real = _real(frames.dtype, dev)
    step = _block(dev, 200 * ny * nx)
    blocks = [(i, s) for i in range(n_lead) for s in range(0, n_pairs, step)]
    for i, start in tqdm(blocks, disable=not progress, desc="optical flow", unit="block"):
        stop = min(start + step, n_pairs)
        f = _to(frames[i, start:stop + 1], dev)
        f = f.to(_complex(real) if f.is_complex() else real)
        gx, gy, gt, ok = _flow_derivatives(f, phase, periodic, smooth)
        gx, gy, gt = (torch.where(ok, g, 0.0) for g in (gx, gy, gt))
        if alpha == "auto":
            count = ok.reshape(len(ok), -1).sum(dim=1)
            power = ((gx**2 + gy**2) * ok).reshape(len(ok), -1).sum(dim=1)
            rms = torch.where(count > 0, torch.sqrt(power / count.clamp(min=1)), 0.0)
            a = torch.where(rms > 0, rms, 1.0)
        else:
            a = torch.full((len(gx),), float(alpha), dtype=real, device=dev)
        uu, vv, nn = _horn_schunck(gx, gy, gt, a[:, None, None], max_iter, tol, periodic)
        u[i, start:stop], v[i, start:stop] = _np(uu), _np(vv)
        valid[i, start:stop], n_iter[i, start:stop] = _np(ok), _np(nn)
        alphas[i, start:stop] = _np(a)
    return u, v, valid, n_iter, alphas


# --- surrogates -----------------------------------------------------------------------------


def _phase_kernel(x: np.ndarray, *, seeds, shared: bool, device) -> np.ndarray:
    """Twin of ``stats._phase_kernel``: the random phases are NumPy's (same seeds, same
    surrogates); the transforms run on the device, in blocks of surrogates."""
    torch = _torch()
    n_t = x.shape[-1]
    flat = x.reshape(-1, n_t)
    out = np.full((flat.shape[0], len(seeds), n_t), np.nan, dtype=x.dtype)
    missing = ~np.isfinite(flat)
    alive = ~missing.all(axis=1)
    rows, gaps = flat[alive], missing[alive]
    if gaps.any():
        rows = np.where(gaps, np.nanmean(rows, axis=1, keepdims=True), rows)
    real = not np.iscomplexobj(x)
    t = _to(rows, device)
    if device.type == "mps":
        t = t.to(torch.complex64 if t.is_complex() else torch.float32)
    spec = torch.fft.rfft(t, dim=-1) if real else torch.fft.fft(t, dim=-1)
    shape = tuple(spec.shape[-1:]) if shared else tuple(spec.shape)
    values = np.empty((rows.shape[0], len(seeds), n_t), dtype=x.dtype)
    step = _block(device, 48 * int(np.prod(spec.shape)))
    two_pi = 2.0 * np.pi
    for s in range(0, len(seeds), step):
        draws = np.stack([np.random.default_rng(int(q)).random(shape)
                          for q in seeds[s:s + step]])
        theta = _to(draws, device, spec.real.dtype) * two_pi
        rot = torch.polar(torch.ones_like(theta), theta)
        if real:
            rot[..., 0] = 1.0  # keep the mean
            if n_t % 2 == 0:
                rot[..., -1] = 1.0  # the Nyquist bin is real
        if shared:
            rot = rot[:, None, :]
        rot = rot * spec[None]
        v = torch.fft.irfft(rot, n=n_t, dim=-1) if real else torch.fft.ifft(rot, dim=-1)
        values[:, s:s + step] = _np(v.movedim(0, 1))
    if gaps.any():
        values[np.broadcast_to(gaps[:, None, :], values.shape)] = np.nan
    out[alive] = values
    return out.reshape(*x.shape[:-1], len(seeds), n_t)


def shuffle_sites(flat: np.ndarray, perms: np.ndarray, device) -> np.ndarray:
    """``np.moveaxis(flat[..., perms], -2, 0)`` (the site shuffles) gathered on the device,
    in blocks of surrogates."""
    torch = _torch()
    dev = resolve(device)
    t = _to(flat, dev)
    out = np.empty((len(perms), *flat.shape), dtype=flat.dtype)
    step = _block(dev, 2 * flat.nbytes)
    for s in range(0, len(perms), step):
        idx = _to(perms[s:s + step], dev)
        out[s:s + step] = _np(torch.movedim(t[..., idx], -2, 0))
    return out


_TWINS = {
    "_analytic_core": _analytic_core,
    "_gradient_kernel": _gradient_kernel,
    "_stats_kernel": _stats_kernel,
    "plane_fit_kernel": _plane_fit_kernel,
    "_phase_kernel": _phase_kernel,
}
