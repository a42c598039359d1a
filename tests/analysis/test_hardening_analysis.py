"""Issue 14, findings 10-12 in the spectral, phase and decoding functions."""

import numpy as np
import pytest

import wavescope as ws
from wavescope.analysis import (
    analytic_signal,
    band_power,
    decode,
    dominant_frequency,
    spectrum,
)

SFREQ = 100.0


def _lines(values, sfreq=SFREQ):
    return ws.from_array(np.asarray(values, dtype=float), ("time", "x"), sfreq=sfreq)


def _tones(n=1000):
    t = np.arange(n) / SFREQ
    return np.column_stack([np.sin(2 * np.pi * 7 * t), np.sin(2 * np.pi * 3 * t)])


def test_one_missing_sample_is_bridged_with_a_warning():
    clean = _lines(_tones())
    values = _tones()
    values[500, 0] = np.nan
    gappy = _lines(values)
    with pytest.warns(ws.WavescopeWarning, match="1 site series .* bridged"):
        spec = spectrum(gappy)
    assert np.isfinite(spec.values).all()
    ref = spectrum(clean)
    np.testing.assert_allclose(spec.values[1], ref.values[1])  # the intact site is unchanged
    peak = int(ref.values[0].argmax())
    assert spec.values[0, peak] == pytest.approx(ref.values[0, peak], rel=0.01)
    with pytest.warns(ws.WavescopeWarning):
        f = dominant_frequency(gappy).values
    np.testing.assert_allclose(f, [7.0, 3.0], atol=1e-3)
    with pytest.warns(ws.WavescopeWarning):
        p = band_power(gappy, (6.0, 8.0)).values
    assert p[0] == pytest.approx(0.5, rel=0.01)  # a unit sine's variance


def test_a_site_missing_much_gives_nan_with_a_warning():
    values = _tones()
    values[:300, 1] = np.nan  # 30 % missing
    with pytest.warns(ws.WavescopeWarning, match="1 missing more give NaN"):
        spec = spectrum(_lines(values))
    assert np.isfinite(spec.values[0]).all() and np.isnan(spec.values[1]).all()


def test_dominant_frequency_of_a_constant_is_nan():
    values = _tones()
    values[:, 1] = 5.0
    f = dominant_frequency(_lines(values)).values
    assert f[0] == pytest.approx(7.0, abs=1e-3) and np.isnan(f[1])
    assert (spectrum(_lines(values)).values[1] == 0).all()


def test_quantised_integer_data_are_not_flat_runs():
    t = np.arange(4000) / 200.0
    for amplitude in (3, 30, 300):  # quanta
        x = np.round(amplitude * np.sin(2 * np.pi * 1.0 * t)
                     + 0.6 * amplitude * np.sin(2 * np.pi * 0.3 * t)).astype(np.int16)
        z = analytic_signal(ws.from_array(x[:, None].astype(float), ("time", "x"), sfreq=200.0))
        assert np.isfinite(z.values).all(), amplitude


def test_clipping_and_dead_stretches_in_quantised_data_are_still_found():
    t = np.arange(4000) / 200.0
    clipped = np.clip(np.round(1000 * np.sin(2 * np.pi * 1.0 * t)), -700, 700)
    dead = np.round(3 * np.sin(2 * np.pi * 1.0 * t))
    dead[1000:1300] = dead[1000]
    da = ws.from_array(np.column_stack([clipped, dead]), ("time", "x"), sfreq=200.0)
    with pytest.warns(ws.WavescopeWarning):
        z = analytic_signal(da).values
    np.testing.assert_array_equal(np.isnan(z[:, 0]), np.abs(clipped) == 700)
    assert np.isnan(z[1000:1300, 1]).all() and np.isfinite(z[:990, 1]).all()


def test_decode_without_trial_names_the_missing_dim():
    da = _lines(_tones())
    with pytest.raises(ws.DataModelError, match="without 'trial'"):
        decode(da, np.zeros(2))


@pytest.mark.parametrize("func", ["pgd", "synchrony", "wave_direction", "fit_plane_wave",
                                  "phase_gradient"])
def test_an_empty_space_dim_is_a_clear_error(func):
    import wavescope.analysis as A

    z = ws.from_array(np.exp(1j * np.zeros((5, 0, 3))), ("time", "y", "x"), sfreq=10.0)
    with pytest.raises(ws.DataModelError, match="no sites: .*'y'.* size 0"):
        getattr(A, func)(z)


def test_an_empty_spectrum_is_a_clear_error():
    with pytest.raises(ws.DataModelError, match="no sites"):
        spectrum(ws.from_array(np.zeros((8, 0)), ("time", "x"), sfreq=10.0))


def test_decode_of_data_with_gaps_names_them():
    x = np.random.default_rng(0).standard_normal((6, 32, 2))
    x[0, 3, 1] = np.nan
    da = ws.from_array(x, ("trial", "time", "x"), sfreq=10.0)
    with pytest.raises(ws.DataModelError, match="1 NaN or infinite values"):
        decode(da, np.arange(6) % 2, cv=2)


def test_a_spectrum_too_big_for_memory_is_refused(monkeypatch):
    from wavescope._safeio import MemoryLimitError

    da = _lines(_tones())
    monkeypatch.setenv("WAVESCOPE_MAX_MEMORY", "300MB")
    with pytest.raises(MemoryLimitError, match="n_fft=100000000.*lower n_fft"):
        spectrum(da, n_fft=10**8)
    assert spectrum(da).sizes["freq"] == 501  # within the limit


def test_a_frame_without_a_gradient_has_no_direction_speed_or_wavelength():
    from wavescope.analysis import fit_plane_wave, wave_direction, wave_speed, wavelength

    still = ws.from_array(np.exp(1j * np.zeros((5, 6, 6))), ("time", "y", "x"), sfreq=10.0)
    for measure in (wave_direction(still), wavelength(still), wave_speed(still)):
        assert np.isnan(measure.values).all()  # not -pi, inf or 4.5e16
    fit = fit_plane_wave(still)
    for name in ("speed", "wavelength", "direction"):
        assert np.isnan(fit[name].values).all(), name
