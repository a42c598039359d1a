import json

import numpy as np
import pytest
import xarray as xr

import wavescope as ws
from wavescope.analysis import (
    analytic_signal,
    classify_patterns,
    fit_plane_wave,
    local_pgd,
    pgd,
    radial_correlation,
    rotational_correlation,
    surrogates,
    synchrony,
    wave_direction,
    wave_speed,
    wavelength,
)

SIM = dict(n_times=300, sfreq=100.0, frequency=5.0)
BAND = (3.0, 8.0)
INNER = slice(50, 250)  # frames away from the recording's edges


def analytic(da):
    return analytic_signal(da, band=BAND).isel(time=INNER)


def angle_error_deg(a, b):
    return np.degrees(np.abs(np.angle(np.exp(1j * (np.asarray(a) - b)))))


@pytest.mark.parametrize("direction", [0.3, 2.5, -1.9])
def test_plane_wave_speed_and_direction_from_fit_and_gradient(sites, direction):
    where, _ = sites
    da = ws.simulate.plane_wave(where, speed=40.0, direction=direction, noise=0.2, seed=4,
                                **SIM)
    z = analytic(da)
    fit = fit_plane_wave(z)
    assert fit["speed"].attrs["units"] == "pixel/time unit"
    assert abs(float(fit["speed"].median()) / 40.0 - 1) < 0.02
    assert angle_error_deg(float(fit["direction"].median()), direction) < 2.0
    assert float(fit["wavelength"].median()) == pytest.approx(8.0, rel=0.02)
    assert float(fit["strength"].min()) > 0.9 and float(fit["rho"].min()) > 0.9
    assert abs(float(wave_speed(z).median()) / 40.0 - 1) < 0.02
    assert angle_error_deg(float(wave_direction(z).median()), direction) < 2.0
    assert float(wavelength(z).median()) == pytest.approx(8.0, rel=0.02)


def test_pgd_tells_a_plane_wave_from_noise(sites):
    where, _ = sites
    wave = analytic(ws.simulate.plane_wave(where, speed=40.0, direction=1.0, noise=0.2,
                                           seed=5, **SIM))
    noise = analytic(ws.simulate.noise(where, n_times=300, sfreq=100.0, seed=6))
    for form in ("rubino", "unit"):
        assert float(pgd(wave, form=form).min()) >= 0.95
        assert float(pgd(noise, form=form).mean()) <= 0.3
    assert pgd(wave).attrs["pgd_form"] == "rubino"


def test_pgd_forms_on_a_known_gradient():
    # two sites with gradients (2, 0) and (0, 1)
    grad = xr.Dataset({"dphi_dx": (("time", "x"), [[2.0, 0.0]]),
                       "dphi_dy": (("time", "x"), [[0.0, 1.0]])},
                      coords={"time": [0.0], "x": [0.0, 1.0]})
    assert float(pgd(grad, form="rubino")[0]) == pytest.approx(np.hypot(1.0, 0.5) / 1.5)
    assert float(pgd(grad, form="unit")[0]) == pytest.approx(np.hypot(0.5, 0.5))
    assert float(wavelength(grad)[0]) == pytest.approx(2 * np.pi / np.hypot(1.0, 0.5))
    assert float(wave_direction(grad)[0]) == pytest.approx(np.arctan2(-0.5, -1.0))


def test_wavelength_of_three_sites_is_handled_without_wrap_errors():
    da = ws.simulate.plane_wave((16, 16), speed=15.0, direction=0.3, noise=0.1, seed=7, **SIM)
    z = analytic(da)
    fit = fit_plane_wave(z)
    assert float(fit["wavelength"].median()) == pytest.approx(3.0, rel=0.02)
    assert abs(float(fit["speed"].median()) / 15.0 - 1) < 0.02
    assert angle_error_deg(float(fit["direction"].median()), 0.3) < 2.0
    assert float(wavelength(z).median()) == pytest.approx(3.0, rel=0.02)
    assert float(pgd(z).min()) > 0.95


