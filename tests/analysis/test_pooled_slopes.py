"""The plane fit's slope test pooled over frames (issue 12, frame labels).

One frame's residuals cannot show the part of the noise that the fitted slope absorbs,
nor how far the noise correlation reaches; the frames' scatter of slopes can, since a
plane wave's gradient stays while noise-driven slopes change. Known answers: wave-free
correlated noise under an in-phase oscillation is rarely planar (the single-frame test
called 12-24 % of such frames planar), a long wave in noise smooth over a third of the
array is planar (the single-frame test called it synchronous), and short recordings keep
the single-frame test.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import irregular_positions

import wavescope as ws
from wavescope.analysis import analytic_signal, classify_patterns, fit_plane_wave
from wavescope.analysis._planefit import _decorrelation, pooled_scale

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import calibrate_frames  # noqa: E402  (the frame table's layouts and noise)
from wave_intervals import long_wave_in_smooth_noise  # noqa: E402


def test_the_pooled_scale_measures_the_slopes_scatter_and_ignores_slow_changes():
    rng = np.random.default_rng(0)
    n = 2000
    white = np.array([0.04, 0.01, 0.02])  # one frame's independent-site cov (xx, xy, yy)
    chol = np.linalg.cholesky([[white[0], white[1]], [white[1], white[2]]])
    noise = rng.standard_normal((n, 2)) @ chol.T * np.sqrt(3.0)  # 3x the variance
    # a wave whose gradient turns slowly and jumps twice: no scatter of its own
    t = np.arange(n)
    wave = np.column_stack([0.5 * np.cos(t / 400), 0.5 * np.sin(t / 400)])
    wave[700:1100] += 1.0
    g = wave + noise
    cov = [np.full(n, c) for c in white]
    scale, dof, _ = pooled_scale(g[:, 0], g[:, 1], *cov, True, line=False)
    assert np.median(scale) == pytest.approx(3.0, rel=0.15)
    assert np.median(dof) > 40  # independent frames: one per lag (2 frames) in a window
    # correlated frames (AR(1) with an e-fold of 10 frames): the noise decorrelates over
    # about 3 correlation times, and the scale is still the scatter's
    ar = noise.copy()
    for i in range(1, n):
        ar[i] = np.exp(-0.1) * ar[i - 1] + np.sqrt(1 - np.exp(-0.2)) * noise[i]
    g_ar = ar + wave
    frames = np.arange(n)
    lag, tau = _decorrelation(g_ar[:, 0], g_ar[:, 1], cov[0], cov[2], frames, False)
    assert 6 < tau < 16 and 2 * tau <= lag <= 8 * tau
    assert _decorrelation(g[:, 0], g[:, 1], cov[0], cov[2], frames, False)[1] < 1.5
    scale_ar, dof_ar, _ = pooled_scale(g_ar[:, 0], g_ar[:, 1], *cov, True, line=False)
    assert np.median(scale_ar) == pytest.approx(3.0, rel=0.25)
    # too few frames: no pool
    short, _, _ = pooled_scale(g[:20, 0], g[:20, 1], *(c[:20] for c in cov), True,
                               line=False)
    assert np.isnan(short).all()


def frame_table_cell(layout, family, share, sync, n_frames=400, seed=0):
    """Independent frames of the frame table (benchmarks/calibrate_frames.py)."""
    rng = np.random.default_rng(seed)
    xy, make = calibrate_frames.layout(layout, rng)
    z = calibrate_frames.noise(calibrate_frames.mixing(xy, family, share), len(xy),
                               n_frames, rng)
    z += sync * np.exp(2j * np.pi * rng.random((n_frames, 1)))
    return make(z)


# measured (docs/notes/calibration.md, frame table): single-frame test 0.235 / 0.223
# planar (exp 0.3, in-phase 2) and 0.095 (gauss 0.3 on sensors); pooled 0.000-0.030
@pytest.mark.parametrize(("layout", "family", "share", "sync", "single_min"), [
    ("grid-10x10-corners", "exp", 0.3, 2.0, 0.15), ("sensors-64", "exp", 0.3, 2.0, 0.15),
    ("sensors-64", "gauss", 0.3, 0.0, 0.04)])
def test_correlated_noise_is_rarely_planar_with_the_pooled_test(layout, family, share, sync,
                                                                single_min):
    da = frame_table_cell(layout, family, share, sync)
    pooled = classify_patterns(da)
    single = classify_patterns(da, pool_frames=False)
    assert np.mean(pooled["pattern"].values == "planar") <= 0.03
    assert np.mean(single["pattern"].values == "planar") >= single_min  # it can fail
    assert np.isfinite(pooled["pool_scale"]).all() and np.isnan(single["pool_scale"]).all()


# measured: pooled 0.96-1.00 planar (speed within 2 %), single-frame 0.01 (grid) and
# 0.29-0.39 (sensors), the rest synchronous or unlabelled
@pytest.mark.parametrize("where", [(24, 24), irregular_positions()], ids=["grid", "sensors"])
def test_a_long_wave_in_noise_smooth_over_a_third_of_the_array_is_planar(where):
    z, speed = long_wave_in_smooth_noise(where, seed=0)
    pooled = classify_patterns(z)
    single = classify_patterns(z, pool_frames=False)
    assert np.mean(pooled["pattern"].values == "planar") >= 0.9
    assert float(pooled["speed"].median()) == pytest.approx(speed, rel=0.05)
    assert np.mean(single["pattern"].values == "planar") < 0.5


def test_short_recordings_keep_the_single_frame_test():
    da = ws.simulate.plane_wave((12, 12), n_times=30, speed=40.0, noise=0.3, seed=1)
    z = analytic_signal(da)
    pooled, single = fit_plane_wave(z), fit_plane_wave(z, pool_frames=False)
    assert np.isnan(pooled["pool_scale"]).all()
    for key in ("gradient_p", "dphi_dx_se", "speed_low", "dof"):
        np.testing.assert_array_equal(pooled[key].values, single[key].values)
    np.testing.assert_array_equal(single["dof"].values, single["n_eff"].values - 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_phase_pattern_that_stays_put_is_judged_in_space_not_by_its_steadiness(seed):
    """A frozen phase pattern, smooth at the array's scale (a model's standing structure,
    fixed per-site lags), under an in-phase oscillation: its least-squares tilt is the
    same in every frame, so the slopes' scatter over time is nil, but the pattern leaves
    about 2.4 effective sites, too few for a single frame to tell its tilt from its
    smooth residuals. Steadiness must not make it planar (the HAC stands; with a pool
    that replaced the HAC downwards too, every frame was planar)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    n, n_times, sfreq = 16, 300, 100.0
    offset = gaussian_filter(rng.standard_normal((n, n)), 6, mode="reflect")
    offset *= 0.2 / offset.std()  # radians
    t = np.arange(n_times)[:, None, None] / sfreq
    x = np.cos(2 * np.pi * 5 * t + offset) + 0.01 * rng.standard_normal((n_times, n, n))
    da = ws.from_array(x, ("time", "y", "x"), sfreq=sfreq, spacing=1.0, space_units="pixel")
    frames = classify_patterns(analytic_signal(da, (3, 7))).isel(time=slice(50, -50))
    assert float(frames["n_eff"].median()) < 4
    assert (frames["pattern"] == "planar").mean() <= 0.05
    assert (frames["pattern"] == "synchronous").mean() >= 0.9


