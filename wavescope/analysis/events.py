"""Wave events: the one-call pipeline from a recording (or hidden states) to a table.

Analytic signal -> per-frame pattern label and scores (:func:`classify_patterns`) ->
contiguous stretches of one label lasting at least ``min_duration`` -> per event its
time span, pattern, mean speed, circular-mean direction, mean wavelength and PGD, a
p-value against the events found in surrogates, and a Benjamini-Hochberg q-value.
"""

from __future__ import annotations

import inspect

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from ..core import DataModelError, space_dims
from ._chunks import TimeReader, check_frames_whole, time_split
from ._common import check_activity, derived_attrs, frame_blocks, is_complex, json_attr
from ._contract import public
from ._decide import centre_kernel, label_kernel, pool_kernel, wave_intervals
from ._geometry import geometry_of
from ._patterns import PatternFinder
from ._planefit import FIELDS, PlaneFitter, phasors, plane_fit_kernel
from .analytic import analytic_signal
from .stats import PhaseWindows, q_values, surrogates
from .waves import (
    PATTERNS,
    classify_patterns,
    fit_plane_wave,
    pgd,
    synchrony,
)

__all__ = ["detect_waves"]

SURROGATES = ("multivariate", "spatial", "shuffle", "phase", "auto")
#: Values per surrogate batch (surrogates x frames x sites), bounding memory.
_BATCH_VALUES = 1 << 22


