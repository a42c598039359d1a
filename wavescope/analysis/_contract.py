"""What every public analysis function adds to its result (docs/notes/contract.md).

:func:`public` wraps a function of ``wavescope.analysis.__all__``: its DataArray or
Dataset result gets the data model's attributes of the input where the function left them
out, ``units`` on the coordinates that hold positions and times, and one provenance step
naming the call and its parameters. Only the attributes change, never the data, so a
dask result stays lazy. It also counts the public calls under way, so that one called
inside another skips the input check (:func:`nested`): data are validated once.
"""

from __future__ import annotations

import contextvars
import functools
import inspect

import numpy as np
import xarray as xr

from .._model import append_step

#: Attributes of the data model that a result inherits from its input.
INHERITED = ("sfreq", "dt", "time_units", "space_units", "source", "periodic")
#: Parameters that say how to compute, not what: left out of the provenance, so that a
#: result is the same on every device.
HOW = ("device", "progress")
#: Coordinates in time units and in space units.
TIME_COORDS = ("time",)
SPACE_COORDS = ("x", "y", "z")
#: Public calls under way in this thread (or task): one inside another (detect_waves's
#: analytic signal, classify_patterns's PGD) works on data the outer call has checked.
_DEPTH = contextvars.ContextVar("wavescope_public_depth", default=0)


def nested() -> bool:
    """Whether a public analysis call is running inside another one."""
    return _DEPTH.get() > 1


def public(func):
    """Give ``func``'s xarray result the contract's attributes (see the module docstring)."""
    signature = inspect.signature(func)
    step = f"wavescope.analysis.{func.__name__}"
    variadic = next((p.name for p in signature.parameters.values()
                     if p.kind is inspect.Parameter.VAR_KEYWORD), None)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        depth = _DEPTH.set(_DEPTH.get() + 1)
        try:
            out = func(*args, **kwargs)
        finally:
            _DEPTH.reset(depth)
        if not isinstance(out, (xr.DataArray, xr.Dataset)):
            return out  # event tables in pandas, decoders' dicts: nothing to stamp
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        source = next((v for v in bound.arguments.values()
                       if isinstance(v, (xr.DataArray, xr.Dataset))), None)
        given = dict(bound.arguments)
        if variadic is not None:  # **kwargs passed on: record them as the call's own
            given.update(given.pop(variadic))
        params = {k: _jsonable(v) for k, v in given.items()
                  if k not in HOW and not isinstance(v, (xr.DataArray, xr.Dataset))}
        return finish(out, source, step, params)

    return wrapper


def finish(out, source, step: str, params: dict):
    """``out`` (a shallow copy) with inherited attributes, coordinate units and the
    provenance of ``source`` plus ``{step: params}``."""
    out = out.copy(deep=False)
    given = source.attrs if source is not None else {}
    for key in INHERITED:
        if key not in out.attrs and key in given:
            out.attrs[key] = given[key]
    units = {**dict.fromkeys(TIME_COORDS, out.attrs.get("time_units")),
             **dict.fromkeys(SPACE_COORDS, out.attrs.get("space_units"))}
    for name, unit in units.items():
        if name in out.coords and unit is not None and "units" not in out[name].attrs:
            out[name].attrs["units"] = unit
    out.attrs["provenance"] = append_step(given.get("provenance"), step, params)
    return out


def _jsonable(value):
    """``value`` as JSON can hold it: arrays as lists, callables by name, others by repr."""
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if callable(value):
        return getattr(value, "__qualname__", repr(value))
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)
