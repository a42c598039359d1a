"""Figures of results: training curves, shape spectra, decoding scores, PGD over time, and
the sets of them that :func:`polygon_run_figures` and :func:`eeg_figures` draw.

Like the rest of :mod:`wavescope.plotting`, every function returns a
:class:`matplotlib.figure.Figure` built without pyplot, its axes labelled with units, in the
shared look of :mod:`wavescope.plotting.style`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from . import style

__all__ = ["training_figure", "shape_spectra_figure", "relative_spectra_figure",
           "decoding_figure", "pgd_figure", "flow_outline_figure", "polygon_run_figures",
           "eeg_figures"]

#: Bar colours of :func:`decoding_figure` per source (others dark grey).
SOURCE_COLOURS = {"NWM hidden states": "tab:blue", "fixed drum": "tab:orange",
                  "input image": "0.55"}


def training_figure(rows: list[dict], background: float | None) -> Figure:
    """Loss and pixel accuracy per epoch, train and validation.

    Parameters
    ----------
    rows : list of dict
        One per epoch (:func:`wavescope.training.read_metrics`): ``epoch``,
        ``train_loss`` and ``val_loss`` (cross-entropy, nats per pixel),
        ``train_pixel_accuracy`` and ``val_pixel_accuracy`` (fractions).
    background : float or None
        Pixel accuracy of predicting background everywhere, drawn as a line.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: loss, accuracy.

    Examples
    --------
    >>> from wavescope.plotting import training_figure
    >>> rows = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e,
    ...          "train_pixel_accuracy": 1 - 0.2 / e, "val_pixel_accuracy": 1 - 0.3 / e}
    ...         for e in (1, 2, 3)]
    >>> fig = training_figure(rows, background=0.7)
    >>> print([ax.get_xlabel() for ax in fig.axes])
    ['epoch', 'epoch']
    """
    fig = style.figure("wide")
    ax_loss, ax_acc = fig.subplots(1, 2)
    epoch = [r["epoch"] for r in rows]
    for split, fmt in (("train", "-o"), ("val", "--s")):
        ax_loss.plot(epoch, [r[f"{split}_loss"] for r in rows], fmt, label=split)
        ax_acc.plot(epoch, [r[f"{split}_pixel_accuracy"] for r in rows], fmt, label=split)
    if background is not None:
        ax_acc.axhline(background, color="0.5", ls=":", label="background only")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy (nats per pixel)")
    ax_acc.set(xlabel="epoch", ylabel="pixel accuracy (fraction)")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
    style.title(ax_loss, "loss per epoch")
    style.title(ax_acc, "pixel accuracy per epoch")
    style.legend(fig, ncols=3)
    return fig


def shape_spectra_figure(spec: xr.DataArray, *, dynamic_range: float = 1e-6) -> Figure:
    """Each shape's mean spectrum beside the mean over all shapes, and its log ratio to it.

    The shapes' spectra share one peak and fall together over decades, so drawn on one
    log axis they coincide; the lower panel shows where they differ.

    Parameters
    ----------
    spec : xarray.DataArray
        Power (trial, freq) with a ``shape_name`` coordinate along ``trial``; ``freq`` and
        the power carry their ``units``.
    dynamic_range : float
        Frequencies whose mean power is below this fraction of the peak are left out
        (rounding noise).

    Returns
    -------
    matplotlib.figure.Figure
        Top: mean power over all shapes (log axis) and its peak (refined between bins by
        a parabola through the log power, as :func:`~wavescope.analysis.dominant_frequency`
        does); bottom: log10 of each shape's
        mean over the mean of all shapes, at independent frequencies. The title gives the
        frequency resolution (``attrs["frequency_resolution"]``, else the spacing of
        ``freq``).

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> from wavescope.plotting import shape_spectra_figure
    >>> freq = np.linspace(0, 5, 51)
    >>> power = np.exp(-((freq[None] - np.array([[1.0], [1.2]])) ** 2))  # two trials
    >>> spec = xr.DataArray(power, dims=("trial", "freq"), attrs={"units": "a.u.^2"},
    ...                     coords={"freq": ("freq", freq, {"units": "1/s"}),
    ...                             "shape_name": ("trial", ["square", "hexagon"])})
    >>> fig = shape_spectra_figure(spec)
    >>> print(len(fig.axes))
    2
    """
    by_shape = spec.groupby("shape_name").mean("trial")
    mean = by_shape.mean("shape_name", keep_attrs=True)
    keep = (mean > dynamic_range * float(mean.max())).values
    units = spec["freq"].attrs.get("units", "")
    peak = float(_peak_frequencies(mean.values[None], spec["freq"].values)[0])
    df = float(np.diff(spec["freq"].values[:2])[0])
    resolution = float(spec.attrs.get("frequency_resolution", df))
    pad = max(1, int(round(resolution / df)))  # zero-padded spectra: every pad-th bin is
    independent = np.zeros_like(keep)  # independent; ratios between them are not ripple
    independent[::pad] = True
    fig = style.figure("tall")
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.semilogy(spec["freq"].values[keep], mean.values[keep], color="black", lw=2,
                 label="all shapes")
    top.axvline(peak, color="tab:red", ls="--", lw=1, label=f"peak {peak:.3g} {units}")
    sel = keep & independent
    for name in by_shape["shape_name"].values:
        ratio = by_shape.sel(shape_name=name).values[sel] / mean.values[sel]
        bottom.plot(spec["freq"].values[sel], np.log10(ratio), ".-", lw=1.2, label=str(name))
    bottom.axhline(0.0, color="0.5", lw=0.8)
    padded = f" (zero-padded {pad}-fold)" if pad > 1 else ""
    top.set_ylabel(style.label("power", spec.attrs.get("units", "a.u.")))
    style.title(top, "NWM hidden-state spectra per shape", f"feature 0, mean over space and "
                f"test images; resolution {resolution:.3g} {units}{padded}")
    style.legend(top)
    bottom.set_ylabel("log10(shape / all shapes)")
    bottom.set_xlabel(style.label("frequency", units))
    style.legend(bottom)
    return fig


def relative_spectra_figure(sources: dict, names: np.ndarray) -> Figure:
    """Mean :func:`~wavescope.analysis.hidden.relative_spectrum` per shape, one panel per
    source: what the shape decoder reads.

    Parameters
    ----------
    sources : dict of str to xarray.DataArray
        Panel title -> activity (trial, time, ...) of the same trials.
    names : numpy.ndarray of str
        Shape name of each trial (from :data:`~wavescope.analysis.hidden.SHAPES`).

    Returns
    -------
    matplotlib.figure.Figure
        Log power relative to the peak (nepers) against frequency / peak frequency.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> from wavescope import simulate as sim
    >>> from wavescope.plotting import relative_spectra_figure
    >>> waves = [sim.plane_wave((8, 8), n_times=100, frequency=f) for f in (4.0, 5.0, 6.0, 7.0)]
    >>> hidden = xr.concat(waves, "trial")
    >>> names = np.array(["square", "square", "hexagon", "hexagon"])
    >>> fig = relative_spectra_figure({"plane waves": hidden}, names)
    >>> print(fig.axes[0].get_xlabel())
    frequency / peak frequency (ratio)
    """
    from ..analysis.hidden import RATIOS, SHAPES, relative_spectrum

    fig = style.figure((4.0 * len(sources), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(sources)))
    for ax, (title, da) in zip(axes, sources.items(), strict=True):
        feats = relative_spectrum(da)
        blocks = feats.shape[1] // RATIOS.size
        first = feats[:, :RATIOS.size]  # the first block (feature 0 of a model)
        curves = [first[names == n].mean(axis=0) for n in SHAPES if n in set(names)]
        for shape_name, curve in zip([n for n in SHAPES if n in set(names)], curves,
                                     strict=True):
            ax.plot(RATIOS, curve, label=shape_name)
        spread = float(np.ptp(np.stack(curves), axis=0).max())
        ax.set_xscale("log")
        ticks = [0.5, 1, 2, 3, 6]
        ax.set_xticks(ticks, labels=[f"{t:g}" for t in ticks], minor=False)
        ax.set_xticks([], minor=True)
        ax.set(xlabel="frequency / peak frequency (ratio)",
               ylabel="log power re peak (nepers)")
        # curves that coincide are said to, not left to look like one shape
        style.title(ax, title + (", feature 0" if blocks > 1 else ""),
                    f"shapes differ by at most {spread:.2g} nepers")
    style.legend(fig, ncols=6)
    return fig


def decoding_figure(rows: list[dict]) -> Figure:
    """Cross-validated decoding scores of shape and area, spectral decoders beside their
    controls (same folds).

    Parameters
    ----------
    rows : list of dict
        Rows of :func:`~wavescope.analysis.decode_with_baselines` with ``source``
        (colour, see :data:`SOURCE_COLOURS`) and ``target`` ("shape" or "area") added;
        ``decoder == "spectra"`` rows are drawn opaque, controls half transparent.

    Returns
    -------
    matplotlib.figure.Figure
        Horizontal bars (mean +- std over folds): shape in the ``scoring`` of its rows
        (fraction, chance marked), area as R² (fraction of variance).

    Examples
    --------
    >>> from wavescope.plotting import decoding_figure
    >>> rows = [dict(source="NWM", target=t, decoder=d, description=d, mean=m, std=0.05,
    ...              chance=0.17, scoring="accuracy")
    ...         for t, m0 in (("shape", 0.8), ("area", 0.6))
    ...         for d, m in (("spectra", m0), ("shuffled", 0.1))]
    >>> fig = decoding_figure(rows)
    >>> print([ax.get_xlabel() for ax in fig.axes])
    ['accuracy (fraction)', 'R² (fraction of variance)']
    """
    n_bars = max(sum(r["target"] == t for r in rows) for t in ("shape", "area"))
    fig = style.figure((11.0, 1.5 + 0.28 * n_bars))
    axes = fig.subplots(1, 2, sharey=False)
    for ax, target in zip(axes, ("shape", "area"), strict=True):
        sel = [r for r in rows if r["target"] == target][::-1]  # first row on top
        names = [f"{r['source']}: {'spectra' if r['decoder'] == 'spectra' else r['description']}"
                 for r in sel]
        ax.barh(names, [r["mean"] for r in sel], xerr=[r["std"] for r in sel], capsize=3,
                color=[to_rgba(SOURCE_COLOURS.get(r["source"], "0.3"),
                               1.0 if r["decoder"] == "spectra" else 0.5) for r in sel])
        ax.tick_params(axis="y", labelsize="x-small")
        if target == "shape":
            ax.axvline(sel[0]["chance"], color="0.4", ls=":", label="chance")
        ends = [r["mean"] + s * r["std"] for r in sel for s in (-1, 1)]
        ax.set(xlabel=f"{sel[0]['scoring']} (fraction)" if target == "shape" else
               "R² (fraction of variance)",
               xlim=(min(0.0, *ends) - 0.02, max(1.0, *ends) + 0.02))  # error bars whole
        style.title(ax, f"{target}: mean ± std over folds")
    handles = [Patch(color="0.3", label="spectral decoder"),
               Patch(color=to_rgba("0.3", 0.5), label="control (same folds)"),
               *axes[0].get_legend_handles_labels()[0]]
    style.legend(fig, handles, [h.get_label() for h in handles], ncols=3)
    return fig


def pgd_figure(ev: xr.Dataset, seconds: float = 10.0, centre: float | None = None) -> Figure:
    """Frame PGD and synchrony over a stretch of an EEG alpha-band recording.

    Parameters
    ----------
    ev : xarray.Dataset
        :func:`~wavescope.analysis.detect_waves` result (``frame_pgd``,
        ``frame_synchrony``, ``frame_pattern`` along ``time``).
    seconds : float
        Length of the stretch drawn, in time units.
    centre : float, optional
        Draw the stretch around this time (kept inside the recording) and mark it (the
        frame of the phase map); default: the first ``seconds``.

    Returns
    -------
    matplotlib.figure.Figure
        Scores (0-1) against time, planar frames shaded.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> from wavescope.plotting import pgd_figure
    >>> t = np.arange(0, 20, 0.1)
    >>> ev = xr.Dataset({"frame_pgd": ("time", 0.5 + 0.4 * np.sin(t)),
    ...                  "frame_synchrony": ("time", np.full(t.size, 0.3)),
    ...                  "frame_pattern": ("time", np.where(np.sin(t) > 0.5, "planar", "none"))},
    ...                 coords={"time": t}, attrs={"time_units": "s"})
    >>> fig = pgd_figure(ev, seconds=10.0, centre=5.0)
    >>> print([round(float(v), 1) for v in fig.axes[0].get_xlim()])
    [0.0, 10.0]
    """
    tu = ev.attrs.get("time_units", "s")
    first, last = float(ev["time"][0]), float(ev["time"][-1])
    start = first if centre is None else min(max(first, centre - seconds / 2),
                                             max(first, last - seconds))
    part = ev.sel(time=slice(start, start + seconds))
    t = part["time"].values
    fig = style.figure((8.0, 3.0))
    ax = fig.add_subplot()
    ax.plot(t, part["frame_pgd"], lw=0.8, label="PGD")
    ax.plot(t, part["frame_synchrony"], lw=0.8, color="0.6", label="synchrony")
    planar = part["frame_pattern"].values == "planar"
    ax.fill_between(t, 0, 1, where=planar, color="tab:green", alpha=0.25, lw=0,
                    label="planar frames")
    if centre is not None:
        ax.axvline(centre, color="k", ls="--", lw=1, label="frame of the phase map")
    ax.set(xlabel=f"time ({tu})", ylabel="score (0-1)", ylim=(0, 1), xlim=(t[0], t[-1]))
    style.title(ax, "EEG alpha band (8-13 Hz): phase-gradient directionality (PGD)",
                f"{t[0]:.1f}-{t[-1]:.1f} {tu} of {first:.0f}-{last:.0f} {tu}")
    style.legend(fig, ncols=4)  # clear of the traces
    return fig


def flow_outline_figure(pair: xr.DataArray, outline: np.ndarray, *, name: str = "object",
                        title: str | None = None) -> Figure:
    """Phase and optical flow of two frames, the critical points of the flow, and the
    outline of the object that launched the waves.

    Parameters
    ----------
    pair : xarray.DataArray
        Complex activity (time, y, x) of two frames on a grid.
    outline : numpy.ndarray of bool
        (y, x) on the grid of ``pair``: the object, drawn as a white contour.
    name : str
        The object's name in the legend ("<name> outline").
    title : str, optional
        Second line of the title: which data (the first says what is drawn and when).

    Returns
    -------
    matplotlib.figure.Figure
        :func:`~wavescope.plotting.plot_flow` with the outline and
        :func:`~wavescope.plotting.plot_critical_points` on it, on a grey background.
        Sites without data (NaN in ``pair``: bad sites left out) get no arrows and no
        critical points.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import drums
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal
    >>> from wavescope.plotting import flow_outline_figure
    >>> z = analytic_signal(sim.radial_wave((16, 16), n_times=40))
    >>> fig = flow_outline_figure(z.isel(time=[20, 21]), drums.disc(4.0, size=16), name="disc")
    >>> print(fig.axes[0].get_xlabel())
    x (pixel)
    """
    from ..analysis import critical_points, optical_flow
    from . import plot_critical_points, plot_flow

    # Horn-Schunck fills the flow in at sites without data (left-out bad sites) from their
    # neighbours: not a measurement, so no arrows and no critical points there.
    flow = optical_flow(pair)
    flow = flow.where(np.isfinite(pair).all("time"))
    fig = plot_flow(flow, pair)
    ax = fig.axes[0]
    ax.contour(pair["x"], pair["y"], np.asarray(outline, dtype=float), levels=[0.5],
               colors="white", linewidths=1.2)
    ax.plot([], [], color="white", lw=1.2, label=f"{name} outline")  # the contour's entry
    plot_critical_points(critical_points(flow), ax=ax, legend=False)
    ax.set_facecolor("0.5")  # so that the white outline shows in the legend
    style.legend(fig, ncols=4).get_frame().set_facecolor("0.55")
    if title is not None:
        style.subtitle(ax, title)
    return fig


def _ring_spectrum(kw: xr.DataArray) -> xr.DataArray:
    """A k-omega spectrum (kx, ky, freq) averaged over rings of |k| one bin wide, up to the
    Nyquist wavenumber, without the ring k = 0 (the field moving as a whole)."""
    kx, ky = kw["kx"].values, kw["ky"].values
    dk = float(min(np.diff(kx)[0], np.diff(ky)[0]))
    ring = np.rint(np.hypot(*np.meshgrid(kx, ky, indexing="ij")) / dk).astype(int).ravel()
    n = int(min(np.abs(kx).max(), np.abs(ky).max()) / dk) + 1
    power = kw.transpose("kx", "ky", "freq").values.reshape(ring.size, -1)
    inside = ring < n
    sums = np.zeros((n, power.shape[1]))
    np.add.at(sums, ring[inside], power[inside])
    mean = sums / np.bincount(ring[inside], minlength=n)[:, None]
    units = kw["kx"].attrs.get("units")
    return xr.DataArray(mean[1:].T, dims=("freq", "k"), attrs=kw.attrs, coords={
        "freq": kw["freq"], "k": ("k", dk * np.arange(1, n), {"units": units})})


def _peak_frequencies(power: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Per row of ``power`` (..., freq), the frequency of its peak above 0, refined by a
    parabola through the log power of the top bin and its neighbours."""
    p = np.log(np.maximum(power, 1e-300))
    i = np.argmax(np.where(freqs > 0, p, -np.inf), axis=1)  # DC is never the peak
    rows, inner = np.arange(p.shape[0]), np.clip(i, 1, freqs.size - 2)
    a, b, c = p[rows, inner - 1], p[rows, inner], p[rows, inner + 1]
    curve = a - 2 * b + c
    offset = np.where((curve < 0) & (i == inner), 0.5 * (a - c) / np.where(curve < 0, curve, -1),
                      0.0)  # an edge bin stays as it is
    return freqs[i] + np.clip(offset, -0.5, 0.5) * (freqs[1] - freqs[0])


