"""Wave measures per frame: PGD, speed, direction, wavelength, plane-wave fit, radial and
rotating waves, synchrony, and a pattern label.

Conventions (``docs/notes/waves.md``): a travelling wave is ``phi = omega t - k . r + phi0``;
it travels along ``-grad phi`` when ``omega > 0`` (along ``+grad phi`` when the phase runs
backwards, which model hidden states can do). Directions are radians counter-clockwise from +x, in
(-pi, pi]; speeds are in space units per time unit (m/s for recordings, pixel per time unit for
models); wavelengths in space units.

Every function takes an analytic signal (complex) or a phase (real, ``units`` "rad"),
and returns values per frame: the input's dims without the space dims (``time`` and any
``trial``/``feature``). The streaming ones (:func:`pgd`, :func:`wave_speed`,
:func:`wave_direction`, :func:`wavelength`, :func:`synchrony`) read the input block by
block and never hold the full gradient, so their memory does not grow with recording
length beyond the output. Dask inputs stay lazy (``time`` in one chunk where a function
needs the temporal frequency).
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ..core import DataModelError, space_dims
from ._circular import TWO_PI
from ._common import (
    BLOCK_VALUES,
    apply_ufunc,
    check_activity,
    check_phasic,
    check_time_chunk,
    derived_attrs,
    frame_blocks,
    frame_means,
    space_units_per_time,
)
from ._contract import public
from ._decide import (
    centre_kernel,
    flat_frames,
    label_kernel,
    pool_kernel,
    wave_intervals,
    wrap_angle,
)
from ._fastgrid import GridStats
from ._geometry import Geometry, derivative, geometry_of
from ._patterns import PatternFinder
from ._planefit import (
    FIELDS,
    PlaneFitter,
    phasors,
    plane_fit_kernel,
)
from ._torch import twin
from .gradient import fast_grid, float_dtype_of, phases_of_block

__all__ = [
    "pgd",
    "local_pgd",
    "wave_speed",
    "wave_direction",
    "wavelength",
    "fit_plane_wave",
    "radial_correlation",
    "rotational_correlation",
    "synchrony",
    "classify_patterns",
    "PATTERNS",
]

PGD_FORMS = ("rubino", "unit")
#: Labels of :func:`classify_patterns`, in the order their codes are numbered.
PATTERNS = ("none", "planar", "source", "sink", "rotating-cw", "rotating-ccw", "synchronous")


# --- input handling -------------------------------------------------------------------------


def _checked(z, func: str, bads=None) -> xr.DataArray:
    z = check_activity(z, name="z", bads=bads)
    return check_phasic(z, func)


def _per_frame(z: xr.DataArray, kernel, n_out: int, kwargs: dict, dtype=float):
    """Apply a (..., *space) -> n_out x (...) kernel over frames, lazily for dask."""
    dims = list(space_dims(z))
    out = apply_ufunc(
        kernel, z, input_core_dims=[dims], output_core_dims=[[]] * n_out, kwargs=kwargs,
        dask="parallelized", output_dtypes=[dtype] * n_out,
    )
    return out if n_out > 1 else (out,)


def _shaped(block: np.ndarray, geom: Geometry) -> np.ndarray:
    return block if geom.kind == "irregular" else block.reshape(block.shape[0], *geom.shape)


# --- streaming gradient statistics ----------------------------------------------------------


def _stats_kernel(z: np.ndarray, *, geom: Geometry, unit: bool):
    """Per frame: mean dphi/dx, mean dphi/dy, mean |grad|, mean unit vector (x, y)."""
    flat, lead = flat_frames(z, geom)
    out = np.full((5, flat.shape[0]), np.nan)
    fast = None
    if not unit and fast_grid(geom):
        step = max(1, BLOCK_VALUES // geom.n_sites)
        fast = GridStats(min(step, flat.shape[0]), *geom.shape, float(geom.y[1] - geom.y[0]),
                         float(geom.x[1] - geom.x[0]), float_dtype_of(flat))
    for sl in frame_blocks(flat.shape[0], geom.n_sites):
        # blocks whose every frame holds a NaN (imaging outside its window) go to the
        # general path at once: the fast path would recompute them all there
        if fast is not None and not _all_frames_missing(flat[sl]):
            sums = fast.sums(flat[sl].reshape(-1, *geom.shape))
            clean = np.isfinite(sums[2])
            for i in range(3):
                out[i, sl] = sums[i] / geom.n_sites
            if clean.all():
                continue
            rows = np.arange(sl.start, sl.stop)[~clean]  # frames with NaN: general path
            out[:, rows] = _block_stats(flat[rows], geom, unit)
            continue
        out[:, sl] = _block_stats(flat[sl], geom, unit)
    return tuple(o.reshape(lead) for o in out)


def _all_frames_missing(block: np.ndarray) -> bool:
    """Whether every frame (row) of ``block`` holds a NaN, reading little in the usual
    cases (a clean frame, a site missing in every frame, frames missing whole): a frame's
    first NaN site settles every frame that misses it too; one pass over the block only
    when that settles no other frame (NaNs scattered over sites)."""
    rows = np.arange(block.shape[0])
    while rows.size:
        nan = np.isnan(block[rows[0]])
        if not nan.any():
            return False
        left = rows[~np.isnan(block[rows, nan.argmax()])]  # frames that have that site
        if left.size == rows.size - 1:
            return bool(np.isnan(block).any(axis=1)[left].all())
        rows = left
    return True


def _block_stats(block: np.ndarray, geom: Geometry, unit: bool) -> np.ndarray:
    phi = phases_of_block(block)
    gx, gy = derivative(_shaped(phi, geom), geom)
    return _means(gx.reshape(phi.shape[0], -1), gy.reshape(phi.shape[0], -1), unit)


def _means(gx: np.ndarray, gy: np.ndarray, unit: bool) -> np.ndarray:
    """Per frame (rows): mean gx, gy, |g| and (with ``unit``) unit vector, NaN skipped."""
    return frame_means(gx, gy, unit, np.full((5, gx.shape[0]), np.nan))


def _gradient_stats(z_or_gradient, func: str, *, unit: bool = False, bads=None,
                    device=None, checked: bool = False) -> dict:
    """Frame means of the gradient from a gradient Dataset or (streaming) from z
    (``checked``: z has passed :func:`_checked` already)."""
    kernel = twin(_stats_kernel, device)  # a bad device fails here, whatever the input
    if isinstance(z_or_gradient, xr.Dataset):
        ds = z_or_gradient
        missing = [v for v in ("dphi_dx", "dphi_dy") if v not in ds]
        if missing:
            raise DataModelError(
                f"the Dataset lacks {missing}; pass the output of phase_gradient or an "
                "analytic signal"
            )
        dims = list(space_dims(ds["dphi_dx"]))
        if not dims:
            raise DataModelError("the gradient Dataset has no spatial dims")
        out = apply_ufunc(
            _dataset_stats_kernel, ds["dphi_dx"], ds["dphi_dy"], input_core_dims=[dims, dims],
            output_core_dims=[[]] * 5, kwargs={"n_space": len(dims), "unit": unit},
            dask="parallelized", output_dtypes=[float] * 5,
        )
        return dict(zip(("gx", "gy", "mag", "ux", "uy"), out, strict=True))
    z = z_or_gradient if checked else _checked(z_or_gradient, func, bads)
    geom = geometry_of(z)
    gx, gy, mag, ux, uy = _per_frame(z, kernel, 5, {"geom": geom, "unit": unit})
    return {"gx": gx, "gy": gy, "mag": mag, "ux": ux, "uy": uy}


def _dataset_stats_kernel(gx: np.ndarray, gy: np.ndarray, *, n_space: int, unit: bool):
    """Frame means of a stored gradient, block by block (as :func:`_stats_kernel`)."""
    lead = gx.shape[: gx.ndim - n_space]
    gx = gx.reshape(-1, int(np.prod(gx.shape[len(lead):])))
    gy = gy.reshape(gx.shape)
    out = np.full((5, gx.shape[0]), np.nan)
    for sl in frame_blocks(gx.shape[0], gx.shape[1]):
        out[:, sl] = _means(gx[sl], gy[sl], unit)
    return tuple(o.reshape(lead) for o in out)


def _attrs_from(obj) -> dict:
    return derived_attrs(obj) if isinstance(obj, xr.DataArray | xr.Dataset) else {}


# --- temporal frequency per frame -----------------------------------------------------------


def _omega_kernel(z: np.ndarray, *, n_space: int, sfreq: float):
    """Per frame: circular mean over sites of the phase advance to the next sample, as
    angular frequency (rad per time unit), and its standard error from the spread of
    the sites' advances (as for a circular mean); the last sample repeats the previous."""
    lead = z.shape[: z.ndim - 1 - n_space]
    n_t = z.shape[len(lead)]
    flat = z.reshape(-1, n_t, int(np.prod(z.shape[len(lead) + 1:])))
    out = np.full((flat.shape[0], n_t), np.nan)
    se = np.full((flat.shape[0], n_t), np.nan)
    for i in range(flat.shape[0]):
        for sl in frame_blocks(n_t - 1, flat.shape[2]):
            u = phasors(flat[i, sl.start:sl.stop + 1])
            prod = u[1:] * np.conj(u[:-1])
            ok = np.isfinite(prod)
            prod[~ok] = 0.0
            total = prod.sum(axis=1)
            n = ok.sum(axis=1)
            out[i, sl] = np.angle(total) * sfreq
            with np.errstate(invalid="ignore", divide="ignore"):
                resid = prod * np.conj(total / np.abs(total))[:, None]
                scatter = np.sum(resid.imag**2, axis=1) / (n - 1)
                se[i, sl] = sfreq * np.sqrt(scatter / n) / (resid.real.sum(axis=1) / n)
            out[i, sl][n == 0] = np.nan
            se[i, sl][n < 2] = np.nan
        out[i, -1] = out[i, -2] if n_t > 1 else np.nan
        se[i, -1] = se[i, -2] if n_t > 1 else np.nan
    return out.reshape(*lead, n_t), se.reshape(*lead, n_t)


