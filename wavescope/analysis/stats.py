"""Surrogate data and p-values for any score.

Four nulls (``docs/notes/calibration.md``); each answers one question:

- ``shuffle``: the sites' positions are permuted (each site keeps its whole time course):
  "is the field organised in space at all?" It keeps every site's spectrum and the
  distribution of phases in each frame, and destroys where they sit;
- ``phase``: each site's Fourier phases are randomised independently (same amplitude
  spectrum per site): "are the sites phase-locked at all?";
- ``multivariate``: one random phase per frequency, shared by all sites (Prichard &
  Theiler 1994): every site's spectrum and every pair's cross-spectrum are kept, so
  volume conduction and spatial smoothness are part of the null: "is this more than a
  stationary linear Gaussian process with these cross-spectra?" (a wave that lasts the
  whole recording is such a process: the null tests transient organisation);
- ``spatial``: the field's spatial autocorrelation is kept and its geometry scrambled,
  with one random real spatial filter per surrogate applied to every frame (so time
  courses stay continuous): random spatial Fourier phases on grids (a finite grid is
  mirrored along each axis first, so that the transform sees no seam between opposite
  edges; a periodic one, ``attrs["periodic"] = 1``, is used as it is), random phases of
  the components in the eigenbasis of the sensor covariance on irregular sensors (Moran
  spectral randomisation, Wagner & Dray 2015): "is this more than a field with this
  spatial autocorrelation?" (A plane wave that fills a periodic grid is fixed by its own
  autocorrelation; on finite grids and on sensors it is not.)

Sites that hold only NaN are skipped by every kind (they cost nothing and stay NaN).

Surrogates are stacked along ``trial`` so that every analysis function, which treats
``trial`` as frames, scores all of them in one vectorised call.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import xarray as xr

from .._safeio import check_memory
from ..core import DataModelError, bad_sites, space_dims
from ._common import apply_ufunc, check_activity, check_time_chunk, json_attr
from ._contract import public
from ._torch import resolve, shuffle_sites, twin

__all__ = ["surrogates", "p_value", "q_values", "surrogate_test"]

SURROGATE_KINDS = ("shuffle", "phase", "multivariate", "spatial")
TAILS = ("greater", "less", "two-sided")


@public
def surrogates(da: xr.DataArray, kind: str = "shuffle", n: int = 100, seed=0, *,
               dim: str = "trial", bads=None, device=None) -> xr.DataArray:
    """``n`` surrogates of ``da``, stacked along a new leading ``dim`` (``trial``).

    Parameters
    ----------
    da : xarray.DataArray
        Activity without a ``dim`` dim (select one with ``da.isel(trial=i)``): real
        signal or analytic signal (complex). NaN sites stay NaN (they move with
        ``shuffle``).
    kind : {"shuffle", "phase", "multivariate", "spatial"}
        "shuffle": one random permutation of the sites per surrogate, applied to every
        frame (and every trial or feature of ``da``). "phase": per site, the FFT along
        time keeps its amplitudes and gets uniform random phases (conjugate-symmetric for
        real data, so surrogates stay real; an analytic signal stays analytic); missing
        samples are filled with the site's mean for the transform and are NaN again in
        the surrogate. "multivariate": as "phase", but one random phase per frequency is
        shared by every site (and trial or feature), which keeps all cross-spectra.
        "spatial": on grids, the spatial FFT of every frame is multiplied by one
        Hermitian-symmetric field of unit phasors per surrogate, the same for every
        frame. A periodic grid (``attrs["periodic"] = 1``, a ring or torus) is
        transformed as it is, which keeps each frame's Fourier power spectrum exactly. A
        finite grid is first mirrored along each space axis (2**n_space times the
        sites, periodic without a seam) and the surrogate is the original part of the
        randomised mirror: a stationary field with the mirrored frame's circular
        autocorrelation, so each frame's power per site is kept in expectation and its
        variogram closely (about 5-15 % smoother at lags up to the correlation length),
        where the FFT of the grid itself would treat it as a torus and join opposite
        edges. The filter is real (real frames stay real; applied to an analytic signal
        frame by frame it commutes with the Hilbert transform in time, so the result is
        the analytic signal of the spatially randomised real field); missing samples
        are filled with the frame's mean over the valid sites for the transform and are
        NaN again in the surrogate. On sensors (``channel``), the data are rotated in
        the eigenbasis of their covariance over time (and trials): each eigenvector's
        component gets a random sign (real data) or phase (complex data), which keeps
        the zero-lag covariance exactly; its eigendecomposition is computed at once,
        also for dask inputs.
    n : int
        Number of surrogates.
    seed : int or numpy.random.Generator
        Seed; the same seed gives the same surrogates.
    dim : str
        Name of the new dim. The default, ``trial``, lets every analysis function score
        all surrogates in one call; another name keeps ``da``'s own trials apart
        (``surrogates(da, n=1, dim="surrogate").isel(surrogate=0)``: ``da`` with its
        sites shuffled once).
    bads : str, sequence of str or boolean array, optional
        Bad sites to leave out, besides those in ``attrs["bads"]`` (see
        :func:`wavescope.exclude_bads`: channels dropped, grid sites set to NaN).
    device : str, optional
        ``None`` (default): NumPy. ``"cpu"``, ``"cuda"``, ``"mps"``: "shuffle", "phase"
        and "multivariate" gather or transform in torch on that device, in blocks of
        surrogates, from the same random draws (equal within 1e-6 relative); "spatial"
        stays NumPy.

    Returns
    -------
    xarray.DataArray
        Dims ``(dim, *da.dims)``, coords of ``da`` (positions unchanged: it is the
        data that move), ``dim`` = 0 .. n - 1; ``attrs["surrogate"]`` records kind,
        n and seed. Lazy for dask inputs ("phase" and "multivariate" need ``time`` in one
        chunk, "spatial" the space dims).

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import surrogates
    >>> da = sim.plane_wave((8, 8), n_times=100)
    >>> null = surrogates(da, "phase", n=3, seed=0)
    >>> print(null.dims, null.shape)
    ('trial', 'time', 'y', 'x') (3, 100, 8, 8)
    """
    da = check_activity(da, bads=bads)
    if dim in da.dims:
        raise DataModelError(
            f"da already has a {dim!r} dim; surrogates are stacked along {dim!r}, so make "
            f"them one trial at a time (da.isel({dim}=i)) or give another dim name"
        )
    if kind not in SURROGATE_KINDS:
        raise ValueError(f"kind {kind!r} is not known; use one of {SURROGATE_KINDS}")
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    dims = list(space_dims(da))
    if isinstance(da.data, np.ndarray):  # a dask stack is built lazily, chunk by chunk
        itemsize = np.dtype(complex if kind != "shuffle" and np.iscomplexobj(da.data)
                            else float).itemsize
        need = n * da.size * max(itemsize, da.dtype.itemsize)
        if kind == "spatial" and dims != ["channel"]:  # the (mirrored) spectrum, one draw
            need += 2 * 16 * da.size * (1 if da.attrs.get("periodic", 0) else 2 ** len(dims))
        check_memory(need, f"{n} {kind} surrogates of {dict(da.sizes)}",
                     "lower n, or pass fewer sites, frames or trials at a time")
    resolve(device)  # an unknown or missing device fails before any work
    rng = np.random.default_rng(seed)
    if kind == "shuffle":
        order = [d for d in da.dims if d not in dims] + dims
        moved = da.transpose(*order)
        data = moved.data
        flat = data.reshape(*data.shape[: len(order) - len(dims)], -1)
        # Bad sites (NaN after check_activity) stay in place, so they stay the bad ones.
        good = np.flatnonzero(~bad_sites(da).transpose(*dims).values.ravel())
        perms = np.broadcast_to(np.arange(flat.shape[-1]), (n, flat.shape[-1])).copy()
        perms[:, good] = good[np.argsort(rng.random((n, good.size)), axis=1)]
        if isinstance(flat, np.ndarray) and device is not None:
            values = shuffle_sites(flat, perms, device)  # the same gather in torch
        elif isinstance(flat, np.ndarray):
            values = np.moveaxis(flat[..., perms], -2, 0)  # (n, ..., sites) in one gather
        else:
            values = _dask_array().stack([flat[..., p] for p in perms], axis=0)
        values = values.reshape(n, *data.shape)
        out = xr.DataArray(values, dims=(dim, *order), coords=moved.coords)
        out = out.transpose(dim, *da.dims)
    elif kind in ("phase", "multivariate"):
        check_time_chunk(da)
        seeds = rng.integers(0, 2**63 - 1, size=n)
        out = apply_ufunc(
            twin(_phase_kernel, device), da, input_core_dims=[["time"]],
            output_core_dims=[[dim, "time"]],
            kwargs={"seeds": seeds, "shared": kind == "multivariate"},
            dask="parallelized", output_dtypes=[da.dtype],
            dask_gufunc_kwargs={"output_sizes": {dim: n}},
        ).transpose(dim, *da.dims)
    else:
        seeds = rng.integers(0, 2**63 - 1, size=n)
        if dims == ["channel"]:
            kernel, kwargs = _eigen_kernel, {"basis": _sensor_basis(da), "seeds": seeds}
        else:
            kernel, kwargs = _spatial_kernel, {"seeds": seeds, "n_space": len(dims),
                                               "periodic": bool(da.attrs.get("periodic", 0))}
        out = apply_ufunc(
            kernel, da, input_core_dims=[dims], output_core_dims=[[dim, *dims]],
            kwargs=kwargs, dask="parallelized", output_dtypes=[da.dtype],
            dask_gufunc_kwargs={"output_sizes": {dim: n}},
        ).transpose(dim, *da.dims)
    out = out.assign_coords({dim: np.arange(n)})
    out.attrs = dict(da.attrs)
    out.attrs["surrogate"] = json_attr(
        {"kind": kind, "n": n, "seed": seed if isinstance(seed, int | None) else "generator"})
    out.name = da.name
    return out


def _dask_array():
    import dask.array

    return dask.array


def _phase_kernel(x: np.ndarray, *, seeds, shared: bool) -> np.ndarray:
    """(..., time) -> (..., n, time): random Fourier phases per surrogate, drawn per site
    or (``shared``) once per frequency for every site. Sites without a finite sample are
    skipped; missing samples are filled with the site's mean and NaN again after."""
    n_t = x.shape[-1]
    flat = x.reshape(-1, n_t)
    out = np.full((flat.shape[0], len(seeds), n_t), np.nan, dtype=x.dtype)
    spec, alive, gaps = _phase_spectrum(flat)
    values = _phase_values(spec, gaps, seeds, shared, np.iscomplexobj(x), n_t)
    out[alive] = np.moveaxis(values, 0, 1)  # (sites, n, time)
    return out.reshape(*x.shape[:-1], len(seeds), n_t)