def _kw_ridge_figure(activity: xr.DataArray, median_speed: float | None, n_trials: int,
                     what: str) -> Figure:
    """k-omega power of one trial (time, y, x) in rings of |k|, the peak frequency of each
    ring (the ridge that :func:`~wavescope.analysis.kw_speed` fits), the trial's own ridge
    fit and the median ridge speed over all trials."""
    from ..analysis import kw_spectrum
    from ..analysis import kw_speed as fit_speed
    from . import plot_kw

    kw = kw_spectrum(activity)
    common = float(kw.sel(kx=0, ky=0, method="nearest").sum() / kw.sum())
    rings = _ring_spectrum(kw)
    fig = style.figure((6.0, 5.0))
    plot_kw(rings, ax=fig.add_subplot())
    ax = fig.axes[0]
    ax.set_xlabel(style.label("wavenumber |k|", rings["k"].attrs.get("units")))
    k = rings["k"].values
    ridge = _peak_frequencies(rings.values.T, rings["freq"].values)
    ax.plot(k, ridge, "o", ms=4,
            color="white", mec="black", mew=0.5, label="peak frequency of each |k| (ridge)")
    units = f"{activity.attrs.get('space_units', 'pixel')}/{activity.attrs.get('time_units', 's')}"
    fit = fit_speed(activity, method="ridge")
    own, one_sided = float(fit["speed"]), float(fit["directionality"])
    line = np.array([0.0, k.max()])
    ax.plot(line, own * line, ls="--", color="limegreen", lw=1.5,
            label=f"ridge fit of this image: {own:.2f} {units}, directionality "
                  f"{one_sided:.2f} (1 travelling, 0 symmetric in ±k)")
    if median_speed is not None and np.isfinite(median_speed):
        ax.plot(line, median_speed * line, ls=":", color="deepskyblue", lw=2,
                label=f"median over {n_trials} images: {median_speed:.2f} {units}")
    style.legend(fig, ncols=1)
    # Say how far the ridge climbs: a wave's peak frequency grows with |k|, an oscillation
    # of the whole field keeps one frequency at every |k| (a flat ridge).
    fu = rings["freq"].attrs.get("units", "")
    style.title(ax, f"k-ω power in rings of |k|, {what}", f"k = 0 left out (the field moving as "
                f"one: {100 * common:.1f} % of the power); ridge from {ridge[0]:.2g} to "
                f"{ridge[-1]:.2g} {fu} over |k| {k[0]:.2g}-{k[-1]:.2g}")
    return fig