def _frame_omega(z: xr.DataArray, *, with_se: bool = False):
    """Temporal frequency per frame (rad per time unit); with ``with_se`` also its SE."""
    check_time_chunk(z)
    if z.sizes["time"] < 2:
        raise DataModelError("the temporal frequency needs at least 2 time samples")
    dims = ["time", *space_dims(z)]
    out = apply_ufunc(
        _omega_kernel, z, input_core_dims=[dims], output_core_dims=[["time"], ["time"]],
        kwargs={"n_space": len(dims) - 1, "sfreq": float(z.attrs["sfreq"])},
        dask="parallelized", output_dtypes=[float, float],
    )
    order = [d for d in z.dims if d not in dims[1:]]
    omega, se = (o.transpose(*order) for o in out)
    return (omega, se) if with_se else omega


def _travel_sign(omega: xr.DataArray) -> xr.DataArray:
    """+1 where the phase advances (or is still), -1 where it runs backwards."""
    return xr.where(omega < 0, -1.0, 1.0)


# --- public measures ------------------------------------------------------------------------


@public
def pgd(z_or_gradient, form: str = "rubino", *, bads=None, device=None) -> xr.DataArray:
    """Phase-gradient directionality per frame, in [0, 1].

    Parameters
    ----------
    z_or_gradient : xarray.DataArray or xarray.Dataset
        Analytic signal (complex), phase (real, ``units`` "rad"), or the Dataset of
        :func:`~wavescope.analysis.phase_gradient`. From a DataArray the gradient is
        computed block by block and never held in full.
    form : {"rubino", "unit"}
        "rubino" (Rubino et al. 2006): ``|<grad phi>| / <|grad phi|>`` over sites.
        "unit": ``|<grad phi / |grad phi|>|``, the order parameter of unit gradient
        vectors. The two give different numbers on the same data; name the one used.
    bads : str, sequence of str or boolean array, optional
        Bad sites to leave out, besides those in ``attrs["bads"]`` (see
        :func:`wavescope.exclude_bads`: channels dropped, grid sites set to NaN).
    device : str, optional
        ``None`` (default): NumPy; ``"cpu"``, ``"cuda"``, ``"mps"``: the gradient and its
        frame means in torch on that device, from ``z`` (a gradient Dataset is averaged
        by NumPy), equal within 1e-6 relative.

    Returns
    -------
    xarray.DataArray
        ``pgd`` per frame (input dims without the space dims); 1 for a plane wave, near
        0 for spatially independent phases. NaN where no site has a gradient.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal, pgd
    >>> z = analytic_signal(sim.plane_wave((16, 16), n_times=100, speed=50.0, direction=np.pi / 2))
    >>> p = pgd(z)
    >>> print(p.dims, round(float(p.isel(time=slice(20, 80)).mean()), 2))
    ('time',) 1.0
    """
    if form not in PGD_FORMS:
        raise ValueError(f"form {form!r} is not known; use one of {PGD_FORMS}")
    s = _gradient_stats(z_or_gradient, "pgd", unit=form == "unit", bads=bads, device=device)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.hypot(s["ux"], s["uy"]) if form == "unit" else np.hypot(s["gx"], s["gy"]) / s[
            "mag"]
    out.attrs = dict(_attrs_from(z_or_gradient), units="1", pgd_form=form)
    out.name = "pgd"
    return out


