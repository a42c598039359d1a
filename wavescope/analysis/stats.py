"""Surrogate data and p-values for any score.

Two nulls (WAVES.md, Significance):

- ``shuffle``: the sites' positions are permuted (each site keeps its whole time course),
  the field's standard null for spatial organisation: it keeps every site's spectrum and
  the distribution of phases in each frame, and destroys where they sit;
- ``phase``: each site's Fourier phases are randomised independently (same amplitude
  spectrum per site), which also destroys phase locking between sites (synchrony).

Surrogates are stacked along ``trial`` so that every analysis function, which treats
``trial`` as frames, scores all of them in one vectorised call.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xarray as xr

from ..core import DataModelError, bad_sites, space_dims
from ._common import apply_ufunc, check_activity, check_time_chunk, json_attr

__all__ = ["surrogates", "p_value", "surrogate_test"]

KINDS = ("shuffle", "phase")
TAILS = ("greater", "less", "two-sided")


def surrogates(da: xr.DataArray, kind: str = "shuffle", n: int = 100, seed=0, *,
               dim: str = "trial", bads=None) -> xr.DataArray:
    """``n`` surrogates of ``da``, stacked along a new leading ``dim`` (``trial``).

    Parameters
    ----------
    da : xarray.DataArray
        Activity without a ``dim`` dim (select one with ``da.isel(trial=i)``): real
        signal or analytic signal (complex). NaN sites stay NaN (they move with
        ``shuffle``).
    kind : {"shuffle", "phase"}
        "shuffle": one random permutation of the sites per surrogate, applied to every
        frame (and every trial or feature of ``da``). "phase": per site, the FFT along
        time keeps its amplitudes and gets uniform random phases (conjugate-symmetric for
        real data, so surrogates stay real; an analytic signal stays analytic); missing
        samples are filled with the site's mean for the transform and are NaN again in
        the surrogate.
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

    Returns
    -------
    xarray.DataArray
        Dims ``(dim, *da.dims)``, coords of ``da`` (positions unchanged: it is the
        data that move), ``dim`` = 0 .. n - 1; ``attrs["surrogate"]`` records kind,
        n and seed. Lazy for dask inputs (``phase`` needs ``time`` in one chunk).
    """
    da = check_activity(da, bads=bads)
    if dim in da.dims:
        raise DataModelError(
            f"da already has a {dim!r} dim; surrogates are stacked along {dim!r}, so make "
            f"them one trial at a time (da.isel({dim}=i)) or give another dim name"
        )
    if kind not in KINDS:
        raise DataModelError(f"kind {kind!r} is not known; use one of {KINDS}")
    n = int(n)
    if n < 1:
        raise DataModelError(f"n must be a positive integer, got {n}")
    rng = np.random.default_rng(seed)
    dims = list(space_dims(da))
    if kind == "shuffle":
        order = [d for d in da.dims if d not in dims] + dims
        moved = da.transpose(*order)
        data = moved.data
        flat = data.reshape(*data.shape[: len(order) - len(dims)], -1)
        # Bad sites (NaN after check_activity) stay in place, so they stay the bad ones.
        good = np.flatnonzero(~bad_sites(da).transpose(*dims).values.ravel())
        perms = np.broadcast_to(np.arange(flat.shape[-1]), (n, flat.shape[-1])).copy()
        perms[:, good] = good[np.argsort(rng.random((n, good.size)), axis=1)]
        if isinstance(flat, np.ndarray):
            values = np.moveaxis(flat[..., perms], -2, 0)  # (n, ..., sites) in one gather
        else:
            values = _dask_array().stack([flat[..., p] for p in perms], axis=0)
        values = values.reshape(n, *data.shape)
        out = xr.DataArray(values, dims=(dim, *order), coords=moved.coords)
        out = out.transpose(dim, *da.dims)
    else:
        check_time_chunk(da)
        seeds = rng.integers(0, 2**63 - 1, size=n)
        out = apply_ufunc(
            _phase_kernel, da, input_core_dims=[["time"]],
            output_core_dims=[[dim, "time"]], kwargs={"seeds": seeds},
            dask="parallelized", output_dtypes=[da.dtype],
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


def _phase_kernel(x: np.ndarray, *, seeds) -> np.ndarray:
    """(..., time) -> (..., n, time): per site and surrogate, random Fourier phases."""
    n_t = x.shape[-1]
    missing = ~np.isfinite(x)
    mean = np.nanmean(np.where(missing.all(axis=-1, keepdims=True), 0.0, x), axis=-1,
                      keepdims=True) if missing.any() else None
    filled = np.where(missing, mean, x) if mean is not None else x
    out = np.empty((*x.shape[:-1], len(seeds), n_t), dtype=x.dtype)
    if np.iscomplexobj(x):
        spec = np.fft.fft(filled, axis=-1)
        for i, s in enumerate(seeds):
            rng = np.random.default_rng(int(s))
            rot = np.exp(2j * np.pi * rng.random(spec.shape))
            out[..., i, :] = np.fft.ifft(spec * rot, axis=-1)
    else:
        spec = np.fft.rfft(filled, axis=-1)
        for i, s in enumerate(seeds):
            rng = np.random.default_rng(int(s))
            rot = np.exp(2j * np.pi * rng.random(spec.shape))
            rot[..., 0] = 1.0  # keep the mean
            if n_t % 2 == 0:
                rot[..., -1] = 1.0  # the Nyquist bin is real
            out[..., i, :] = np.fft.irfft(spec * rot, n=n_t, axis=-1)
    out[np.broadcast_to(missing[..., None, :], out.shape)] = np.nan
    return out


def p_value(observed: xr.DataArray, null: xr.DataArray, *, dim: str = "trial",
            tail: str = "greater") -> xr.DataArray:
    """Permutation p-value of ``observed`` against ``null`` samples along ``dim``.

    ``p = (1 + #{null >= observed}) / (1 + n)`` for ``tail="greater"`` (Phipson & Smyth
    2010: never 0, exact for exchangeable surrogates); "less" counts ``null <=
    observed``; "two-sided" doubles the smaller one-sided value (at most 1). NaN null
    samples are dropped; a NaN observation gives NaN.
    """
    if tail not in TAILS:
        raise DataModelError(f"tail {tail!r} is not known; use one of {TAILS}")
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
    """
    observed = score(da)
    null = score(surrogates(da, kind=kind, n=n, seed=seed))
    if not isinstance(observed, xr.DataArray) or not isinstance(null, xr.DataArray):
        raise DataModelError("score must return a DataArray (select one variable of a Dataset)")
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