@public
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
    surrogate: str = "multivariate",
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
        optionally ``trial`` (events are found per trial). A dask input whose ``time``
        is split into chunks streams (each frame whole in one chunk; a real input
        needs a band-pass ``band``): its frames are decided in pieces of about
        ``_PIECE_VALUES`` values, each with ``_PIECE_OVERLAP`` frames of its
        neighbours on either side for the slope test pooled over frames, and its
        surrogates are made from windows read from it (see ``n_surrogates``); other
        dask inputs are computed. Frame-local values (PGD, synchrony, plane and centre
        fits, temporal frequency) equal those of the computed input; the pooled slope
        test (``gradient_p``, ``dof``, the slope SEs and intervals, and the labels
        that rest on it) estimates its correlation time from each piece, not the whole
        recording, so it can differ slightly (``docs/notes/streaming.md``).
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
        Surrogate recordings per trial (0 skips the test: p- and q-values are NaN).
        The same detection runs on each, and the events it finds there are the null
        sample. Long recordings are not scanned whole: about 10,000 surrogate frames per
        trial, fewer on large arrays but at least two recording lengths, as whole
        surrogates (at least 10) for "phase" and "multivariate" and as windows for the
        others; ``attrs["significance"]`` says how many surrogates, frames and events
        the null held. Whole surrogates bound the p-value's resolution: a recording of
        1,000 frames or more, scanned whole, gets 10 of them whatever ``n_surrogates``
        >= 10 asks, so the smallest p-value of a family with K events is
        ``1 / (1 + 10 K)``, not ``1 / (1 + n_surrogates K)`` (``surrogates_scanned``
        and ``p_floor`` per trial in ``attrs["significance"]``).
        A streamed input (``time`` in several dask chunks) of more than
        ``_LAZY_WHOLE_VALUES`` values (frames x sites) cannot be held whole: its
        surrogates are made from windows read from it, each window's own surrogate, at
        most ``_LAZY_WINDOW_VALUES`` values each, as many as the same budget of frames
        allows (smaller streamed inputs are read whole for the null, which then equals
        the in-memory one).
    surrogate : {"multivariate", "spatial", "shuffle", "phase", "auto"}
        Null model (:func:`~wavescope.analysis.surrogates`); each answers one question.
        "multivariate" (default; calibrated on smooth wave-free data, see
        ``docs/notes/calibration.md``): is the event more than a stationary linear
        Gaussian process with the recording's cross-spectra (volume conduction and
        spatial smoothness included) would show? "spatial": more than a field with this
        spatial autocorrelation (a plane wave filling a periodic grid is fixed by its
        autocorrelation; on finite grids and sensors it is not)? "shuffle": is the field
        organised in
        space at all? "phase": are the sites phase-locked at all? "auto" (the old
        default): shuffles for spatial patterns, phase randomisation for synchrony.
        Shuffles and per-site phase randomisation are beaten by any spatially smooth
        field, waves or not: their p-values say nothing about waves in recordings.
    seed : int
        Seed of the surrogates.
    progress : bool
        Show a progress bar over surrogates (it appears once a call takes over 2 s).
    bads : str, sequence of str or boolean array, optional
        Bad sites to leave out of the phases, scores and surrogates, besides those in
        ``attrs["bads"]`` (see :func:`wavescope.exclude_bads`: channels dropped, grid
        sites set to NaN).

    Returns
    -------
    xarray.Dataset
        Along ``event``: ``start`` and ``stop`` (time of the first frame and one sample
        after the last), ``duration``, ``pattern``, ``n_frames``, ``speed`` (space units
        per time unit), ``direction`` (rad CCW from +x), ``wavelength``, each with
        ``*_low`` / ``*_high`` interval ends (95 %, as in :func:`fit_plane_wave`), and
        ``pgd`` (mean). Speed, direction and wavelength follow the pattern: planar events
        use the mean plane-fit gradient of their frames, sources and sinks the mean
        radial phase slope (``|omega| / |slope|``; direction NaN), synchronous and
        rotating events have none (NaN); the interval uses the mean of the frames'
        standard errors (consecutive frames share their noise, so they are not counted
        as independent). Then ``score`` (mean deciding score, see
        :func:`classify_patterns`), ``p_value`` (the event's mass, the sum over its
        frames of the deciding score's excess over its threshold, so brief strong
        waves outweigh long weak ones, against the events of its pattern family, planar,
        synchronous, radial or rotating, that the same detection finds in the
        surrogates: ``min(1, (1 + sum_s c_s) / (1 + n K))``, c_s those at least as
        massive in surrogate s, K the observed events of the family), ``q_value``
        (Benjamini-Hochberg over
        every event of the call, all trials together: an event with ``q <= 0.05`` is
        a discovery at a false discovery rate of 5 %), ``event_trial``
        (the trial of each event, when the input has trials). Along ``time`` (and
        ``trial``): the frame-wise ``frame_pattern``, ``frame_score``, ``frame_pgd``,
        ``frame_synchrony``, ``frame_radial``, ``frame_rotation``, ``frame_speed``,
        ``frame_direction``, ``frame_wavelength`` (with their ``_low`` / ``_high``), and
        the tests and fits behind them (``frame_strength``, ``frame_explained``,
        ``frame_gradient_p``, ``frame_radial_p``, ``frame_rotation_p``,
        ``frame_dphi_dx`` ... ``frame_omega_se``; see :func:`classify_patterns`).
        ``attrs["significance"]`` (JSON):
        the null, the number of surrogates, the thresholds and minimum duration that
        made the events, the statistic, per trial how many surrogates were scanned
        (``surrogates_scanned``), how many surrogate events each family's null held
        and each family's smallest attainable p-value (``p_floor``, ``1 / (1 + n K)``),
        and the multiple-comparison correction.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import detect_waves
    >>> wave = sim.plane_wave((8, 8), n_times=200, speed=40.0, direction=np.pi / 2, noise=0.05,
    ...                       seed=0)
    >>> events = detect_waves(wave, band=(3, 8), n_surrogates=10, seed=0)
    >>> print(events.sizes["event"], events["pattern"].values.tolist())
    1 ['planar']
    >>> print(round(float(events["speed"][0]), 1), round(float(events["direction"][0]), 2))
    41.2 1.57
    """
    da = check_activity(da, bads=bads)
    check_frames_whole(da, "detect_waves")
    extra = [d for d in da.dims if d not in ("trial", "time", *space_dims(da))]
    if extra:
        raise DataModelError(
            f"detect_waves works on (trial,) time and space dims; select one value of {extra} "
            "first (for example da.isel(feature=0))"
        )
    if surrogate not in SURROGATES:
        raise ValueError(f"surrogate {surrogate!r} is not known; use one of {SURROGATES}")
    allowed = tuple(p for p in PATTERNS if p != "none")
    patterns = allowed if patterns is None else tuple(patterns)
    unknown = [p for p in patterns if p not in allowed]
    if unknown:
        raise ValueError(f"unknown patterns {unknown}; choose from {allowed}")
    if is_complex(da):
        if band is not None:
            raise DataModelError("da is already an analytic signal; drop band or pass da.real")
        z = da
    else:
        z = analytic_signal(da, band, method)
    streamed = time_split(z)
    if z.chunks is not None and not streamed:
        z = z.compute()  # time in one chunk: one block in memory anyway
    sfreq = float(z.attrs["sfreq"])
    if min_duration is None:
        lo, hi = (None, None) if band is None else band
        centre = np.mean([f for f in (lo, hi) if f is not None]) if band is not None else None
        min_duration = 1.0 / centre if centre else 5.0 / sfreq
    min_frames = max(1, int(np.ceil(float(min_duration) * sfreq - 1e-9)))
    # the frames' labels without the steady gradient of a window of frames: under the
    # multivariate null a recording's transient waves become stationary weak ones, which
    # that rule finds, so it gave the surrogates more planar mass than the data (power
    # at SNR 2 on the grid 0.70 -> 0.20, EEG SNR 4 0.29 -> 0; docs/notes/calibration.md)
    settings = dict(pgd_threshold=pgd_threshold, synchrony_threshold=synchrony_threshold,
                    radial_threshold=radial_threshold, rotation_threshold=rotation_threshold,
                    pgd_form=pgd_form, steady=False)
    trials = z["trial"].values if "trial" in z.dims else [None]
    if streamed:
        z, readers, decided = _streamed_frames(z, trials, settings)
    else:
        z = _without_dead_border(z)
        readers = [None] * len(trials)
        decided = [_frames(z if t is None else z.sel(trial=t), settings) for t in trials]
    rng = np.random.default_rng(seed)
    tables, frames, pools = [], [], []
    bar = tqdm(total=max(0, int(n_surrogates)) * len(trials), disable=not progress,
               desc="surrogates", leave=False, delay=2.0)
    for trial, fr, reader in zip(trials, decided, readers, strict=True):
        zt = z if trial is None else z.sel(trial=trial)
        if reader is not None and n_surrogates > 0 and zt.size <= _LAZY_WHOLE_VALUES:
            zt, reader = reader.read(0, zt.sizes["time"]), None  # small: the in-memory null
        events = _events(fr, zt["time"].values, sfreq, min_frames, patterns)
        child = int(rng.integers(0, 2**63 - 1))
        events["p_value"], pool = _p_values(zt, fr, events, int(n_surrogates), surrogate,
                                            child, settings, min_frames, patterns, bar,
                                            reader)
        pools.append(pool)
        if trial is not None:
            events["event_trial"] = np.full(len(events["start"]), trial)
            fr = fr.expand_dims(trial=[trial])
        tables.append(events)
        frames.append(fr)
    bar.close()
    table = {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}
    table["q_value"] = q_values(table["p_value"])
    frame_ds = frames[0] if trials[0] is None else xr.concat(frames, dim="trial")
    su, tu = z.attrs.get("space_units"), z.attrs.get("time_units")
    units = {"start": tu, "stop": tu, "duration": tu, "speed": f"{su}/{tu}",
             "direction": "rad", "wavelength": su, "pgd": "1", "score": "1", "p_value": "1",
             "q_value": "1"}
    units.update({f"{q}{end}": units[q] for q in ("speed", "direction", "wavelength")
                  for end in ("_low", "_high")})
    ds = xr.Dataset({k: ("event", v, {"units": units[k]} if k in units else {})
                     for k, v in table.items()})
    for name in frame_ds.data_vars:
        if name != "omega_sign":
            ds[f"frame_{name}"] = frame_ds[name]
    ds.attrs = derived_attrs(
        z, min_duration=float(min_duration), n_surrogates=int(n_surrogates),
        surrogate=surrogate, seed=int(seed), settings=json_attr(settings),
        patterns=" ".join(patterns),
        significance=json_attr({
            "null": surrogate, "n_surrogates": int(n_surrogates), "seed": int(seed),
            "thresholds": settings, "min_frames": min_frames,
            "statistic": "event mass (sum over frames of the deciding score's excess "
                         "over its threshold, at least 1e-3); p = min(1, (1 + surrogate "
                         "events of its family at least as massive, summed over the n "
                         "surrogates scanned) / (1 + n K)), K observed events of the "
                         "family",
            "per_trial": pools,
            "multiple_comparisons": "Benjamini-Hochberg q_value over all events"}))
    return ds


def _without_dead_border(z: xr.DataArray) -> xr.DataArray:
    """A grid without its outer rows and columns that hold only NaN (imaging outside a
    cranial window): they cost time in every measure and surrogate and change nothing."""
    dims = _grid_dims(z)
    if not dims or not np.isnan(z.values).any():
        return z
    alive = np.isfinite(z.values).any(axis=tuple(i for i, d in enumerate(z.dims)
                                                 if d not in dims))
    index = _live_box(alive, dims)
    return z if index is None else z.isel(index)


def _grid_dims(z: xr.DataArray) -> list[str]:
    """The grid dims a dead border can be cut from (none on sensors or periodic grids)."""
    if bool(z.attrs.get("periodic", 0)):
        return []
    return [d for d in z.dims if d in space_dims(z) and d in ("y", "x")]


def _live_box(alive: np.ndarray, dims: list[str]) -> dict | None:
    """isel index of the smallest box of the grid holding every site of ``alive`` (axes
    in the order of ``dims``); None when no site is alive."""
    if not alive.any():
        return None
    index = {}
    for axis, d in enumerate(dims):
        keep = np.flatnonzero(alive.any(axis=tuple(a for a in range(alive.ndim) if a != axis)))
        index[d] = slice(keep[0], keep[-1] + 1)
    return index


#: Values (frames x sites) of a piece of a streamed recording decided at once, besides
#: its overlaps (the bench's 64 x 64 grid: 8192 frames, 256 MB of complex64).
_PIECE_VALUES = 1 << 25
#: Frames of the neighbouring pieces read on either side of a piece and dropped after
#: the decision: the pooled slope test's running windows reach about half of 80
#: correlation times of the slopes (a plane wave in white noise at 500 Hz, band 10-20
#: Hz: 44 frames, so about 1800 frames), the steady-gradient windows 16 lags; one frame
#: is enough for the temporal frequency.
_PIECE_OVERLAP = 2048
#: A streamed input of at most this many values (frames x sites) is read whole for the
#: null, which then equals the in-memory one (complex128: 160 MB).
_LAZY_WHOLE_VALUES = 10_000_000
#: Most values of one surrogate window read from a longer streamed input.
_LAZY_WINDOW_VALUES = 1 << 23


def _streamed_frames(z: xr.DataArray, trials, settings: dict):
    """The frame tables of a lazy ``z`` with ``time`` in several chunks, piece by piece
    (:func:`_frames` on each piece with its overlaps, kept on the piece's own frames),
    one trial after another. A dead border (see :func:`_without_dead_border`) is seen
    only once every chunk was computed; where there is one, the frames are decided
    again on the grid without it. Returns ``(z, readers, tables)``."""
    def decide(z):
        readers, tables, alive = [], [], None
        n_sites = int(np.prod([z.sizes[d] for d in space_dims(z)]))
        step = max(1, _PIECE_VALUES // max(1, n_sites))
        for trial in trials:
            zt = z if trial is None else z.sel(trial=trial)
            n_t = zt.sizes["time"]
            # the chunks one piece with its overlaps touches (the next piece reuses them)
            keep = 1 + int(np.ceil((step + 2 * _PIECE_OVERLAP)
                                   / max(1, min(zt.chunksizes["time"]))))
            reader = TimeReader(zt, keep=keep)
            pieces = []
            for a in range(0, n_t, step):
                b = min(n_t, a + step)
                lo, hi = max(0, a - _PIECE_OVERLAP), min(n_t, b + _PIECE_OVERLAP)
                pieces.append(_frames(reader.read(lo, hi), settings)
                              .isel(time=slice(a - lo, b - lo)))
            tables.append(xr.concat(pieces, dim="time") if len(pieces) > 1 else pieces[0])
            reader.cache.clear()
            readers.append(reader)
            alive = reader.finite if alive is None else alive | reader.finite
        return readers, tables, alive

    readers, tables, alive = decide(z)
    dims = _grid_dims(z)
    if dims and not alive.all():
        rest = [d for d in z.dims if d not in ("time", "trial")]  # the reader's axes
        alive = alive.any(axis=tuple(i for i, d in enumerate(rest) if d not in dims))
        index = _live_box(alive, dims)
        if index is not None and any(index[d] != slice(0, z.sizes[d]) for d in dims):
            z = z.isel(index)
            readers, tables, _ = decide(z)
    return z, readers, tables


def _frames(z: xr.DataArray, settings: dict) -> xr.Dataset:
    """Per-frame label, scores and wave quantities of one trial (NumPy-backed).

    Speed, direction and wavelength (with their intervals) follow the frame's pattern,
    as :func:`classify_patterns` gives them: from the plane fit for planar frames, from
    the radial phase slope for sources and sinks (no single direction), and NaN for
    synchronous, rotating and unlabelled frames. The plane fit's gradient and SEs, the
    radial slope and its SE, and the temporal frequency and its SE are kept for the
    event-level intervals.
    """
    c = classify_patterns(z, **settings).compute()
    keep = ["pattern", "score", "pgd", "synchrony", "strength", "explained", "gradient_p",
            "radial", "radial_p", "rotation", "rotation_p", *_WAVE, "dphi_dx", "dphi_dy",
            "dphi_dx_se", "dphi_dy_se", "dphi_corr", "n_eff", "dof", "pool_scale",
            "radial_slope", "radial_slope_se", "radial_n_eff", "omega", "omega_se"]
    out = c[keep]
    out["omega_sign"] = xr.where(c["omega"] < 0, -1.0, 1.0)
    return out


#: Wave quantities per frame and per event, with their intervals.
_WAVE = tuple(f"{q}{end}" for q in ("speed", "direction", "wavelength")
              for end in ("", "_low", "_high"))


def _event_wave(fr: xr.Dataset, sl: slice, pattern: str) -> dict:
    """Speed, direction, wavelength and intervals of one event (NaN where none).

    Planar events: the mean over frames of the travel-oriented plane-fit gradient and
    of ``|omega|``; sources and sinks: the mean ``|radial slope|``. Consecutive frames
    of band-passed data share their noise, so the frames are not independent samples:
    the event's standard errors are the mean of its frames' (as if fully correlated),
    so the event interval is as wide as a typical frame's, centred on the event mean,
    with the t quantile of the frames' mean degrees of freedom (``dof``).
    """
    v = {k: fr[k].values[sl] for k in ("dphi_dx", "dphi_dy", "dphi_dx_se", "dphi_dy_se",
                                       "dphi_corr", "dof", "radial_slope",
                                       "radial_slope_se", "radial_n_eff", "omega",
                                       "omega_se", "omega_sign")}
    omega, omega_se = _mean(np.abs(v["omega"])), _mean(v["omega_se"])
    if pattern == "planar":
        s = v["omega_sign"]
        gx, gy = _mean(s * v["dphi_dx"]), _mean(s * v["dphi_dy"])  # -travel vector
        cxx, cyy = _mean(v["dphi_dx_se"] ** 2), _mean(v["dphi_dy_se"] ** 2)
        cxy = _mean(v["dphi_corr"] * v["dphi_dx_se"] * v["dphi_dy_se"])
        out = wave_intervals(gx, gy, cxx, cxy, cyy, omega, omega_se, 1.0, _confidence(fr),
                              dof=_mean(v["dof"]))
    elif pattern in ("source", "sink"):
        out = wave_intervals(_mean(np.abs(v["radial_slope"])), 0.0,
                              _mean(v["radial_slope_se"] ** 2), 0.0, 0.0, omega, omega_se,
                              1.0, _confidence(fr), dof=_mean(v["radial_n_eff"]) - 2)
        out = {k: (np.nan if k.startswith("direction") else val) for k, val in out.items()}
    else:
        return dict.fromkeys(_WAVE, np.nan)
    return {k: float(out[k]) for k in _WAVE}


def _confidence(fr: xr.Dataset) -> float:
    return float(fr.attrs.get("confidence", 0.95))


def _events(fr: xr.Dataset, times: np.ndarray, sfreq: float, min_frames: int,
            patterns: tuple[str, ...]) -> dict:
    labels = fr["pattern"].values
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [labels.size]])
    keep = [(a, b) for a, b in zip(starts, stops, strict=True)
            if labels[a] in patterns and b - a >= min_frames]
    table = {k: [] for k in ("start", "stop", "duration", "pattern", "n_frames", *_WAVE,
                             "pgd", "score", "first", "last")}
    for a, b in keep:
        sl = slice(a, b)
        table["start"].append(times[a])
        table["stop"].append(times[b - 1] + 1.0 / sfreq)
        table["duration"].append((b - a) / sfreq)
        table["pattern"].append(labels[a])
        table["n_frames"].append(b - a)
        for k, value in _event_wave(fr, sl, labels[a]).items():
            table[k].append(value)
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


#: Pattern families pooled for the null: the score that decides each pattern.
_SCORE_OF = {"planar": "pgd", "synchronous": "synchrony", "source": "radial",
             "sink": "radial", "rotating-ccw": "rotation", "rotating-cw": "rotation"}
#: Surrogate frames scanned per trial (all surrogates together) when they do not all fit
#: whole: _SCAN_FRAMES, or fewer on large arrays (_SCAN_VALUES frames x sites), but at
#: least _SCAN_LENGTHS recording lengths; each window holds >= _SCAN_MIN shortest events.
_SCAN_FRAMES = 10_000
_SCAN_VALUES = 5_000_000
_SCAN_LENGTHS = 2
_SCAN_MIN = 10
#: The phase-randomising nulls ("phase", "multivariate") are scanned as whole surrogates,
#: never as windows: windows cut from them made the multivariate null liberal on smooth
#: random fields (false-positive rate 0.132 with 257-frame windows, 0.066 with 977, 0.064
#: whole; docs/notes/calibration.md). As many as the scan budget allows but at least
#: _WHOLE_MIN (all of them when fewer are asked for), while they fit _WHOLE_VALUES
#: (frames x sites); longer recordings fall back to windows.
_WHOLE_MIN = 10
_WHOLE_VALUES = 100_000_000


#: Labels of the families a surrogate decision can leave out the centre fits for.
_SCREENED = {"pgd": "planar", "synchrony": "synchronous"}
_DEFAULTS = inspect.signature(classify_patterns).parameters
_FIT_DEFAULTS = inspect.signature(fit_plane_wave).parameters


def _null_frames(zs: xr.DataArray, settings: dict, families) -> tuple[np.ndarray, ...]:
    """Labels and deciding scores of surrogate frames, (trial, time) each: those of
    :func:`classify_patterns` on every frame of the tested ``families``' patterns, and
    "none" (score NaN) on the others, whose labels no null of these families counts.

    When only planar and synchronous events are tested, a frame is decided only as far
    as such a label needs, in the order of :func:`classify_patterns`' rule: the plane
    fit's R and the PGD on every frame; the plane fit's gradient test (its covariance,
    most of a plane fit) only where either reaches its threshold; the synchrony only
    when synchronous events are tested; and the radial and rotational centre fits (most
    of a pattern decision) only on the frames that could be planar (a radial or
    rotating model that qualifies with a larger R overrules the plane) or, with
    synchronous events tested, are synchronous enough. Elsewhere no skipped result can
    make a frame planar or synchronous. (Whether a radial or rotating model that wins
    is a source or a sink, or turns which way, is not decided: the temporal frequency
    is not computed.) With radial or rotating events tested every frame gets the whole
    decision.
    """
    if not set(families) <= set(_SCREENED):
        fr = _frames(zs, settings)
        return fr["pattern"].values, fr["score"].values
    t_strength = _DEFAULTS["strength_threshold"].default
    alpha = _DEFAULTS["alpha"].default
    # (zs holds surrogates of checked data: bad sites are NaN already)
    zs = zs.transpose("trial", "time", *space_dims(zs))  # the order the kernels see
    geom = geometry_of(zs)
    values = zs.values.reshape(-1, *geom.shape)
    n = len(values)
    fitter = PlaneFitter(geom, *(_FIT_DEFAULTS[k].default
                                 for k in ("k_max", "oversample", "max_iter")))
    strength, k = _plane_strength(values, fitter)
    steep = np.nan_to_num(strength, nan=-np.inf) >= t_strength  # NaN never passes
    pgd_ = pgd(zs, form=settings["pgd_form"]).values.ravel()  # decides where R does not
    nan = np.full(n, np.nan)
    gradient_p = nan.copy()
    rows = np.flatnonzero(steep | (np.nan_to_num(pgd_, nan=-np.inf)
                                   >= settings["pgd_threshold"]))
    if rows.size:  # the slope test pooled over the candidate frames, as classify_patterns'
        fields = np.full((len(FIELDS), n), np.nan)
        fields[:, rows] = plane_fit_kernel(values[rows], fitter=fitter, k=k[rows])
        f = dict(zip(FIELDS, fields.reshape(len(FIELDS), *zs.shape[:2]), strict=True))
        use = np.zeros(n, bool)
        use[rows] = True
        line = geom.kind == "line"
        pooled = pool_kernel(
            *(f[k] for k in ("dphi_dx", "dphi_dy", "cov_xx", "cov_xy", "cov_yy", "wcov_xx",
                             "wcov_xy", "wcov_yy")),
            f["n_eff"] - (2 if line else 3), f["gradient_p"], use.reshape(zs.shape[:2]),
            f["offset"], values.reshape(*zs.shape[:2], -1), line=line,
            steady=settings.get("steady", False), xy=geom.xy)
        # the frame's own slope test or its window's steady gradient, as classify_patterns
        gradient_p = np.fmin(pooled[4], pooled[6]).ravel()
    fit = np.nan_to_num(gradient_p, nan=np.inf) < alpha  # could be planar
    sync = nan
    if "synchrony" in families:
        sync = synchrony(zs).values.ravel()
        fit |= np.nan_to_num(sync, nan=-np.inf) >= settings["synchrony_threshold"]
    scores = np.full((13, n), np.nan)  # the radial then the rotational outputs
    rows = np.flatnonzero(fit)
    if rows.size and geom.kind != "line":  # a line has no radial or rotating scores
        scores[:, rows] = centre_kernel(values[rows], finder=PatternFinder(geom),
                                         want="both", centre="fit")
    rad, _, _, rad_p, rad_r, _, rcx, rcy, rot, rot_p, rot_r, ocx, ocy = scores
    thresholds = (settings["synchrony_threshold"], settings["pgd_threshold"], t_strength,
                  settings["radial_threshold"], settings["rotation_threshold"], alpha)
    code, score, _, _ = label_kernel(sync, pgd_, strength, gradient_p, rad, rad_p, rad_r,
                                      rot, rot_p, rot_r, rcx, rcy, ocx, ocy,
                                      thresholds=thresholds)
    keep = np.isin(code, [PATTERNS.index(_SCREENED[f]) for f in families])
    labels = np.where(keep, np.array(PATTERNS)[code], "none")
    shape = zs.shape[:2]
    return labels.reshape(shape), np.where(keep, score, np.nan).reshape(shape)


def _plane_strength(values: np.ndarray, fitter: PlaneFitter) -> tuple[np.ndarray, ...]:
    """The plane fit's R per frame (``values``: frames, *space) and its wave vector
    (frames, 2), as :meth:`PlaneFitter.fit` finds them (coarse search and Newton
    refinement), without the covariance and tests that follow."""
    flat = values.reshape(len(values), -1)
    out, k = np.empty(len(flat)), np.empty((len(flat), 2))
    for sl in frame_blocks(len(flat), flat.shape[1], 1 << 16):
        u = phasors(flat[sl])
        valid = np.isfinite(u)
        u = np.where(valid, u, 0.0)
        n_valid = valid.sum(axis=1)
        k[sl], c = fitter._refine(u, fitter._coarse(u))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[sl] = np.where(n_valid >= 3, np.abs(c.sum(axis=1)) / n_valid, np.nan)
    return out, k


def _runs(labels: np.ndarray, min_frames: int, patterns) -> list[tuple[int, int]]:
    """(first, stop) of the stretches of one label in ``patterns`` of >= min_frames."""
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [labels.size]])
    return [(a, b) for a, b in zip(starts, stops, strict=True)
            if labels[a] in patterns and b - a >= min_frames]


def _kind_of(surrogate: str, family: str) -> str:
    if surrogate != "auto":
        return surrogate
    return "phase" if family == "synchrony" else "shuffle"  # the old mixed default


#: Least weight of a frame in an event's mass (frames at their family's threshold).
_MASS_FLOOR = 1e-3


def _mass_thresholds(settings: dict) -> dict:
    """Each pattern family's threshold, from which :func:`_event_mass` counts."""
    return {"pgd": _DEFAULTS["strength_threshold"].default,
            "synchrony": settings["synchrony_threshold"],
            "radial": settings["radial_threshold"], "rotation": settings["rotation_threshold"]}


def _event_mass(scores: np.ndarray, threshold: float) -> float:
    """An event's mass: the sum over its frames of the deciding score's excess over the
    family's threshold (at least :data:`_MASS_FLOOR` per frame). Strong frames weigh
    more than many weak ones, so a brief, strong wave outweighs the long, weak ones
    that phase-randomised surrogates of a recording with strong waves hold."""
    return float(np.nansum(np.clip(scores - threshold, _MASS_FLOOR, None)))


def _p_values(z, fr, events, n, surrogate, seed, settings, min_frames, patterns,
              bar, reader=None) -> tuple[np.ndarray, dict]:
    """Event p-values from the events the same detection finds in surrogates.

    An observed event was selected because its frames crossed a threshold, so comparing
    its score with the same frames of surrogates favours it. Instead each surrogate runs
    through the whole detection, and an event of mass ``m`` (:func:`_event_mass`: the
    sum of its frames' deciding scores' excess over their threshold) gets
    ``p = min(1, (1 + sum_s c_s(m)) / (1 + n K))``: ``c_s(m)`` counts the events of the
    same pattern family (planar, synchronous, radial, rotating) with mass >= m in
    surrogate s and K the observed events of that family, i.e. the expected number of
    null events at least this strong per recording, over the observed number. Under the
    null, the share of events with p < alpha is then about alpha (checked in
    docs/notes/calibration.md); where surrogates hold no such event, p = 1 / (1 + n K).
    ``n`` is the number of surrogates scanned: the phase-randomising nulls are scanned
    whole, at least :data:`_WHOLE_MIN` of them (fewer than asked for when they do not
    all fit the scan budget). The other nulls, and phase nulls of recordings too long
    for that, are scanned in windows: events touching a window's edge are left
    out and each other one counts for the recording length over the places it fits in
    the window, so ``c_s`` is an unbiased estimate of the count in a whole surrogate.
    It is not capped per surrogate (a long event fits in few windows, so it is rarely
    seen but weighs much when it is: a cap at K would bias the sum low); ``min(1, .)``
    keeps p a probability.

    With a ``reader`` (:class:`~wavescope.analysis._chunks.TimeReader` of a lazy ``z``
    too long to hold whole) every null is scanned in windows read from the recording,
    each window's own surrogate ("phase" and "multivariate" randomise the window's
    phases), of at most :data:`_LAZY_WINDOW_VALUES` values, as many as give the same
    frames as the in-memory scan; windows are read in time order (each chunk computed
    about once) and counted in the order they were drawn. Shuffles and spatial
    surrogates act frame by frame, so where their windows fit that bound they equal
    the in-memory scan's.
    """
    first = events.pop("first").astype(int)
    last = events.pop("last").astype(int)
    n_t = fr.sizes["time"]
    n_sites = int(np.prod([z.sizes[d] for d in space_dims(z)]))
    budget = max(_SCAN_LENGTHS * n_t, min(_SCAN_FRAMES, _SCAN_VALUES // max(1, n_sites)))
    width = n_t if n * n_t <= budget else min(
        n_t, max(_SCAN_MIN * min_frames, int(np.ceil(budget / max(n, 1)))))
    n_whole = min(n, max(_WHOLE_MIN, int(np.ceil(budget / max(n_t, 1)))))
    whole_fits = width == n_t or n_whole * n_t * n_sites <= _WHOLE_VALUES
    info = {"surrogate_events": {}, "frames_per_surrogate": {}, "surrogates_scanned": {},
            "p_floor": {}}
    if len(first) == 0 or n <= 0:
        return np.full(len(first), np.nan), info
    score = fr["score"].values
    family = np.array([_SCORE_OF[p] for p in events["pattern"]])
    thresholds = _mass_thresholds(settings)
    mass = np.array([_event_mass(score[a:b], thresholds[f])
                     for a, b, f in zip(first, last, family, strict=True)])
    null = {f: [] for f in np.unique(family)}  # per family: per surrogate (masses, weights)
    rng = np.random.default_rng(seed)
    scanned = {}  # per family: the number of surrogates scanned

    def null_events(labels, scores, wanted, width) -> dict:
        window = width < n_t
        found = {f: ([], []) for f in wanted}
        for a, b in _runs(labels, min_frames, patterns):
            f = _SCORE_OF[labels[a]]
            if f not in found or (window and (a == 0 or b == width)):
                continue
            found[f][0].append(_event_mass(scores[a:b], thresholds[f]))
            found[f][1].append((n_t - (b - a) + 1) / (width - (b - a) - 1) if window else 1.0)
        return {f: (np.asarray(m), np.asarray(w)) for f, (m, w) in found.items()}

    for kind in sorted({_kind_of(surrogate, f) for f in null}):
        wanted = [f for f in null if _kind_of(surrogate, f) == kind]
        whole = kind in ("phase", "multivariate")  # these transform the whole time axis
        n_kind, width_kind = (n if width == n_t else n_whole, n_t) if whole and whole_fits \
            else (n, width)
        if reader is not None:  # windows of the lazy recording, as many frames in all
            cap = max(_SCAN_MIN * min_frames, _LAZY_WINDOW_VALUES // max(1, n_sites))
            frames = n_kind * width_kind
            width_kind = min(width_kind, cap, n_t)
            n_kind = int(np.ceil(frames / width_kind))
            info["windows_of_the_recording"] = True
        info["frames_per_surrogate"][kind] = int(width_kind)
        info["surrogates_scanned"][kind] = int(n_kind)
        scanned.update(dict.fromkeys(wanted, n_kind))
        template = z.isel(time=slice(0, width_kind)).drop_vars("trial", errors="ignore")
        if reader is not None:
            for labels, scores in _lazy_scan(reader, kind, n_kind, width_kind, rng, template,
                                             settings, wanted, bar, n / n_kind):
                for f, value in null_events(labels, scores, wanted, width_kind).items():
                    null[f].append(value)
            continue
        # the FFT along time once for every surrogate, each cut to its window
        windows = PhaseWindows(z, kind) if whole else None
        batch = max(1, min(n_kind, _BATCH_VALUES // max(1, (n_t if whole else width_kind)
                                                          * n_sites)))
        # one time-major buffer for every batch (the kernels' reshapes stay views; fresh
        # allocations of this size can stall in the kernel's compaction for huge pages)
        axis = template.get_axis_num("time")
        lead = [n for i, n in enumerate(template.shape) if i != axis]
        buffer = np.moveaxis(np.empty((batch, width_kind, *lead), dtype=z.dtype), 1, 1 + axis)
        done = 0
        while done < n_kind:
            m = min(batch, n_kind - done)
            starts = rng.integers(0, n_t - width_kind + 1, size=m)  # one window per surrogate
            seeds = rng.integers(0, 2**63 - 1, size=m)
            if whole:  # = surrogates(z, kind, m, seeds[0]) cut to the windows
                windows.draw(m, int(seeds[0]), starts, width_kind, out=buffer[:m])
            else:  # shuffles and spatial filters act frame by frame: window first
                for i, (a, s) in enumerate(zip(starts, seeds, strict=True)):
                    buffer[i] = surrogates(z.isel(time=slice(a, a + width_kind)), kind, 1,
                                           int(s)).values[0]
            done += m
            zs = xr.DataArray(buffer[:m], dims=("trial", *template.dims),
                              coords=template.coords, attrs=template.attrs)
            for labels, scores in zip(*_null_frames(zs, settings, wanted), strict=True):
                for f, value in null_events(labels, scores, wanted, width_kind).items():
                    null[f].append(value)
            bar.update(m * n / n_kind)
    p = np.empty(len(first))
    for f, per_surrogate in null.items():
        members = np.flatnonzero(family == f)
        k = members.size
        for i in members:
            hits = sum(w[ms >= mass[i]].sum() for ms, w in per_surrogate)
            p[i] = min(1.0, (1 + hits) / (1 + scanned[f] * k))
        info["surrogate_events"][f] = round(float(sum(w.sum() for _, w in per_surrogate))
                                            / scanned[f], 2)
        info["p_floor"][f] = 1.0 / (1 + scanned[f] * k)  # p of an event no surrogate beats
    return p, info


def _lazy_scan(reader, kind, n_windows, width, rng, template, settings, wanted, bar,
               per_window) -> list[tuple]:
    """Labels and scores (:func:`_null_frames`) of ``n_windows`` surrogate windows of a
    lazy recording (see :func:`_p_values`), in the order they are drawn: one start and
    one seed per window, drawn in batches as the in-memory scan of shuffles and spatial
    surrogates draws them; the windows read in time order, batched up to
    :data:`_BATCH_VALUES`."""
    n_t = int(reader.bounds[-1])
    n_sites = int(np.prod([template.sizes[d] for d in space_dims(template)]))
    batch = max(1, min(n_windows, _BATCH_VALUES // max(1, width * n_sites)))
    starts, seeds = [], []
    while len(starts) < n_windows:
        m = min(batch, n_windows - len(starts))
        starts += list(rng.integers(0, n_t - width + 1, size=m))
        seeds += list(rng.integers(0, 2**63 - 1, size=m))
    order = np.argsort(starts, kind="stable")
    found = [None] * n_windows
    for group in (order[i:i + batch] for i in range(0, n_windows, batch)):
        stack = [surrogates(reader.read(int(starts[j]), int(starts[j]) + width), kind, 1,
                            int(seeds[j])).values[0] for j in group]
        zs = xr.DataArray(np.array(stack), dims=("trial", *template.dims),
                          coords=template.coords, attrs=template.attrs)
        for j, labels, scores in zip(group, *_null_frames(zs, settings, wanted), strict=True):
            found[j] = (labels, scores)
        bar.update(len(group) * per_window)
    return found