def test_dead_sites_clipping_and_missing_samples_are_tolerated(sites):
    where, _ = sites
    da = ws.simulate.plane_wave(where, speed=40.0, direction=-0.8, noise=0.2, seed=8, **SIM)
    flat = ws.as_channels(da) if "channel" not in da.dims else da
    values = flat.values.copy()
    rng = np.random.default_rng(0)
    n = values.shape[1]
    dead = rng.choice(n, n // 10, replace=False)
    values[:, dead] = np.nan
    clipped = rng.choice(np.setdiff1d(np.arange(n), dead), n // 5, replace=False)
    values[:, clipped] = np.clip(values[:, clipped], -0.4, 0.4)
    values[rng.integers(0, 300, 30), rng.integers(0, n, 30)] = np.nan
    with pytest.warns(ws.WavescopeWarning):
        z = analytic(flat.copy(data=values))
        fit = fit_plane_wave(z)
        assert float(pgd(z).median()) >= 0.95
    assert angle_error_deg(float(fit["direction"].median()), -0.8) < 2.0
    assert abs(float(fit["speed"].median()) / 40.0 - 1) < 0.02


def test_unequal_grid_spacing_is_honoured():
    x = np.cumsum(np.r_[0.0, np.tile([0.7, 1.3], 6)])  # 13 columns, alternating steps
    y = np.arange(10) * 1.1
    yy, xx = np.meshgrid(y, x, indexing="ij")
    k = 2 * np.pi / 8.0 * np.array([np.cos(2.0), np.sin(2.0)])
    t = np.arange(300)[:, None, None] / 100.0
    values = np.cos(2 * np.pi * 5 * t - (k[0] * xx + k[1] * yy))
    da = ws.from_array(values, ("time", "y", "x"), sfreq=100.0).assign_coords(x=x, y=y)
    z = analytic(da)
    fit = fit_plane_wave(z)
    assert angle_error_deg(float(fit["direction"].median()), 2.0) < 0.5
    assert float(fit["speed"].median()) == pytest.approx(40.0, rel=0.005)
    assert float(wave_speed(z).median()) == pytest.approx(40.0, rel=0.01)


def test_fit_finds_the_global_maximum_of_the_regression(positions):
    da = ws.simulate.plane_wave(positions, speed=30.0, direction=2.2, noise=0.8, seed=9,
                                **SIM)
    z = analytic(da).isel(time=slice(0, 200, 40))
    z.attrs["sfreq"] /= 40  # every 40th frame (validate checks the time step against it)
    fit = fit_plane_wave(z)
    u = (z / np.abs(z)).values
    a = np.linspace(-3.2, 3.2, 321)
    aa, bb = np.meshgrid(a, a, indexing="ij")
    basis = np.exp(-1j * (np.outer(positions[:, 0], aa.ravel())
                          + np.outer(positions[:, 1], bb.ravel())))
    brute = np.abs(u @ basis).max(axis=1) / positions.shape[0]
    assert np.all(fit["strength"].values >= brute - 1e-12)


def test_backward_running_phase_travels_the_same_way():
    da = ws.simulate.plane_wave((8, 8), speed=40.0, direction=1.2, noise=0.1, seed=10, **SIM)
    z = analytic(da)
    conj = np.conj(z).assign_attrs(z.attrs)
    np.testing.assert_allclose(wave_direction(conj).values, wave_direction(z).values,
                               atol=1e-9)
    np.testing.assert_allclose(fit_plane_wave(conj)["direction"].values,
                               fit_plane_wave(z)["direction"].values, atol=1e-6)


@pytest.mark.parametrize("kind", ["source", "sink"])
def test_sources_are_told_from_sinks(sites, kind):
    where, middle = sites
    centre = middle + np.array([-0.7, 0.6])
    da = ws.simulate.radial_wave(where, speed=20.0, kind=kind, centre=centre, noise=0.2,
                                 seed=11, **SIM)
    z = analytic(da)
    rad = radial_correlation(z)
    rho = rad["rho"].values
    assert np.all(rho < -0.8) if kind == "source" else np.all(rho > 0.8)
    assert np.hypot(float(rad["centre_x"].median()) - centre[0],
                    float(rad["centre_y"].median()) - centre[1]) < 0.5
    labels = classify_patterns(z)["pattern"].values
    assert np.mean(labels == kind) >= 0.95


@pytest.mark.parametrize("sense", ["ccw", "cw"])
def test_clockwise_is_told_from_counter_clockwise(sites, sense):
    where, middle = sites
    centre = middle + np.array([0.4, -0.3])
    da = ws.simulate.rotating_wave(where, sense=sense, centre=centre, noise=0.2, seed=12,
                                   **SIM)
    z = analytic(da)
    rot = rotational_correlation(z)
    rho = rot["rho"].values
    assert np.all(rho < -0.8) if sense == "ccw" else np.all(rho > 0.8)
    assert np.hypot(float(rot["centre_x"].median()) - centre[0],
                    float(rot["centre_y"].median()) - centre[1]) < 0.5
    fixed = rotational_correlation(z, centre=centre)["rho"].values
    assert np.all(np.abs(fixed) > 0.95)
    labels = classify_patterns(z)["pattern"].values
    assert np.mean(labels == f"rotating-{sense}") >= 0.95


def test_divergence_centres_find_the_source_too():
    da = ws.simulate.radial_wave((16, 16), speed=20.0, centre=(6.3, 8.9), noise=0.1, seed=13,
                                 **SIM)
    rad = radial_correlation(analytic(da), centre="divergence")
    assert float(rad["rho"].median()) < -0.9
    assert abs(float(rad["centre_x"].median()) - 6.3) < 1.0
    assert abs(float(rad["centre_y"].median()) - 8.9) < 1.0


def test_synchrony_and_noise_labels(sites):
    where, _ = sites
    sync = analytic(ws.simulate.plane_wave(where, speed=1e6, noise=0.1, seed=14, **SIM))
    assert float(synchrony(sync).min()) > 0.99
    c = classify_patterns(sync)
    assert set(c["pattern"].values) == {"synchronous"}
    np.testing.assert_allclose(c["score"].values, c["synchrony"].values)
    noise = analytic(ws.simulate.noise(where, n_times=300, sfreq=100.0, seed=15))
    assert float(synchrony(noise).mean()) < 0.3
    assert np.mean(classify_patterns(noise)["pattern"].values == "none") >= 0.9


def test_dask_inputs_stay_lazy_until_computed():
    dask = pytest.importorskip("dask")
    da = ws.simulate.plane_wave((10, 12), speed=40.0, direction=0.5, noise=0.2, seed=16,
                                **SIM)
    z = analytic_signal(da.chunk(time=-1, x=-1, y=-1), band=BAND)
    eager = analytic_signal(da, band=BAND)
    for func in (pgd, synchrony, wave_speed, wave_direction):
        out = func(z)
        assert isinstance(out.data, dask.array.Array), func.__name__
        xr.testing.assert_allclose(out.compute(), func(eager))
    for func in (fit_plane_wave, classify_patterns):
        out = func(z)
        assert all(isinstance(v.data, dask.array.Array) for v in out.data_vars.values())
        xr.testing.assert_allclose(out.compute(), func(eager))


def test_extra_dims_are_frames_and_inputs_are_not_mutated():
    da = ws.simulate.plane_wave((6, 6), speed=40.0, direction=0.5, **SIM)
    z = analytic_signal(da)
    both = xr.concat([z, np.conj(z).assign_attrs(z.attrs)], dim="trial")
    before = both.copy(deep=True)
    out = pgd(both)
    assert out.dims == ("trial", "time")
    xr.testing.assert_identical(both, before)


def test_errors_name_the_fix():
    da = ws.simulate.plane_wave((6, 6), **SIM)
    with pytest.raises(ws.DataModelError, match="analytic_signal"):
        pgd(da)
    z = analytic_signal(da)
    with pytest.raises(ValueError, match="form"):
        pgd(z, form="mean")
    with pytest.raises(ValueError, match="centre"):
        radial_correlation(z, centre="middle")
    with pytest.raises(ValueError, match="threshold"):
        classify_patterns(z, pgd_threshold=1.5)
    line = analytic_signal(ws.simulate.plane_wave((12,), **SIM))
    with pytest.raises(ws.DataModelError, match="2-D"):
        rotational_correlation(line)


def test_per_site_measures_of_a_plane_wave():
    # 100 samples hold 5 whole cycles: the analytic signal is exact, so every site agrees
    da = ws.simulate.plane_wave((6, 7), n_times=100, sfreq=100.0, frequency=5.0, speed=30.0,
                                direction=-2.2)
    z = analytic_signal(da)
    d = wave_direction(z, per_site=True)
    assert d.dims == z.dims
    np.testing.assert_allclose(angle_error_deg(d.values, -2.2), 0.0, atol=1e-6)
    np.testing.assert_allclose(wavelength(z, per_site=True).values, 6.0, rtol=1e-9)
    np.testing.assert_allclose(wave_speed(z, per_site=True).values, 30.0, rtol=1e-6)
    grad = ws.analysis.phase_gradient(z)
    np.testing.assert_allclose(wave_speed(z, gradient=grad).values, 30.0, rtol=1e-6)


def test_local_pgd_sees_the_order_of_a_radial_wave_that_the_grid_wide_pgd_misses():
    da = ws.simulate.radial_wave((32, 32), speed=40.0, **SIM)
    z = analytic(da)
    assert float(pgd(z).mean()) < 0.2  # gradients point away from the centre every way
    local = local_pgd(z, tile=8)
    assert local.dims == ("time",) and local.attrs["tile"] == 8
    assert float(local.mean()) > 0.8
    shuffled = surrogates(da, n=1, seed=0, dim="surrogate").isel(surrogate=0)
    assert float(local_pgd(analytic(shuffled), tile=8).mean()) < 0.5


def test_local_pgd_of_a_plane_wave_equals_its_pgd_and_keeps_other_dims():
    da = xr.concat([ws.simulate.plane_wave((16, 24), speed=40.0, direction=0.5, **SIM)] * 2,
                   dim="trial")
    z = analytic(da)
    local = local_pgd(z, tile=8)  # 2 x 3 windows, each a plane wave
    assert local.dims == ("trial", "time")
    np.testing.assert_allclose(local.values, 1.0, atol=1e-3)
    np.testing.assert_allclose(local.values, pgd(z).values, atol=1e-3)


def test_local_pgd_errors_name_the_problem():
    z = analytic(ws.simulate.plane_wave((8, 8), speed=40.0, **SIM))
    with pytest.raises(ValueError, match="tile must be between 2 and"):
        local_pgd(z, tile=9)
    flat = z.stack(site=("y", "x")).reset_index("site")
    with pytest.raises(ws.DataModelError, match="needs a grid"):
        local_pgd(flat)


def test_a_wave_much_longer_than_the_array_is_planar_not_synchronous():
    # the case: noiseless 4.4 Hz at 80 mm/s on a 10 x 10 grid of 0.4 mm pitch, a
    # wavelength of 18 mm, 5 times the array (3.6 mm): synchrony and PGD near 1
    da = ws.simulate.plane_wave((10, 10), n_times=4000, sfreq=1000.0, frequency=4.4,
                                speed=80.0, direction=0.5, spacing=0.4, space_units="mm",
                                source="recording")
    z = analytic_signal(da, band=(2.0, 8.0)).isel(time=slice(1000, 3000))
    c = classify_patterns(z)
    assert float(c["synchrony"].min()) > 0.85
    assert set(c["pattern"].values) == {"planar"}
    np.testing.assert_allclose(c["score"].values, c["strength"].values)
    assert float(c["speed"].median()) == pytest.approx(80.0, rel=1e-3)
    assert c["speed"].attrs["units"] == "mm/s"
    assert ((c["speed_low"] <= c["speed"]) & (c["speed"] <= c["speed_high"])).all()
    fit = fit_plane_wave(z)
    assert float(fit["explained"].min()) > 0.999  # the gradient explains all the scatter
    # the analytic signal's own errors (~1e-3 rad, smooth across the array) are
    # correlated residuals: the HAC test sees few effective sites, p small, not tiny
    assert float(fit["gradient_p"].max()) < 0.01


def test_fit_intervals_widen_with_noise_and_open_up_without_a_gradient(sites):
    where, _ = sites
    sharp = fit_plane_wave(analytic(ws.simulate.plane_wave(
        where, speed=40.0, direction=1.0, noise=0.1, seed=20, **SIM)))
    noisy = fit_plane_wave(analytic(ws.simulate.plane_wave(
        where, speed=40.0, direction=1.0, noise=1.0, seed=20, **SIM)))
    width = {name: float((f["speed_high"] - f["speed_low"]).median())
             for name, f in (("sharp", sharp), ("noisy", noisy))}
    assert width["noisy"] > 3 * width["sharp"] > 0
    for f in (sharp, noisy):
        se = f["direction_se"]
        assert (se > 0).all() and float(se.median()) < np.radians(5)
    # a zero-lag oscillation has no gradient to measure: the upper ends are unbounded
    flat = fit_plane_wave(analytic(ws.simulate.plane_wave(where, speed=1e12, noise=0.3,
                                                          seed=21, **SIM)))
    # |k| / SE is Rayleigh-distributed, so |k| - 1.96 SE <= 0 in 1 - exp(-1.96**2 / 2)
    # = 85 % of frames, and the direction's half-width 1.96 SE / |k| is 95 deg at median
    assert float(flat["gradient_p"].median()) > 0.1
    assert float(np.isnan(flat["speed_high"]).mean()) > 0.7  # unbounded
    assert float(np.isnan(flat["wavelength_high"]).mean()) > 0.7
    assert np.isfinite(flat["speed_low"]).all()
    assert float((1.96 * flat["direction_se"]).median()) > np.radians(45)
    assert float(flat["explained"].median()) < 0.1  # R near 1, but not the gradient's


def test_pattern_tests_tell_patterns_from_flat_phase(sites):
    where, middle = sites
    src = analytic(ws.simulate.radial_wave(where, speed=20.0, centre=middle, noise=0.2,
                                           seed=22, **SIM))
    rad = radial_correlation(src)
    # the centre is fitted to each frame; where it misses, the residuals are smooth and
    # the slope test's spatial HAC counts fewer effective sites: still below the
    # labelling level in every frame
    assert float(rad["p"].median()) < 1e-6 and float(rad["p"].max()) < 0.01
    assert float((np.abs(rad["slope"]) / rad["slope_se"]).min()) > 5
    c = classify_patterns(src)
    assert np.nanmedian(c["speed"]) == pytest.approx(20.0, rel=0.05)  # radial speed
    assert np.isnan(c["direction"]).all()  # a source has no single direction
    rot = analytic(ws.simulate.rotating_wave(where, centre=middle, noise=0.2, seed=23, **SIM))
    r = rotational_correlation(rot)
    assert float(r["p"].max()) < 1e-6 and float(r["strength"].min()) > 0.9
    labels = classify_patterns(rot)
    assert np.isnan(labels["speed"]).all() and np.isnan(labels["wavelength"]).all()
    flat = analytic(ws.simulate.plane_wave(where, speed=1e12, noise=0.3, seed=24, **SIM))
    assert float(np.mean(rotational_correlation(flat, centre=middle)["p"] < 0.01)) < 0.05


def test_classify_patterns_thresholds_are_parameters():
    z = analytic(ws.simulate.plane_wave((8, 8), speed=40.0, direction=0.5, noise=0.2,
                                        seed=25, **SIM))
    c = classify_patterns(z, strength_threshold=0.6, alpha=0.05, confidence=0.9)
    assert c.attrs["strength_threshold"] == 0.6 and c.attrs["alpha"] == 0.05
    assert c.attrs["confidence"] == 0.9
    wide = classify_patterns(z, confidence=0.99)
    assert ((wide["speed_high"] - wide["speed_low"]) > (c["speed_high"] - c["speed_low"])).all()
    assert set(classify_patterns(z, strength_threshold=1.0, pgd_threshold=1.0)["pattern"]
               .values) <= {"synchronous", "none", "source", "sink", "rotating-cw",
                            "rotating-ccw"}
    for kwargs, match in ((dict(alpha=0.0), "alpha"), (dict(strength_threshold=2.0),
                                                       "strength_threshold"),
                          (dict(confidence=1.0), "confidence")):
        with pytest.raises(ValueError, match=match):
            classify_patterns(z, **kwargs)


def test_local_pgd_leaves_out_a_named_bad_site_once_where_it_lies():
    # "y2x3" names a site of the grid's first window; the other windows have a site
    # at the same place from their own corner, which must stay in
    da = ws.simulate.plane_wave((16, 16), n_times=100, sfreq=100.0, frequency=5.0,
                                speed=30.0, direction=0.7, noise=0.5, seed=1)
    z = analytic_signal(da)
    by_hand = local_pgd(z.where(~ws.bad_sites(z, ["y2x3"])), tile=8)
    with pytest.warns(ws.WavescopeWarning, match="y2x3"):
        flagged = local_pgd(z.assign_attrs(bads=json.dumps(["y2x3"])), tile=8)
    np.testing.assert_allclose(flagged.values, by_hand.values, rtol=1e-12)
    assert json.loads(flagged.attrs["bads"]) == ["y2x3"]
    assert np.abs(flagged.values - local_pgd(z, tile=8).values).max() > 1e-3  # it counts


def test_wave_speed_validates_its_input_once():
    from unittest import mock

    from wavescope.analysis import waves

    z = analytic_signal(ws.simulate.plane_wave((8, 8), n_times=60, speed=30.0))
    with mock.patch.object(waves, "check_activity", wraps=waves.check_activity) as check:
        waves.wave_speed(z)
    assert check.call_count == 1  # issue 17: once, not again for the gradient
