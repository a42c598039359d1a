"""Per-site power spectra of NumPy arrays, shared by :func:`wavescope.analysis.spectrum`
and :class:`wavescope.analysis.SpectralFeatures` (one implementation of the options'
checks, the gap bridging and the blocked scipy/MNE calls).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import signal

from ..core import DataModelError, WavescopeWarning

SPECTRUM_METHODS = ("fft", "welch", "multitaper")
#: A site missing at most this share of its samples (NaN or inf) has them bridged by linear
#: interpolation before its spectrum is taken; one missing more gives NaN.
MAX_MISSING = 0.1


def positive_or_none(name, value):
    """``value`` as a float, checked to be finite and >= 0 (None stays None)."""
    if value is None:
        return None
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return value


def spectrum_options(method, n_times, sfreq, *, window, n_fft, nperseg, noverlap, bandwidth,
                     adaptive, low_bias, scaling, detrend, fmin, fmax):
    if method not in SPECTRUM_METHODS:
        raise ValueError(f"method must be one of {SPECTRUM_METHODS}, got {method!r}")
    if scaling not in ("density", "spectrum"):
        raise ValueError(f"scaling must be 'density' or 'spectrum', got {scaling!r}")
    if n_times < 2:
        raise DataModelError(f"a spectrum needs at least 2 time samples, got {n_times}")
    given = {"window": window, "n_fft": n_fft, "nperseg": nperseg, "noverlap": noverlap,
             "bandwidth": bandwidth}
    allowed = {"fft": ("window", "n_fft"), "welch": ("window", "n_fft", "nperseg", "noverlap"),
               "multitaper": ("bandwidth",)}[method]
    wrong = [k for k, v in given.items() if v is not None and k not in allowed]
    if wrong:
        raise ValueError(f"{wrong} do not apply to method={method!r}; it takes {allowed}")
    if method == "multitaper" and scaling != "density":
        raise ValueError("method='multitaper' gives densities only; use scaling='density'")
    fmin = positive_or_none("fmin", fmin) or 0.0
    fmax = np.inf if fmax is None else positive_or_none("fmax", fmax)
    if fmax <= fmin:
        raise ValueError(f"fmax {fmax} must exceed fmin {fmin}")
    opts = dict(method=method, sfreq=sfreq, scaling=scaling, detrend=detrend, fmin=fmin,
                fmax=fmax)
    if method == "fft":
        nfft = n_times if n_fft is None else int(n_fft)
        if nfft < n_times:
            raise ValueError(f"n_fft {nfft} is shorter than the signal ({n_times} samples)")
        opts.update(window="boxcar" if window is None else window, nfft=nfft)
    elif method == "welch":
        nps = min(256 if nperseg is None else int(nperseg), n_times)
        nfft = nps if n_fft is None else int(n_fft)
        if nfft < nps:
            raise ValueError(f"n_fft {nfft} is shorter than nperseg {nps}")
        opts.update(window="hann" if window is None else window, nperseg=nps,
                    noverlap=noverlap, nfft=nfft)
    else:
        nfft = n_times
        half = 4.0 if bandwidth is None else float(bandwidth) * n_times / (2.0 * sfreq)
        if n_times <= int(2 * half):
            raise ValueError(
                f"multitaper with a half-bandwidth of {half:g} bins needs more than "
                f"{int(2 * half)} time samples, got {n_times}; use a longer signal or a "
                "smaller bandwidth"
            )
        opts.update(bandwidth=bandwidth, adaptive=bool(adaptive), low_bias=bool(low_bias))
    freqs = np.fft.rfftfreq(nfft, 1.0 / sfreq)
    keep = (freqs >= fmin) & (freqs <= fmax)
    if not keep.any():
        raise ValueError(
            f"no frequency bin lies in [{fmin}, {fmax}]; the bins run from 0 to {freqs[-1]:g} "
            f"in steps of {freqs[1]:g}"
        )
    return opts, freqs[keep], keep


def _bridge(rows: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Bridge short gaps of (rows, time) float ``rows`` in place and set long-gapped rows
    to NaN; returns ``rows`` and the counts of bridged and lost rows."""
    missing = ~np.isfinite(rows)
    count = missing.sum(axis=-1)
    if not count.any():
        return rows, 0, 0
    n = rows.shape[-1]
    bridged = (count > 0) & (count <= MAX_MISSING * n)
    for i in np.flatnonzero(bridged):
        good = ~missing[i]
        rows[i, missing[i]] = np.interp(np.flatnonzero(missing[i]), np.flatnonzero(good),
                                        rows[i, good])
    lost = count > MAX_MISSING * n
    rows[lost] = np.nan
    # sites missing throughout (bad, outside a region of interest) were reported already
    return rows, int(bridged.sum()), int((lost & (count < n)).sum())


