import numpy as np
import pytest

import wavescope as ws
from wavescope import simulate as sim
from wavescope.analysis import analytic_signal, fit_plane_wave, wave_delays

BAND = (4.0, 8.0)  # inside the simulated 3-9 Hz spectrum (see wave_delays, Notes)


def dispersive(seed=0, noise=0.5, **kw):
    kw = {"phase_speed": 50.0, "group_speed": 100.0, "direction": 0.6, **kw}
    return sim.dispersive_wave((8, 8), n_times=4000, sfreq=200.0, spacing=1.0, noise=noise,
                               seed=seed, space_units="mm", source="recording", **kw)


def test_dispersive_wave_truth_follows_its_dispersion_relation():
    da = dispersive(noise=0.0)
    t = sim.truth(da)
    f, k = np.array(t["frequencies"]), np.array(t["wavenumbers"])
    assert t["reference_frequency"] == pytest.approx(6.0)
    # group speed d omega / dk everywhere, phase speed omega / k rising with frequency
    np.testing.assert_allclose(np.diff(2 * np.pi * f) / np.diff(k), 100.0)
    np.testing.assert_allclose(2 * np.pi * f / k, t["phase_speeds"])
    assert t["phase_speeds"][0] < 50.0 < t["phase_speeds"][-1]
    # each component is a plane wave: the values are their sum
    x = da["x"].values[None, None, :]
    one = np.cos(2 * np.pi * f[3] * da["time"].values[:, None, None]
                 - k[3] * np.cos(0.6) * x - k[3] * np.sin(0.6) * da["y"].values[None, :, None]
                 + t["phases"][3])
    spec = np.fft.rfft(da.values - one * t["amplitude"] / np.sqrt(f.size), axis=0)
    assert np.abs(spec[int(round(f[3] * 20))]).max() < 1e-6  # component 3 removed exactly
    with pytest.raises(ValueError, match="wavenumber"):
        sim.dispersive_wave((4, 4), phase_speed=10.0, group_speed=1.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_wave_delays_recover_the_group_speed_and_phase_speed_differs(seed):
    da = dispersive(seed)
    out = wave_delays(da, BAND)
    assert float(out["speed"]) == pytest.approx(100.0, rel=0.05)
    assert abs(float(out["direction"]) - 0.6) < np.radians(5)
    assert float(out["speed_low"]) < float(out["speed"]) < float(out["speed_high"])
    assert float(out["direction_low"]) < float(out["direction"]) < float(out["direction_high"])
    # the phase speed of the band's analytic signal is omega0 / k0 = 50 mm/s, half the group
    # speed, as the dispersion relation says (theory: v_g / v_p = 2)
    z = analytic_signal(da, band=BAND).isel(time=slice(200, -200))
    phase_speed = float(fit_plane_wave(z)["speed"].median())
    assert phase_speed == pytest.approx(50.0, rel=0.05)
    assert float(out["speed"]) / phase_speed == pytest.approx(2.0, rel=0.08)


def test_delays_of_a_non_dispersive_wave_are_distance_over_speed():
    # broadband and non-dispersive (a single sinusoid has a flat cross-spectrum phase:
    # no envelope, no measurable delay)
    da = sim.dispersive_wave((6, 7), n_times=3000, sfreq=200.0, phase_speed=80.0,
                             group_speed=80.0, direction=-2.0, spacing=2.0, noise=0.3, seed=4,
                             space_units="mm", source="recording")
    ref = "y2x3"
    out = wave_delays(da, BAND, reference=ref)
    assert out["delay"].dims == ("y", "x")
    assert out["delay"].attrs["units"] == "s"
    assert out["speed"].attrs["units"] == "mm/s"
    assert out.attrs["reference"] == ref
    xx, yy = np.meshgrid(da["x"].values, da["y"].values)
    k_hat = np.array([np.cos(-2.0), np.sin(-2.0)])
    truth = ((xx - xx[2, 3]) * k_hat[0] + (yy - yy[2, 3]) * k_hat[1]) / 80.0
    np.testing.assert_allclose(out["delay"], truth, atol=5e-3)  # of delays up to 0.14 s
    assert float(out["delay"][2, 3]) == 0.0 and float(out["coherence"][2, 3]) == 1.0
    assert float(out["speed"]) == pytest.approx(80.0, rel=0.05)
    # relative to the sites' mean (default): the same delays, shifted to mean zero
    mean = wave_delays(da, BAND)
    assert mean.attrs["reference"] == "mean"
    assert abs(float(mean["delay"].mean())) < 2e-3
    np.testing.assert_allclose(mean["delay"] - mean["delay"].mean(),
                               out["delay"] - out["delay"].mean(), atol=5e-3)


def test_channels_trials_and_missing_sites():
    da = dispersive(noise=0.5)
    flat = ws.as_channels(da)
    dead = flat.copy()
    dead[:, 5] = np.nan
    with pytest.warns(ws.WavescopeWarning, match="only NaN"):
        out = wave_delays(dead, BAND)
    assert out["delay"].dims == ("channel",)
    assert np.isnan(out["delay"][5]) and int(out["n_sites"]) == 62
    assert float(out["speed"]) == pytest.approx(100.0, rel=0.05)
    trials = ws.as_channels(da).isel(time=slice(0, 2000)).expand_dims(trial=2).copy()
    trials[1] = flat.isel(time=slice(2000, 4000)).values
    both = wave_delays(trials, BAND)
    assert float(both["speed"]) == pytest.approx(100.0, rel=0.05)


def test_a_flagged_bad_site_with_an_artefact_changes_nothing():
    da = dispersive(noise=0.5)
    clean = wave_delays(da, BAND, reference="y0x0")
    broken = da.copy()
    broken[:, 3, 4] = broken[:, 3, 4] * 100 + 50 * np.sin(np.arange(4000) * 0.3)
    with pytest.warns(ws.WavescopeWarning, match="y3x4"):
        out = wave_delays(broken, BAND, reference="y0x0", bads=["y3x4"])
    assert np.isnan(out["delay"][3, 4])
    assert float(out["speed"]) == pytest.approx(float(clean["speed"]), rel=0.01)
    keep = np.ones((8, 8), bool)
    keep[3, 4] = False
    np.testing.assert_allclose(out["delay"].values[keep], clean["delay"].values[keep])


def test_bad_inputs_get_clear_errors():
    da = dispersive(noise=0.5)
    with pytest.raises(ValueError, match="band"):
        wave_delays(da, (4.0, 150.0))
    with pytest.raises(ws.DataModelError, match="real signal"):
        wave_delays(analytic_signal(da, band=BAND), BAND)
    with pytest.raises(ValueError, match="reference"):
        wave_delays(da, BAND, reference="nowhere")
    with pytest.raises(ws.DataModelError, match="dims"):
        wave_delays(da.expand_dims(feature=2), BAND)
    with pytest.raises(ValueError, match="confidence"):
        wave_delays(da, BAND, confidence=1.5)
