"""Figures of waves: phase maps, flow fields, space-time plots, spectra and animations.

Every function takes data-model objects (:mod:`wavescope.core`) or the outputs of
:mod:`wavescope.analysis`, labels every axis with its physical units (``space_units``,
``time_units``, ``units`` attributes and coordinate ``units``), draws on a given
``ax`` or a new figure, and returns the :class:`matplotlib.figure.Figure`. Figures are
built without pyplot, so nothing opens a window or depends on the interactive backend;
save them with ``fig.savefig(path)`` (they display in Jupyter as they are).

Selection: arrays with more dims than a plot shows take ``time=`` (nearest time, in time
units) and exact labels of any other dim as keywords, e.g. ``plot_phase_map(z,
time=0.25, trial=3)``.

Figures of results (training curves, shape spectra, decoding scores, PGD over time) live in
:mod:`wavescope.plotting.results` and are importable from here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib import colors
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from .._safeio import safe_write
from ..core import DataModelError, exclude_bads, validate
from . import style
from .style import PHASE_CMAP, PHASE_TICKLABELS, PHASE_TICKS

__all__ = [
    "plot_phase_map",
    "plot_flow",
    "plot_space_time",
    "plot_spectrum",
    "plot_kw",
    "plot_critical_points",
    "animate",
    "training_figure",
    "shape_spectra_figure",
    "relative_spectra_figure",
    "decoding_figure",
    "pgd_figure",
    "flow_outline_figure",
    "polygon_run_figures",
    "eeg_figures",
]

VALUE_CMAP = style.SIGNED_CMAP  # colour maps, sizes and labels: see wavescope.plotting.style

# Marker, colour and legend label of each critical-point kind (analysis.flow.CRITICAL_POINT_KINDS).
POINT_STYLE = {
    "source": ("^", "tab:red", "source"),
    "sink": ("v", "tab:blue", "sink"),
    "spiral-out": ("o", "tab:orange", "spiral out"),
    "spiral-in": ("o", "tab:cyan", "spiral in"),
    "centre": ("*", "tab:green", "centre"),
    "saddle": ("X", "black", "saddle"),
    "degenerate": ("s", "tab:gray", "degenerate"),
}


# ------------------------------------------------------------------------------ helpers


def _axes(ax: Axes | None, figsize="map") -> tuple[Figure, Axes]:
    if ax is None:
        fig = style.figure(figsize)
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    return ax.figure, ax


_label = style.label


def _space_label(obj, axis: str) -> str:
    return _label(axis, obj.attrs.get("space_units", "pixel"))


def _time_units(obj) -> str:
    return obj.attrs.get("time_units", "s")


def _select(da: xr.DataArray, keep: tuple[str, ...], time=None, **indexers) -> xr.DataArray:
    """Reduce ``da`` to the dims in ``keep`` (in that order) by label selection.

    ``time`` picks the nearest time (default: the first); other dims take exact labels
    from ``indexers``; dims of size 1 are dropped. Anything left is an error that says
    which keyword to pass.
    """
    unknown = [k for k in indexers if k not in da.dims]
    if unknown:
        raise ValueError(f"cannot select {unknown}: not dims of the data {tuple(da.dims)}")
    if indexers:
        da = da.sel(indexers)
    if "time" in da.dims and "time" not in keep:
        da = da.isel(time=0) if time is None else da.sel(time=time, method="nearest")
    extra = [d for d in da.dims if d not in keep]
    for d in extra:
        if da.sizes[d] != 1:
            example = f"{d}={da[d].values[0]!r}" if d in da.coords else f"{d}=0 (by label)"
            raise ValueError(
                f"the data have {da.sizes[d]} values along '{d}'; choose one, e.g. {example}"
            )
        da = da.isel({d: 0})
    missing = [d for d in keep if d not in da.dims]
    if missing:
        raise DataModelError(f"the data lack dims {missing} (they have {tuple(da.dims)})")
    return da.transpose(*keep)


def _time_title(da: xr.DataArray, prefix: str, units_from=None) -> str:
    if "time" in da.coords and da["time"].size == 1:
        units = _time_units(da if units_from is None else units_from)
        return f"{prefix} at t = {float(da['time']):.4g} {units}"
    return prefix


_phase_colorbar = style.phase_colorbar


def _edges(c: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centre coordinates (for pcolormesh)."""
    c = np.asarray(c, dtype=float)
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


