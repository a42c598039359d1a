"""Figures of results: training curves, shape spectra, decoding scores, PGD over time, and
the sets of them that :func:`polygon_run_figures` and :func:`eeg_figures` draw.

Like the rest of :mod:`wavescope.plotting`, every function returns a
:class:`matplotlib.figure.Figure` built without pyplot, its axes labelled with units.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

__all__ = ["training_figure", "shape_spectra_figure", "relative_spectra_figure",
           "decoding_figure", "pgd_figure", "flow_outline_figure", "polygon_run_figures",
           "eeg_figures"]

#: Bar colours of :func:`decoding_figure` per source (others dark grey).
SOURCE_COLOURS = {"NWM hidden states": "tab:blue", "fixed drum": "tab:orange",
                  "input image": "0.55"}


def _figure(figsize) -> Figure:
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)  # draws and saves without pyplot or a GUI backend
    return fig


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
    """
    fig = _figure((8.0, 3.2))
    ax_loss, ax_acc = fig.subplots(1, 2)
    epoch = [r["epoch"] for r in rows]
    for split, style in (("train", "-o"), ("val", "--s")):
        ax_loss.plot(epoch, [r[f"{split}_loss"] for r in rows], style, label=split)
        ax_acc.plot(epoch, [r[f"{split}_pixel_accuracy"] for r in rows], style, label=split)
    if background is not None:
        ax_acc.axhline(background, color="0.5", ls=":", label="background only")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy (nats per pixel)", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="pixel accuracy (fraction)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.legend(fontsize="small")
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
        Top: mean power over all shapes (log axis); bottom: log10 of each shape's mean
        over the mean of all shapes.
    """
    by_shape = spec.groupby("shape_name").mean("trial")
    mean = by_shape.mean("shape_name")
    keep = (mean > dynamic_range * float(mean.max())).values
    freqs = spec["freq"].values[keep]
    fig = _figure((5.6, 5.2))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.semilogy(freqs, mean.values[keep], color="black", lw=2, label="all shapes")
    for name in by_shape["shape_name"].values:
        ratio = by_shape.sel(shape_name=name).values[keep] / mean.values[keep]
        bottom.plot(freqs, np.log10(ratio), lw=1.2, label=str(name))
    bottom.axhline(0.0, color="0.5", lw=0.8)
    units = spec["freq"].attrs.get("units", "")
    df = float(np.diff(spec["freq"].values[:2])[0])
    top.set_ylabel(f"power ({spec.attrs.get('units', 'a.u.')})")
    top.set_title(f"NWM hidden states, feature 0, mean over space and test images\n"
                  f"of each shape; frequency resolution {df:.2g} {units}", loc="left",
                  fontsize="medium")
    top.legend(fontsize="small")
    bottom.set_ylabel("log10(shape / all shapes)")
    bottom.set_xlabel(f"frequency ({units})")
    fig.legend(*bottom.get_legend_handles_labels(), loc="outside lower center", ncols=3,
               fontsize="small")
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
    """
    from ..analysis.hidden import RATIOS, SHAPES, relative_spectrum

    fig = _figure((4.0 * len(sources), 3.4))
    axes = np.atleast_1d(fig.subplots(1, len(sources)))
    for ax, (title, da) in zip(axes, sources.items(), strict=True):
        feats = relative_spectrum(da)
        blocks = feats.shape[1] // RATIOS.size
        first = feats[:, :RATIOS.size]  # the first block (feature 0 of a model)
        for shape_name in [s for s in SHAPES if s in set(names)]:
            ax.plot(RATIOS, first[names == shape_name].mean(axis=0), label=shape_name)
        ax.set_xscale("log")
        ticks = [0.5, 1, 2, 3, 6]
        ax.set_xticks(ticks, labels=[f"{t:g}" for t in ticks], minor=False)
        ax.set_xticks([], minor=True)
        ax.set(xlabel="frequency / peak frequency (ratio)",
               ylabel="log power re peak (nepers)",
               title=title + (" (feature 0)" if blocks > 1 else ""))
    axes[0].legend(fontsize="small")
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
    """
    n_bars = max(sum(r["target"] == t for r in rows) for t in ("shape", "area"))
    fig = _figure((11.0, 1.2 + 0.28 * n_bars))
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
            ax.legend(fontsize="small")
        ax.set(xlabel=f"{sel[0]['scoring']} (fraction)" if target == "shape" else
               "R² (fraction of variance)", title=f"{target}: spectra and controls",
               xlim=(min(0.0, *[r["mean"] for r in sel]), 1.0))
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
    """
    tu = ev.attrs.get("time_units", "s")
    first, last = float(ev["time"][0]), float(ev["time"][-1])
    start = first if centre is None else min(max(first, centre - seconds / 2),
                                             max(first, last - seconds))
    part = ev.sel(time=slice(start, start + seconds))
    t = part["time"].values
    fig = _figure((8.0, 2.8))
    ax = fig.add_subplot()
    ax.plot(t, part["frame_pgd"], lw=0.8, label="PGD")
    ax.plot(t, part["frame_synchrony"], lw=0.8, color="0.6", label="synchrony")
    planar = part["frame_pattern"].values == "planar"
    ax.fill_between(t, 0, 1, where=planar, color="tab:green", alpha=0.25, lw=0,
                    label="planar frames")
    if centre is not None:
        ax.axvline(centre, color="k", ls="--", lw=1, label="frame of the phase map")
    ax.set(xlabel=f"time ({tu})", ylabel="score (0-1)", ylim=(0, 1),
           title=f"EEG alpha band (8-13 Hz): phase-gradient directionality, {t[0]:.1f}-"
                 f"{t[-1]:.1f} {tu} of {first:.0f}-{last:.0f} {tu}")
    fig.legend(loc="outside lower center", ncols=4, fontsize="small")  # clear of the traces
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
        First line of the title (the second says what is drawn and when).

    Returns
    -------
    matplotlib.figure.Figure
        :func:`~wavescope.plotting.plot_flow` with the outline and
        :func:`~wavescope.plotting.plot_critical_points` on it, on a grey background.
    """
    from ..analysis import critical_points, optical_flow
    from . import plot_critical_points, plot_flow

    flow = optical_flow(pair)
    fig = plot_flow(flow, pair)
    ax = fig.axes[0]
    ax.contour(pair["x"], pair["y"], np.asarray(outline, dtype=float), levels=[0.5],
               colors="white", linewidths=1.2)
    ax.plot([], [], color="white", lw=1.2, label=f"{name} outline")  # the contour's entry
    plot_critical_points(critical_points(flow), ax=ax, legend=False)
    ax.set_facecolor("0.5")  # so that the white outline shows in the legend
    fig.legend(loc="outside lower left", ncols=4, fontsize="small", facecolor="0.55")
    if title is not None:
        ax.set_title(f"{title}\n{ax.get_title(loc='left')}", loc="left", fontsize="medium")
    return fig


def polygon_run_figures(ds: xr.Dataset, events: xr.Dataset, spectra: xr.DataArray, *,
                        decoding: list[dict] | None = None, drum_steps: int = 300,
                        kw_speed: float | None = None, gif=None,
                        progress: bool = False) -> dict:
    """The figures of an exported polygon run, drawn for the trial with the clearest waves.

    The trial (and its frame) of highest mean PGD (see
    :func:`~wavescope.analysis.summaries.clearest_frame`) is centred on its polygon
    without rolling, so that the zero-padded border is no seam inside the maps, and drawn
    without the common mode, which would paint the whole field one colour.

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
        Speed lines (±) on the k-omega spectrum, space units per time unit.
    gif : path, optional
        Also write the animation of the trial's phase there
        (:func:`~wavescope.plotting.animate`).
    progress : bool
        Show a progress bar while animating.

    Returns
    -------
    dict
        In drawing order: ``hidden_phase_flow``, ``hidden_space_time``, ``hidden_spectra``,
        ``relative_spectra``, ``hidden_kw`` (Figures), ``decoding`` (with ``decoding``),
        ``gif`` (its path, with ``gif``); and ``trial`` and ``frame`` (ints).
    """
    from ..analysis import kw_spectrum
    from ..analysis.hidden import centre_crop, centre_on_masks, model_phase
    from ..analysis.summaries import clearest_frame
    from ..drums import drum_of_masks
    from . import animate, plot_kw, plot_space_time

    trial, frame = clearest_frame(events)
    masks = ds["label"].values > 0
    z = model_phase(centre_on_masks(ds["hidden"].isel(feature=0), masks, roll=False)
                    .isel(trial=trial), common=False)
    shape = str(ds["shape_name"].values[trial]) if "shape_name" in ds else "polygon"
    what = f"test image {trial} ({shape}), feature 0"
    out = {"hidden_phase_flow": flow_outline_figure(
        z.isel(time=slice(frame, frame + 2)), centre_crop(masks, masks, roll=False)[trial],
        name=shape, title=what)}
    out["hidden_space_time"] = plot_space_time(z)  # through the centre
    out["hidden_spectra"] = shape_spectra_figure(spectra.isel(feature=0))
    drum = drum_of_masks(masks, drum_steps)
    out["relative_spectra"] = relative_spectra_figure(
        {"NWM hidden states": ds["hidden"], "fixed drum": drum}, ds["shape_name"].values)
    kw = kw_spectrum(ds["hidden"].isel(trial=trial, feature=0)).sel(ky=0, method="nearest")
    speeds = ((round(kw_speed, 2), -round(kw_speed, 2))
              if kw_speed and np.isfinite(kw_speed) else ())
    out["hidden_kw"] = plot_kw(kw, speeds=speeds)
    if decoding:
        out["decoding"] = decoding_figure(decoding)
    if gif is not None:
        out["gif"] = animate(z, gif, fps=8, progress=progress, title=what)
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
    """
    from ..analysis import analytic_signal
    from ..analysis.summaries import strongest_planar_time
    from . import plot_phase_map

    t_best = strongest_planar_time(events)
    fig = plot_phase_map(analytic_signal(eeg, band), t_best, head=True)
    fig.axes[0].set_title(f"EEG alpha band ({band[0]:g}-{band[1]:g} Hz) phase, "
                          f"t = {t_best:.2f} s", fontsize="medium")
    return {"eeg_phase": fig, "eeg_pgd": pgd_figure(events, centre=t_best)}
