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
residuals ``e_j = phi_j - k . r_j - offset`` on position, so (Fisher 1993, the circular
mean's standard error generalised to a slope; Kempter et al. 2012) the covariance of the
wave vector is ``s2 / R**2 * inv(S)``, with ``s2 = sum sin(e_j)**2 / (n - 3)`` the
residual scatter, ``R = mean cos(e_j)`` the fit strength and ``S`` the scatter matrix of
the valid sites' positions about their mean. It assumes independent residuals across
sites; spatially correlated noise makes it too narrow.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import stats

from ._circular import circ_corr_phasors, unit_phasor
from ._common import frame_blocks
from ._geometry import Geometry

#: Fitted quantities per frame, in this order: the wave vector (= the phase gradient),
#: the phase at the origin, R, the circular correlation of measured and fitted phase, the
#: covariance of the wave vector (xx, xy, yy), the synchrony (R of a flat phase), the
#: number of valid sites, and the p-value of the Wald test of a zero gradient.
FIELDS = ("dphi_dx", "dphi_dy", "offset", "strength", "rho", "cov_xx", "cov_xy", "cov_yy",
          "flat", "n_valid", "gradient_p")
#: Lattice points from the centre to k_max at most, on irregular positions: (2 m + 1)^2
#: candidates, times the sites, complex values in memory.
_MAX_HALF_LATTICE = 64
#: Residual phase scatter (rad) below which a fit is taken as exact: the refinement stops
#: at 1e-7 of the lattice step, so smaller residuals are numerical, not measured.
MIN_SCATTER = 1e-6


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
        self.extent = extent = max(float(np.ptp(geom.xy[:, 0])),
                                   float(np.ptp(geom.xy[:, 1])), 1e-300)
        self.fft = geom.kind in ("grid", "line") and _uniform(geom.x) and (
            geom.y is None or _uniform(geom.y))
        self.k_max = float(k_max) if k_max is not None else None
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

    def fit(self, u: np.ndarray) -> np.ndarray:
        """Fit unit phasors ``u`` (frames, n_sites; NaN = missing) -> (frames, FIELDS)."""
        valid = np.isfinite(u)
        u = np.where(valid, u, 0.0)
        n_valid = valid.sum(axis=1)
        k, c = self._refine(u, self._coarse(u))
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
        out[:, 5:8] = cov = self._covariance(c, f, valid, n_valid)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, 8] = np.abs(u.sum(axis=1)) / n_valid
        out[:, 9] = n_valid
        dof = n_valid - (2 if self.geom.kind == "line" else 3)  # residual degrees of freedom
        out[:, 10] = _wald_p(k, cov, dof, line=self.geom.kind == "line")
        out[dof < 1, 5:8] = np.nan
        out[dof < 1, 10] = np.nan
        out[n_valid < 3, :9] = np.nan
        return out

    def _covariance(self, c, f, valid, n_valid) -> np.ndarray:
        """Covariance (xx, xy, yy) of the fitted wave vector, (frames, 3); see the module."""
        with np.errstate(invalid="ignore", divide="ignore"):
            resid = (c * np.conj(f / np.abs(f))[:, None]).imag  # sin(e_j); 0 at gaps
            dof = n_valid - (2 if self.geom.kind == "line" else 3)
            s2 = np.maximum(np.einsum("ij,ij->i", resid.real, resid.real) / dof,
                            MIN_SCATTER**2)
            strength = np.abs(f) / n_valid
            m = valid.astype(float) @ self.moments[:, :5]  # sums of x, y, x^2, xy, y^2
            sxx = m[:, 2] - m[:, 0] ** 2 / n_valid
            sxy = m[:, 3] - m[:, 0] * m[:, 1] / n_valid
            syy = m[:, 4] - m[:, 1] ** 2 / n_valid
            if self.geom.kind == "line":  # a line: no y slope (fixed at 0, no variance)
                zero = np.zeros_like(sxx)
                return np.column_stack([s2 / (strength**2 * sxx), zero, zero])
            det = sxx * syy - sxy**2
            # sites on a line (a one-row grid) do not constrain the slope across it: NaN
            det = np.where(det > 1e-12 * (sxx + syy) ** 2, det, np.nan)
            scale = s2 / (strength**2 * det)
            return np.column_stack([scale * syy, -scale * sxy, scale * sxx])

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
        """Safeguarded Newton ascent on S(k) = |sum u exp(-i k . r)|^2, all frames at once.

        Returns the wave vectors and ``c = u exp(-i k . (r - centre))`` at them. Frames
        leave the iteration once their step falls below 1e-7 of the lattice spacing.
        """
        moments = self.moments
        k = k.copy()
        c = u * self._factors(k)
        s = np.abs(c.sum(axis=1)) ** 2
        radius = np.full(len(u), self.step)
        tol = 1e-7 * self.step
        active = np.arange(len(u))
        for _ in range(self.max_iter):
            ca = c[active]
            f = ca.sum(axis=1)
            mom = ca @ moments  # sums of c * (x, y, x^2, xy, y^2)
            fx, fy = -1j * mom[:, 0], -1j * mom[:, 1]
            fxx, fxy, fyy = -mom[:, 2], -mom[:, 3], -mom[:, 4]
            cf = np.conj(f)
            gx, gy = 2 * np.real(cf * fx), 2 * np.real(cf * fy)
            hxx = 2 * np.real(np.abs(fx) ** 2 + cf * fxx)
            hxy = 2 * np.real(np.conj(fx) * fy + cf * fxy)
            hyy = 2 * np.real(np.abs(fy) ** 2 + cf * fyy)
            det = hxx * hyy - hxy**2
            concave = (hxx < 0) & (det > 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                newton = -np.column_stack([hyy * gx - hxy * gy, hxx * gy - hxy * gx]) / det[
                    :, None]
            step = np.nan_to_num(np.where(concave[:, None], newton, np.column_stack([gx, gy])))
            norm = np.hypot(step[:, 0], step[:, 1])
            converged = concave & (norm < tol)  # at the maximum: no trial evaluation
            if converged.any():
                keep = ~converged
                active, step, norm, concave = (active[keep], step[keep], norm[keep],
                                               concave[keep])
                if active.size == 0:
                    break
            r = radius[active]
            # Newton steps are capped at the trust radius; uphill (gradient) steps take it
            scale = np.where(concave & (norm <= r), 1.0, r / np.maximum(norm, 1e-300))
            step *= scale[:, None]
            trial = k[active] + step
            c_new = u[active] * self._factors(trial)
            s_new = np.abs(c_new.sum(axis=1)) ** 2
            better = s_new >= s[active]
            moved = np.hypot(step[:, 0], step[:, 1])
            take = active[better]
            k[take], c[take], s[take] = trial[better], c_new[better], s_new[better]
            radius[active] = np.where(better, np.maximum(r, 2 * moved), 0.25 * moved)
            done = (radius[active] <= tol) | (better & (moved < tol))
            active = active[~done]
            if active.size == 0:
                break
        return k, c


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


def _neighbour(index: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Candidate number at lattice cells (i, j), -1 outside the lattice or the disk."""
    n = index.shape[0]
    inside = (i >= 0) & (i < n) & (j >= 0) & (j < n)
    found = index[np.clip(i, 0, n - 1), np.clip(j, 0, n - 1)]
    return np.where(inside, found, -1)


def _vertex(left, mid, right) -> np.ndarray:
    """Offset (in bins, within +-0.5) of the vertex of the parabola through three
    samples of log power: a sub-bin start for Newton."""
    with np.errstate(invalid="ignore", divide="ignore"):
        a, b, c = np.log(left), np.log(mid), np.log(right)
        off = 0.5 * (a - c) / (a - 2 * b + c)
    return np.clip(np.nan_to_num(off), -0.5, 0.5)


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


def plane_fit_kernel(z: np.ndarray, *, fitter: PlaneFitter) -> tuple:
    """apply_ufunc kernel: (..., *space) -> one (...) array per entry of FIELDS."""
    space = fitter.geom.shape
    lead = z.shape[: z.ndim - len(space)]
    flat = z.reshape(-1, int(np.prod(space)))
    out = np.empty((flat.shape[0], len(FIELDS)))
    for sl in frame_blocks(flat.shape[0], flat.shape[1], 1 << 16):
        out[sl] = fitter.fit(phasors(flat[sl]))
    return tuple(out[:, i].reshape(lead) for i in range(len(FIELDS)))
