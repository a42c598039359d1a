"""The look every figure of :mod:`wavescope.plotting` shares: sizes, fonts, colour maps,
colour-bar and axis labels with units, titles that name what is shown, legends outside
the data.

One place for these choices keeps the quickstart's figures, the tutorials' and a user's
alike; the builders call the functions here rather than matplotlib's defaults.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

__all__ = ["PHASE_CMAP", "POWER_CMAP", "SIGNED_CMAP", "FIGSIZE", "TITLE_SIZE",
           "LEGEND_SIZE", "NOTE_SIZE", "PHASE_TICKS", "PHASE_TICKLABELS", "figure", "label",
           "colorbar", "phase_colorbar", "title", "subtitle", "describe", "legend"]

#: Cyclic, for phase: -pi and pi get the same colour.
PHASE_CMAP = "twilight"
#: Sequential, for power and amplitude (dark = little).
POWER_CMAP = "magma"
#: Diverging about 0, for signed values (activity, differences).
SIGNED_CMAP = "RdBu_r"
PHASE_TICKS = (-np.pi, -np.pi / 2, 0.0, np.pi / 2, np.pi)
PHASE_TICKLABELS = ("−π", "−π/2", "0", "π/2", "π")

#: Figure sizes in inches by kind: one map with its colour bar, one line plot, a
#: space-time image, a wide strip (time series, two panels), a panel of a row.
FIGSIZE = {"map": (5.0, 4.2), "line": (5.6, 3.8), "space_time": (6.4, 3.8),
           "wide": (8.0, 3.2), "panel": (4.0, 3.4), "tall": (5.6, 5.2)}
#: Font sizes (matplotlib names, relative to the 10-point default of tick and axis labels).
TITLE_SIZE = "medium"
LEGEND_SIZE = "small"
NOTE_SIZE = "small"


def figure(size: str | Sequence[float] = "map") -> Figure:
    """A new figure with constrained layout, drawable and savable without pyplot.

    Parameters
    ----------
    size : str or (float, float)
        A key of :data:`FIGSIZE`, or (width, height) in inches.

    Examples
    --------
    >>> fig = figure("line")
    >>> [float(v) for v in fig.get_size_inches()]
    [5.6, 3.8]
    """
    fig = Figure(figsize=FIGSIZE[size] if isinstance(size, str) else tuple(size),
                 layout="constrained")
    FigureCanvasAgg(fig)  # draws and saves without pyplot or a GUI backend
    return fig


def label(name: str, units: str | None = None) -> str:
    """``"name (units)"`` for an axis or colour bar; a variable's name (``kw_power``) is
    written for people (``kw power``).

    Examples
    --------
    >>> label("kw_power", "a.u.^2")
    'kw power (a.u.^2)'
    """
    name = str(name).replace("_", " ")
    return f"{name} ({units})" if units else name


def colorbar(fig: Figure, mappable, ax: Axes, name: str, units: str | None = None):
    """A colour bar beside ``ax``, as tall as ``ax`` is drawn (an equal-aspect map too),
    labelled ``name (units)``; returns it.

    Examples
    --------
    >>> import numpy as np
    >>> fig = figure()
    >>> ax = fig.add_subplot()
    >>> bar = colorbar(fig, ax.imshow(np.eye(3), cmap=POWER_CMAP), ax, "power", "V^2/Hz")
    >>> bar.ax.get_ylabel()
    'power (V^2/Hz)'
    """
    bar = fig.colorbar(mappable, ax=ax, label=label(name, units))
    bar.ax.set_axes_locator(_beside(ax))
    return bar


#: Gap between an axes and its colour bar, inches.
COLORBAR_PAD = 0.1


def _beside(ax: Axes):
    """An axes locator that puts a colour bar just right of ``ax`` as drawn and as tall.

    The layout gives the bar the height of the space ``ax`` was given; an equal-aspect map
    is drawn smaller than that space (:meth:`~matplotlib.axes.Axes.apply_aspect`), so the
    bar is moved at draw time to the map's own height and right edge (its width stays the
    layout's, whose room for the bar's labels is then never exceeded).
    """
    def locate(cax, renderer):
        ax.apply_aspect()
        box = ax.get_position()
        pad = COLORBAR_PAD * ax.figure.dpi / ax.figure.bbox.width
        return Bbox.from_bounds(box.x1 + pad, box.y0, cax.get_position(original=True).width,
                                box.height)

    return locate


def phase_colorbar(fig: Figure, mappable, ax: Axes):
    """A phase colour bar beside ``ax`` and as tall: ticks at multiples of pi/2, labelled
    "phase (rad)".

    Examples
    --------
    >>> import numpy as np
    >>> fig = figure()
    >>> ax = fig.add_subplot()
    >>> art = ax.imshow(np.zeros((3, 3)), cmap=PHASE_CMAP, vmin=-np.pi, vmax=np.pi)
    >>> bar = phase_colorbar(fig, art, ax)
    >>> bar.ax.get_ylabel(), [t.get_text() for t in bar.ax.get_yticklabels()][0]
    ('phase (rad)', '−π')
    """
    bar = fig.colorbar(mappable, ax=ax, ticks=PHASE_TICKS)
    bar.ax.set_axes_locator(_beside(ax))
    bar.ax.set_yticklabels(PHASE_TICKLABELS)
    bar.set_label("phase (rad)")
    return bar


def describe(*, item: str | None = None, feature=None, band=None, window=None, time=None,
             time_units: str = "s", band_units: str = "Hz") -> str:
    """What a figure shows, as a comma-separated phrase for its title.

    Parameters
    ----------
    item : str, optional
        The trial, image or recording ("test image 3 (square)").
    feature : int, optional
        The feature (oscillator channel).
    band : (float, float), optional
        Pass band, in ``band_units``.
    window : (float, float), optional
        Time window shown, in ``time_units``.
    time : float, optional
        Time of a single frame, in ``time_units``.

    Examples
    --------
    >>> describe(item="test image 3", feature=0, time=0.5, time_units="time unit")
    'test image 3, feature 0, t = 0.5 time unit'
    """
    parts = [item] if item else []
    if feature is not None:
        parts.append(f"feature {feature}")
    if band is not None:
        parts.append(f"{band[0]:g}-{band[1]:g} {band_units}")
    if window is not None:
        parts.append(f"{window[0]:.4g}-{window[1]:.4g} {time_units}")
    if time is not None:
        parts.append(f"t = {time:.4g} {time_units}")
    return ", ".join(parts)


def title(ax: Axes, what: str, detail: str = "", *, loc: str = "left"):
    """Title ``ax`` with what is drawn, then (second line) which data: ``detail`` from
    :func:`describe`. Returns the title's Text.

    Examples
    --------
    >>> ax = figure().add_subplot()
    >>> print(title(ax, "phase map", describe(feature=0, band=(8, 13))).get_text())
    phase map
    feature 0, 8-13 Hz
    """
    text = f"{what}\n{detail}" if detail else what
    return ax.set_title(text, loc=loc, fontsize=TITLE_SIZE, wrap=True)  # wrapped at the edge


def subtitle(ax: Axes, detail: str):
    """Add ``detail`` (which data) as a second line under the left title of ``ax``.

    Examples
    --------
    >>> ax = figure().add_subplot()
    >>> _ = ax.set_title("PGD", loc="left")
    >>> print(subtitle(ax, "first 10 s").get_text())
    PGD
    first 10 s
    """
    return title(ax, ax.get_title(loc="left"), detail)


def legend(target: Axes | Figure, handles=None, labels=None, *, ncols: int = 1):
    """A legend outside the data: right of an axes (the layout makes room), or below the
    panels of a figure, gathering the labelled artists of all its axes (it replaces an
    earlier figure legend, so a figure keeps one). Returns it (None when there is nothing
    to label).

    Examples
    --------
    >>> fig = figure("wide")
    >>> ax = fig.add_subplot()
    >>> _ = ax.plot([0, 1], [0, 1], label="data")
    >>> [t.get_text() for t in legend(fig).get_texts()], legend(fig.add_subplot()) is None
    (['data'], True)
    """
    if isinstance(target, Figure):
        if handles is None:
            handles, labels = [], []
            for ax in target.axes:
                h, lab = ax.get_legend_handles_labels()
                for one, name in zip(h, lab, strict=True):
                    if name not in labels:
                        handles.append(one)
                        labels.append(name)
        if not handles:
            return None
        for old in list(target.legends):
            old.remove()
        return target.legend(handles, labels, loc="outside lower center", ncols=ncols,
                             fontsize=LEGEND_SIZE)
    if handles is None:
        handles, labels = target.get_legend_handles_labels()
    if not handles:
        return None
    return target.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                         borderaxespad=0.0, ncols=ncols, fontsize=LEGEND_SIZE)
