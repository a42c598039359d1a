import numpy as np
import pytest
import xarray as xr

import wavescope as ws
from wavescope.analysis import analytic_signal, p_value, pgd, surrogate_test, surrogates


def wave(where=(6, 7), n_times=200, **kw):
    return ws.simulate.plane_wave(where, n_times=n_times, speed=30.0, direction=0.4,
                                  noise=0.3, seed=1, **kw)


def test_shuffle_permutes_sites_and_keeps_each_time_course():
    da = wave()
    s = surrogates(da, "shuffle", n=5, seed=3)
    assert s.dims == ("trial", *da.dims) and s.sizes["trial"] == 5
    xr.testing.assert_identical(s["x"], da["x"])  # positions stay, the data move
    flat = da.values.reshape(200, -1)
    for i in range(5):
        sf = s.values[i].reshape(200, -1)
        # every surrogate site is one original site's whole series
        match = (sf[:, :, None] == flat[:, None, :]).all(axis=0)
        assert (match.sum(axis=1) == 1).all()
        assert not np.array_equal(sf, flat)
    xr.testing.assert_identical(s, surrogates(da, "shuffle", n=5, seed=3))
    assert not np.array_equal(s.values, surrogates(da, "shuffle", n=5, seed=4).values)


def test_phase_surrogates_keep_each_amplitude_spectrum():
    da = wave(n_times=256)
    s = surrogates(da, "phase", n=4, seed=0)
    assert np.isrealobj(s.values)
    spec = np.abs(np.fft.rfft(da.values, axis=0))
    for i in range(4):
        np.testing.assert_allclose(np.abs(np.fft.rfft(s.values[i], axis=0)), spec, atol=1e-9)
    # sites lose their phase relations: the plane wave's PGD collapses
    z = analytic_signal(da)
    zs = surrogates(z, "phase", n=4, seed=0)
    assert np.iscomplexobj(zs.values)
    neg = np.fft.fft(zs.values, axis=1)[:, 129:]  # an analytic signal stays analytic
    assert np.abs(neg).max() < 1e-9 * np.abs(np.fft.fft(zs.values, axis=1)).max()
    assert float(pgd(zs).mean()) < 0.5 < float(pgd(z).mean())


def test_missing_values_stay_missing_in_phase_surrogates():
    da = wave()
    values = da.values.copy()
    values[10:20, 2, 3] = np.nan
    s = surrogates(da.copy(data=values), "phase", n=3, seed=1)
    assert np.isnan(s.values[:, 10:20, 2, 3]).all()
    assert np.isfinite(np.delete(s.values.reshape(3, 200, -1), 2 * 7 + 3, axis=2)).all()


def test_p_value_counts_exceedances():
    null = xr.DataArray(np.arange(1.0, 100.0)[:, None] * [1.0, 1.0], dims=("trial", "time"),
                        coords={"time": [0, 1]})
    observed = xr.DataArray([150.0, -150.0, np.nan], dims="time")
    null = null.reindex(time=[0, 1, 2])
    p = p_value(observed, null)
    assert p.values[0] == pytest.approx(1 / 100)  # above every one of 99 surrogates
    assert p.values[1] == pytest.approx(100 / 100)  # below them all
    assert np.isnan(p.values[2])
    p_less = p_value(xr.DataArray([0.5, 150.0, 0.5], dims="time"), null, tail="less")
    assert p_less.values[0] == pytest.approx(1 / 100)
    assert p_less.values[1] == pytest.approx(1.0)
    two = p_value(observed, null, tail="two-sided")
    assert two.values[0] == pytest.approx(2 / 100) and two.values[1] == pytest.approx(2 / 100)


