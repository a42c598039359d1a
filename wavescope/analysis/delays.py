"""Delays between sites and the group speed of a wave (``docs/notes/waves_delays.md``).

:func:`wave_delays` measures, at every site, the delay of its signal behind a reference
from the slope of their multitaper cross-spectrum phase across a band (Martinet et al.
2017 used multitaper coherence for it): a delay ``tau`` turns the cross-spectrum phase by
``-2 pi f tau``. A plane fit to the delays, ``tau(r) = s . r + c``, gives the slowness
vector ``s``: the wave travels along ``s`` at the group speed ``1 / |s|``. The phase speed
``omega / |k|`` (:func:`~wavescope.analysis.fit_plane_wave`) answers a different question;
in dispersive data the two differ (docs/notes/waves_delays.md).

References
----------
Martinet, L.-E. et al. (2017). Human seizures couple across spatial scales through
travelling wave dynamics. Nat. Commun. 8, 14896.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import stats

from ..core import DataModelError, as_channels
from ._common import check_activity, derived_attrs, json_attr, site_xy, space_units_per_time
from ._contract import public

__all__ = ["wave_delays"]

# Largest magnitude-squared coherence used in the weights: noise-free data would otherwise
# give infinite weights (the fit's intervals come from the residuals, not these weights).
_MAX_COHERENCE2 = 1 - 1e-9
_REFINE_STEPS = 3
_SCORE_VALUES = 1 << 22


@public
def wave_delays(
    da: xr.DataArray,
    band: tuple[float, float],
    *,
    reference: int | str | None = None,
    bandwidth: float | None = None,
    max_delay: float | None = None,
    confidence: float = 0.95,
    bads=None,
) -> xr.Dataset:
    """Per-site delays from the cross-spectrum phase slope, and the group speed they imply.

    For each site ``i`` and the reference ``r``, the multitaper cross-spectrum
    ``S_ir(f)`` (MNE's DPSS tapers, :func:`mne.time_frequency.psd_array_multitaper`;
    averaged over tapers and over ``trial`` when present) and the coherency
    ``C = S_ir / sqrt(S_ii S_rr)`` are computed over the band. The delay is the ``tau``
    of the line ``angle C(f) = a - 2 pi f tau`` fitted across the band by weighted least
    squares, weights ``|C|^2 / (1 - |C|^2)`` (the inverse variance of the phase of a
    coherency estimate): first the peak over ``tau`` of ``|sum_f w_f C_f/|C_f| exp(2 pi i
    f tau)|`` (wrap-safe, gaps of low coherence included), then Gauss–Newton steps on the
    wrapped residuals. The intercept ``a`` is free, so a dispersive wave (whose
    cross-spectrum phase is not 0 at f = 0) gives its group delay. A plane
    ``tau = s_x x + s_y y + c`` is then fitted to the delays by weighted least squares
    (weights 1 / se^2); its covariance is scaled by the residual scatter, so the
    intervals reflect how well the plane fits.

    Parameters
    ----------
    da : xarray.DataArray
        Real activity on a grid or on sensor positions, with ``time``; an optional
        ``trial`` dim is averaged over (one cross-spectrum from all trials). Sites with
        any NaN sample, and bad sites, are left out (NaN delay).
    band : (low, high)
        Frequency band in cycles per time unit (Hz for recordings), ``0 < low < high <
        sfreq / 2``; the delays are those of this band's envelope (group delays).
    reference : int or str, optional
        The site whose signal the delays are measured against: an index into the sites
        in :func:`wavescope.as_channels` order, or a channel name (grid sites are named
        "y{i}x{j}"). Default: the valid site nearest the centroid of the sites, with
        the delays then shifted so that their mean over the sites is 0 (delays
        relative to the sites' mean).
    bandwidth : float, optional
        Full bandwidth of the DPSS tapers, cycles per time unit (MNE's default
        ``8 sfreq / n_times`` when None). Wider gives more tapers (less variance), but
        must stay well below the band's width.
    max_delay : float, optional
        Largest delay searched, in time units (default: a quarter of the recording).
        The cross-spectrum phase alone cannot tell delays apart that differ by
        ``1 / (frequency resolution)``, i.e. the recording's length.
    confidence : float
        Level of the confidence intervals, in (0, 1).
    bads : str, sequence of str or boolean array, optional
        Bad sites to leave out, besides those in ``attrs["bads"]``.

    Returns
    -------
    xarray.Dataset
        Over the spatial dims of ``da``: ``delay`` (time units; positive where the site
        lags the reference), ``delay_se`` (its standard error, from the coherence and the
        number of independent frequency bins; approximate) and ``coherence`` (mean
        magnitude-squared coherence with the reference over the band, 1).
        Scalars: ``speed`` (group speed, space units per time unit) with ``speed_low``,
        ``speed_high`` (``speed_high`` is inf when the slowness interval includes 0),
        ``direction`` (rad, counter-clockwise from +x, of travel) with
        ``direction_low``, ``direction_high``, the slowness ``slowness_x``,
        ``slowness_y`` (time units per space unit) and ``n_sites`` (sites in the fit).
        Attributes: the data model's, plus ``band``, ``reference`` (the site's channel
        name, or "mean"), ``confidence``, ``bandwidth`` and ``n_tapers``.

    Raises
    ------
    DataModelError
        Complex or site-less input, a band outside (0, sfreq / 2), dims other than
        ``time``, ``trial`` and the spatial ones, fewer than 4 usable sites, or an
        unknown reference.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import wave_delays
    >>> da = sim.dispersive_wave((8,), n_times=2000, sfreq=200.0, phase_speed=50.0,
    ...                          group_speed=100.0, seed=0)
    >>> d = wave_delays(da, band=(3, 9), reference=0)
    >>> print(np.round(d["delay"].values[:4], 3))  # 0.01 per pixel at 100 pixels per time unit
    [0.   0.01 0.02 0.03]
    >>> print(round(float(d["speed"]), -1))  # the group speed, not the phase speed
    100.0
    """
    from mne.time_frequency import psd_array_multitaper

    da = check_activity(da, bads=bads)
    if np.iscomplexobj(da.values):
        raise DataModelError("wave_delays needs the real signal, not its analytic signal "
                             "(pass da.real)")
    sfreq = float(da.attrs["sfreq"])
    low, high = _check_band(band, sfreq)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    flat = as_channels(da)
    extra = [d for d in flat.dims if d not in ("time", "channel", "trial")]
    if extra:
        raise DataModelError(
            f"wave_delays takes dims time, trial and the spatial ones; got also {extra} "
            "(select one value of them first, e.g. da.sel(feature=...))"
        )
    order = ("trial", "channel", "time") if "trial" in flat.dims else ("channel", "time")
    x = np.asarray(flat.transpose(*order).values, dtype=float)
    x = x.reshape(-1, *x.shape[-2:])  # (trial, channel, time)
    n_times = x.shape[-1]
    xy = site_xy(flat)
    names = [str(c) for c in flat["channel"].values]
    alive = np.isfinite(x).all(axis=(0, 2))
    if alive.sum() < 4:
        raise DataModelError(
            f"wave_delays needs at least 4 sites with data (no NaN sample), got "
            f"{int(alive.sum())}"
        )
    ref = _reference(reference, names, xy, alive)
    duration = n_times / sfreq
    max_delay = duration / 4 if max_delay is None else float(max_delay)
    if not 0 < max_delay <= duration / 2:
        raise ValueError(f"max_delay must lie in (0, {duration / 2:g}] (half the recording), "
                         f"got {max_delay!r}")

    # MNE's default half-bandwidth is 4 frequency bins; its DPSS needs 0 < 2 NW < n_times.
    half_nbw = 4.0 if bandwidth is None else float(bandwidth) * n_times / (2 * sfreq)
    if not 0 < int(2 * half_nbw) < n_times:
        raise DataModelError(
            f"the multitaper cross-spectrum needs more samples than tapers: {n_times} "
            f"samples at bandwidth {2 * half_nbw * sfreq / n_times:g} Hz give "
            f"{int(2 * half_nbw)} tapers; use a longer recording or a narrower bandwidth="
        )
    spec, freqs, weights = psd_array_multitaper(
        x[:, alive], sfreq, fmin=low, fmax=high, bandwidth=bandwidth, adaptive=False,
        low_bias=True, normalization="full", remove_dc=True, output="complex",
        verbose=False)
    if freqs.size < 3:
        raise DataModelError(
            f"the band ({low:g}, {high:g}) holds {freqs.size} frequency bins of "
            f"{sfreq / n_times:g}; widen it or use a longer recording"
        )
    spec = spec * weights  # (trial, site, taper, freq)
    r = int(np.flatnonzero(alive).tolist().index(ref))
    cross = np.einsum("eskf,ekf->sf", spec, np.conj(spec[:, r]))
    power = np.einsum("eskf,eskf->sf", spec, np.conj(spec)).real
    with np.errstate(invalid="ignore", divide="ignore"):
        coherency = cross / np.sqrt(power * power[r])
    n_dof = spec.shape[0] * spec.shape[2]  # trials x tapers
    c2 = np.clip(np.abs(coherency) ** 2, 0.0, _MAX_COHERENCE2)
    w = np.nan_to_num(2 * n_dof * c2 / (1 - c2))  # inverse phase variance per bin
    tau, se = _phase_slope(coherency, w, freqs, max_delay)
    # bins closer than the taper bandwidth share their information
    full_bw = 8 * sfreq / n_times if bandwidth is None else float(bandwidth)
    se *= np.sqrt(max(1.0, full_bw / (freqs[1] - freqs[0])))
    tau[r], se[r] = 0.0, 0.0

    fit = _plane_fit(xy[alive], tau, se, exclude=r, confidence=confidence)
    if reference is None:  # delays relative to the sites' mean
        tau = tau - tau.mean()

    full = {k: np.full(len(names), np.nan) for k in ("delay", "delay_se", "coherence")}
    full["delay"][alive], full["delay_se"][alive] = tau, se
    full["coherence"][alive] = c2.mean(axis=-1)
    full["coherence"][np.flatnonzero(alive)[r]] = 1.0
    time_units = da.attrs.get("time_units", "s")
    space_units = da.attrs.get("space_units", "a.u.")
    site_vars = {
        "delay": (full["delay"], {"units": time_units, "long_name": "delay behind the "
                                  "reference (group delay)"}),
        "delay_se": (full["delay_se"], {"units": time_units,
                                        "long_name": "standard error of the delay"}),
        "coherence": (full["coherence"], {"units": "1", "long_name": "mean magnitude-squared "
                                          "coherence with the reference over the band"}),
    }
    per_site = xr.Dataset(
        {k: ("channel", v, a) for k, v, a in ((k, *va) for k, va in site_vars.items())},
        coords={c: v for c, v in flat.coords.items() if set(v.dims) <= {"channel"}},
    )
    out = _back_to_layout(per_site, da)
    speed_units = space_units_per_time(da)
    slow_units = f"{time_units}/{space_units}"
    scalars = {
        "speed": (fit["speed"], speed_units), "speed_low": (fit["speed_low"], speed_units),
        "speed_high": (fit["speed_high"], speed_units),
        "direction": (fit["direction"], "rad"),
        "direction_low": (fit["direction_low"], "rad"),
        "direction_high": (fit["direction_high"], "rad"),
        "slowness_x": (fit["slowness"][0], slow_units),
        "slowness_y": (fit["slowness"][1], slow_units),
        "n_sites": (fit["n_sites"], "1"),
    }
    for name, (value, units) in scalars.items():
        out[name] = xr.DataArray(value, attrs={"units": units})
    out.attrs = derived_attrs(
        da, band=json_attr([low, high]),
        reference="mean" if reference is None else names[np.flatnonzero(alive)[r]],
        confidence=float(confidence), bandwidth=full_bw, n_tapers=int(spec.shape[2]),
    )
    return out


def _check_band(band, sfreq: float) -> tuple[float, float]:
    try:
        low, high = (float(b) for b in band)
    except (TypeError, ValueError):
        raise ValueError(f"band must be (low, high) in cycles per time unit, got "
                         f"{band!r}") from None
    if not 0 < low < high < sfreq / 2:
        raise ValueError(
            f"band ({low:g}, {high:g}) must satisfy 0 < low < high < {sfreq / 2:g} "
            f"(half of sfreq {sfreq:g})"
        )
    return low, high


def _reference(reference, names, xy, alive) -> int:
    """Index (among all sites) of the reference site."""
    if reference is None:
        centroid = xy[alive].mean(axis=0)
        dist = np.where(alive, np.hypot(*(xy - centroid).T), np.inf)
        return int(np.argmin(dist))
    if isinstance(reference, str):
        if reference not in names:
            raise ValueError(f"reference {reference!r} is not a site name; names look "
                             f"like {names[:3]}")
        idx = names.index(reference)
    elif isinstance(reference, (int, np.integer)) and not isinstance(reference, bool):
        if not -len(names) <= reference < len(names):
            raise ValueError(f"reference index {reference} is outside the "
                             f"{len(names)} sites")
        idx = int(reference) % len(names)
    else:
        raise ValueError(f"reference must be a site index, a site name or None, got "
                         f"{reference!r}")
    if not alive[idx]:
        raise DataModelError(f"reference site {names[idx]!r} holds missing data or is bad; "
                             "choose another")
    return idx


def _phase_slope(coherency, w, freqs, max_delay):
    """Delay and its standard error per site from ``angle C = a - 2 pi f tau``.

    Coarse: the peak of ``|sum_f w_f u_f exp(2 pi i f tau)|`` (``u = C / |C|``) on a grid
    of delays 8 per main lobe (``1 / band width``); then Gauss–Newton on the wrapped
    residuals (weighted least squares in ``a`` and ``tau``).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.nan_to_num(coherency / np.abs(coherency))
    step = 1 / (8 * (freqs[-1] - freqs[0]))
    grid = np.arange(-max_delay, max_delay + step / 2, step)
    steer = np.exp(2j * np.pi * freqs[:, None] * grid[None, :])  # (freq, delay)
    tau = np.empty(len(u))
    per_block = max(1, _SCORE_VALUES // grid.size)  # bounds the (site, delay) scores
    for start in range(0, len(u), per_block):
        block = slice(start, start + per_block)
        tau[block] = grid[np.argmax(np.abs((w[block] * u[block]) @ steer), axis=1)]
    fbar = (w * freqs).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-300)
    fc = freqs[None, :] - fbar[:, None]
    sxx = np.maximum((w * fc**2).sum(axis=1), 1e-300)
    for _ in range(_REFINE_STEPS):
        a = np.angle(np.sum(w * u * np.exp(2j * np.pi * freqs * tau[:, None]), axis=1))
        resid = np.angle(u * np.exp(1j * (2 * np.pi * freqs * tau[:, None] - a[:, None])))
        slope = (w * fc * resid).sum(axis=1) / sxx  # d(residual)/df = -2 pi d(tau)
        tau = tau - slope / (2 * np.pi)
    return tau, 1 / (2 * np.pi * np.sqrt(sxx))