def polygon_run_figures(ds: xr.Dataset, events: xr.Dataset, spectra: xr.DataArray, *,
                        decoding: list[dict] | None = None, drum_steps: int = 300,
                        kw_speed: float | None = None, gif=None,
                        progress: bool = False) -> dict:
    """The figures of an exported polygon run, drawn for the trial with the clearest waves.

    The trial (and its frame) of highest mean PGD (see
    :func:`~wavescope.analysis.summaries.clearest_frame`) is centred on its polygon
    without rolling, so that the zero-padded border is no seam inside the maps, and drawn
    without the common mode, which would paint the whole field one colour. The sites that
    the encoders' zero padding reaches (within
    :data:`~wavescope.analysis.hidden.ENCODER_BORDER` sites of the image's edge, see
    :func:`~wavescope.analysis.hidden.border_sites`) are left out as bad sites, so an
    object near the edge shows no strip along it in the phase maps, flow and animation.

    Parameters
    ----------
    ds : xarray.Dataset
        The export with shape labels: ``hidden`` (trial, time, feature, y, x), ``label``
        masks and ``shape_name`` (:func:`~wavescope.analysis.hidden.with_shape_labels`).
    events : xarray.Dataset
        :func:`~wavescope.analysis.detect_waves` of the centred states (per trial).
    spectra : xarray.DataArray
        Power (trial, feature, freq) with ``shape_name`` along ``trial``.
    decoding : list of dict, optional
        Rows of :func:`~wavescope.analysis.hidden.decode_shape_and_area`.
    drum_steps : int
        Updates of the fixed drum whose relative spectra are drawn beside the NWM's.
    kw_speed : float, optional
        Median k-omega ridge speed over the trials (space units per time unit, from
        :func:`~wavescope.analysis.hidden.hidden_waves`), drawn as the line
        ``f = kw_speed * |k|`` over the trial's k-omega power in rings of ``|k|``, beside
        the peak frequency of each ring and the trial's own ridge fit.
    gif : path, optional
        Also write the animation of the trial's phase there, with its polygon's outline
        (:func:`~wavescope.plotting.animate`).
    progress : bool
        Show a progress bar while animating.

    Returns
    -------
    dict
        In drawing order: ``hidden_phase_flow``, ``hidden_space_time``, ``hidden_spectra``,
        ``relative_spectra``, ``hidden_kw`` (Figures), ``decoding`` (with ``decoding``),
        ``gif`` (its path, with ``gif``); and ``trial`` and ``frame`` (ints).

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> import wavescope as ws
    >>> from wavescope import drums
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis.hidden import hidden_waves, shape_spectra, with_shape_labels
    >>> from wavescope.plotting import polygon_run_figures
    >>> waves = [sim.radial_wave((16, 16), n_times=40, sfreq=10.0, frequency=1.0, speed=5.0,
    ...                          noise=0.05, seed=s).values for s in (0, 1)]  # two "images"
    >>> hidden = ws.from_array(np.stack(waves)[:, :, None], ("trial", "time", "feature", "y", "x"),
    ...                        sfreq=10.0, source="model")
    >>> masks = np.stack([drums.square(6, size=16) * 2, drums.polygon(6, 4.0, size=16) * 4])
    >>> label = xr.DataArray(masks, dims=("trial", "y", "x"))  # 0 outside, sides - 2 inside
    >>> ds = with_shape_labels(xr.Dataset({"hidden": hidden, "label": label}))
    >>> events, numbers = hidden_waves(ds, tile=8, n_surrogates=10)
    >>> figs = polygon_run_figures(ds, events, shape_spectra(ds), drum_steps=50)
    >>> print([name for name in figs if name not in ("trial", "frame")])
    ['hidden_phase_flow', 'hidden_space_time', 'hidden_spectra', 'relative_spectra', 'hidden_kw']
    """
    from ..analysis.hidden import border_sites, centre_crop, centre_on_masks, model_phase
    from ..analysis.summaries import clearest_frame
    from ..core import exclude_bads
    from ..drums import drum_of_masks
    from . import animate, plot_space_time

    trial, frame = clearest_frame(events)
    masks = ds["label"].values > 0
    z = model_phase(centre_on_masks(ds["hidden"].isel(feature=0), masks, roll=False)
                    .isel(trial=trial), common=False)
    # Sites that see the encoders' zero padding show a strip along the image's edge: blank.
    z = exclude_bads(z, border_sites(masks, roll=False)[trial], warn=False)
    shape = str(ds["shape_name"].values[trial]) if "shape_name" in ds else "polygon"
    what = f"test image {trial} ({shape}), feature 0"
    outline = centre_crop(masks, masks, roll=False)[trial]
    out = {"hidden_phase_flow": flow_outline_figure(
        z.isel(time=slice(frame, frame + 2)), outline, name=shape, title=what)}
    out["hidden_space_time"] = plot_space_time(z)  # through the centre
    ax = out["hidden_space_time"].axes[0]
    style.title(ax, f"phase along the {ax.get_title().removeprefix('space-time, ')}", what)
    ax.set_title("")
    out["hidden_spectra"] = shape_spectra_figure(spectra.isel(feature=0))
    drum = drum_of_masks(masks, drum_steps)
    out["relative_spectra"] = relative_spectra_figure(
        {"NWM hidden states": ds["hidden"], "fixed drum": drum}, ds["shape_name"].values)
    out["hidden_kw"] = _kw_ridge_figure(ds["hidden"].isel(trial=trial, feature=0), kw_speed,
                                        ds.sizes["trial"], f"test image {trial} ({shape}), "
                                        "feature 0, whole grid")
    if decoding:
        out["decoding"] = decoding_figure(decoding)
    if gif is not None:
        out["gif"] = animate(z, gif, fps=8, progress=progress, title=what, outline=outline,
                              outline_label=f"{shape} outline")
    return {**out, "trial": trial, "frame": frame}


