"""Nulls that keep what smooth recordings have, q-values, and a small calibration check.

The full calibration table (EEG dipoles through a forward model, 32 x 32 random fields,
power at stated SNRs) is benchmarks/calibrate_nulls.py; this pins a small version.
"""

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from scipy.stats import binom

import wavescope as ws
from wavescope.analysis import analytic_signal, detect_waves, surrogates
from wavescope.analysis.stats import q_values


def smooth_field(n_times=1200, size=12, seed=0):
    """A Gaussian random field: white noise smoothed in space and time, no waves."""
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.standard_normal((n_times, size, size)), (1.0, 2.0, 2.0))
    return ws.from_array(field, ("time", "y", "x"), sfreq=100.0)


def sensors(n_times=512, seed=0):
    xy = np.random.default_rng(seed).uniform(0, 8, (20, 2))
    da = ws.simulate.plane_wave(xy, n_times=n_times, speed=30.0, noise=0.5, seed=seed)
    return da


def test_multivariate_keeps_every_cross_spectrum_and_phase_does_not():
    da = ws.simulate.plane_wave((5, 6), n_times=256, speed=30.0, noise=0.3, seed=1)
    flat = da.values.reshape(256, -1)
    spec = np.fft.rfft(flat, axis=0)
    cross = spec[:, :, None] * spec[:, None, :].conj()
    s = surrogates(da, "multivariate", n=3, seed=2)
    assert np.isrealobj(s.values) and s.dims == ("trial", *da.dims)
    for i in range(3):
        si = np.fft.rfft(s.values[i].reshape(256, -1), axis=0)
        np.testing.assert_allclose(si[:, :, None] * si[:, None, :].conj(), cross,
                                   atol=1e-8 * np.abs(cross).max())
        assert not np.allclose(s.values[i], da.values)
    p = np.fft.rfft(surrogates(da, "phase", n=1, seed=2).values[0].reshape(256, -1), axis=0)
    assert not np.allclose(p[:, :, None] * p[:, None, :].conj(), cross,
                           atol=1e-3 * np.abs(cross).max())
    # on an analytic signal it keeps the phase lags between sites, so a plane wave
    # that lasts the whole recording stays one (the null tests transient organisation)
    z = analytic_signal(da)
    zs = surrogates(z, "multivariate", n=2, seed=0)
    assert np.iscomplexobj(zs.values)
    pgd = ws.analysis.pgd
    assert float(pgd(zs).mean()) > 0.8 > float(pgd(surrogates(z, "phase", n=2)).mean())


def test_spatial_on_grids_keeps_each_frames_spatial_spectrum():
    # a torus (periodic=1) keeps the FFT version; finite grids: tests/analysis/test_stats.py
    da = ws.simulate.radial_wave((12, 14), n_times=64, speed=20.0, noise=0.2,
                                 seed=3).assign_attrs(periodic=1)
    s = surrogates(da, "spatial", n=3, seed=1)
    assert np.isrealobj(s.values)
    power = np.abs(np.fft.fft2(da.values))
    for i in range(3):
        np.testing.assert_allclose(np.abs(np.fft.fft2(s.values[i])), power,
                                   atol=1e-9 * power.max())
    # one spatial filter per surrogate for all frames: the frames' order is kept
    shifted = surrogates(da.isel(time=slice(10, 20)), "spatial", n=3, seed=1)
    np.testing.assert_allclose(shifted.values, s.values[:, 10:20], atol=1e-12)
    # on an analytic signal it is the analytic signal of the randomised real field
    z = analytic_signal(da)
    np.testing.assert_allclose(surrogates(z, "spatial", n=2, seed=4).values.real,
                               surrogates(z.real, "spatial", n=2, seed=4).values,
                               atol=1e-12)
    # the source's radial organisation is scrambled
    radial = ws.analysis.radial_correlation
    assert abs(float(radial(surrogates(z, "spatial", n=2, seed=0))["rho"].mean())) < 0.5
    assert abs(float(radial(z)["rho"].mean())) > 0.9


