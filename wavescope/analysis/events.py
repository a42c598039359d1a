"""Wave events: the one-call pipeline from a recording (or hidden states) to a table.

Analytic signal -> per-frame pattern label and scores (:func:`classify_patterns`) ->
contiguous stretches of one label lasting at least ``min_duration`` -> per event its
time span, pattern, mean speed, circular-mean direction, mean wavelength and PGD, and a
surrogate p-value for the score that decided the label.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from ..core import DataModelError, space_dims
from ._common import check_activity, derived_attrs, is_complex, json_attr
from .phase import analytic_signal
from .stats import surrogates
from .waves import PATTERNS, _gradient_stats, classify_patterns, pgd, synchrony
from .waves import radial_correlation as _radial
from .waves import rotational_correlation as _rotational

__all__ = ["detect_waves"]

SURROGATES = ("auto", "shuffle", "phase")
#: Values per surrogate batch (surrogates x event frames x sites), bounding memory.
_BATCH_VALUES = 1 << 22


def detect_waves(
    da: xr.DataArray,
    band: tuple[float | None, float | None] | None = None,
    *,
    method: str = "hilbert",
    min_duration: float | None = None,
    pgd_threshold: float = 0.85,
    synchrony_threshold: float = 0.85,
    radial_threshold: float = 0.5,
    rotation_threshold: float = 0.5,
    pgd_form: str = "rubino",
    patterns: tuple[str, ...] | None = None,
    n_surrogates: int = 100,
    surrogate: str = "auto",
    seed: int = 0,
    progress: bool = False,
    bads=None,
) -> xr.Dataset:
    """Detect wave events and test each against surrogates.

    Parameters
    ----------
    da : xarray.DataArray
        Real activity (filtered to ``band`` and Hilbert-transformed here) or an analytic
        signal (complex; ``band`` must then be None). Dims: ``time``, space, and
        optionally ``trial`` (events are found per trial). Dask inputs are computed.
    band : (low, high), optional
        Pass band in cycles per time unit, for example ``(8, 13)`` for alpha in Hz.
    method : {"hilbert", "generalized"}
        Phase method of :func:`~wavescope.analysis.analytic_signal`.
    min_duration : float, optional
        Shortest event, in time units. Default: one cycle at the band's centre frequency
        (``2 / (low + high)``), or 5 samples without a band.
    pgd_threshold, synchrony_threshold, radial_threshold, rotation_threshold, pgd_form
        Passed to :func:`~wavescope.analysis.classify_patterns`.
    patterns : tuple of str, optional
        Labels that make events; default every label except "none".
    n_surrogates : int
        Surrogates per p-value (0 skips the test: p-values are NaN).
    surrogate : {"auto", "shuffle", "phase"}
        Null model. "auto": site shuffles for spatial patterns (planar, radial,
        rotating) and phase randomisation for synchrony, which a shuffle cannot change.
    seed : int
        Seed of the surrogates.
    progress : bool
        Show a progress bar over surrogate batches.
    bads : str, sequence of str or boolean array, optional
        Bad sites to leave out of the phases, scores and surrogates, besides those in
        ``attrs["bads"]`` (see :func:`wavescope.exclude_bads`: channels dropped, grid
        sites set to NaN).

    Returns
    -------
    xarray.Dataset
        Along ``event``: ``start`` and ``stop`` (time of the first frame and one sample
        after the last), ``duration``, ``pattern``, ``n_frames``, ``speed`` (mean, space
        units per time unit), ``direction`` (circular mean, rad CCW from +x),
        ``wavelength`` (mean), ``pgd`` (mean). Speed, direction and wavelength follow the
        pattern: planar (and synchronous) events use the mean phase gradient, sources and
        sinks the radial phase slope (``|omega| / |slope|``; direction NaN), rotating
        events have none (NaN). Then ``score`` (mean deciding score, see
        :func:`classify_patterns`), ``p_value`` (the share of surrogates whose mean
        score over the same frames reaches it, ``(1 + k) / (1 + n)``), ``event_trial``
        (the trial of each event, when the input has trials). Along ``time`` (and
        ``trial``): the frame-wise ``frame_pattern``, ``frame_score``, ``frame_pgd``,
        ``frame_synchrony``, ``frame_radial``, ``frame_rotation``, ``frame_speed``,
        ``frame_direction``, ``frame_wavelength``.
    """
    da = check_activity(da, bads=bads)
    extra = [d for d in da.dims if d not in ("trial", "time", *space_dims(da))]
    if extra:
        raise DataModelError(
            f"detect_waves works on (trial,) time and space dims; select one value of {extra} "
            "first (for example da.isel(feature=0))"
        )
    if surrogate not in SURROGATES:
        raise DataModelError(f"surrogate {surrogate!r} is not known; use one of {SURROGATES}")
    allowed = tuple(p for p in PATTERNS if p != "none")
    patterns = allowed if patterns is None else tuple(patterns)
    unknown = [p for p in patterns if p not in allowed]
    if unknown:
        raise DataModelError(f"unknown patterns {unknown}; choose from {allowed}")
    if is_complex(da):
        if band is not None:
            raise DataModelError("da is already an analytic signal; drop band or pass da.real")
        z = da
    else:
        z = analytic_signal(da, band, method)
    z = z.compute() if z.chunks is not None else z
    sfreq = float(z.attrs["sfreq"])
    if min_duration is None:
        lo, hi = (None, None) if band is None else band
        centre = np.mean([f for f in (lo, hi) if f is not None]) if band is not None else None
        min_duration = 1.0 / centre if centre else 5.0 / sfreq
    min_frames = max(1, int(np.ceil(float(min_duration) * sfreq - 1e-9)))
    settings = dict(pgd_threshold=pgd_threshold, synchrony_threshold=synchrony_threshold,
                    radial_threshold=radial_threshold, rotation_threshold=rotation_threshold,
                    pgd_form=pgd_form)
    trials = z["trial"].values if "trial" in z.dims else [None]
    rng = np.random.default_rng(seed)
    tables, frames = [], []
    for trial in trials:
        zt = z if trial is None else z.sel(trial=trial)
        fr = _frames(zt, settings)
        events = _events(fr, zt["time"].values, sfreq, min_frames, patterns)
        child = int(rng.integers(0, 2**63 - 1))
        events["p_value"] = _p_values(zt, fr, events, n_surrogates, surrogate, child,
                                      pgd_form, progress)
        if trial is not None:
            events["event_trial"] = np.full(len(events["start"]), trial)
            fr = fr.expand_dims(trial=[trial])
        tables.append(events)
        frames.append(fr)
    table = {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}
    frame_ds = frames[0] if trials[0] is None else xr.concat(frames, dim="trial")
    su, tu = z.attrs.get("space_units"), z.attrs.get("time_units")
    units = {"start": tu, "stop": tu, "duration": tu, "speed": f"{su}/{tu}",
             "direction": "rad", "wavelength": su, "pgd": "1", "score": "1", "p_value": "1"}
    ds = xr.Dataset({k: ("event", v, {"units": units[k]} if k in units else {})
                     for k, v in table.items()})
    for name in frame_ds.data_vars:
        if name != "omega_sign":
            ds[f"frame_{name}"] = frame_ds[name]
    ds.attrs = derived_attrs(
        z, min_duration=float(min_duration), n_surrogates=int(n_surrogates),
        surrogate=surrogate, seed=int(seed), settings=json_attr(settings),
        patterns=" ".join(patterns))
    return ds


def _frames(z: xr.DataArray, settings: dict) -> xr.Dataset:
    """Per-frame label, scores and wave quantities of one trial (NumPy-backed).

    Speed, direction and wavelength follow the frame's pattern: from the mean phase
    gradient for planar and synchronous frames, from the radial phase slope for sources
    and sinks (no single direction), and NaN for rotating and unlabelled frames.
    """
    c = classify_patterns(z, **settings).compute()
    s = {k: v.compute() for k, v in _gradient_stats(z, "detect_waves").items()}
    sign = xr.where(c["omega"] < 0, -1.0, 1.0)
    label = c["pattern"]
    gradient_based = label.isin(["planar", "synchronous"])
    radial = label.isin(["source", "sink"])
    kmag = xr.where(gradient_based, np.hypot(s["gx"], s["gy"]),
                    xr.where(radial, np.abs(c["radial_slope"]), np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = xr.Dataset({
            "pattern": label, "score": c["score"], "pgd": c["pgd"],
            "synchrony": c["synchrony"], "radial": c["radial"], "rotation": c["rotation"],
            "speed": np.abs(c["omega"]) / kmag,
            "direction": np.arctan2(-sign * s["gy"], -sign * s["gx"]).where(gradient_based),
            "wavelength": 2 * np.pi / kmag,
            "omega_sign": sign,
        })
    return out


def _events(fr: xr.Dataset, times: np.ndarray, sfreq: float, min_frames: int,
            patterns: tuple[str, ...]) -> dict:
    labels = fr["pattern"].values
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [labels.size]])
    keep = [(a, b) for a, b in zip(starts, stops, strict=True)
            if labels[a] in patterns and b - a >= min_frames]
    table = {k: [] for k in ("start", "stop", "duration", "pattern", "n_frames", "speed",
                             "direction", "wavelength", "pgd", "score", "first", "last")}
    for a, b in keep:
        sl = slice(a, b)
        table["start"].append(times[a])
        table["stop"].append(times[b - 1] + 1.0 / sfreq)
        table["duration"].append((b - a) / sfreq)
        table["pattern"].append(labels[a])
        table["n_frames"].append(b - a)
        table["speed"].append(_mean(fr["speed"].values[sl]))
        d = np.exp(1j * fr["direction"].values[sl])
        table["direction"].append(np.angle(_mean(d)) if np.isfinite(d).any() else np.nan)
        table["wavelength"].append(_mean(fr["wavelength"].values[sl]))
        table["pgd"].append(_mean(fr["pgd"].values[sl]))
        table["score"].append(_mean(fr["score"].values[sl]))
        table["first"].append(a)
        table["last"].append(b)
    out = {k: np.asarray(v, dtype=float) for k, v in table.items() if k != "pattern"}
    out["pattern"] = np.asarray(table["pattern"], dtype="<U12")
    out["n_frames"] = out["n_frames"].astype(int)
    return out


def _mean(values: np.ndarray):
    """Mean of the finite values (NaN when there are none), without warnings."""
    ok = np.isfinite(values)
    return values[ok].mean() if ok.any() else np.nan


#: The score that decides each pattern, as computed on surrogates.
_SCORE_OF = {"planar": "pgd", "synchronous": "synchrony", "source": "radial",
             "sink": "radial", "rotating-ccw": "rotation", "rotating-cw": "rotation"}


def _null_scores(zs: xr.DataArray, score: str, pgd_form: str) -> np.ndarray:
    """Raw score on surrogate frames (trial, time); radial/rotation before sign flips."""
    if score == "pgd":
        return pgd(zs, form=pgd_form).values
    if score == "synchrony":
        return synchrony(zs).values
    if score == "radial":
        return _radial(zs)["rho"].values
    return _rotational(zs)["rho"].values


def _oriented(raw: np.ndarray, pattern: str, sign: np.ndarray) -> np.ndarray:
    """Turn a raw score into the deciding score of ``pattern`` (see classify_patterns)."""
    if pattern in ("planar", "synchronous"):
        return raw
    value = -sign * raw  # > 0: outward (radial) or counter-clockwise (rotation)
    return value if pattern in ("source", "rotating-ccw") else -value


def _p_values(z, fr, events, n, surrogate, seed, pgd_form, progress) -> np.ndarray:
    first = events.pop("first").astype(int)
    last = events.pop("last").astype(int)
    n_events = len(first)
    if n_events == 0 or n <= 0:
        return np.full(n_events, np.nan)
    sign = fr["omega_sign"].values
    hits = np.zeros(n_events)
    counts = np.zeros(n_events)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, pat in enumerate(events["pattern"]):
        kind = surrogate if surrogate != "auto" else (
            "phase" if pat == "synchronous" else "shuffle")
        groups.setdefault((kind, _SCORE_OF[pat]), []).append(i)
    n_sites = int(np.prod([z.sizes[d] for d in space_dims(z)]))
    seeds = np.random.SeedSequence(seed)
    bar = tqdm(total=n * len(groups), disable=not progress, desc="surrogates", leave=False)
    for (kind, score), members in groups.items():
        frames = np.unique(np.concatenate([np.arange(first[i], last[i]) for i in members]))
        position = np.searchsorted(frames, np.arange(fr.sizes["time"]))
        batch = max(1, min(n, _BATCH_VALUES // max(1, frames.size * n_sites)))
        done = 0
        while done < n:
            m = min(batch, n - done)
            child = int(seeds.spawn(1)[0].generate_state(1)[0])
            if kind == "shuffle":  # a shuffle needs no neighbouring samples: event frames only
                zs = surrogates(z.isel(time=frames), "shuffle", m, child)
            else:
                zs = surrogates(z, "phase", m, child).isel(time=frames)
            raw = _null_scores(zs, score, pgd_form)
            for i in members:
                idx = position[first[i]:last[i]]
                null = _oriented(raw[:, idx], events["pattern"][i], sign[first[i]:last[i]])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    null = np.nanmean(null, axis=1)
                hits[i] += np.sum(null >= events["score"][i])
                counts[i] += np.sum(np.isfinite(null))
            done += m
            bar.update(m)
    bar.close()
    with np.errstate(invalid="ignore", divide="ignore"):
        return (1 + hits) / (1 + counts)
