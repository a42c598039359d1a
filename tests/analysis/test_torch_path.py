"""The torch path (``device=``) of the hot analysis kernels equals the NumPy path.

Every kernel runs on simulated waves (plane, radial, noise) on a grid, irregular positions
and a line, with gaps, through NumPy (``device=None``) and through torch on the CPU
(``device="cpu"``), and must agree within 1e-6 relative (float64). A CUDA run of the same
checks is skipped without a GPU.
"""

import sys

import numpy as np
import pytest
import xarray as xr

import wavescope as ws
from wavescope.analysis import (
    analytic_signal,
    fit_plane_wave,
    optical_flow,
    pgd,
    phase,
    phase_gradient,
    surrogates,
)

torch = pytest.importorskip("torch")

from conftest import irregular_positions  # noqa: E402

SIM = dict(n_times=96, sfreq=100.0, frequency=5.0)
BAND = (3.0, 8.0)
RTOL = 1e-6


def close(got, want, rtol=RTOL):
    """Same dims, coords, attrs and dtype; NaN in the same places; values within rtol
    (relative to each value, with a floor of 1e-9 of the largest, for values near 0)."""
    items = got.data_vars.items() if isinstance(got, xr.Dataset) else [(None, got)]
    if isinstance(got, xr.Dataset):
        assert set(got.data_vars) == set(want.data_vars)
    assert got.attrs == want.attrs
    for name, g in items:
        w = want[name] if name is not None else want
        assert g.dims == w.dims and g.dtype == w.dtype, name
        xr.testing.assert_identical(g.coords.to_dataset(), w.coords.to_dataset())
        assert g.attrs == w.attrs, name
        a, b = np.asarray(g.values), np.asarray(w.values)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=str(name))
        if b.dtype == bool:
            np.testing.assert_array_equal(a, b, err_msg=str(name))
            continue
        ok = ~np.isnan(b)
        floor = 1e-9 * (np.abs(b[ok]).max() if ok.any() else 0.0)
        np.testing.assert_allclose(a[ok], b[ok], rtol=rtol, atol=floor, err_msg=str(name))


def waves(where):
    """A plane wave, a radial wave and noise on ``where``."""
    yield ws.simulate.plane_wave(where, speed=40.0, direction=0.7, noise=0.2, seed=4, **SIM)
    if isinstance(where, tuple) and len(where) == 2:
        yield ws.simulate.radial_wave(where, speed=30.0, noise=0.2, seed=5, **SIM)
    yield ws.simulate.noise(where, n_times=SIM["n_times"], sfreq=SIM["sfreq"], seed=6)


SITES = {"grid": (12, 14), "irregular": irregular_positions(48), "line": (20,)}


@pytest.fixture(params=list(SITES))
def where(request):
    return SITES[request.param]


def with_gaps(da):
    """``da`` with a dead site and a missing sample at another."""
    v = da.values.copy()
    v[(slice(None),) + (1,) * (v.ndim - 1)] = np.nan
    v[(10,) + (2,) * (v.ndim - 1)] = np.nan
    return da.copy(data=v)


@pytest.mark.parametrize("band", [BAND, None, (3.0, None)])
def test_analytic_signal(where, band):
    for da in waves(where):
        close(analytic_signal(da, band=band, device="cpu"), analytic_signal(da, band=band))
    with pytest.warns(ws.WavescopeWarning):  # the dead site is reported on both paths
        gappy = with_gaps(da)
        close(analytic_signal(gappy, band=band, device="cpu"), analytic_signal(gappy, band=band))