def test_spatial_on_sensors_keeps_the_covariance():
    da = sensors()
    for data in (da, analytic_signal(da)):
        x = data.values
        s = surrogates(data, "spatial", n=3, seed=0)
        assert s.dtype == data.dtype
        gram = x.conj().T @ x
        for i in range(3):
            y = s.values[i]
            np.testing.assert_allclose(y.conj().T @ y, gram, atol=1e-8 * np.abs(gram).max())
            assert not np.allclose(y, x)


@pytest.mark.filterwarnings("ignore:9 of 72 sites hold only NaN")
@pytest.mark.parametrize("kind", ["phase", "multivariate", "spatial", "shuffle"])
def test_nan_sites_are_skipped_and_stay_nan(kind):
    da = ws.simulate.plane_wave((8, 9), n_times=128, speed=30.0, noise=0.3, seed=1)
    values = da.values.copy()
    values[:, 0, :] = np.nan  # a dead row (imaging outside a window)
    values[5:9, 4, 4] = np.nan  # a few missing samples
    s = surrogates(da.copy(data=values), kind, n=2, seed=0)
    dead = np.isnan(s.values).all(axis=1)  # sites without any value, per surrogate
    assert (dead.sum(axis=(1, 2)) == 9).all()
    if kind != "shuffle":  # the others keep sites in place
        assert np.isnan(s.values[:, :, 0, :]).all()
        assert np.isnan(s.values[:, 5:9, 4, 4]).all()
        assert np.isfinite(np.delete(s.values[:, :, 1:].reshape(2, 128, -1),
                                     3 * 9 + 4, axis=2)).all()


def test_new_kinds_stay_lazy_on_dask():
    dask = pytest.importorskip("dask")
    grid = ws.simulate.plane_wave((6, 7), n_times=100, speed=30.0, noise=0.3, seed=1)
    for da, kind in ((grid, "multivariate"), (grid, "spatial"), (sensors(), "spatial")):
        lazy = surrogates(da.chunk(time=50 if kind == "spatial" else -1), kind, n=2, seed=5)
        assert isinstance(lazy.data, dask.array.Array)
        np.testing.assert_allclose(lazy.values, surrogates(da, kind, n=2, seed=5).values,
                                   atol=1e-12)


def test_q_values_are_benjamini_hochberg():
    p = np.array([0.01, 0.04, 0.03, 0.5, np.nan, 0.002])
    q = q_values(p)
    # by hand: sorted 0.002, 0.01, 0.03, 0.04, 0.5 with m = 5 -> p m / rank, then the
    # running minimum from the top
    np.testing.assert_allclose(q[[5, 0, 2, 1, 3]], [0.01, 0.025, 0.05, 0.05, 0.5])
    assert np.isnan(q[4])


@pytest.mark.slow
def test_calibration_on_a_smooth_random_field():
    """On a smooth field without waves the default null keeps the false-positive rate at
    about 5 %, while site shuffles (and per-site phase randomisation, the old defaults)
    call nearly every event significant: smoothness alone beats them."""
    da = smooth_field(n_times=7200)  # 72 s: >= 15 events now that few frames are planar
    # and the radial test allows for correlated residuals
    ev = detect_waves(da, (8.0, 12.0), n_surrogates=3, seed=0)
    n = ev.sizes["event"]
    assert n >= 15
    k = int((ev["p_value"] < 0.05).sum())
    assert k <= binom.ppf(0.999, n, 0.05)  # within the binomial bound of a 5 % rate
    sig = json.loads(ev.attrs["significance"])
    assert sig["null"] == "multivariate" and sig["n_surrogates"] == 3
    old = detect_waves(da, (8.0, 12.0), n_surrogates=2, surrogate="shuffle", seed=0)
    k_old = int((old["p_value"] < 0.05).sum())
    assert k_old > binom.ppf(0.999, n, 0.05) and k_old >= 0.5 * n