# Values per block of rows copied with time contiguous (enough rows that the copy from
# time-major data reads whole cache lines, few enough to bound the copy), and per call of
# scipy within a block (its segment arrays then stay in cache: 3x faster than one call on
# a whole block at 32 x 32 x 1e4)
BLOCK_VALUES, CALL_VALUES = 1 << 22, 1 << 17


def _time_contiguous(rows: np.ndarray, dtype, tile: int = 512) -> np.ndarray:
    """A C-ordered copy of (rows, time) ``rows``. A strided time axis is copied in tiles
    of ``tile`` samples: a plain copy walks each row across every page of time-major data
    and reads each cache line once per row held in it (4x slower at 1024 x 1e5 float32)."""
    if rows.strides[-1] == rows.itemsize:
        return np.array(rows, dtype=dtype, order="C")
    out = np.empty(rows.shape, dtype=dtype)
    for t in range(0, rows.shape[-1], tile):
        out[:, t:t + tile] = rows[:, t:t + tile]
    return out


def psd(x, opts, keep):
    """Power spectra along the last axis of a NumPy array (on gaps see
    :func:`wavescope.analysis.spectrum`).

    Rows go to scipy in blocks copied with time contiguous: ``apply_ufunc`` hands over a
    view whose last axis is strided when time is not the fastest axis of the data, and
    scipy's segment FFTs on such a view are several times slower; blocks bound the copy.
    """
    x = np.asarray(x)
    n = x.shape[-1]
    rows = x.reshape(-1, n)  # a view whenever the leading axes are laid out together
    out, n_bridged, n_lost = None, 0, 0
    step, call = (max(1, v // max(n, 1)) for v in (BLOCK_VALUES, CALL_VALUES))
    if opts["method"] == "multitaper":
        call = step  # MNE computes its tapers anew on every call
    # float32 data stay float32 through the FFTs (as in MNE): half the work, and the
    # spectra keep the data's own 7 digits; they are returned as float64
    real = np.float32 if x.dtype == np.float32 else float
    for i in range(0, rows.shape[0], step):
        block, b, lost = _bridge(_time_contiguous(rows[i:i + step], real))
        n_bridged, n_lost = n_bridged + b, n_lost + lost
        p = np.concatenate([_psd_core(block[j:j + call], opts, keep)
                            for j in range(0, len(block), call)])
        if opts["detrend"] in ("constant", "linear"):  # a constant has no power once
            with np.errstate(invalid="ignore"):       # detrended: exactly 0, not rounding
                p[np.ptp(block, axis=-1) == 0] = 0.0
        if out is None:
            out = np.empty((rows.shape[0], p.shape[-1]))
        out[i:i + step] = p
    if n_bridged or n_lost:
        warnings.warn(
            f"{n_bridged} site series with a few missing samples (NaN/inf, at most "
            f"{MAX_MISSING:.0%}) were bridged by linear interpolation for the spectrum"
            + (f"; {n_lost} missing more give NaN" if n_lost else ""),
            WavescopeWarning, stacklevel=3)
    return out.reshape(*x.shape[:-1], out.shape[-1])


def _psd_core(x, opts, keep):
    method, fs = opts["method"], opts["sfreq"]
    if method == "fft":
        _, p = signal.periodogram(x, fs=fs, window=opts["window"], nfft=opts["nfft"],
                                  detrend=opts["detrend"], scaling=opts["scaling"], axis=-1)
    elif method == "welch":
        # Welch's mean of segment periodograms, equal to scipy.signal.welch to rounding:
        # scipy >= 1.15's welch loops over segments in Python (4x slower on 1024 x 2e4);
        # welch's default overlap is half a segment (spectrogram's is an eighth)
        nps, nov = opts["nperseg"], opts["noverlap"]
        _, _, seg = signal.spectrogram(x, fs=fs, window=opts["window"], nperseg=nps,
                                       noverlap=nps // 2 if nov is None else nov,
                                       nfft=opts["nfft"], detrend=opts["detrend"],
                                       scaling=opts["scaling"], mode="psd", axis=-1)
        p = seg.mean(axis=-1)
    else:
        from mne.time_frequency import psd_array_multitaper

        p, _ = psd_array_multitaper(
            x, fs, fmin=opts["fmin"], fmax=opts["fmax"], bandwidth=opts["bandwidth"],
            adaptive=opts["adaptive"], low_bias=opts["low_bias"],
            remove_dc=True, output="power", normalization="full", verbose=False)
        return np.asarray(p, dtype=float)
    return np.asarray(p[..., keep], dtype=float)