@public
def local_pgd(z: xr.DataArray, tile: int = 8, form: str = "rubino") -> xr.DataArray:
    """PGD in non-overlapping ``tile`` x ``tile`` windows of a grid, averaged over windows.

    Waves that radiate from several sources (a model's objects, a cortical sheet with many
    generators) have aligned phase gradients locally but not over the whole grid, where
    they point every way; on a periodic grid (a torus) the grid-wide mean gradient is the
    winding number, about 0, whatever the waves. Windows measure the local order in both
    cases. Each window is scored as a non-periodic patch; windows that do not fit whole
    are left out.

    Parameters
    ----------
    z : xarray.DataArray
        Analytic signal or phase on a grid (``y`` and ``x`` dims).
    tile : int
        Window side, in sites (at least 2, at most the smaller grid side).
    form : {"rubino", "unit"}
        As in :func:`pgd`.

    Returns
    -------
    xarray.DataArray
        ``local_pgd`` per frame (the input's dims without ``y`` and ``x``), the mean over
        windows of :func:`pgd`, ignoring windows without a gradient; ``attrs["tile"]``.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal, local_pgd
    >>> z = analytic_signal(sim.plane_wave((16, 16), n_times=100, speed=50.0, direction=np.pi / 2))
    >>> print(round(float(local_pgd(z, tile=8).isel(time=slice(20, 80)).mean()), 2))
    1.0
    """
    if "y" not in z.dims or "x" not in z.dims:
        raise DataModelError(f"local_pgd needs a grid (dims 'y' and 'x'); got dims {z.dims}")
    z = _checked(z, "local_pgd")  # the windows' pgd runs nested, unchecked
    tile = int(tile)
    if not 2 <= tile <= min(z.sizes["y"], z.sizes["x"]):
        raise ValueError(
            f"tile must be between 2 and the smaller grid side "
            f"({min(z.sizes['y'], z.sizes['x'])}), got {tile}")
    windows = []
    for y0 in range(0, z.sizes["y"] - tile + 1, tile):
        for x0 in range(0, z.sizes["x"] - tile + 1, tile):
            window = z.isel(y=slice(y0, y0 + tile), x=slice(x0, x0 + tile))
            # bad sites are NaN already; their names count from the grid's corner, so a
            # window (whose names count from its own corner) must not apply them again
            window.attrs = {k: v for k, v in window.attrs.items() if k != "bads"}
            window.attrs["periodic"] = 0
            windows.append(pgd(window, form=form))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames where no window has a value
        out = xr.concat(windows, dim="window").mean("window", skipna=True)
    out.attrs = dict(windows[0].attrs, tile=tile)
    if "bads" in z.attrs:
        out.attrs["bads"] = z.attrs["bads"]
    out.name = "local_pgd"
    return out


@public
def wave_direction(z_or_gradient, *, per_site: bool = False) -> xr.DataArray:
    """Direction of travel, radians counter-clockwise from +x, in (-pi, pi].

    Per frame it is the angle of ``-s <grad phi>`` (the mean gradient over sites), where
    ``s`` is the sign of the frame's temporal frequency (from an analytic signal or
    phase with ``time``); a gradient Dataset carries no temporal information, so
    ``omega > 0`` is assumed there. ``per_site=True`` gives the direction at every site
    from its own gradient (and, for ``z``, its own instantaneous frequency). NaN where
    the gradient is zero.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal, wave_direction
    >>> z = analytic_signal(sim.plane_wave((16, 16), n_times=100, speed=50.0, direction=np.pi / 2))
    >>> d = wave_direction(z).isel(time=slice(20, 80))
    >>> print(round(float(d.median()), 3))  # pi / 2: travelling along +y
    1.571
    """
    if per_site:
        grad, sign = _site_gradient_and_sign(z_or_gradient, "wave_direction")
        out = np.arctan2(-sign * grad["dphi_dy"], -sign * grad["dphi_dx"])
    else:
        s = _gradient_stats(z_or_gradient, "wave_direction")
        sign = 1.0 if isinstance(z_or_gradient, xr.Dataset) else _travel_sign(
            _frame_omega(z_or_gradient))
        out = np.arctan2(-sign * s["gy"], -sign * s["gx"])
    gx, gy = (grad["dphi_dx"], grad["dphi_dy"]) if per_site else (s["gx"], s["gy"])
    # no gradient, no direction; arctan2 gives -pi at times, which is pi here
    out = wrap_angle(out).where((gx != 0) | (gy != 0))
    out.attrs = dict(_attrs_from(z_or_gradient), units="rad")
    out.name = "direction"
    return out


@public
def wavelength(z_or_gradient, *, per_site: bool = False) -> xr.DataArray:
    """Wavelength ``2 pi / |<grad phi>|`` per frame (``per_site``: ``2 pi / |grad phi|``).

    In space units. The mean gradient over sites is the one a plane wave shares with
    every site; in noisy frames it shrinks, and the wavelength grows. NaN where the
    gradient is zero (no wave to measure).

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal, wavelength
    >>> z = analytic_signal(sim.plane_wave((16, 16), n_times=100, speed=50.0, direction=np.pi / 2))
    >>> print(round(float(wavelength(z).isel(time=slice(20, 80)).median()), 2))
    10.0
    """
    if per_site:
        grad, _ = _site_gradient_and_sign(z_or_gradient, "wavelength", need_sign=False)
        mag = np.hypot(grad["dphi_dx"], grad["dphi_dy"])
    else:
        s = _gradient_stats(z_or_gradient, "wavelength")
        mag = np.hypot(s["gx"], s["gy"])
    with np.errstate(divide="ignore"):
        out = (TWO_PI / mag).where(mag > 0)  # no gradient: NaN, not inf
    out.attrs = dict(_attrs_from(z_or_gradient),
                     units=_attrs_from(z_or_gradient).get("space_units", ""))
    out.name = "wavelength"
    return out


@public
def wave_speed(z: xr.DataArray, *, gradient: xr.Dataset | None = None,
               per_site: bool = False) -> xr.DataArray:
    """Phase speed ``|omega| / |grad phi|`` in space units per time unit.

    Per frame: ``omega`` is the circular mean over sites of the phase advance per sample
    (times ``sfreq``) and ``grad phi`` the mean gradient over sites. ``per_site=True``:
    each site's instantaneous frequency over its own gradient magnitude.

    Parameters
    ----------
    z : xarray.DataArray
        Analytic signal or phase with ``time`` (in one chunk for dask inputs).
    gradient : xarray.Dataset, optional
        A precomputed :func:`~wavescope.analysis.phase_gradient` of ``z`` to reuse.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal, wave_speed
    >>> z = analytic_signal(sim.plane_wave((16, 16), n_times=100, speed=50.0, direction=np.pi / 2))
    >>> v = wave_speed(z).isel(time=slice(20, 80))  # pixels per time unit
    >>> print(round(float(v.median()), 1))
    50.0
    """
    z = _checked(z, "wave_speed")
    if per_site:
        from .analytic import instantaneous_frequency

        grad = gradient if gradient is not None else _gradient_dataset(z)
        omega = TWO_PI * instantaneous_frequency(z)
        mag = np.hypot(grad["dphi_dx"], grad["dphi_dy"])
    else:
        s = (_gradient_stats(gradient, "wave_speed") if gradient is not None
             else _gradient_stats(z, "wave_speed", checked=True))  # z checked above
        omega = _frame_omega(z)
        mag = np.hypot(s["gx"], s["gy"])
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (np.abs(omega) / mag).where(mag > 0)  # no gradient: NaN, not inf
    out.attrs = dict(derived_attrs(z), units=space_units_per_time(z))
    out.name = "speed"
    return out


