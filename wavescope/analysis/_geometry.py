"""Where the sites are, and how to differentiate across them (private).

Two kernels compute spatial derivatives of phase frame by frame:

- grids: differences between neighbouring sites along ``x`` and ``y``, wrap-safe, from
  the coordinate values (so unequal spacing is honoured);
- irregular positions: weighted least squares over each site's neighbours (Delaunay or
  k nearest), with per-site pseudo-inverses precomputed once and a per-frame masked
  solve when some neighbours are missing.

Both also serve real-valued fields (``wrap=False``), for divergence and curl.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from scipy import sparse
from scipy.spatial import ConvexHull, Delaunay, QhullError, cKDTree

from ..core import DataModelError, space_dims
from ._circular import wrap
from ._common import grid_coords, site_xy


@dataclass(frozen=True)
class Geometry:
    """The spatial layout of an activity, independent of its values."""

    kind: str  # "grid", "line" or "irregular"
    shape: tuple[int, ...]  # sizes of the space dims, in order
    xy: np.ndarray  # (n_sites, 2) flattened positions
    y: np.ndarray | None = None
    x: np.ndarray | None = None
    periodic: bool = False
    neighbors: str | int = "delaunay"
    _cache: OrderedDict = field(default_factory=OrderedDict, compare=False, repr=False)

    @property
    def n_sites(self) -> int:
        return int(np.prod(self.shape))

    def spacing(self) -> float:
        """Typical distance between sites: sqrt(area / n) over the convex hull, or the
        grid step; used to set search ranges and smoothing widths."""
        if self.kind != "irregular":
            steps = [np.median(np.diff(c)) for c in (self.x, self.y) if c is not None and
                     c.size > 1]
            return float(np.mean(steps)) if steps else 1.0
        return typical_spacing(self.xy)

    def stencil(self, alive: np.ndarray) -> Stencil:
        """Least-squares stencil over the sites marked ``alive`` (cached)."""
        key = alive.tobytes()
        if key not in self._cache:
            if len(self._cache) >= 8:
                self._cache.popitem(last=False)
            self._cache[key] = _build_stencil(self.xy, alive, self.neighbors)
        return self._cache[key]


def geometry_of(da: xr.DataArray, neighbors: str | int = "delaunay") -> Geometry:
    """The :class:`Geometry` of ``da`` (grid, line or irregular positions)."""
    dims = space_dims(da)
    if neighbors != "delaunay" and not (isinstance(neighbors, int | np.integer)
                                        and neighbors >= 2):
        raise ValueError(
            f"neighbors must be 'delaunay' or an integer k >= 2, got {neighbors!r}"
        )
    shape = tuple(da.sizes[d] for d in dims)
    empty = [d for d in dims if da.sizes[d] == 0]
    if empty:
        raise DataModelError(f"the activity has no sites: spatial dim(s) {empty} have size 0")
    xy = site_xy(da)
    if dims == ("channel",):
        if np.ptp(xy[:, 1]) == 0 or np.ptp(xy[:, 0]) == 0 or _collinear(xy):
            raise DataModelError(
                "the channel positions lie on a line; 2-D wave measures need 2-D positions "
                "(for sites along a line use the grid form with dim 'x')"
            )
        return Geometry("irregular", shape, xy, neighbors=neighbors)
    y, x = grid_coords(da)
    periodic = bool(da.attrs.get("periodic", 0))
    return Geometry("line" if y is None else "grid", shape, xy, y=y, x=x, periodic=periodic)


def _collinear(xy: np.ndarray) -> bool:
    centred = xy - xy.mean(axis=0)
    sv = np.linalg.svd(centred, compute_uv=False)
    return sv.size < 2 or sv[1] <= 1e-9 * sv[0]


def typical_spacing(xy: np.ndarray) -> float:
    """sqrt(convex-hull area / n): the side of the square each site stands for."""
    try:
        area = ConvexHull(xy).volume
    except QhullError:
        area = 0.0
    if area <= 0:
        d, _ = cKDTree(xy).query(xy, k=2)
        return float(np.median(d[:, 1]))
    return float(np.sqrt(area / len(xy)))


# --- grids --------------------------------------------------------------------------------


def _along(a: np.ndarray, axis: int, s: slice) -> np.ndarray:
    idx = [slice(None)] * a.ndim
    idx[axis] = s
    return a[tuple(idx)]


def axis_derivative(
    f: np.ndarray, axis: int, coord: np.ndarray, *, periodic: bool = False, is_phase: bool = True
) -> np.ndarray:
    """Derivative of ``f`` along ``axis`` at every site, in units of f per coordinate unit.

    Each site averages its two one-sided slopes, weighted for unequal spacing (the
    second-order non-uniform central difference); one-sided at edges and beside NaN.
    For phases (``is_phase``) each one-sided difference is taken on the circle, so the
    average equals ``angle(z[i+1] conj(z[i-1])) / 2h`` whenever that is unaliased, and
    stays right down to wavelengths just above 2 sites (the two-site span of that formula
    aliases below 4 sites).
    """
    n = f.shape[axis]
    out_dtype = f.dtype if np.issubdtype(f.dtype, np.floating) else np.dtype(float)
    if n < 2:
        return np.zeros(f.shape, dtype=out_dtype)
    d = np.diff(f, axis=axis)
    if is_phase:
        wrap(d, out=d)
    h = np.diff(coord)
    shape = [1] * f.ndim
    shape[axis] = n - 1
    uniform = bool(np.allclose(h, h[0], rtol=1e-9, atol=0.0))
    if uniform:
        d *= 1.0 / h[0]
    else:
        d /= h.reshape(shape)
    if periodic:
        last = _along(f, axis, slice(0, 1)) - _along(f, axis, slice(n - 1, n))
        if is_phase:
            wrap(last, out=last)
        h_wrap = float(np.mean(h))
        last = last / h_wrap
        d = np.concatenate([last, d, last], axis=axis)
        h = np.concatenate([[h_wrap], h, [h_wrap]])
        shape[axis] = n + 1
    out = np.empty(f.shape, dtype=d.dtype)
    lo = 0 if periodic else 1
    hi = n if periodic else n - 1
    inner = _along(out, axis, slice(lo, hi))
    plus = _along(d, axis, slice(1, None) if periodic else slice(1, None))
    minus = _along(d, axis, slice(0, -1))
    if uniform:
        np.add(plus, minus, out=inner)
        inner *= 0.5
    else:
        sh = list(shape)
        sh[axis] = hi - lo
        hm, hp = h[:-1].reshape(sh), h[1:].reshape(sh)  # spacing behind / ahead of a site
        np.divide(hm * plus + hp * minus, hm + hp, out=inner)
    gaps = np.isnan(inner)
    if gaps.any():  # beside a missing site: the one-sided slope that exists
        inner[gaps] = np.fmax(plus, minus)[gaps]
    if not periodic:
        _along(out, axis, slice(0, 1))[...] = _along(d, axis, slice(0, 1))
        _along(out, axis, slice(n - 1, n))[...] = _along(d, axis, slice(n - 2, n - 1))
    return out


# --- irregular positions ------------------------------------------------------------------


@dataclass(frozen=True)
class Stencil:
    """Per-site least-squares stencils over padded neighbour lists.

    ``nbr[i, k]`` is the k-th neighbour of site i (padded with i itself and weight 0).
    ``pinv[i, k]`` are the (d/dx, d/dy) weights of the difference to that neighbour when
    every neighbour is present; ``wd`` and ``wdd`` build the normal equations when some
    are missing. ``ok`` marks sites whose neighbours span two dimensions.
    """

    nbr: np.ndarray
    pinv: np.ndarray
    wd: np.ndarray
    wdd: np.ndarray
    ok: np.ndarray


def _neighbour_pairs(xy: np.ndarray, neighbors) -> np.ndarray:
    n = len(xy)
    if neighbors == "delaunay" and n >= 3:
        try:
            tri = Delaunay(xy)
        except QhullError:
            tri = None
        if tri is not None:
            s = tri.simplices
            pairs = np.concatenate([s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]])
            return np.unique(np.sort(pairs, axis=1), axis=0)
    k = min(n - 1, 6 if neighbors == "delaunay" else int(neighbors))
    if k < 1:
        return np.zeros((0, 2), dtype=int)
    _, idx = cKDTree(xy).query(xy, k=k + 1)
    pairs = np.column_stack([np.repeat(np.arange(n), k), idx[:, 1:].ravel()])
    return np.unique(np.sort(pairs, axis=1), axis=0)


def _build_stencil(xy: np.ndarray, alive: np.ndarray, neighbors) -> Stencil:
    n = len(xy)
    live = np.flatnonzero(alive)
    lists: list[list[int]] = [[] for _ in range(n)]
    if live.size >= 2:
        for a, b in live[_neighbour_pairs(xy[live], neighbors)]:
            lists[a].append(b)
            lists[b].append(a)
    width = max(1, max(len(v) for v in lists))
    nbr = np.repeat(np.arange(n)[:, None], width, axis=1)
    for i, v in enumerate(lists):
        nbr[i, : len(v)] = v
    off = xy[nbr] - xy[:, None, :]  # (n, K, 2); zero on padding
    r2 = np.sum(off * off, axis=-1)
    w = np.zeros_like(r2)
    np.divide(1.0, r2, out=w, where=r2 > 0)  # each neighbour's directional slope counts once
    wd = w[..., None] * off
    wdd = np.stack([wd[..., 0] * off[..., 0], wd[..., 0] * off[..., 1],
                    wd[..., 1] * off[..., 1]], axis=-1)
    a = wdd.sum(axis=1)  # (n, 3): normal matrix entries
    det = a[:, 0] * a[:, 2] - a[:, 1] ** 2
    ok = alive & (det > 1e-8 * (a[:, 0] + a[:, 2]) ** 2)
    inv = np.zeros((n, 3))
    inv[ok, 0] = a[ok, 2] / det[ok]
    inv[ok, 1] = -a[ok, 1] / det[ok]
    inv[ok, 2] = a[ok, 0] / det[ok]
    pinv = np.stack([inv[:, None, 0] * wd[..., 0] + inv[:, None, 1] * wd[..., 1],
                     inv[:, None, 1] * wd[..., 0] + inv[:, None, 2] * wd[..., 1]], axis=-1)
    return Stencil(nbr=nbr, pinv=pinv, wd=wd, wdd=wdd, ok=ok)


def stencil_derivative(f: np.ndarray, st: Stencil, *, is_phase: bool = True):
    """(d/dx, d/dy) of ``f`` (frames, n_sites) by least squares over each site's neighbours."""
    d = f[:, st.nbr] - f[:, :, None]  # (B, n, K)
    if is_phase:
        wrap(d, out=d)
    finite = np.isfinite(d)
    if finite.all():
        gx = np.einsum("bnk,nk->bn", d, st.pinv[..., 0])
        gy = np.einsum("bnk,nk->bn", d, st.pinv[..., 1])
    else:  # some neighbours missing in some frames: solve the normal equations per frame
        d[~finite] = 0.0
        a = np.einsum("bnk,nkc->bnc", finite.astype(d.dtype), st.wdd)
        b = np.einsum("bnk,nkc->bnc", d, st.wd)
        det = a[..., 0] * a[..., 2] - a[..., 1] ** 2
        good = det > 1e-8 * (a[..., 0] + a[..., 2]) ** 2
        det = np.where(good, det, np.nan)
        gx = (a[..., 2] * b[..., 0] - a[..., 1] * b[..., 1]) / det
        gy = (a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]) / det
    bad = ~st.ok[None, :] | np.isnan(f)
    gx[bad] = np.nan
    gy[bad] = np.nan
    return gx, gy


