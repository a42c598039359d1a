import numpy as np
import pytest
import xarray as xr
from mne.time_frequency import psd_array_multitaper
from scipy import signal
from scipy.ndimage import gaussian_filter

import wavescope as ws
from wavescope import simulate
from wavescope.analysis import band_power, dominant_frequency, kw_spectrum, kw_speed, spectrum


def noise_epochs(n_trials=3, n_channels=4, n_times=1000, sfreq=100.0, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((n_trials, n_times, n_channels))
    return ws.from_array(data, ("trial", "time", "channel"), sfreq=sfreq,
                         positions=rng.random((n_channels, 2)), source="recording", units="V")


def ring_shift(n_units=32, n_times=100, step=1, seed=0, lead=()):
    """A random pattern on a ring that moves ``step`` units toward +x every time step."""
    rng = np.random.default_rng(seed)
    pattern = rng.standard_normal((*lead, n_units))
    frames = np.stack([np.roll(pattern, step * t, axis=-1) for t in range(n_times)], axis=-2)
    dims = (*("trial", "feature")[: len(lead)], "time", "x")
    return ws.from_array(frames, dims, sfreq=1.0, periodic=True)


# ---------------------------------------------------------------- spectrum


def test_welch_matches_scipy():
    da = noise_epochs()
    x = da.transpose("trial", "channel", "time").values
    out = spectrum(da, "welch", nperseg=128, noverlap=32)
    f, p = signal.welch(x, fs=100.0, nperseg=128, noverlap=32)
    assert out.dims == ("trial", "channel", "freq")
    np.testing.assert_allclose(out["freq"].values, f)
    np.testing.assert_allclose(out.values, p, rtol=1e-12, atol=0)


@pytest.mark.parametrize("scaling", ["density", "spectrum"])
def test_welch_in_blocks_of_time_major_data_matches_scipy(monkeypatch, scaling):
    # time is the slowest axis, and blocks of 5 rows (each copied time-contiguous) go to
    # scipy 2 rows at a time
    from wavescope.analysis import _psd

    monkeypatch.setattr(_psd, "BLOCK_VALUES", 5 * 1000)
    monkeypatch.setattr(_psd, "CALL_VALUES", 2 * 1000)
    da = noise_epochs(n_channels=12)
    x = da.transpose("trial", "channel", "time").values
    out = spectrum(da, "welch", scaling=scaling)  # default segments and overlap
    _, p = signal.welch(x, fs=100.0, nperseg=256, scaling=scaling)
    np.testing.assert_allclose(out.values, p, rtol=1e-12, atol=0)
    # gaps in two blocks are bridged and reported in one warning
    gappy = da.copy(data=da.values.copy())
    gappy[0, 10, 0] = gappy[2, 20, 11] = np.nan
    with pytest.warns(ws.WavescopeWarning, match="^2 site series") as record:
        spectrum(gappy, "welch")
    assert len(record) == 1
    # float32 data go through the FFTs in float32, to their own precision
    single = spectrum(da.astype(np.float32), "welch", scaling=scaling)
    assert single.dtype == np.float64
    np.testing.assert_allclose(single.values, p, rtol=1e-4, atol=1e-6 * p.max())


def test_multitaper_matches_mne():
    da = noise_epochs()
    x = da.transpose("trial", "channel", "time").values
    out = spectrum(da, "multitaper", bandwidth=2.0, fmin=1.0, fmax=30.0)
    p, f = psd_array_multitaper(x, 100.0, fmin=1.0, fmax=30.0, bandwidth=2.0,
                                normalization="full", verbose=False)
    np.testing.assert_allclose(out["freq"].values, f)
    np.testing.assert_allclose(out.values, p, rtol=1e-12, atol=0)
    assert out["freq"].min() >= 1.0 and out["freq"].max() <= 30.0


@pytest.mark.parametrize("method", ["fft", "welch", "multitaper"])
def test_density_integrates_to_variance(method):
    # Parseval: every method's density, integrated over frequency, is the signal's variance.
    da = noise_epochs(n_times=2000, seed=1)
    out = spectrum(da, method)
    df = float(out["freq"][1] - out["freq"][0])
    power = out.sum("freq") * df
    variance = da.var("time")
    tol = 1e-12 if method == "fft" else 0.1  # exact for the periodogram, estimates else
    np.testing.assert_allclose(power.transpose(*variance.dims).values, variance.values,
                               rtol=tol)
    assert out.attrs["units"] == "(V)^2/Hz"


def test_periodogram_matches_scipy_and_sinusoid_peak():
    sfreq, f0, amp = 50.0, 5.0, 3.0
    t = np.arange(500) / sfreq
    da = ws.from_array(amp * np.cos(2 * np.pi * f0 * t)[:, None] * np.ones(3), ("time", "x"),
                       sfreq=sfreq)
    out = spectrum(da, "fft", scaling="spectrum")
    f, p = signal.periodogram(da.values.T, fs=sfreq, scaling="spectrum")
    np.testing.assert_allclose(out.values, p, rtol=1e-12, atol=1e-20)
    peak = out.isel(x=0)
    assert float(peak["freq"][int(np.argmax(peak.values))]) == f0
    assert float(peak.max()) == pytest.approx(amp**2 / 2, rel=1e-12)
    assert out["freq"].attrs["units"] == "cycles/time unit"  # a model's time axis
    assert out.attrs["units"] == "(a.u.)^2"


def test_spectrum_keeps_coords_and_leaves_input_alone():
    da = simulate.plane_wave((4, 5), n_times=64, sfreq=20.0, frequency=3.0, speed=10.0)
    before = da.copy(deep=True)
    out = spectrum(da, "fft")
    xr.testing.assert_identical(da, before)
    assert out.dims == ("y", "x", "freq")
    np.testing.assert_array_equal(out["x"], da["x"])
    ws.validate(out, require_time=False)


def test_spectra_stay_lazy_on_dask():
    pytest.importorskip("dask")
    da = noise_epochs()
    lazy = spectrum(da.chunk({"trial": 1}), "welch", nperseg=100)
    assert lazy.chunks is not None
    xr.testing.assert_allclose(lazy.compute(), spectrum(da, "welch", nperseg=100))
    peak = dominant_frequency(da.chunk({"trial": 1}))
    assert peak.chunks is not None
    xr.testing.assert_allclose(peak.compute(), dominant_frequency(da))
    grid = simulate.plane_wave((6, 7), n_times=30, sfreq=10.0, frequency=2.0, speed=9.0)
    grid = grid.expand_dims(trial=2).copy()
    kw = kw_spectrum(grid.chunk({"trial": 1}))
    assert kw.chunks is not None
    xr.testing.assert_allclose(kw.compute(), kw_spectrum(grid))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(method="wavelet"), ValueError, "method must be one of"),
        (dict(method="fft", nperseg=10), ValueError, "do not apply to method='fft'"),
        (dict(method="multitaper", scaling="spectrum"), ValueError, "densities only"),
        (dict(method="fft", fmin=10.0, fmax=5.0), ValueError, "must exceed fmin"),
        (dict(method="fft", fmin=60.0), ValueError, "no frequency bin"),
    ],
)
def test_spectrum_errors_name_the_problem(kwargs, error, match):
    with pytest.raises(error, match=match):
        spectrum(noise_epochs(), **kwargs)


