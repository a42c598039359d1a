"""Per-site time series made ready for the analytic signal, shared by the NumPy path
(:mod:`.analytic`) and the torch path (:mod:`._torch`): gaps and flat runs bridged, and the
generalized phase's repair of negative-frequency stretches."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.interpolate import PchipInterpolator

from .._model import WavescopeWarning
from ._circular import wrap


def prepare_rows(x: np.ndarray, min_run) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``x`` (changed in place) ready for the filter: gaps and flat runs bridged,
    dead rows 0, means removed; and the mask of the missing samples."""
    missing = ~np.isfinite(x)
    if min_run is not None:
        flat = flat_runs(x, min_run) & ~missing
        if flat.any():
            warnings.warn(
                f"{int(flat.sum())} samples in runs of >= {min_run} identical values "
                "(clipping, padding, a dead sensor) are treated as missing; pass "
                "flat_samples=None to keep them", WavescopeWarning, stacklevel=3)
        missing |= flat
    dead = missing.all(axis=-1)
    partial = missing.any(axis=-1) & ~dead
    for i in np.flatnonzero(partial):  # bridge gaps so the filter sees a continuous signal
        good = ~missing[i]
        x[i, missing[i]] = np.interp(np.flatnonzero(missing[i]), np.flatnonzero(good), x[i, good])
    x[dead] = 0.0
    x -= x.mean(axis=-1, keepdims=True)
    return x, missing


def flat_runs(x: np.ndarray, min_run: int) -> np.ndarray:
    """Samples in runs of identical consecutive values too long to be the series' own, per row.

    A run counts when it is at least ``min_run`` samples long and also longer than the
    plateaus quantisation makes: a series stored in steps of ``q`` (its smallest nonzero
    change) that moves ``s`` per sample on average and spans
    ``+-a`` stays on one level for up to about ``sqrt(q a) / s`` samples where it turns (and
    ``q / s`` on its flanks), so only runs of at least ``max(4 q, 2 sqrt(q a)) / s`` samples
    are flat (clipping, padding, a dead amplifier). For unquantised data ``q`` is tiny and
    every run of ``min_run`` counts; a series that never changes is flat throughout.
    """
    same = np.zeros(x.shape, dtype=bool)
    same[:, 1:] = x[:, 1:] == x[:, :-1]
    if not same.any():
        return same
    out = np.zeros(x.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        steps = np.abs(np.diff(x, axis=-1))
    for i in np.flatnonzero(same.sum(axis=-1) >= min_run - 1):
        starts, stops = true_runs(same[i])
        long = stops - starts + 1 >= min_run  # run of equal pairs [s, e): samples s-1 .. e-1
        if not long.any():
            continue
        free = steps[i][np.isfinite(steps[i])]
        moving = free[free > 0]
        if moving.size == 0:  # nothing but the runs: flat throughout
            limit = 0.0
        else:
            q = moving.min()
            finite = x[i][np.isfinite(x[i])]
            half_range = 0.5 * float(finite.max() - finite.min())
            limit = max(4 * q, 2 * np.sqrt(q * half_range)) / free.mean()
        for s, e in zip(starts[long], stops[long], strict=True):
            if e - s + 1 >= limit:
                out[i, s - 1:e] = True
    return out


def true_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (exclusive) indices of the True runs of a 1-D boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def generalized_phase(z: np.ndarray) -> np.ndarray:
    """Generalized phase: bridge negative-frequency stretches by PCHIP (Davis et al. 2020)."""
    ph = np.angle(z)
    step = wrap(np.diff(ph, axis=-1))
    out = z.copy()
    n = z.shape[-1]
    for i in np.flatnonzero((step < 0).any(axis=-1)):
        starts, stops = true_runs(step[i] < 0)
        bad = np.zeros(n, dtype=bool)
        for s, e in zip(starts, stops, strict=True):
            bad[s:min(n, s + 3 * (e - s))] = True
        good = np.flatnonzero(~bad)
        if good.size < 2:
            continue
        unwrapped = np.concatenate([[ph[i, 0]], ph[i, 0] + np.cumsum(step[i])])
        filled = PchipInterpolator(good, unwrapped[good], extrapolate=True)(np.arange(n))
        out[i] = np.abs(z[i]) * np.exp(1j * filled)
    return out
