import json

import numpy as np
import pytest
import xarray as xr
from scipy.signal import hilbert

import wavescope as ws
from wavescope import simulate as sim


def wrap(a):
    """Wrap to (-pi, pi]."""
    return np.angle(np.exp(1j * np.asarray(a)))


def analytic(values):
    # 200 samples at 100 Hz hold exactly 10 cycles of 5 Hz, so the FFT Hilbert is exact.
    return hilbert(values, axis=0)


@pytest.mark.parametrize("direction", [0.0, 0.7, np.pi / 2, 2.5, -2.0])
def test_plane_wave_phase_difference_is_minus_k_dot_dr(direction):
    da = sim.plane_wave((6, 7), direction=direction, speed=30.0, spacing=(1.5, 2.0))
    z = analytic(da.values.reshape(da.sizes["time"], -1))
    xy = ws.positions(da)
    t = sim.truth(da)
    k = np.array(t["k"])
    np.testing.assert_allclose(k, 2 * np.pi * 5 / 30 * np.array([np.cos(direction),
                                                                  np.sin(direction)]))
    a, b = 3, 40
    measured = np.angle(np.mean(z[:, b] * np.conj(z[:, a])))
    np.testing.assert_allclose(measured, wrap(-k @ (xy[b] - xy[a])), atol=1e-6)
    assert t["wavelength"] == pytest.approx(30.0 / 5.0)


@pytest.mark.parametrize("direction", [0.0, 1.0, np.pi, -np.pi / 3])
def test_plane_wave_travels_along_direction_at_speed(direction):
    # A site displaced by speed / sfreq along the direction sees the same value one step later.
    speed, sfreq = 40.0, 100.0
    r0 = np.array([1.0, -2.0])
    r1 = r0 + speed / sfreq * np.array([np.cos(direction), np.sin(direction)])
    da = sim.plane_wave(np.array([r0, r1]), speed=speed, sfreq=sfreq, direction=direction,
                        phase0=0.3)
    v = da.values
    np.testing.assert_allclose(v[1:, 1], v[:-1, 0], atol=1e-12)
    assert not np.allclose(v[:, 1], v[:, 0])


def test_temporal_frequency_from_fft():
    da = sim.plane_wave((4, 4), frequency=7.0, sfreq=64.0, n_times=256, noise=0.2, seed=1)
    spec = np.abs(np.fft.rfft(da.values, axis=0)).mean(axis=(1, 2))
    freqs = np.fft.rfftfreq(256, 1 / 64.0)
    assert freqs[np.argmax(spec[1:]) + 1] == pytest.approx(7.0)


def test_grid_orientation_and_coordinates():
    da = sim.plane_wave((5, 9), direction=np.pi / 2, spacing=(2.0, 0.5))
    assert da.dims == ("time", "y", "x")
    np.testing.assert_allclose(da["x"].values, np.arange(9) * 0.5)
    np.testing.assert_allclose(da["y"].values, np.arange(5) * 2.0)
    # Travelling along +y: constant along x, varying along y.
    np.testing.assert_allclose(da.values, da.values[:, :, :1] * np.ones((1, 1, 9)), atol=1e-12)
    assert np.ptp(da.values[0, :, 0]) > 0.5


def test_list_shape_is_a_grid_and_list_of_pairs_are_positions():
    assert sim.plane_wave([3, 4]).dims == ("time", "y", "x")
    pts = sim.plane_wave([[0.0, 0.0], [1.0, 2.0], [3.0, 1.0]])
    assert pts.dims == ("time", "channel") and pts.sizes["channel"] == 3


def test_line_sites():
    da = sim.plane_wave((12,), speed=20.0)
    assert da.dims == ("time", "x")
    z = analytic(da.values)
    k = 2 * np.pi * 5 / 20
    np.testing.assert_allclose(np.angle(np.mean(z[:, 4] * np.conj(z[:, 1]))), wrap(-3 * k),
                               atol=1e-6)


@pytest.mark.parametrize(
    "func, kwargs",
    [
        (sim.plane_wave, dict(direction=0.4)),
        (sim.radial_wave, dict(kind="sink", centre=(2.0, 3.0))),
        (sim.rotating_wave, dict(sense="cw")),
        (sim.standing_wave, dict(direction=1.2)),
        (sim.noise, dict(color="pink")),
    ],
)
def test_positions_path_equals_grid_path(func, kwargs):
    kw = dict(kwargs, seed=3)
    if func is not sim.noise:
        kw["noise"] = 0.1
    grid = func((6, 5), spacing=(1.0, 2.0), **kw)
    flat = ws.as_channels(grid)
    pts = func(ws.positions(grid), **kw)
    assert pts.dims == ("time", "channel")
    np.testing.assert_allclose(pts.values, flat.values, atol=1e-12)
    np.testing.assert_allclose(ws.positions(pts), ws.positions(grid))
    # Default centre (middle of the sites) is the same on both paths.
    assert sim.truth(pts).get("centre") == sim.truth(grid).get("centre")