def test_spectrum_rejects_complex_and_short_multitaper():
    da = noise_epochs()
    with pytest.raises(ws.DataModelError, match="needs real values"):
        spectrum(da + 1j * da)
    with pytest.raises(ValueError, match="needs more than 8 time samples"):
        spectrum(noise_epochs(n_times=8), "multitaper")


# ---------------------------------------------------------------- peaks and bands


def test_dominant_frequency_between_bins():
    sfreq, n = 100.0, 300  # bins of 1/3 Hz; the frequencies below fall between bins
    freqs = np.array([4.1, 7.77, 12.345, 20.5])
    t = np.arange(n) / sfreq
    data = np.cos(2 * np.pi * freqs[None, :] * t[:, None] + 0.3)
    da = ws.from_array(data, ("time", "channel"), sfreq=sfreq,
                       positions=np.c_[np.arange(4), np.zeros(4)], source="recording")
    out = dominant_frequency(da)
    assert out.dims == ("channel",) and out.attrs["units"] == "Hz"
    np.testing.assert_allclose(out.values, freqs, atol=1e-3)
    coarse = dominant_frequency(da, refine=False, n_fft=n)
    assert np.abs(coarse.values - freqs).max() > 0.1  # without refinement: bin-limited


@pytest.mark.filterwarnings("ignore:1 of 3 sites hold only NaN")
def test_dominant_frequency_band_and_nan_sites():
    sfreq = 100.0
    t = np.arange(400) / sfreq
    sig = 2 * np.cos(2 * np.pi * 10 * t) + 0.5 * np.cos(2 * np.pi * 30 * t)
    data = np.stack([sig, sig, np.full_like(sig, np.nan)], axis=1)
    with pytest.warns(ws.WavescopeWarning, match="only NaN"):
        da = ws.from_array(data, ("time", "x"), sfreq=sfreq)
    spec = spectrum(da, "welch", nperseg=200)
    out = dominant_frequency(spec)
    assert out.values[0] == pytest.approx(10.0, abs=0.05)
    assert np.isnan(out.values[2])
    high = dominant_frequency(spec, fmin=20.0)
    assert high.values[0] == pytest.approx(30.0, abs=0.05)


