"""Input checks and small helpers shared by the analysis modules (private)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import xarray as xr

from .._model import report_dead_sites, site_positions
from ..core import DataModelError, exclude_bads, space_dims, validate
from ._contract import nested

#: Values (frames x sites) the streaming kernels process together: small enough that a
#: block's temporaries stay near the cache, large enough to amortise Python overhead.
BLOCK_VALUES = 1 << 16


def check_activity(da, *, need_space: bool = True, name: str = "da", bads=None
                   ) -> xr.DataArray:
    """Validate ``da``, make sure it has spatial dims when the analysis needs them, and
    return it without its bad sites (``attrs["bads"]`` and ``bads``: channels dropped,
    grid sites set to NaN, a warning naming them; see :func:`wavescope.exclude_bads`).
    Analyses that work site by site (``need_space=False``) keep bad sites, and their
    results carry ``attrs["bads"]`` on to the spatial analyses, which leave them out.

    :func:`wavescope.validate` reports dead sites through a boolean copy of the whole
    array; for in-memory float data the coordinates and attributes are validated on a
    zero-stride stand-in instead and dead sites are counted block by block, so checking a
    long recording costs no memory beyond one block.
    """
    if isinstance(da, xr.Dataset):
        raise DataModelError(
            f"{name} is a Dataset; pass one activity DataArray (for example ds['hidden'])"
        )
    streaming = (isinstance(da, xr.DataArray) and isinstance(da.data, np.ndarray)
                 and np.issubdtype(da.dtype, np.inexact))
    if nested():
        pass  # validated once, by the public call that made or received these data
    elif streaming:
        validate(da.copy(deep=False, data=np.broadcast_to(np.int8(0), da.shape)))
        report_dead_sites(da, stacklevel=4)
    else:
        validate(da)
    if need_space and not space_dims(da):
        raise DataModelError(
            f"{name} has dims {da.dims} but no spatial dims; wave measures need a grid "
            "('y', 'x' or 'x') or sensor positions ('channel' with x, y coordinates)"
        )
    if need_space or bads is not None:
        da = exclude_bads(da, bads, stacklevel=4)
    return da


def check_time_chunk(da: xr.DataArray) -> None:
    """Time must sit in one chunk for operations along time (filters, FFTs)."""
    chunks = da.chunksizes.get("time") if da.chunks is not None else None
    if chunks is not None and len(chunks) > 1:
        raise DataModelError(
            f"'time' is split into {len(chunks)} dask chunks; operations along time need it "
            "in one chunk: use da.chunk(time=-1) and chunk the other dims instead"
        )


def is_complex(da: xr.DataArray) -> bool:
    return np.issubdtype(da.dtype, np.complexfloating)


def check_phasic(da: xr.DataArray, func: str) -> xr.DataArray:
    """Accept an analytic signal (complex) or a phase in radians (real, units 'rad')."""
    if is_complex(da):
        return da
    if np.issubdtype(da.dtype, np.floating) and da.attrs.get("units") == "rad":
        return da
    raise DataModelError(
        f"{func} needs an analytic signal (complex) or a phase in radians (real with "
        f"attrs['units'] == 'rad'); got dtype {da.dtype} with units "
        f"{da.attrs.get('units')!r}. Compute one with "
        "wavescope.analysis.analytic_signal(da, band=(low, high))"
    )


def float_dtype(da: xr.DataArray) -> np.dtype:
    """The real dtype matching ``da`` (float32 for complex64/float32, else float64)."""
    return np.dtype(np.float32) if da.dtype in (np.complex64, np.float32) else np.dtype(float)


def derived_attrs(da: xr.DataArray, **changes) -> dict:
    """Attributes of a result derived from ``da``: the data model's plus ``changes``."""
    keep = ("sfreq", "time_units", "space_units", "source", "periodic", "provenance",
            "grid_dims", "analytic", "bads")
    attrs = {k: v for k, v in da.attrs.items() if k in keep}
    attrs.update({k: v for k, v in changes.items() if v is not None})
    return attrs


def json_attr(value) -> str:
    return json.dumps(value)


