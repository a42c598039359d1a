"""Velocity fields of waves on a grid: Horn–Schunck optical flow and its geometry.

:func:`optical_flow` estimates a velocity field per pair of consecutive frames, on the
phase of an analytic signal (wrap-safe derivatives) or on amplitude. :func:`divergence`
and :func:`curl` measure where the field spreads out or turns, and
:func:`critical_points` finds where it vanishes and classifies each point (source, sink,
spiral, centre, saddle) by its Jacobian.

Everything is vectorised: all frames (and trials, features, ...) are updated together in
NumPy, so the cost is a few array passes per iteration rather than a Python loop per pixel.

References
----------
Horn, B. K. P. & Schunck, B. G. (1981). Determining optical flow. Artificial Intelligence
17, 185–203.
Townsend, R. G. & Gong, P. (2018). Detection and analysis of spatiotemporal patterns in
brain activity. PLoS Comput. Biol. 14, e1006643.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import ndimage
from tqdm.auto import tqdm

from .._checks import positive
from .._safeio import check_memory
from ..core import DataModelError
from ._common import (
    HS_FLOAT32_TOL,
    apply_ufunc,
    check_activity,
    check_time_chunk,
    hs_neighbour_sum,
    phase_derivatives,
)
from ._contract import public
from ._geometry import axis_derivative
from ._torch import optical_flow_core, resolve

__all__ = ["optical_flow", "divergence", "curl", "critical_points"]

# Sites per block of frame pairs in optical_flow: the working arrays of a block stay in
# the CPU cache (a few MB), while each NumPy call is still long enough to be efficient.
_SITES_PER_BLOCK = 1 << 15


# --------------------------------------------------------------------------- optical flow


@public
def optical_flow(
    z: xr.DataArray,
    *,
    on: str = "phase",
    alpha: float | str = "auto",
    max_iter: int = 100,
    tol: float = 1e-4,
    progress: bool = False,
    bads=None,
    smooth: float | None = None,
    device=None,
) -> xr.Dataset:
    """Horn–Schunck optical flow of a grid activity, one field per pair of frames.

    Solves, for each pair of consecutive frames, the Horn–Schunck problem
    ``min sum (f_x u + f_y v + f_t)^2 + alpha^2 (|grad u|^2 + |grad v|^2)`` by Jacobi
    iterations (the 1/12-weighted neighbour average of Horn & Schunck 1981), all frames at
    once. On phase the derivatives are wrap-safe angles of complex products: spatial ones
    ``angle(sum w z[x+1] conj z[x])`` over the backward and forward pairs of both frames
    (one-sided at edges and beside missing sites), the temporal one
    ``angle(sum w z[t+1] conj z[t])``, each sum taken over a Gaussian window ``w`` of
    ``smooth`` grid steps; no phase is ever unwrapped. For a plane wave the solution is
    the phase velocity: direction of travel and speed ``omega / |grad phi|``.

    Parameters
    ----------
    z : xarray.DataArray
        Grid activity with dims ``(..., time, y, x)`` in any order (``trial``, ``feature``
        and other dims are carried through). Complex analytic signal for ``on="phase"``;
        real or complex (its modulus is used) for ``on="amplitude"``. NaN sites are
        missing data: they get no data term, so their flow is filled in by the smoothness
        term alone. On phase, derivatives are one-sided at grid edges and beside NaN
        sites; on amplitude those sites get no data term (see Notes).
    on : {"phase", "amplitude"}
        Which image to track. For amplitude, the data are first divided by their standard
        deviation over all sites and frames, so ``alpha`` means the same whatever the units.
    alpha : float or "auto"
        Smoothness weight. Derivatives enter in radians (phase) or standard deviations
        (amplitude) per grid step and per frame, so a number does not depend on the
        physical spacing or sampling rate; 0.1 is the field's (Cobrawap's) choice.
        "auto" (default): per frame pair, the root-mean-square spatial derivative over its
        sites, so data and smoothness weigh alike whatever the wavelength in grid steps.
        A fixed 0.1 over-weights smoothness on long waves (0.006 rad per step for a
        50 mm/s, 1 Hz wave on a 0.05 mm grid), and 100 iterations then stop far short of
        the solution (speeds several times too low; docs/notes/flow.md).
    max_iter : int
        Maximum number of Jacobi iterations per frame pair.
    tol : float
        A frame pair stops iterating once the largest change of ``u`` or ``v`` over its
        sites is below ``tol``, in grid steps per frame. Iterations run in float32 for
        ``tol >= 1e-5`` (twice as fast, resolving about 1e-7 of a speed) and in float64
        below.
    progress : bool
        Show a progress bar over blocks of frames (useful for long recordings).
    smooth : float, optional
        Phase only: standard deviation, in grid steps, of the Gaussian window over which
        the complex products of each derivative are summed before their angle is taken
        (default 3; 0 for single-site differences, as Cobrawap). Noise then averages out
        instead of inflating the gradient and shrinking the speed (at noise 0.3,
        single-site differences give 4 to 40 % of the true speed of a 10 to 50 mm/s wave
        on a 0.05 mm grid), and a plane wave stays exact up to the edges. Curved fields
        are blurred over about ``smooth`` steps (a rotating wave's centre stays in place).
        Amplitude images are differenced as they are (smooth them beforehand if needed:
        a smoothing window cut by the grid edge tilts their gradient there).
    bads : str, sequence of str or boolean array, optional
        Bad sites to leave out (set to NaN, i.e. missing data), besides those in
        ``attrs["bads"]`` (see :func:`wavescope.exclude_bads`).
    device : str, optional
        ``None`` (default): NumPy. ``"cpu"``, ``"cuda"``, ``"mps"``: the derivatives and
        the Jacobi iterations run in torch on that device, in blocks of frame pairs sized
        for it; equal to NumPy within 1e-6 relative (float64, ``tol < 1e-5``; float32
        iterates match NumPy's up to their own rounding).

    Returns
    -------
    xarray.Dataset
        ``u`` (velocity along +x) and ``v`` (along +y) in ``space_units`` per
        ``time_units`` (attribute ``units``), dims as ``z`` with ``time`` holding the
        ``T - 1`` midpoints between consecutive frames; ``valid`` (bool, same dims) is
        False where the data term was missing (a NaN site in either frame and, on
        amplitude, the grid edge and the neighbours of NaN sites); ``n_iter``
        (dims without y, x) counts the iterations each pair took, and ``alpha`` (same
        dims) holds the smoothness weight used. Attributes keep the data-model ones of
        ``z`` and record ``on``, ``alpha``, ``smooth``, ``max_iter`` and ``tol``.

    Raises
    ------
    DataModelError
        When ``z`` is not a 2-D evenly spaced grid activity (channel data need
        interpolating onto a grid first) or, for phase, is not complex.

    Notes
    -----
    The frame-pair time coordinate is the midpoint ``(t_i + t_{i+1}) / 2``; the velocity
    of pair ``i`` uses the actual interval ``t_{i+1} - t_i``.

    Only the flow component across a wave front is seen in the data (the aperture
    problem); the component along it comes from the smoothness term and the boundaries.
    A one-sided difference of a curved amplitude profile is taken half a step away and
    tilts the gradient, which on a converged plane wave turns the amplitude flow by tens
    of degrees, hence central differences only on amplitude. A locally linear phase is
    differenced exactly either way.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal, optical_flow
    >>> z = analytic_signal(sim.plane_wave((16, 16), n_times=40, speed=50.0))
    >>> flow = optical_flow(z.isel(time=slice(10, 13)))
    >>> print(sorted(flow.data_vars), flow.sizes["time"])
    ['alpha', 'n_iter', 'u', 'v', 'valid'] 2
    >>> u = flow["u"].isel(y=slice(4, -4), x=slice(4, -4))  # away from the edges
    >>> print(round(float(u.median()), 0), round(float(abs(flow["v"]).max()), 3))
    50.0 0.0
    """
    z = check_activity(z, name="z", bads=bads)
    if on not in ("phase", "amplitude"):
        raise ValueError(f"on must be 'phase' or 'amplitude', got {on!r}")
    if not (isinstance(alpha, str) and alpha == "auto"):
        alpha = positive("alpha", alpha, " or 'auto'")
    if smooth is None:
        smooth = 3.0 if on == "phase" else 0.0
    smooth = float(smooth)
    if not np.isfinite(smooth) or smooth < 0:
        raise ValueError(f"smooth must be a non-negative number of grid steps, got {smooth!r}")
    if on == "amplitude" and smooth > 0:
        raise ValueError(
            "smooth applies to phase only; smooth an amplitude image beforehand (a window "
            "cut by the grid edge tilts the amplitude gradient there) and pass smooth=0"
        )
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    max_iter = int(max_iter)
    tol = float(tol)
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a non-negative number, got {tol!r}")
    dy, dx = _grid_spacing(z, "optical flow")
    if z.sizes["time"] < 2:
        raise DataModelError("optical flow needs at least 2 frames along 'time'")
    resolve(device)  # an unknown or missing device fails before any work
    if on == "phase" and not np.issubdtype(z.dtype, np.complexfloating):
        raise DataModelError(
            "optical flow on phase needs the complex analytic signal; compute it with "
            "wavescope.analysis.analytic_signal (or pass np.exp(1j * phase) if you hold "
            "phases in radians), or use on='amplitude' for real data"
        )
    zt = z.transpose(*[d for d in z.dims if d not in ("time", "y", "x")], "time", "y", "x")
    scale = None
    if on == "amplitude":  # one scale for the whole input, so that blocks agree
        a = np.abs(zt)
        scale = float(a.std(skipna=True)) if bool(a.notnull().any()) else 0.0
    kwargs = {"on": on, "alpha": alpha, "smooth": smooth, "max_iter": max_iter, "tol": tol,
              "scale": scale, "spacing": (dy, dx), "device": device, "progress": progress}
    if zt.chunks is None:
        return _flow(zt, **kwargs)
    # Lazy: each dask block of the leading dims (trial, feature, ...) is one task, with
    # its frames and the grid whole.
    check_time_chunk(zt)
    for d in ("y", "x"):
        if len(zt.chunksizes[d]) > 1:
            raise DataModelError(f"dim {d!r} is split into dask chunks; optical flow needs "
                                 f"the grid whole: use z.chunk({{{d!r}: -1}})")
    return xr.map_blocks(_flow, zt, kwargs=kwargs, template=_flow_template(zt, **kwargs))


def _flow(zt: xr.DataArray, *, on, alpha, smooth, max_iter, tol, scale, spacing, device,
          progress, arrays=None) -> xr.Dataset:
    """Optical flow of ``zt`` (dims (..., time, y, x), in memory); with ``arrays`` (u, v,
    valid, n_iter, alpha), only the Dataset around them."""
    periodic = bool(zt.attrs.get("periodic", 0))
    other = list(zt.dims[:-3])
    t = np.asarray(zt["time"].values, dtype=float)
    if arrays is None:
        arrays = _flow_arrays(zt, on=on, alpha=alpha, smooth=smooth, max_iter=max_iter,
                              tol=tol, scale=scale, spacing=spacing, periodic=periodic,
                              device=device, progress=progress)
    u, v, valid, n_iter, alphas = arrays

    dims = (*other, "time", "y", "x")
    coords = {name: c for name, c in zt.coords.items() if "time" not in c.dims}
    coords["time"] = ("time", (t[:-1] + t[1:]) / 2, dict(zt["time"].attrs))
    velocity_units = f"{zt.attrs['space_units']}/{zt.attrs.get('time_units', 's')}"
    attrs = {k: val for k, val in zt.attrs.items() if k not in ("units", "truth")}
    attrs.update(flow_on=on, alpha=alpha, smooth=smooth, max_iter=max_iter, tol=tol)
    return xr.Dataset(
        {
            "u": (dims, u, {"units": velocity_units, "long_name": "velocity along +x"}),
            "v": (dims, v, {"units": velocity_units, "long_name": "velocity along +y"}),
            "valid": (dims, valid, {"long_name": "data term present (site held data)"}),
            "n_iter": ((*other, "time"), n_iter, {"long_name": "Jacobi iterations"}),
            "alpha": ((*other, "time"), alphas, {"long_name": "smoothness weight alpha"}),
        },
        coords=coords,
        attrs=attrs,
    )


def _flow_template(zt: xr.DataArray, **kwargs) -> xr.Dataset:
    """The lazy result's layout: _flow's Dataset around empty dask arrays, chunked as the
    leading dims of ``zt``."""
    import dask.array

    lead = [zt.chunksizes[d] for d in zt.dims[:-3]]
    pairs = (zt.sizes["time"] - 1,)
    grid = [(zt.sizes["y"],), (zt.sizes["x"],)]
    field = dict(chunks=(*lead, pairs, *grid))
    per_pair = dict(chunks=(*lead, pairs))
    shape = lambda c: tuple(sum(n) for n in c["chunks"])  # noqa: E731
    arrays = (dask.array.empty(shape(field), dtype=float, **field),
              dask.array.empty(shape(field), dtype=float, **field),
              dask.array.empty(shape(field), dtype=bool, **field),
              dask.array.empty(shape(per_pair), dtype=np.int64, **per_pair),
              dask.array.empty(shape(per_pair), dtype=float, **per_pair))
    return _flow(zt, **kwargs, arrays=arrays)


def _flow_arrays(zt: xr.DataArray, *, on, alpha, smooth, max_iter, tol, scale, spacing,
                 periodic, device, progress):
    """(u, v, valid, n_iter, alpha) of ``zt`` (dims (..., time, y, x)) as NumPy arrays."""
    # Horn-Schunck keeps about a dozen float32/float64 frame stacks alive at once.
    check_memory(12 * 8 * zt.size, f"the optical-flow working arrays of {dict(zt.sizes)}",
                 "pass fewer frames at a time (z.isel(time=slice(...))) or a coarser grid")
    dy, dx = spacing
    values = np.asarray(zt.values)
    if on == "phase":
        with np.errstate(invalid="ignore", divide="ignore"):
            frames = values / np.abs(values)  # unit phasors; zero modulus -> NaN (no phase)
    else:
        frames = np.abs(values) if np.iscomplexobj(values) else values.astype(float)
        frames = frames / scale if scale > 0 else frames

    lead = values.shape[:-3]
    n_t, ny, nx = values.shape[-3:]
    frames = frames.reshape(-1, n_t, ny, nx)
    n_pairs = n_t - 1
    u = np.empty((frames.shape[0], n_pairs, ny, nx))
    v = np.empty_like(u)
    valid = np.empty(u.shape, dtype=bool)
    n_iter = np.empty(u.shape[:2], dtype=np.int64)
    alphas = np.empty(u.shape[:2])

    # Blocks of frames (along time, per leading index) keep the working set in cache.
    step = max(1, _SITES_PER_BLOCK // (ny * nx))
    blocks = [(i, s) for i in range(frames.shape[0]) for s in range(0, n_pairs, step)]
    if device is not None:  # the same loop in torch, in blocks sized for the device
        u, v, valid, n_iter, alphas = optical_flow_core(
            frames, phase=on == "phase", periodic=periodic, smooth=smooth, alpha=alpha,
            max_iter=max_iter, tol=tol, device=device, progress=progress)
        blocks = []  # so the NumPy loop below has nothing left to do
    for i, start in tqdm(blocks, disable=not progress, desc="optical flow", unit="block"):
        stop = min(start + step, n_pairs)
        gx, gy, gt, ok = _derivatives(frames[i, start : stop + 1], on == "phase", periodic,
                                      smooth)
        for g in (gx, gy, gt):
            g[~ok] = 0.0  # missing data: no data term, smoothness only
        a = _auto_alpha(gx, gy, ok) if alpha == "auto" else np.full(len(gx), alpha)
        uu, vv, nn = _horn_schunck(gx, gy, gt, a[:, None, None], max_iter, tol, periodic)
        u[i, start:stop], v[i, start:stop] = uu, vv
        valid[i, start:stop], n_iter[i, start:stop] = ok, nn
        alphas[i, start:stop] = a

    t = np.asarray(zt["time"].values, dtype=float)
    dt = np.diff(t)[:, None, None]
    u = (u * dx / dt).reshape(*lead, n_pairs, ny, nx)  # grid steps per frame -> physical
    v = (v * dy / dt).reshape(*lead, n_pairs, ny, nx)
    valid = valid.reshape(u.shape)
    n_iter = n_iter.reshape(*lead, n_pairs)
    alphas = alphas.reshape(*lead, n_pairs)
    return u, v, valid, n_iter, alphas


def _grid_spacing(obj, what: str) -> tuple[float, float]:
    """(dy, dx) of an evenly spaced 2-D grid, or a DataModelError that says what to do."""
    if "channel" in obj.dims:
        raise DataModelError(
            f"{what} needs a 2-D grid (dims y, x), but these data are on irregular channels; "
            "interpolate them onto a regular grid first (e.g. scipy.interpolate.griddata "
            "of the sensor positions), or use the gradient-based wave measures, which work "
            "on positions"
        )
    if "y" not in obj.dims or "x" not in obj.dims:
        raise DataModelError(
            f"{what} needs a 2-D grid with dims 'y' and 'x'; got dims {tuple(obj.dims)} "
            "(a line or ring has no 2-D velocity: use the phase gradient along x instead)"
        )
    spacing = []
    for d in ("y", "x"):
        c = np.asarray(obj[d].values, dtype=float)
        if c.size < 2:
            raise DataModelError(f"{what} needs at least 2 sites along '{d}', got {c.size}")
        steps = np.diff(c)
        if not np.allclose(steps, steps[0], rtol=1e-6, atol=0):
            raise DataModelError(
                f"grid coordinate '{d}' is not evenly spaced; {what} needs a regular grid "
                "(interpolate onto one first)"
            )
        spacing.append(float(steps[0]))
    return spacing[0], spacing[1]


def _central_difference(a: np.ndarray, axis: int, periodic: bool) -> np.ndarray:
    """Central difference per grid step along ``axis``; NaN at the edges of a non-periodic
    grid (the torch twin is ``_torch._central``)."""
    a = np.moveaxis(a, axis, -1)
    if periodic:
        fwd = np.roll(a, -1, axis=-1) - a
        back = np.roll(fwd, 1, axis=-1)
    else:
        d = np.diff(a, axis=-1)
        gap = np.full((*d.shape[:-1], 1), np.nan)
        fwd = np.concatenate([d, gap], axis=-1)
        back = np.concatenate([gap, d], axis=-1)
    return np.moveaxis((back + fwd) / 2, -1, axis)


def _derivatives(frames: np.ndarray, phase: bool, periodic: bool, smooth: float):
    """Spatial (both frames) and temporal derivatives of each consecutive pair.

    ``frames`` has shape (n + 1, ny, nx); returns three (n, ny, nx) arrays, per grid step
    and per frame (0 where the pair holds no data), and the (n, ny, nx) mask of sites that
    hold data. On phase each derivative is the angle of a sum of complex products pooled
    over a Gaussian window of ``smooth`` steps: for a plane wave every product is the same
    phasor, so the pooled angle is exact, edges and holes included, while independent noise
    averages out of the sum. On amplitude a one-sided difference of a curved profile
    estimates the derivative half a step away and tilts the gradient, and that error leaks
    along the wave front (the aperture problem), so amplitude uses central differences only.
    """
    if phase:
        return phase_derivatives(frames, periodic, smooth,
                                 lambda p: _window(p, smooth, periodic))
    gx = _central_difference(frames, -1, periodic)
    gy = _central_difference(frames, -2, periodic)
    gx = (gx[:-1] + gx[1:]) / 2
    gy = (gy[:-1] + gy[1:]) / 2
    gt = frames[1:] - frames[:-1]
    ok = np.isfinite(gx) & np.isfinite(gy) & np.isfinite(gt)
    return gx, gy, gt, ok


def _window(a: np.ndarray, sigma: float, periodic: bool) -> np.ndarray:
    """Gaussian-weighted sum over the last two (y, x) axes; outside the grid counts 0."""
    sig = (0,) * (a.ndim - 2) + (sigma, sigma)
    return ndimage.gaussian_filter(a, sig, mode="wrap" if periodic else "constant",
                                   truncate=3.0)


def _auto_alpha(gx: np.ndarray, gy: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Per pair, the root-mean-square spatial derivative over the sites with data (1 for a
    pair without any gradient, whose flow is 0 whatever alpha)."""
    n = ok.reshape(len(ok), -1).sum(axis=1)
    power = ((gx**2 + gy**2) * ok).reshape(len(ok), -1).sum(axis=1)
    rms = np.sqrt(np.divide(power, n, out=np.zeros(len(n)), where=n > 0))
    return np.where(rms > 0, rms, 1.0)


class _Padded:
    """Fields stored with a one-site border, so neighbour sums are shifts of a flat array.

    Arrays have shape (..., ny + 2, nx + 2), C order. Flat offsets +-1 and +-(nx + 2)
    reach the x and y neighbours, so every operation runs over long contiguous memory
    instead of short rows. The border holds 0 (no neighbour) or, for a periodic grid,
    copies of the opposite edge, refreshed by :meth:`wrap`.
    """

    def __init__(self, nx: int, periodic: bool):
        self.row, self.periodic = nx + 2, periodic

    @staticmethod
    def pad(a: np.ndarray) -> np.ndarray:
        return np.pad(a, [(0, 0)] * (a.ndim - 2) + [(1, 1), (1, 1)])

    @staticmethod
    def interior(a: np.ndarray) -> np.ndarray:
        return a[..., 1:-1, 1:-1]

    def wrap(self, a: np.ndarray) -> None:
        if self.periodic:
            a[..., 1:-1, 0], a[..., 1:-1, -1] = a[..., 1:-1, -2], a[..., 1:-1, 1]
            a[..., 0, :], a[..., -1, :] = a[..., -2, :], a[..., 1, :]

    def neighbour_sum(self, a: np.ndarray, out: np.ndarray, t1: np.ndarray,
                      t2: np.ndarray) -> None:
        """``out`` = 2 (edge neighbours) + (diagonal neighbours) of ``a``, in 6 passes.

        Values on the border of ``out`` are meaningless (but finite when the buffers
        start at 0); callers multiply them by 0.
        """
        f, o, x, y, w = a.reshape(-1), out.reshape(-1), t1.reshape(-1), t2.reshape(-1), self.row
        np.add(f[:-2], f[2:], out=x[1:-1])  # left + right
        np.add(x[: -2 * w], x[2 * w :], out=o[w:-w])  # the four diagonals
        np.add(f[: -2 * w], f[2 * w :], out=y[w:-w])  # below + above
        x += y
        o += x
        o += x


def _horn_schunck(gx, gy, gt, alpha, max_iter, tol, periodic):
    """Jacobi iterations on a stack of frame pairs; each pair stops on its own.

    With the neighbour means ``u_bar = w S(u)`` (``S`` the Horn–Schunck neighbour sum,
    ``w`` 1 / its weights, renormalised at edges) the update
    ``u = u_bar - gx (gx u_bar + gy v_bar + gt) / D``, ``D = alpha^2 + gx^2 + gy^2``
    (likewise v), is the per-site affine map
    ``[u, v] = w M [S(u), S(v)] + c`` with ``M = [[alpha^2 + gy^2, -gx gy],
    [-gx gy, alpha^2 + gx^2]] / D`` and ``c = -[gx, gy] gt / D``, precomputed with ``w``
    folded in. ``u`` and ``v`` are stacked as (pair, 2, y, x) so each step is one NumPy
    call. Pairs that have converged are written out and dropped from the working stack,
    so a pair's result does not depend on which other pairs it was computed with.
    """
    n, ny, nx = gx.shape
    grid = _Padded(nx, periodic)
    out = np.zeros((n, 2, ny, nx))
    n_out = np.full(n, max_iter, dtype=np.int64)
    active = np.arange(n)
    w = 1.0 / hs_neighbour_sum(np.ones((1, ny, nx)), periodic)
    denom = alpha**2 + gx**2 + gy**2
    # float32 halves the memory traffic; its resolution (1e-7 relative) is far below the
    # usual tolerance, and a tighter tolerance gets float64. Padding with 0 keeps the
    # border of every iterate at 0 (periodic grids refill it by wrapping).
    dtype = np.float32 if tol >= HS_FLOAT32_TOL else np.float64
    diag = grid.pad(np.stack([alpha**2 + gy**2, alpha**2 + gx**2], axis=1) * (w / denom)[:, None])
    off = grid.pad(-gx * gy * w / denom)[:, None].astype(dtype)
    diag = diag.astype(dtype)
    const = grid.pad(np.stack([gx, gy], axis=1) * (-gt / denom)[:, None]).astype(dtype)
    uv, new, t1, t2 = (np.zeros(diag.shape, dtype) for _ in range(4))
    for it in range(1, max_iter + 1):
        grid.neighbour_sum(uv, t2, new, t1)  # t2 = [S(u), S(v)]
        np.multiply(diag, t2, out=new)
        new += np.multiply(off, t2[:, ::-1], out=t1)  # the cross terms take S(v), S(u)
        new += const
        grid.wrap(new)
        uv -= new
        np.abs(uv, out=uv)
        change = uv.reshape(len(uv), -1).max(axis=1)
        uv, new = new, uv
        done = change < tol
        if done.any():
            idx = active[done]
            out[idx], n_out[idx] = grid.interior(uv[done]), it
            keep = ~done
            active = active[keep]
            if active.size == 0:
                return out[:, 0], out[:, 1], n_out
            uv, diag, off, const = uv[keep], diag[keep], off[keep], const[keep]
            new, t1, t2 = (np.zeros(uv.shape, dtype) for _ in range(3))
    out[active] = grid.interior(uv)
    return out[:, 0], out[:, 1], n_out


# --------------------------------------------------------------------- field geometry


def _check_flow(flow) -> xr.Dataset:
    if not isinstance(flow, xr.Dataset) or "u" not in flow or "v" not in flow:
        raise DataModelError(
            f"expected a velocity Dataset with variables 'u' and 'v' (as returned by "
            f"optical_flow), got {type(flow).__name__}"
        )
    if flow["u"].dims != flow["v"].dims:
        raise DataModelError(
            f"'u' has dims {flow['u'].dims} but 'v' has {flow['v'].dims}; they must match"
        )
    _grid_spacing(flow["u"], "a velocity field")
    for d in ("y", "x"):
        c = np.asarray(flow[d].values, dtype=float)
        if np.any(np.diff(c) <= 0):
            raise DataModelError(f"flow coordinate '{d}' is not strictly increasing")
    return flow


def _spatial_derivative(da: xr.DataArray, dim: str, periodic: bool) -> xr.DataArray:
    """d(da)/d(dim) in physical units: central differences, one-sided at edges and NaN.
    Lazy for a dask ``da`` (``dim`` whole in each chunk)."""
    c = np.asarray(da[dim].values, dtype=float)
    out = apply_ufunc(
        lambda a: axis_derivative(np.asarray(a, dtype=float), -1, c, periodic=periodic,
                                  is_phase=False),
        da, input_core_dims=[[dim]], output_core_dims=[[dim]], dask="parallelized",
        output_dtypes=[float])
    return out.transpose(*da.dims)


def _field(flow: xr.Dataset, data: xr.DataArray, name: str, long_name: str) -> xr.DataArray:
    u = flow["u"]
    units = f"1/{flow.attrs.get('time_units', u.attrs.get('time_units', 's'))}"
    attrs = {k: v for k, v in flow.attrs.items() if k in (
        "sfreq", "time_units", "space_units", "source", "periodic", "provenance")}
    attrs.update(units=units, long_name=long_name)
    return xr.DataArray(data.data, dims=u.dims, coords=u.coords, attrs=attrs, name=name)


@public
def divergence(flow: xr.Dataset) -> xr.DataArray:
    """Divergence ``du/dx + dv/dy`` of a velocity field.

    Parameters
    ----------
    flow : xarray.Dataset
        Velocity field with ``u``, ``v`` on a grid (dims ``(..., y, x)``), e.g. from
        :func:`optical_flow`.

    Returns
    -------
    xarray.DataArray
        Same dims as ``u``, in 1 / ``time_units``: positive where the flow spreads out (a
        source), negative where it converges. Central differences with the grid spacing
        of the coordinates; one-sided at edges and beside NaN; periodic grids wrap.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal, divergence, optical_flow
    >>> z = analytic_signal(sim.radial_wave((16, 16), n_times=40, kind="source"))
    >>> flow = optical_flow(z.isel(time=slice(10, 14)))
    >>> print(bool(divergence(flow).mean() > 0))  # a source: flow leaves the centre
    True
    """
    _check_flow(flow)
    periodic = bool(flow.attrs.get("periodic", 0))
    div = _spatial_derivative(flow["u"], "x", periodic) + _spatial_derivative(
        flow["v"], "y", periodic)
    return _field(flow, div, "divergence", "divergence of the velocity")


@public
def curl(flow: xr.Dataset) -> xr.DataArray:
    """Curl (vorticity) ``dv/dx - du/dy`` of a velocity field.

    Parameters
    ----------
    flow : xarray.Dataset
        Velocity field with ``u``, ``v`` on a grid (dims ``(..., y, x)``).

    Returns
    -------
    xarray.DataArray
        Same dims as ``u``, in 1 / ``time_units``: positive for counter-clockwise rotation
        (x right, y up), negative for clockwise. Differences as in :func:`divergence`.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal, optical_flow, curl
    >>> z = analytic_signal(sim.rotating_wave((16, 16), n_times=40, sense="ccw"))
    >>> flow = optical_flow(z.isel(time=slice(10, 14)))
    >>> print(bool(curl(flow).mean() > 0))  # counter-clockwise
    True
    """
    _check_flow(flow)
    periodic = bool(flow.attrs.get("periodic", 0))
    rot = _spatial_derivative(flow["v"], "x", periodic) - _spatial_derivative(
        flow["u"], "y", periodic)
    return _field(flow, rot, "curl", "curl (vorticity) of the velocity")


# -------------------------------------------------------------------- critical points

CRITICAL_POINT_KINDS = ("source", "sink", "spiral-out", "spiral-in", "centre", "saddle",
                        "degenerate")


@public
def critical_points(
    flow: xr.Dataset, *, frame: int | None = None, tol: float = 0.1
) -> xr.Dataset:
    """Points where the velocity vanishes, located to sub-grid precision and classified.

    In every grid cell where both ``u`` and ``v`` change sign among the four corners, the
    bilinear interpolants of ``u`` and ``v`` are solved exactly for their common zeros
    (a quadratic). The Jacobian ``J = [[du/dx, du/dy], [dv/dx, dv/dy]]`` of the bilinear
    model there decides the kind by its eigenvalues ``sigma +- i omega`` (``sigma =
    trace / 2``; ``omega`` the rotation rate, 0 when the eigenvalues are real):

    - ``det < 0``: ``saddle``;
    - ``det > 0`` and ``omega <= tol |sigma|``: ``source`` (unstable node, sigma > 0) or
      ``sink`` (stable node, sigma < 0);
    - ``det > 0`` and ``|sigma| <= tol omega``: ``centre`` (pure rotation);
    - otherwise (focus): ``spiral-out`` (sigma > 0) or ``spiral-in`` (sigma < 0);
    - ``det == 0``: ``degenerate``.

    The tolerance matters because a radial wave's flow is a star node (``J = lambda I``)
    and a rotating wave's a centre (``trace = 0``): both sit on a boundary of the exact
    classification, so measurement noise would flip them at random without it.

    Parameters
    ----------
    flow : xarray.Dataset
        Velocity field with ``u``, ``v`` on a grid (dims ``(..., y, x)``).
    frame : int, optional
        Position along ``time`` of the one frame to analyse; all frames when None.
    tol : float
        Ratio below which rotation (``omega / |sigma|``) or growth (``|sigma| / omega``)
        counts as none. 0 gives the exact textbook classes.

    Returns
    -------
    xarray.Dataset
        One entry per point along dim ``point``: coordinates ``x``, ``y`` (space units) and
        every other dim of the flow (``time``, ``trial``, ...); variables ``kind``
        (one of ``CRITICAL_POINT_KINDS``), ``rotation`` ("ccw", "cw" for foci and centres,
        "" otherwise), ``trace`` (1 / time unit), ``det`` (1 / time unit squared) and
        ``curl`` (``dv/dx - du/dy`` at the point, 1 / time unit).

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal, optical_flow, critical_points
    >>> z = analytic_signal(sim.rotating_wave((16, 16), n_times=40, sense="ccw"))
    >>> flow = optical_flow(z.isel(time=slice(10, 14)))
    >>> points = critical_points(flow)
    >>> print(points["kind"].values.tolist(), points["rotation"].values.tolist())
    ['centre', 'centre', 'centre'] ['ccw', 'ccw', 'ccw']
    >>> print(np.round(points["x"].values, 2), np.round(points["y"].values, 2))  # the centre
    [7.5 7.5 7.5] [7.5 7.5 7.5]
    """
    _check_flow(flow)
    tol = float(tol)
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a non-negative number, got {tol!r}")
    if frame is not None:
        if "time" not in flow["u"].dims:
            raise ValueError("frame was given but the flow has no 'time' dimension")
        n_time = flow.sizes["time"]
        if int(frame) != frame or not -n_time <= frame < n_time:
            raise ValueError(f"frame must be an integer in [-{n_time}, {n_time}), got {frame!r}")
        flow = flow.isel(time=[int(frame)])
    other = [d for d in flow["u"].dims if d not in ("y", "x")]
    u = np.asarray(flow["u"].transpose(*other, "y", "x").values, dtype=float)
    v = np.asarray(flow["v"].transpose(*other, "y", "x").values, dtype=float)
    lead = u.shape[:-2]
    u = u.reshape(-1, *u.shape[-2:])
    v = v.reshape(-1, *v.shape[-2:])
    xc = np.asarray(flow["x"].values, dtype=float)
    yc = np.asarray(flow["y"].values, dtype=float)
    periodic = bool(flow.attrs.get("periodic", 0))
    if periodic:  # cells across the seam join the last row/column to the first
        u = np.concatenate([u, u[:, :1]], axis=1)
        u = np.concatenate([u, u[:, :, :1]], axis=2)
        v = np.concatenate([v, v[:, :1]], axis=1)
        v = np.concatenate([v, v[:, :, :1]], axis=2)
        xc = np.append(xc, xc[-1] + (xc[1] - xc[0]))
        yc = np.append(yc, yc[-1] + (yc[1] - yc[0]))

    frame_idx, x, y, jac = _bilinear_zeros(u, v, xc, yc)
    if periodic:
        x = xc[0] + np.mod(x - xc[0], xc[-1] - xc[0])
        y = yc[0] + np.mod(y - yc[0], yc[-1] - yc[0])
        frame_idx, x, y, jac = _unique_points(frame_idx, x, y, jac, xc, yc)
    ux, uy, vx, vy = jac
    trace, det, rot = ux + vy, ux * vy - uy * vx, vx - uy
    kind = _classify(jac, tol)
    rotation = np.where(np.isin(kind, ("spiral-out", "spiral-in", "centre")),
                        np.where(rot > 0, "ccw", "cw"), "")

    coords = {"x": ("point", x), "y": ("point", y)}
    unravelled = np.unravel_index(frame_idx, lead) if lead else ()
    for d, idx in zip(other, unravelled, strict=True):
        coords[d] = ("point", np.asarray(flow[d].values)[idx], dict(flow[d].attrs))
    time_units = flow.attrs.get("time_units", "s")
    return xr.Dataset(
        {
            "kind": ("point", kind.astype("<U10")),
            "rotation": ("point", rotation.astype("<U3")),
            "trace": ("point", trace, {"units": f"1/{time_units}"}),
            "det": ("point", det, {"units": f"1/{time_units}^2"}),
            "curl": ("point", rot, {"units": f"1/{time_units}"}),
        },
        coords=coords,
        attrs={"space_units": flow.attrs.get("space_units", "pixel"),
               "time_units": time_units, "tol": tol},
    )


def _classify(jac: np.ndarray, tol: float) -> np.ndarray:
    ux, uy, vx, vy = jac
    trace, det = ux + vy, ux * vy - uy * vx
    # Eigenvalues sigma +- sqrt(disc) / 2; disc = trace^2 - 4 det, written so that a
    # star node (J = lambda I) gives exactly 0.
    sigma = trace / 2
    disc = (ux - vy) ** 2 + 4 * uy * vx
    omega = np.sqrt(np.maximum(-disc, 0.0)) / 2  # rotation rate of a focus, 0 for a node
    positive = det > 0
    node = positive & (omega <= tol * np.abs(sigma))
    centre = positive & ~node & (np.abs(sigma) <= tol * omega)
    spiral = positive & ~node & ~centre
    kind = np.full(trace.shape, "degenerate", dtype="<U10")
    kind[det < 0] = "saddle"
    kind[node & (sigma > 0)] = "source"
    kind[node & (sigma < 0)] = "sink"
    kind[spiral & (sigma > 0)] = "spiral-out"
    kind[spiral & (sigma < 0)] = "spiral-in"
    kind[centre] = "centre"
    return kind


def _bilinear_zeros(u, v, xc, yc):
    """Common zeros of the bilinear interpolants of u and v in every grid cell.

    With ``s``, ``t`` in [0, 1] across a cell along x and y, ``u = a0 + a1 s + a2 t +
    a3 s t`` (likewise ``v`` with ``b``). Eliminating ``s`` leaves the quadratic
    ``(a0 + a2 t)(b1 + b3 t) - (b0 + b2 t)(a1 + a3 t) = 0``.
    """
    def corners(f):
        return f[:, :-1, :-1], f[:, :-1, 1:], f[:, 1:, :-1], f[:, 1:, 1:]

    cu, cv = corners(u), corners(v)
    lo_u, hi_u = np.minimum.reduce(cu), np.maximum.reduce(cu)
    lo_v, hi_v = np.minimum.reduce(cv), np.maximum.reduce(cv)
    cand = (lo_u <= 0) & (hi_u >= 0) & (lo_v <= 0) & (hi_v >= 0)
    cand &= np.isfinite(lo_u) & np.isfinite(lo_v)
    f, iy, ix = np.nonzero(cand)
    u00, u10, u01, u11 = (c[f, iy, ix] for c in cu)
    v00, v10, v01, v11 = (c[f, iy, ix] for c in cv)
    a = (u00, u10 - u00, u01 - u00, u11 - u10 - u01 + u00)
    b = (v00, v10 - v00, v01 - v00, v11 - v10 - v01 + v00)
    qa = a[2] * b[3] - b[2] * a[3]
    qb = a[0] * b[3] + a[2] * b[1] - b[0] * a[3] - b[2] * a[1]
    qc = a[0] * b[1] - b[0] * a[1]
    scale = np.maximum.reduce([np.abs(c) for c in (*a, *b)]) ** 2
    scale = np.where(scale > 0, scale, 1.0)

    roots = []
    with np.errstate(invalid="ignore", divide="ignore"):
        quad = np.abs(qa) > 1e-12 * scale
        disc = qb**2 - 4 * qa * qc
        sq = np.sqrt(np.where(disc >= 0, disc, np.nan))
        q = -(qb + np.where(qb >= 0, 1.0, -1.0) * sq) / 2
        t1 = np.where(quad, q / qa, np.where(np.abs(qb) > 1e-12 * scale, -qc / qb, np.nan))
        t2 = np.where(quad & (q != 0), qc / q, np.nan)
        for t in (t1, t2):
            den_a, den_b = a[1] + a[3] * t, b[1] + b[3] * t
            use_a = np.abs(den_a) >= np.abs(den_b)
            s = np.where(use_a, -(a[0] + a[2] * t) / den_a, -(b[0] + b[2] * t) / den_b)
            roots.append((s, t))

    eps = 1e-9
    xs, ys, fs, jacs = [], [], [], []
    for s, t in roots:
        ok = np.isfinite(s) & np.isfinite(t)
        ok &= (s >= -eps) & (s <= 1 + eps) & (t >= -eps) & (t <= 1 + eps)
        s, t = np.clip(s[ok], 0, 1), np.clip(t[ok], 0, 1)
        jx, jy = ix[ok], iy[ok]
        hx, hy = xc[jx + 1] - xc[jx], yc[jy + 1] - yc[jy]
        xs.append(xc[jx] + s * hx)
        ys.append(yc[jy] + t * hy)
        fs.append(f[ok])
        aa = [c[ok] for c in a]
        bb = [c[ok] for c in b]
        jacs.append(np.stack([
            (aa[1] + aa[3] * t) / hx, (aa[2] + aa[3] * s) / hy,
            (bb[1] + bb[3] * t) / hx, (bb[2] + bb[3] * s) / hy,
        ]))
    frame_idx = np.concatenate(fs)
    x, y = np.concatenate(xs), np.concatenate(ys)
    jac = np.concatenate(jacs, axis=1)
    return _unique_points(frame_idx, x, y, jac, xc, yc)


def _unique_points(frame_idx, x, y, jac, xc, yc):
    """Drop repeats of a zero found in two cells (it lies on their shared edge or corner)."""
    hx, hy = xc[1] - xc[0], yc[1] - yc[0]
    key = np.stack([frame_idx, np.round(x / hx * 1e6), np.round(y / hy * 1e6)], axis=1)
    _, first = np.unique(key, axis=0, return_index=True)
    first = np.sort(first)
    order = np.lexsort((x[first], y[first], frame_idx[first]))
    keep = first[order]
    return frame_idx[keep], x[keep], y[keep], jac[:, keep]