# --- waves that come and go, each in its own direction (the tester's imaging) ----------------

EPISODE, PERIOD, FIRST = 33, 45, 10  # frames: a wave's length, one every PERIOD


def episodes(seed, bursts, n=32, n_waves=20):
    """(da, cores, directions): n_waves tapered plane waves of wavelength 3x the array
    (``bursts`` False) or bursts of noise smooth over a third of it (True), one every
    PERIOD frames at 25 Hz, in white pixel noise of 0.3 of their amplitude; ``cores``:
    each episode's central frames."""
    from scipy.ndimage import gaussian_filter
    from scipy.signal.windows import tukey

    rng = np.random.default_rng(seed)
    n_times = FIRST + PERIOD * n_waves + 10
    y, x = np.mgrid[:n, :n] * 0.05
    t = np.arange(EPISODE)[:, None, None] / 25.0
    values = 0.3 * rng.standard_normal((n_times, n, n))
    envelope = tukey(EPISODE, 0.3)[:, None, None]
    k = 2 * np.pi / (3 * (n - 1) * 0.05)
    cores, directions = [], rng.uniform(-np.pi, np.pi, n_waves)
    for i, d in enumerate(directions):
        if bursts:
            part = gaussian_filter(rng.standard_normal((EPISODE, n, n)), (0, n / 3, n / 3))
            part /= part.std()
        else:
            part = np.cos(2 * np.pi * rng.uniform(1.5, 2.5) * t
                          - k * (np.cos(d) * x + np.sin(d) * y) + rng.uniform(0, 2 * np.pi))
        a = FIRST + PERIOD * i
        values[a:a + EPISODE] += envelope * part
        cores.append(slice(a + 8, a + EPISODE - 8))
    da = ws.from_array(values, ("time", "y", "x"), sfreq=25.0, spacing=0.05,
                       space_units="mm")
    return analytic_signal(da, (1.0, 3.0)), cores, directions


