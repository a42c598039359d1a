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
    with pytest.raises(ws.DataModelError, match="kind"):
        surrogates(da, "bootstrap")
    with pytest.raises(ws.DataModelError, match="tail"):
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
