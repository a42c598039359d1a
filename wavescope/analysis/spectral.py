"""Spectra of activities: per-site power spectra and space-time (k-ω) spectra.

Units
-----
Frequencies are in cycles per unit of the ``time`` coordinate: Hz for recordings
(``time_units="s"``) and "cycles/time unit" for models, whose time coordinate is step x
dt in the time unit of their dynamics (so cycles per step when dt = 1, as in the
Wave-RNN). Wavenumbers are in cycles per space unit (``space_units``), and speeds in space
units per time unit (e.g. "pixel/time unit", "m/s").

Power spectral densities (``scaling="density"``) are one-sided, in ``units²/Hz`` (or
``units²/(cycles/time unit)``): integrating them over frequency gives the signal's variance
(Parseval). ``scaling="spectrum"`` gives power per bin in ``units²`` (a sinusoid of
amplitude A shows a peak of A²/2). k-ω spectra are densities over (k, f) whose integral is
the mean square signal.

Every function here validates its input, never mutates it, and works on any leading
dimensions (``trial``, ``feature``, sites); per-site spectra run through
:func:`xarray.apply_ufunc`, so dask-backed activities stay lazy (keep ``time`` in one
chunk).
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from scipy import signal

from .._safeio import check_memory
from ..core import DataModelError, as_grid, exclude_bads, space_dims, validate
from ._common import check_activity, parabolic_offset
from ._contract import public
from ._psd import (  # noqa: F401 (documented here)
    BLOCK_VALUES,
    MAX_MISSING,
    SPECTRUM_METHODS,
    positive_or_none,
    psd,
    spectrum_options,
)

__all__ = ["spectrum", "dominant_frequency", "band_power", "kw_spectrum", "kw_speed"]

#: ``kw_speed``'s directionality from which its speed is read as a travel speed: three
#: times more power along k than against it (below, a phase velocity of a pattern
#: symmetric in k; used by the quickstart's summary and the README's table).
TRAVELLING_DIRECTIONALITY = 0.5

# --------------------------------------------------------------------------- helpers


def freq_units(attrs) -> str:
    """Units of frequency for an activity's attrs: "Hz" or "cycles/<time_units>"."""
    time_units = attrs.get("time_units", "s")
    return "Hz" if time_units == "s" else f"cycles/{time_units}"


def _check_real(da: xr.DataArray, func: str) -> None:
    if np.issubdtype(da.dtype, np.complexfloating):
        raise DataModelError(
            f"{func} needs real values, got complex ones; pass the signal (da.real), not its "
            "analytic signal"
        )


# --------------------------------------------------------------------------- spectrum