def _fft_module(dtype):
    """scipy.fft for double precision (the same pocketfft results as numpy.fft, about
    twice as fast here); numpy.fft otherwise (their single-precision results differ)."""
    from scipy import fft as sfft

    return sfft if np.dtype(dtype) in (np.float64, np.complex128) else np.fft


def _phase_spectrum(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spectra along time of the rows (sites, time) that hold a finite sample, missing
    samples filled with the row's mean: ``(spec, alive, gaps)``."""
    missing = ~np.isfinite(flat)
    alive = ~missing.all(axis=1)
    rows, gaps = flat[alive], missing[alive]
    if gaps.any():
        rows = np.where(gaps, np.nanmean(rows, axis=1, keepdims=True), rows)
    fft = _fft_module(rows.dtype)
    spec = fft.fft(rows, axis=-1) if np.iscomplexobj(rows) else fft.rfft(rows, axis=-1)
    return spec, alive, gaps


def _phase_values(spec: np.ndarray, gaps: np.ndarray, seeds, shared: bool, complex_: bool,
                  n_t: int, work: np.ndarray | None = None) -> np.ndarray:
    """(n, sites, time): the surrogates of ``spec`` (from :func:`_phase_spectrum`), one
    random phase per frequency (``shared``) or per site and frequency, NaN at the gaps.
    ``work``: a buffer shaped (n, sites, freq) for the rotated spectra, reused by a caller
    that draws again and again (complex data: the result is written over it)."""
    shape = spec.shape[-1:] if shared else spec.shape
    rot = np.exp(2j * np.pi * np.stack([np.random.default_rng(int(s)).random(shape)
                                        for s in seeds]))  # (n, [sites,] freq)
    if not complex_:
        rot[..., 0] = 1.0  # keep the mean
        if n_t % 2 == 0:
            rot[..., -1] = 1.0  # the Nyquist bin is real
    if shared:
        rot = rot[:, None, :]
    rot = np.multiply(rot, spec[None], out=work)  # (n, sites, freq)
    fft = _fft_module(spec.real.dtype)
    if not complex_:
        values = fft.irfft(rot, n=n_t, axis=-1)
    elif fft is np.fft:  # single precision: numpy.fft, which cannot overwrite its input
        values = fft.ifft(rot, axis=-1)
    else:  # rot is a temporary
        values = fft.ifft(rot, axis=-1, overwrite_x=True)
    if gaps.any():
        values[:, gaps] = np.nan
    return values


class PhaseWindows:
    """Time windows of "phase" or "multivariate" surrogates of one in-memory recording.

    ``draw(n, seed, starts, width)`` equals ``surrogates(da, kind, n, seed)`` cut to
    ``time`` ``[starts[j], starts[j] + width)`` in surrogate j, value for value, but the
    FFT along time is computed once for every draw and only one surrogate's full length
    is in memory at a time (detect_waves scans windows of many surrogates). ``da`` is
    taken as checked (detect_waves validated it; bad sites are NaN already).
    """

    def __init__(self, da: xr.DataArray, kind: str):
        if kind not in ("phase", "multivariate") or not isinstance(da.data, np.ndarray):
            raise DataModelError("PhaseWindows needs kind 'phase' or 'multivariate' and "
                                 "NumPy-backed data")
        self.axis = da.get_axis_num("time")
        x = np.moveaxis(da.values, self.axis, -1)  # as apply_ufunc moves the core dim
        self.lead, self.n_t, self.dtype = x.shape[:-1], x.shape[-1], x.dtype
        self.complex, self.shared = np.iscomplexobj(x), kind == "multivariate"
        self.spec, self.alive, self.gaps = _phase_spectrum(x.reshape(-1, self.n_t))
        # one draw at a time, in the precision of the rotated spectra (double, as the
        # random phases), as surrogates computes them
        self.work = np.empty((1, *self.spec.shape), np.result_type(self.spec, np.complex128))

    def draw(self, n: int, seed, starts, width: int, out: np.ndarray | None = None
             ) -> np.ndarray:
        """(n, *da.shape with ``time`` cut to ``width``), surrogate j from ``starts[j]``;
        written into ``out`` (that shape, time-major in memory) when given: a caller
        that draws again and again reuses one buffer, since fresh allocations this
        large can stall (the kernel compacts memory for the huge pages NumPy asks for)."""
        seeds = np.random.default_rng(seed).integers(0, 2**63 - 1, size=n)  # as surrogates
        # time-major, the frames' layout: each (sites, width) window goes in as one 2-D
        # transpose (the 3-D transposing copy of a site-major array cost 6x as much)
        if out is None:
            full = np.empty((n, width, self.alive.size), dtype=self.dtype)
        else:
            full = np.moveaxis(out, 1 + self.axis, 1).reshape(n, width, self.alive.size)
            if not np.shares_memory(full, out):
                raise ValueError("PhaseWindows.draw: out must be time-major in memory")
        full[:, :, ~self.alive] = np.nan
        for j, (s, a) in enumerate(zip(seeds, starts, strict=True)):
            values = _phase_values(self.spec, self.gaps, [s], self.shared, self.complex,
                                   self.n_t, self.work)[0]
            full[j][:, self.alive] = values[:, a:a + width].T
        return np.moveaxis(full.reshape(n, width, *self.lead), 1, 1 + self.axis)


def _unit_phasors(shape: tuple[int, ...], seed) -> np.ndarray:
    """Hermitian-symmetric unit phasors on a grid's FFT bins (the phases of the FFT of
    real white noise), 1 at the zero frequency so that the mean is kept."""
    w = np.fft.fftn(np.random.default_rng(int(seed)).standard_normal(shape))
    u = w / np.abs(w)
    u.flat[0] = 1.0
    return u


def _spatial_kernel(x: np.ndarray, *, seeds, n_space: int, periodic: bool) -> np.ndarray:
    """(..., *grid) -> (..., n, *grid): one random real spatial filter per surrogate, the
    same for every frame (so each spatial Fourier mode keeps its time course up to a phase).

    A periodic grid gets random Fourier phases (an all-pass filter). A finite grid is
    mirrored along every space axis first, which makes a grid 2**n_space times larger
    that is periodic without a seam (the FFT of the grid itself would join opposite
    edges); its Fourier phases are randomised and the original part is kept: a
    stationary field with the mirrored grid's circular autocorrelation, whose expected
    power per site is the frame's."""
    grid = x.shape[x.ndim - n_space:]
    axes = tuple(range(-n_space, 0))
    missing = ~np.isfinite(x)
    if missing.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # frames without a value
            mean = np.nanmean(x, axis=axes, keepdims=True)
        x = np.where(missing, np.nan_to_num(mean), x)
    dtype, real = x.dtype, not np.iscomplexobj(x)
    if not periodic:
        for a in axes:
            x = np.concatenate([x, np.flip(x, a)], axis=a)
    spec = np.fft.fftn(x, axes=axes)
    keep = (Ellipsis, *(slice(0, g) for g in grid))
    out = np.empty((*x.shape[:x.ndim - n_space], len(seeds), *grid), dtype=dtype)
    for i, s in enumerate(seeds):  # one surrogate's (mirrored) spectrum in memory at a time
        values = np.fft.ifftn(spec * _unit_phasors(x.shape[x.ndim - n_space:], s),
                              axes=axes)[keep]
        out[(Ellipsis, i, *(slice(None),) * n_space)] = values.real if real else values
    if missing.any():
        out[np.broadcast_to(np.expand_dims(missing, -n_space - 1), out.shape)] = np.nan
    return out


def _sensor_basis(da: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """Channels holding data, and the eigenvectors (columns) of their second-moment matrix
    over all samples (missing samples count as 0)."""
    order = [d for d in da.dims if d != "channel"] + ["channel"]
    x = da.transpose(*order).data.reshape(-1, da.sizes["channel"])
    x = np.where(np.isfinite(x), x, 0)
    gram = x.conj().T @ x
    gram = np.asarray(gram.compute() if hasattr(gram, "compute") else gram)
    alive = np.abs(np.diagonal(gram)) > 0
    _, vectors = np.linalg.eigh(gram[np.ix_(alive, alive)])
    return alive, vectors


def _eigen_kernel(x: np.ndarray, *, basis: tuple, seeds) -> np.ndarray:
    """(..., channel) -> (..., n, channel): a random sign (real) or phase (complex) per
    eigenvector of the channels' second-moment matrix, which that matrix keeps exactly."""
    alive, vectors = basis
    missing = ~np.isfinite(x)
    live = np.where(missing[..., alive], 0, x[..., alive])
    out = np.full((*x.shape[:-1], len(seeds), x.shape[-1]), np.nan, dtype=x.dtype)
    for i, s in enumerate(seeds):
        rng = np.random.default_rng(int(s))
        if np.iscomplexobj(x):
            d = np.exp(2j * np.pi * rng.random(vectors.shape[1]))
        else:
            d = rng.choice([-1.0, 1.0], size=vectors.shape[1])
        m = (vectors * d) @ vectors.conj().T  # V diag(d) V^H, unitary, commutes with x^H x
        out[..., i, alive] = live @ m  # frames are rows: (x m)^H (x m) = m^H x^H x m
    out[np.broadcast_to(missing[..., None, :], out.shape)] = np.nan
    return out


@public
def p_value(observed: xr.DataArray, null: xr.DataArray, *, dim: str = "trial",
            tail: str = "greater") -> xr.DataArray:
    """Permutation p-value of ``observed`` against ``null`` samples along ``dim``.

    ``p = (1 + #{null >= observed}) / (1 + n)`` for ``tail="greater"`` (Phipson & Smyth
    2010: never 0, exact for exchangeable surrogates); "less" counts ``null <=
    observed``; "two-sided" doubles the smaller one-sided value (at most 1). NaN null
    samples are dropped; a NaN observation gives NaN.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> from wavescope.analysis import p_value
    >>> null = xr.DataArray(np.arange(99.0), dims="trial")  # 99 surrogate scores 0 ... 98
    >>> print(float(p_value(xr.DataArray(95.0), null)))  # (1 + 4) / (1 + 99)
    0.05
    """
    if tail not in TAILS:
        raise ValueError(f"tail {tail!r} is not known; use one of {TAILS}")
    if dim not in null.dims:
        raise DataModelError(f"null has no dim {dim!r} holding the surrogate samples")
    n = null.notnull().sum(dim)

    def one(greater: bool):
        hits = (null >= observed) if greater else (null <= observed)
        return (1 + (hits & null.notnull()).sum(dim)) / (1 + n)

    if tail == "greater":
        p = one(True)
    elif tail == "less":
        p = one(False)
    else:
        p = np.minimum(1.0, 2 * np.minimum(one(True), one(False)))
    p = p.where(observed.notnull())
    p.name = "p_value"
    p.attrs = {"tail": tail, "units": "1"}
    return p


def q_values(p) -> np.ndarray:
    """Benjamini-Hochberg (1995) q-values of the p-values ``p`` (any shape; NaN stay NaN).

    ``q_i = min over p_j >= p_i of p_j m / rank_j``, m the number of finite p-values:
    rejecting every test with ``q <= alpha`` keeps the expected share of false
    discoveries at most ``alpha`` (independent or positively dependent tests).
    """
    p = np.asarray(p, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        try:
            from scipy.stats import false_discovery_control
        except ImportError:  # scipy < 1.11
            false_discovery_control = _bh
        q[ok] = false_discovery_control(p[ok])
    return q


def _bh(p: np.ndarray) -> np.ndarray:
    order = np.argsort(p)
    scaled = p[order] * p.size / np.arange(1, p.size + 1)
    q = np.empty(p.size)
    q[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return q


@public
def surrogate_test(
    score: Callable[[xr.DataArray], xr.DataArray],
    da: xr.DataArray,
    *,
    kind: str = "shuffle",
    n: int = 200,
    seed=0,
    tail: str = "greater",
) -> xr.Dataset:
    """Turn any score into a p-value against surrogates of ``da``.

    Parameters
    ----------
    score : callable
        ``score(activity) -> DataArray`` (for example :func:`pgd` or
        ``lambda z: fit_plane_wave(z)["strength"]``). It is called once on ``da`` and
        once on all surrogates stacked along ``trial``.
    da : xarray.DataArray
        The activity the score reads (without ``trial``).
    kind, n, seed
        Passed to :func:`surrogates`.
    tail : {"greater", "less", "two-sided"}
        Which direction of the score counts as extreme.

    Returns
    -------
    xarray.Dataset
        ``score`` (observed), ``p_value``, and ``null_mean``/``null_std`` of the score
        over surrogates, on the score's dims.

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal, pgd, surrogate_test
    >>> z = analytic_signal(sim.plane_wave((8, 8), n_times=60))
    >>> res = surrogate_test(lambda a: pgd(a).mean("time"), z, kind="shuffle", n=19, seed=0)
    >>> print(round(float(res["score"]), 2), round(float(res["p_value"]), 2))
    1.0 0.05
    """
    da = check_activity(da, need_space=False)  # score and surrogates run nested: unchecked
    observed = score(da)
    null = score(surrogates(da, kind=kind, n=n, seed=seed))
    if not isinstance(observed, xr.DataArray) or not isinstance(null, xr.DataArray):
        raise ValueError("score must return a DataArray (select one variable of a Dataset)")
    ds = xr.Dataset({
        "score": observed,
        "p_value": p_value(observed, null, tail=tail),
        "null_mean": null.mean("trial"),
        "null_std": null.std("trial"),
    })
    ds.attrs = {"surrogate": json_attr({"kind": kind, "n": int(n), "seed": seed
                                        if isinstance(seed, int | None) else "generator"}),
                "tail": tail}
    return ds
