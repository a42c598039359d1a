"""Reading stretches of a lazy recording whose ``time`` is split into dask chunks (private).

detect_waves streams a long analytic signal: its frames are decided piece by piece and
its surrogates are made from windows, each read here. A stretch is assembled from the
dask chunks it touches; the last chunks computed are kept, so stretches read in time
order compute every chunk once.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..core import DataModelError, space_dims


def time_split(da: xr.DataArray) -> bool:
    """Whether ``da`` is dask-backed with ``time`` in more than one chunk."""
    return da.chunks is not None and len(da.chunksizes.get("time", ())) > 1


def check_frames_whole(da: xr.DataArray, func: str) -> None:
    """Each frame must lie in one chunk: the spatial measures read whole frames."""
    if da.chunks is None:
        return
    split = [d for d in space_dims(da) if len(da.chunksizes.get(d, ())) > 1]
    if split:
        d = split[0]
        raise DataModelError(
            f"{func} reads whole frames, but dim {d!r} is split into "
            f"{len(da.chunksizes[d])} dask chunks; chunk along time instead: "
            f"da.chunk({{{d!r}: -1, 'time': n}})"
        )


class TimeReader:
    """Stretches ``[a, b)`` along ``time`` of a dask-backed DataArray, as NumPy-backed
    DataArrays equal to ``da.isel(time=slice(a, b)).compute()``.

    The chunks a stretch touches are computed whole and the most recent ones kept
    (``keep`` of them), so stretches read in increasing order of their start compute
    each chunk once.
    """

    def __init__(self, da: xr.DataArray, keep: int = 3):
        self.da, self.keep = da, max(1, int(keep))
        self.axis = da.get_axis_num("time")
        self.bounds = np.concatenate([[0], np.cumsum(da.chunksizes["time"])])
        self.cache: dict[int, np.ndarray] = {}
        self.computed = 0  # chunks computed (a chunk evicted and read again counts twice)
        self.finite = None  # per series: a finite value in a chunk computed so far

    def _chunk(self, i: int) -> np.ndarray:
        if i not in self.cache:
            a, b = self.bounds[i], self.bounds[i + 1]
            self.cache[i] = np.asarray(self.da.isel(time=slice(a, b)).values)
            self.computed += 1
            finite = np.isfinite(self.cache[i]).any(axis=self.axis)
            self.finite = finite if self.finite is None else self.finite | finite
            for old in sorted(self.cache)[:-self.keep]:
                if old != i:
                    del self.cache[old]
        return self.cache[i]

    def read(self, a: int, b: int) -> xr.DataArray:
        """``da`` over time samples ``a`` to ``b - 1`` (0 <= a < b <= n), in memory."""
        first = int(np.searchsorted(self.bounds, a, side="right")) - 1
        last = int(np.searchsorted(self.bounds, b, side="left")) - 1
        parts = []
        for i in range(first, last + 1):
            lo, hi = self.bounds[i], self.bounds[i + 1]
            block = self._chunk(i)
            index = [slice(None)] * block.ndim
            index[self.axis] = slice(max(a, lo) - lo, min(b, hi) - lo)
            parts.append(block[tuple(index)])
        values = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=self.axis)
        return self.da.isel(time=slice(a, b)).copy(data=values)