def ray(n=30, step=0.5, angle=0.8, centre=(0.0, 0.0)):
    r = np.arange(1, n + 1) * step
    return np.asarray(centre) + np.column_stack([r * np.cos(angle), r * np.sin(angle)])


@pytest.mark.parametrize("kind, outward", [("source", True), ("sink", False)])
def test_radial_source_moves_out_sink_moves_in(kind, outward):
    speed, sfreq = 25.0, 100.0
    centre = np.array([3.0, -1.0])
    angle = 0.8
    step = speed / sfreq  # one sample of travel
    da = sim.radial_wave(ray(step=step, angle=angle, centre=centre), centre=centre, kind=kind,
                         speed=speed, sfreq=sfreq)
    v = da.values
    if outward:  # site j+1 (further out) sees at t+1 what site j saw at t
        np.testing.assert_allclose(v[1:, 1:], v[:-1, :-1], atol=1e-12)
    else:
        np.testing.assert_allclose(v[1:, :-1], v[:-1, 1:], atol=1e-12)
    t = sim.truth(da)
    assert t["kind"] == "radial" and t["radial"] == kind
    np.testing.assert_allclose(t["centre"], centre)


@pytest.mark.parametrize("sense", ["ccw", "cw"])
def test_rotating_wave_sense(sense):
    sfreq, frequency = 100.0, 4.0
    dtheta = 2 * np.pi * frequency / sfreq  # rotation per sample
    centre = np.array([5.0, 5.0])
    angles = np.arange(60) * dtheta
    ring = centre + 3.0 * np.column_stack([np.cos(angles), np.sin(angles)])
    da = sim.rotating_wave(ring, centre=centre, sense=sense, frequency=frequency, sfreq=sfreq)
    v = da.values
    if sense == "ccw":  # the pattern at angle a reaches angle a + dtheta one step later
        np.testing.assert_allclose(v[1:, 1:], v[:-1, :-1], atol=1e-12)
    else:
        np.testing.assert_allclose(v[1:, :-1], v[:-1, 1:], atol=1e-12)
    assert sim.truth(da)["sense"] == sense


def test_rotating_crest_angle_increases_for_ccw_on_grid():
    da = sim.rotating_wave((21, 21), sense="ccw", frequency=2.0)
    c = np.array(sim.truth(da)["centre"])
    np.testing.assert_allclose(c, [10.0, 10.0])
    xy = ws.positions(da)
    theta = np.arctan2(*(xy - c).T[::-1])
    flat = ws.as_channels(da).values
    # phase = omega t - theta  =>  the signal at t is max where theta = omega t.
    crest = [np.angle(np.sum(flat[i] * np.exp(1j * theta))) for i in (0, 5)]
    assert wrap(crest[1] - crest[0]) == pytest.approx(2 * np.pi * 2.0 * 5 / 100.0, abs=0.05)


def test_rotating_wave_rejects_a_line():
    with pytest.raises(ValueError, match="2-D sites"):
        sim.rotating_wave((10,))


def test_standing_wave_has_fixed_nodes():
    da = sim.standing_wave((40,), speed=40.0)  # wavelength 8: nodes at x = 2, 6, 10, ...
    np.testing.assert_allclose(da.values[:, [2, 6, 10]], 0.0, atol=1e-12)
    assert np.abs(da.values[:, 4]).max() == pytest.approx(1.0)
    # Same as half-amplitude plane waves in opposite directions.
    a = sim.plane_wave((40,), speed=40.0, amplitude=0.5)
    b = sim.plane_wave((40,), speed=40.0, amplitude=0.5, direction=np.pi)
    np.testing.assert_allclose(da.values, a.values + b.values, atol=1e-12)


def test_noise_level_and_seed():
    a = sim.plane_wave((8, 8), noise=0.5, amplitude=2.0, seed=7)
    b = sim.plane_wave((8, 8), noise=0.5, amplitude=2.0, seed=7)
    c = sim.plane_wave((8, 8), noise=0.5, amplitude=2.0, seed=8)
    clean = sim.plane_wave((8, 8), amplitude=2.0)
    xr.testing.assert_identical(a, b)
    assert not np.allclose(a.values, c.values)
    assert np.std(a.values - clean.values) == pytest.approx(1.0, rel=0.05)
    assert sim.truth(a)["noise"] == 0.5 and sim.truth(a)["seed"] == 7


