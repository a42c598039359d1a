"""Circular-linear regression of a phase map on position (private kernel of fit_plane_wave).

Per frame, maximise ``R(a, b) = |mean_j exp(i (phi_j - a x_j - b y_j))|``. ``N R`` is the
modulus of the spatial Fourier transform of the unit phasors ``u_j = exp(i phi_j)`` at
wave vector (a, b), so:

1. coarse search: on a uniform grid, the zero-padded 2-D FFT gives R on a fine (a, b)
   lattice over the whole Nyquist square in O(n log n) per frame; on irregular positions
   a lattice of candidates with spacing ``2 pi / (oversample L)`` inside ``|k| <= k_max``
   (L the array's extent) is evaluated by one matrix product per block of frames;
2. refinement: safeguarded Newton ascent on ``S = |sum_j u_j exp(-i k . r_j)|**2`` with
   analytic gradient and Hessian, vectorised over frames, from the best candidate.

The lattice is three times finer than the width of R's main lobe (``2 pi / L``), so the
best candidate lies in the main lobe of the global maximum and Newton converges to it.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from ._circular import circ_corr, unit_phasor
from ._common import frame_blocks
from ._geometry import Geometry

#: Fitted quantities per frame, in this order.
FIELDS = ("dphi_dx", "dphi_dy", "offset", "strength", "rho")


class PlaneFitter:
    """Precomputed search lattice for one geometry."""

    def __init__(self, geom: Geometry, k_max: float | None, oversample: float,
                 max_iter: int):
        self.geom = geom
        self.max_iter = int(max_iter)
        self.xy = geom.xy
        self.centre = geom.xy.mean(axis=0)
        self.rc = geom.xy - self.centre  # centred positions: well-conditioned sums
        extent = max(float(np.ptp(geom.xy[:, 0])), float(np.ptp(geom.xy[:, 1])), 1e-300)
        self.fft = geom.kind in ("grid", "line") and _uniform(geom.x) and (
            geom.y is None or _uniform(geom.y))
        self.k_max = float(k_max) if k_max is not None else None
        if self.fft:
            hx = float(np.diff(geom.x).mean()) if geom.x.size > 1 else 1.0
            self.px = sfft.next_fast_len(int(np.ceil(oversample * geom.x.size)))
            self.ax = 2 * np.pi * np.fft.fftfreq(self.px, hx)
            if geom.y is not None:
                hy = float(np.diff(geom.y).mean()) if geom.y.size > 1 else 1.0
                self.py = sfft.next_fast_len(int(np.ceil(oversample * geom.y.size)))
                self.ay = 2 * np.pi * np.fft.fftfreq(self.py, hy)
                self.step = max(2 * np.pi / (self.px * hx), 2 * np.pi / (self.py * hy))
            else:
                self.step = 2 * np.pi / (self.px * hx)
        else:
            if self.k_max is None:
                self.k_max = np.pi / geom.spacing()
            self.step = 2 * np.pi / (oversample * extent)
            m = int(np.floor(self.k_max / self.step))
            grid = np.arange(-m, m + 1) * self.step
            ka, kb = np.meshgrid(grid, grid, indexing="ij")
            keep = ka**2 + kb**2 <= self.k_max**2 + 1e-12
            self.cand = np.column_stack([ka[keep], kb[keep]])
            self.basis = np.exp(-1j * (self.rc @ self.cand.T))  # (n_sites, n_candidates)

    def fit(self, u: np.ndarray) -> np.ndarray:
        """Fit unit phasors ``u`` (frames, n_sites; NaN = missing) -> (frames, 5), FIELDS."""
        valid = np.isfinite(u)
        phi = np.angle(u)
        u = np.where(valid, u, 0.0)
        n_valid = valid.sum(axis=1)
        k = self._coarse(u)
        k = self._refine(u, k)
        f = np.sum(u * np.exp(-1j * (k @ self.xy.T)), axis=1)
        out = np.empty((phi.shape[0], len(FIELDS)))
        out[:, 0:2] = k
        out[:, 2] = np.angle(f)  # phase at the coordinate origin
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, 3] = np.abs(f) / n_valid
        fitted = k @ self.xy.T + out[:, 2:3]
        out[:, 4] = circ_corr(np.where(valid, phi, np.nan), fitted)
        out[n_valid < 3] = np.nan
        return out

    def _coarse(self, u: np.ndarray) -> np.ndarray:
        if self.fft:
            g = self.geom
            if g.y is None:
                power = np.abs(sfft.fft(u, n=self.px, axis=-1)) ** 2
                ix = np.argmax(power, axis=-1)
                return np.column_stack([self.ax[ix], np.zeros(len(ix))])
            grid = u.reshape(-1, g.y.size, g.x.size)
            spec = sfft.fft2(grid, s=(self.py, self.px), axes=(-2, -1))
            power = spec.real**2 + spec.imag**2
            if self.k_max is not None:
                outside = (self.ay[:, None] ** 2 + self.ax[None, :] ** 2) > self.k_max**2
                power[:, outside] = -1.0
            flat = np.argmax(power.reshape(len(u), -1), axis=-1)
            iy, ix = np.unravel_index(flat, (self.py, self.px))
            return np.column_stack([self.ax[ix], self.ay[iy]])
        out = np.empty((len(u), 2))
        for sl in frame_blocks(len(u), self.basis.shape[1], 1 << 18):
            spec = u[sl] @ self.basis
            power = spec.real**2 + spec.imag**2
            out[sl] = self.cand[np.argmax(power, axis=-1)]
        return out

    def _refine(self, u: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Safeguarded Newton ascent on S(k) = |sum u exp(-i k . r)|^2, all frames at once."""
        rc = self.rc
        moments = np.column_stack([rc[:, 0], rc[:, 1], rc[:, 0] ** 2, rc[:, 0] * rc[:, 1],
                                   rc[:, 1] ** 2])
        radius = np.full(len(u), self.step)
        tol = 1e-9 * self.step

        def evaluate(kk):
            c = u * np.exp(-1j * (kk @ rc.T))
            return c, np.abs(c.sum(axis=1)) ** 2

        c, s = evaluate(k)
        active = np.ones(len(u), dtype=bool)
        for _ in range(self.max_iter):
            f = c.sum(axis=1)
            mom = c @ moments  # sums of c * (x, y, x^2, xy, y^2)
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
                step = np.where(concave[:, None],
                                -np.column_stack([hyy * gx - hxy * gy,
                                                  hxx * gy - hxy * gx]) / det[:, None],
                                np.column_stack([gx, gy]))
            step = np.nan_to_num(step)
            norm = np.hypot(step[:, 0], step[:, 1])
            scale = np.where(norm > radius, radius / np.maximum(norm, 1e-300), 1.0)
            # where not concave, the gradient step is scaled to the trust radius
            scale = np.where(concave, scale, radius / np.maximum(norm, 1e-300))
            step *= scale[:, None]
            step[~active] = 0.0
            trial = k + step
            c_new, s_new = evaluate(trial)
            better = s_new >= s
            k = np.where(better[:, None], trial, k)
            c = np.where(better[:, None], c_new, c)
            s = np.where(better, s_new, s)
            moved = np.hypot(step[:, 0], step[:, 1])
            radius = np.where(better, np.maximum(radius, 2 * moved), 0.25 * moved)
            active &= (radius > tol) & ~(better & (moved < tol))
            if not active.any():
                break
        return k


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
    """apply_ufunc kernel: (..., *space) -> five (...) arrays."""
    space = fitter.geom.shape
    lead = z.shape[: z.ndim - len(space)]
    flat = z.reshape(-1, int(np.prod(space)))
    out = np.empty((flat.shape[0], len(FIELDS)))
    for sl in frame_blocks(flat.shape[0], flat.shape[1], 1 << 16):
        out[sl] = fitter.fit(phasors(flat[sl]))
    return tuple(out[:, i].reshape(lead) for i in range(len(FIELDS)))