@public
def synchrony(z: xr.DataArray) -> xr.DataArray:
    """Kuramoto order parameter ``|<exp(i phi)>|`` over sites per frame, in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> from wavescope.analysis import synchrony
    >>> t = np.arange(100) / 100.0
    >>> same = np.exp(2j * np.pi * 5 * t)[:, None, None] * np.ones((1, 4, 4))
    >>> z = ws.from_array(same, ("time", "y", "x"), sfreq=100.0)
    >>> print(round(float(synchrony(z).mean()), 3))
    1.0
    """
    z = _checked(z, "synchrony")
    geom = geometry_of(z)
    (out,) = _per_frame(z, _synchrony_kernel, 1, {"geom": geom})
    out.attrs = dict(derived_attrs(z), units="1")
    out.name = "synchrony"
    return out


def _synchrony_kernel(z: np.ndarray, *, geom: Geometry):
    flat, lead = flat_frames(z, geom)
    out = np.empty(flat.shape[0])
    for sl in frame_blocks(flat.shape[0], geom.n_sites):
        u = phasors(flat[sl])
        ok = np.isfinite(u)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[sl] = np.abs(np.where(ok, u, 0.0).sum(axis=1)) / ok.sum(axis=1)
    return out.reshape(lead)


@public
def fit_plane_wave(
    z: xr.DataArray,
    *,
    k_max: float | None = None,
    oversample: float = 2.0,
    max_iter: int = 20,
    confidence: float = 0.95,
    pool_frames: bool = True,
    bads=None,
    device=None,
) -> xr.Dataset:
    """Best plane wave per frame by circular-linear regression (Zhang et al. 2018 style),
    with standard errors, confidence intervals and a test of a zero gradient.

    Maximises ``R(a, b) = |mean_j exp(i (phi_j - a x_j - b y_j))|`` over the phase
    gradient (a, b): a coarse search (a zero-padded 2-D FFT on uniform grids; a lattice
    of candidates ``oversample`` times finer than R's main lobe on irregular positions)
    then safeguarded Newton refinement, vectorised over frames. NaN sites are skipped.

    Uncertainty is analytic: near the maximum the fit is a regression of the wrapped
    residuals on position, and the gradient's covariance is a spatial HAC sandwich
    ``inv(S) (sum_jl w_j w_l' K_jl) inv(S) / R**2`` (``w_j`` the position-weighted
    residuals, ``S`` the scatter matrix of the sites' positions, ``K`` a Bartlett kernel
    whose bandwidth follows the residuals' correlation between neighbours; the
    independent-site ``s2 / R**2 * inv(S)`` where they are uncorrelated; see
    ``wavescope.analysis._planefit``), so spatially correlated residuals widen it.
    One frame cannot show the noise that the fitted slope absorbs, so with
    ``pool_frames`` the slopes' scatter across frames (a plane wave's gradient stays,
    noise-driven slopes change) checks the HAC in running windows of the series, and
    replaces it where the slopes scatter more than the HAC allows (``pool_scale``; see
    ``wavescope.analysis._planefit.pooled_scale``): series shorter than 32 usable
    frames, and windows with fewer than 8 independent frame pairs, keep the
    single-frame covariance.
    Speed, direction and wavelength intervals follow by the delta method; they are
    symmetric in the spatial frequency (and in the slowness ``|k| / |omega|``, whose
    error adds that of ``omega``), so on speed and wavelength they are asymmetric, and
    their upper end is NaN (no bound) where the gradient cannot be told from zero.

    Parameters
    ----------
    z : xarray.DataArray
        Analytic signal or phase, with ``time`` (in one chunk for dask inputs).
    k_max : float, optional
        Largest wavenumber searched, rad per space unit. Default: the grid's Nyquist
        square, or ``pi / s`` on irregular positions with ``s = sqrt(hull area / n)``.
    oversample : float
        Coarse lattice points per main-lobe width (``2 pi / extent``) of R; >= 2. At 2 the
        best lattice point always lies in the global maximum's main lobe (R there is at
        least 0.4 of the peak for a clean wave; side lobes reach 0.22).
    max_iter : int
        Newton iterations at most.
    confidence : float
        Coverage of the ``*_low`` / ``*_high`` intervals, in (0, 1).
    pool_frames : bool
        Check (and where it is too small, replace) each frame's slope covariance by the
        slopes' scatter across nearby frames of the same series along ``time`` (per
        trial), and test the steady gradient of the window of frames around each
        (``steady_p``); False: the single-frame spatial HAC only (the behaviour
        before).
    bads : str, sequence of str or boolean array, optional
        Bad sites to leave out, besides those in ``attrs["bads"]`` (see
        :func:`wavescope.exclude_bads`: channels dropped, grid sites set to NaN).
    device : str, optional
        ``None`` (default): NumPy; ``"cpu"``, ``"cuda"``, ``"mps"``: the coarse search and
        the Newton refinement run in torch on that device, in blocks of frames (the fit
        statistics and the temporal frequency stay NumPy); equal within 1e-6 relative.

    Returns
    -------
    xarray.Dataset
        Per frame:

        - ``direction`` (rad, CCW from +x, of travel), ``spatial_frequency`` (cycles per
          space unit, ``|k| / 2 pi``), ``wavelength`` (space units), ``speed`` (space
          units per time unit, ``|omega| / |k|``), ``offset`` (rad: the fitted phase at
          the coordinate origin);
        - fit quality: ``strength`` (R in [0, 1]: 1 minus the residual scatter; a
          synchronous field has R near 1 whatever its gradient), ``rho`` (circular
          correlation of measured and fitted phase), ``explained`` (``(R - R0) /
          (1 - R0)`` with ``R0`` the synchrony, the R of a flat phase: the share of the
          phase scatter about the common phase that the gradient removes; 0 for a
          synchronous field, 1 for a noiseless plane wave at any wavelength);
        - ``gradient_p``: p-value of the Wald test of a zero gradient (``F(2, dof)``);
          small where a gradient is measured, even for waves much longer than the array;
          ``n_eff`` (the HAC's effective number of sites), ``dof`` (of the slope
          covariance: ``n_eff - 3``, or the frames' scatter's where pooled) and
          ``pool_scale`` (the slope variance over the independent-site one, from the
          frames' scatter, where it replaced the HAC; else NaN); ``steady_p`` (with
          ``pool_frames``: the p-value of the steady gradient of the window of frames
          around the frame, against the slopes' scatter over time, where that gradient
          describes the window's steady phase map, the frame's own slope agrees with
          it and its own test has p < 0.25; else NaN; see
          :func:`classify_patterns`, rule 1);
        - ``dphi_dx``, ``dphi_dy`` (rad per space unit, ``= -k``), their standard errors
          ``dphi_dx_se``, ``dphi_dy_se`` and correlation ``dphi_corr``; ``omega`` and
          ``omega_se`` (rad per time unit, the frame's temporal frequency and its SE);
        - intervals at ``confidence``: ``direction_low`` / ``direction_high`` (the arc
          from low counter-clockwise to high, wrapped to (-pi, pi]; NaN where it would
          cover the whole circle) with ``direction_se`` (rad), ``speed_low`` /
          ``speed_high`` and ``wavelength_low`` / ``wavelength_high`` (the upper end NaN,
          i.e. unbounded, where ``|k| - z SE <= 0``: the gradient is not resolved).
          Speed and wavelength are NaN where the fitted gradient is exactly 0.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal, fit_plane_wave
    >>> z = analytic_signal(sim.plane_wave((16, 16), n_times=100, speed=50.0, direction=np.pi / 2))
    >>> fit = fit_plane_wave(z.isel(time=slice(40, 43)))
    >>> print(np.round(fit["speed"].values, 1), np.round(fit["direction"].values, 3))
    [50. 50. 50.] [1.571 1.571 1.571]
    >>> print(np.round(fit["strength"].values, 2))
    [1. 1. 1.]
    """
    z = _checked(z, "fit_plane_wave", bads)
    if oversample < 2:
        raise ValueError(f"oversample must be >= 2, got {oversample}")
    _check_confidence(confidence)
    parts = _plane_parts(z, k_max, oversample, max_iter, device)
    if pool_frames:
        parts = _pooled(parts, True, z)
    return _plane_dataset(z, parts, confidence)