def test_white_and_pink_noise_spectra():
    n = 4096
    white = sim.noise((30,), n_times=n, seed=0, amplitude=3.0)
    pink = sim.noise((30,), n_times=n, seed=0, color="pink", amplitude=3.0)
    np.testing.assert_allclose(pink.values.std(axis=0), 3.0)
    assert white.values.std() == pytest.approx(3.0, rel=0.02)
    f = np.fft.rfftfreq(n)[1:]
    power = (np.abs(np.fft.rfft(pink.values, axis=0)) ** 2).mean(axis=1)[1:]
    slope = np.polyfit(np.log(f), np.log(power), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.1)
    wpower = (np.abs(np.fft.rfft(white.values, axis=0)) ** 2).mean(axis=1)[1:]
    assert np.polyfit(np.log(f), np.log(wpower), 1)[0] == pytest.approx(0.0, abs=0.1)


def test_combine_sums_and_keeps_truths():
    a = sim.plane_wave((5, 5), direction=0.3)
    b = sim.rotating_wave((5, 5))
    n = sim.noise((5, 5), seed=1, amplitude=0.1)
    ab = sim.combine(a, b)
    abn = sim.combine(ab, n)
    np.testing.assert_allclose(abn.values, a.values + b.values + n.values)
    kinds = [c["kind"] for c in sim.truth(abn)["components"]]
    assert kinds == ["plane", "rotating", "noise"]
    ws.validate(abn)
    np.testing.assert_array_equal(a.values, sim.plane_wave((5, 5), direction=0.3).values)


def test_combine_rejects_mismatched_sites():
    with pytest.raises(ValueError, match="same sites"):
        sim.combine(sim.plane_wave((5, 5)), sim.plane_wave((5, 6)))
    with pytest.raises(ValueError, match="coordinate '[xy]'"):
        sim.combine(sim.plane_wave((5, 5)), sim.plane_wave((5, 5), spacing=2.0))


def test_sequence_concatenates_in_time_with_segments():
    a = sim.plane_wave((4, 4), n_times=50)
    b = sim.rotating_wave((4, 4), n_times=30)
    s = sim.sequence(a, b)
    assert s.sizes["time"] == 80
    np.testing.assert_allclose(s["time"].values, np.arange(80) / 100.0)
    np.testing.assert_array_equal(s.values[50:], b.values)
    segs = sim.truth(s)["segments"]
    assert [(g["kind"], g["start"], g["stop"]) for g in segs] == [
        ("plane", 0.0, 0.5), ("rotating", 0.5, 0.8)]


def test_results_follow_data_model_and_attrs_are_netcdf_safe():
    for da in (sim.plane_wave((3, 4)), sim.radial_wave(np.random.default_rng(0).random((9, 2))),
               sim.noise((7,), source="recording", space_units="mm")):
        ws.validate(da)
        assert all(isinstance(v, (int, float, str)) for v in da.attrs.values())
        json.loads(da.attrs["truth"])
        assert ws.provenance(da)["generator"].startswith("wavescope.simulate.")
    rec = sim.noise((7,), source="recording", space_units="mm")
    assert rec.attrs["time_units"] == "s"


def test_truth_missing():
    plain = ws.from_array(np.zeros((3, 2)), ("time", "x"), sfreq=1.0)
    with pytest.raises(ValueError, match="no 'truth'"):
        sim.truth(plain)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sites=(0, 4)), "positive sizes"),
        (dict(sites=np.zeros((4, 3))), r"\(n, 2\)"),
        (dict(sites="grid"), "grid shape"),
        (dict(sites=np.array([[0.0, np.nan]])), "NaN"),
        (dict(sites=(4, 4), frequency=60.0), "Nyquist"),
        (dict(sites=(4, 4), speed=0.0), "speed"),
        (dict(sites=(4, 4), n_times=0), "n_times"),
        (dict(sites=(4, 4), noise=-1.0), "noise"),
        (dict(sites=(4, 4), spacing=-1.0), "spacing"),
        (dict(sites=(4, 4), sfreq=float("nan")), "sfreq"),
    ],
)
def test_bad_input_errors(kwargs, match):
    sites = kwargs.pop("sites")
    with pytest.raises(ValueError, match=match):
        sim.plane_wave(sites, **kwargs)


def test_bad_kind_sense_color_centre():
    with pytest.raises(ValueError, match="'source' or 'sink'"):
        sim.radial_wave((4, 4), kind="out")
    with pytest.raises(ValueError, match="'ccw' or 'cw'"):
        sim.rotating_wave((4, 4), sense="left")
    with pytest.raises(ValueError, match="'white' or 'pink'"):
        sim.noise((4, 4), color="brown")
    with pytest.raises(ValueError, match="centre"):
        sim.radial_wave((4, 4), centre=(1.0, 2.0, 3.0))