def _plane_fit(xy, tau, se, *, exclude, confidence):
    """Weighted least squares ``tau = s . r + c`` with t intervals for speed and direction."""
    keep = np.isfinite(tau) & np.isfinite(se) & (np.arange(tau.size) != exclude)
    xy, tau, se = xy[keep], tau[keep], se[keep]
    wt = 1 / np.maximum(se, 1e-12 * max(se.max(), 1e-300)) ** 2
    line = np.ptp(xy[:, 1]) == 0
    design = np.column_stack([xy[:, 0], np.zeros(len(xy)) if line else xy[:, 1],
                              np.ones(len(xy))])
    cols = [0, 2] if line else [0, 1, 2]
    a = design[:, cols] * np.sqrt(wt)[:, None]
    coef, *_ = np.linalg.lstsq(a, tau * np.sqrt(wt), rcond=None)
    dof = len(tau) - len(cols)
    resid = (tau - design[:, cols] @ coef) * np.sqrt(wt)
    scale = resid @ resid / dof if dof > 0 else np.nan
    cov = np.linalg.pinv(a.T @ a) * scale
    s = np.array([coef[0], 0.0 if line else coef[1]])
    cov_s = np.zeros((2, 2))
    idx = [0] if line else [0, 1]
    cov_s[np.ix_(idx, idx)] = cov[np.ix_(idx, idx)]
    norm = np.hypot(*s)
    direction = np.arctan2(s[1], s[0])
    along = s / norm if norm > 0 else np.array([1.0, 0.0])
    across = np.array([-along[1], along[0]])
    sd_norm = np.sqrt(along @ cov_s @ along)
    sd_dir = np.sqrt(across @ cov_s @ across) / norm if norm > 0 else np.inf
    t = stats.t.ppf(0.5 + confidence / 2, dof) if dof > 0 else np.nan
    lo_s, hi_s = norm - t * sd_norm, norm + t * sd_norm
    with np.errstate(divide="ignore"):
        return {
            "speed": 1 / norm if norm > 0 else np.inf,
            "speed_low": 1 / hi_s if hi_s > 0 else np.nan,
            "speed_high": 1 / lo_s if lo_s > 0 else np.inf,
            "direction": direction,
            "direction_low": direction - t * sd_dir,
            "direction_high": direction + t * sd_dir,
            "slowness": s,
            "n_sites": int(keep.sum()),
        }


def _back_to_layout(per_site: xr.Dataset, da: xr.DataArray) -> xr.Dataset:
    """Per-site variables on the spatial layout of ``da`` (grid dims or channels)."""
    if "channel" in da.dims:
        return per_site
    grid = [d for d in ("y", "x") if d in da.dims]
    if grid == ["x"]:
        return per_site.drop_vars(["x", "y"], errors="ignore").rename(channel="x") \
            .assign_coords(x=da["x"].values)
    ny, nx = da.sizes["y"], da.sizes["x"]
    data = {k: (("y", "x"), v.values.reshape(ny, nx), v.attrs) for k, v in per_site.items()}
    return xr.Dataset(data, coords={"y": da["y"], "x": da["x"]})