@public
def spectrum(
    da: xr.DataArray,
    method: str = "fft",
    *,
    fmin: float | None = None,
    fmax: float | None = None,
    window=None,
    n_fft: int | None = None,
    nperseg: int | None = None,
    noverlap: int | None = None,
    bandwidth: float | None = None,
    adaptive: bool = False,
    low_bias: bool = True,
    scaling: str = "density",
    detrend="constant",
    bads=None,
) -> xr.DataArray:
    """Power spectrum of every site along ``time``.

    Parameters
    ----------
    da : xarray.DataArray
        A real activity (any leading dims: trial, feature, y/x or channel).
    method : {"fft", "welch", "multitaper"}
        "fft": the periodogram (:func:`scipy.signal.periodogram`; ``window`` default
        boxcar, ``n_fft`` for zero-padding). "welch": :func:`scipy.signal.welch` (``window``
        default "hann", ``nperseg`` default min(256, n_times), ``noverlap`` default half).
        "multitaper": MNE's :func:`mne.time_frequency.psd_array_multitaper` (DPSS tapers,
        ``bandwidth`` in Hz / cycles per time unit, default 8 bins (8 sfreq / n_times);
        ``adaptive``, ``low_bias`` as in MNE; mean removed) with ``normalization="full"``,
        the density in units²/Hz that integrates to the variance like the other methods
        (MNE's default "length" is ``sfreq`` times larger).
    fmin, fmax : float, optional
        Keep frequencies in ``[fmin, fmax]`` (cycles per time unit).
    window, n_fft, nperseg, noverlap, bandwidth, adaptive, low_bias
        Method options, as above; giving one that a method does not use is an error.
    scaling : {"density", "spectrum"}
        One-sided power spectral density (``units²/Hz``) or power per bin (``units²``).
    detrend : str or False
        Detrending per segment, as in SciPy ("constant" removes the mean).
    bads : str, sequence of str or boolean array, optional
        Bad sites to leave out besides those in ``attrs["bads"]``, as MNE's ``compute_psd``
        leaves out ``info["bads"]``: channels are dropped, grid sites get NaN spectra (see
        :func:`wavescope.exclude_bads`).

    Returns
    -------
    xarray.DataArray
        Dims ``(..., freq)`` (``time`` replaced by ``freq`` at the end), freq in Hz for
        recordings and cycles per time unit for models; non-time coords and attrs kept,
        ``units`` set to the power units, plus ``spectral_method`` and ``scaling``.

    Notes
    -----
    Missing samples: a site series missing at most :data:`MAX_MISSING` (10 %) of its
    samples (NaN or inf) has them bridged by linear interpolation, with a
    :class:`~wavescope.WavescopeWarning`; a site missing more gives NaN at every
    frequency. A constant site gives power exactly 0 when ``detrend`` removes it.

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import spectrum
    >>> da = sim.plane_wave((4, 4), n_times=200, sfreq=100.0, frequency=5.0)
    >>> psd = spectrum(da, "welch", nperseg=100)
    >>> print(psd.dims, float(psd.isel(y=0, x=0).idxmax("freq")))
    ('y', 'x', 'freq') 5.0
    """
    check_activity(da, need_space=False)
    _check_real(da, "spectrum")
    da = exclude_bads(da, bads, stacklevel=3)
    empty = [d for d in da.dims if da.sizes[d] == 0]
    if empty:
        raise DataModelError(f"da has no sites: dim(s) {empty} have size 0")
    sfreq = float(da.attrs["sfreq"])
    opts, freqs, keep = spectrum_options(
        method, da.sizes["time"], sfreq, window=window, n_fft=n_fft, nperseg=nperseg,
        noverlap=noverlap, bandwidth=bandwidth, adaptive=adaptive, low_bias=low_bias,
        scaling=scaling, detrend=detrend, fmin=fmin, fmax=fmax)
    n = max(1, da.sizes["time"])
    n_sites, nfft = da.size // n, opts.get("nfft", n)  # the output, and one block's FFTs
    check_memory(n_sites * (nfft // 2 + 1) * 8 + 3 * 8 * BLOCK_VALUES * max(1, nfft // n),
                 f"the spectra of {n_sites} sites with n_fft={nfft}",
                 "lower n_fft, or pass fewer sites (or a dask-chunked activity) at a time")
    out = xr.apply_ufunc(
        psd, da, kwargs={"opts": opts, "keep": keep},
        input_core_dims=[["time"]], output_core_dims=[["freq"]], dask="parallelized",
        output_dtypes=[float], dask_gufunc_kwargs={"output_sizes": {"freq": freqs.size}},
    )
    fu = freq_units(da.attrs)
    out = out.assign_coords(freq=("freq", freqs, {"units": fu, "long_name": "frequency"}))
    units = da.attrs.get("units", "a.u.")
    attrs = dict(da.attrs)
    attrs.update(
        units=f"({units})^2/{fu}" if scaling == "density" else f"({units})^2",
        spectral_method=method, scaling=scaling,
    )
    out.attrs = attrs
    out.name = da.name
    return out


# --------------------------------------------------------------------------- peaks and bands


def _as_spectrum(da, method, defaults, spectrum_kwargs) -> xr.DataArray:
    """``da`` itself (less its bad sites) when it is a spectrum (has ``freq``), else its
    spectrum; ``bads`` in ``spectrum_kwargs`` applies to both."""
    if "freq" in da.dims and "time" not in da.dims:
        validate(da, require_time=False)
        da = exclude_bads(da, spectrum_kwargs.pop("bads", None), stacklevel=4)
        if spectrum_kwargs:
            raise ValueError(
                f"{sorted(spectrum_kwargs)} only apply when computing a spectrum; this input "
                "already is one"
            )
        return da
    check_activity(da, need_space=False)
    kwargs = dict(defaults, **spectrum_kwargs)
    return spectrum(da, method, **kwargs)


def _band_mask(freqs, fmin, fmax, exclude_dc=True):
    fmin = positive_or_none("fmin", fmin)
    fmax = positive_or_none("fmax", fmax)
    keep = freqs > 0 if (fmin is None and exclude_dc) else freqs >= (fmin or 0.0)
    if fmax is not None:
        keep &= freqs <= fmax
    if not keep.any():
        raise ValueError(f"no frequency bin lies in [{fmin}, {fmax}]")
    return keep


def _peak(p, freqs, refine):
    """Frequency of the largest value along the last axis, refined by a log parabola."""
    filled = np.where(np.isnan(p), -np.inf, p)
    i = np.argmax(filled, axis=-1)
    f = freqs[i].astype(float)
    if refine and freqs.size >= 3:
        j = np.clip(i, 1, freqs.size - 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            a, b, c = (
                np.log(np.maximum(np.take_along_axis(filled, k[..., None], axis=-1)[..., 0], 0))
                for k in (j - 1, j, j + 1)
            )
        ok = (i == j) & np.isfinite(a) & np.isfinite(b) & np.isfinite(c)
        step = freqs[np.minimum(i + 1, freqs.size - 1)] - freqs[np.maximum(i - 1, 0)]
        f = np.where(ok, f + parabolic_offset(a, b, c) * step / 2, f)
    top = filled.max(axis=-1)
    return np.where(np.isnan(p).all(axis=-1) | ~np.isfinite(top) | (top <= 0), np.nan, f)


@public
def dominant_frequency(
    da: xr.DataArray,
    *,
    fmin: float | None = None,
    fmax: float | None = None,
    refine: bool = True,
    method: str = "fft",
    **spectrum_kwargs,
) -> xr.DataArray:
    """Frequency of the spectral peak at every site (a dominant frequency map).

    Parameters
    ----------
    da : xarray.DataArray
        An activity, or a spectrum from :func:`spectrum` (dims ``(..., freq)``).
    fmin, fmax : float, optional
        Search band, cycles per time unit; by default every frequency above 0 (DC excluded).
    refine : bool
        Refine the peak between bins with a parabola through the log power of the top bin
        and its two neighbours (exact for a Gaussian peak; for a Hann-windowed tone
        zero-padded 4-fold the bias is below 1e-3 bins).
    method, **spectrum_kwargs
        How to compute the spectrum of an activity (see :func:`spectrum`). The default for
        ``method="fft"`` is a Hann window zero-padded to 4 x n_times, for sub-bin accuracy.
        ``bads=`` leaves out bad sites (see :func:`spectrum`), of a spectrum too.

    Returns
    -------
    xarray.DataArray
        Peak frequency per site (dims of ``da`` without time/freq), units in attrs; NaN
        where the spectrum is all NaN or zero (a constant site, a site missing more than
        10 % of its samples: see :func:`spectrum`).

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import dominant_frequency
    >>> f = dominant_frequency(sim.plane_wave((4, 4), n_times=200, frequency=7.3))
    >>> print(round(float(f.median()), 1))  # between FFT bins (0.5 apart)
    7.3
    """
    defaults = {}
    if method == "fft" and "time" in da.dims:
        defaults = {"window": "hann", "n_fft": 4 * da.sizes["time"]}
    spec = _as_spectrum(da, method, defaults, spectrum_kwargs)
    freqs = spec["freq"].values
    keep = _band_mask(freqs, fmin, fmax)
    sub = spec.isel(freq=np.flatnonzero(keep))
    out = xr.apply_ufunc(
        _peak, sub, kwargs={"freqs": freqs[keep], "refine": refine},
        input_core_dims=[["freq"]], dask="parallelized", output_dtypes=[float],
    )
    out.name = "dominant_frequency"
    out.attrs = {"units": spec["freq"].attrs.get("units", freq_units(spec.attrs)),
                 "long_name": "dominant frequency"}
    return out


@public
def band_power(
    da: xr.DataArray,
    band,
    *,
    relative: bool = False,
    method: str = "fft",
    **spectrum_kwargs,
):
    """Power in one or more frequency bands at every site (band power maps).

    Power is the integral of the power spectral density over the band, approximated by
    the sum of the bins whose centre lies in ``[low, high]`` times the bin width.

    Parameters
    ----------
    da : xarray.DataArray
        An activity, or a density spectrum from :func:`spectrum`.
    band : (low, high) or dict of name -> (low, high)
        Band edges in cycles per time unit (Hz for recordings).
    relative : bool
        Divide by the total power over all frequencies of the spectrum.
    method, **spectrum_kwargs
        How to compute the spectrum of an activity (see :func:`spectrum`); it must be a
        density (``scaling="density"``). ``bads=`` leaves out bad sites (see
        :func:`spectrum`), of a spectrum too.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        For one band, the band power (``units²``, or a fraction when ``relative``) with the
        dims of ``da`` less time/freq; for a dict, a Dataset with one variable per band.

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import band_power
    >>> da = sim.plane_wave((4, 4), n_times=200, frequency=10.0)
    >>> rel = band_power(da, {"alpha": (8, 12), "beta": (13, 30)}, relative=True)
    >>> print(round(float(rel["alpha"].mean()), 2), round(float(rel["beta"].mean()), 2))
    1.0 0.0
    """
    spec = _as_spectrum(da, method, {}, spectrum_kwargs)
    if spec.attrs.get("scaling", "density") != "density":
        raise ValueError("band_power integrates a density; compute the spectrum with "
                         "scaling='density'")
    freqs = spec["freq"].values
    if freqs.size < 2:
        raise ValueError("band_power needs a spectrum with at least two frequency bins")
    df = float(np.median(np.diff(freqs)))
    if not np.allclose(np.diff(freqs), df, rtol=1e-6):
        raise ValueError("band_power needs equally spaced frequency bins")
    power_units = spec.attrs.get("units", "").split("/")[0] or "a.u.^2"
    total = spec.sum("freq", skipna=False) * df if relative else None

    def one(name, edges):
        try:
            low, high = (float(e) for e in edges)
        except (TypeError, ValueError):
            raise ValueError(f"band {name!r} must be a (low, high) pair, got {edges!r}") from None
        if not (0 <= low < high):
            raise ValueError(f"band {name!r} needs 0 <= low < high, got ({low}, {high})")
        inband = (freqs >= low) & (freqs <= high)
        if not inband.any():
            raise ValueError(
                f"band {name!r} ({low}, {high}) holds no frequency bin; the spectrum spans "
                f"{freqs[0]:g} to {freqs[-1]:g} in steps of {df:g}"
            )
        power = spec.isel(freq=np.flatnonzero(inband)).sum("freq", skipna=False) * df
        if relative:
            power = power / total
        power.name = str(name)
        power.attrs = {"units": "1" if relative else power_units,
                       "band": f"{low:g}-{high:g} {spec['freq'].attrs.get('units', '')}".strip(),
                       "relative": int(relative)}
        return power

    if isinstance(band, dict):
        if not band:
            raise ValueError("band dict is empty; give at least one (low, high) band")
        return xr.Dataset({str(k): one(k, v) for k, v in band.items()})
    return one("band", band)


# --------------------------------------------------------------------------- k-omega


def _grid_of(da: xr.DataArray, func: str):
    """Grid form of ``da``, its spatial dims and spacings (space dims in (y, x) order)."""
    if "channel" in da.dims:
        try:
            da = as_grid(da)
        except DataModelError:
            raise DataModelError(
                f"{func} needs sites on a regular grid; these channel positions are "
                "irregular, so interpolate them onto a grid first"
            ) from None
    sdims = space_dims(da)
    if not sdims:
        raise DataModelError(f"{func} needs spatial dims (x, or y and x); got {da.dims}")
    spacing = []
    for d in sdims:
        pos = np.asarray(da[d].values, dtype=float)
        if pos.size < 2:
            raise DataModelError(f"{func} needs at least 2 sites along '{d}'")
        step = np.diff(pos)
        if not np.allclose(step, step[0], rtol=1e-6):
            raise DataModelError(f"{func} needs equally spaced sites along '{d}'")
        spacing.append(float(step[0]))
    return da, sdims, spacing


def _windows(n_times, shape, time_window, space_window, periodic):
    def get(win, n):
        return np.ones(n) if win is None else signal.get_window(win, n)

    if space_window == "auto":
        space_window = None if periodic else "hann"
    return get(time_window, n_times), [get(space_window, n) for n in shape]


def _taper(x, n_space, wt, ws, detrend):
    """Mean-removed, NaN-zeroed, tapered copy of (..., time, *space) data."""
    x = np.asarray(x, dtype=float)
    if detrend:
        with warnings.catch_warnings():  # a site missing throughout has no mean: NaN, then 0
            warnings.simplefilter("ignore", RuntimeWarning)
            x = x - np.nanmean(x, axis=-1 - n_space, keepdims=True)
    x = np.nan_to_num(x, nan=0.0)
    w = wt.reshape((-1,) + (1,) * n_space)
    for i, wi in enumerate(ws):
        w = w * wi.reshape((-1,) + (1,) * (n_space - 1 - i))
    return x * w


def _kw_power(x, *, n_space, wt, ws, fs, spacing, detrend):
    """(..., time, *space) -> one-sided k-ω density (..., *k reversed, freq)."""
    xt = _taper(x, n_space, wt, ws, detrend)
    n_times = xt.shape[-1 - n_space]
    axes = tuple(range(-n_space, 0))
    spec = np.fft.rfft(xt, axis=-1 - n_space)
    # exp(+i 2 pi k . r) over space, so cos(2 pi (f t - k . r)) lands on (+k, +f)
    spec = np.fft.ifftn(spec, axes=axes) * np.prod(xt.shape[-n_space:])
    spec = np.fft.fftshift(spec, axes=axes)
    norm = fs * np.sum(wt**2)
    for d, wi in zip(spacing, ws, strict=True):
        norm *= np.sum(wi**2) / d
    power = np.abs(spec) ** 2 / norm
    one_sided = np.ones(power.shape[-1 - n_space])
    one_sided[1 : (n_times + 1) // 2] = 2.0  # bins with a mirror at negative frequency
    power *= one_sided.reshape((-1,) + (1,) * n_space)
    lead = power.ndim - 1 - n_space  # (..., f, [ky,] kx) -> (..., kx, [ky,] f)
    return power.transpose(*range(lead), *range(lead + n_space, lead, -1), lead)


def _k_axes(shape, spacing):
    return [np.fft.fftshift(np.fft.fftfreq(n, d)) for n, d in zip(shape, spacing, strict=True)]


@public
def kw_spectrum(
    da: xr.DataArray,
    *,
    window="hann",
    space_window="auto",
    detrend: bool = True,
    bads=None,
) -> xr.DataArray:
    """Space-time (k-ω) power spectrum on a grid or a ring, with physical axes.

    The FFT over time and space of each site's mean-removed, tapered signal, with the sign
    convention of ``docs/notes/spectral.md``: a wave ``cos(2π(f t - k·r))`` (travelling
    along +k) puts its power at ``(+k, +f)``. Only ``f >= 0`` is kept (the rest mirrors it).

    Parameters
    ----------
    da : xarray.DataArray
        A real activity on a grid ``(..., time, y, x)`` or a line/ring ``(..., time, x)``
        with equally spaced sites (channel data whose positions fill a grid is gridded).
        NaN samples count as zero after the mean is removed.
    window : str or None
        Taper along time (SciPy window name); None for none.
    space_window : "auto", str or None
        Taper along space; "auto" is none on a periodic ring/torus (``periodic=1``) and
        "hann" otherwise.
    detrend : bool
        Remove each site's mean over time first.
    bads : str, sequence of str or boolean array, optional
        Bad sites to leave out besides those in ``attrs["bads"]``: they count as zero after
        the mean is removed, as missing samples do (see :func:`wavescope.exclude_bads`).

    Returns
    -------
    xarray.DataArray
        Power density, dims ``(..., kx, ky, freq)`` on a grid or ``(..., k, freq)`` on a
        line, wavenumbers in cycles per space unit (ascending, from -Nyquist) and freq in
        cycles per time unit. Summed over bins times the bin sizes it gives the
        taper-weighted mean square ``sum((w x)²) / sum(w²)`` of the mean-removed signal
        (Parseval; exactly its mean square with ``window=None, space_window=None``).

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import kw_spectrum
    >>> kw = kw_spectrum(sim.plane_wave((32,), n_times=200, frequency=5.0, speed=40.0))
    >>> peak = kw.where(kw == kw.max(), drop=True)
    >>> print(kw.dims, float(peak["k"][0]), float(peak["freq"][0]))
    ('k', 'freq') 0.125 5.0
    """
    check_activity(da, need_space=False)
    _check_real(da, "kw_spectrum")
    da, sdims, spacing = _grid_of(da, "kw_spectrum")
    da = exclude_bads(da, bads, stacklevel=3)
    shape = [da.sizes[d] for d in sdims]
    n_times = da.sizes["time"]
    if n_times < 2:
        raise DataModelError("kw_spectrum needs at least 2 time samples")
    fs = float(da.attrs["sfreq"])
    # tapered float copy plus the complex FFT of the whole (time, *space) block per item
    check_memory(da.size * 8 * 3, f"the k-omega transform of {dict(da.sizes)}",
                 "select fewer trials/features or a shorter time window first")
    wt, ws = _windows(n_times, shape, window, space_window, bool(da.attrs.get("periodic", 0)))
    kdims = ["k"] if len(sdims) == 1 else ["kx", "ky"]
    kaxes = _k_axes(shape, spacing)  # (y, x) order
    sizes = dict(zip(kdims, reversed(shape), strict=True))
    freqs = np.fft.rfftfreq(n_times, 1 / fs)
    sizes["freq"] = freqs.size
    spatial = {"time", *sdims}  # coords along these (a drum's mask) have no place in k-ω
    out = xr.apply_ufunc(
        _kw_power,
        da.drop_vars([c for c, v in da.coords.items() if c not in da.dims
                      and spatial & set(v.dims)]),
        kwargs=dict(n_space=len(sdims), wt=wt, ws=ws, fs=fs, spacing=spacing,
                    detrend=detrend),
        input_core_dims=[["time", *sdims]], output_core_dims=[[*kdims, "freq"]],
        dask="parallelized", output_dtypes=[float], dask_gufunc_kwargs={"output_sizes": sizes},
    )
    su = da.attrs.get("space_units", "pixel")
    fu = freq_units(da.attrs)
    coords = {"freq": ("freq", freqs, {"units": fu, "long_name": "frequency"})}
    for name, axis in zip(kdims, reversed(kaxes), strict=True):
        coords[name] = (name, axis, {"units": f"cycles/{su}", "long_name": "wavenumber"})
    out = out.assign_coords(coords)
    attrs = {k: v for k, v in da.attrs.items() if k != "units"}
    units = da.attrs.get("units", "a.u.")
    attrs.update(units=f"({units})^2/({fu})/(cycles/{su})^{len(sdims)}",
                 spectral_method="kw", space_window=str(space_window), window=str(window))
    out.attrs = attrs
    out.name = "kw_power"
    return out


def _region(kgrid, freqs, fmin, fmax, kmin, kmax):
    """Boolean (…k…, f) mask of the bins searched for the wave."""
    kmag = np.sqrt(sum(k**2 for k in kgrid))
    fmin = positive_or_none("fmin", fmin)
    fmax = positive_or_none("fmax", fmax)
    kmin = positive_or_none("kmin", kmin)
    kmax = positive_or_none("kmax", kmax)
    kok = kmag > 0 if kmin is None else kmag >= kmin
    if kmax is not None:
        kok &= kmag <= kmax
    fok = freqs > 0 if fmin is None else freqs >= fmin
    if fmax is not None:
        fok &= freqs <= fmax
    for k in kgrid:
        values = np.unique(k)
        if values.size % 2 == 0:  # an even axis starts at -Nyquist, of ambiguous direction
            kok &= k != values[0]
    region = kok[..., None] & fok
    if not region.any():
        raise ValueError("no (k, f) bin lies in the search region; widen fmin/fmax/kmin/kmax")
    return region


def _zoom(xt, t, pos, centre, step, n_iter=4, m=9):
    """Refine the maximum of the |DTFT|² of tapered data (time, *space) near ``centre``.

    ``centre`` and ``step`` are (f, k_1, ..., k_n) with space axes in the data's order.
    Each round evaluates the transform on an m-point grid spanning ±step per axis around the
    current best point and shrinks the span 4-fold; a parabola through the last grid's
    neighbours finishes.
    """
    centre, step = np.array(centre, dtype=float), np.array(step, dtype=float)
    for _ in range(n_iter):
        grids = [c + np.linspace(-1, 1, m) * s for c, s in zip(centre, step, strict=True)]
        z = np.tensordot(np.exp(-2j * np.pi * grids[0][:, None] * t[None, :]), xt, axes=(1, 0))
        for ax, (g, p) in enumerate(zip(grids[1:], pos, strict=True)):
            e = np.exp(2j * np.pi * g[:, None] * p[None, :])
            z = np.moveaxis(np.tensordot(z, e, axes=(1 + ax, 1)), -1, 1 + ax)
        power = np.abs(z) ** 2
        idx = np.unravel_index(np.argmax(power), power.shape)
        new = np.array([g[i] for g, i in zip(grids, idx, strict=True)])
        for ax, i in enumerate(idx):  # parabola along each axis through the best point
            if 0 < i < m - 1:
                sl = list(idx)
                vals = []
                for j in (i - 1, i, i + 1):
                    sl[ax] = j
                    vals.append(np.log(power[tuple(sl)]))
                new[ax] += parabolic_offset(*vals) * (grids[ax][1] - grids[ax][0])
        centre, step = new, step * 2 / (m - 1)
    return centre


@public
def kw_speed(
    da: xr.DataArray,
    *,
    method: str = "peak",
    fmin: float | None = None,
    fmax: float | None = None,
    kmin: float | None = None,
    kmax: float | None = None,
    threshold: float = 0.1,
    refine: bool = True,
    window="hann",
    space_window="auto",
    bads=None,
) -> xr.Dataset:
    """Wave speed read from where the k-ω power lies: ``speed = f / |k|``.

    Parameters
    ----------
    da : xarray.DataArray
        An activity on a grid or ring (see :func:`kw_spectrum`), or its k-ω spectrum.
    method : {"peak", "ridge"}
        "peak": the strongest (k, f) bin with ``f > 0`` and ``k != 0``; for an activity it
        is refined by maximising the windowed Fourier transform continuously around that
        bin (zoom, so neither k nor f is limited to the FFT bins), for a spectrum by a
        parabola through the log power. Suits a wave with one dominant frequency.
        "ridge": for every k bin, the frequency of its peak (parabola-refined); the k bins
        whose peak power is at least ``threshold`` times the strongest give a power-weighted
        least-squares line ``f = speed · k`` through the origin (signed k on a line,
        ``|k|`` on a grid). Suits broadband waves (a pulse, a shifting pattern) whose power
        lies along the line ``f = speed · k``; ``speed_spread``, the spread of the
        bins' phase velocities ``f / |k|``, is small then, and large for a ridge at one
        frequency for every k (a field that oscillates in place, or in standing modes),
        which no such line describes.

        Either way the power at ``(k, f)`` is compared with that at ``(-k, f)``: a wave
        travelling along ``k`` puts its power on one side, a standing mode (a drum's
        normal mode, a field oscillating in place) on both, and so does a radial wave
        (it travels every way at once). The ``directionality``
        ``(P(k, f) - P(-k, f)) / (P(k, f) + P(-k, f))`` (power-weighted over the bins
        used) says which: near 1, ``speed`` is the speed of a wave travelling along
        ``direction``; near 0, it is only the phase velocity ``f / |k|`` of a pattern
        symmetric in ``k``, whose travel (if any) the spectrum cannot show.
    fmin, fmax, kmin, kmax : float, optional
        Search region, cycles per time unit and cycles per space unit (``|k|``). DC
        (f = 0, k = 0) and the Nyquist wavenumbers (whose sign is ambiguous) are never
        searched.
    threshold : float
        Relative power of the k bins used by "ridge".
    refine : bool
        Refine "peak" between bins.
    window, space_window
        Tapers (see :func:`kw_spectrum`).
    bads : str, sequence of str or boolean array, optional
        Bad sites to leave out of an activity (see :func:`kw_spectrum`).

    Returns
    -------
    xarray.Dataset
        Per leading index (trial, feature, ...): ``speed`` in space units per time unit
        (signed on a line or ring: positive toward +x), ``direction`` (angle of travel,
        radians counter-clockwise from +x; 0 or π on a line), ``frequency`` (cycles per time
        unit), ``wavenumber`` (``|k|``, cycles per space unit), ``speed_spread`` (the
        power-weighted standard deviation of ``log(f / |k|)`` over the ridge's bins; NaN
        for "peak") and ``directionality``
        (0 for a standing pattern, 1 for a wave travelling one way).

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import kw_speed
    >>> da = sim.plane_wave((16, 16), n_times=100, speed=40.0, direction=np.pi / 3)
    >>> v = kw_speed(da)
    >>> print(round(float(v["speed"]), 1), round(float(v["direction"]), 3))
    40.0 1.047
    """
    if method not in ("peak", "ridge"):
        raise ValueError(f"method must be 'peak' or 'ridge', got {method!r}")
    threshold = float(threshold)
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold!r}")
    if isinstance(da, xr.DataArray) and "freq" in da.dims:
        spec, data = da, None
        kdims = [d for d in ("kx", "ky", "k") if d in da.dims]
        if kdims not in (["kx", "ky"], ["k"]):
            raise DataModelError("a k-ω spectrum needs dims (kx, ky, freq) or (k, freq); "
                                 "make one with kw_spectrum")
    else:
        data, sdims, spacing = _grid_of(check_activity(da, need_space=False), "kw_speed")
        spec = kw_spectrum(da, window=window, space_window=space_window, bads=bads)
        data = exclude_bads(data, bads, warn=False)
        kdims = ["k"] if len(sdims) == 1 else ["kx", "ky"]
    lead = [d for d in spec.dims if d not in (*kdims, "freq")]
    spec = spec.transpose(*lead, *kdims, "freq")
    freqs = spec["freq"].values
    kaxes = [spec[d].values for d in kdims]
    kgrid = np.meshgrid(*kaxes, indexing="ij")
    region = _region(kgrid, freqs, fmin, fmax, kmin, kmax)
    power = np.where(region, spec.values, -np.inf)
    lead_shape = power.shape[: len(lead)]
    if data is not None and method == "peak" and refine:
        data = data.transpose(*lead, "time", *sdims)
        wt, ws = _windows(data.sizes["time"], [data.sizes[d] for d in sdims], window,
                          space_window, bool(data.attrs.get("periodic", 0)))
        t = data["time"].values.astype(float)
        pos = [data[d].values.astype(float) for d in sdims]
    names = ("speed", "direction", "frequency", "wavenumber", "speed_spread",
             "directionality")
    mirror = np.meshgrid(*[_mirror_index(ax) for ax in kaxes], indexing="ij")
    results = {name: np.full(lead_shape, np.nan) for name in names}
    for idx in np.ndindex(*lead_shape):
        p = power[idx]
        raw = spec.values[idx]
        if method == "peak":
            best = np.unravel_index(np.argmax(p), p.shape)
            if not np.isfinite(p[best]) or p[best] <= 0:
                continue
            k = np.array([ax[i] for ax, i in zip(kaxes, best[:-1], strict=True)])
            f = freqs[best[-1]]
            if refine and data is not None:
                xt = _taper(data.values[idx], len(sdims), wt, ws, True)
                dk = [1 / (n * d) for n, d in zip(xt.shape[1:], spacing, strict=True)]
                # data space axes are (y, x); spectrum k axes are (kx, ky)
                fk = _zoom(xt, t, pos, [f, *k[::-1]], [freqs[1] - freqs[0], *dk])
                f, k = fk[0], fk[1:][::-1]
            elif refine:
                f, k = _refine_bins(p, best, freqs, kaxes)
            kmag = float(np.sqrt(np.sum(k**2)))
            speed = f / kmag
            if len(k) == 1:
                speed *= np.sign(k[0])
            direction = float(np.arctan2(k[1], k[0])) if len(k) == 2 else (
                0.0 if k[0] > 0 else np.pi)
            values = (speed, direction, f, kmag, np.nan,
                      _directionality(raw, mirror, [best[:-1]], [best[-1]]))
        else:
            values = _ridge(p, raw, mirror, freqs, kgrid, threshold)
        for name, v in zip(names, values, strict=True):
            results[name][idx] = v
    su = spec.attrs.get("space_units", "pixel")
    tu = spec.attrs.get("time_units", "s")
    units = {"speed": f"{su}/{tu}", "direction": "rad",
             "frequency": spec["freq"].attrs.get("units", freq_units(spec.attrs)),
             "wavenumber": f"cycles/{su}", "speed_spread": "1", "directionality": "1"}
    coords = {d: spec[d] for d in lead if d in spec.coords}
    ds = xr.Dataset(
        {name: xr.DataArray(v, dims=lead, coords=coords, attrs={"units": units[name]})
         for name, v in results.items()},
        attrs={"method": method, "space_units": su, "time_units": tu},
    )
    return ds


def _refine_bins(p, best, freqs, kaxes):
    """Parabolic refinement of a spectrum's peak along each of its axes."""
    axes = [*kaxes, freqs]
    out = []
    for ax, values in enumerate(axes):
        i = best[ax]
        v = values[i]
        if 0 < i < len(values) - 1:
            sl = list(best)
            trio = []
            for j in (i - 1, i, i + 1):
                sl[ax] = j
                trio.append(p[tuple(sl)])
            if np.all(np.isfinite(trio)) and min(trio) > 0:
                v = v + parabolic_offset(*np.log(trio)) * (values[i + 1] - values[i])
        out.append(v)
    return out[-1], np.array(out[:-1])


def _mirror_index(ax: np.ndarray) -> np.ndarray:
    """Index of ``-ax[i]`` on the wavenumber axis ``ax`` for every i (-1 where absent,
    as for the Nyquist bin of an even axis)."""
    step = np.min(np.diff(ax)) if ax.size > 1 else 1.0
    j = np.argmin(np.abs(ax[None, :] + ax[:, None]), axis=1)
    return np.where(np.abs(ax[j] + ax) <= 1e-6 * step, j, -1)


def _directionality(raw, mirror, k_idx, f_idx) -> float:
    """``sum (P(k, f) - P(-k, f)) / sum (P(k, f) + P(-k, f))`` over the bins
    ``(k_idx[n], f_idx[n])`` of the spectrum ``raw`` (k axes..., freq)."""
    fwd = back = 0.0
    for k, f in zip(k_idx, f_idx, strict=True):
        m = tuple(int(mi[tuple(k)]) for mi in mirror)
        if min(m) < 0:
            continue
        fwd += raw[(*k, f)]
        back += raw[(*m, f)]
    return float((fwd - back) / (fwd + back)) if fwd + back > 0 else np.nan


def _ridge(p, raw, mirror, freqs, kgrid, threshold):
    """Power-weighted line f = v k through the per-k peak frequencies, the spread of
    the bins' log phase velocities and the bins' directionality."""
    flat = p.reshape(-1, p.shape[-1])
    ks = np.stack([k.ravel() for k in kgrid], axis=-1)  # (n_k, n_dims)
    valid = np.isfinite(flat).any(axis=1)
    if not valid.any():
        return (np.nan,) * 6
    kshape = p.shape[:-1]
    index = np.flatnonzero(valid)
    flat, ks = flat[valid], ks[valid]
    f_peak = _peak(np.where(np.isfinite(flat), np.maximum(flat, 0), np.nan), freqs, True)
    i = np.argmax(np.where(np.isfinite(flat), flat, -np.inf), axis=1)
    weight = flat[np.arange(len(flat)), i]
    use = weight >= threshold * weight.max()
    w, f, k = weight[use], f_peak[use], ks[use]
    if ks.shape[1] == 1:
        kk = k[:, 0]
        speed = np.sum(w * f * kk) / np.sum(w * kk**2)
        direction = 0.0 if speed >= 0 else np.pi
        kmag = np.abs(kk)
    else:
        kmag = np.sqrt(np.sum(k**2, axis=1))
        speed = np.sum(w * f * kmag) / np.sum(w * kmag**2)
        mean_dir = np.sum(w[:, None] * k / kmag[:, None], axis=0)
        direction = float(np.arctan2(mean_dir[1], mean_dir[0]))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_c = np.log(np.abs(f) / kmag)
    ok = np.isfinite(log_c)
    spread = float(np.sqrt(np.average((log_c[ok] - np.average(log_c[ok], weights=w[ok]))
                                      ** 2, weights=w[ok]))) if ok.any() else np.nan
    k_idx = [np.unravel_index(j, kshape) for j in index[use]]
    directionality = _directionality(raw, mirror, k_idx, i[use])
    return (float(speed), direction, float(np.average(f, weights=w)),
            float(np.average(kmag, weights=w)), spread, directionality)
