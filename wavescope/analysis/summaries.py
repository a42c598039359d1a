"""Numbers of a :func:`~wavescope.analysis.detect_waves` result, as plain JSON values.

:func:`event_summary` counts events and frames per pattern; :func:`truth_agreement`
compares the frames of a simulated recording with the segments it was made of
(:func:`wavescope.simulate.truth`); :func:`clearest_frame` and
:func:`strongest_planar_time` pick the frames worth drawing.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

__all__ = ["event_summary", "truth_agreement", "clearest_frame", "strongest_planar_time"]


def event_summary(ev: xr.Dataset, alpha: float = 0.05) -> dict:
    """Counts and typical values of a :func:`~wavescope.analysis.detect_waves` result.

    Parameters
    ----------
    ev : xarray.Dataset
        The events (``pattern``, ``p_value``, optional ``q_value``, ``speed``) and frame
        measures (``frame_pattern``, ``frame_pgd``, ``frame_speed``, ``frame_wavelength``).
    alpha : float
        Level of the ``significant`` (p) and ``discoveries`` (q) counts.

    Returns
    -------
    dict
        ``n_events``; per pattern the ``events``, those with p <= alpha
        (``significant``) and with Benjamini-Hochberg q <= alpha (``discoveries``);
        ``null`` (the surrogates of ``attrs["significance"]``); ``frame_share`` (fraction
        of frames per pattern); ``mean_pgd`` (0-1); ``planar_speed`` and
        ``planar_wavelength`` (medians over planar frames, in ``speed_units`` and space
        units; None without planar frames); ``speed_units``; ``min_p`` (None when no
        p-value is finite).

    Examples
    --------
    >>> ev = xr.Dataset({"pattern": ("event", ["planar"]), "p_value": ("event", [0.01]),
    ...                  "speed": ("event", [2.0], {"units": "m/s"}),
    ...                  "frame_pattern": ("time", ["planar", "none"]),
    ...                  "frame_pgd": ("time", [0.9, 0.1]),
    ...                  "frame_speed": ("time", [2.0, np.nan]),
    ...                  "frame_wavelength": ("time", [0.1, np.nan])})
    >>> s = event_summary(ev)
    >>> s["significant"], s["frame_share"], s["mean_pgd"], s["planar_speed"]
    ({'planar': 1}, {'none': 0.5, 'planar': 0.5}, 0.5, 2.0)
    """
    pats = ev["pattern"].values
    frame = ev["frame_pattern"].values
    p = ev["p_value"].values
    q = ev["q_value"].values if "q_value" in ev else np.full(p.shape, np.nan)
    significance = json.loads(ev.attrs.get("significance", "{}") or "{}")
    labels, counts = np.unique(frame, return_counts=True)
    planar = frame == "planar"
    kinds = np.unique(pats)
    return {
        "n_events": int(pats.size),
        "events": {str(k): int(np.sum(pats == k)) for k in kinds},
        "significant": {str(k): int(np.sum((pats == k) & (p <= alpha))) for k in kinds},
        "discoveries": {str(k): int(np.sum((pats == k) & (q <= alpha))) for k in kinds},
        "null": significance.get("null"),
        "frame_share": {str(k): float(c / frame.size)
                        for k, c in zip(labels, counts, strict=True)},
        "mean_pgd": float(np.nanmean(ev["frame_pgd"].values)),
        "planar_speed": float(np.nanmedian(ev["frame_speed"].values[planar]))
        if planar.any() else None,
        "planar_wavelength": float(np.nanmedian(ev["frame_wavelength"].values[planar]))
        if planar.any() else None,
        "speed_units": ev["speed"].attrs.get("units", ""),
        "min_p": float(np.nanmin(p)) if np.isfinite(p).any() else None,
    }


def truth_agreement(ev: xr.Dataset, segments: list[dict], *, edge: float = 0.1) -> dict:
    """How well the frames of a simulated recording match the segments it was made of.

    Parameters
    ----------
    ev : xarray.Dataset
        :func:`~wavescope.analysis.detect_waves` of the recording.
    segments : list of dict
        ``truth(recording)["segments"]`` of :func:`wavescope.simulate.truth`: ``kind``
        ("plane" or "rotating"), ``start`` and ``stop`` (time units), and ``speed``,
        ``direction`` (rad) or ``sense``.
    edge : float
        Fraction of each segment left out at either end (the band-pass filter rings at
        the segment's edges).

    Returns
    -------
    dict
        ``planar`` (for a plane segment): ``share`` of its frames labelled planar, median
        ``speed`` (space units per time unit) and circular-mean ``direction`` (rad) over
        those frames, the true ones, and ``pgd`` (mean frame PGD); ``rotating`` (for a
        rotating segment): ``share`` labelled ``rotating-<sense>``, and ``sense``.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import detect_waves
    >>> from wavescope.analysis.summaries import truth_agreement
    >>> da = sim.sequence(sim.plane_wave((8, 8), n_times=100, speed=40.0, direction=0.5),
    ...                   sim.rotating_wave((8, 8), n_times=100, sense="ccw"))
    >>> ev = detect_waves(da, band=(3, 7), n_surrogates=10)
    >>> agree = truth_agreement(ev, sim.truth(da)["segments"])
    >>> print(agree["planar"]["share"] > 0.9, round(agree["planar"]["speed"], -1))
    True 40.0
    >>> print(agree["rotating"]["sense"], agree["rotating"]["share"] > 0.9)
    ccw True
    """
    times = ev["time"].values
    pattern = ev["frame_pattern"].values
    out = {}
    for seg in segments:
        span = seg["stop"] - seg["start"]
        sel = (times >= seg["start"] + edge * span) & (times < seg["stop"] - edge * span)
        if seg["kind"] == "plane":
            hit = pattern[sel] == "planar"
            d = ev["frame_direction"].values[sel][hit]
            out["planar"] = {
                "share": float(hit.mean()),
                "speed": float(np.nanmedian(ev["frame_speed"].values[sel][hit])),
                "direction": float(np.angle(np.nanmean(np.exp(1j * d)))),
                "true_speed": seg["speed"], "true_direction": seg["direction"],
                "pgd": float(np.nanmean(ev["frame_pgd"].values[sel]))}
        elif seg["kind"] == "rotating":
            want = f"rotating-{seg['sense']}"
            out["rotating"] = {"share": float(np.mean(pattern[sel] == want)),
                               "sense": seg["sense"]}
    return out


def clearest_frame(ev: xr.Dataset) -> tuple[int, int]:
    """The trial of highest mean frame PGD (a clear wave throughout, not one lucky frame),
    and the index of its frame of highest PGD (not the last, so a pair of frames follows).

    Parameters
    ----------
    ev : xarray.Dataset
        :func:`~wavescope.analysis.detect_waves` of trials (``frame_pgd`` over trial, time).

    Returns
    -------
    (int, int)
        Trial index, time index.

    Examples
    --------
    >>> ev = xr.Dataset({"frame_pgd": (("trial", "time"), [[0.2, 0.3, 0.1],
    ...                                                   [0.9, 0.5, 0.99]])})
    >>> clearest_frame(ev)
    (1, 0)
    """
    pgd = ev["frame_pgd"].transpose("trial", "time").values
    trial = int(np.nanargmax(np.nanmean(pgd, axis=1)))
    return trial, int(np.nanargmax(pgd[trial, :-1]))


def strongest_planar_time(ev: xr.Dataset) -> float:
    """Time (time units) of the planar frame of highest PGD; the first time without any.

    Examples
    --------
    >>> ev = xr.Dataset({"frame_pgd": ("time", [0.9, 0.5, 0.7]),
    ...                  "frame_pattern": ("time", ["none", "planar", "planar"])},
    ...                 coords={"time": [0.0, 0.1, 0.2]})
    >>> strongest_planar_time(ev)
    0.2
    """
    pgd = ev["frame_pgd"].where(ev["frame_pattern"] == "planar")
    return float(pgd.idxmax()) if np.isfinite(pgd).any() else float(ev["time"][0])