def eeg_figures(eeg: xr.DataArray, events: xr.Dataset, band=(8.0, 13.0)) -> dict:
    """The phase map of a recording at its strongest planar frame, and PGD around it.

    Parameters
    ----------
    eeg : xarray.DataArray
        Scalp recording (time, channel) with positions, in s.
    events : xarray.Dataset
        Its :func:`~wavescope.analysis.detect_waves` (the same times).
    band : (float, float)
        Pass band of the phase, Hz (the titles name the alpha band).

    Returns
    -------
    dict
        ``eeg_phase`` (:func:`~wavescope.plotting.plot_phase_map` with the head) and
        ``eeg_pgd`` (:func:`pgd_figure` centred on that frame).

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import detect_waves
    >>> from wavescope.plotting import eeg_figures
    >>> sensors = np.random.default_rng(0).uniform(-0.08, 0.08, (32, 2))  # metres
    >>> eeg = sim.plane_wave(sensors, n_times=400, sfreq=100.0, frequency=10.0, speed=5.0,
    ...                      noise=0.1, seed=0, space_units="m", source="recording")
    >>> figs = eeg_figures(eeg, detect_waves(eeg, band=(8, 13), n_surrogates=10))
    >>> print(sorted(figs))
    ['eeg_pgd', 'eeg_phase']
    """
    from ..analysis import analytic_signal
    from ..analysis.summaries import strongest_planar_time
    from . import plot_phase_map

    t_best = strongest_planar_time(events)
    fig = plot_phase_map(analytic_signal(eeg, band), t_best, head=True)
    fig.axes[0].set_title("")
    style.title(fig.axes[0], "EEG phase at the strongest planar frame",
                style.describe(item="alpha band", band=band, time=round(t_best, 2)))
    return {"eeg_phase": fig, "eeg_pgd": pgd_figure(events, centre=t_best)}
