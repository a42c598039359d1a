import numpy as np
import pytest
import xarray as xr

import wavescope as ws
from wavescope.analysis import analytic_signal, instantaneous_frequency, phase

SFREQ = 200.0


def lines(values, sfreq=SFREQ):
    """(time, x) activity from a (time, n) array."""
    return ws.from_array(values, ("time", "x"), sfreq=sfreq)


def tone(freq, n=2000, amplitude=1.0, phase0=0.0):
    t = np.arange(n) / SFREQ
    return amplitude * np.cos(2 * np.pi * freq * t + phase0)


INNER = slice(200, 1800)  # away from the filter's and the transform's edges


def test_analytic_signal_of_a_tone_has_its_amplitude_phase_and_frequency():
    da = lines(np.column_stack([tone(10.0, phase0=0.4), tone(10.0, amplitude=3.0)]))
    z = analytic_signal(da)
    assert np.iscomplexobj(z) and z.dims == da.dims and z.attrs["units"] == da.attrs["units"]
    np.testing.assert_allclose(np.abs(z.values[INNER]), [[1.0, 3.0]] * 1600, rtol=1e-3)
    t = da["time"].values[INNER]
    expected = np.angle(np.exp(1j * (2 * np.pi * 10 * t + 0.4)))
    got = phase(z).values[INNER, 0]
    np.testing.assert_allclose(np.angle(np.exp(1j * (got - expected))), 0.0, atol=2e-3)
    f = instantaneous_frequency(z)
    assert f.attrs["units"] == "1/time unit"  # a model's time units
    np.testing.assert_allclose(f.values[INNER], 10.0, atol=0.01)


def test_band_pass_keeps_the_band_and_drops_the_rest():
    da = lines(np.column_stack([tone(5.0) + tone(30.0, amplitude=2.0)]))
    z = analytic_signal(da, band=(3.0, 8.0))
    np.testing.assert_allclose(np.abs(z.values[INNER, 0]), 1.0, atol=0.05)
    f = instantaneous_frequency(z).values[INNER, 0]
    assert f.mean() == pytest.approx(5.0, abs=0.01) and np.abs(f - 5.0).max() < 0.2
    assert '"band": [3.0, 8.0]' in z.attrs["analytic"]


def test_phase_of_a_simulated_plane_wave_is_omega_t_minus_k_dot_r():
    da = ws.simulate.plane_wave((4, 5), n_times=400, sfreq=100.0, frequency=5.0, speed=20.0,
                                direction=0.6, phase0=0.3)
    truth = ws.simulate.truth(da)
    ph = phase(da)
    assert ph.attrs["units"] == "rad"
    t = da["time"].values[:, None, None]
    yy, xx = np.meshgrid(da["y"].values, da["x"].values, indexing="ij")
    k = truth["k"]
    expected = 2 * np.pi * 5.0 * t - (k[0] * xx + k[1] * yy) + 0.3
    err = np.angle(np.exp(1j * (ph.values - expected)))[50:350]
    assert np.abs(err).max() < 5e-3


def test_missing_samples_are_bridged_for_the_filter_and_stay_missing():
    clean = np.column_stack([tone(6.0), tone(6.0, phase0=1.0), tone(6.0)])
    data = clean.copy()
    data[900:910, 0] = np.nan  # a gap
    data[:, 1] = np.nan  # a dead channel
    data[1200:1260, 2] = 0.7  # clipped at a rail for 60 samples
    with pytest.warns(ws.WavescopeWarning):  # the data model and the filter report it
        z = analytic_signal(lines(data), band=(3.0, 9.0))
    values = z.values
    assert np.isnan(values[900:910, 0]).all() and np.isnan(values[:, 1]).all()
    assert np.isnan(values[1200:1260, 2]).all()
    ref = analytic_signal(lines(clean[:, [0]]), band=(3.0, 9.0)).values[:, 0]
    far = np.r_[200:800, 1000:1100]  # away from the gap, the phase is that of the clean tone
    np.testing.assert_allclose(np.angle(values[far, 0] * np.conj(ref[far])), 0.0, atol=0.02)
    kept = analytic_signal(lines(data[:, [2]]), band=(3.0, 9.0), flat_samples=None)
    assert np.isfinite(kept.values).all()


