"""Spatial phase gradient, wrap-safe, on grids and on irregular sensor positions.

Convention (shared with the flow and plotting code): :func:`phase_gradient` returns an
:class:`xarray.Dataset` with variables ``dphi_dx`` and ``dphi_dy`` in radians per space
unit, on the same dims and coords as its input. A travelling wave
``phi = omega t - k . r`` has gradient ``-k``: it travels along ``-grad phi`` when
``omega > 0``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..core import DataModelError, space_dims
from ._circular import angle
from ._common import (
    BLOCK_VALUES,
    apply_ufunc,
    check_activity,
    check_phasic,
    derived_attrs,
    float_dtype,
    frame_blocks,
)
from ._contract import public
from ._fastgrid import GridStats
from ._geometry import Geometry, derivative, geometry_of
from ._torch import twin

__all__ = ["phase_gradient"]


@public
def phase_gradient(z: xr.DataArray, *, neighbors: str | int = "delaunay", bads=None,
                   device=None) -> xr.Dataset:
    """Spatial gradient of phase at every site and frame.

    Grids (dims ``y``, ``x`` or ``x``): each site averages the wrapped one-sided phase
    differences to its two neighbours along each axis, weighted for unequal spacing; one-
    sided at edges and beside NaN sites; periodic when ``attrs["periodic"]`` is 1. This
    equals the central difference ``angle(z[x+h] conj(z[x-h])) / 2h`` wherever that is
    unaliased, and stays exact down to wavelengths just above 2 sites (the two-site span
    aliases below 4).

    Irregular positions (dim ``channel``): at each site, weighted least squares of the
    wrapped differences to its neighbours, ``wrap(phi_j - phi_i) ~ g . (r_j - r_i)``,
    weights ``1 / |r_j - r_i|**2``; neighbours missing in a frame drop out of that
    frame's fit; sites with NaN throughout are left out of the neighbour graph.

    Parameters
    ----------
    z : xarray.DataArray
        Analytic signal (complex) or phase (real, ``units`` "rad"), with ``time`` and
        space dims; other dims (``trial``, ``feature``) are kept.
    neighbors : "delaunay" or int
        Irregular positions only: Delaunay neighbours, or the k nearest.
    bads : str, sequence of str or boolean array, optional
        Bad sites to leave out, besides those in ``attrs["bads"]`` (see
        :func:`wavescope.exclude_bads`: channels dropped, grid sites set to NaN).
    device : str, optional
        ``None`` (default): NumPy; ``"cpu"``, ``"cuda"``, ``"mps"``: the same differences
        in torch on that device, in blocks of frames (equal within 1e-6 relative).

    Returns
    -------
    xarray.Dataset
        ``dphi_dx``, ``dphi_dy`` in rad per ``space_units``; NaN where the phase is
        missing, the amplitude is zero, or too few neighbours exist. For a line
        (dim ``x`` alone) ``dphi_dy`` is 0. Lazy for dask inputs (any chunking of the
        non-space dims; each space dim in one chunk).

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal, phase_gradient
    >>> z = analytic_signal(sim.plane_wave((16, 16), n_times=100, speed=50.0))  # wavelength 10
    >>> g = phase_gradient(z).isel(time=slice(20, 80))
    >>> print(sorted(g.data_vars))
    ['dphi_dx', 'dphi_dy']
    >>> print(round(float(g["dphi_dx"].median()), 3))  # -2 pi / 10 rad per pixel
    -0.628
    >>> print(bool(abs(g["dphi_dy"]).max() < 1e-6))
    True
    """
    z = check_activity(z, name="z", bads=bads)
    empty = [d for d in space_dims(z) if z.sizes[d] == 0]
    if empty:
        raise DataModelError(f"z has no sites: spatial dim(s) {empty} have size 0")
    geom = geometry_of(z, neighbors)
    check_phasic(z, "phase_gradient")
    dims = list(space_dims(z))
    dtype = float_dtype(z)
    gx, gy = apply_ufunc(
        twin(_gradient_kernel, device),
        z,
        input_core_dims=[dims],
        output_core_dims=[dims, dims],
        kwargs={"geom": geom},
        dask="parallelized",
        output_dtypes=[dtype, dtype],
    )
    units = f"rad/{z.attrs.get('space_units')}"
    ds = xr.Dataset(
        {
            "dphi_dx": gx.transpose(*z.dims).assign_attrs(units=units, long_name="dphi/dx"),
            "dphi_dy": gy.transpose(*z.dims).assign_attrs(units=units, long_name="dphi/dy"),
        },
        attrs=derived_attrs(
            z,
            units=units,
            gradient_method="grid differences" if geom.kind != "irregular"
            else f"least squares over {neighbors} neighbours",
        ),
    )
    return ds


def phases_of_block(block: np.ndarray) -> np.ndarray:
    """Phase of a block of an analytic signal, or the block itself for phase input."""
    if np.iscomplexobj(block):
        return angle(block)
    return np.array(block, dtype=float_dtype_of(block))


def float_dtype_of(a: np.ndarray) -> np.dtype:
    return np.dtype(np.float32) if a.dtype in (np.complex64, np.float32) else np.dtype(float)


def _gradient_kernel(z: np.ndarray, *, geom: Geometry):
    space = geom.shape
    lead = z.shape[: z.ndim - len(space)]
    flat = z.reshape(-1, *space)
    dtype = float_dtype_of(z)
    gx = np.empty(flat.shape, dtype=dtype)
    gy = np.empty(flat.shape, dtype=dtype)
    fast = None
    if fast_grid(geom):
        step = max(1, BLOCK_VALUES // geom.n_sites)
        fast = GridStats(min(step, flat.shape[0]), *space, float(geom.y[1] - geom.y[0]),
                         float(geom.x[1] - geom.x[0]), dtype)
    for sl in frame_blocks(flat.shape[0], geom.n_sites):
        if fast is not None and fast.gradient(flat[sl], gx[sl], gy[sl]):
            continue
        phi = phases_of_block(flat[sl])
        if geom.kind == "irregular":
            phi = phi.reshape(phi.shape[0], -1)
        bx, by = derivative(phi, geom)
        gx[sl] = bx.reshape(gx[sl].shape)
        gy[sl] = by.reshape(gy[sl].shape)
    return gx.reshape(*lead, *space), gy.reshape(*lead, *space)


def fast_grid(geom: Geometry) -> bool:
    """True for the fused fast path: a uniform, non-periodic 2-D grid of 3 x 3 or more."""
    if geom.kind != "grid" or geom.periodic or min(geom.shape) < 3:
        return False
    return all(np.allclose(np.diff(c), c[1] - c[0], rtol=1e-9, atol=0.0)
               for c in (geom.x, geom.y))