def frame_means(gx, gy, unit: bool, out, xp=np):
    """Fill ``out`` (5, frames) with the per-frame means over sites (the columns of the
    (frames, sites) arrays ``gx``, ``gy``) of gx, gy, ``|g|`` and, with ``unit``, of the
    unit vector (x, y), NaN sites skipped; returns ``out``. ``xp`` is the module of the
    arrays, numpy or torch (one implementation for the NumPy and the device kernels)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mag = xp.sqrt(gx * gx + gy * gy)
        groups = [((gx, gy, mag), xp.isfinite(mag))]
        if unit:
            ux, uy = gx / mag, gy / mag
            groups.append(((ux, uy), xp.isfinite(ux)))
        i = 0
        for parts, ok in groups:
            n = ok.sum(1)
            for part in parts:
                out[i] = xp.where(ok, part, 0.0).sum(1) / n
                i += 1
    return out


def product_sum(a, axis: int, periodic: bool, xp=np):
    """Sum of the backward and forward products ``a[i+1] conj a[i]`` at each site along
    ``axis`` (missing ones count 0), and how many of the two were present (int8).
    ``xp``: numpy or torch, the module of ``a``."""
    a = xp.moveaxis(a, axis, -1)
    if periodic:
        fwd = xp.roll(a, -1, -1) * xp.conj(a)
        back = xp.roll(fwd, 1, -1)
    else:
        d = a[..., 1:] * xp.conj(a[..., :-1])
        gap = xp.full_like(d[..., :1], np.nan)
        fwd, back = xp.concatenate([d, gap], -1), xp.concatenate([gap, d], -1)
    has_f, has_b = xp.isfinite(fwd), xp.isfinite(back)
    total = xp.where(has_f, fwd, 0) + xp.where(has_b, back, 0)
    count = xp.asarray(has_f, dtype=xp.int8) + xp.asarray(has_b, dtype=xp.int8)
    return xp.moveaxis(total, -1, axis), xp.moveaxis(count, -1, axis)


def phase_derivatives(frames, periodic: bool, smooth: float, window, xp=np):
    """Phase derivatives along x, y and time of each consecutive pair of the (n + 1, ny,
    nx) complex ``frames``: the angles of the products pooled by ``window`` (a callable,
    the Gaussian sum over (y, x); used where ``smooth > 0``), and the mask of sites that
    hold data (see ``flow._derivatives``). ``xp``: numpy or torch, the module of
    ``frames``."""
    px, nx_ = product_sum(frames, -1, periodic, xp)
    py, ny_ = product_sum(frames, -2, periodic, xp)
    pt = frames[1:] * xp.conj(frames[:-1])
    ok = xp.isfinite(pt) & (nx_[:-1] + nx_[1:] > 0) & (ny_[:-1] + ny_[1:] > 0)
    pt = xp.where(ok, pt, 0)
    px, py = px[:-1] + px[1:], py[:-1] + py[1:]
    if smooth > 0:
        px, py, pt = (window(p) for p in (px, py, pt))
    return xp.angle(px), xp.angle(py), xp.angle(pt), ok


def parabolic_offset(a, b, c, xp=np):
    """Vertex of the parabola through (-1, a), (0, b), (1, c), in bins (|offset| <= 0.5;
    0 where the parabola is not concave): the sub-bin position of a peak at ``b``.
    ``xp``: numpy or torch, the module of the arrays."""
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = a - 2 * b + c
        off = xp.where(denom < 0, 0.5 * (a - c) / denom, 0.0)
    return xp.clip(xp.nan_to_num(off), -0.5, 0.5)


# Horn-Schunck (optical_flow, NumPy and torch): tolerances (grid steps per frame) at or
# above this iterate in float32, smaller ones in float64: float32 resolves about 1e-7 of a
# speed, so 1e-5 leaves a wide margin.
HS_FLOAT32_TOL = 1e-5


def hs_neighbour_sum(a: np.ndarray, periodic: bool) -> np.ndarray:
    """Horn–Schunck neighbour sum: weight 2 for the 4 edge neighbours, 1 for the diagonals.

    Outside the grid counts as 0 unless ``periodic``. ``a`` has shape (..., ny, nx).
    """
    p = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(1, 1), (1, 1)],
               mode="wrap" if periodic else "constant")
    edges = p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]
    corners = p[..., :-2, :-2] + p[..., :-2, 2:] + p[..., 2:, :-2] + p[..., 2:, 2:]
    return 2 * edges + corners


def frame_blocks(n_frames: int, values_per_frame: int, block_values: int = BLOCK_VALUES):
    """Slices over frames holding about ``block_values`` values each."""
    step = max(1, block_values // max(1, values_per_frame))
    for start in range(0, n_frames, step):
        yield slice(start, min(start + step, n_frames))


def grid_coords(da: xr.DataArray) -> tuple[np.ndarray | None, np.ndarray]:
    """(y, x) coordinate values of a grid activity (y is None for a line)."""
    y = np.asarray(da["y"].values, dtype=float) if "y" in da.dims else None
    return y, np.asarray(da["x"].values, dtype=float)


def site_xy(da: xr.DataArray) -> np.ndarray:
    """(n_sites, 2) x, y positions in the order of the flattened space dims of ``da``
    (:func:`wavescope.positions` without its check: the data were checked once)."""
    return site_positions(da)


def space_units_per_time(da: xr.DataArray) -> str:
    return f"{da.attrs.get('space_units', 'a.u.')}/{da.attrs.get('time_units', 's')}"


def apply_ufunc(*args, **kwargs):
    """:func:`xarray.apply_ufunc`, quiet about dask casting a complex meta array to the
    real output dtype when it builds the graph (the kernels themselves never do), and
    with a guided error where a dask input splits a core dim (a space dim, say) that the
    kernel needs whole."""
    allow = (kwargs.get("dask_gufunc_kwargs") or {}).get("allow_rechunk", False)
    if kwargs.get("dask") == "parallelized" and not allow:
        for arg, dims in zip(args[1:], kwargs.get("input_core_dims") or (), strict=False):
            sizes = arg.chunksizes if getattr(arg, "chunks", None) is not None else {}
            split = [d for d in dims if len(sizes.get(d, ())) > 1]
            if split:
                d = split[0]
                raise DataModelError(
                    f"dim {d!r} is split into {len(sizes[d])} dask chunks, but this step "
                    f"needs {list(dims)} whole in each chunk: rechunk with "
                    f"da.chunk({{{d!r}: -1}}) and chunk the other dims (time, trial) instead"
                )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        return xr.apply_ufunc(*args, **kwargs)