# --- both ---------------------------------------------------------------------------------


def derivative(f: np.ndarray, geom: Geometry, *, is_phase: bool = True):
    """(d/dx, d/dy) of ``f`` with shape (frames, *geom.shape); NaN sites are skipped."""
    if geom.kind == "irregular":
        alive = ~np.isnan(f).all(axis=0)
        return stencil_derivative(f, geom.stencil(alive), is_phase=is_phase)
    if geom.kind == "line":
        gx = axis_derivative(f, -1, geom.x, periodic=geom.periodic, is_phase=is_phase)
        gy = np.zeros_like(gx)
        gy[np.isnan(gx)] = np.nan
        return gx, gy
    gx = axis_derivative(f, -1, geom.x, periodic=geom.periodic, is_phase=is_phase)
    gy = axis_derivative(f, -2, geom.y, periodic=geom.periodic, is_phase=is_phase)
    missing = np.isnan(gx) | np.isnan(gy)  # a gradient is whole or missing
    if missing.any():
        gx[missing] = np.nan
        gy[missing] = np.nan
    return gx, gy


def smoothing_matrix(geom: Geometry, sigma: float) -> sparse.csr_matrix:
    """Row-normalisable Gaussian weights between sites within 3 sigma (sparse, n x n)."""
    tree = cKDTree(geom.xy)
    pairs = tree.query_pairs(3.0 * sigma, output_type="ndarray")
    n = geom.n_sites
    i = np.concatenate([pairs[:, 0], pairs[:, 1], np.arange(n)])
    j = np.concatenate([pairs[:, 1], pairs[:, 0], np.arange(n)])
    d2 = np.sum((geom.xy[i] - geom.xy[j]) ** 2, axis=1)
    return sparse.csr_matrix((np.exp(-d2 / (2 * sigma * sigma)), (i, j)), shape=(n, n))
