"""NumPy kernels of the per-frame pattern decision, shared by
:func:`~wavescope.analysis.classify_patterns` and the null of
:func:`~wavescope.analysis.detect_waves` (which decides surrogate frames without xarray).

The kernels work on plain arrays (time last where they pool over frames); the public
functions in :mod:`wavescope.analysis.waves` wrap them.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import stats
from scipy.special import ndtri, stdtrit

from ._circular import TWO_PI
from ._common import frame_blocks
from ._geometry import Geometry
from ._patterns import PatternFinder
from ._planefit import (
    STEADY_FRAME_P,
    _wald_p,
    phasors,
    pooled_scale,
    steady_agrees,
    steady_slopes,
)


def flat_frames(z: np.ndarray, geom: Geometry) -> tuple[np.ndarray, tuple]:
    lead = z.shape[: z.ndim - len(geom.shape)]
    return z.reshape(-1, geom.n_sites), lead


#: Upper tail of chi2_nu / nu beyond which the frames' scatter exceeds the HAC (the
#: pooled slope test; see pool_kernel).
AGREE = 0.01


def pool_kernel(gx, gy, cxx, cxy, cyy, wxx, wxy, wyy, dof, p, use, offset=None, z=None,
                 *, line, steady=False, xy=None):
    """The slope covariance (xx, xy, yy), its degrees of freedom and the slope test's
    p-value pooled over frames (time last), the pooled scale, and (with ``steady``:
    the frames' plane ``offset``, their values ``z`` (..., time, *space) and the
    sites' positions ``xy``) the steady gradient's p-value (else NaN); see
    :func:`_pooled`."""
    if steady:
        steady = steady_slopes(gx, gy, offset, wxx, wyy, dof, use,
                               np.asarray(z).reshape(*np.shape(gx), len(xy)), xy, line)
    else:
        steady = (np.full(np.shape(gx), np.nan),) * 7
    with np.errstate(invalid="ignore", divide="ignore"):
        # the HAC covariance over the independent-site one (trace of inv(W) C / q)
        ratio = cxx / wxx if line else (wyy * cxx - 2 * wxy * cxy + wxx * cyy) / (
            wxx * wyy - wxy**2) / 2
    scale, nu, typical = pooled_scale(gx, gy, wxx, wxy, wyy, use, line, ratio)
    # never below the independent-site covariance: slopes steadier than their noise
    # (a radial wave's plane fit misfits the same way in every frame) say nothing of
    # other frames in the window
    scale = np.maximum(scale, 1.0)
    pooled = np.isfinite(scale)
    # the frames' scatter replaces the HAC only where it is larger, beyond the upper 1 %
    # of chi2_nu / nu (the HAC misses noise the slope absorbs). Where the slopes scatter
    # less than the HAC allows, the HAC stands: a phase pattern that stays put from frame
    # to frame (fixed per-site lags, a model's standing structure) tilts every frame's
    # slope the same way, which no scatter over time can show
    with np.errstate(invalid="ignore", divide="ignore"):
        r = scale / typical
        nu_ok = np.where(pooled, nu, 1.0)
        larger = r > stats.chi2.isf(AGREE, nu_ok) / nu_ok
        pooled &= larger
        cov = [np.where(pooled, scale * w, c) for c, w in ((cxx, wxx), (cxy, wxy), (cyy, wyy))]
        dof = np.where(pooled, nu, dof)
    k = np.stack([np.ravel(gx), np.ravel(gy)], axis=1)
    p_pooled = _wald_p(k, np.stack([np.ravel(c) for c in cov], axis=1), np.ravel(dof),
                       line).reshape(np.shape(gx))
    p = np.where(pooled, p_pooled, p)
    # the window's steady gradient decides only frames whose own slope points somewhere
    # and agrees with it, under the mean's covariance plus the frame's own or the
    # frames' scatter (the pooled scale wherever it is estimated: the HAC can miss
    # noise that the slope absorbs)
    scatter = [scale * w for w in (wxx, wxy, wyy)]
    own = (np.nan_to_num(p, nan=np.inf) < STEADY_FRAME_P) & (
        steady_agrees(gx, gy, cov, steady[1], steady[2], steady[3:6], line)
        | steady_agrees(gx, gy, scatter, steady[1], steady[2], steady[3:6], line))
    steady = [np.where(own, v, np.nan) for v in steady]
    return (*cov, dof, p, np.where(pooled, scale, np.nan), *steady)


def wave_intervals(gx, gy, cxx, cxy, cyy, omega, omega_se, sign, confidence,
                    dof=None) -> dict:
    """Direction, speed and wavelength of a phase gradient (gx, gy) with covariance
    (cxx, cxy, cyy), and their delta-method intervals (see :func:`fit_plane_wave`).

    ``dof``: degrees of freedom of the covariance (the effective number of sites less
    the fitted parameters, at least 1): Student's t quantiles, as the slope test's;
    None for normal quantiles.

    Works elementwise on NumPy or xarray inputs. The spatial frequency ``|k|`` gets the
    interval ``|k| (1 -+ z r_k)``, ``r_k`` its relative SE; the slowness likewise with
    ``r = sqrt(r_k**2 + (omega_se / omega)**2)``; inverting them gives wavelength and
    speed intervals (upper end NaN, unbounded, once ``z r >= 1``).
    """
    level = 0.5 + confidence / 2
    q = float(ndtri(level)) if dof is None else stdtrit(np.maximum(dof, 1.0), level)
    with np.errstate(divide="ignore", invalid="ignore"):
        kmag = np.hypot(gx, gy)
        k2 = kmag * kmag
        var_k = (gx * gx * cxx + 2 * gx * gy * cxy + gy * gy * cyy) / k2
        var_dir = (gy * gy * cxx - 2 * gx * gy * cxy + gx * gx * cyy) / (k2 * k2)
        rel_k = np.sqrt(var_k) / kmag
        rel_s = np.sqrt(rel_k * rel_k + (omega_se / omega) ** 2)
        direction = wrap_angle(np.arctan2(-sign * gy, -sign * gx))
        speed = np.abs(omega) / kmag
        wl = TWO_PI / kmag
        dir_se = np.sqrt(var_dir)
        half = q * dir_se
        out = {
            "kmag": kmag, "direction": direction, "speed": speed, "wavelength": wl,
            "direction_se": dir_se,
            "direction_low": wrap_angle(direction - half),
            "direction_high": wrap_angle(direction + half),
            "speed_low": speed / (1 + q * rel_s),
            "speed_high": speed / (1 - q * rel_s),
            "wavelength_low": wl / (1 + q * rel_k),
            "wavelength_high": wl / (1 - q * rel_k),
        }
    wide = ~(half < np.pi)
    for key in ("direction_low", "direction_high"):
        out[key] = where_any(wide, np.nan, out[key])
    out["speed_high"] = where_any(~(q * rel_s < 1), np.nan, out["speed_high"])
    out["wavelength_high"] = where_any(~(q * rel_k < 1), np.nan, out["wavelength_high"])
    for key in ("speed", "wavelength", "speed_low", "wavelength_low", "direction"):
        out[key] = where_any(kmag > 0, out[key], np.nan)  # no gradient: no speed, no direction
    return out


def where_any(cond, a, b):
    if any(isinstance(v, xr.DataArray) for v in (cond, a, b)):
        return xr.where(cond, a, b)
    return np.where(cond, a, b)


def wrap_angle(a):
    """Angles wrapped to (-pi, pi] (arctan2 can give -pi, which is turned to pi)."""
    a = np.arctan2(np.sin(a), np.cos(a))
    return where_any(a <= -np.pi, np.pi, a)


def centre_kernel(z: np.ndarray, *, finder: PatternFinder, want: str, centre):
    flat, lead = flat_frames(z, finder.geom)
    n_out = {"radial": 8, "rotation": 5, "both": 13}[want]
    out = np.full((n_out, flat.shape[0]), np.nan)
    for sl in frame_blocks(flat.shape[0], finder.geom.n_sites, 1 << 16):
        u = phasors(flat[sl])
        phi = np.angle(u)
        grad = finder.gradient(phi)
        if isinstance(centre, str) and centre == "divergence":
            div, curl = finder.div_curl(grad)
        # sites missing in every frame of the block (outside a cranial window) add only
        # zeros to the fits: leave them out
        live = np.isfinite(u).any(axis=0)
        sites = None if live.all() or not live.any() else np.flatnonzero(live)
        if sites is not None:
            u, grad = u[:, sites], (grad[0][:, sites], grad[1][:, sites])
        row = 0
        for kind in ("radial", "rotation"):
            if want not in (kind, "both"):
                continue
            if not isinstance(centre, str):
                c = np.broadcast_to(centre, (len(u), 2))
            elif centre == "fit":
                c = finder.fit_centre(grad, kind, sites=sites)
            else:
                c = finder.locate(div if kind == "radial" else curl)
            if kind == "radial":
                out[row:row + 8, sl] = [*finder.radial(u, c, grad, sites), c[:, 0], c[:, 1]]
                row += 8
            else:
                out[row:row + 5, sl] = [*finder.rotational(u, c, sites), c[:, 0], c[:, 1]]
    return tuple(o.reshape(lead) for o in out)


def label_kernel(sync, pgd_, strength, gradient_p, radial, radial_p, radial_r, rotation,
                  rotation_p, rotation_r, rcx, rcy, ocx, ocy, *, thresholds):
    t_sync, t_pgd, t_strength, t_rad, t_rot, alpha = thresholds
    code = np.zeros(np.shape(sync), dtype=np.int8)
    score = np.full(np.shape(sync), np.nan)
    cx = np.full(np.shape(sync), np.nan)
    cy = np.full(np.shape(sync), np.nan)

    def at_least(a, t):  # NaN never passes
        return np.nan_to_num(np.asarray(a, dtype=float), nan=-np.inf) >= t

    def below(p):
        return np.nan_to_num(np.asarray(p, dtype=float), nan=np.inf) < alpha

    rad_abs = np.where(below(radial_p), np.nan_to_num(np.abs(radial), nan=-1.0), -1.0)
    rot_abs = np.where(below(rotation_p), np.nan_to_num(np.abs(rotation), nan=-1.0), -1.0)
    # a radial or rotating label only where that model describes the phase at least as
    # well as the plane does (a plane wave in smooth noise has a plane's R, not a
    # rotation's, whether or not its own slope test passes)
    plane_r = np.nan_to_num(np.asarray(strength, dtype=float), nan=-np.inf)
    radial_wins = (rad_abs >= rot_abs) & (rad_abs >= t_rad) & at_least(radial_r, plane_r)
    rotation_wins = (rot_abs > rad_abs) & (rot_abs >= t_rot) & at_least(rotation_r, plane_r)
    # a plane describes part of a rotating (or radial) map too: planar only where no
    # qualifying radial or rotating model describes the phase better
    rival = np.where(radial_wins, np.asarray(radial_r, dtype=float),
                     np.where(rotation_wins, np.asarray(rotation_r, dtype=float), -np.inf))
    planar = ((at_least(strength, t_strength) | at_least(pgd_, t_pgd)) & below(gradient_p)
              & at_least(strength, np.nan_to_num(rival, nan=-np.inf)))
    radial_wins &= ~planar
    rotation_wins &= ~planar
    is_sync = ~planar & ~radial_wins & ~rotation_wins & at_least(sync, t_sync)
    for mask, c, value, x, y in (
        (radial_wins & (radial > 0), 2, radial, rcx, rcy),
        (radial_wins & (radial < 0), 3, -np.asarray(radial), rcx, rcy),
        (rotation_wins & (rotation < 0), 4, -np.asarray(rotation), ocx, ocy),
        (rotation_wins & (rotation > 0), 5, rotation, ocx, ocy),
        (planar, 1, strength, None, None),
        (is_sync, 6, sync, None, None),
    ):
        code[mask] = c
        score[mask] = np.asarray(value)[mask]
        if x is not None:
            cx[mask] = np.asarray(x)[mask]
            cy[mask] = np.asarray(y)[mask]
    return code, score, cx, cy