def test_surrogate_test_turns_pgd_into_p_values():
    z = analytic_signal(wave()).isel(time=slice(20, 180))
    res = surrogate_test(pgd, z, n=39, seed=0)
    assert set(res.data_vars) == {"score", "p_value", "null_mean", "null_std"}
    np.testing.assert_allclose(res["p_value"].values, 1 / 40)
    noise = analytic_signal(ws.simulate.noise((6, 7), n_times=200, seed=2)).isel(
        time=slice(20, 180))
    pn = surrogate_test(pgd, noise, n=39, seed=0)["p_value"].values
    assert 0.3 < np.median(pn) < 0.7  # under the null, p-values spread over (0, 1]


def test_dask_surrogates_stay_lazy():
    dask = pytest.importorskip("dask")
    da = wave()
    for kind in ("shuffle", "phase"):
        lazy = surrogates(da.chunk(time=-1), kind, n=3, seed=5)
        assert isinstance(lazy.data, dask.array.Array)
        xr.testing.assert_allclose(lazy.compute(), surrogates(da, kind, n=3, seed=5))


def test_errors():
    da = wave()
    with pytest.raises(ws.DataModelError, match="one trial at a time"):
        surrogates(da.expand_dims(trial=2), n=2)
    with pytest.raises(ValueError, match="kind"):
        surrogates(da, "bootstrap")
    with pytest.raises(ValueError, match="tail"):
        p_value(da.isel(time=0), surrogates(da, n=2).isel(time=0), tail="upper")


def test_shuffle_under_another_dim_keeps_the_trials_apart():
    # Two trials shuffled by one permutation: each trial's sites are its own, reordered.
    da = xr.concat([wave(), -wave()], dim="trial")
    s = surrogates(da, "shuffle", n=2, seed=0, dim="surrogate")
    assert s.dims == ("surrogate", *da.dims) and s.sizes["surrogate"] == 2
    np.testing.assert_array_equal(s.values[0, 1], -s.values[0, 0])  # one permutation
    one = s.isel(surrogate=0).values.reshape(2, 200, -1)
    orig = da.values.reshape(2, 200, -1)
    assert sorted(map(tuple, one[0].T)) == sorted(map(tuple, orig[0].T))
    with pytest.raises(ws.DataModelError, match="already has a 'trial' dim"):
        surrogates(da, n=2)


def smooth_frames(n_times=40, size=24, seed=0):
    """A 24 x 24 window into a larger smooth stationary field (no wave, no reflecting
    edge: the window's edges are not the field's)."""
    from scipy.ndimage import gaussian_filter

    big = gaussian_filter(np.random.default_rng(seed).standard_normal((n_times, 3 * size,
                                                                         3 * size)),
                          (0, 3, 3), mode="wrap")
    return ws.from_array(big[:, size:2 * size, size:2 * size], ("time", "y", "x"),
                         sfreq=100.0)


def variogram(v, lag, axis):
    """Half the mean squared difference of sites ``lag`` apart along ``axis`` (per frame)."""
    n = v.shape[axis]
    d = np.take(v, np.arange(lag, n), axis) - np.take(v, np.arange(n - lag), axis)
    return 0.5 * np.mean(d**2, axis=(-2, -1))


def test_spatial_on_a_finite_grid_keeps_each_frames_variogram_without_a_seam():
    da = smooth_frames()
    s = surrogates(da, "spatial", n=32, seed=0)
    assert np.isrealobj(s.values) and s.dims == ("trial", *da.dims)
    assert not np.allclose(s.values[0], da.values) and not np.allclose(s.values[0],
                                                                         s.values[1])
    # each frame's power is kept in expectation: within 3 % over all, 25 % per frame
    # (mean of 32 surrogates; one surrogate sees part of a larger random field)
    energy = (s.values**2).sum(axis=(-2, -1)) / (da.values**2).sum(axis=(-2, -1))
    assert abs(energy.mean() - 1) < 0.03 and np.abs(energy.mean(axis=0) - 1).max() < 0.25
    for axis in (-1, -2):
        for lag in (1, 2, 3, 6):  # within 20 % out to the correlation length
            ratio = variogram(s.values, lag, axis).mean() / variogram(da.values, lag,
                                                                       axis).mean()
            assert 0.8 < ratio < 1.05, (axis, lag, ratio)
    # the torus filter (the grid's own FFT) on the same window adds a seam: rough fields
    torus = surrogates(da.assign_attrs(periodic=1), "spatial", n=4, seed=0).values
    assert variogram(torus, 1, -1).mean() / variogram(da.values, 1, -1).mean() > 1.5