def test_band_power_of_sinusoids():
    sfreq, amp = 200.0, 2.0
    t = np.arange(2000) / sfreq
    data = np.stack([amp * np.sin(2 * np.pi * 10 * t), amp * np.sin(2 * np.pi * 40 * t)], 1)
    da = ws.from_array(data, ("time", "x"), sfreq=sfreq, units="uV")
    one = band_power(da, (8, 12))
    # the power of a sinusoid is amp**2 / 2, all of it in its own band
    np.testing.assert_allclose(one.values, [amp**2 / 2, 0.0], atol=1e-9)
    assert one.attrs["units"] == "(uV)^2"
    bands = band_power(da, {"alpha": (8, 12), "gamma": (35, 45)}, relative=True)
    assert isinstance(bands, xr.Dataset)
    np.testing.assert_allclose(bands["alpha"].values, [1.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(bands["gamma"].values, [0.0, 1.0], atol=1e-9)
    with pytest.raises(ValueError, match="holds no frequency bin"):
        band_power(spectrum(da, "welch", nperseg=20), (10.5, 10.6))
    with pytest.raises(ValueError, match="scaling='density'"):
        band_power(spectrum(da, scaling="spectrum"), (8, 12))


# ---------------------------------------------------------------- k-omega


def test_kw_spectrum_axes_sign_and_parseval():
    # 4 cycles across 32 sites, 10 cycles over 100 samples: everything on bins.
    da = simulate.plane_wave((32,), n_times=100, sfreq=50.0, frequency=5.0, speed=40.0,
                             direction=np.pi, spacing=2.0)
    kw = kw_spectrum(da, window=None, space_window=None)
    assert kw.dims == ("k", "freq")
    assert kw["k"].attrs["units"] == "cycles/pixel"
    assert kw["freq"].attrs["units"] == "cycles/time unit"
    k, f = np.unravel_index(int(np.argmax(kw.values)), kw.shape)
    # travelling toward -x: power at k = -f / speed = -0.125 cycles per pixel, f = +5
    assert kw["k"].values[k] == pytest.approx(-0.125) and kw["freq"].values[f] == 5.0
    dk = float(kw["k"][1] - kw["k"][0])
    df = float(kw["freq"][1] - kw["freq"][0])
    mean_square = float(((da - da.mean("time")) ** 2).mean())
    assert float(kw.sum()) * dk * df == pytest.approx(mean_square, rel=1e-12)


def test_kw_spectrum_grid_dims():
    da = simulate.plane_wave((12, 16), n_times=40, sfreq=10.0, frequency=2.0, speed=8.0)
    kw = kw_spectrum(da)
    assert kw.dims == ("kx", "ky", "freq") and kw.shape == (16, 12, 21)
    np.testing.assert_allclose(kw["kx"].values, np.fft.fftshift(np.fft.fftfreq(16)))


@pytest.mark.parametrize("direction", [0.7, 2.9, -1.8])
def test_kw_speed_recovers_plane_wave(direction):
    # Frequency and wavelength fall between FFT bins; noise at 30 % of the amplitude.
    da = simulate.plane_wave((24, 28), n_times=300, sfreq=100.0, frequency=7.3, speed=37.0,
                             direction=direction, spacing=1.5, noise=0.3, seed=2,
                             space_units="mm", source="recording")
    out = kw_speed(da)
    assert out["speed"].item() == pytest.approx(37.0, rel=0.03)
    assert np.angle(np.exp(1j * (out["direction"].item() - direction))) == pytest.approx(
        0, abs=0.02)
    assert out["frequency"].item() == pytest.approx(7.3, rel=0.01)
    assert out["speed"].attrs["units"] == "mm/s"
    # The same from channel form, and by the ridge fit.
    assert kw_speed(ws.as_channels(da))["speed"].item() == pytest.approx(37.0, rel=0.03)
    assert kw_speed(da, method="ridge")["speed"].item() == pytest.approx(37.0, rel=0.03)


def test_kw_speed_from_a_spectrum_uses_bin_refinement():
    da = simulate.plane_wave((24, 28), n_times=300, sfreq=100.0, frequency=7.3, speed=37.0,
                             direction=0.7, spacing=1.5)
    out = kw_speed(kw_spectrum(da))
    assert out["speed"].item() == pytest.approx(37.0, rel=0.05)


@pytest.mark.parametrize("n_times", [128, 100])
def test_kw_speed_reads_one_unit_per_step_on_a_ring(n_times):
    # The Wave-RNN's wave: the pattern shifts one unit per step around the ring.
    da = ring_shift(n_times=n_times)
    for method in ("peak", "ridge"):
        out = kw_speed(da, method=method)
        assert out["speed"].item() == pytest.approx(1.0, rel=0.01), method
        assert out["speed"].attrs["units"] == "pixel/time unit"
    back = kw_speed(ring_shift(n_times=n_times, step=-1))
    assert back["speed"].item() == pytest.approx(-1.0, rel=0.01)
    assert back["direction"].item() == pytest.approx(np.pi)


def test_kw_speed_per_trial_and_feature():
    da = ring_shift(n_times=64, lead=(2, 3))
    out = kw_speed(da, method="ridge")
    assert out["speed"].dims == ("trial", "feature")
    np.testing.assert_allclose(out["speed"].values, 1.0, rtol=0.01)


def test_kw_needs_a_grid():
    rng = np.random.default_rng(0)
    da = ws.from_array(rng.standard_normal((20, 5)), ("time", "channel"), sfreq=10.0,
                       positions=rng.random((5, 2)), source="recording")
    with pytest.raises(ws.DataModelError, match="regular grid"):
        kw_spectrum(da)
    with pytest.raises(ValueError, match="method must be"):
        kw_speed(ring_shift(), method="diagonal")


def test_kw_speed_tells_travelling_from_standing_waves():
    """A plane wave puts its k-omega power on one side of k = 0, a standing mode
    cos(k x) cos(w t) on both: directionality 1 and 0, the speed a phase velocity."""
    n, t = 32, np.arange(200) / 100.0
    y, x = np.mgrid[0:n, 0:n].astype(float)
    k = 2 * np.pi * 4 / n  # 4 cycles across the grid
    travelling = np.cos(2 * np.pi * 5.0 * t[:, None, None] - k * x[None])
    standing = np.cos(2 * np.pi * 5.0 * t)[:, None, None] * np.cos(k * x)[None]
    for field, one_sided in ((travelling, 1.0), (standing, 0.0)):
        da = ws.from_array(field, ("time", "y", "x"), sfreq=100.0, periodic=True)
        for method in ("peak", "ridge"):
            out = kw_speed(da, method=method)
            assert out["directionality"].item() == pytest.approx(one_sided, abs=0.02)
            # 5 Hz over 4 cycles per 32 px: 40 px/s either way (a phase velocity)
            assert abs(out["speed"].item()) == pytest.approx(40.0, rel=0.02), method
    assert np.isnan(kw_speed(da)["speed_spread"].item())  # "peak" has no ridge spread


def test_kw_speed_ridge_spread_tells_a_flat_ridge_from_a_travelling_pulse():
    """Every wavenumber at one frequency (a field ringing in place in many modes): the
    phase velocities f / |k| of the ridge's bins disagree, and its power is symmetric in
    k; a pulse shifting around a ring has one phase velocity and one-sided power."""
    rng = np.random.default_rng(0)
    n, t = 32, np.arange(200) / 100.0
    modes = gaussian_filter(rng.standard_normal((n, n)), 0.7)
    field = np.cos(2 * np.pi * 5.0 * t)[:, None, None] * modes[None]
    flat = kw_speed(ws.from_array(field, ("time", "y", "x"), sfreq=100.0), method="ridge")
    assert flat["frequency"].item() == pytest.approx(5.0, abs=0.5)
    assert flat["directionality"].item() == pytest.approx(0.0, abs=0.05)
    pulse = kw_speed(ring_shift(), method="ridge")
    assert pulse["speed"].item() == pytest.approx(1.0, rel=0.01)
    assert pulse["directionality"].item() > 0.95
    assert flat["speed_spread"].item() > 0.3 > 3 * pulse["speed_spread"].item()