def _value_norm(values: np.ndarray) -> colors.Normalize:
    """Symmetric limits about 0 for signed data, min..max otherwise (NaN ignored)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return colors.Normalize(-1, 1)
    lo, hi = float(finite.min()), float(finite.max())
    if lo < 0 < hi:
        m = max(-lo, hi)
        return colors.Normalize(-m, m)
    return colors.Normalize(lo, hi if hi > lo else lo + 1)


def _map_values(da: xr.DataArray) -> tuple[np.ndarray, bool]:
    """(values, is_phase): the phase of complex data, real data as they are."""
    if np.iscomplexobj(da.values):
        return np.angle(da.values), True
    return np.asarray(da.values, dtype=float), False


def _draw_map(fig, ax, da: xr.DataArray, *, phase: bool, cmap, norm, colorbar: bool,
              value_label: str):
    """A grid (y, x) as cells or channels as dots at their positions; returns the artist."""
    values = np.angle(da.values) if phase and np.iscomplexobj(da.values) else np.asarray(
        da.values, dtype=float)
    if "channel" in da.dims:
        art = ax.scatter(da["x"].values, da["y"].values, c=values, cmap=cmap, norm=norm,
                         s=60, edgecolors="0.3", linewidths=0.5)
    else:
        art = ax.pcolormesh(_edges(da["x"].values), _edges(da["y"].values), values,
                            cmap=cmap, norm=norm, shading="flat")
    ax.set_xlabel(_space_label(da, "x"))
    ax.set_ylabel(_space_label(da, "y"))
    ax.set_aspect("equal")
    if colorbar:
        if phase:
            _phase_colorbar(fig, art, ax)
        else:
            style.colorbar(fig, art, ax, value_label)
    return art


def _space_keep(da: xr.DataArray) -> tuple[str, ...]:
    if "channel" in da.dims:
        return ("channel",)
    if "y" in da.dims and "x" in da.dims:
        return ("y", "x")
    raise DataModelError(
        f"a map needs a 2-D grid (y, x) or channels with positions; got dims {tuple(da.dims)}"
        " (plot a line or ring with plot_space_time)"
    )


# --------------------------------------------------------------------------------- maps


def plot_phase_map(z: xr.DataArray, time=None, *, ax: Axes | None = None,
                   cmap: str = PHASE_CMAP, colorbar: bool = True, head: bool = False,
                   **indexers) -> Figure:
    """Phase at one time on a grid (cells) or at sensor positions (dots).

    Parameters
    ----------
    z : xarray.DataArray
        Complex analytic signal (its angle is drawn), or real phases in radians; grid
        ``(..., y, x)`` or ``(..., channel)``.
    time : float, optional
        Time (in ``time_units``) of the frame; the nearest is drawn, default the first.
    ax : matplotlib Axes, optional
        Where to draw; default a new figure.
    cmap : str
        A cyclic colormap, so -pi and pi look the same.
    colorbar : bool
        Add a phase colour bar (ticks at multiples of pi/2).
    head : bool
        For scalp sensors (positions about the vertex at 0, 0, nose towards +y): draw the
        head's outline and nose around them.
    **indexers
        Labels of other dims (``trial=...``, ``feature=...``).

    Returns
    -------
    matplotlib.figure.Figure
        Bad sites (``attrs["bads"]``) are left blank, as every analysis leaves them out.

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal
    >>> from wavescope.plotting import plot_phase_map
    >>> z = analytic_signal(sim.plane_wave((8, 8), n_times=50, spacing=0.5, space_units="mm",
    ...                                    source="recording"))
    >>> fig = plot_phase_map(z, time=0.2)
    >>> ax = fig.axes[0]
    >>> print(ax.get_xlabel(), "|", ax.get_ylabel(), "|", len(fig.axes))
    x (mm) | y (mm) | 2
    """
    validate(z)
    frame = _select(exclude_bads(z, warn=False), _space_keep(z), time, **indexers)
    if head and "channel" not in frame.dims:
        raise DataModelError("head=True draws a head around sensors (a 'channel' dim); "
                             "this is a grid")
    fig, ax = _axes(ax)
    values = frame if np.iscomplexobj(frame.values) else frame.copy(
        data=np.angle(np.exp(1j * np.asarray(frame.values, dtype=float))))
    _draw_map(fig, ax, values, phase=True, cmap=cmap, norm=colors.Normalize(-np.pi, np.pi),
              colorbar=colorbar, value_label="phase (rad)")
    style.title(ax, _time_title(frame, "phase"), loc="center")
    if head:
        _head_outline(ax, frame["x"].values, frame["y"].values)
    return fig


def _head_outline(ax: Axes, x: np.ndarray, y: np.ndarray) -> None:
    """A circle around the sensors (about 0, 0) with the nose at +y, labelled."""
    r = 1.08 * float(np.nanmax(np.hypot(x, y)))
    angle = np.linspace(0, 2 * np.pi, 181)
    ax.plot(r * np.cos(angle), r * np.sin(angle), color="0.3", lw=1.2, label="head")
    w = 0.12 * r
    ax.plot([-w, 0, w], [r * np.cos(np.arcsin(w / r)), 1.12 * r, r * np.cos(np.arcsin(w / r))],
            color="0.3", lw=1.2)
    ax.annotate("nose", (0, 1.12 * r), xytext=(0, 2), textcoords="offset points",
                ha="center", va="bottom", fontsize="small", color="0.3")
    ax.set_xlim(-1.2 * r, 1.2 * r)
    ax.set_ylim(-1.1 * r, 1.25 * r)


def plot_flow(flow: xr.Dataset, z: xr.DataArray | None = None, time=None, *,
              ax: Axes | None = None, step: int | None = None, cmap: str = PHASE_CMAP,
              colorbar: bool = True, **indexers) -> Figure:
    """Velocity field as arrows, over the phase map of ``z`` when given.

    Parameters
    ----------
    flow : xarray.Dataset
        ``u``, ``v`` on a grid (from :func:`wavescope.analysis.optical_flow`).
    z : xarray.DataArray, optional
        Complex activity on the same grid; its phase at the frame nearest the flow's time
        is drawn underneath.
    time : float, optional
        Time of the flow frame (nearest; default the first). Flow times are midpoints
        between frames.
    step : int, optional
        Draw every ``step``-th arrow along x and y; default at most 20 arrows per side.
    cmap, colorbar
        As in :func:`plot_phase_map`.
    **indexers
        Labels of other dims (``trial=...``).

    Returns
    -------
    matplotlib.figure.Figure
        The quiver key gives the arrow scale in ``space_units``/``time_units``.

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal, optical_flow
    >>> from wavescope.plotting import plot_flow
    >>> z = analytic_signal(sim.rotating_wave((12, 12), n_times=30))
    >>> flow = optical_flow(z.isel(time=slice(10, 13)))
    >>> fig = plot_flow(flow, z, time=float(flow["time"][0]))
    >>> print(len(fig.axes[0].collections) > 0)
    True
    """
    if not isinstance(flow, xr.Dataset) or "u" not in flow or "v" not in flow:
        raise DataModelError("plot_flow needs a Dataset with 'u' and 'v' (from optical_flow)")
    u = _select(flow["u"], ("y", "x"), time, **indexers)
    v = _select(flow["v"], ("y", "x"), time, **indexers)
    fig, ax = _axes(ax)
    if z is not None:
        validate(z)
        t = float(u["time"]) if "time" in u.coords and u["time"].size == 1 else None
        plot_phase_map(z, t, ax=ax, cmap=cmap, colorbar=colorbar, **indexers)
    if step is None:
        step = max(1, int(np.ceil(max(u.shape) / 20)))
    sub = (slice(None, None, step), slice(None, None, step))
    xx, yy = np.meshgrid(u["x"].values[sub[1]], u["y"].values[sub[0]])
    uu, vv = u.values[sub], v.values[sub]
    speed = np.hypot(uu, vv)
    q = ax.quiver(xx, yy, uu, vv, angles="xy", pivot="mid", color="black", width=0.004)
    ref = _nice(np.nanpercentile(speed, 90)) if np.isfinite(speed).any() else 1.0
    units = flow["u"].attrs.get("units", f"{flow.attrs.get('space_units', 'pixel')}/"
                                         f"{_time_units(flow)}")
    # The key sits below the axes at the right, level with the x label (the layout, which
    # does not see a key, makes room for that), clear of the title at the top; the x label
    # moves to the left so that a long key ("0.5 pixel/time unit") never covers it.
    ax.quiverkey(q, 1.0, -0.1, ref, f"{ref:g} {units}", labelpos="W", coordinates="axes")
    ax.set_xlabel(_space_label(flow, "x"), loc="left")
    ax.set_ylabel(_space_label(flow, "y"))
    ax.set_aspect("equal")
    ax.set_title("")  # the phase map's centred title gives way to the key
    style.title(ax, _time_title(u, "flow" if z is None else "phase and flow", flow))
    return fig


def _nice(x: float) -> float:
    """1, 2 or 5 times a power of ten, at most ``x``."""
    if not np.isfinite(x) or x <= 0:
        return 1.0
    p = 10 ** np.floor(np.log10(x))
    return float(max(m for m in (1, 2, 5) if m * p <= x) * p)


def plot_critical_points(points: xr.Dataset, ax: Axes | None = None, *, time=None,
                         legend: bool = True) -> Figure:
    """Critical points of a velocity field, one marker per kind.

    Parameters
    ----------
    points : xarray.Dataset
        Output of :func:`wavescope.analysis.critical_points` (dim ``point`` with ``x``,
        ``y``, ``kind``).
    ax : matplotlib Axes, optional
        Draw on it, e.g. ``plot_flow(...).axes[0]``; default a new figure.
    time : float, optional
        Only the points of the frame nearest this time (when points carry ``time``).
    legend : bool
        Add a legend of the kinds present (below the figure's panels, with any other
        labelled artists of the figure).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal, critical_points, optical_flow
    >>> from wavescope.plotting import plot_critical_points
    >>> z = analytic_signal(sim.rotating_wave((12, 12), n_times=30))
    >>> points = critical_points(optical_flow(z.isel(time=slice(10, 12))))
    >>> fig = plot_critical_points(points)
    >>> print(fig.axes[0].get_legend_handles_labels()[1])  # one marker per kind found
    ['centre']
    """
    if not isinstance(points, xr.Dataset) or not {"x", "y", "kind"} <= set(points.variables):
        raise DataModelError(
            "plot_critical_points needs the Dataset of critical_points (x, y, kind)")
    if time is not None and "time" in points.coords and points.sizes.get("point", 0):
        times = points["time"].values
        nearest = times[np.argmin(np.abs(times - time))]
        points = points.isel(point=np.flatnonzero(times == nearest))
    fig, ax = _axes(ax)
    kinds = points["kind"].values
    for kind, (marker, colour, label) in POINT_STYLE.items():
        sel = kinds == kind
        if sel.any():
            ax.scatter(points["x"].values[sel], points["y"].values[sel], marker=marker, s=110,
                       c=colour, edgecolors="white", linewidths=1.0, label=label, zorder=5)
    if not ax.get_xlabel():  # drawn over a map (plot_flow), its labels stay as they are
        ax.set_xlabel(_space_label(points, "x"))
        ax.set_ylabel(_space_label(points, "y"))
    if ax.get_aspect() != 1.0:
        ax.set_aspect("equal", adjustable="datalim")
    if legend and kinds.size:
        style.legend(fig, ncols=4)
    return fig


# --------------------------------------------------------------------------- space-time


def plot_space_time(da: xr.DataArray, *, y=None, row: int | None = None,
                    ax: Axes | None = None, cmap: str | None = None, colorbar: bool = True,
                    **indexers) -> Figure:
    """Activity along a line against time: position vertical, time horizontal.

    A travelling wave shows as tilted stripes whose slope is its speed along the line.

    Parameters
    ----------
    da : xarray.DataArray
        A line or ring ``(..., time, x)``, or a grid ``(..., time, y, x)`` of which one
        row is drawn. Complex data are drawn as phase (cyclic colours), real data as
        values (diverging colours about 0).
    y : float, optional
        For a grid: the row nearest this y position (space units).
    row : int, optional
        For a grid: the row by index (default the middle one).
    cmap : str, optional
        Default cyclic for phase, diverging for values.
    **indexers
        Labels of other dims (``trial=...``).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> from wavescope.plotting import plot_space_time
    >>> fig = plot_space_time(sim.plane_wave((16,), n_times=50, source="recording"))
    >>> print(fig.axes[0].get_xlabel())
    time (s)
    """
    validate(da)
    if "channel" in da.dims:
        raise DataModelError(
            "plot_space_time needs a line, ring or grid; channel data have no single line "
            "(as_grid turns channels on a grid back into one)")
    if "x" not in da.dims:
        raise DataModelError(f"plot_space_time needs an 'x' dim; got {tuple(da.dims)}")
    where = "line"
    if "y" in da.dims:
        if y is not None and row is not None:
            raise ValueError("give y or row, not both")
        if y is not None:
            da = da.sel(y=y, method="nearest")
        else:
            da = da.isel(y=da.sizes["y"] // 2 if row is None else row)
        where = f"row y = {float(da['y']):.4g} {da.attrs.get('space_units', 'pixel')}"
    elif y is not None or row is not None:
        raise ValueError("y and row are for grids; this activity is a line")
    line = _select(da, ("x", "time"), None, **indexers)
    values, phase = _map_values(line)
    fig, ax = _axes(ax, "space_time")
    if cmap is None:
        cmap = PHASE_CMAP if phase else style.SIGNED_CMAP
    norm = colors.Normalize(-np.pi, np.pi) if phase else _value_norm(values)
    art = ax.pcolormesh(_edges(line["time"].values), _edges(line["x"].values), values,
                        cmap=cmap, norm=norm, shading="flat")
    ax.set_xlabel(_label("time", _time_units(line)))
    ax.set_ylabel(_space_label(line, "x"))
    style.title(ax, f"space-time, {where}", loc="center")
    if colorbar:
        if phase:
            _phase_colorbar(fig, art, ax)
        else:
            style.colorbar(fig, art, ax, da.name or "activity", da.attrs.get("units"))
    return fig


# ------------------------------------------------------------------------------ spectra


def _freq_label(spec) -> str:
    units = spec["freq"].attrs.get("units")
    if units is None:
        units = "Hz" if _time_units(spec) == "s" else f"cycles/{_time_units(spec)}"
    return _label(spec["freq"].attrs.get("long_name", "frequency"), units)


def plot_spectrum(spec: xr.DataArray, *, ax: Axes | None = None, log: bool = True,
                  max_lines: int = 12, **indexers) -> Figure:
    """Spectra along ``freq``: one line per site (or trial, ...), plus their mean.

    Parameters
    ----------
    spec : xarray.DataArray
        Dims ``(..., freq)``, e.g. from :func:`wavescope.analysis.spectrum`.
    log : bool
        Logarithmic power axis.
    max_lines : int
        Up to this many series get their own coloured, labelled line; more are drawn
        thin and grey under their mean.
    **indexers
        Labels to select first (``trial=...``).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import spectrum
    >>> from wavescope.plotting import plot_spectrum
    >>> psd = spectrum(sim.noise((4,), n_times=256, sfreq=100.0, seed=0, source="recording"))
    >>> fig = plot_spectrum(psd)
    >>> print(fig.axes[0].get_xlabel())
    frequency (Hz)
    """
    if not isinstance(spec, xr.DataArray) or "freq" not in spec.dims:
        raise DataModelError("plot_spectrum needs a DataArray with a 'freq' dim")
    if indexers:
        spec = spec.sel(indexers)
    other = [d for d in spec.dims if d != "freq"]
    flat = spec.transpose(*other, "freq")
    values = np.asarray(flat.values, dtype=float).reshape(-1, spec.sizes["freq"])
    freqs = spec["freq"].values
    fig, ax = _axes(ax, "line")
    if values.shape[0] == 1:
        ax.plot(freqs, values[0], color="black")
    elif values.shape[0] <= max_lines:
        names = [", ".join(f"{d}={flat[d].values[i]}" for d, i in zip(other, idx, strict=True))
                 for idx in np.ndindex(*[spec.sizes[d] for d in other])]
        for series, name in zip(values, names, strict=True):
            ax.plot(freqs, series, lw=1.2, label=name)
        style.legend(ax)
    else:
        ax.plot(freqs, values.T, color="0.75", lw=0.5)
        ax.plot(freqs, np.nanmean(values, axis=0), color="black", lw=2,
                label=f"mean of {values.shape[0]}")
        style.legend(ax)
    if log and np.nanmin(values) > 0:
        ax.set_yscale("log")
    ax.set_xlabel(_freq_label(spec))
    ax.set_ylabel(_label(spec.attrs.get("long_name", spec.name or "power"),
                         spec.attrs.get("units")))
    ax.set_xlim(freqs.min(), freqs.max())
    return fig


def plot_kw(spec: xr.DataArray, *, ax: Axes | None = None, log: bool = True,
            cmap: str = style.POWER_CMAP, speeds=(), colorbar: bool = True,
            zoom: float | None = 0.99, **indexers) -> Figure:
    """A 2-D spectrum (e.g. k–ω) as an image on its physical axes.

    With a ``freq`` dim, frequency goes up the vertical axis and the other dim (the
    wavenumber) along the horizontal one; otherwise ``dims[0]`` is vertical.

    Parameters
    ----------
    spec : xarray.DataArray
        Two dims after ``indexers`` (select or sum the others away first, e.g.
        ``kw.sel(ky=0, method="nearest")`` for a grid), coordinates with ``units``.
    log : bool
        Logarithmic colour scale (over the positive values).
    speeds : sequence of float
        Draw the lines ``freq = speed * k`` (space units per time unit, with k in cycles
        per space unit and freq in cycles per time unit): the power of a wave travelling
        at that speed along +k lies on the line (a negative speed for travel along -k).
    zoom : float or None
        Show only where the data are: along each axis, the central range holding this
        fraction of the power, widened by half and by 4 bins each side (None: the whole
        spectrum).
    **indexers
        Labels to select first.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import kw_spectrum
    >>> from wavescope.plotting import plot_kw
    >>> kw = kw_spectrum(sim.plane_wave((32,), n_times=100, speed=40.0))
    >>> fig = plot_kw(kw, speeds=[40.0])
    >>> print(len(fig.axes))
    2
    """
    if not isinstance(spec, xr.DataArray):
        raise DataModelError(f"plot_kw needs a DataArray, got {type(spec).__name__}")
    if indexers:
        spec = spec.sel(indexers)
    spec = spec.squeeze(drop=True)
    if spec.ndim != 2:
        raise DataModelError(
            f"plot_kw draws 2-D spectra; these have dims {tuple(spec.dims)}: select or sum "
            "the others away first (e.g. kw.sel(ky=0, method='nearest'))")
    vertical = "freq" if "freq" in spec.dims else spec.dims[0]
    horizontal = next(d for d in spec.dims if d != vertical)
    spec = spec.transpose(vertical, horizontal)
    values = np.asarray(spec.values, dtype=float)
    fig, ax = _axes(ax, (5.6, 4.2))
    positive = values[np.isfinite(values) & (values > 0)]
    if log and positive.size:
        norm = colors.LogNorm(max(positive.min(), positive.max() * 1e-8), positive.max())
        values = np.where(values > 0, values, np.nan)
    else:
        norm = colors.Normalize(np.nanmin(values), np.nanmax(values))
    xs = spec[horizontal].values if horizontal in spec.coords else np.arange(values.shape[1])
    ys = spec[vertical].values if vertical in spec.coords else np.arange(values.shape[0])
    art = ax.pcolormesh(_edges(xs), _edges(ys), values, cmap=cmap, norm=norm, shading="flat")
    speed_units = (f" {spec.attrs['space_units']}/{spec.attrs['time_units']}"
                   if {"space_units", "time_units"} <= set(spec.attrs) else "")
    power = np.where(np.isfinite(spec.values), np.abs(spec.values), 0.0)
    (x_lo, x_hi), (_, y_hi) = (_zoomed(_edges(xs), power.sum(axis=0), zoom),
                               _zoomed(_edges(ys), power.sum(axis=1), zoom))
    for s in speeds:
        k = np.linspace(xs.min(), xs.max(), 101)
        ax.plot(k, s * k, ls="--", lw=1, color="white")
        if s > 0:
            k_end, align = min(x_hi, y_hi / s), "right"
        elif s < 0:
            k_end, align = max(x_lo, y_hi / s), "left"
        else:
            k_end, align = x_hi, "right"
        ax.annotate(f"{s:g}{speed_units}", (0.95 * k_end, 0.95 * s * k_end), color="white",
                    fontsize="small", ha=align, va="bottom", clip_on=True)
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(_zoomed(_edges(ys), power.sum(axis=1), zoom))
    for dim, setter in ((horizontal, ax.set_xlabel), (vertical, ax.set_ylabel)):
        attrs = spec[dim].attrs if dim in spec.coords else {}
        long = attrs.get("long_name")
        name = long if dim == "freq" and long else f"{long} {dim}" if long else dim
        setter(_label(name, attrs.get("units")))
    if colorbar:  # a name for people: the long name, else "power" (not the variable name)
        style.colorbar(fig, art, ax, spec.attrs.get("long_name", "power"),
                       spec.attrs.get("units"))
    return fig


def _zoomed(edges: np.ndarray, weight: np.ndarray, fraction: float | None) -> tuple:
    """Axis limits around the central ``fraction`` of ``weight`` (per bin), widened by half
    and 4 bins each side; the whole axis when ``fraction`` is None or there is no weight."""
    full = (edges[0], edges[-1])
    total = weight.sum()
    if fraction is None or not total > 0:
        return full
    if not 0 < fraction <= 1:
        raise ValueError(f"zoom must be in (0, 1] or None, got {fraction!r}")
    cum = np.cumsum(weight) / total
    lo = int(np.searchsorted(cum, (1 - fraction) / 2))
    hi = int(np.searchsorted(cum, 1 - (1 - fraction) / 2))
    pad = (hi - lo + 1) // 2 + 4
    lo, hi = max(lo - pad, 0), min(hi + pad + 1, len(edges) - 1)
    return edges[lo], edges[hi]


# ---------------------------------------------------------------------------- animation


def animate(da: xr.DataArray, path, *, fps: float = 10, step: int = 1, cmap: str | None = None,
            dpi: int = 80, progress: bool = True, title: str | None = None,
            outline=None, outline_label: str | None = None, **indexers) -> Path:
    """Write the frames of an activity as an animated GIF (or MP4 with ffmpeg).

    Complex data are drawn as phase (cyclic colours), real data as values on one fixed
    colour scale for the whole movie. The file is written to a temporary name in the
    same folder and renamed when complete.

    Parameters
    ----------
    da : xarray.DataArray
        Grid ``(..., time, y, x)`` or channels ``(..., time, channel)``.
    path : str or Path
        Output file; ``.gif`` (Pillow) or ``.mp4`` (needs ``ffmpeg`` on PATH).
    fps : float
        Frames per second of the movie.
    step : int
        Use every ``step``-th time sample.
    cmap : str, optional
        Default cyclic for phase, diverging for values.
    dpi : int
        Resolution of the frames.
    progress : bool
        Show a progress bar while drawing frames.
    title : str, optional
        What the movie shows (e.g. "test image 3, feature 0"): each frame is titled
        "TITLE, t = ..."; default: the labels given as ``indexers``.
    outline : array of bool, optional
        A region (y by x, on the grid) drawn as a white contour on every frame.
    outline_label : str, optional
        The outline's name, in a legend below the map.
    **indexers
        Labels of other dims (``trial=...``).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    RuntimeError
        For ``.mp4`` when ffmpeg is not installed.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from wavescope import simulate as sim
    >>> from wavescope.plotting import animate
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = animate(sim.plane_wave((8, 8), n_times=5), Path(tmp) / "wave.gif",
    ...                    progress=False, dpi=40)
    ...     print(path.suffix, path.stat().st_size > 0)
    ...
    .gif True
    """
    validate(da)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"animate writes .gif or .mp4 files, got {path.name!r}")
    ffmpeg = shutil.which("ffmpeg") if suffix == ".mp4" else None
    if suffix == ".mp4" and ffmpeg is None:
        raise RuntimeError(
            "writing MP4 needs ffmpeg on PATH (install it, e.g. `conda install ffmpeg` or "
            "`apt install ffmpeg`), or write a .gif, which needs only Pillow")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive, got {fps!r}")
    if int(step) != step or step < 1:
        raise ValueError(f"step must be a positive integer, got {step!r}")
    if not path.parent.exists():
        raise FileNotFoundError(f"folder {path.parent} does not exist; create it first")
    movie = _select(da, ("time", *_space_keep(da)), None, **indexers).isel(
        time=slice(None, None, int(step)))
    values, phase = _map_values(movie)
    norm = colors.Normalize(-np.pi, np.pi) if phase else _value_norm(values)
    if cmap is None:
        cmap = PHASE_CMAP if phase else style.SIGNED_CMAP

    fig = style.figure("map")
    fig.set_dpi(dpi)
    canvas = fig.canvas
    ax = fig.add_subplot()
    first = movie.isel(time=0).copy(data=values[0])
    art = _draw_map(fig, ax, first, phase=False, cmap=cmap, norm=norm, colorbar=True,
                    value_label="phase (rad)" if phase else _label(
                        da.name or "activity", da.attrs.get("units")))
    if phase:  # the colour bar drawn for values: give it phase ticks
        bar = art.colorbar
        bar.set_ticks(PHASE_TICKS, labels=PHASE_TICKLABELS)
    overlays = []  # drawn over the data on every frame
    if outline is not None:
        contour = ax.contour(movie["x"].values, movie["y"].values,
                             np.asarray(outline, dtype=float), levels=[0.5],
                             colors="white", linewidths=1.2)
        # a contour set is an artist from matplotlib 3.8; before, its collections are
        overlays += [contour] if isinstance(contour, Artist) else list(contour.collections)
        if outline_label:
            ax.plot([], [], color="white", lw=1.2, label=outline_label)
            ax.set_facecolor("0.5")  # so that the white line shows in the legend
            style.legend(fig).get_frame().set_facecolor("0.55")
    times = movie["time"].values
    if title is None:
        title = ", ".join(f"{k} {v}" for k, v in indexers.items())
    prefix = f"{title}, " if title else ""
    title = ax.set_title(f"{prefix}t = {times[0]:.4g} {_time_units(da)}", fontsize=style.TITLE_SIZE)
    # Blitting: axes, labels and colour bar are drawn once; each frame redraws only the
    # data and the title over that background.
    for artist in (art, title, *overlays):
        artist.set_animated(True)
    canvas.draw()
    fig.set_layout_engine("none")
    background = canvas.copy_from_bbox(fig.bbox)
    frames = []
    for i in tqdm(range(len(times)), disable=not progress, desc="animate", unit="frame"):
        canvas.restore_region(background)
        art.set_array(values[i].ravel() if "channel" in movie.dims else values[i])
        title.set_text(f"{prefix}t = {times[i]:.4g} {_time_units(da)}")
        for artist in (art, *overlays, title):
            ax.draw_artist(artist)
        frames.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())

    with safe_write(path) as tmp:
        if suffix == ".gif":
            _write_gif(frames, tmp, fps)
        else:
            _write_mp4(frames, tmp, fps, ffmpeg)
    return path


def _write_gif(frames, path, fps) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    duration = max(20, int(round(1000 / fps)))  # ms per frame; browsers floor at 20
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                   duration=duration, loop=0, optimize=False)


def _write_mp4(frames, path, fps, ffmpeg) -> None:
    h, w = frames[0].shape[:2]
    cmd = [ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", f"{fps}", "-i", "-", "-vf",
           "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", "-f", "mp4", str(path)]
    proc = subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames),
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {proc.stderr.decode(errors='replace')[-2000:]}")


# Results figures build on the helpers above, so they are imported last.
from .results import (  # noqa: E402
    decoding_figure,
    eeg_figures,
    flow_outline_figure,
    pgd_figure,
    polygon_run_figures,
    relative_spectra_figure,
    shape_spectra_figure,
    training_figure,
)
