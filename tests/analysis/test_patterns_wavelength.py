"""Pattern decision and intervals at any wavelength-to-array ratio (issue 12, part A).

Plane waves whose wavelength is 1, 3, 10 and 30 times the array's extent, with white
noise of 0.3 times the signal's standard deviation at every site, on a 10 x 10 grid
without its corners, 64 irregular sensors and a 100 x 100 grid. The analytic signal is
the one a user makes (band-pass 2-12 Hz around the 5 Hz wave, then Hilbert), and a
second of each end is cut, where the filter's transients exceed the sites' noise.
Speed and direction are per-frame medians; intervals are counted on frames 0.2 s apart
(the band-passed noise is correlated over about 0.1 s), over 20 seeds.
"""

from contextlib import nullcontext

import numpy as np
import pytest
import xarray as xr
from conftest import irregular_positions

import wavescope as ws
from wavescope.analysis import analytic_signal, classify_patterns, detect_waves, fit_plane_wave

SFREQ, FREQ, BAND = 100.0, 5.0, (2.0, 12.0)
NOISE = 0.3 / np.sqrt(2)  # 0.3 of the signal's SD (a unit cosine has SD 1/sqrt(2))
EDGE = 100  # samples cut at each end: the filter's transients
DIRECTION = 0.7
RATIOS = (1, 3, 10, 30)


def layout(name):
    """Sites and the array's extent (the larger side of its bounding box)."""
    if name == "corners":
        return (10, 10), 9.0
    xy = irregular_positions()
    return xy, float(np.ptp(xy, axis=0).max())


def without_corners(da):
    values = da.values.copy()
    values[..., [0, 0, -1, -1], [0, -1, 0, -1]] = np.nan
    return da.copy(data=values)


def simulate(name, ratio, n_trials, n_times=400, sites=None):
    where, extent = (sites, 99.0) if sites is not None else layout(name)
    wavelength = ratio * extent
    das = [ws.simulate.plane_wave(where, n_times=n_times, sfreq=SFREQ, frequency=FREQ,
                                  speed=wavelength * FREQ, direction=DIRECTION, noise=NOISE,
                                  seed=seed) for seed in range(n_trials)]
    da = xr.concat(das, dim="trial") if n_trials > 1 else das[0]
    return (without_corners(da) if name == "corners" else da), wavelength


def inner(z):
    return z.isel(time=slice(EDGE, z.sizes["time"] - EDGE))


def angle_error_deg(a, b):
    return np.degrees(np.abs(np.angle(np.exp(1j * (np.asarray(a) - b)))))


def covered(c, speed, wavelength):
    """Share of frames whose interval holds the truth, for speed, direction, wavelength
    (frames without a planar label, hence without an interval, count as missed)."""
    low, high = c["direction_low"].values, c["direction_high"].values
    arc = np.mod(DIRECTION - low, 2 * np.pi) <= np.mod(high - low, 2 * np.pi)
    return {
        "speed": np.mean((c["speed_low"].values <= speed) & (speed <= c["speed_high"].values)),
        "direction": np.mean(arc & np.isfinite(low)),
        "wavelength": np.mean((c["wavelength_low"].values <= wavelength)
                              & (wavelength <= c["wavelength_high"].values)),
    }


@pytest.mark.parametrize("name", ["corners", "irregular"])
@pytest.mark.parametrize("ratio", RATIOS)
def test_plane_waves_of_any_wavelength_are_planar_with_calibrated_intervals(name, ratio):
    with _warns_of_dead_corners(name):
        da, wavelength = simulate(name, ratio, n_trials=20)
        c = classify_patterns(inner(analytic_signal(da, band=BAND)))
    speed = wavelength * FREQ
    assert np.mean(c["pattern"].values == "planar") >= 0.9
    assert abs(float(c["speed"].median()) / speed - 1) < 0.05
    assert angle_error_deg(float(c["direction"].median()), DIRECTION) < 3.0
    every = c.isel(time=slice(0, None, 20))  # 10 nearly independent frames per trial
    for quantity, share in covered(every, speed, wavelength).items():
        assert 0.90 <= share <= 0.99, (quantity, share)