def test_generalized_phase_never_runs_backwards():
    # Two tones whose sum nearly cancels at each beat: the Hilbert phase then slips back
    # (instantaneous frequency (a1 w1 - a2 w2) / (a1 - a2) < 0 at the beat minimum).
    t = np.arange(4000) / SFREQ
    x = np.cos(2 * np.pi * 10 * t) + 0.9 * np.cos(2 * np.pi * 12 * t)
    da = lines(x[:, None])
    f_h = instantaneous_frequency(analytic_signal(da)).values[100:-100, 0]
    zg = analytic_signal(da, method="generalized")
    f_g = instantaneous_frequency(zg).values[100:-100, 0]
    assert (f_h < 0).sum() > 20
    assert (f_g >= -1e-9).all()
    np.testing.assert_allclose(np.abs(zg.values), np.abs(analytic_signal(da).values))
    assert np.mean(f_g) == pytest.approx(np.mean(f_h), abs=0.2)  # the same total advance


def test_phase_input_and_dask_input_stay_lazy():
    dask = pytest.importorskip("dask")
    da = ws.simulate.plane_wave(np.random.default_rng(0).uniform(0, 5, (12, 2)), n_times=300,
                                noise=0.1, seed=2)
    lazy = da.chunk(time=-1, channel=4)
    z = analytic_signal(lazy, band=(2.0, 8.0))
    f = instantaneous_frequency(phase(z))
    assert isinstance(z.data, dask.array.Array) and isinstance(f.data, dask.array.Array)
    eager = instantaneous_frequency(phase(analytic_signal(da, band=(2.0, 8.0))))
    xr.testing.assert_allclose(f.compute(), eager)


@pytest.mark.parametrize("dims", [("time", "y", "x"), ("y", "time", "x")])
def test_chunked_time_streams_and_equals_the_whole_series(dims):
    dask = pytest.importorskip("dask")
    rng = np.random.default_rng(4)
    n = 16000
    da = ws.from_array(rng.standard_normal((n, 2, 3)), ("time", "y", "x"),
                       sfreq=100.0).transpose(*dims)
    band = (20.0, 30.0)
    z = analytic_signal(da.chunk(time=1000), band=band)
    layers = z.data.dask.layers
    assert isinstance(z.data, dask.array.Array) and z.data.chunks[dims.index("time")] == (
        (1000,) * 16)
    assert not [name for name in layers if name.startswith("rechunk")]  # time stays chunked
    eager = analytic_signal(da, band=band)
    assert z.dims == eager.dims
    if dims[0] == "time":  # frame-ordered in memory, as the frame-by-frame measures read it
        assert eager.data.flags["C_CONTIGUOUS"]
    err = np.abs(z.values - eager.values) / np.abs(eager.values).mean()
    err = err.max(axis=tuple(i for i, d in enumerate(dims) if d != "time"))
    # chunk borders: < 1e-3 of the amplitude beyond 1000 cycles of 20 Hz from the recording's
    # ends (the two differ near the ends, where the whole-series FFT wraps end onto start)
    assert err[5000:-5000].max() < 1e-3
    assert err[150:-150].max() < 3e-2  # beyond 30 cycles
    # chunks shorter than the pad are merged up to it (by dask), never to one chunk
    short = analytic_signal(da.chunk(time=100), band=band)
    assert 1 < len(short.data.chunks[dims.index("time")]) < n // 100
    inner = {"time": slice(5000, -5000)}
    np.testing.assert_allclose(short.isel(inner).values, eager.isel(inner).values,
                               atol=1e-3 * np.abs(eager.values).mean(), rtol=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(band=(0.0, 5.0)), "outside"),
        (dict(band=(8.0, 3.0)), "low < high"),
        (dict(band=(3.0, 80.0)), "outside"),
        (dict(method="wavelet"), "not known"),
        (dict(band=5.0), "band must be"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match) as err:  # a bad parameter, not bad data
        analytic_signal(lines(tone(5.0)[:, None], sfreq=100.0), **kwargs)
    assert not isinstance(err.value, ws.DataModelError)


def test_input_errors():
    da = lines(tone(5.0)[:, None])
    z = analytic_signal(da)
    with pytest.raises(ws.DataModelError, match="already complex"):
        analytic_signal(z)
    with pytest.raises(ws.DataModelError, match="analytic signal"):
        instantaneous_frequency(da)  # volts, not radians
    before = da.copy(deep=True)
    analytic_signal(da, band=(2.0, 8.0))
    xr.testing.assert_identical(da, before)


def test_chunked_time_needs_a_band():
    pytest.importorskip("dask")
    da = lines(tone(5.0)[:, None])
    with pytest.raises(ws.DataModelError, match="only with a band-pass"):
        analytic_signal(da.chunk(time=100))  # no band: chunked time cannot stream
    with pytest.raises(ws.DataModelError, match="only with a band-pass"):
        analytic_signal(da.chunk(time=100), band=(2.0, None))