def test_analytic_signal_generalized_flat_runs_and_phase():
    da = ws.simulate.plane_wave((6, 7), speed=40.0, noise=0.5, seed=1, **SIM)
    v = da.values.copy()
    v[30:50, 2, 3] = v[30, 2, 3]  # a clipped stretch: treated as missing
    da = da.copy(data=v)
    with pytest.warns(ws.WavescopeWarning, match="identical values"):
        got = analytic_signal(da, band=(2.0, 30.0), method="generalized", device="cpu")
    with pytest.warns(ws.WavescopeWarning, match="identical values"):
        want = analytic_signal(da, band=(2.0, 30.0), method="generalized")
    close(got, want)
    assert np.isnan(got.values[35, 2, 3])
    close(phase(da.real, band=BAND, device="cpu", flat_samples=None),
          phase(da.real, band=BAND, flat_samples=None))


def test_analytic_signal_streams_dask_chunks():
    pytest.importorskip("dask")
    da = ws.simulate.plane_wave((4, 5), speed=40.0, noise=0.3, seed=2, n_times=3000,
                                sfreq=100.0, frequency=5.0).chunk(time=1000)
    got = analytic_signal(da, band=BAND, device="cpu")
    assert got.chunks is not None
    close(got.compute(), analytic_signal(da, band=BAND).compute())


def test_short_recording_is_refused_on_both_paths():
    da = ws.simulate.plane_wave((3, 3), n_times=20, sfreq=100.0, frequency=5.0)
    for device in (None, "cpu"):
        with pytest.raises(ws.DataModelError, match="too short for this filter"):
            analytic_signal(da, band=BAND, device=device)


def test_phase_gradient_and_pgd(where):
    for da in waves(where):
        z = with_gaps(analytic_signal(da, band=BAND))
        with pytest.warns(ws.WavescopeWarning):
            close(phase_gradient(z, device="cpu"), phase_gradient(z))
        for form in ("rubino", "unit"):
            with pytest.warns(ws.WavescopeWarning):
                close(pgd(z, form=form, device="cpu"), pgd(z, form=form))
        ph = phase(analytic_signal(da, band=BAND))  # phase input, no gaps
        close(pgd(ph, device="cpu"), pgd(ph))


def test_phase_gradient_periodic_and_unequal_spacing():
    da = ws.simulate.plane_wave((10, 12), speed=40.0, direction=2.0, noise=0.1, seed=3,
                                **SIM)
    z = analytic_signal(da, band=BAND)
    ring = z.assign_attrs(periodic=1)
    close(phase_gradient(ring, device="cpu"), phase_gradient(ring))
    stretched = z.assign_coords(x=np.cumsum(np.linspace(0.5, 1.5, z.sizes["x"])))
    close(phase_gradient(stretched, device="cpu"), phase_gradient(stretched))
    close(pgd(stretched, device="cpu"), pgd(stretched))


def test_fit_plane_wave(where):
    for da in waves(where):
        z = analytic_signal(da, band=BAND).isel(time=slice(10, 86))
        close(fit_plane_wave(z, device="cpu"), fit_plane_wave(z))
    z = with_gaps(z)
    with pytest.warns(ws.WavescopeWarning):
        close(fit_plane_wave(z, device="cpu"), fit_plane_wave(z))


def test_fit_plane_wave_k_max_and_known_answer(monkeypatch):
    from wavescope.analysis import _torch

    calls = []
    search = _torch._PlaneFit.search
    monkeypatch.setattr(_torch._PlaneFit, "search",
                        lambda self, *a: calls.append(1) or search(self, *a))
    da = ws.simulate.plane_wave((12, 12), speed=40.0, direction=-1.2, seed=1, **SIM)
    z = analytic_signal(da, band=BAND).isel(time=slice(10, 86))
    got = fit_plane_wave(z, k_max=1.5, device="cpu")
    assert calls  # the search ran in torch, not NumPy's
    close(got, fit_plane_wave(z, k_max=1.5))
    assert float(got["speed"].median()) == pytest.approx(40.0, rel=0.05)
    assert float(got["direction"].median()) == pytest.approx(-1.2, abs=0.02)


def flow_inputs():
    for da in waves(SITES["grid"]):
        yield analytic_signal(da, band=BAND).isel(time=slice(20, 50))