@pytest.mark.slow  # ~20 s: 10 s of 10,000 sites at each of four wavelengths
def test_plane_waves_of_any_wavelength_on_a_100_by_100_grid():
    """10,000 sites make the intervals so narrow (0.03 % of the speed at 1x) that errors
    of the analytic signal common to all sites matter: the band-pass and Hilbert
    transform of a finite record err by 0.25 % (rms) in the temporal frequency and the
    wave vector even 3-7 s from the ends of a noiseless 10 s wave, and 1.4 % at 1-2 s,
    while the sites' noise alone gives 0.06 %. So 10 s are simulated, and the fits are
    counted 2.5-7.5 s in, on pairs of consecutive frames 0.1 s apart (the temporal frequency
    needs the next frame), 4 x 50 pooled frames against the issue's 90-99 %."""
    hits = []
    for ratio in RATIOS:
        da, wavelength = simulate("grid", ratio, n_trials=1, n_times=1000, sites=(100, 100))
        z = analytic_signal(da, band=BAND)
        pairs = xr.concat([z.isel(time=slice(t, t + 2)).drop_vars("time")
                           for t in range(250, 750, 10)], dim="trial")
        fit = fit_plane_wave(pairs.assign_coords(time=z["time"].values[:2])).isel(time=0)
        c = classify_patterns(z.isel(time=slice(300, 310)))
        speed = wavelength * FREQ
        assert np.mean(c["pattern"].values == "planar") >= 0.9
        assert abs(float(fit["speed"].median()) / speed - 1) < 0.05
        assert angle_error_deg(float(fit["direction"].median()), DIRECTION) < 3.0
        hits.append(covered(fit, speed, wavelength))
    for quantity in ("speed", "direction", "wavelength"):
        share = np.mean([h[quantity] for h in hits])
        assert 0.90 <= share <= 0.99, (quantity, share, hits)


def _classified(name, simulate):
    """Trials ``simulate(where, seed)`` on layout ``name`` and their pattern labels (one
    trial and 20 frames on the 100 x 100 grid, to stay fast)."""
    where = (100, 100) if name == "grid100" else layout(name)[0]
    das = [simulate(where, seed) for seed in range(1 if name == "grid100" else 5)]
    da = xr.concat(das, dim="trial") if len(das) > 1 else das[0]
    with _warns_of_dead_corners(name):
        da = without_corners(da) if name == "corners" else da
        z = inner(analytic_signal(da, band=BAND))
        return das, classify_patterns(z.isel(time=slice(0, 20)) if name == "grid100" else z)


@pytest.mark.parametrize("name", ["corners", "irregular", "grid100"])
def test_zero_lag_oscillation_is_synchronous_without_speed(name):
    # speed 1e12: phase differences across the array below 1e-9 rad, i.e. zero lag
    das, c = _classified(name, lambda where, seed: ws.simulate.plane_wave(
        where, n_times=300, sfreq=SFREQ, frequency=FREQ, speed=1e12, noise=NOISE, seed=seed))
    labels = c["pattern"].values
    assert np.mean(labels == "synchronous") >= 0.9
    for key in ("speed", "direction", "wavelength", "speed_low", "direction_high"):
        assert np.isnan(c[key].values[labels == "synchronous"]).all(), key
    if name == "irregular":
        ev = detect_waves(das[0], band=BAND, n_surrogates=0)
        sync = ev.where(ev["pattern"] == "synchronous", drop=True)
        assert sync.sizes["event"] >= 1
        assert np.isnan(sync["speed"]).all() and np.isnan(sync["direction"]).all()
        assert np.isnan(sync["wavelength_high"]).all()


@pytest.mark.parametrize("name", ["corners", "irregular", "grid100"])
def test_noise_alone_is_rarely_a_wave(name):
    _, c = _classified(name, lambda where, seed: ws.simulate.noise(
        where, n_times=300, sfreq=SFREQ, seed=seed))
    assert np.mean(c["pattern"].values != "none") <= 0.05


def _warns_of_dead_corners(name):
    return pytest.warns(ws.WavescopeWarning) if name == "corners" else nullcontext()


@pytest.mark.parametrize("ratio", [1, 10])
def test_events_carry_intervals_that_hold_the_truth(ratio):
    da, wavelength = simulate("irregular", ratio, n_trials=1, n_times=300)
    ev = detect_waves(da, band=BAND, n_surrogates=0)
    planar = ev.where(ev["pattern"] == "planar", drop=True)
    assert planar.sizes["event"] >= 1
    assert float(planar["duration"].max()) > 2.5  # one event over the whole wave
    speed = wavelength * FREQ
    longest = planar.isel(event=int(np.argmax(planar["duration"].values)))
    assert float(longest["speed"]) == pytest.approx(speed, rel=0.05)
    assert angle_error_deg(float(longest["direction"]), DIRECTION) < 3.0
    assert float(longest["speed_low"]) <= speed <= float(longest["speed_high"])
    assert float(longest["wavelength_low"]) <= wavelength <= float(longest["wavelength_high"])
    low, high = float(longest["direction_low"]), float(longest["direction_high"])
    assert np.mod(DIRECTION - low, 2 * np.pi) <= np.mod(high - low, 2 * np.pi)
    assert ev["speed_low"].attrs["units"] == ev["speed"].attrs["units"]
