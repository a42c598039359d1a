import json

import numpy as np
import pytest

import wavescope as ws
from wavescope.analysis import PATTERNS, detect_waves

SEG = dict(n_times=100, sfreq=100.0)


def scripted(where):
    """Noise, plane wave, noise, clockwise rotation, noise, sink, noise: 1 s each."""
    sim = ws.simulate
    return sim.sequence(
        sim.noise(where, seed=1, **SEG),
        sim.plane_wave(where, frequency=5.0, speed=40.0, direction=2.0, noise=0.2, seed=2,
                       **SEG),
        sim.noise(where, seed=3, **SEG),
        sim.rotating_wave(where, frequency=5.0, sense="cw", noise=0.2, seed=4, **SEG),
        sim.noise(where, seed=5, **SEG),
        sim.radial_wave(where, frequency=5.0, speed=20.0, kind="sink", noise=0.2, seed=6,
                        **SEG),
        sim.noise(where, seed=7, **SEG),
    )


def test_scripted_events_are_found_with_their_parameters(sites):
    where, _ = sites
    da = scripted(where)
    ev = detect_waves(da, band=(3.0, 8.0), n_surrogates=9, seed=0)
    assert list(ev["pattern"].values) == ["planar", "rotating-cw", "sink"]
    segments = ws.simulate.truth(da)["segments"][1::2]
    for i, seg in enumerate(segments):
        assert abs(float(ev["start"][i]) - seg["start"]) <= 0.06
        assert abs(float(ev["stop"][i]) - seg["stop"]) <= 0.06
    planar = ev.isel(event=0)
    assert float(planar["speed"]) == pytest.approx(40.0, rel=0.02)
    assert abs(np.angle(np.exp(1j * (float(planar["direction"]) - 2.0)))) < np.radians(2)
    assert float(planar["wavelength"]) == pytest.approx(8.0, rel=0.02)
    assert float(ev["speed"][2]) == pytest.approx(20.0, rel=0.05)  # radial speed of the sink
    assert np.isnan(float(ev["direction"][1])) and np.isnan(float(ev["speed"][1]))
    # multivariate surrogates keep the cross-spectra and spread each 1-s event over 7 s:
    # none holds a rotation or a sink this strong, p = 1 / (1 + 9 surrogates x 1 event);
    # the plane wave, which dominates the band's cross-spectrum, leaves weaker plane
    # waves in a few of them
    np.testing.assert_allclose(ev["p_value"].values[1:], 1 / 10)
    assert float(ev["p_value"][0]) <= 0.3
    assert (ev["q_value"].values >= ev["p_value"].values).all()
    sig = json.loads(ev.attrs["significance"])
    assert sig["null"] == "multivariate" and sig["n_surrogates"] == 9
    scan = sig["per_trial"][0]  # what was scanned, and the p-values it can reach
    assert scan["surrogates_scanned"] == {"multivariate": 9}
    assert scan["p_floor"] == pytest.approx({"pgd": 0.1, "rotation": 0.1, "radial": 0.1})
    assert ev["p_value"].values.min() >= min(scan["p_floor"].values())
    assert sig["thresholds"]["pgd_threshold"] == 0.85
    assert ev["duration"].attrs["units"] == "time unit"
    assert set(np.unique(ev["frame_pattern"].values)) <= set(PATTERNS)


def test_trials_min_duration_and_pattern_choice():
    da = scripted((10, 10))
    both = ws.from_array(np.stack([da.values, da.values[::-1]]), ("trial", "time", "y", "x"),
                         sfreq=100.0)
    ev = detect_waves(both, band=(3.0, 8.0), n_surrogates=0, patterns=("planar",))
    assert np.isnan(ev["q_value"]).all()
    assert list(ev["event_trial"].values) == [0, 1]
    assert set(ev["pattern"].values) == {"planar"} and np.isnan(ev["p_value"]).all()
    assert ev["frame_pattern"].dims == ("trial", "time")
    long = detect_waves(da, band=(3.0, 8.0), n_surrogates=0, min_duration=1.5)
    assert long.sizes["event"] == 0


def test_bundled_eeg_alpha_waves():
    """Documented behaviour on the bundled eyes-closed EEG (first 20 s, alpha 8-13 Hz).

    Alpha frames split over rotating, radial and synchronous patterns, with few planar
    ones. The plane fit's slope test allows for residuals correlated across sites
    (volume conduction) and is pooled over frames: the alpha's phase gradients scatter
    from frame to frame about 8 times as far as one frame's independent-site SE says
    (the pooled scale is about 60 in variance), so a gradient must stand out of that
    scatter to be planar (1.3 % planar, 8 % rotating-cw, 16 % rotating-ccw, 5 % sinks,
    15 % synchronous, 55 % none of the first 20 s; 13 % planar with the single-frame
    test). A rotating or radial label needs that model to describe the phase at least as
    well as the plane does. The planar frames whose local gradients align (PGD >= 0.85,
    the old planar rule) travel from front to back (direction near -90 degrees: -y is
    posterior in the scalp projection) at a few metres per second.
    The p-values are against the multivariate null (cross-spectra, so volume conduction,
    kept), with Benjamini-Hochberg q-values over the events.
    """
    eeg = ws.datasets.eeg_eyes_closed().isel(time=slice(0, 3200))
    ev = detect_waves(eeg, band=(8.0, 13.0), n_surrogates=19, seed=0)
    assert ev.sizes["event"] >= 30
    assert float(ev["duration"].min()) >= 1 / 10.5 - 1e-9  # one cycle at 10.5 Hz
    p, q = ev["p_value"].values, ev["q_value"].values
    assert ((p > 0) & (p <= 1)).all() and (q >= p).all()
    assert (np.diff(q[np.argsort(p)]) >= 0).all()  # BH keeps the order of the p-values
    frames = ev["frame_pattern"].values
    for label in ("rotating-cw", "rotating-ccw"):
        assert np.mean(frames == label) > 0.05
    assert np.mean(frames == "sink") > 0.03
    assert 0.005 < np.mean(frames == "planar") < 0.05 and np.mean(frames == "synchronous") < 0.2
    assert float(ev["frame_pool_scale"].median()) > 10  # slopes scatter beyond one frame's SE
    planar = (ev["frame_pattern"] == "planar") & (ev["frame_pgd"] >= 0.85)
    d = ev["frame_direction"].where(planar).values
    d = d[np.isfinite(d)]
    mean_dir = np.degrees(np.angle(np.exp(1j * d).mean()))
    assert abs(mean_dir + 90) < 30
    speed = float(ev["frame_speed"].where(planar).median())
    assert 2.0 < speed < 20.0
    assert ev["speed"].attrs["units"] == "m/s"


def test_errors():
    da = scripted((6, 6))
    with pytest.raises(ValueError, match="unknown patterns"):
        detect_waves(da, band=(3.0, 8.0), patterns=("spiral",))
    with pytest.raises(ValueError, match="surrogate"):
        detect_waves(da, band=(3.0, 8.0), surrogate="bootstrap")
    z = ws.analysis.analytic_signal(da, band=(3.0, 8.0))
    with pytest.raises(ws.DataModelError, match="already an analytic signal"):
        detect_waves(z, band=(3.0, 8.0))
