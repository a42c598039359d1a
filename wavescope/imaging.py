"""Imaging helpers for grid activities ``(..., time, y, x)``: regions of interest, spatial
binning, Gaussian smoothing with missing pixels, and ΔF/F.

Pixel noise dominates per-pixel phase gradients on raw imaging: bin (or smooth) before
wave analysis. Missing pixels are NaN throughout (outside a region of interest, bad
pixels, a vessel): binning averages the valid pixels of each block, smoothing is a
normalised convolution (the Gaussian-weighted mean of the valid neighbours), and every
analysis skips NaN sites. Each function returns a new activity with the data-model
attributes of its input and its own step appended to ``provenance["steps"]``.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from scipy import ndimage

from .core import DataModelError, exclude_bads, validate

__all__ = ["roi", "bin_pixels", "smooth", "dff"]


def _grid(da: xr.DataArray, func: str) -> xr.DataArray:
    validate(da)
    if "channel" in da.dims or not {"y", "x"} <= set(da.dims):
        raise DataModelError(
            f"{func} works on images: a grid activity with dims 'y' and 'x', got {da.dims}"
        )
    return da


def _with_step(out: xr.DataArray, da: xr.DataArray, **step) -> xr.DataArray:
    attrs = dict(da.attrs)
    history = json.loads(attrs.get("provenance", "{}") or "{}")
    history["steps"] = [*history.get("steps", []), step]
    attrs["provenance"] = json.dumps(history)
    out.attrs = attrs
    return out


def _mask_over(da: xr.DataArray, mask, what: str) -> xr.DataArray:
    if isinstance(mask, xr.DataArray):
        if set(mask.dims) != {"y", "x"}:
            raise DataModelError(f"the {what} must have dims ('y', 'x'), got {mask.dims}")
        mask = mask.transpose("y", "x").values
    mask = np.asarray(mask)
    shape = (da.sizes["y"], da.sizes["x"])
    if mask.dtype != bool or mask.shape != shape:
        raise DataModelError(
            f"the {what} must be a boolean array of shape (y, x) = {shape}, got "
            f"{mask.dtype} {mask.shape}"
        )
    return xr.DataArray(mask, dims=("y", "x"))


def roi(da: xr.DataArray, mask) -> xr.DataArray:
    """Keep a region of interest: pixels outside ``mask`` become NaN (missing).

    Parameters
    ----------
    da : xarray.DataArray
        Grid activity with dims ``y``, ``x``.
    mask : boolean array or DataArray, shape (y, x)
        True inside the region.

    Returns
    -------
    xarray.DataArray
        Float (or complex) values, NaN outside the region; dims, coords and attributes of
        ``da``.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import imaging
    >>> from wavescope import simulate as sim
    >>> da = sim.plane_wave((4, 4), n_times=10)
    >>> mask = np.zeros((4, 4), bool)
    >>> mask[1:3, 1:3] = True
    >>> print(int(imaging.roi(da, mask).isel(time=0).notnull().sum()))
    4
    """
    da = _grid(da, "roi")
    inside = _mask_over(da, mask, "roi mask")
    out = da.where(inside)
    return _with_step(out, da, step="roi", n_inside=int(inside.sum()))


def bin_pixels(da: xr.DataArray, factor: int | tuple[int, int], *,
               min_valid: float = 0.5) -> xr.DataArray:
    """Average ``factor`` x ``factor`` blocks of pixels (NaN-aware), keeping positions.

    Built on :meth:`xarray.DataArray.coarsen`: positions become the block centres (the
    mean of the pixel positions), edge pixels that do not fill a block are dropped
    ("trim"). Bad pixels (``attrs["bads"]``) are left out first; the binned grid has new
    sites, so the result carries no ``bads``.

    Parameters
    ----------
    da : xarray.DataArray
        Grid activity with dims ``y``, ``x``.
    factor : int or (fy, fx)
        Pixels per block along y and x.
    min_valid : float
        Smallest share of valid (non-NaN) pixels for a block to get a value; blocks with
        fewer are NaN.

    Returns
    -------
    xarray.DataArray
        Block means, dims of ``da``, sizes ``ny // fy`` and ``nx // fx``.

    Examples
    --------
    >>> from wavescope import imaging
    >>> from wavescope import simulate as sim
    >>> binned = imaging.bin_pixels(sim.plane_wave((8, 8), n_times=10), 2)
    >>> print(binned.sizes["y"], binned.sizes["x"], binned["x"].values)
    4 4 [0.5 2.5 4.5 6.5]
    """
    da = _grid(da, "bin_pixels")
    fy, fx = np.broadcast_to(np.asarray(factor), (2,))
    if not all(int(f) == f and f >= 1 for f in (fy, fx)):
        raise DataModelError(f"factor must be a positive integer or a pair, got {factor!r}")
    fy, fx = int(fy), int(fx)
    if fy > da.sizes["y"] or fx > da.sizes["x"]:
        raise DataModelError(
            f"factor {(fy, fx)} is larger than the image ({da.sizes['y']}, {da.sizes['x']})"
        )
    if not 0 < min_valid <= 1:
        raise DataModelError(f"min_valid must lie in (0, 1], got {min_valid}")
    clean = exclude_bads(da, stacklevel=3)
    if not np.issubdtype(clean.dtype, np.inexact):
        clean = clean.astype(float)
    blocks = {"y": fy, "x": fx}
    # Sum of the valid pixels over their count: the NaN-aware block mean.
    total = clean.fillna(0).coarsen(blocks, boundary="trim").sum()
    count = clean.notnull().coarsen(blocks, boundary="trim").sum()
    out = (total / count.where(count > 0)).where(count >= min_valid * fy * fx)
    out = _with_step(out, clean, step="bin_pixels", factor=[fy, fx], min_valid=min_valid)
    out.attrs.pop("bads", None)
    return out


def smooth(da: xr.DataArray, sigma: float | tuple[float, float], *,
           truncate: float = 4.0) -> xr.DataArray:
    """Gaussian spatial smoothing that honours missing pixels (normalised convolution).

    Each valid pixel becomes the Gaussian-weighted mean of the valid pixels around it,
    ``(G * (f m)) / (G * m)`` with ``m`` the valid-pixel mask, so NaN neighbours and the
    image edge neither darken nor shift the result; missing pixels stay missing. Periodic
    grids (``attrs["periodic"]``) wrap around.

    Parameters
    ----------
    da : xarray.DataArray
        Grid activity with dims ``y``, ``x`` (real or complex), evenly spaced.
    sigma : float or (sigma_y, sigma_x)
        Standard deviation of the Gaussian, in ``space_units`` (converted to pixels with
        the grid spacing).
    truncate : float
        Kernel radius, in standard deviations.

    Returns
    -------
    xarray.DataArray
        Smoothed values, dims, coords and attributes of ``da``.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import imaging
    >>> from wavescope import simulate as sim
    >>> da = sim.noise((16, 16), n_times=20, seed=0)
    >>> print(float(da.std()) > float(imaging.smooth(da, 1.5).std()))
    True
    """
    da = _grid(da, "smooth")
    sy, sx = (float(s) for s in np.broadcast_to(np.asarray(sigma, dtype=float), (2,)))
    if not (np.isfinite(sy) and np.isfinite(sx)) or sy < 0 or sx < 0:
        raise DataModelError(f"sigma must be non-negative, got {sigma!r}")
    step = {}
    for d in ("y", "x"):
        c = np.asarray(da[d].values, dtype=float)
        diffs = np.diff(c)
        if c.size > 1 and not np.allclose(diffs, diffs[0], rtol=1e-6):
            raise DataModelError(f"smooth needs an evenly spaced grid; '{d}' is not")
        step[d] = float(diffs[0]) if c.size > 1 else 1.0
    clean = exclude_bads(da, stacklevel=3)
    order = [d for d in clean.dims if d not in ("y", "x")] + ["y", "x"]
    moved = clean.transpose(*order)
    values = np.asarray(moved.values)
    if not np.issubdtype(values.dtype, np.inexact):
        values = values.astype(float)
    valid = ~np.isnan(values)
    px = [0.0] * (values.ndim - 2) + [sy / step["y"], sx / step["x"]]
    mode = "wrap" if bool(clean.attrs.get("periodic", 0)) else "constant"

    def blur(a):
        return ndimage.gaussian_filter(a, px, mode=mode, cval=0.0, truncate=truncate)

    weight = blur(valid.astype(float))
    filled = np.where(valid, values, 0)
    if np.iscomplexobj(filled):
        num = blur(filled.real) + 1j * blur(filled.imag)
    else:
        num = blur(filled.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        out_values = np.where(valid & (weight > 0), num / weight, np.nan)
    out = moved.copy(data=out_values.astype(np.result_type(values.dtype, np.float32)))
    out = out.transpose(*clean.dims)
    return _with_step(out, clean, step="smooth", sigma=[sy, sx],
                      space_units=clean.attrs.get("space_units"), truncate=truncate)


def dff(da: xr.DataArray, *, baseline: str = "percentile", percentile: float = 10.0
        ) -> xr.DataArray:
    """ΔF/F: ``(F - F0) / F0`` per pixel, with the baseline ``F0`` taken over time.

    Parameters
    ----------
    da : xarray.DataArray
        Fluorescence (real, positive), dims with ``time``; any other dims (``trial``,
        pixels) get their own baseline.
    baseline : {"percentile", "mean"}
        ``F0`` is the ``percentile``-th percentile of each pixel's time series (robust to
        the activity itself, which only raises F), or its mean. NaN samples are ignored.
    percentile : float
        In [0, 100], for ``baseline="percentile"``.

    Returns
    -------
    xarray.DataArray
        ΔF/F (``units`` "1"); NaN where ``F0`` is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> from wavescope import imaging
    >>> f = np.full((20, 2, 2), 100.0)
    >>> f[10] = 150.0
    >>> da = ws.from_array(f, ("time", "y", "x"), sfreq=10.0, source="recording")
    >>> print(imaging.dff(da).isel(y=0, x=0).values[8:12])
    [0.  0.  0.5 0. ]
    """
    validate(da)
    if np.iscomplexobj(da.values):
        raise DataModelError("dff takes fluorescence (real values), got complex data")
    if baseline == "percentile":
        if not 0 <= percentile <= 100:
            raise DataModelError(f"percentile must lie in [0, 100], got {percentile}")
        f0 = da.quantile(percentile / 100.0, dim="time", skipna=True).drop_vars("quantile")
    elif baseline == "mean":
        f0 = da.mean("time", skipna=True)
    else:
        raise DataModelError(f"baseline must be 'percentile' or 'mean', got {baseline!r}")
    f0 = f0.where(f0 > 0)
    out = ((da - f0) / f0).transpose(*da.dims)
    out = _with_step(out, da, step="dff", baseline=baseline,
                     percentile=percentile if baseline == "percentile" else None)
    out.attrs["units"] = "1"
    return out