def test_spatial_on_a_finite_grid_is_the_torus_version_on_its_mirror():
    da = smooth_frames(n_times=10, size=12)
    v = da.values
    for axis in (-1, -2):
        v = np.concatenate([v, np.flip(v, axis)], axis=axis)
    mirror = ws.from_array(v, ("time", "y", "x"), sfreq=100.0, periodic=True)
    s = surrogates(da, "spatial", n=3, seed=7).values
    np.testing.assert_allclose(
        s, surrogates(mirror, "spatial", n=3, seed=7).values[..., :12, :12], atol=1e-12)
    # on a periodic grid each frame's Fourier power spectrum is kept exactly, here not
    ref = np.abs(np.fft.fft2(v))
    got = np.abs(np.fft.fft2(surrogates(mirror, "spatial", n=3, seed=7).values))
    np.testing.assert_allclose(got, np.broadcast_to(ref, got.shape), atol=1e-9 * ref.max())
    assert not np.allclose(np.abs(np.fft.fft2(s)), np.abs(np.fft.fft2(da.values)), rtol=0.05)


def test_spatial_on_a_finite_grid_scrambles_a_plane_wave():
    da = ws.simulate.plane_wave((24, 24), n_times=100, speed=40.0, frequency=5.0,
                                direction=0.7, noise=0.1, seed=1)
    z = analytic_signal(da).isel(time=slice(10, 90))
    phase_gradient = pgd(surrogates(z, "spatial", n=8, seed=0)).mean("time").values
    assert float(pgd(z).mean()) > 0.95
    assert phase_gradient.mean() < 0.35 and phase_gradient.max() < 0.5


def test_spatial_on_a_finite_grid_is_one_filter_for_all_frames():
    da = smooth_frames(n_times=60)
    s = surrogates(da, "spatial", n=3, seed=2)
    # the same filter for every frame: a slice of the recording gets the same frames,
    # so time courses stay continuous
    part = surrogates(da.isel(time=slice(20, 35)), "spatial", n=3, seed=2)
    np.testing.assert_allclose(part.values, s.values[:, 20:35], atol=1e-12)
    # a real filter commutes with the Hilbert transform in time: the surrogate of the
    # analytic signal is the analytic signal of the surrogate
    z = analytic_signal(da)
    zs = surrogates(z, "spatial", n=3, seed=2)
    assert np.iscomplexobj(zs.values)
    np.testing.assert_allclose(zs.values.real, surrogates(z.real, "spatial", n=3,
                                                          seed=2).values, atol=1e-12)
    np.testing.assert_allclose(zs.values.imag, surrogates(z.imag, "spatial", n=3,
                                                          seed=2).values, atol=1e-12)


@pytest.mark.filterwarnings("ignore:24 of 576 sites hold only NaN")
def test_spatial_on_a_finite_grid_keeps_nan_sites_and_missing_samples():
    values = smooth_frames().values.copy()
    values[:, :, 0] = np.nan  # a dead column
    values[3:7, 10, 12] = np.nan  # missing samples
    s = surrogates(ws.from_array(values, ("time", "y", "x"), sfreq=100.0), "spatial",
                   n=2, seed=0).values
    finite = np.isfinite(values)
    assert (np.isfinite(s) == finite).all()  # NaN exactly where the data have none
    # the gaps are filled with the frame's mean for the transform
    filled = np.where(finite, values, np.nanmean(values, axis=(1, 2), keepdims=True))
    ref = surrogates(ws.from_array(filled, ("time", "y", "x"), sfreq=100.0), "spatial",
                     n=2, seed=0).values
    np.testing.assert_allclose(s[:, finite], ref[:, finite], atol=1e-12)
