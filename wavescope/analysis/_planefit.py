"""Circular-linear regression of a phase map on position (private kernel of fit_plane_wave).

Per frame, maximise ``R(a, b) = |mean_j exp(i (phi_j - a x_j - b y_j))|``. ``N R`` is the
modulus of the spatial Fourier transform of the unit phasors ``u_j = exp(i phi_j)`` at
wave vector (a, b), so:

1. coarse search: on a grid with uniform spacing, the zero-padded FFT gives R on a
   lattice over the whole Nyquist square in O(n log n) per frame, and a parabola through
   the log power around its peak gives a sub-lattice start; on irregular positions (or
   unequal spacing) a lattice of candidates with spacing ``2 pi / (oversample L)`` inside
   ``|k| <= k_max`` (L the array's extent) is evaluated by one matrix product per block
   of frames;
2. refinement: safeguarded (trust-region) Newton ascent on
   ``S = |sum_j u_j exp(-i k . r_j)|**2`` with analytic gradient and Hessian, vectorised
   over frames; on grids the phase factors are separable, ``exp(-i a x) exp(-i b y)``.

With ``oversample`` >= 2 lattice points per main-lobe width (``2 pi / L``) the best
candidate lies in the main lobe of the global maximum, and Newton climbs to it.

Uncertainty: near its maximum the fit is a least-squares regression of the wrapped
residuals ``e_j = phi_j - k . r_j - offset`` on position (Fisher 1993, the circular
mean's standard error generalised to a slope; Kempter et al. 2012), with scores
``w_j = (r_j - rbar) sin(e_j)`` (``sum_j w_j = 0`` at the fit). Residuals of smooth
fields are correlated across sites (volume conduction, smooth wave-free fields): the
independent-site covariance ``s2 / R**2 * inv(S)`` then called 14-55 % of the frames of
Gaussian random fields planar. So the covariance is a spatial HAC (Conley 1999) sandwich

    cov = inv(S) (sum_jl w_j w_l' K(r_j - r_l)) inv(S) n / (n - q - 1) / R**2,

``S`` the scatter matrix of the valid sites' positions, ``R = |mean exp(i e_j)|``,
``q`` the number of slopes, with the product Bartlett kernel
``K = (1 - |dx| / h)+ (1 - |dy| / h)+`` (positive semi-definite, so the covariance is).
The bandwidth comes from the frame's residuals: ``rho``, the correlation of ``sin(e)``
between sites closer than 1.5 spacings, less one of its standard errors
``1 / sqrt(pairs)``, gives the exponential correlation length ``l = -d / log(rho)``
(``d`` the pairs' mean distance) and ``h = 4 l``, at most the array's extent (on grids,
where neighbours correlate more than 1/e, ``l`` is instead where the correlation along
the axes, read at lags of 1, 2, 4, ... spacings, first falls below 1/e: smooth noise
correlates almost fully between neighbours, and the exponential through that implied
lengths of 6-12 x its own, so a plane wave in noise smoothed over 3 of 64 pixels came out
synchronous in every frame); ``h = 0``
(``K`` the identity, White's covariance, ~ the independent one) where ``rho <= 0``, as on
independent noise. The Wald test of a zero gradient uses ``F(q, n_eff - q - 1)`` with the
effective number of sites ``n_eff = n**2 / sum_jl K_jl``. Grids: both kernel sums by FFT
on a torus of ``2 n - 1`` sites per axis (``O(n log n)`` per frame, only frames with
``h`` above the spacing); other layouts: the ``n x n`` kernel (up to 4,096 sites; beyond,
the residual correlation is not modelled). Measured (tests/analysis/
test_planefit_correlated.py, docs/notes/waves.md): smooth random fields of correlation
length 3 and 8 px on 32 x 32 give 0-2 % planar frames, 1.5 and 3 spacings on 64 sensors
2-6 %; known answers with independent noise are kept. Why this and not the others tried:
``h = 2 l`` left 8-47 % planar on sensors; an exponential correlation model with ``l``
(``cov = s2 inv(S) X' P X inv(S)``) was as strict but found half as many waves in smooth
noise; a Gaussian model called 90 % of 8 px frames significant; ``n_eff`` from an
exponential model (not the kernel) gave honest power but 16 % false planar frames. The
price: with ``h`` near the array (a field as smooth as the array is large), ``n_eff`` is
a few sites and the test is strict, so a plane wave in smooth noise needs an SNR of
about 6 (noise 0.15 of the wave: 85-89 % planar frames). Fields correlated over more
than the array cannot be told from a plane within one frame; surrogates test events.

One frame cannot show the part of the noise that the fitted slope absorbs, nor how
far the noise correlation reaches, so the HAC alone called 12-24 % of wave-free frames
of rough, long-reaching noise under an in-phase oscillation planar at ``alpha`` = 0.01
and made long waves in noise smooth over a third of the array synchronous
(benchmarks/calibrate_frames.py, docs/notes/calibration.md). Time shows both: a plane
wave's gradient stays from frame to frame, noise-driven slopes scatter.
:func:`pooled_scale` measures that scatter (frames paired over the slopes'
decorrelation lag, so a real wave's slow changes cancel) relative to the frames'
independent-site covariances, in running windows, and fit_plane_wave /
classify_patterns use ``scale`` times the independent-site covariance, with the
scatter's degrees of freedom, where the scale exceeds the HAC's own inflation (beyond
the upper 1 % of ``chi2_nu / nu``). Elsewhere the HAC stands: where the slopes
scatter less than it allows (a phase pattern that stays put from frame to frame tilts
every frame's slope alike, which no scatter over time can show), and on series too
short to pool (fewer than 32 usable frames, or fewer than 8 independent pairs per
window). The scale is never below 1 (the independent-site covariance).
Intervals use Student's t with the covariance's degrees of freedom (``n_eff - q - 1``,
at least 1, or the scatter's where pooled), as the Wald test does, so they widen where
few effective sites or frames remain.

Both judge one frame's slope. A plane wave ten times longer than the array, in noise
smooth over a third of it, tilts each frame's plane by about as much as the wave does,
and the frame has a few effective sites: 55-71 % of such frames (32 x 32) and 8-62 %
(64 sensors) passed. Its evidence is in time: :func:`steady_slopes` tests the mean
slope of a window of 16 decorrelation lags against the slopes' scatter over those
independent frames, and accepts it only where the window's steady residual map is what
the residuals' scatter leaves (a lack-of-fit test: a frozen non-planar pattern is
steady too, its residual the same in every frame) and the frame's own slope agrees
with the window's and points somewhere itself (own p < ``STEADY_FRAME_P``).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import fft as sfft
from scipy import stats

from ._circular import circ_corr_phasors, unit_phasor
from ._common import frame_blocks, parabolic_offset
from ._geometry import Geometry

#: Fitted quantities per frame, in this order: the wave vector (= the phase gradient),
#: the phase at the origin, R, the circular correlation of measured and fitted phase, the
#: covariance of the wave vector (xx, xy, yy), the synchrony (R of a flat phase), the
#: number of valid sites, the p-value of the Wald test of a zero gradient, the
#: effective number of sites of the spatial HAC, and the independent-site covariance
#: (xx, xy, yy; the slope test pooled over frames scales it, ``pooled_scale``).
FIELDS = ("dphi_dx", "dphi_dy", "offset", "strength", "rho", "cov_xx", "cov_xy", "cov_yy",
          "flat", "n_valid", "gradient_p", "n_eff", "wcov_xx", "wcov_xy", "wcov_yy")
#: Lattice points from the centre to k_max at most, on irregular positions: (2 m + 1)^2
#: candidates, times the sites, complex values in memory.
_MAX_HALF_LATTICE = 64
#: Residual phase scatter (rad) below which a fit is taken as exact: the refinement stops
#: at 1e-7 of the lattice step, so smaller residuals are numerical, not measured.
MIN_SCATTER = 1e-6
#: Kernel bandwidth over the exponential correlation length of the residuals.
_BANDWIDTH = 4.0
#: Standard errors taken off the neighbours' residual correlation (none is found in noise).
_RHO_SE = 1.0
#: Sites at most for the n x n kernel of irregular layouts (memory: 3 n^2 floats per frame).
_MAX_PAIRWISE = 4096


class SpatialHAC:
    """The spatial HAC covariance's residual correlation and kernel sums for one
    geometry (module docstring); shared by the plane fit and the radial and rotating
    tests."""

    def __init__(self, geom: Geometry):
        g = self.geom = geom
        self.extent = max(float(np.ptp(g.xy[:, 0])), float(np.ptp(g.xy[:, 1])), 1e-300)
        near = 1.5 * g.spacing()
        self.lattice = g.kind in ("grid", "line") and _uniform(g.x) and (
            g.y is None or _uniform(g.y))
        if self.lattice:
            hx = float(np.diff(g.x).mean()) if g.x.size > 1 else 1.0
            hy = float(np.diff(g.y).mean()) if g.y is not None and g.y.size > 1 else 1.0
            shifts = [((0, 1), hx)] if g.y is None else [
                ((0, 1), hx), ((1, 0), hy), ((1, 1), np.hypot(hx, hy)),
                ((1, -1), np.hypot(hx, hy))]
            self.pair_shifts = [(s, d) for s, d in shifts if d <= near] or shifts[:1]
            self.hac_shape = (1 if g.y is None else g.y.size, g.x.size)
            self.hac_steps = (hy, hx)
            self.min_lag = hx if g.y is None else min(hx, hy)
            self._lag_values = 6 * (2 * g.x.size) * (2 * self.hac_shape[0])
            return
        xy = g.xy
        n = len(xy)
        if n > _MAX_PAIRWISE:  # n x n kernels: the residual correlation is not modelled
            self.pairs = (np.zeros(0, int), np.zeros(0, int), np.zeros(0))
            self.min_lag = np.inf
            self._lag_values = 1
            return
        self.adx = np.abs(xy[:, None, 0] - xy[None, :, 0])
        self.ady = np.abs(xy[:, None, 1] - xy[None, :, 1])
        d = np.hypot(self.adx, self.ady)
        i, j = np.nonzero(np.triu(d <= near, 1))
        self.pairs = (i, j, d[i, j])
        off = ~np.eye(n, dtype=bool)
        self.min_lag = float(np.maximum(self.adx, self.ady)[off].min()) if n > 1 else np.inf
        self._lag_values = 3 * n * n

    def sums(self, wx, wy, resid, valid, n) -> tuple[np.ndarray, np.ndarray]:
        """``sum_jl w_j w_l' K_jl`` (xx, xy, yy; frames, 3) of the scores ``wx``, ``wy``
        (frames, n_sites; 0 at gaps) and ``sum_jl K_jl`` over valid pairs, the kernel's
        bandwidth from the residuals ``sin(e_j)`` (:meth:`bandwidth`); ``K`` is the
        identity where the bandwidth is below the spacing."""
        h = self.bandwidth(resid, valid, n)
        meat = np.column_stack([np.einsum("ij,ij->i", wx, wx),
                                np.einsum("ij,ij->i", wx, wy),
                                np.einsum("ij,ij->i", wy, wy)])
        ksum = n.astype(float)  # sum_jl K_jl: n for the identity kernel
        wide = np.flatnonzero(h > self.min_lag)
        wide = wide[np.argsort(h[wide])]  # blocks of like bandwidths: small tori
        for sl in frame_blocks(wide.size, self._lag_values, 1 << 22):
            rows = wide[sl]
            meat[rows], ksum[rows] = self._kernel_sums(wx[rows], wy[rows], valid[rows],
                                                       h[rows])
        return meat, ksum

    def bandwidth(self, resid, valid, n) -> np.ndarray:
        """Kernel bandwidth per frame (space units): ``_BANDWIDTH`` times the residuals'
        correlation length, at most the array's extent; 0 where the neighbours' residual
        correlation (less one standard error) is not positive.

        Grids: the length is where the residuals' correlation along the axes (at lags
        of 1, 2, 4, ... spacings, less one standard error each) first falls below 1/e,
        interpolated between lags, so smooth (Gaussian-like) correlations, whose
        neighbours correlate almost fully, get their own length and not the far longer
        one an exponential through the neighbours' correlation implies. Other layouts,
        and grids whose neighbours correlate less than 1/e: the length of the
        exponential correlation that matches the neighbours' (sites within 1.5
        spacings)."""
        prod = np.zeros(len(resid))
        count = np.zeros(len(resid))
        dist = np.zeros(len(resid))
        if self.lattice:
            g = self.geom
            r = resid.reshape(-1, *g.shape) if g.y is not None else resid[:, None, :]
            v = valid.reshape(r.shape)
            ny, nx = r.shape[1:]
            for (dy, dx), d in self.pair_shifts:
                a = (slice(None), slice(0, ny - dy), slice(max(0, -dx), nx - max(0, dx)))
                b = (slice(None), slice(dy, ny), slice(max(0, dx), nx - max(0, -dx)))
                prod += np.einsum("fij,fij->f", r[a], r[b])
                cnt = (v[a] & v[b]).sum(axis=(1, 2))
                count += cnt
                dist += cnt * d
        else:
            i, j, d = self.pairs
            prod = np.einsum("fp,fp->f", resid[:, i], resid[:, j])
            both = (valid[:, i] & valid[:, j]).astype(float)
            count = both.sum(axis=1)
            dist = both @ d
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.einsum("ij,ij->i", resid, resid) / n
            rho = prod / count / var - _RHO_SE / np.sqrt(count)
            length = -(dist / count) / np.log(np.clip(rho, 1e-300, 1 - 1e-12))
            if self.lattice:
                smooth = rho >= np.exp(-1.0)
                if smooth.any():
                    length[smooth] = self._efold(r[smooth], v[smooth], var[smooth])
            h = np.minimum(_BANDWIDTH * length, self.extent)
        return np.where(rho > 0, h, 0.0)

    def _efold(self, r, v, var) -> np.ndarray:
        """Distance (space units) at which the residuals ``r`` (frames, ny, nx; 0 at
        gaps ``~v``) correlate 1/e along the grid's axes: the first of the lags 1, 2,
        4, ... spacings whose correlation (less one standard error) is below 1/e,
        linearly interpolated from the lag before; the extent where none is."""
        ny, nx = r.shape[1:]
        hy, hx = self.hac_steps
        lags = [1]
        while 2 * lags[-1] < max(nx, ny):
            lags.append(2 * lags[-1])
        rhos, dists = [], []
        for lag in lags:
            prod = np.zeros(len(r))
            count = np.zeros(len(r))
            dist = np.zeros(len(r))  # the pairs' summed distance (axes may differ in step)
            for axis, size, step in ((2, nx, hx), (1, ny, hy)):
                if lag >= size:
                    continue
                a = [slice(None)] * 3
                b = [slice(None)] * 3
                a[axis], b[axis] = slice(0, size - lag), slice(lag, size)
                prod += np.einsum("fij,fij->f", r[tuple(a)], r[tuple(b)])
                cnt = (v[tuple(a)] & v[tuple(b)]).sum(axis=(1, 2))
                count += cnt
                dist += cnt * lag * step
            rhos.append(prod / count / var - _RHO_SE / np.sqrt(count))
            dists.append(dist / count)
        rho = np.nan_to_num(np.column_stack(rhos), nan=-1.0)  # (frames, lags)
        dist = np.column_stack(dists)
        below = rho < np.exp(-1.0)
        first = np.argmax(below, axis=1)  # lag 0 is never below for these frames
        out = np.full(len(r), self.extent)
        ok = below.any(axis=1) & (first > 0)
        f, m = np.flatnonzero(ok), first[ok]
        r0, r1 = rho[f, m - 1], rho[f, m]
        d0, d1 = dist[f, m - 1], dist[f, m]
        out[f] = d0 + (r0 - np.exp(-1.0)) / (r0 - r1) * (d1 - d0)
        return out

    def _kernel_sums(self, wx, wy, valid, h) -> tuple[np.ndarray, np.ndarray]:
        """Kernel-weighted score products ``sum_jl w_j w_l' K(r_j - r_l)`` (xx, xy, yy)
        and ``sum_jl K_jl`` over valid pairs, for frames with bandwidths ``h``; product
        Bartlett kernel ``(1 - |dx| / h)+ (1 - |dy| / h)+`` (positive semi-definite)."""
        if not self.lattice:
            kern = (np.clip(1 - self.adx[None] / h[:, None, None], 0, None)
                    * np.clip(1 - self.ady[None] / h[:, None, None], 0, None))
            kwx = np.einsum("fjl,fl->fj", kern, wx)
            kwy = np.einsum("fjl,fl->fj", kern, wy)
            v = valid.astype(float)
            meat = np.column_stack([np.einsum("fj,fj->f", wx, kwx),
                                    np.einsum("fj,fj->f", wx, kwy),
                                    np.einsum("fj,fj->f", wy, kwy)])
            return meat, np.einsum("fj,fjl,fl->f", v, kern, v)
        # grids: by Parseval, sum_jl a_j b_l K(j - l) = sum_f conj(A) B K^ / N on a torus
        # of n + L sites per axis, L the longest lag the kernel reaches (so no pair
        # wraps onto a lag it weighs); K^ is separable, and real as K is symmetric
        (ny, nx), (hy, hx) = self.hac_shape, self.hac_steps
        reach = float(h.max())
        qy = 1 if ny == 1 else sfft.next_fast_len(ny + min(ny - 1, int(reach / hy)))
        qx = sfft.next_fast_len(nx + min(nx - 1, int(reach / hx)))
        ky = _bartlett_spectrum(qy, hy, h)
        kx = _bartlett_spectrum(qx, hx, h)[:, : qx // 2 + 1]
        # real maps: half spectra (rfft), the other half by symmetry (weight 2)
        kx[:, 1:(qx + 1) // 2] *= 2
        shape = (len(h), ny, nx)
        sx = sfft.rfft2(wx.reshape(shape), s=(qy, qx))
        sy = sfft.rfft2(wy.reshape(shape), s=(qy, qx))
        n_tot = qy * qx
        meat = np.column_stack([
            np.einsum("fy,fyx,fx->f", ky, sx.real**2 + sx.imag**2, kx),
            np.einsum("fy,fyx,fx->f", ky, sx.real * sy.real + sx.imag * sy.imag, kx),
            np.einsum("fy,fyx,fx->f", ky, sy.real**2 + sy.imag**2, kx)]) / n_tot
        # sum_jl K_jl: separable on a full grid, by the same sum over the mask otherwise
        ksum = (_bartlett_mass(ny, hy, h) * _bartlett_mass(nx, hx, h))
        gaps = np.flatnonzero(~valid.all(axis=1))
        if gaps.size:
            vs = sfft.rfft2(valid[gaps].reshape(-1, ny, nx).astype(float), s=(qy, qx))
            ksum[gaps] = np.einsum("fy,fyx,fx->f", ky[gaps], vs.real**2 + vs.imag**2,
                                   kx[gaps]) / n_tot
        return meat, ksum


class PlaneFitter:
    """Precomputed search lattice for one geometry."""

    def __init__(self, geom: Geometry, k_max: float | None, oversample: float,
                 max_iter: int):
        self.geom = geom
        self.max_iter = int(max_iter)
        self.xy = geom.xy
        self.centre = geom.xy.mean(axis=0)
        self.rc = geom.xy - self.centre  # centred positions: well-conditioned sums
        rc = self.rc
        self.moments = np.column_stack([rc[:, 0], rc[:, 1], rc[:, 0] ** 2,
                                        rc[:, 0] * rc[:, 1], rc[:, 1] ** 2])
        if geom.kind != "irregular":  # grid axes, centred like rc
            self.xs = geom.x - self.centre[0]
            self.ys = None if geom.y is None else geom.y - self.centre[1]
        self.k_max = float(k_max) if k_max is not None else None
        self.hac = SpatialHAC(geom)
        self.extent = extent = self.hac.extent
        self.fft = self.hac.lattice  # uniform grid axes: FFT search and FFT kernel sums
        if self.fft:
            hx = float(np.diff(geom.x).mean()) if geom.x.size > 1 else 1.0
            self.px = sfft.next_fast_len(int(np.ceil(oversample * geom.x.size)))
            self.ax = 2 * np.pi * np.fft.fftfreq(self.px, hx)
            self.dax = 2 * np.pi / (self.px * hx)
            self.day = 0.0
            if geom.y is not None:
                hy = float(np.diff(geom.y).mean()) if geom.y.size > 1 else 1.0
                self.py = sfft.next_fast_len(int(np.ceil(oversample * geom.y.size)))
                self.ay = 2 * np.pi * np.fft.fftfreq(self.py, hy)
                self.day = 2 * np.pi / (self.py * hy)
                self.step = max(2 * np.pi / (self.px * hx), 2 * np.pi / (self.py * hy))
            else:
                self.step = 2 * np.pi / (self.px * hx)
        else:
            if self.k_max is None:
                self.k_max = np.pi / geom.spacing()
            self.step = 2 * np.pi / (oversample * extent)
            if self.k_max / self.step > _MAX_HALF_LATTICE:
                # an outlying site makes the extent, and so the lattice, huge: cap it
                # (memory), at the risk of a coarse start there
                self.step = self.k_max / _MAX_HALF_LATTICE
            m = int(np.floor(self.k_max / self.step))
            grid = np.arange(-m, m + 1) * self.step
            ka, kb = np.meshgrid(grid, grid, indexing="ij")
            keep = ka**2 + kb**2 <= self.k_max**2 + 1e-12
            self.cand = np.column_stack([ka[keep], kb[keep]])
            self.basis = np.exp(-1j * (self.rc @ self.cand.T))  # (n_sites, n_candidates)
            # lattice neighbours (-a, +a, -b, +b) of every candidate, or itself at the rim
            index = np.full(keep.shape, -1)
            index[keep] = np.arange(keep.sum())
            ii, jj = np.nonzero(keep)
            self.lattice_nbrs = np.stack([
                _neighbour(index, ii + di, jj + dj)
                for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1))])

    def fit(self, u: np.ndarray, k: np.ndarray | None = None) -> np.ndarray:
        """Fit unit phasors ``u`` (frames, n_sites; NaN = missing) -> (frames, FIELDS).
        ``k``: the frames' wave vectors (frames, 2) from an earlier search of the same
        phasors (its coarse search and Newton refinement), which are then not repeated."""
        valid = np.isfinite(u)
        u = np.where(valid, u, 0.0)
        n_valid = valid.sum(axis=1)
        if k is None:
            k, c = self._refine(u, self._coarse(u))
        else:  # the search's own c: u times the factors of its final k, row by row
            k = np.array(k, dtype=float)
            c = u * self._factors(k)
        # below the fit's resolution (phase change < 1e-9 rad over the array) k is 0
        k[np.hypot(k[:, 0], k[:, 1]) * self.extent < 1e-9] = 0.0
        f = c.sum(axis=1)  # sum of u exp(-i k . (r - centre))
        out = np.empty((u.shape[0], len(FIELDS)))
        out[:, 0:2] = k
        out[:, 2] = np.angle(f * np.exp(-1j * (k @ self.centre)))  # phase at the origin
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, 3] = np.abs(f) / n_valid
            # fitted phasors exp(i (k . r + offset)) = exp(i k . (r - centre)) f / |f|,
            # and exp(i k . (r - centre)) = u conj(c) at every valid site: no new exps
            fitted = u * np.conj(c) * (f / np.abs(f))[:, None]
        out[:, 4] = circ_corr_phasors(u, fitted)
        cov, n_eff, white = self._covariance(c, f, valid, n_valid)
        out[:, 5:8] = cov
        out[:, 12:15] = white
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, 8] = np.abs(u.sum(axis=1)) / n_valid
        out[:, 9] = n_valid
        q = 1 if self.geom.kind == "line" else 2
        dof = n_valid - q - 1  # residual degrees of freedom
        # the F test's denominator dof follow the effective number of sites
        out[:, 10] = _wald_p(k, cov, np.maximum(n_eff - q - 1, 1.0), line=q == 1)
        out[:, 11] = n_eff
        out[dof < 1, 5:8] = np.nan
        out[dof < 1, 10:15] = np.nan
        out[n_valid < 3, :9] = np.nan
        out[n_valid < 3, 12:15] = np.nan
        return out

    def _covariance(self, c, f, valid, n_valid) -> tuple[np.ndarray, ...]:
        """Covariance (xx, xy, yy) of the fitted wave vector, (frames, 3), the
        effective number of sites, and the independent-site covariance; the spatial
        HAC sandwich of the module docstring."""
        with np.errstate(invalid="ignore", divide="ignore"):
            resid = (c * np.conj(f / np.abs(f))[:, None]).imag  # sin(e_j); 0 at gaps
            return self.covariance(resid, valid, np.abs(f) / n_valid, white=True)

    def covariance(self, resid: np.ndarray, valid: np.ndarray, strength: np.ndarray,
                   white: bool = False) -> tuple[np.ndarray, ...]:
        """Spatial HAC covariance of the wave vector from the residuals ``sin(e_j)``
        (frames, n_sites; 0 at missing sites), the valid-site mask and R per frame.

        Returns ``(cov, n_eff)``: (frames, 3) with xx, xy, yy in (rad / space unit)^2,
        and the effective number of sites ``n^2 / sum_jl K_jl`` (n where the residuals
        are uncorrelated). See the module docstring for the estimator. ``white``: also
        the independent-site (White) covariance, the same sandwich without the kernel.
        """
        line = self.geom.kind == "line"
        q = 1 if line else 2
        n = valid.sum(axis=1).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = valid.astype(float) @ self.moments  # sums of x, y, x^2, xy, y^2
            mx, my = m[:, 0] / n, m[:, 1] / n
            scatter = np.column_stack([m[:, 2] - m[:, 0] * mx, m[:, 3] - m[:, 0] * my,
                                       m[:, 4] - m[:, 1] * my])
            # scores of the centred regression: w = (r - mean r) e, 0 at gaps
            wx = (self.rc[:, 0] - mx[:, None]) * resid
            wy = (self.rc[:, 1] - my[:, None]) * resid
            meat, ksum = self.hac.sums(wx, wy, resid, valid, n)
            cov = _sandwich(meat, scatter, n, strength, q)
            if not white:
                return cov, n * n / ksum
            iid = np.column_stack([np.einsum("ij,ij->i", wx, wx),
                                   np.einsum("ij,ij->i", wx, wy),
                                   np.einsum("ij,ij->i", wy, wy)])
            return cov, n * n / ksum, _sandwich(iid, scatter, n, strength, q)

    def _factors(self, k: np.ndarray) -> np.ndarray:
        """exp(-i k . (r - centre)) for frames k (m, 2) -> (m, n_sites)."""
        if self.geom.kind == "irregular":
            return np.exp(-1j * (k @ self.rc.T))
        # a grid is separable: exp(-i (a x + b y)) = exp(-i a x) exp(-i b y)
        ex = np.exp(-1j * np.outer(k[:, 0], self.xs))
        if self.ys is None:
            return ex
        ey = np.exp(-1j * np.outer(k[:, 1], self.ys))
        return (ey[:, :, None] * ex[:, None, :]).reshape(len(k), -1)

    def _coarse(self, u: np.ndarray) -> np.ndarray:
        if self.fft:
            g = self.geom
            if g.y is None:
                spec = sfft.fft(u, n=self.px, axis=-1)
                power = spec.real**2
                power += spec.imag**2
                ix = np.argmax(power, axis=-1)
                frames = np.arange(len(u))
                dx = _vertex(power[frames, (ix - 1) % self.px], power[frames, ix],
                             power[frames, (ix + 1) % self.px])
                return np.column_stack([self.ax[ix] + dx * self.dax, np.zeros(len(ix))])
            grid = u.reshape(-1, g.y.size, g.x.size)
            # zero-padded 2-D FFT, skipping the transforms of all-zero padding rows
            spec = sfft.fft(sfft.fft(grid, n=self.px, axis=-1), n=self.py, axis=-2)
            power = spec.real**2
            power += spec.imag**2
            if self.k_max is not None:
                outside = (self.ay[:, None] ** 2 + self.ax[None, :] ** 2) > self.k_max**2
                power[:, outside] = -1.0
            flat = np.argmax(power.reshape(len(u), -1), axis=-1)
            iy, ix = np.unravel_index(flat, (self.py, self.px))
            frames = np.arange(len(u))
            dx = _vertex(power[frames, iy, (ix - 1) % self.px], power[frames, iy, ix],
                         power[frames, iy, (ix + 1) % self.px])
            dy = _vertex(power[frames, (iy - 1) % self.py, ix], power[frames, iy, ix],
                         power[frames, (iy + 1) % self.py, ix])
            return np.column_stack([self.ax[ix] + dx * self.dax, self.ay[iy] + dy * self.day])
        out = np.empty((len(u), 2))
        for sl in frame_blocks(len(u), self.basis.shape[1], 1 << 18):
            spec = u[sl] @ self.basis
            power = spec.real**2
            power += spec.imag**2
            best = np.argmax(power, axis=-1)
            rows = np.arange(len(best))
            nbrs = self.lattice_nbrs[:, best]  # (4, frames)
            p = [power[rows, np.maximum(nb, 0)] for nb in nbrs]
            mid = power[rows, best]
            offset = np.column_stack([_vertex(p[0], mid, p[1]), _vertex(p[2], mid, p[3])])
            offset[(nbrs[0] < 0) | (nbrs[1] < 0), 0] = 0.0  # at the rim: no sub-step
            offset[(nbrs[2] < 0) | (nbrs[3] < 0), 1] = 0.0
            out[sl] = self.cand[best] + offset * self.step
        return out

    def _refine(self, u: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Safeguarded Newton ascent on S(k) = |sum u exp(-i k . r)|^2, all frames at once
        (:func:`newton_ascent`)."""
        return newton_ascent(u, k.copy(), self._factors, self.moments,
                             np.full(len(u), self.step), np.arange(len(u)), 1e-7 * self.step,
                             self.max_iter)


