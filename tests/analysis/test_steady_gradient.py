"""The steady gradient of a window of frames (issue 12: long waves in smooth noise).

A plane wave ten times longer than the array changes the phase by 0.63 rad across it,
and noise smooth over a third of the array tilts each frame's plane by about as much:
one frame's slope test (the spatial HAC's few effective sites, or the frames' scatter)
found 55-71 % of such frames on a 32 x 32 grid planar and 8-62 % on 64 sensors. The
wave's gradient stays while the noise's slopes change, so a window of frames shows it
(``_planefit.steady_slopes``); a phase pattern that stays put is steady too but not a
plane (the window's steady residual map rejects it), and noise has no steady gradient.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import irregular_positions
from scipy.ndimage import gaussian_filter

import wavescope as ws
from wavescope.analysis import analytic_signal, classify_patterns, fit_plane_wave

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from wave_intervals import long_wave_in_smooth_noise  # noqa: E402


def _direction_error(frames) -> float:
    """Median error (deg) of the planar frames' directions from the truth (0.7 rad)."""
    planar = frames["pattern"].values == "planar"
    err = np.angle(np.exp(1j * (frames["direction"].values[planar] - 0.7)))
    return float(np.degrees(np.median(err)))


# measured (docs/notes/waves.md, long-wave table): 32 x 32, seeds 0 and 1: 0.92 / 0.96
# planar with the steady gradient; median direction error +4.8 / -0.8 deg (the noise's
# realisation moves it by a few degrees: the 3 deg is not held in noise this
# smooth, so the bound here is 5 deg)
@pytest.mark.parametrize("seed", [0, 1])
def test_a_wave_ten_times_the_array_in_smooth_noise_is_planar_on_a_grid(seed):
    z, speed = long_wave_in_smooth_noise((32, 32), seed, ratio=10.0)
    frames = classify_patterns(z, steady=True)
    planar = np.mean(frames["pattern"].values == "planar")
    assert planar >= 0.9
    assert abs(_direction_error(frames)) <= 5.0
    assert float(frames["speed"].median()) == pytest.approx(speed, rel=0.1)
    # the single-frame and the pooled slope tests alone miss a third of the frames or more
    without = classify_patterns(z, steady=False)
    assert np.mean(without["pattern"].values == "planar") < 0.8
    # the frames it decides report the window's steady gradient, with an interval
    by_steady = (frames["pattern"] == "planar") & ~(frames["gradient_p"] < 0.01)
    assert int(by_steady.sum()) > 0.1 * z.sizes["time"]
    assert np.isfinite(frames["direction_low"].where(by_steady, drop=True)).all()


def test_a_wave_ten_times_the_array_in_smooth_noise_on_sensors():
    # measured: 0.94 planar (0.62 without); the other seed of the table 0.66 (0.08)
    z, _ = long_wave_in_smooth_noise(irregular_positions(), 1, ratio=10.0)
    frames = classify_patterns(z, steady=True)
    assert np.mean(frames["pattern"].values == "planar") >= 0.9
    without = classify_patterns(z, steady=False)
    assert np.mean(without["pattern"].values == "planar") < 0.8


@pytest.mark.parametrize("seed", [0, 1])
def test_a_frozen_phase_pattern_in_changing_noise_is_not_made_planar_by_its_steadiness(seed):
    """A phase pattern smooth at the array's scale that stays put (its least-squares tilt
    the same in every frame), under an in-phase oscillation and noise that changes from
    frame to frame: the window's mean slope is steady and far from zero, but the steady
    map is not a plane (its residual, the same in every frame, does not average away)."""
    rng = np.random.default_rng(seed)
    n, n_times, sfreq = 16, 400, 100.0
    offset = gaussian_filter(rng.standard_normal((n, n)), 4, mode="reflect")
    offset *= 0.3 / offset.std()  # radians
    t = np.arange(n_times)[:, None, None] / sfreq
    noise = gaussian_filter(rng.standard_normal((n_times, n, n)), (1.0, 2.0, 2.0))
    x = np.cos(2 * np.pi * 5 * t + offset) + 0.1 * noise / noise.std()
    da = ws.from_array(x, ("time", "y", "x"), sfreq=sfreq, spacing=1.0, space_units="pixel")
    frames = classify_patterns(analytic_signal(da, (3, 7)), steady=True).isel(time=slice(50, -50))
    assert (frames["pattern"] == "planar").mean() <= 0.05
    assert np.isnan(frames["steady_p"]).mean() >= 0.95


# on sensors one realisation (seed 0 or 1 of the Cholesky-drawn noise) has 13 % of its
# frames planar: why classify_patterns and detect_waves keep steady=False by default
_UNCALIBRATED = pytest.mark.xfail(strict=True, reason="issue 12: the steady gradient "
                                  "finds a gradient in smooth noise on 64 sensors (13 %)")


@pytest.mark.parametrize("where", [(32, 32), pytest.param(irregular_positions(),
                                                           marks=_UNCALIBRATED)],
                         ids=["grid", "sensors"])
def test_an_in_phase_oscillation_in_smooth_noise_has_no_steady_gradient(where):
    """Noise alone (smooth over a third of the array, correlated in time) under a
    zero-lag oscillation: its slopes change, the window's mean slope is noise."""
    for seed in (0, 1):
        z, _ = long_wave_in_smooth_noise(where, seed, ratio=1e9)
        frames = classify_patterns(z, steady=True)
        assert np.mean(frames["pattern"].values == "planar") <= 0.05


def test_fit_plane_wave_reports_the_steady_test_and_keeps_its_own_fit():
    z, _ = long_wave_in_smooth_noise((24, 24), 0, ratio=10.0)
    fit = fit_plane_wave(z)
    single = fit_plane_wave(z, pool_frames=False)
    assert np.mean(fit["steady_p"] < 0.01) >= 0.5
    assert np.isnan(single["steady_p"]).all()
    # the frame's own gradient, covariance and test are those of the pooled fit
    np.testing.assert_array_equal(fit["dphi_dx"].values, single["dphi_dx"].values)
    assert np.all(np.isnan(fit["steady_p"].values) | (fit["gradient_p"].values < 0.25))