def _plane_parts(z: xr.DataArray, k_max=None, oversample=2.0, max_iter=20,
                 device=None) -> dict:
    """The plane fit's FIELDS per frame (single-frame HAC covariance), with the
    temporal frequency ``omega`` and its SE, ``dof`` (of the covariance: ``n_eff - q -
    1``) and ``pool_scale`` (NaN: not pooled), on checked input."""
    geom = geometry_of(z)
    fitter = PlaneFitter(geom, k_max, oversample, max_iter)
    parts = dict(zip(FIELDS, _per_frame(z, twin(plane_fit_kernel, device), len(FIELDS),
                                        {"fitter": fitter}), strict=True))
    parts["omega"], parts["omega_se"] = _frame_omega(z, with_se=True)
    parts["line"] = geom.kind == "line"
    parts["dof"] = parts["n_eff"] - (2 if parts["line"] else 3)
    parts["pool_scale"] = xr.full_like(parts["strength"], np.nan)
    for key in _STEADY:  # NaN: not computed
        parts[key] = xr.full_like(parts["strength"], np.nan)
    return parts


def _pooled(parts: dict, use, z: xr.DataArray | None = None) -> dict:
    """``parts`` with the slope covariance, its degrees of freedom and the slope test
    pooled over frames (``_planefit.pooled_scale``; ``use``: the frames the pool may
    draw on, True for all), where enough frames are; elsewhere as they were. With the
    (checked) input ``z`` also ``steady_p``, the steady gradient's test of the window
    of frames around each frame (``_planefit.steady_slopes``)."""
    names = ("dphi_dx", "dphi_dy", "cov_xx", "cov_xy", "cov_yy", "wcov_xx", "wcov_xy",
             "wcov_yy", "dof", "gradient_p")
    use = xr.ones_like(parts["strength"], dtype=bool) if use is True else use
    order = parts["strength"].dims
    inputs, core = [*(parts[k] for k in names), use], [["time"]] * 11
    kwargs = {"line": parts["line"]}
    if z is not None:
        space = list(space_dims(z))
        inputs += [parts["offset"], z]
        core += [["time"], ["time", *space]]
        kwargs.update(steady=True, xy=geometry_of(z).xy)
    out = apply_ufunc(
        pool_kernel, *inputs, input_core_dims=core, output_core_dims=[["time"]] * 13,
        kwargs=kwargs, dask="parallelized", output_dtypes=[float] * 13)
    new = dict(parts)
    for key, value in zip(("cov_xx", "cov_xy", "cov_yy", "dof", "gradient_p",
                           "pool_scale", *_STEADY), out, strict=True):
        new[key] = value.transpose(*order)
    return new


#: The steady gradient's outputs of pool_kernel (``_planefit.steady_slopes``).
_STEADY = ("steady_p", "steady_dphi_dx", "steady_dphi_dy", "steady_cov_xx",
           "steady_cov_xy", "steady_cov_yy", "steady_dof")


def _plane_dataset(z: xr.DataArray, parts: dict, confidence: float) -> xr.Dataset:
    """fit_plane_wave's Dataset from the (pooled or single-frame) ``parts``."""
    omega, omega_se = parts["omega"], parts["omega_se"]
    sign = _travel_sign(omega)
    su = z.attrs.get("space_units")
    wave = wave_intervals(parts["dphi_dx"], parts["dphi_dy"], parts["cov_xx"],
                           parts["cov_xy"], parts["cov_yy"], omega, omega_se, sign,
                           confidence, dof=parts["dof"])
    speed_units = space_units_per_time(z)
    with np.errstate(divide="ignore", invalid="ignore"):
        flat = parts["flat"]
        explained = xr.where(1 - flat > 1e-12, (parts["strength"] - flat) / (1 - flat), 0.0)
        explained = explained.where(np.isfinite(parts["strength"]))
        ds = xr.Dataset({
            "direction": wave["direction"].assign_attrs(units="rad"),
            "spatial_frequency": (wave["kmag"] / TWO_PI).assign_attrs(units=f"1/{su}"),
            "wavelength": wave["wavelength"].assign_attrs(units=su),
            "speed": wave["speed"].assign_attrs(units=speed_units),
            "offset": parts["offset"].assign_attrs(units="rad"),
            "strength": parts["strength"].assign_attrs(units="1"),
            "rho": parts["rho"].assign_attrs(units="1"),
            "explained": explained.assign_attrs(units="1"),
            "gradient_p": parts["gradient_p"].assign_attrs(units="1"),
            "n_eff": parts["n_eff"].assign_attrs(units="1"),
            "pool_scale": parts["pool_scale"].assign_attrs(units="1"),
            "steady_p": parts["steady_p"].assign_attrs(units="1"),
            "dof": parts["dof"].assign_attrs(units="1"),
            "dphi_dx": parts["dphi_dx"].assign_attrs(units=f"rad/{su}"),
            "dphi_dy": parts["dphi_dy"].assign_attrs(units=f"rad/{su}"),
            "dphi_dx_se": np.sqrt(parts["cov_xx"]).assign_attrs(units=f"rad/{su}"),
            "dphi_dy_se": np.sqrt(parts["cov_yy"]).assign_attrs(units=f"rad/{su}"),
            "dphi_corr": (parts["cov_xy"] / np.sqrt(parts["cov_xx"] * parts["cov_yy"]))
            .fillna(0.0).where(np.isfinite(parts["cov_xx"])).assign_attrs(units="1"),
            "omega": omega.assign_attrs(units=f"rad/{z.attrs.get('time_units')}"),
            "omega_se": omega_se.assign_attrs(units=f"rad/{z.attrs.get('time_units')}"),
            "direction_se": wave["direction_se"].assign_attrs(units="rad"),
            "direction_low": wave["direction_low"].assign_attrs(units="rad"),
            "direction_high": wave["direction_high"].assign_attrs(units="rad"),
            "speed_low": wave["speed_low"].assign_attrs(units=speed_units),
            "speed_high": wave["speed_high"].assign_attrs(units=speed_units),
            "wavelength_low": wave["wavelength_low"].assign_attrs(units=su),
            "wavelength_high": wave["wavelength_high"].assign_attrs(units=su),
        })
    ds.attrs = derived_attrs(z, method="circular-linear regression, coarse search + Newton",
                             confidence=float(confidence))
    return ds


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