@pytest.mark.parametrize("kw", [dict(tol=1e-6), dict(alpha=0.1, smooth=0, tol=1e-7),
                                dict(on="amplitude", smooth=0, tol=1e-6)])
def test_optical_flow_float64(kw):
    for z in flow_inputs():
        close(optical_flow(z, device="cpu", **kw), optical_flow(z, **kw))
    z = with_gaps(z).assign_attrs(periodic=1)
    with pytest.warns(ws.WavescopeWarning):
        close(optical_flow(z, device="cpu", **kw), optical_flow(z, **kw))


def test_optical_flow_float32_iterations():
    """At the default tol the iterations run in float32 on both paths, in the same order."""
    for z in flow_inputs():
        got, want = optical_flow(z, device="cpu"), optical_flow(z)
        close(got, want, rtol=1e-5)
        np.testing.assert_array_equal(got["n_iter"], want["n_iter"])


@pytest.mark.parametrize("kind", ["shuffle", "phase", "multivariate"])
def test_surrogates(kind):
    da = ws.simulate.plane_wave((6, 8), speed=40.0, noise=0.2, seed=4, **SIM)
    z = analytic_signal(da, band=BAND)
    for x in (da, z, da.isel(time=slice(0, 95)), with_gaps(da)):
        with pytest.warns(ws.WavescopeWarning) if x.isnull().any() else _nothing():
            got = surrogates(x, kind, n=5, seed=3, device="cpu")
        with pytest.warns(ws.WavescopeWarning) if x.isnull().any() else _nothing():
            want = surrogates(x, kind, n=5, seed=3)
        close(got, want)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "tpu", 3])
def test_bad_device_names_are_refused(device):
    da = ws.simulate.plane_wave((4, 4), **SIM)
    z = analytic_signal(da, band=BAND)
    for call in (lambda: analytic_signal(da, band=BAND, device=device),
                 lambda: pgd(z, device=device), lambda: phase_gradient(z, device=device),
                 lambda: pgd(phase_gradient(z), device=device),
                 lambda: fit_plane_wave(z, device=device),
                 lambda: optical_flow(z, device=device),
                 lambda: surrogates(da, "spatial", n=2, device=device)):
        with pytest.raises(ValueError, match="device"):
            call()


def test_missing_accelerators_are_refused():
    z = analytic_signal(ws.simulate.plane_wave((4, 4), **SIM), band=BAND)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available"):
            pgd(z, device="cuda")
    else:
        with pytest.raises(ValueError, match="not available"):
            pgd(z, device=f"cuda:{torch.cuda.device_count()}")
    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match="not available"):
            pgd(z, device="mps")


def test_without_torch_the_error_names_the_extra(monkeypatch):
    z = analytic_signal(ws.simulate.plane_wave((4, 4), **SIM), band=BAND)
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails
    with pytest.raises(ImportError, match=r"wavescope\[training\]"):
        pgd(z, device="cpu")
    assert float(pgd(z).min()) > 0.9  # the NumPy path needs no torch


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_cuda_equals_numpy():
    """float64 on the GPU: the same 1e-6 relative."""
    da = ws.simulate.radial_wave((12, 14), speed=30.0, noise=0.2, seed=5, **SIM)
    close(analytic_signal(da, band=BAND, device="cuda"), analytic_signal(da, band=BAND))
    z = analytic_signal(da, band=BAND).isel(time=slice(10, 86))
    close(phase_gradient(z, device="cuda"), phase_gradient(z))
    close(pgd(z, device="cuda"), pgd(z))
    close(fit_plane_wave(z, device="cuda"), fit_plane_wave(z))
    close(optical_flow(z, tol=1e-6, device="cuda"), optical_flow(z, tol=1e-6))
    for kind in ("shuffle", "phase", "multivariate"):
        close(surrogates(da, kind, n=4, device="cuda"), surrogates(da, kind, n=4))
