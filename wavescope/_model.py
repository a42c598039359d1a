"""The data model's errors, sites and provenance steps, shared by ``wavescope.core``,
``wavescope.io`` and the analysis (private: ``DataModelError``, ``WavescopeWarning`` and
``space_dims`` are public as ``wavescope.core``'s, which imports them from here).

Site helpers read the coordinates and attributes only, with no check: ``core`` checks the
data and the analysis calls these on checked data.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import xarray as xr


class DataModelError(ValueError):
    """An array does not follow the wavescope data model; the message says what to fix.

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> try:
    ...     ws.from_array(np.zeros((10, 3)), ("time", "electrode"), sfreq=100.0)
    ... except ws.DataModelError as err:
    ...     print(type(err).__name__)
    ...
    DataModelError
    """


class WavescopeWarning(UserWarning):
    """Something in the data deserves attention but does not stop the analysis.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> import wavescope as ws
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     da = ws.from_array(np.zeros((5, 2)), ("time", "channel"), sfreq=10.0,
    ...                        positions=np.array([[0.0, 0.0], [1.0, 0.0]]))
    ...
    >>> print(caught[0].category.__name__, da.attrs["space_units"])
    WavescopeWarning pixel
    """


def space_dims(da: xr.DataArray) -> tuple[str, ...]:
    """The spatial dimensions of ``da``: ("channel",), ("y", "x") or ("x",).

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> ws.space_dims(ws.from_array(np.zeros((10, 2, 3)), ("time", "y", "x"), sfreq=10.0))
    ('y', 'x')
    """
    if "channel" in da.dims:
        return ("channel",)
    return tuple(d for d in ("y", "x") if d in da.dims)


def site_names(da: xr.DataArray) -> np.ndarray:
    """Site names in the order of ``as_channels``: channel names, or "y{i}x{j}" / "x{j}"."""
    dims = space_dims(da)
    if dims == ("channel",):
        return np.asarray([str(c) for c in da["channel"].values])
    if dims == ("x",):
        return np.asarray([f"x{j}" for j in range(da.sizes["x"])])
    return np.asarray([f"y{i}x{j}" for i in range(da.sizes["y"]) for j in range(da.sizes["x"])])


def site_positions(da: xr.DataArray) -> np.ndarray:
    """:func:`wavescope.positions` from the coordinates alone (no check, no copy of the data)."""
    if space_dims(da) == ("channel",):
        y = da["y"].values if "y" in da.coords else np.zeros(da.sizes["channel"])
        return np.column_stack([da["x"].values, y]).astype(float)
    x = np.asarray(da["x"].values, dtype=float)
    if "y" not in da.dims:
        return np.column_stack([x, np.zeros_like(x)])
    yy, xx = np.meshgrid(np.asarray(da["y"].values, dtype=float), x, indexing="ij")
    return np.column_stack([xx.ravel(), yy.ravel()])


def bad_names(da) -> list[str]:
    """The names in ``attrs["bads"]`` (a JSON list of strings, as from_mne writes)."""
    raw = da.attrs.get("bads")
    if raw is None:
        return []
    try:
        names = json.loads(raw) if isinstance(raw, str) else None
    except json.JSONDecodeError:
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DataModelError(
            f"attribute 'bads' is {raw!r}; it must be a JSON list of site names, e.g. "
            "da.assign_attrs(bads=json.dumps(['e12', 'e40']))"
        )
    return names


def bad_mask(da: xr.DataArray, names, order) -> np.ndarray:
    """Boolean mask over the space dims (in ``order``) of the sites in ``names``."""
    dims = space_dims(da)
    shape = [da.sizes[d] for d in dims]
    if not names:
        return np.zeros([da.sizes[d] for d in order], dtype=bool)
    mask = np.isin(site_names(da), list(names)).reshape(shape)
    return np.transpose(mask, [dims.index(d) for d in order])


def report_dead_sites(da: xr.DataArray, stacklevel: int = 3) -> None:
    """Warn when some sites hold only NaN (besides the known bad ones), scanning in blocks
    and never forcing a lazy array."""
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
    bad = bad_mask(da, bad_names(da), [d for d in da.dims if d in dims])
    dead &= ~bad  # known bad sites are reported by the analysis that leaves them out
    if dead.any():
        n = int(dead.sum())
        warnings.warn(
            f"{n} of {dead.size} sites hold only NaN and will be skipped by the analysis",
            WavescopeWarning,
            stacklevel=stacklevel,
        )


def append_step(provenance: str | None, step: str, params: dict) -> str:
    """A provenance JSON string with ``{step: params}`` appended to its ``steps``."""
    history = json.loads(provenance or "{}")
    steps = [*history.get("steps", []), {step: params}]
    return json.dumps({**history, "steps": steps})
