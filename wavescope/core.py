"""The data model shared by recordings and model hidden states.

An *activity* is an :class:`xarray.DataArray` with a ``time`` dimension and space given
one of two ways, with the same coordinate names either way:

grid
    dimensions ``y``, ``x`` (or ``x`` alone for a line or a ring) whose coordinates are
    positions. A ring says so with ``attrs["periodic"] = 1``.
irregular
    a ``channel`` dimension with non-index coordinates ``x``, ``y`` (and ``z`` if known).

Optional dimensions are ``trial``, ``feature`` (a model's hidden channels) and ``freq``.
Attributes: ``sfreq`` (samples per time unit), ``units``, ``time_units`` ("s" for
recordings; "time unit" for models, the time unit of their dynamics: time is then steps x
``dt`` and sfreq = 1 / dt, so dt = 0.2 gives 5 samples per time unit),
``space_units`` ("m", "cm", "mm", "um" or "pixel"), ``source`` ("recording" or "model"),
``periodic`` (0 or 1), ``provenance`` (a JSON string) and ``bads`` (optional: a JSON list
of bad site names, as MNE's ``info["bads"]``; grid sites are named "y{i}x{j}" or "x{j}" as
in :func:`as_channels`). Every attribute is a number or a string, so every activity can be
written to netCDF as it is.

Bad sites
    Every analysis leaves out the sites named in ``attrs["bads"]`` or in its ``bads=``
    argument (see :func:`exclude_bads`): channels are dropped, grid sites set to NaN (so
    the grid stays a grid; NaN sites are skipped everywhere), and a warning names them
    once. Names in ``attrs["bads"]`` that the data no longer hold (dropped by a selection)
    are ignored.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr

from ._model import (
    DataModelError,
    WavescopeWarning,
    bad_mask,
    bad_names,
    report_dead_sites,
    site_names,
    site_positions,
    space_dims,
)

__all__ = [
    "DataModelError",
    "WavescopeWarning",
    "from_array",
    "validate",
    "as_channels",
    "as_grid",
    "space_dims",
    "positions",
    "provenance",
    "exclude_bads",
    "bad_sites",
]

KNOWN_DIMS = ("trial", "time", "freq", "feature", "channel", "y", "x")
SPACE_UNITS = ("m", "cm", "mm", "um", "pixel")
SOURCES = ("recording", "model")


def from_array(
    data,
    dims: Sequence[str],
    *,
    sfreq: float,
    spacing: float | Sequence[float] = 1.0,
    positions=None,
    ch_names: Sequence[str] | None = None,
    t0: float = 0.0,
    units: str = "a.u.",
    time_units: str | None = None,
    space_units: str | None = None,
    source: str | None = None,
    periodic: bool = False,
    name: str | None = None,
    provenance: dict | None = None,
) -> xr.DataArray:
    """Build an activity DataArray from a NumPy array.

    Parameters
    ----------
    data : array_like
        Real or complex values.
    dims : sequence of str
        One name per axis of ``data``, from ``trial``, ``time``, ``feature``, ``freq`` and
        either ``y``/``x`` (grid) or ``channel`` (irregular positions).
    sfreq : float
        Sampling rate in samples per time unit (Hz for recordings; 1 / dt for models).
    spacing : float or (dy, dx)
        Distance between neighbouring grid sites, in ``space_units``. Grids only.
    positions : array_like, shape (n_channels, 2 or 3), optional
        Sensor positions (x, y[, z]) in ``space_units``. Required with ``channel``.
    ch_names : sequence of str, optional
        Channel names; default "0", "1", ...
    t0 : float
        Time of the first sample, in time units.
    units, time_units, space_units, source : str
        Attributes of the data model. ``source`` defaults to "recording" when ``dims``
        hold ``channel`` (sensors, as in MNE; a model's units are ``feature``) and to
        "model" otherwise; ``time_units`` to "s" for recordings and "time unit" (of the
        dynamics) for models;
        ``space_units`` to "pixel" (with a warning when ``positions`` are given: say
        what unit they are in, or speeds come out in pixel per time unit).
    periodic : bool
        True for a ring or torus (periodic boundary), as in the Wave-RNN.
    name : str, optional
        Name of the DataArray.
    provenance : dict, optional
        JSON-serialisable description of where the data came from.

    Returns
    -------
    xarray.DataArray
        A validated activity.

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> da = ws.from_array(np.zeros((100, 4, 5)), ("time", "y", "x"), sfreq=100.0,
    ...                    spacing=0.5, space_units="mm", source="recording")
    >>> print(da.dims, da.attrs["time_units"], da.attrs["space_units"])
    ('time', 'y', 'x') s mm
    >>> print(da["x"].values)
    [0.  0.5 1.  1.5 2. ]
    """
    data = np.asarray(data)
    dims = tuple(dims)
    if data.ndim != len(dims):
        raise DataModelError(
            f"data has {data.ndim} axes but {len(dims)} dims were given {dims}; "
            "give one name per axis"
        )
    if sfreq is None:
        raise DataModelError("sfreq is missing: give the sampling rate in samples per time unit")
    sfreq = float(_checked_sfreq(sfreq))
    if "time" not in dims:
        raise DataModelError(f"dims {dims} have no 'time'; every activity needs a time axis")
    sizes = dict(zip(dims, data.shape, strict=True))
    coords: dict = {"time": t0 + np.arange(sizes["time"]) / sfreq}
    if "channel" in dims:
        if positions is None:
            raise DataModelError(
                "dims include 'channel' but no positions were given; pass positions of shape "
                "(n_channels, 2 or 3)"
            )
        pos = np.asarray(positions, dtype=float)
        if pos.ndim != 2 or pos.shape[1] not in (2, 3) or pos.shape[0] != sizes["channel"]:
            raise DataModelError(
                f"positions have shape {pos.shape}; expected ({sizes['channel']}, 2 or 3) to "
                "match the channel axis"
            )
        names = list(ch_names) if ch_names is not None else [str(i) for i in range(len(pos))]
        if len(names) != sizes["channel"]:
            raise DataModelError(
                f"{len(names)} channel names for {sizes['channel']} channels; give one each"
            )
        coords["channel"] = np.asarray(names, dtype=str)
        for i, axis in enumerate("xyz"[: pos.shape[1]]):
            coords[axis] = ("channel", pos[:, i])
    else:
        grid = [d for d in ("y", "x") if d in dims]
        steps = np.broadcast_to(np.asarray(spacing, dtype=float), (2,))
        step = {"y": steps[0], "x": steps[1]}
        for d in grid:
            coords[d] = np.arange(sizes[d]) * step[d]
    if source is None:
        source = "recording" if "channel" in dims else "model"
    if time_units is None:
        time_units = "s" if source == "recording" else "time unit"
    if space_units is None:
        if "channel" in dims:
            warnings.warn(
                "positions were given without space_units, so they (and speeds) are taken as "
                "'pixel'; pass space_units='m', 'mm', ... to say what unit they are in",
                WavescopeWarning, stacklevel=2,
            )
        space_units = "pixel"
    # Coordinates say their units too (a pint string, see wavescope.units).
    for axis in coords:
        unit = {"time": time_units, "x": space_units, "y": space_units, "z": space_units}.get(axis)
        if unit is not None:
            dims_of, values = coords[axis] if isinstance(coords[axis], tuple) else (axis,
                                                                                  coords[axis])
            coords[axis] = (dims_of, values, {"units": unit})
    attrs = {
        "sfreq": sfreq,
        "units": units,
        "time_units": time_units,
        "space_units": space_units,
        "source": source,
        "periodic": int(bool(periodic)),
        "provenance": json.dumps(provenance or {}),
    }
    da = xr.DataArray(data, dims=dims, coords=coords, attrs=attrs, name=name)
    return validate(da)


def positions(da: xr.DataArray) -> np.ndarray:
    """Site positions as an (n_sites, 2) array of (x, y), in the order of ``as_channels``.

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> da = ws.from_array(np.zeros((10, 2, 2)), ("time", "y", "x"), sfreq=10.0, spacing=0.5)
    >>> print(ws.positions(da))
    [[0.  0. ]
     [0.5 0. ]
     [0.  0.5]
     [0.5 0.5]]
    """
    validate(da, require_time=False)
    if not space_dims(da):
        raise DataModelError(f"no spatial dims in {da.dims}; nothing to turn into channels")
    return site_positions(da)


def provenance(da: xr.DataArray | xr.Dataset) -> dict:
    """The provenance attribute decoded from JSON (an empty dict when absent).

    Examples
    --------
    >>> import wavescope as ws
    >>> from wavescope import simulate as sim
    >>> ws.provenance(sim.plane_wave((4, 4), n_times=10))["generator"]
    'wavescope.simulate.plane_wave'
    """
    return json.loads(da.attrs.get("provenance", "{}") or "{}")


def validate(da, *, require_time: bool = True) -> xr.DataArray:
    """Check ``da`` against the data model and return it unchanged.

    Raises
    ------
    DataModelError
        Naming the missing or wrong part and how to fix it.

    Warns
    -----
    WavescopeWarning
        When some sites hold only NaN (dead channels are allowed, and reported).

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> da = ws.from_array(np.zeros((50, 3)), ("time", "x"), sfreq=10.0)
    >>> ws.validate(da) is da
    True
    """
    if not isinstance(da, xr.DataArray):
        raise DataModelError(
            f"expected an xarray.DataArray, got {type(da).__name__}; build one with "
            "wavescope.from_array or wavescope.from_mne"
        )
    unknown = [d for d in da.dims if d not in KNOWN_DIMS]
    if unknown:
        raise DataModelError(
            f"unknown dims {unknown}; allowed are {KNOWN_DIMS} (rename with da.rename)"
        )
    if require_time:
        _check_time(da)
    _check_space(da)
    _check_attr_types(da)
    for key, allowed in (("space_units", SPACE_UNITS), ("source", SOURCES)):
        value = da.attrs.get(key)
        if value is None:
            raise DataModelError(f"attribute '{key}' is missing; set it to one of {allowed}")
        if value not in allowed:
            raise DataModelError(f"attribute '{key}' is {value!r}; expected one of {allowed}")
    report_dead_sites(da)
    return da


def _checked_sfreq(sfreq):
    """sfreq as given, once known to be a positive finite real number."""
    if isinstance(sfreq, (bool, np.bool_)) or not isinstance(sfreq, (int, float, np.integer,
                                                                      np.floating)):
        raise DataModelError(
            f"sfreq must be a number (samples per time unit), got {type(sfreq).__name__} "
            f"{sfreq!r}; for example sfreq=500.0"
        )
    if not np.isfinite(sfreq) or sfreq <= 0:
        raise DataModelError(f"sfreq must be a positive finite number, got {sfreq!r}")
    return sfreq


#: Relative disagreement allowed between the median time step and 1 / sfreq (timestamps
#: of real recordings jitter; resampling by 2 is off by 100 %).
_TIME_RTOL = 0.01


def _check_time(da: xr.DataArray) -> None:
    if "time" not in da.dims:
        raise DataModelError(f"no 'time' dimension in dims {da.dims}")
    sfreq = da.attrs.get("sfreq")
    if sfreq is None:
        raise DataModelError(
            "attribute 'sfreq' (sampling rate) is missing; set da.attrs['sfreq'] in samples "
            "per time unit"
        )
    sfreq = _checked_sfreq(sfreq)
    if "time" not in da.coords:
        raise DataModelError("the 'time' dimension has no coordinate; assign time values")
    t = np.asarray(da["time"].values, dtype=float)
    if not np.all(np.isfinite(t)):
        raise DataModelError("the 'time' coordinate holds NaN or infinite values")
    if t.size > 1 and np.any(np.diff(t) <= 0):
        bad = int(np.argmax(np.diff(t) <= 0))
        raise DataModelError(
            f"the 'time' coordinate is not strictly increasing (at index {bad + 1}); sort it "
            "with da.sortby('time') and drop duplicates"
        )
    if t.size > 1:
        step = float(np.median(np.diff(t)))
        if abs(step * sfreq - 1.0) > _TIME_RTOL:
            unit = da.attrs.get("time_units", "s")
            raise DataModelError(
                f"time coordinate spacing {step:.6g} {unit} disagrees with sfreq={sfreq:g} "
                f"(1 / sfreq = {1.0 / sfreq:.6g} {unit}); after resampling, isel or coarsen "
                f"along time set the rate to match: da.assign_attrs(sfreq={1.0 / step:.6g})"
            )


def _check_attr_types(da: xr.DataArray) -> None:
    periodic = da.attrs.get("periodic", 0)
    if (not isinstance(periodic, (bool, int, np.bool_, np.integer))
            or int(periodic) not in (0, 1)):
        raise DataModelError(
            f"attribute 'periodic' is {type(periodic).__name__} {periodic!r}; it must be 0 or "
            "1 (or a bool): 1 for a ring or torus"
        )
    bad_names(da)


def _check_space(da: xr.DataArray) -> None:
    if "channel" in da.dims:
        if any(d in da.dims for d in ("y", "x")):
            raise DataModelError(
                "dims mix 'channel' with grid dims 'y'/'x'; use one form (see as_channels)"
            )
        for axis in ("x", "y"):
            if axis not in da.coords or da[axis].dims != ("channel",):
                raise DataModelError(
                    f"channel positions need a coordinate '{axis}' along 'channel'; "
                    "give positions to from_array or set a montage before from_mne"
                )
            if not np.all(np.isfinite(da[axis].values)):
                raise DataModelError(
                    f"position coordinate '{axis}' holds NaN for some channels; drop those "
                    "channels or give their positions"
                )
        if "channel" in da.indexes:
            names = da.indexes["channel"]
            if names.has_duplicates:
                dup = sorted(set(names[names.duplicated()].astype(str)))
                raise DataModelError(f"duplicate channel names {dup}; names must be unique")
    else:
        for d in ("y", "x"):
            if d in da.dims:
                if d not in da.coords:
                    raise DataModelError(f"grid dimension '{d}' has no position coordinate")
                c = np.asarray(da[d].values, dtype=float)
                if c.size > 1 and not (np.all(np.diff(c) > 0)):
                    raise DataModelError(
                        f"grid coordinate '{d}' is not strictly increasing; sort with "
                        f"da.sortby('{d}')"
                    )
        if "y" in da.dims and "x" not in da.dims:
            raise DataModelError("a grid with 'y' needs 'x' too (a line uses 'x' alone)")


def as_channels(da: xr.DataArray) -> xr.DataArray:
    """Return the irregular (``channel``) form of a grid activity.

    Positions become ``x``/``y`` coordinates along ``channel``; channel names are
    "y{i}x{j}" (or "x{j}"). An activity already in channel form is returned unchanged.
    :func:`as_grid` inverts this exactly.

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> grid = ws.from_array(np.zeros((10, 2, 3)), ("time", "y", "x"), sfreq=10.0)
    >>> ch = ws.as_channels(grid)
    >>> print(ch.dims, ch["channel"].values[:4].tolist())
    ('time', 'channel') ['y0x0', 'y0x1', 'y0x2', 'y1x0']
    """
    validate(da, require_time=False)
    if "channel" in da.dims:
        return da
    grid = space_dims(da)
    if not grid:
        raise DataModelError(f"no spatial dims in {da.dims}; nothing to turn into channels")
    if grid == ("x",):
        flat = da.rename(x="channel")
        flat = flat.assign_coords(
            x=("channel", da["x"].values, dict(da["x"].attrs)),
            y=("channel", np.zeros(da.sizes["x"]), dict(da["x"].attrs)),
            channel=[f"x{j}" for j in range(da.sizes["x"])],
        )
    else:
        flat = da.stack(channel=("y", "x")).reset_index("channel")
        ny, nx = da.sizes["y"], da.sizes["x"]
        names = [f"y{i}x{j}" for i in range(ny) for j in range(nx)]
        flat = flat.assign_coords(channel=names)
    flat.attrs = dict(da.attrs, grid_dims=" ".join(grid))
    return flat


def as_grid(da: xr.DataArray, *, fill=None) -> xr.DataArray:
    """Return the grid form of a channel activity whose positions lie on a grid.

    The inverse of :func:`as_channels`. Positions that agree to 1e-6 of the array's extent
    are taken as one grid line (projected 3-D positions carry rounding noise).

    Parameters
    ----------
    da : xarray.DataArray
        Activity with a ``channel`` dim (returned unchanged otherwise).
    fill : scalar, optional
        Value of grid sites that no channel occupies, e.g. ``np.nan`` for the missing
        corners of a Utah array (NaN sites are skipped by every analysis). Default None:
        the channels must fill the grid.

    Returns
    -------
    xarray.DataArray
        Dims ``(..., y, x)``; channel names in ``attrs["bads"]`` become the grid's site
        names "y{i}x{j}".

    Raises
    ------
    DataModelError
        When the positions do not fill a rectangular grid (and ``fill`` is None) or two
        channels share a grid site.

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> grid = ws.from_array(np.arange(12.0).reshape(2, 2, 3), ("time", "y", "x"), sfreq=10.0)
    >>> back = ws.as_grid(ws.as_channels(grid))
    >>> print(back.dims, bool((back == grid).all()))
    ('time', 'y', 'x') True
    """
    validate(da, require_time=False)
    if "channel" not in da.dims:
        return da
    grid_dims = tuple(da.attrs.get("grid_dims", "y x").split())
    attrs = {k: v for k, v in da.attrs.items() if k != "grid_dims"}
    bads = set(bad_names(da))
    if grid_dims == ("x",):
        names = [str(c) for c in da["channel"].values]
        out = da.drop_vars(["channel", "y"], errors="ignore").swap_dims(channel="x")
        order = np.argsort(out["x"].values, kind="stable")
        out = out.isel(x=order)
        site = [f"x{j}" for j in range(len(order))]
        translated = [site[k] for k, i in enumerate(order) if names[i] in bads]
    else:
        xs, ix = _levels(da["x"].values)
        ys, iy = _levels(da["y"].values)
        flat = iy * xs.size + ix
        if np.unique(flat).size != flat.size:
            raise DataModelError(
                "two channels sit at the same grid position; keep the channel form (or drop "
                "one) for such sensors"
            )
        if flat.size != xs.size * ys.size and fill is None:
            raise DataModelError(
                f"{da.sizes['channel']} channels at {ys.size} distinct y and {xs.size} distinct "
                "x positions do not fill a grid; pass fill=np.nan to leave the empty sites "
                "missing, or keep the channel form for irregular sensors"
            )
        names = [str(c) for c in da["channel"].values]
        translated = [f"y{iy[k]}x{ix[k]}" for k, n in enumerate(names) if n in bads]
        snapped = da.assign_coords(x=("channel", xs[ix]), y=("channel", ys[iy]))
        out = snapped.drop_vars("channel", errors="ignore").set_index(channel=["y", "x"])
        out = out.unstack("channel").sortby(["y", "x"])  # empty sites NaN (float promoted)
        if fill is not None and not (isinstance(fill, float) and np.isnan(fill)):
            present = np.zeros((ys.size, xs.size), dtype=bool)
            present[iy, ix] = True
            out = out.where(xr.DataArray(present, dims=("y", "x")), fill)
        order = [d for d in da.dims if d != "channel"] + ["y", "x"]
        out = out.transpose(*order)
    if "bads" in attrs:
        attrs["bads"] = json.dumps(sorted(translated))
    out = out.assign_coords({c: (out[c].dims, out[c].values, dict(da[c].attrs))
                             for c in ("x", "y") if c in out.coords and c in da.coords})
    out.attrs = attrs
    return out


def _levels(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct grid lines of 1-D positions (those within 1e-6 of the extent merged), and
    the index of each value's line."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    v = values[order]
    tol = 1e-6 * max(float(np.ptp(v)) if v.size else 0.0, np.finfo(float).tiny)
    starts = np.concatenate([[True], np.diff(v) > tol])
    label = np.cumsum(starts) - 1
    index = np.empty(values.size, dtype=int)
    index[order] = label
    levels = np.bincount(label, weights=v) / np.bincount(label)
    # Keep the exact value where a line holds one distinct value (exact round trips).
    first = v[starts]
    exact = np.array([np.all(v[label == k] == first[k]) for k in range(first.size)])
    return np.where(exact, first, levels), index


# ----------------------------------------------------------------------------- bad sites


def bad_sites(da: xr.DataArray, bads=None) -> xr.DataArray:
    """Which sites of ``da`` are bad: those in ``attrs["bads"]`` and in ``bads``.

    Parameters
    ----------
    da : xarray.DataArray
        An activity.
    bads : str, sequence of str or boolean array, optional
        More bad sites: names (channel names; "y{i}x{j}" or "x{j}" on grids, as in
        :func:`as_channels`), or a boolean array over the space dims (True = bad; a
        DataArray, or a NumPy array in the order of :func:`space_dims`).

    Returns
    -------
    xarray.DataArray
        Boolean, over the space dims of ``da`` (with their coordinates).

    Raises
    ------
    DataModelError
        When ``bads`` names a site that ``da`` does not have, or a mask has the wrong shape.

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> grid = ws.from_array(np.zeros((10, 2, 2)), ("time", "y", "x"), sfreq=10.0)
    >>> print(ws.bad_sites(grid, ["y0x1"]).values)
    [[False  True]
     [False False]]
    """
    dims = space_dims(da)
    if not dims:
        raise DataModelError(f"dims {da.dims} have no space dims, so no site can be bad")
    template = da.isel({d: 0 for d in da.dims if d not in dims}, drop=True)
    names = site_names(da)
    shape = tuple(da.sizes[d] for d in dims)
    mask = bad_mask(da, bad_names(da), dims)
    if bads is not None:
        if isinstance(bads, str):
            bads = [bads]
        if isinstance(bads, xr.DataArray) and bads.dtype == bool:
            extra = bads.transpose(*dims).values
        elif isinstance(bads, np.ndarray) and bads.dtype == bool:
            extra = bads
        else:
            wanted = [str(b) for b in bads]
            unknown = sorted(set(wanted) - set(names))
            if unknown:
                raise DataModelError(
                    f"bads names sites {unknown} that da does not have; site names are "
                    f"{'channel names' if dims == ('channel',) else 'y{i}x{j} (as_channels)'}"
                )
            extra = np.isin(names, wanted).reshape(shape)
        if extra.shape != shape:
            raise DataModelError(
                f"the bads mask has shape {extra.shape}; the space dims {dims} have {shape}"
            )
        mask = mask | extra
    return xr.DataArray(mask, dims=dims, coords={c: v for c, v in template.coords.items()
                                                  if set(v.dims) <= set(dims)})


def exclude_bads(da: xr.DataArray, bads=None, *, warn: bool = True,
                 stacklevel: int = 2) -> xr.DataArray:
    """``da`` without its bad sites, the way every analysis leaves them out.

    Channels in ``attrs["bads"]`` or ``bads`` are dropped; bad grid sites are set to NaN,
    so the grid stays a grid (every analysis skips NaN sites). ``attrs["bads"]`` of the
    result lists all bad sites (those given here added). Sites already dropped, or NaN
    throughout, are left as they are without a word.

    Parameters
    ----------
    da : xarray.DataArray
        An activity with space dims.
    bads : str, sequence of str or boolean array, optional
        More bad sites, as in :func:`bad_sites`.
    warn : bool
        Warn, naming the sites, when some are left out.
    stacklevel : int
        Passed to :func:`warnings.warn` (for callers that wrap this function).

    Returns
    -------
    xarray.DataArray
        A new activity; ``da`` itself is returned when no site is bad.

    Warns
    -----
    WavescopeWarning
        Naming the bad sites left out.

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> da = ws.from_array(np.ones((10, 3)), ("time", "channel"), sfreq=10.0,
    ...                    positions=np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]),
    ...                    ch_names=["a", "b", "c"], space_units="m")
    >>> ws.exclude_bads(da, ["b"], warn=False)["channel"].values.tolist()
    ['a', 'c']
    """
    if not space_dims(da):
        return da
    if bads is None and not bad_names(da):
        return da
    mask = bad_sites(da, bads)
    dims = space_dims(da)
    flat = mask.transpose(*dims).values.ravel()
    all_names = sorted(set(bad_names(da)) | set(site_names(da)[flat]))
    if not flat.any():
        return da if bads is None else da.assign_attrs(bads=json.dumps(all_names))
    left_out = list(site_names(da)[flat])
    if dims == ("channel",):
        out = da.isel(channel=np.flatnonzero(~flat))
    else:
        index = np.nonzero(mask.transpose(*dims).values)
        points = da.isel({d: xr.DataArray(i, dims="_bad") for d, i in zip(dims, index,
                                                                          strict=True)})
        if not np.issubdtype(da.dtype, np.inexact) or bool(points.notnull().any()):
            out = da.where(~mask)
        else:  # already missing: nothing to leave out
            return da.assign_attrs(bads=json.dumps(all_names))
    out.attrs = dict(da.attrs, bads=json.dumps(all_names))
    if warn:
        shown = ", ".join(left_out[:12]) + (" ..." if len(left_out) > 12 else "")
        how = "dropped" if dims == ("channel",) else "set to NaN"
        warnings.warn(
            f"{len(left_out)} bad site(s) left out of the analysis ({how}): {shown}",
            WavescopeWarning, stacklevel=stacklevel,
        )
    return out