# --- radial and rotating waves -------------------------------------------------------------


def _finder(z: xr.DataArray, sigma) -> PatternFinder:
    geom = geometry_of(z)
    if geom.kind == "line":
        raise DataModelError("radial and rotating waves need 2-D sites; this is a line ('x')")
    return PatternFinder(geom, sigma)


CENTRES = ("fit", "divergence")


def _centre_arg(centre):
    if isinstance(centre, str):
        if centre not in CENTRES:
            raise ValueError(f"centre must be one of {CENTRES} or (x, y), got {centre!r}")
        return centre
    c = np.asarray(centre, dtype=float)
    if c.shape != (2,) or not np.isfinite(c).all():
        raise ValueError(f"centre must be one of {CENTRES} or a finite (x, y), "
                         f"got {centre!r}")
    return c


def _about_centre(z, func: str, want: str, centre, sigma, names) -> xr.Dataset:
    """The Dataset of :func:`centre_kernel`'s per-frame outputs ``names`` (then the
    centre), each with its units: slopes in rad per space unit, the rest unitless."""
    z = _checked(z, func)
    finder = _finder(z, sigma)
    names = (*names, "centre_x", "centre_y")
    out = _per_frame(z, centre_kernel, len(names), {
        "finder": finder, "want": want, "centre": _centre_arg(centre)})
    su = z.attrs.get("space_units")
    units = {"slope": f"rad/{su}", "slope_se": f"rad/{su}", "centre_x": su, "centre_y": su}
    ds = xr.Dataset({name: v.assign_attrs(units=units.get(name, "1"))
                     for name, v in zip(names, out, strict=True)})
    ds.attrs = derived_attrs(z)
    return ds


@public
def radial_correlation(z: xr.DataArray, *, centre="fit", sigma: float | None = None
                       ) -> xr.Dataset:
    """Source/sink ("target") waves: circular-linear correlation of phase with distance.

    Parameters
    ----------
    z : xarray.DataArray
        Analytic signal or phase on 2-D sites.
    centre : "fit", "divergence" or (x, y)
        "fit" (default): per frame, the point the wave's rays meet, by least squares
        over every site's travel direction with robust reweighting (a plane wave has
        none: NaN). "divergence": where the smoothed travel directions
        ``-grad phi / |grad phi|`` diverge most (argmax of the absolute divergence),
        refined between sites. Or a fixed centre in space units.
    sigma : float, optional
        Width of the Gaussian smoothing over sites for ``centre="divergence"`` (space
        units); default the typical site spacing.

    Returns
    -------
    xarray.Dataset
        Per frame: ``rho`` in [-1, 1] (Kempter et al. 2012 circular-linear correlation
        of phase with distance after circular-linear regression): negative when phase
        falls with distance, i.e. crests move outward (a source) when the phase
        advances, positive for a sink; ``slope`` (rad per space unit), its standard
        error ``slope_se`` and ``p`` (two-sided t-test of a zero slope, ``n - 2``
        degrees of freedom; liberal where the centre is fitted to the same frame),
        ``strength`` (R of the regression, comparable with a plane fit's),
        ``centre_x``, ``centre_y``.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal, radial_correlation
    >>> z = analytic_signal(sim.radial_wave((16, 16), n_times=100, kind="source"))
    >>> rad = radial_correlation(z.isel(time=slice(40, 42)))
    >>> print(np.round(rad["rho"].values, 2))  # negative: phase falls with distance (a source)
    [-1. -1.]
    """
    return _about_centre(z, "radial_correlation", "radial", centre, sigma,
                         ("rho", "slope", "slope_se", "p", "strength", "n_eff"))


@public
def rotational_correlation(z: xr.DataArray, *, centre="fit", sigma: float | None = None
                           ) -> xr.Dataset:
    """Rotating waves: circular-circular correlation of phase with polar angle.

    Parameters are those of :func:`radial_correlation`: "fit" centres are where the
    lines across the travel directions meet, "divergence" centres where the smoothed
    travel directions curl most (argmax of the absolute curl).

    Returns
    -------
    xarray.Dataset
        Per frame: ``rho`` in [-1, 1] (Fisher & Lee 1983 correlation of phase with the
        polar angle about the centre, angles CCW from +x): -1 for
        ``phi = omega t - theta``, which rotates counter-clockwise when the phase
        advances; +1 clockwise. ``p``: Rayleigh test of the phase with the rotation
        removed, ``exp(i (phi - sign(rho) theta))`` (small where the phase turns once
        about the centre; liberal where the centre is fitted to the same frame) and
        ``strength``, that resultant's length. ``centre_x``, ``centre_y``.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal, rotational_correlation
    >>> z = analytic_signal(sim.rotating_wave((16, 16), n_times=100, sense="ccw"))
    >>> rot = rotational_correlation(z.isel(time=slice(40, 42)))
    >>> print(np.round(rot["rho"].values, 2))  # negative: counter-clockwise
    [-1. -1.]
    """
    return _about_centre(z, "rotational_correlation", "rotation", centre, sigma,
                         ("rho", "p", "strength"))


# --- classification -------------------------------------------------------------------------


