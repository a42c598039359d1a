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
recordings, "step" for models: time is then steps x dt and sfreq = 1 / dt),
``space_units`` ("m", "cm", "mm", "um" or "pixel"), ``source`` ("recording" or "model"),
``periodic`` (0 or 1) and ``provenance`` (a JSON string). Every attribute is a number or a
string, so every activity can be written to netCDF as it is.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr

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
]

KNOWN_DIMS = ("trial", "time", "freq", "feature", "channel", "y", "x")
SPACE_UNITS = ("m", "cm", "mm", "um", "pixel")
SOURCES = ("recording", "model")


class DataModelError(ValueError):
    """An array does not follow the wavescope data model; the message says what to fix."""


class WavescopeWarning(UserWarning):
    """Something in the data deserves attention but does not stop the analysis."""


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
    space_units: str = "pixel",
    source: str = "model",
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
        Attributes of the data model. ``time_units`` defaults to "s" for recordings and
        "step" for models.
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
    sfreq = float(sfreq)
    if not np.isfinite(sfreq) or sfreq <= 0:
        raise DataModelError(f"sfreq must be a positive finite number, got {sfreq!r}")
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
    if time_units is None:
        time_units = "s" if source == "recording" else "step"
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


def space_dims(da: xr.DataArray) -> tuple[str, ...]:
    """The spatial dimensions of ``da``: ("channel",), ("y", "x") or ("x",)."""
    if "channel" in da.dims:
        return ("channel",)
    return tuple(d for d in ("y", "x") if d in da.dims)


def positions(da: xr.DataArray) -> np.ndarray:
    """Site positions as an (n_sites, 2) array of (x, y), in the order of ``as_channels``."""
    flat = as_channels(da)
    y = flat["y"].values if "y" in flat.coords else np.zeros(flat.sizes["channel"])
    return np.column_stack([flat["x"].values, y]).astype(float)


def provenance(da: xr.DataArray | xr.Dataset) -> dict:
    """The provenance attribute decoded from JSON (an empty dict when absent)."""
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
    for key, allowed in (("space_units", SPACE_UNITS), ("source", SOURCES)):
        value = da.attrs.get(key)
        if value is None:
            raise DataModelError(f"attribute '{key}' is missing; set it to one of {allowed}")
        if value not in allowed:
            raise DataModelError(f"attribute '{key}' is {value!r}; expected one of {allowed}")
    _report_dead_sites(da)
    return da


def _check_time(da: xr.DataArray) -> None:
    if "time" not in da.dims:
        raise DataModelError(f"no 'time' dimension in dims {da.dims}")
    sfreq = da.attrs.get("sfreq")
    if sfreq is None:
        raise DataModelError(
            "attribute 'sfreq' (sampling rate) is missing; set da.attrs['sfreq'] in samples "
            "per time unit"
        )
    if not np.isfinite(sfreq) or sfreq <= 0:
        raise DataModelError(f"sfreq must be a positive finite number, got {sfreq!r}")
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


def _report_dead_sites(da: xr.DataArray) -> None:
    dims = space_dims(da)
    if not dims or da.size == 0 or not np.issubdtype(da.dtype, np.inexact):
        return
    if hasattr(da.data, "dask"):  # never force a lazy array just to report
        return
    values = da.values
    other = tuple(da.get_axis_num([d for d in da.dims if d not in dims]))
    if not other:
        dead = np.isnan(values)
    else:
        # Scan in blocks along one non-spatial axis, so the check needs memory for a block,
        # not for a boolean copy of a long recording; stop once every site has a value.
        axis = other[0]
        block = max(1, 2**22 // max(1, values.size // values.shape[axis]))
        dead = np.ones([n for i, n in enumerate(values.shape) if i not in other], dtype=bool)
        for start in range(0, values.shape[axis], block):
            index = [slice(None)] * values.ndim
            index[axis] = slice(start, start + block)
            dead &= np.isnan(values[tuple(index)]).all(axis=other)
            if not dead.any():
                return
    if dead.any():
        n = int(dead.sum())
        warnings.warn(
            f"{n} of {dead.size} sites hold only NaN and will be skipped by the analysis",
            WavescopeWarning,
            stacklevel=3,
        )


def as_channels(da: xr.DataArray) -> xr.DataArray:
    """Return the irregular (``channel``) form of a grid activity.

    Positions become ``x``/``y`` coordinates along ``channel``; channel names are
    "y{i}x{j}" (or "x{j}"). An activity already in channel form is returned unchanged.
    :func:`as_grid` inverts this exactly.
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
            x=("channel", da["x"].values),
            y=("channel", np.zeros(da.sizes["x"])),
            channel=[f"x{j}" for j in range(da.sizes["x"])],
        )
    else:
        flat = da.stack(channel=("y", "x")).reset_index("channel")
        ny, nx = da.sizes["y"], da.sizes["x"]
        names = [f"y{i}x{j}" for i in range(ny) for j in range(nx)]
        flat = flat.assign_coords(channel=names)
    flat.attrs = dict(da.attrs, grid_dims=" ".join(grid))
    return flat


def as_grid(da: xr.DataArray) -> xr.DataArray:
    """Return the grid form of a channel activity whose positions lie on a grid.

    The inverse of :func:`as_channels`. Raises :class:`DataModelError` when the positions
    do not fill a rectangular grid.
    """
    validate(da, require_time=False)
    if "channel" not in da.dims:
        return da
    grid_dims = tuple(da.attrs.get("grid_dims", "y x").split())
    attrs = {k: v for k, v in da.attrs.items() if k != "grid_dims"}
    if grid_dims == ("x",):
        out = da.drop_vars(["channel", "y"], errors="ignore").swap_dims(channel="x")
        out = out.sortby("x")
    else:
        xs, ys = np.unique(da["x"].values), np.unique(da["y"].values)
        if xs.size * ys.size != da.sizes["channel"]:
            raise DataModelError(
                f"{da.sizes['channel']} channels at {ys.size} distinct y and {xs.size} distinct "
                "x positions do not fill a grid; keep the channel form for irregular sensors"
            )
        out = da.drop_vars("channel", errors="ignore").set_index(channel=["y", "x"])
        out = out.unstack("channel").sortby(["y", "x"])
        order = [d for d in da.dims if d != "channel"] + ["y", "x"]
        out = out.transpose(*order)
    out.attrs = attrs
    return out