def newton_ascent(u, k, factors, moments, radius, active, tol: float, max_iter: int, xp=np):
    """Safeguarded Newton ascent on S(k) = |sum u exp(-i k . r)|^2 for the frames (rows)
    of the unit phasors ``u`` from the wave vectors ``k`` (m, 2), updated in place.

    ``factors(k)`` gives exp(-i k . (r - centre)) (m, n_sites); ``moments`` the sites'
    (x, y, x^2, xy, y^2) (n_sites, 5); ``radius`` the frames' starting trust radii and
    ``active`` the frame indices (arange). Frames leave once their step falls below
    ``tol``. ``xp``: numpy or torch, the module of the arrays (one implementation for the
    NumPy fit and its device twin). Returns ``k`` and ``c = u factors(k)``.
    """
    c = u * factors(k)
    s = xp.abs(c.sum(1)) ** 2
    for _ in range(max_iter):
        ca = c[active]
        f = ca.sum(1)
        mom = ca @ moments  # sums of c * (x, y, x^2, xy, y^2)
        fx, fy = -1j * mom[:, 0], -1j * mom[:, 1]
        fxx, fxy, fyy = -mom[:, 2], -mom[:, 3], -mom[:, 4]
        cf = xp.conj(f)
        gx, gy = 2 * (cf * fx).real, 2 * (cf * fy).real
        hxx = 2 * (xp.abs(fx) ** 2 + cf * fxx).real
        hxy = 2 * (xp.conj(fx) * fy + cf * fxy).real
        hyy = 2 * (xp.abs(fy) ** 2 + cf * fyy).real
        det = hxx * hyy - hxy**2
        concave = (hxx < 0) & (det > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            newton = -xp.stack([hyy * gx - hxy * gy, hxx * gy - hxy * gx], 1) / det[:, None]
        step = xp.nan_to_num(xp.where(concave[:, None], newton, xp.stack([gx, gy], 1)))
        norm = xp.hypot(step[:, 0], step[:, 1])
        converged = concave & (norm < tol)  # at the maximum: no trial evaluation
        if bool(converged.any()):
            keep = ~converged
            active, step, norm, concave = (active[keep], step[keep], norm[keep],
                                           concave[keep])
            if len(active) == 0:
                break
        r = radius[active]
        # Newton steps are capped at the trust radius; uphill (gradient) steps take it
        scale = xp.where(concave & (norm <= r), 1.0, r / xp.where(norm > 1e-300, norm, 1e-300))
        step = step * scale[:, None]
        trial = k[active] + step
        c_new = u[active] * factors(trial)
        s_new = xp.abs(c_new.sum(1)) ** 2
        better = s_new >= s[active]
        moved = xp.hypot(step[:, 0], step[:, 1])
        take = active[better]
        k[take], c[take], s[take] = trial[better], c_new[better], s_new[better]
        radius[active] = xp.where(better, xp.maximum(r, 2 * moved), 0.25 * moved)
        done = (radius[active] <= tol) | (better & (moved < tol))
        active = active[~done]
        if len(active) == 0:
            break
    return k, c


def _sandwich(meat, scatter, n, strength, q) -> np.ndarray:
    """``inv(S) M inv(S) n / (n - q - 1) / R**2`` (xx, xy, yy per frame) from the score
    products ``meat`` and the positions' scatter ``S`` (xx, xy, yy), with a floor of
    MIN_SCATTER residual scatter (exact fits: the Newton tolerance, not a
    measurement)."""
    sxx, sxy, syy = scatter.T
    with np.errstate(invalid="ignore", divide="ignore"):
        meat = meat * (n / (n - q - 1))[:, None] + MIN_SCATTER**2 * scatter
        r2 = strength**2
        if q == 1:
            zero = np.zeros_like(sxx)
            return np.column_stack([meat[:, 0] / (sxx**2 * r2), zero, zero])
        det = sxx * syy - sxy**2
        # sites on a line (a one-row grid) do not constrain the slope across it: NaN
        det = np.where(det > 1e-12 * (sxx + syy) ** 2, det, np.nan)
        # inv(S) M inv(S), with inv(S) = [[syy, -sxy], [-sxy, sxx]] / det
        axx, axy, ayy = syy / det, -sxy / det, sxx / det
        bxx = axx * meat[:, 0] + axy * meat[:, 1]
        bxy = axx * meat[:, 1] + axy * meat[:, 2]
        byx = axy * meat[:, 0] + ayy * meat[:, 1]
        byy = axy * meat[:, 1] + ayy * meat[:, 2]
        return np.column_stack([bxx * axx + bxy * axy, bxx * axy + bxy * ayy,
                                byx * axy + byy * ayy]) / r2[:, None]


def _wald_p(k: np.ndarray, cov: np.ndarray, dof: np.ndarray, line: bool) -> np.ndarray:
    """p-value of ``k = 0``: Wald statistic ``W = k' inv(cov) k`` against ``F(q, dof)``
    (q = 2 slopes, 1 on a line), as the residual scatter in ``cov`` is estimated."""
    cxx, cxy, cyy = cov.T
    with np.errstate(invalid="ignore", divide="ignore"):
        if line:
            w, q = k[:, 0] ** 2 / cxx, 1
        else:
            w = (cyy * k[:, 0] ** 2 - 2 * cxy * k[:, 0] * k[:, 1] + cxx * k[:, 1] ** 2) / (
                cxx * cyy - cxy**2)
            q = 2
        return stats.f.sf(w / q, q, np.maximum(dof, 1))


def _bartlett(lag: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Bartlett kernel ``(1 - lag / h)+``, (frames, lags) for bandwidths ``h``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip(1 - lag[None, :] / h[:, None], 0.0, None)


def _bartlett_spectrum(q: int, step: float, h: np.ndarray) -> np.ndarray:
    """DFT of the Bartlett kernel on a torus of ``q`` sites ``step`` apart (lag: the
    circular distance), (frames, q): real, and >= 0 (a Fejer kernel)."""
    m = np.arange(q)
    return sfft.fft(_bartlett(np.minimum(m, q - m) * step, h), axis=-1).real


def _bartlett_mass(n: int, step: float, h: np.ndarray) -> np.ndarray:
    """``sum_jl K(|j - l| step)`` over ``n`` sites in a row, per bandwidth."""
    m = np.arange(1 - n, n)
    return _bartlett(np.abs(m) * step, h) @ (n - np.abs(m)).astype(float)


def _neighbour(index: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Candidate number at lattice cells (i, j), -1 outside the lattice or the disk."""
    n = index.shape[0]
    inside = (i >= 0) & (i < n) & (j >= 0) & (j < n)
    found = index[np.clip(i, 0, n - 1), np.clip(j, 0, n - 1)]
    return np.where(inside, found, -1)


def _vertex(left, mid, right) -> np.ndarray:
    """Offset (in bins, within +-0.5) of the vertex of the parabola through three
    samples of log power: a sub-bin start for Newton."""
    return parabolic_offset(np.log(left), np.log(mid), np.log(right))


def _uniform(c: np.ndarray | None) -> bool:
    if c is None or c.size < 2:
        return True
    h = np.diff(c)
    return bool(np.allclose(h, h[0], rtol=1e-9, atol=0.0))


def phasors(block: np.ndarray) -> np.ndarray:
    """Unit phasors of an analytic-signal block, or of a phase block (NaN = missing)."""
    if np.iscomplexobj(block):
        return unit_phasor(block)
    return np.exp(1j * block)


def plane_fit_kernel(z: np.ndarray, *, fitter: PlaneFitter, k=None) -> tuple:
    """apply_ufunc kernel: (..., *space) -> one (...) array per entry of FIELDS
    (``k``: the frames' searched wave vectors, (frames, 2), see :meth:`PlaneFitter.fit`)."""
    space = fitter.geom.shape
    lead = z.shape[: z.ndim - len(space)]
    flat = z.reshape(-1, int(np.prod(space)))
    out = np.empty((flat.shape[0], len(FIELDS)))
    for sl in frame_blocks(flat.shape[0], flat.shape[1], 1 << 16):
        out[sl] = fitter.fit(phasors(flat[sl]), None if k is None else k[sl])
    return tuple(out[:, i].reshape(lead) for i in range(len(FIELDS)))


# --- slope uncertainty pooled over frames -------------------------------------------------

#: Frames in a pooling window: this many correlation times of the slopes, at least
#: _POOL_MIN_WINDOW frames (at most the series).
_POOL_TAUS = 80.0
#: Variogram ratio g(2 l) / g(l) below which the slopes' noise has decorrelated.
_PLATEAU = 1.1
#: Variogram ratio g(2 l) / g(l) above which the slopes changed between episodes: the
#: variogram of a stationary series at most quadruples as its lag doubles
#: (``|x_2l| <= |x_l| + |x_l'|``), twice that allows for the medians' sampling error.
_EPISODE_JUMP = 8.0
#: Shortest pooling window (frames).
_POOL_MIN_WINDOW = 64
#: Fewest usable frames (finite fit, allowed in the pool) in a series for a pool.
_POOL_MIN_USABLE = 32
#: Fewest effective independent frames (about the pooled scale's degrees of freedom)
#: for a pooled estimate; with fewer the single-frame HAC covariance stands.
_POOL_MIN_FRAMES = 8.0
#: Window centres per window length (the scale is evaluated at these and held between).
_POOL_CENTRES = 16
#: Share of the smallest deviations a window's scale is the mean of, and that mean's
#: degrees of freedom per independent frame (chi-square with q = 1 or 2 slopes; measured
#: by simulation, 100 frames: the full mean has 1 and 2, the median 0.36 and 0.97).
_POOL_KEEP = 0.8
_POOL_EFFICIENCY = {1: 0.62, 2: 1.44}


def pooled_scale(gx, gy, cxx, cxy, cyy, use, line: bool, ratio=None
                 ) -> tuple[np.ndarray, ...]:
    """Scale of the slope covariance, its degrees of freedom and the window's typical
    ``ratio`` (per frame, time last; ``use``: the frames the pool may draw on).

    A plane wave's gradient stays from frame to frame while noise-driven slopes
    scatter, so the frames' scatter measures the slope's sampling error, including the
    part of the noise the fitted slope absorbs, which no residual-based covariance
    sees. Each usable frame is paired with the last usable frame at least ``lag``
    frames before it (the lag over which the slopes' noise decorrelates, from their
    variogram, :func:`_decorrelation`), so slow changes of a real wave cancel; the
    pair's Mahalanobis deviation ``d = dk' inv(C_a + C_b) dk`` under the frames'
    covariances ``C`` (the independent-site ones: their scale follows each frame's
    noise and R, without the HAC's own noise) is ``chi2_q`` times the scale. Per
    running window of ``_POOL_TAUS`` correlation times (at least ``_POOL_MIN_WINDOW``
    frames) the scale is the mean of the smallest ``_POOL_KEEP`` of the deviations over
    its ``chi2_q`` value (robust to a wave's changes), with ``_POOL_EFFICIENCY`` degrees
    of freedom per independent pair, one per ``lag`` of the window's span. NaN where a
    series has fewer than ``_POOL_MIN_USABLE`` usable frames or a window fewer than
    ``_POOL_MIN_FRAMES`` independent pairs (the single-frame covariance then stands).
    """
    shape = np.shape(gx)
    arrays = [np.asarray(a, dtype=float).reshape(-1, shape[-1])
              for a in (gx, gy, cxx, cxy, cyy)]
    use = np.broadcast_to(np.asarray(use, bool), shape).reshape(-1, shape[-1])
    ratio = np.ones(shape) if ratio is None else np.asarray(ratio, dtype=float)
    ratio = ratio.reshape(-1, shape[-1])
    scale = np.full(arrays[0].shape, np.nan)
    dof = np.full(arrays[0].shape, np.nan)
    typical = np.full(arrays[0].shape, np.nan)
    for i in range(len(scale)):
        scale[i], dof[i], typical[i] = _pool_series(*(a[i] for a in arrays), use[i],
                                                    ratio[i], line)
    return scale.reshape(shape), dof.reshape(shape), typical.reshape(shape)


def _pool_series(gx, gy, cxx, cxy, cyy, use, ratio, line):
    n_t = len(gx)
    nan = np.full(n_t, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: NaN
        det = cxx if line else cxx * cyy - cxy**2
        ok = use & np.isfinite(gx) & np.isfinite(gy) & (det > 0) & np.isfinite(det)
        if ok.sum() < _POOL_MIN_USABLE:  # too few to see the slopes' scatter
            return nan, nan, nan
        frames = np.flatnonzero(ok)
        lag, tau = _decorrelation(gx, gy, cxx, cyy, frames, line)
        if not lag:
            return nan, nan, nan
        # each frame against the last usable frame at least ``lag`` before it: slow
        # changes of a real wave cancel in the difference, noise does not
        a, b = _pairs(frames, lag)
        if len(b) < _POOL_MIN_USABLE // 2:
            return nan, nan, nan
        dx = gx[b] - gx[a]
        sxx, syy, sxy = cxx[b] + cxx[a], cyy[b] + cyy[a], cxy[b] + cxy[a]
        q = 1 if line else 2
        if line:
            d = dx * dx / sxx
        else:
            dy = gy[b] - gy[a]
            d = (syy * dx * dx - 2 * sxy * dx * dy + sxx * dy * dy) / (sxx * syy - sxy**2)
        mid = (a + b) / 2.0  # the time of each pair
        # windows of _POOL_TAUS correlation times (at least _POOL_MIN_WINDOW frames),
        # as pairs: fixed counts, centred on the centres' times
        span = max(_POOL_MIN_WINDOW, np.ceil(_POOL_TAUS * tau))
        width = int(min(len(d), max(_POOL_MIN_USABLE // 2,
                                    np.ceil(span * len(d) / (mid[-1] - mid[0] + 1)))))
        step = max(1, int(span) // _POOL_CENTRES)
        centres = np.arange(0, n_t, step)
        starts = np.clip(np.searchsorted(mid, centres) - width // 2, 0, len(d) - width)
        idx = starts[:, None] + np.arange(width)[None, :]  # (centres, width)
        # the mean of the smallest _POOL_KEEP of the deviations, over its chi2_q value:
        # robust to the largest (a wave that changes, an event's start) and twice as
        # efficient as their median
        keep = max(1, int(round(_POOL_KEEP * width)))
        low = np.partition(d[idx], keep - 1, axis=1)[:, :keep]
        sc = low.mean(axis=1) / (q * stats.chi2.cdf(stats.chi2.ppf(_POOL_KEEP, q), q + 2)
                                 / _POOL_KEEP)
        # independent pairs: one per decorrelation lag of the window's time span
        # (consecutive frames share their noise; the deviations' integrated
        # autocorrelation time, counted instead, made the scale's spread between
        # 2-s recordings 3-5 times what its degrees of freedom said)
        indep = np.minimum(width, (mid[idx[:, -1]] - mid[idx[:, 0]] + 1) / lag)
        nu = _POOL_EFFICIENCY[q] * indep
        typical = np.median((ratio[a] + ratio[b])[idx] / 2, axis=1)
    enough = indep >= _POOL_MIN_FRAMES
    sc, nu = np.where(enough, sc, np.nan), np.where(enough, nu, np.nan)
    nearest = np.minimum(np.rint(np.arange(n_t) / step).astype(int), len(centres) - 1)
    return sc[nearest], nu[nearest], typical[nearest]


def _pairs(frames, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(a, b)`` of usable ``frames``: each frame ``b`` and the last usable frame
    ``a`` at least ``lag`` frames before it."""
    before = np.searchsorted(frames, frames - lag, side="right") - 1
    return frames[before[before >= 0]], frames[before >= 0]


def _decorrelation(gx, gy, cxx, cyy, frames, line) -> tuple[int, float]:
    """The lag (frames) over which noise-driven slopes decorrelate, and their
    correlation time, from the variogram of the standardised slopes: ``g(l)``, the
    median squared difference of frames ``l`` apart, at ``l`` = 1, 2, 4, ... rises while
    the noise decorrelates and levels off at twice its variance, then rises again only
    as a real wave changes. The plateau starts at the first ``l`` with ``g(2 l) <
    _PLATEAU g(l)`` (else where that ratio is least); the lag is that ``l``, and the
    correlation time is where ``g`` reaches ``1 - 1/e`` of ``g(2 l)`` (interpolated).
    Waves that come and go in their own directions make ``g`` jump where its lag
    reaches from one episode to the next, beyond what a stationary series can
    (``_EPISODE_JUMP``): only the lags before the jump are searched, so the pairs stay
    within episodes (the lag is then where ``g`` rises least, the noise nearly
    decorrelated). Returns ``(0, nan)`` where no lag fits in a quarter of the frames' span."""
    comps = [(gx, cxx)] if line else [(gx, cxx), (gy, cyy)]
    span = frames[-1] - frames[0] + 1
    lags, gam = [], []
    lag = 1
    while lag <= span // 2:
        a, b = _pairs(frames, lag)
        if len(a) < _POOL_MIN_USABLE // 2:
            break
        gam.append(np.mean([np.median((g[b] - g[a]) ** 2 / (c[a] + c[b]))
                            for g, c in comps]))
        lags.append(lag)
        lag *= 2
    gam = np.asarray(gam)
    with np.errstate(divide="ignore", invalid="ignore"):
        jump = np.flatnonzero(gam[1:] > _EPISODE_JUMP * gam[:-1])
    if jump.size:  # lags past the jump pair frames of different episodes
        gam, lags = gam[: jump[0] + 1], lags[: jump[0] + 1]
    if len(gam) < 2:
        return 0, np.nan
    ratio = gam[1:] / gam[:-1]
    flat = np.flatnonzero(ratio < _PLATEAU)
    m = int(flat[0]) if flat.size else int(np.argmin(ratio))
    sill = gam[m + 1]
    target = (1 - np.exp(-1.0)) * sill
    g = np.concatenate([[0.0], gam[: m + 2]])
    ls = np.concatenate([[0.0], lags[: m + 2]])
    above = int(np.argmax(g >= target))  # g[0] = 0 < target, g[m + 1] = sill >= target
    tau = ls[above - 1] + (target - g[above - 1]) / (g[above] - g[above - 1]) * (
        ls[above] - ls[above - 1])
    return int(lags[m]), float(tau)


# --- the steady gradient of a window of frames ---------------------------------------------

#: Decorrelation lags of the slopes in a window of the steady-gradient test (at most the
#: series): about this many independent frames.
STEADY_LAGS = 16
#: Level of the lack-of-fit test of a window's steady phase map: where its steady residual
#: exceeds the upper STEADY_FIT tail of ``chi2_nu / nu`` of the frames' own scatter, a
#: phase pattern that stays put holds more than the plane.
STEADY_FIT = 0.05
#: Level at which a frame's own slope must agree with its window's mean slope, under
#: the two's covariances (:func:`steady_agrees`).
STEADY_AGREE = 0.01
#: Loosest p-value of a frame's own slope test at which its window's steady gradient
#: may decide it: the frame's slope must point somewhere itself (a window's chance
#: rejection would otherwise label every frame in it).
STEADY_FRAME_P = 0.25
#: Shortest window of the steady-gradient test (frames).
STEADY_MIN_WINDOW = 32
#: Fewest independent frames in a window for the steady-gradient test.
STEADY_MIN_FRAMES = 6.0


def steady_slopes(gx, gy, offset, wxx, wyy, dof, use, u, xy, line: bool
                  ) -> tuple[np.ndarray, ...]:
    """The steady gradient of the window of frames around each frame (time last):
    its p-value, the window's mean slope (x, y), that mean's covariance (xx, xy, yy:
    the slopes' scatter over the independent frames) and degrees of freedom, where
    that gradient describes the window's steady phase map; else NaN.

    A long plane wave is a phase gradient that stays from frame to frame while the
    noise's slopes change, so its evidence accumulates over time where one frame's
    (the spatial HAC's few effective sites) cannot show it. Per running window of
    ``STEADY_LAGS`` decorrelation lags of the slopes (:func:`_decorrelation`) over the
    usable frames (``use``), the mean slope is tested against the slopes' own scatter
    in the window, with one independent frame per lag of the window's span (Hotelling's
    ``T**2``, ``F(q, N - q)``; at least ``STEADY_MIN_FRAMES`` independent frames). Its
    steadiness alone says nothing of its shape: a phase pattern that stays put (a
    model's standing structure, fixed per-site lags) tilts every frame's slope alike.
    So the window's steady residual map, the mean over frames of each site's residual
    ``sin(e_j)`` from its frame's plane, must be what the residuals' scatter over time
    leaves (lack of fit ``N sum_j mean_j**2 / sum_j var_j`` within the upper
    ``STEADY_FIT`` tail of ``chi2_nu / nu``, ``nu`` the frames' mean ``dof``, at least
    1): a plane wave's residuals are noise, which averages away; a frozen pattern's
    are the same in every frame. (Whether a frame's own slope agrees with its
    window's, :func:`steady_agrees`, needs the frame's final covariance.) ``u``: the
    values (an analytic signal or a phase; ..., time, n_sites; NaN = missing), turned
    into phasors block by block; ``xy`` the sites' positions; ``offset`` and (``gx``,
    ``gy``) each frame's fitted plane; ``wxx``, ``wyy`` its independent-site variances
    (for the lag); ``dof`` its HAC degrees of freedom (the lack of fit's ``nu``).
    """
    shape = np.shape(gx)
    n_t = shape[-1]
    flat = [np.asarray(a, dtype=float).reshape(-1, n_t) for a in (gx, gy, offset, wxx, wyy,
                                                                  dof)]
    use = np.broadcast_to(np.asarray(use, bool), shape).reshape(-1, n_t)
    u = np.asarray(u).reshape(-1, n_t, len(xy))  # values: phasors block by block
    out = np.full((7, *flat[0].shape), np.nan)
    for i in range(flat[0].shape[0]):
        out[:, i] = _steady_series(*(a[i] for a in flat), use[i], u[i], xy, line)
    return tuple(o.reshape(shape) for o in out)


def _window_sums(values: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sums of ``values`` (time first) over frames ``a[i] <= t < b[i]``."""
    cum = np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])
    return cum[b] - cum[a]


def _steady_series(gx, gy, offset, wxx, wyy, dof, use, u, xy, line) -> np.ndarray:
    n_t = len(gx)
    nan = np.full((7, n_t), np.nan)
    q = 1 if line else 2
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ok = use & np.isfinite(gx) & np.isfinite(gy) & np.isfinite(offset) & (wxx > 0)
        if not line:
            ok &= wyy > 0
        if ok.sum() < _POOL_MIN_USABLE:
            return nan
        frames = np.flatnonzero(ok)
        lag, _ = _decorrelation(gx, gy, wxx, wyy, frames, line)
        if not lag:
            return nan
        width = int(min(n_t, max(STEADY_LAGS * lag, STEADY_MIN_WINDOW)))
        step = max(1, width // _POOL_CENTRES)
        centres = np.arange(0, n_t, step)
        a = np.clip(centres - width // 2, 0, n_t - width)
        b = a + width
        okf = ok.astype(float)
        g = np.column_stack([np.where(ok, gx, 0.0), np.where(ok, gy, 0.0)])
        n = _window_sums(okf, a, b)
        s1 = _window_sums(g, a, b)
        s2 = _window_sums(g[:, :, None] * g[:, None, :], a, b)
        mean = s1 / n[:, None]
        cov = (s2 - n[:, None, None] * mean[:, :, None] * mean[:, None, :]) / (
            n - 1)[:, None, None]
        # independent frames: one per lag of the span the window's usable frames cover
        first = frames[np.minimum(np.searchsorted(frames, a), len(frames) - 1)]
        last = frames[np.maximum(np.searchsorted(frames, b) - 1, 0)]
        indep = np.where(n > 0, np.minimum(n, (last - first + 1) / lag), 0.0)
        near = _nearest(n_t, step, len(centres))
        if line:  # the slope along the line only
            inv = np.zeros_like(cov)
            inv[:, 0, 0] = 1.0 / cov[:, 0, 0]
        else:  # 2 x 2 inverses; NaN for windows of one usable frame or none
            det = cov[:, 0, 0] * cov[:, 1, 1] - cov[:, 0, 1] ** 2
            inv = np.stack([np.stack([cov[:, 1, 1], -cov[:, 0, 1]], -1),
                            np.stack([-cov[:, 0, 1], cov[:, 0, 0]], -1)], -2)
            inv = inv / np.where(det > 0, det, np.nan)[:, None, None]
        t2 = np.einsum("ci,cij,cj->c", mean, inv, mean) * indep
        f = t2 * (indep - q) / (q * (indep - 1))
        p = stats.f.sf(f, q, np.maximum(indep - q, 1.0))
        p = np.where(indep >= STEADY_MIN_FRAMES, p, np.nan)
        lof = indep * _steady_residual(gx, gy, offset, ok, u, xy, a, b)
        nu = np.maximum(_window_sums(np.where(ok, dof, 0.0), a, b) / n, 1.0)
        fits = lof <= stats.chi2.isf(STEADY_FIT, nu) / nu
        keep = ok & fits[near] & np.isfinite(p[near])
        c = cov[near] / indep[near, None, None]
        values = (p[near], mean[near, 0], mean[near, 1], c[:, 0, 0], c[:, 0, 1],
                  c[:, 1, 1], indep[near] - q)
        return np.stack([np.where(keep, v, np.nan) for v in values])


def _nearest(n_t: int, step: int, n_centres: int) -> np.ndarray:
    """The window centre nearest each frame."""
    return np.minimum(np.rint(np.arange(n_t) / step).astype(int), n_centres - 1)


def _steady_residual(gx, gy, offset, ok, u, xy, a, b) -> np.ndarray:
    """Per window (frames ``a`` to ``b``): ``sum_j mean_j**2 / sum_j var_j`` of the
    sites' residuals ``sin(e_j)`` from their frames' planes over the usable frames
    ``ok`` (mean: the steady residual map; var: the scatter over the frames), in
    blocks of sites."""
    num = np.zeros(len(a))
    den = np.zeros(len(a))
    block = max(1, (1 << 21) // max(len(gx), 1))
    for j0 in range(0, len(xy), block):
        r = xy[j0:j0 + block]
        with np.errstate(invalid="ignore"):
            e = (phasors(u[:, j0:j0 + block]) * np.exp(-1j * (np.outer(gx, r[:, 0])
                                                     + np.outer(gy, r[:, 1])
                                                     + offset[:, None]))).imag
        valid = ok[:, None] & np.isfinite(e)
        e = np.where(valid, e, 0.0)
        n = _window_sums(valid.astype(float), a, b)
        m1 = _window_sums(e, a, b)
        m2 = _window_sums(e * e, a, b)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = m1 / n
            var = (m2 - n * mean * mean) / (n - 1)
        keep = n > 1
        num += np.where(keep, mean * mean, 0.0).sum(axis=1)
        den += np.where(keep, var, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def steady_agrees(gx, gy, cov, mean_x, mean_y, mean_cov, line: bool) -> np.ndarray:
    """Whether each frame's slope (``gx``, ``gy``, covariance ``cov``: xx, xy, yy) lies
    within the upper ``STEADY_AGREE`` tail of ``chi2_q`` of its window's steady
    gradient (``mean_x``, ``mean_y``, ``mean_cov``): a window can span more than one
    wave (or a wave and a synchronous stretch), and its mean then describes none of
    them; a frame whose own slope is measured well enough to differ from it is judged
    by itself."""
    with np.errstate(invalid="ignore", divide="ignore"):
        dx, dy = gx - mean_x, gy - mean_y
        sxx, sxy, syy = (c + m for c, m in zip(cov, mean_cov, strict=True))
        if line:
            dev, q = dx * dx / sxx, 1
        else:
            dev = (syy * dx * dx - 2 * sxy * dx * dy + sxx * dy * dy) / (sxx * syy - sxy**2)
            q = 2
        return np.nan_to_num(dev, nan=np.inf) <= stats.chi2.isf(STEADY_AGREE, q)
