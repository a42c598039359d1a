"""Centres and correlations of radial and rotating waves (private kernels).

The centre of a radial wave is where the travel directions ``-grad phi / |grad phi|``
diverge (source) or converge (sink) most: the argmax of the absolute divergence of that
unit field after Gaussian smoothing over sites. A rotating wave's centre is the argmax
of the absolute curl. The argmax site is refined to the |field|-weighted centroid of its
nearest sites, so centres between sites are found too.

Radial: circular-linear regression of phase on distance ``d`` from the centre (maximise
``|mean exp(i (phi - s d))|`` over the slope ``s``, by Newton from the median radial
derivative of phase), and the
circular-linear correlation of Kempter et al. (2012),
``rho = circ_corr(phi, |s| d)``: negative when phase falls with distance.
Rotating: Fisher-Lee circular-circular correlation of phase with the polar angle about
the centre: -1 for ``phi = omega t - theta`` (counter-clockwise when omega > 0).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats
from scipy.spatial import cKDTree

from ._circular import circ_corr, fisher_lee
from ._geometry import Geometry, derivative, smoothing_matrix
from ._planefit import MIN_SCATTER, SpatialHAC


class PatternFinder:
    """Precomputed smoothing, neighbour lists and slope lattice for one geometry."""

    def __init__(self, geom: Geometry, sigma: float | None = None, oversample: float = 3.0):
        self.geom = geom
        self.xy = geom.xy
        spacing = geom.spacing()
        self.spacing = spacing
        self.sigma = float(sigma) if sigma else spacing
        self._smooth = None
        self._last = None  # (grad, directions) of the last centre fit
        self._sites = None  # (sites, their positions) of the last fit
        self._hac = None
        k = min(5, geom.n_sites)
        _, self.near = cKDTree(self.xy).query(self.xy, k=k)
        self.near = np.atleast_2d(self.near).reshape(geom.n_sites, k)
        diameter = float(np.hypot(np.ptp(self.xy[:, 0]), np.ptp(self.xy[:, 1])))
        self.slope_step = 2 * np.pi / (oversample * max(diameter, 1e-300))

    @property
    def smooth(self):
        """Gaussian weights between sites (built on first use: only "divergence" needs it)."""
        if self._smooth is None:
            self._smooth = smoothing_matrix(self.geom, self.sigma)
        return self._smooth

    @property
    def hac(self) -> SpatialHAC:
        """The plane fit's spatial HAC for these sites (built on first use)."""
        if self._hac is None:
            self._hac = SpatialHAC(self.geom)
        return self._hac

    def _effective(self, w, resid, valid, sites) -> tuple[np.ndarray, np.ndarray]:
        """``sum_jl w_j w_l K_jl`` and ``sum_jl K_jl`` (frames,) of scores ``w`` on
        ``sites`` (all when None), the kernel's bandwidth from the residuals ``resid``:
        the plane fit's allowance for residuals correlated across sites."""
        if sites is not None:  # back onto every site of the geometry, 0 / invalid elsewhere
            parts = []
            for a, fill in ((w, 0.0), (resid, 0.0), (valid, False)):
                full = np.full((len(a), self.geom.n_sites), fill, dtype=a.dtype)
                full[:, sites] = a
                parts.append(full)
            w, resid, valid = parts
        meat, ksum = self.hac.sums(w, w, resid, valid, valid.sum(axis=1))
        return meat[:, 0], ksum

    # --- centres ----------------------------------------------------------------------------

    def div_curl(self, grad) -> tuple[np.ndarray, np.ndarray]:
        """Divergence and curl of the smoothed unit travel-direction field, (B, n) each."""
        geom = self.geom
        gx, gy = grad
        with np.errstate(invalid="ignore", divide="ignore"):
            mag = np.hypot(gx, gy)
            vx, vy = -gx / mag, -gy / mag
        ok = np.isfinite(vx) & np.isfinite(vy) & (mag > 0)
        w = self.smooth @ ok.T.astype(float)  # normalised convolution: NaN sites skipped
        with np.errstate(invalid="ignore", divide="ignore"):
            sx = (self.smooth @ np.where(ok, vx, 0.0).T / w).T
            sy = (self.smooth @ np.where(ok, vy, 0.0).T / w).T
        dxx, dxy = derivative(_shaped(sx, geom), geom, is_phase=False)
        dyx, dyy = derivative(_shaped(sy, geom), geom, is_phase=False)
        div = (dxx + dyy).reshape(gx.shape)
        curl = (dyx - dxy).reshape(gx.shape)
        return div, curl

    def locate(self, field: np.ndarray) -> np.ndarray:
        """Centre (x, y) per frame: argmax |field|, refined to a local weighted centroid."""
        a = np.abs(field)
        has = np.isfinite(a).any(axis=1)
        a = np.where(np.isfinite(a), a, -1.0)
        best = np.argmax(a, axis=1)
        idx = self.near[best]  # (B, k) nearest sites, the argmax first
        w = np.take_along_axis(np.clip(a, 0.0, None), idx, axis=1)
        w_sum = w.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            centre = np.einsum("bk,bkc->bc", w, self.xy[idx]) / w_sum
        centre = np.where(w_sum > 0, centre, self.xy[best])
        centre[~has] = np.nan
        return centre

    def gradient(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Phase gradient of frames ``phi`` (B, n), flattened to (B, n) each."""
        gx, gy = derivative(_shaped(phi, self.geom), self.geom)
        return gx.reshape(phi.shape), gy.reshape(phi.shape)

    def fit_centre(self, grad, kind: str, n_iter: int = 4, sites=None) -> np.ndarray:
        """Least-squares meeting point of the wave's rays, per frame (B, 2).

        A radial wave travels along rays from its centre, so the line through each site
        along its travel direction ``v`` passes through the centre; a rotating wave
        travels across them, so the line along ``v`` turned by 90 degrees does. The
        centre minimises the summed squared distances to those lines; a few rounds of
        Cauchy reweighting (scale: the site spacing) discount sites off the pattern.
        NaN when the lines are nearly parallel (a plane wave has no centre).
        ``sites``: indices of the sites ``grad`` holds (default all), as in the other fits.
        """
        vx, vy, prior = self._directions(grad)
        if kind == "radial":  # projector across the ray: I - v v^T
            pxx, pxy, pyy = 1.0 - vx * vx, -vx * vy, 1.0 - vy * vy
        else:  # the ray runs across v: projector v v^T
            pxx, pxy, pyy = vx * vx, vx * vy, vy * vy
        xy = self._xy(sites)
        x, y = xy[:, 0], xy[:, 1]
        px, py = pxx * x + pxy * y, pxy * x + pyy * y  # the same in every round
        w = prior
        centre = np.full((len(vx), 2), np.nan)
        for i in range(n_iter):
            a, b, c = (w * pxx).sum(1), (w * pxy).sum(1), (w * pyy).sum(1)
            bx = (w * px).sum(1)
            by = (w * py).sum(1)
            det = a * c - b * b
            good = det > 1e-3 * (a + c) ** 2
            with np.errstate(invalid="ignore", divide="ignore"):
                centre = np.column_stack([(c * bx - b * by) / det, (a * by - b * bx) / det])
            centre[~good] = np.nan
            if i == n_iter - 1:
                break  # the weights of a further round would not be used
            ex, ey = x[None] - centre[:, :1], y[None] - centre[:, 1:]
            dist2 = (pxx * ex + pxy * ey) ** 2 + (pxy * ex + pyy * ey) ** 2
            w = prior / (1.0 + dist2 / self.spacing**2)
            w = np.nan_to_num(w)
        return centre

    def _xy(self, sites) -> np.ndarray:
        """Positions of ``sites`` (all when None); kept for the last ``sites``."""
        if sites is None:
            return self.xy
        if self._sites is None or self._sites[0] is not sites:
            self._sites = (sites, self.xy[sites])
        return self._sites[1]

    def _directions(self, grad):
        """Unit gradient directions (0 where undefined) and the weights |grad|^2, (B, n)
        each; kept for the last ``grad`` so the radial and rotational fits share them."""
        if self._last is not None and self._last[0] is grad:
            return self._last[1]
        gx, gy = grad
        with np.errstate(invalid="ignore", divide="ignore"):
            mag = np.hypot(gx, gy)
            vx, vy = gx / mag, gy / mag
        ok = np.isfinite(vx) & np.isfinite(vy)
        # a site's direction is as reliable as its gradient is steep: weight |grad|^2
        out = np.where(ok, vx, 0.0), np.where(ok, vy, 0.0), np.where(ok, mag, 0.0) ** 2
        self._last = (grad, out)
        return out

    # --- correlations -----------------------------------------------------------------------

    def radial(self, u: np.ndarray, centre: np.ndarray, grad, sites=None
               ) -> tuple[np.ndarray, ...]:
        """Signed circular-linear correlation of phase with distance, the slope, its
        standard error, the p-value of a zero slope, the regression's strength R and the
        effective number of sites.

        The slope starts at the median radial derivative of phase (the gradient projected
        on the direction away from the centre, sites beyond one spacing) and is refined
        by Newton ascent of the regression strength, so no slope lattice is searched.
        Its SE is that of the plane fit (see ``_planefit``) with distance as the only
        regressor: the spatial HAC sandwich
        ``sum_jl w_j w_l K_jl / (R sum (d - mean d)**2)**2``, scores
        ``w_j = (d_j - mean d) sin(e_j)``, so residuals correlated across sites (smooth
        fields) widen it; the p-value is two-sided, Student's t with ``n_eff - 2``
        degrees of freedom, ``n_eff`` the effective number of sites. The centre is
        fitted to the same data, so the test is somewhat liberal; the correlation
        threshold guards it.
        """
        valid = np.isfinite(u)
        phi = np.where(valid, np.angle(u), np.nan)
        u0 = np.where(valid, u, 0.0)
        xy = self._xy(sites)
        dx = xy[None, :, 0] - centre[:, :1]
        dy = xy[None, :, 1] - centre[:, 1:]
        d = np.hypot(dx, dy)
        with np.errstate(invalid="ignore", divide="ignore"):
            along = (grad[0] * dx + grad[1] * dy) / d
        along[~(d > self.spacing)] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames
            start = np.nanmedian(along, axis=1)
        d = np.where(np.isfinite(d), d, 0.0)
        slope = _refine_slope(u0, d, np.nan_to_num(start), self.slope_step)
        rho = circ_corr(phi, np.abs(slope)[:, None] * d)
        se, p, strength, n_eff = self._slope_test(u0, valid, d, slope, sites)
        bad = ~np.isfinite(centre).all(axis=1) | (valid.sum(axis=1) < 3)
        for a in (rho, slope, se, p, strength, n_eff):
            a[bad] = np.nan
        return rho, slope, se, p, strength, n_eff

    def rotational(self, u: np.ndarray, centre: np.ndarray, sites=None
                   ) -> tuple[np.ndarray, ...]:
        """Fisher-Lee correlation of phase with the polar angle about ``centre``, the
        p-value of the rotation: the Rayleigh test of ``exp(i (phi - s theta))``, ``s``
        the sign of the correlation (phase that turns once with the angle is aligned by
        it; phase unrelated to the angle is not), and that resultant's length R (the
        strength of the rotating model, comparable with a plane fit's). The Rayleigh test
        counts every site: a misplaced centre leaves smooth residuals, so the plane
        fit's effective number of sites would reject true rotations; the correlation
        threshold guards it."""
        valid = np.isfinite(u)
        phi = np.where(valid, np.angle(u), np.nan)
        xy = self._xy(sites)
        dx = xy[None, :, 0] - centre[:, :1]
        dy = xy[None, :, 1] - centre[:, 1:]
        theta = np.arctan2(dy, dx)
        theta[np.hypot(dx, dy) < 1e-9 * self.spacing] = np.nan  # the centre has no angle
        rho = fisher_lee(phi, theta)
        ok = valid & np.isfinite(theta)
        aligned = np.where(ok, u * _cis_minus(np.sign(rho)[:, None] * np.where(
            ok, theta, 0.0)), 0.0)
        resultant, n = np.abs(aligned.sum(axis=1)), ok.sum(axis=1)
        p = rayleigh_p(resultant, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            strength = resultant / n
        bad = ~np.isfinite(centre).all(axis=1) | (valid.sum(axis=1) < 3) | ~np.isfinite(rho)
        for a in (rho, p, strength):
            a[bad] = np.nan
        return rho, p, strength

    def _slope_test(self, u, valid, d, slope, sites) -> tuple[np.ndarray, ...]:
        """SE, two-sided p-value, strength R and effective number of sites of the
        circular-linear slope of phase on ``d`` (see :meth:`radial`)."""
        n = valid.sum(axis=1)
        # recomputed, not kept from the refinement: complex products can round
        # differently in another batch of rows, and the results stay those of every
        # frame on its own
        c = u * _cis_minus(slope[:, None] * d)  # 0 at gaps
        f = c.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            resid = (c * np.conj(f / np.abs(f))[:, None]).imag  # sin(e_j), 0 at gaps
            dc = np.where(valid, d - np.where(valid, d, 0.0).sum(axis=1, keepdims=True)
                          / n[:, None], 0.0)
            sdd = np.einsum("ij,ij->i", dc, dc)
            meat, ksum = self._effective(dc * resid, resid, valid, sites)
            # HC1-style factor and the plane fit's floor of residual scatter
            meat = meat * n / (n - 2) + MIN_SCATTER**2 * sdd
            strength = np.abs(f) / n
            se = np.sqrt(meat) / (sdd * strength)
            n_eff = n * n / ksum
            p = 2 * stats.t.sf(np.abs(slope) / se, np.maximum(n_eff - 2, 1))
        p[n < 4] = np.nan
        return se, p, strength, n_eff


def rayleigh_p(resultant: np.ndarray, n: np.ndarray) -> np.ndarray:
    """p-value of the Rayleigh test for a resultant length ``|sum exp(i a)|`` of ``n``
    angles (Zar 1999, eq. 27.4: accurate to n of about 10)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        n = n.astype(float)
        return np.minimum(np.exp(np.sqrt(1 + 4 * n + 4 * (n**2 - resultant**2))
                                 - (1 + 2 * n)), 1.0)


def _cis_minus(x: np.ndarray) -> np.ndarray:
    """``exp(-i x)`` of real ``x`` from its cosine and sine: the values of NumPy's complex
    ``exp(-1j * x)`` (whose imaginary argument is ``-x`` exactly) at about half the cost."""
    out = np.empty(x.shape, dtype=np.result_type(x.dtype, np.complex64))
    np.cos(x, out=out.real)
    np.sin(x, out=out.imag)
    np.negative(out.imag, out=out.imag)
    return out


def _shaped(phi: np.ndarray, geom: Geometry) -> np.ndarray:
    return phi if geom.kind == "irregular" else phi.reshape(phi.shape[0], *geom.shape)


def _refine_slope(u: np.ndarray, d: np.ndarray, s: np.ndarray, step: float,
                  max_iter: int = 20) -> np.ndarray:
    """Safeguarded 1-D Newton ascent on S(s) = |sum u exp(-i s d)|^2, per frame."""
    radius = np.full(len(u), step)
    tol = 1e-9 * step

    def evaluate(rows, ss):
        c = u[rows] * _cis_minus(ss[:, None] * d[rows])
        return c, np.abs(c.sum(axis=1)) ** 2

    s = np.array(s, dtype=float)
    c, val = evaluate(slice(None), s)
    active = np.ones(len(u), dtype=bool)
    for _ in range(max_iter):
        # only frames still moving are evaluated: a converged frame's step is 0, which
        # would leave its slope, phasors and value exactly as they are
        rows = np.flatnonzero(active)
        cr, dr, r = c[rows], d[rows], radius[rows]
        f = cr.sum(axis=1)
        cd = cr * dr
        f1 = -1j * np.sum(cd, axis=1)
        f2 = -np.sum(cd * dr, axis=1)
        g = 2 * np.real(np.conj(f) * f1)
        h = 2 * np.real(np.abs(f1) ** 2 + np.conj(f) * f2)
        with np.errstate(invalid="ignore", divide="ignore"):
            newton = np.where(h < 0, -g / h, np.sign(g) * r)
        newton = np.nan_to_num(newton)
        step_ = np.clip(newton, -r, r)
        c_new, v_new = evaluate(rows, s[rows] + step_)
        better = v_new >= val[rows]
        s[rows] = np.where(better, s[rows] + step_, s[rows])
        c[rows[better]] = c_new[better]
        val[rows] = np.where(better, v_new, val[rows])
        moved = np.abs(step_)
        radius[rows] = np.where(better, np.maximum(r, 2 * moved), 0.25 * moved)
        active[rows] = (radius[rows] > tol) & ~(better & (moved < tol))
        if not active.any():
            break
    return s
