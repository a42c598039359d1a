"""The surrogate path of detect_waves: screened pattern decisions and windowed surrogates
equal the full computation (labels, scores, p-values), on random and wave frames."""

import numpy as np
import pytest
import xarray as xr

import wavescope as ws
from wavescope.analysis import (
    analytic_signal,
    classify_patterns,
    detect_waves,
    events,
    surrogates,
)
from wavescope.analysis.stats import PhaseWindows

SFREQ, SEG = 100.0, dict(n_times=40, sfreq=100.0, frequency=5.0)
SETTINGS = dict(pgd_threshold=0.85, synchrony_threshold=0.85, radial_threshold=0.5,
                rotation_threshold=0.5, pgd_form="rubino")
WHERE = (12, 12)
CENTRE = np.array([4.6, 6.3])


def frames():
    """Trials of noise, plane, radial (known centre), rotating, long plane (synchronous)
    and corner-centred radial frames (plane-like, a radial model beating the plane),
    as detect_waves hands surrogate windows to the decision: (trial, time, y, x)."""
    sim = ws.simulate
    parts = [
        sim.sequence(sim.noise(WHERE, seed=1, n_times=40, sfreq=SFREQ),
                     sim.plane_wave(WHERE, speed=40.0, direction=0.7, noise=0.3, seed=2,
                                    **SEG),
                     sim.noise(WHERE, seed=3, n_times=40, sfreq=SFREQ)),
        sim.sequence(sim.radial_wave(WHERE, speed=20.0, centre=CENTRE, noise=0.3, seed=4,
                                     **SEG),
                     sim.rotating_wave(WHERE, sense="cw", centre=CENTRE, noise=0.3, seed=5,
                                       **SEG),
                     sim.noise(WHERE, seed=6, n_times=40, sfreq=SFREQ)),
        sim.sequence(sim.plane_wave(WHERE, speed=1e6, noise=0.3, seed=7, **SEG),
                     sim.radial_wave(WHERE, speed=20.0, centre=(0.0, 0.0), noise=0.1,
                                     seed=8, **SEG),
                     sim.noise(WHERE, seed=9, n_times=40, sfreq=SFREQ, color="pink")),
        sim.sequence(sim.radial_wave(WHERE, speed=60.0, centre=(-1.0, 5.5), noise=0.1,
                                     seed=10, **SEG),
                     sim.radial_wave(WHERE, speed=60.0, centre=(-3.0, 5.5), noise=0.1,
                                     seed=11, **SEG),
                     sim.noise(WHERE, seed=12, n_times=40, sfreq=SFREQ)),
    ]
    z = xr.concat([analytic_signal(p, (3.0, 8.0)) for p in parts], dim="trial")
    values = z.values.copy()
    values[..., -1, -2:] = np.nan  # dead sites, as outside a cranial window
    values[1, 50:53, 5, 5] = np.nan  # and a few missing samples
    return z.copy(data=values)


@pytest.fixture(scope="module")
def full():
    zs = frames()
    return zs, classify_patterns(zs)


def test_known_answers_of_the_full_decision(full):
    zs, c = full
    labels = c["pattern"].values
    assert np.mean(labels[0, 45:75] == "planar") >= 0.9
    assert np.mean(labels[1, 5:35] == "source") >= 0.9
    assert np.mean(labels[1, 45:75] == "rotating-cw") >= 0.9
    assert np.mean(labels[2, 5:35] == "synchronous") >= 0.7
    for sl in (slice(5, 35), slice(45, 75)):  # the centres of the radial and rotating wave
        cx, cy = (np.nanmedian(c[k].values[1, sl]) for k in ("centre_x", "centre_y"))
        assert np.hypot(cx - CENTRE[0], cy - CENTRE[1]) < 0.5
    assert np.mean(labels[:, :] == "none") > 0.2  # noise stays unlabelled


@pytest.mark.parametrize("families", [("pgd",), ("synchrony",), ("pgd", "synchrony")])
def test_screened_labels_equal_the_full_decision(full, families):
    zs, c = full
    labels, scores = events._null_frames(zs, SETTINGS, families)
    wanted = [events._SCREENED[f] for f in families]
    keep = np.isin(c["pattern"].values, wanted)
    np.testing.assert_array_equal(labels, np.where(keep, c["pattern"].values, "none"))
    np.testing.assert_array_equal(scores, np.where(keep, c["score"].values, np.nan))
    assert keep.any()


def test_the_screen_keeps_rivals_that_overrule_a_plane(full):
    """Frames whose plane fit would make them planar, but whose radial model is better:
    the screen must fit their centres, or they would turn planar."""
    zs, c = full
    could = (((c["strength"] >= 0.7) | (c["pgd"] >= 0.85)) & (c["gradient_p"] < 0.01)).values
    overruled = could & np.isin(c["pattern"].values, ["source", "sink"])
    assert overruled.sum() >= 2
    labels, _ = events._null_frames(zs, SETTINGS, ("pgd",))
    assert (labels[overruled] == "none").all()


def test_radial_and_rotating_nulls_get_the_whole_decision(full):
    zs, c = full
    labels, scores = events._null_frames(zs, SETTINGS, ("radial", "pgd"))
    np.testing.assert_array_equal(labels, c["pattern"].values)
    np.testing.assert_array_equal(scores, c["score"].values)


@pytest.mark.parametrize("kind", ["phase", "multivariate"])
def test_surrogate_windows_equal_cut_surrogates(kind):
    da = ws.simulate.plane_wave((5, 6), n_times=64, noise=0.3, seed=1, sfreq=SFREQ)
    values = da.values.copy()
    values[:, 0, 0] = np.nan
    values[10:12, 2, 3] = np.nan
    z = analytic_signal(da, (3.0, 8.0))
    for x in (da.copy(data=values), z, z.astype(np.complex64), da.transpose("y", "time", "x"),
              da.astype(np.float32)):
        starts = [0, 7, 44]
        got = PhaseWindows(x, kind).draw(3, 5, starts, 20)
        full = surrogates(x, kind, 3, 5).values
        axis = x.get_axis_num("time")
        want = np.stack([np.take(full[j], np.arange(a, a + 20), axis=axis)
                         for j, a in enumerate(starts)])
        np.testing.assert_array_equal(got, want)


def test_detect_waves_p_values_equal_those_of_the_unscreened_null(monkeypatch):
    sim = ws.simulate
    where = (16, 16)
    da = sim.sequence(sim.noise(where, n_times=60, sfreq=25.0, seed=1),
                      sim.plane_wave(where, n_times=50, frequency=2.0, speed=20.0,
                                     sfreq=25.0, noise=0.2, seed=2),
                      sim.noise(where, n_times=60, sfreq=25.0, seed=3),
                      sim.plane_wave(where, n_times=50, frequency=2.0, speed=1e6,
                                     sfreq=25.0, noise=0.3, seed=4))
    values = da.values.copy()
    values[:, :3, :3] = np.nan
    da = da.copy(data=values)
    args = dict(band=(1.0, 3.0), n_surrogates=9, seed=3)
    fast = detect_waves(da, **args)
    monkeypatch.setattr(events, "_SCREENED", {})  # every surrogate frame fully decided
    slow = detect_waves(da, **args)
    assert {"planar", "synchronous"} <= set(fast["pattern"].values)
    np.testing.assert_array_equal(fast["p_value"].values, slow["p_value"].values)
    assert fast.attrs["significance"] == slow.attrs["significance"]