def test_the_slopes_lag_stops_where_waves_change_between_episodes():
    """Steady slopes that jump every PERIOD frames under correlated noise: the
    variogram leaps past the stationary bound g(2 l) <= 4 g(l) where its lag reaches
    the next episode; the lag is taken before the leap."""
    rng = np.random.default_rng(3)
    n = 900
    steps = np.repeat(rng.uniform(-20, 20, (n // PERIOD, 2)), PERIOD, axis=0)
    noise = rng.standard_normal((n, 2))
    for i in range(1, n):  # AR(1), e-fold 3 frames
        noise[i] = np.exp(-1 / 3) * noise[i - 1] + np.sqrt(1 - np.exp(-2 / 3)) * noise[i]
    g, ones = steps + noise, np.ones(n)
    lag, tau = _decorrelation(g[:, 0], g[:, 1], ones, ones, np.arange(n), False)
    assert lag < PERIOD / 2 and tau < 8
    scale, _, _ = pooled_scale(g[:, 0], g[:, 1], ones, 0 * ones, ones, True, line=False)
    assert np.nanmedian(scale) < 5  # the noise's scale (1), not the jumps' (~100)


# measured (seeds 0-7): 1.00 of the core frames planar; without the episode rule 0.00-0.03
# at seeds 0, 1 and 3, 0.31 and 0.73 at 6 and 4, 1.00 at 2, 5 and 7 (the pooled scale in
# the thousands where it fails: pairs of frames from different waves)
@pytest.mark.parametrize("seed", [0, 1])
def test_waves_that_come_and_go_in_their_own_directions_are_planar(seed, monkeypatch):
    z, cores, directions = episodes(seed, bursts=False)
    frames = classify_patterns(z)
    for core, d in zip(cores, directions, strict=True):
        wave = frames.isel(time=core)
        assert (wave["pattern"] == "planar").mean() >= 0.95
        error = np.angle(np.exp(1j * (wave["direction"].values - d)))
        assert np.degrees(np.abs(np.median(error))) < 3
    from wavescope.analysis import _planefit

    monkeypatch.setattr(_planefit, "_EPISODE_JUMP", np.inf)  # the rule is what works
    core = np.concatenate([np.arange(c.start, c.stop) for c in cores])
    assert (classify_patterns(z)["pattern"].values[core] == "planar").mean() < 0.5


# measured (seeds 0-3): 0.000-0.012 of all frames planar, the same with and without
# the episode rule (the variogram of smooth noise stays under the stationary bound)
@pytest.mark.parametrize("seed", [0, 1])
def test_bursts_of_smooth_noise_that_come_and_go_stay_not_planar(seed):
    z, _, _ = episodes(seed, bursts=True)
    assert (classify_patterns(z)["pattern"] == "planar").mean() <= 0.03


def test_detect_waves_finds_each_wave_that_comes_and_goes_as_planar_with_intervals():
    """The tester's imaging in small: every wave is a planar event whose direction
    interval covers the truth (measured, seed 0: 20 planar events, direction errors
    within 1 deg, every interval covering; without the episode rule one event)."""
    from wavescope.analysis import detect_waves

    z, cores, directions = episodes(0, bursts=False)
    ev = detect_waves(z, n_surrogates=19, seed=0)
    assert ev.sizes["event"] == len(cores) and set(ev["pattern"].values) == {"planar"}
    middle = (ev["start"].values + ev["stop"].values) / 2 * 25.0  # frames
    for core, d in zip(cores, directions, strict=True):
        e = ev.isel(event=int(np.argmin(np.abs(middle - (core.start + core.stop) / 2))))
        assert abs(np.degrees(np.angle(np.exp(1j * (float(e["direction"]) - d))))) < 3
        low, high = float(e["direction_low"]), float(e["direction_high"])
        assert np.angle(np.exp(1j * (d - low))) >= 0 and np.angle(np.exp(1j * (high - d))) >= 0