@public
def classify_patterns(
    z: xr.DataArray,
    *,
    pgd_threshold: float = 0.85,
    synchrony_threshold: float = 0.85,
    radial_threshold: float = 0.5,
    rotation_threshold: float = 0.5,
    pgd_form: str = "rubino",
    sigma: float | None = None,
    strength_threshold: float = 0.7,
    alpha: float = 0.01,
    confidence: float = 0.95,
    pool_frames: bool = True,
    steady: bool = False,
    bads=None,
) -> xr.Dataset:
    """Label every frame as one wave pattern, with the scores and tests that decided it.

    A pattern needs a consistent shape *and* a measured one: each spatial pattern has a
    threshold on how well it describes the phase map and a test that its slope is not
    zero (at level ``alpha``), so the decision holds at any wavelength-to-array ratio.
    A plane wave much longer than the array is nearly in phase everywhere (synchrony
    near 1, PGD lost in noise), yet its gradient is measured; synchrony is what is left
    when no gradient is. Rules, in order:

    1. ``planar``: the plane fit (:func:`fit_plane_wave`) has ``strength`` (R) >=
       ``strength_threshold`` or the PGD (``pgd_form``) >= ``pgd_threshold`` (the
       field's usual 0.85; local gradients aligned), and its gradient differs from
       zero: Wald-test ``gradient_p < alpha``, the slope covariance checked against
       the slopes' scatter over the frames that meet the first condition
       (``pool_frames``, see :func:`fit_plane_wave`), or (``steady``) the steady
       gradient of the window of such frames around it is significant,
       ``steady_p < alpha``: a long plane wave is a phase gradient that stays while
       the noise's slopes change, so where one frame's test cannot show it (noise
       smooth over much of the array leaves a frame a few effective sites) the
       window's mean slope, tested against the slopes' scatter over time, can.
       Steadiness alone is not a plane (a phase pattern that stays put tilts every
       frame's slope alike): the window's steady residual map must be what the
       residuals' scatter over time leaves, and the frame's own slope must agree
       with the window's and point somewhere itself (its own test at p < 0.25); see
       ``wavescope.analysis._planefit.steady_slopes``;
    2. otherwise the stronger of the radial and rotational scores, if it reaches its
       threshold and its test passes: ``source`` / ``sink`` from the radial correlation
       (outward travel: ``-sign(omega) rho_radial >= radial_threshold``, radial slope
       against its SE ``radial_p < alpha``), ``rotating-ccw`` / ``rotating-cw`` from the
       rotational one (``-sign(omega) rho_rotation`` positive for counter-clockwise,
       Rayleigh test ``rotation_p < alpha``);
    3. ``synchronous`` if synchrony >= ``synchrony_threshold`` (the field's usual 0.85):
       in step across sites with no measurable gradient;
    4. ``none``.

    Parameters
    ----------
    z : xarray.DataArray
        Analytic signal or phase (with ``time``).
    pgd_threshold, synchrony_threshold, radial_threshold, rotation_threshold : float
        In [0, 1]; see the rules.
    pgd_form : {"rubino", "unit"}
        Form of the PGD (:func:`pgd`).
    sigma : float, optional
        Smoothing width for the centres (see :func:`radial_correlation`).
    strength_threshold : float
        Smallest plane-fit R, in [0, 1]. R is about ``exp(-s**2 / 2)`` for residual
        phase scatter ``s`` (rad): 0.7 admits about 0.85 rad (49 degrees) and lies far
        above the R of the best plane through independent phases (about
        ``sqrt(log(n) / n)``: 0.3 on 64 sites, 0.45 on 16).
    alpha : float
        Level of the slope tests, in (0, 1). The plane fit's test allows for spatially
        correlated residuals and, pooled over frames, for noise the slope absorbs
        (wave-free correlated noise: 0-3 % planar frames at 0.01,
        ``docs/notes/calibration.md``); the radial and rotational tests assume
        independent noise across sites (correlated noise makes them liberal);
        detect_waves' surrogates then test the events.
    confidence : float
        Coverage of the speed, direction and wavelength intervals.
    pool_frames : bool
        Pool the plane fit's slope test over frames (see :func:`fit_plane_wave`);
        False: the single-frame test (and no steady gradient).
    steady : bool
        With ``pool_frames``, also judge a frame by the steady gradient of the frames
        around it (rule 1); its frames report that gradient's speed, direction and
        wavelength with its intervals. Window: 16 decorrelation lags of the slopes,
        at least 32 frames, at least 6 independent frames; series of fewer than 32
        usable frames have none. Off by default (and in :func:`detect_waves`): it finds
        long waves in smooth noise (10x the array on a 32 x 32 grid: 0.92-0.96 of frames
        planar against 0.55-0.71 without), but under an in-phase oscillation in noise
        smooth over a third of 64 sensors one realisation had 13 % of its frames
        labelled planar, so it is not yet calibrated.
    bads : str, sequence of str or boolean array, optional
        Bad sites to leave out besides those in ``attrs["bads"]`` (see
        :func:`wavescope.exclude_bads`).

    Returns
    -------
    xarray.Dataset
        Per frame: ``pattern`` (str, one of :data:`PATTERNS`), ``score`` (the value that
        decided it, compared with its threshold: ``strength`` for planar, the oriented
        correlation for sources, sinks and rotations, ``synchrony`` for synchronous;
        NaN for ``none``), ``pgd``, ``synchrony``, ``strength``, ``explained``,
        ``gradient_p`` and ``steady_p`` (of the plane fit, see
        :func:`fit_plane_wave`), ``radial``
        (``-sign(omega) rho_radial``: > 0 outward), ``radial_p``, ``rotation``
        (``-sign(omega) rho_rotation``: > 0 counter-clockwise), ``rotation_p``,
        ``centre_x``, ``centre_y`` (of the radial or rotating pattern, else NaN),
        ``radial_slope`` and ``radial_slope_se`` (rad per space unit, of the
        phase-on-distance regression) and its ``radial_n_eff``, ``dphi_dx``,
        ``dphi_dy``, ``dphi_dx_se``, ``dphi_dy_se``, ``dphi_corr``, ``n_eff``,
        ``dof`` and ``pool_scale`` (the plane fit's gradient, its SEs, effective number
        of sites, degrees of freedom and pooled scale), ``omega`` and
        ``omega_se`` (rad per time unit, the frame's temporal frequency). Then the wave
        quantities *of the label*: ``speed``, ``direction``, ``wavelength`` with
        ``*_low`` / ``*_high`` intervals at ``confidence`` (as in
        :func:`fit_plane_wave`): from the plane fit for planar frames (from the
        window's steady gradient where only ``steady_p`` passed), from the radial
        slope for sources and sinks (``|omega| / |slope|``, no direction), NaN for
        synchronous, rotating and unlabelled frames, which have none.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal, classify_patterns
    >>> z = analytic_signal(sim.plane_wave((16, 16), n_times=100, speed=50.0, direction=np.pi / 2))
    >>> labels = classify_patterns(z.isel(time=slice(40, 44)))
    >>> print(labels["pattern"].values.tolist())
    ['planar', 'planar', 'planar', 'planar']
    """
    z = _checked(z, "classify_patterns", bads)
    for name, value in (("pgd_threshold", pgd_threshold),
                        ("synchrony_threshold", synchrony_threshold),
                        ("radial_threshold", radial_threshold),
                        ("rotation_threshold", rotation_threshold),
                        ("strength_threshold", strength_threshold)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must lie in [0, 1], got {value}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    _check_confidence(confidence)
    s = _pattern_scores(z, pgd_form=pgd_form, sigma=sigma, confidence=confidence,
                        strength_threshold=strength_threshold, pgd_threshold=pgd_threshold,
                        pool_frames=pool_frames, steady=steady)
    thresholds = (synchrony_threshold, pgd_threshold, strength_threshold, radial_threshold,
                  rotation_threshold, alpha)
    code, score, cx, cy = apply_ufunc(
        label_kernel, s["synchrony"], s["pgd"], s["strength"],
        np.fmin(s["gradient_p"], s["plane"]["steady_p"]),
        s["radial"], s["radial_p"], s["radial_strength"], s["rotation"], s["rotation_p"],
        s["rotation_strength"], s["rad_cx"],
        s["rad_cy"], s["rot_cx"], s["rot_cy"], kwargs={"thresholds": thresholds},
        output_core_dims=[[]] * 4, dask="parallelized",
        output_dtypes=[np.int8, float, float, float],
    )
    labels = np.array(PATTERNS)
    pattern = apply_ufunc(lambda c: labels[c], code, dask="parallelized",
                          output_dtypes=[labels.dtype])
    planar = code == PATTERNS.index("planar")
    # planar on the steady gradient of the frames around it only: its wave quantities
    by_steady = planar & ~(s["gradient_p"] < alpha)
    radial = (code == PATTERNS.index("source")) | (code == PATTERNS.index("sink"))
    su, tu = z.attrs.get("space_units"), z.attrs.get("time_units")
    slope = np.abs(s["rad_slope"])
    zero = xr.zeros_like(slope)
    rad = wave_intervals(slope, zero, s["rad_slope_se"] ** 2, zero, zero, s["omega"],
                          s["omega_se"], 1.0, confidence, dof=s["rad_n_eff"] - 2)
    wave = {}
    for key, units in (("speed", f"{su}/{tu}"), ("direction", "rad"), ("wavelength", su)):
        for end in ("", "_low", "_high"):
            name = key + end
            value = xr.where(by_steady, s["steady"][name], s["plane"][name]).where(planar)
            if key != "direction":
                value = value.fillna(rad[name].where(radial))
            wave[name] = value.assign_attrs(units=units)
    ds = xr.Dataset({
        "pattern": pattern,
        "score": score.assign_attrs(units="1"),
        "pgd": s["pgd"].assign_attrs(units="1", pgd_form=pgd_form),
        "synchrony": s["synchrony"].assign_attrs(units="1"),
        "strength": s["strength"].assign_attrs(units="1"),
        "explained": s["plane"]["explained"],
        "gradient_p": s["gradient_p"].assign_attrs(units="1"),
        "steady_p": s["plane"]["steady_p"],
        "radial": s["radial"].assign_attrs(units="1"),
        "radial_p": s["radial_p"].assign_attrs(units="1"),
        "rotation": s["rotation"].assign_attrs(units="1"),
        "rotation_p": s["rotation_p"].assign_attrs(units="1"),
        "centre_x": cx.assign_attrs(units=su),
        "centre_y": cy.assign_attrs(units=su),
        "radial_slope": s["rad_slope"].assign_attrs(units=f"rad/{su}"),
        "radial_slope_se": s["rad_slope_se"].assign_attrs(units=f"rad/{su}"),
        "radial_n_eff": s["rad_n_eff"].assign_attrs(units="1"),
        **{k: s["plane"][k] for k in ("dphi_dx", "dphi_dy", "dphi_dx_se", "dphi_dy_se",
                                      "dphi_corr", "n_eff", "pool_scale", "dof", "omega",
                                      "omega_se")},
        **wave,
    })
    ds.attrs = derived_attrs(
        z, pgd_threshold=pgd_threshold, synchrony_threshold=synchrony_threshold,
        radial_threshold=radial_threshold, rotation_threshold=rotation_threshold,
        strength_threshold=strength_threshold, alpha=alpha, confidence=confidence,
        pgd_form=pgd_form, patterns=" ".join(PATTERNS))
    return ds


def _pattern_scores(z: xr.DataArray, *, pgd_form: str = "rubino", sigma=None,
                    confidence: float = 0.95, strength_threshold: float = 0.7,
                    pgd_threshold: float = 0.85, pool_frames: bool = True,
                    steady: bool = False) -> dict:
    """Every per-frame score :func:`classify_patterns` needs (lazy for dask)."""
    geom = geometry_of(z)
    pgd_ = pgd(z, form=pgd_form)
    parts = _plane_parts(z)
    if pool_frames:  # pooled over the frames a plane could describe (see the rules)
        parts = _pooled(parts, (parts["strength"] >= strength_threshold)
                        | (pgd_ >= pgd_threshold), z if steady else None)
    plane = _plane_dataset(z, parts, confidence)
    # the wave quantities of the window's steady gradient (for frames it decides)
    held = wave_intervals(*(parts[k] for k in _STEADY[1:6]), plane["omega"],
                           plane["omega_se"], _travel_sign(plane["omega"]), confidence,
                           dof=parts["steady_dof"])
    out = {"pgd": pgd_, "synchrony": synchrony(z), "plane": plane, "steady": held,
           "strength": plane["strength"], "gradient_p": plane["gradient_p"],
           "omega": plane["omega"], "omega_se": plane["omega_se"]}
    sign = _travel_sign(plane["omega"])
    if geom.kind == "line":
        nan = xr.full_like(out["pgd"], np.nan)
        out.update(radial=nan, rotation=nan, rad_cx=nan, rad_cy=nan, rot_cx=nan, rot_cy=nan,
                   rad_slope=nan, rad_slope_se=nan, rad_n_eff=nan, radial_p=nan,
                   rotation_p=nan,
                   radial_strength=nan, rotation_strength=nan)
    else:
        finder = PatternFinder(geom, sigma)
        (rad, slope, se, rad_p, rad_r, rad_n, rcx, rcy, rot, rot_p, rot_r, ocx,
         ocy) = _per_frame(z, centre_kernel, 13,
                           {"finder": finder, "want": "both", "centre": "fit"})
        out.update(radial=-sign * rad, rotation=-sign * rot, rad_cx=rcx, rad_cy=rcy,
                   rot_cx=ocx, rot_cy=ocy, rad_slope=slope, rad_slope_se=se,
                   rad_n_eff=rad_n,
                   radial_p=rad_p, rotation_p=rot_p, radial_strength=rad_r,
                   rotation_strength=rot_r)
    return out


# --- per-site helpers -----------------------------------------------------------------------


def _gradient_dataset(z: xr.DataArray) -> xr.Dataset:
    from .gradient import phase_gradient

    return phase_gradient(z)


def _site_gradient_and_sign(z_or_gradient, func: str, need_sign: bool = True):
    if isinstance(z_or_gradient, xr.Dataset):
        return z_or_gradient, 1.0
    z = _checked(z_or_gradient, func)
    grad = _gradient_dataset(z)
    if not need_sign:
        return grad, 1.0
    from .analytic import instantaneous_frequency

    return grad, xr.where(instantaneous_frequency(z) < 0, -1.0, 1.0)
