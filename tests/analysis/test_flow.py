import numpy as np
import pytest
import xarray as xr
from scipy.signal import hilbert

import wavescope as ws
from wavescope import simulate as sim
from wavescope.analysis import critical_points, curl, divergence, optical_flow

# 100 samples at sfreq 100 hold exactly 5 cycles of 5 Hz: the FFT Hilbert transform is exact.
N_TIMES, SFREQ, FREQ = 100, 100.0, 5.0


def analytic(da):
    return da.copy(data=hilbert(da.values, axis=da.get_axis_num("time")))


def mean_direction(flow):
    w = flow["u"].values + 1j * flow["v"].values
    return np.angle(np.nanmean(w))


def angle_between(a, b):
    return abs(np.angle(np.exp(1j * (a - b))))


def field(u, v, *, spacing=(1.0, 1.0), shape=(9, 11), periodic=0):
    """A velocity Dataset from functions of (x, y) on a grid, one frame."""
    ny, nx = shape
    y = np.arange(ny) * spacing[0]
    x = np.arange(nx) * spacing[1]
    xx, yy = np.meshgrid(x, y)
    return xr.Dataset(
        {"u": (("time", "y", "x"), u(xx, yy)[None]), "v": (("time", "y", "x"), v(xx, yy)[None])},
        coords={"time": [0.0], "y": y, "x": x},
        attrs={"space_units": "mm", "time_units": "s", "periodic": periodic},
    )


# ------------------------------------------------------------------------- optical flow


@pytest.mark.parametrize("direction", [0.3, 2.0, -2.5])
def test_plane_wave_flow_is_the_phase_velocity(direction):
    da = sim.plane_wave((16, 20), n_times=N_TIMES, sfreq=SFREQ, frequency=FREQ, speed=40.0,
                        direction=direction, spacing=0.5, space_units="mm",
                        source="recording")
    flow = optical_flow(analytic(da))
    speed = np.hypot(flow["u"], flow["v"]).values
    assert angle_between(mean_direction(flow), direction) < np.radians(0.01)
    np.testing.assert_allclose(speed, 40.0, rtol=1e-3)  # omega / |grad phi|, everywhere
    assert flow["u"].dims == ("time", "y", "x")
    assert flow["u"].attrs["units"] == "mm/s"
    assert flow.sizes["time"] == N_TIMES - 1
    t = da["time"].values
    np.testing.assert_allclose(flow["time"].values, (t[:-1] + t[1:]) / 2)
    assert flow["valid"].values.all()


@pytest.mark.parametrize("direction", [0.3, 2.0, -2.5])
def test_noisy_plane_wave_direction_within_few_degrees(direction):
    da = sim.plane_wave((16, 20), n_times=N_TIMES, sfreq=SFREQ, frequency=FREQ, speed=40.0,
                        direction=direction, spacing=0.5, noise=0.1, seed=3)
    flow = optical_flow(analytic(da))
    assert angle_between(mean_direction(flow), direction) < np.radians(5)
    # noise adds spurious phase changes (speed biased up a few %), so it is approximate
    assert np.median(np.hypot(flow["u"], flow["v"])) == pytest.approx(40.0, rel=0.15)


@pytest.mark.parametrize("speed", [10.0, 30.0, 50.0])
def test_flow_speed_within_10_percent_at_noise_03_on_a_fine_grid(speed):
    # The case: a slow (1 Hz) wave on a 0.05 mm grid has gradients of 0.006-0.03 rad
    # per step, below the per-site phase noise; single-site differences with alpha 0.1
    # gave 4-42 % of the speed (benchmarks/bench_flow_speed.py).
    sfreq, freq = 50.0, 1.0
    da = sim.plane_wave((48, 48), n_times=300, sfreq=sfreq, frequency=freq, speed=speed,
                        direction=0.7, spacing=0.05, noise=0.3, seed=1, space_units="mm",
                        source="recording")
    z = ws.analysis.analytic_signal(da, band=(0.5, 1.5)).isel(time=slice(50, -50))
    flow = optical_flow(z)
    assert flow.attrs["alpha"] == "auto" and flow.attrs["smooth"] == 3.0
    assert np.median(np.hypot(flow["u"], flow["v"])) == pytest.approx(speed, rel=0.1)
    assert angle_between(mean_direction(flow), 0.7) < np.radians(3)
    # the weight used is the pair's rms phase gradient (rad per grid step)
    expected = 2 * np.pi * freq / speed * 0.05
    assert float(flow["alpha"].median()) == pytest.approx(expected, rel=0.1)


def test_amplitude_flow_of_a_travelling_real_wave():
    da = sim.plane_wave((24, 24), n_times=N_TIMES, sfreq=SFREQ, frequency=FREQ, speed=40.0,
                        direction=1.1, spacing=0.5)
    flow = optical_flow(da, on="amplitude", max_iter=300)
    assert angle_between(mean_direction(flow), 1.1) < np.radians(1)
    assert np.median(np.hypot(flow["u"], flow["v"])) == pytest.approx(40.0, rel=0.1)
    # scaling the data does not change the flow (amplitude is normalised)
    scaled = optical_flow(da * 1e-6, on="amplitude", max_iter=300)
    np.testing.assert_allclose(scaled["u"], flow["u"], atol=1e-6)


def test_flow_of_each_frame_pair_does_not_depend_on_the_batch():
    da = sim.rotating_wave((12, 14), n_times=N_TIMES, sfreq=SFREQ, frequency=FREQ,
                           noise=0.3, seed=1)
    z = analytic(da)
    whole = optical_flow(z)
    alone = optical_flow(z.isel(time=[40, 41]))
    np.testing.assert_allclose(alone["u"].values[0], whole["u"].values[40], rtol=1e-12)
    np.testing.assert_array_equal(alone["n_iter"].values[0], whole["n_iter"].values[40])
    # noisy pairs need different numbers of iterations, and stop on their own
    assert len(np.unique(whole["n_iter"])) > 1


def test_leading_dims_are_carried_and_trials_are_independent():
    a = analytic(sim.plane_wave((8, 9), n_times=N_TIMES, sfreq=SFREQ, frequency=FREQ,
                                speed=20.0, direction=0.5, spacing=0.5))
    b = analytic(sim.plane_wave((8, 9), n_times=N_TIMES, sfreq=SFREQ, frequency=FREQ,
                                speed=20.0, direction=-2.0, spacing=0.5))
    z = xr.concat([a, b], dim="trial").assign_coords(trial=["a", "b"])
    z = z.transpose("time", "trial", "y", "x")  # any dim order is accepted
    flow = optical_flow(z)
    assert flow["u"].dims == ("trial", "time", "y", "x")
    assert list(flow["trial"].values) == ["a", "b"]
    assert angle_between(mean_direction(flow.sel(trial="a")), 0.5) < 1e-3
    assert angle_between(mean_direction(flow.sel(trial="b")), -2.0) < 1e-3
    np.testing.assert_allclose(flow["u"].sel(trial="a"), optical_flow(a)["u"], rtol=1e-12)


def test_nan_sites_get_smoothness_only_and_the_flow_stays_right():
    da = sim.plane_wave((16, 16), n_times=N_TIMES, sfreq=SFREQ, frequency=FREQ, speed=40.0,
                        direction=0.8, spacing=0.5)
    z = analytic(da)
    dead = z.copy()
    dead[:, 5:7, 9] = np.nan  # two dead channels
    dead[30, 2, 2] = np.nan  # one dropped sample
    with pytest.warns(ws.WavescopeWarning):
        flow = optical_flow(dead)
    assert not flow["valid"].values[:, 5:7, 9].any()
    assert not flow["valid"].values[29:31, 2, 2].any()  # both pairs touching the sample
    assert flow["valid"].values.sum() == flow["valid"].size - 2 * (N_TIMES - 1) - 2
    speed = np.hypot(flow["u"], flow["v"]).values
    assert np.isfinite(speed).all()
    np.testing.assert_allclose(speed, 40.0, rtol=1e-3)  # filled in by smoothness
    np.testing.assert_allclose(np.angle(flow["u"] + 1j * flow["v"]), 0.8, atol=1e-3)
    assert np.isnan(dead.values[:, 5:7, 9]).all()  # the input is not touched


def test_periodic_grid_wraps_around():
    # On a torus the flow of a circularly shifted pattern is the shifted flow.
    da = sim.rotating_wave((12, 12), n_times=20, sfreq=SFREQ, frequency=FREQ,
                           centre=(5.5, 5.5))
    z = analytic(da)
    z.attrs["periodic"] = 1
    shifted = z.copy(data=np.roll(z.values, 4, axis=2))
    flow, flow_shifted = optical_flow(z), optical_flow(shifted)
    np.testing.assert_allclose(np.roll(flow["u"].values, 4, axis=2), flow_shifted["u"].values,
                               atol=1e-12)
    z.attrs["periodic"] = 0
    shifted.attrs["periodic"] = 0
    u0 = np.roll(optical_flow(z)["u"].values, 4, axis=2)
    assert not np.allclose(u0, optical_flow(shifted)["u"].values, atol=1e-3)


def test_iteration_limits_are_respected():
    z = analytic(sim.rotating_wave((10, 10), n_times=10, sfreq=SFREQ, frequency=FREQ))
    once = optical_flow(z, max_iter=1)
    assert (once["n_iter"] == 1).all()
    loose = optical_flow(z, tol=1.0)
    tight = optical_flow(z, tol=1e-8, max_iter=2000)
    assert (loose["n_iter"] < tight["n_iter"]).all()


def test_float32_iterations_match_float64():
    # Below tol 1e-5 the iterations run in float64; the same 60 iterations agree closely.
    phase = np.random.default_rng(0).uniform(-0.3, 0.3, (6, 12, 12)).cumsum(axis=0)
    z = ws.from_array(np.exp(1j * phase), ("time", "y", "x"), sfreq=1.0)
    fast = optical_flow(z, tol=1e-5, max_iter=60)
    exact = optical_flow(z, tol=0.0, max_iter=60)
    assert (exact["n_iter"] == 60).all()
    np.testing.assert_allclose(fast["u"], exact["u"], atol=2e-4)  # grid steps per frame
    np.testing.assert_allclose(fast["v"], exact["v"], atol=2e-4)


def test_bad_inputs_get_clear_errors():
    grid = sim.plane_wave((6, 6), n_times=10)
    with pytest.raises(ws.DataModelError, match="analytic signal"):
        optical_flow(grid)  # real data on phase
    channels = sim.plane_wave(np.random.default_rng(0).uniform(0, 5, (12, 2)), n_times=10)
    with pytest.raises(ws.DataModelError, match="interpolate"):
        optical_flow(analytic(channels))
    line = sim.plane_wave((10,), n_times=10)
    with pytest.raises(ws.DataModelError, match="2-D grid"):
        optical_flow(analytic(line))
    with pytest.raises(ValueError, match="on must be"):
        optical_flow(analytic(grid), on="intensity")
    with pytest.raises(ValueError, match="alpha"):
        optical_flow(analytic(grid), alpha=0)
    with pytest.raises(ValueError, match="alpha"):
        optical_flow(analytic(grid), alpha="large")
    with pytest.raises(ValueError, match="smooth"):
        optical_flow(analytic(grid), smooth=-1)
    with pytest.raises(ValueError, match="phase only"):
        optical_flow(grid, on="amplitude", smooth=2)
    with pytest.raises(ws.DataModelError, match="at least 2 frames"):
        optical_flow(analytic(grid).isel(time=[0]))
    with pytest.raises(ws.DataModelError, match="DataArray"):
        optical_flow(analytic(grid).values)


# ---------------------------------------------------------------------- divergence, curl


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.5, 2.0)])
def test_divergence_and_curl_of_analytic_fields(spacing):
    expand = field(lambda x, y: x, lambda x, y: y, spacing=spacing)
    np.testing.assert_allclose(divergence(expand), 2.0)
    np.testing.assert_allclose(curl(expand), 0.0, atol=1e-12)
    spin = field(lambda x, y: -y, lambda x, y: x, spacing=spacing)
    np.testing.assert_allclose(curl(spin), 2.0)
    np.testing.assert_allclose(divergence(spin), 0.0, atol=1e-12)
    shear = field(lambda x, y: 3 * y**2, lambda x, y: 0 * x, spacing=spacing)
    inner = curl(shear).isel(y=slice(1, -1))  # central differences are exact for y^2
    np.testing.assert_allclose(inner[0], -6 * shear["y"].isel(y=slice(1, -1)).values[:, None]
                               + 0 * shear["x"].values)
    assert divergence(expand).attrs["units"] == "1/s"
    assert divergence(expand).dims == ("time", "y", "x")


def test_divergence_skips_nan_sites():
    expand = field(lambda x, y: x, lambda x, y: y)
    expand["u"][0, 4, 5] = np.nan
    div = divergence(expand)
    assert np.isnan(div[0, 4, 5])
    mask = np.ones(div.shape, bool)
    mask[0, 4, 5] = False
    np.testing.assert_allclose(div.values[mask], 2.0)  # one-sided beside the hole


def test_source_and_sink_waves_have_the_sign_of_their_divergence():
    for kind, sign in (("source", 1), ("sink", -1)):
        da = sim.radial_wave((21, 21), n_times=N_TIMES, sfreq=SFREQ, frequency=FREQ,
                             speed=50.0, kind=kind, centre=(10.4, 9.7))
        div = divergence(optical_flow(analytic(da)))
        assert sign * div.mean() > 0
        assert (sign * div.values > 0).mean() > 0.9


def test_rotating_waves_have_the_sign_of_their_sense():
    for sense, sign in (("ccw", 1), ("cw", -1)):
        da = sim.rotating_wave((21, 21), n_times=N_TIMES, sfreq=SFREQ, frequency=FREQ,
                               sense=sense, centre=(10.4, 9.7))
        rot = curl(optical_flow(analytic(da)))
        assert sign * rot.mean() > 0
        assert (sign * rot.values > 0).mean() > 0.9


def test_geometry_rejects_non_flow_input():
    with pytest.raises(ws.DataModelError, match="'u' and 'v'"):
        divergence(xr.Dataset({"u": (("y", "x"), np.zeros((3, 3)))}))
    with pytest.raises(ws.DataModelError, match="2-D grid"):
        curl(xr.Dataset({"u": ("x", np.zeros(3)), "v": ("x", np.zeros(3))},
                        coords={"x": np.arange(3.0)}))


# ----------------------------------------------------------------------- critical points


@pytest.mark.parametrize(
    ("u", "v", "kind", "rotation"),
    [
        (lambda x, y: x, lambda x, y: y, "source", ""),
        (lambda x, y: -x, lambda x, y: -2 * y, "sink", ""),
        (lambda x, y: 0.3 * x - y, lambda x, y: x + 0.3 * y, "spiral-out", "ccw"),
        (lambda x, y: -0.3 * x + y, lambda x, y: -x - 0.3 * y, "spiral-in", "cw"),
        (lambda x, y: -y, lambda x, y: x, "centre", "ccw"),
        (lambda x, y: x, lambda x, y: -y, "saddle", ""),
    ],
)
def test_critical_point_of_linear_fields_is_exact(u, v, kind, rotation):
    x0, y0 = 7.3, 2.15  # off the grid sites, spacing (0.5, 2)
    flow = field(lambda x, y: u(x - x0, y - y0), lambda x, y: v(x - x0, y - y0),
                 spacing=(0.5, 2.0))
    points = critical_points(flow)
    assert points.sizes["point"] == 1
    assert points["x"].item() == pytest.approx(x0)
    assert points["y"].item() == pytest.approx(y0)
    assert points["kind"].item() == kind
    assert points["rotation"].item() == rotation
    jac = np.array([[u(1, 0), u(0, 1)], [v(1, 0), v(0, 1)]])
    assert points["trace"].item() == pytest.approx(np.trace(jac))
    assert points["det"].item() == pytest.approx(np.linalg.det(jac))
    assert points["time"].item() == 0.0


def test_critical_point_on_a_grid_site_is_reported_once():
    flow = field(lambda x, y: x - 4.0, lambda x, y: y - 3.0)  # zero on site (4, 3)
    points = critical_points(flow)
    assert points.sizes["point"] == 1
    assert (points["x"].item(), points["y"].item()) == (4.0, 3.0)


def test_two_critical_points_in_one_field():
    # u = x^2 - 4, v = y - 2: zeros at (+-2, 2); a saddle at x=-2 and a source at x=2.
    flow = field(lambda x, y: (x - 5) ** 2 - 4, lambda x, y: y - 2, shape=(6, 11))
    points = critical_points(flow)
    assert points.sizes["point"] == 2
    kinds = dict(zip(np.round(points["x"].values, 6), points["kind"].values, strict=True))
    assert kinds == {3.0: "saddle", 7.0: "source"}


@pytest.mark.parametrize(("kind", "expected"), [("source", "source"), ("sink", "sink")])
def test_radial_wave_has_its_critical_point_at_the_centre(kind, expected):
    centre = (10.4, 9.7)
    da = sim.radial_wave((21, 21), n_times=N_TIMES, sfreq=SFREQ, frequency=FREQ, speed=50.0,
                         kind=kind, centre=centre, noise=0.05, seed=2)
    points = critical_points(optical_flow(analytic(da)), frame=20)
    assert points.sizes["point"] >= 1
    dist = np.hypot(points["x"] - centre[0], points["y"] - centre[1])
    nearest = points.isel(point=int(np.argmin(dist.values)))
    assert dist.min() < 1.0
    assert nearest["kind"].item() == expected
    assert nearest["time"].item() == pytest.approx(da["time"].values[20] + 0.5 / SFREQ)


@pytest.mark.parametrize("sense", ["ccw", "cw"])
def test_rotating_wave_has_a_centre_of_its_sense(sense):
    centre = (10.4, 9.7)
    da = sim.rotating_wave((21, 21), n_times=N_TIMES, sfreq=SFREQ, frequency=FREQ,
                           sense=sense, centre=centre)
    flow = optical_flow(analytic(da))
    points = critical_points(flow)
    assert points.sizes["point"] == flow.sizes["time"]  # one per frame
    assert np.hypot(points["x"] - centre[0], points["y"] - centre[1]).max() < 0.5
    assert set(points["kind"].values) <= {"centre", "spiral-in", "spiral-out"}
    assert set(points["rotation"].values) == {sense}


def test_critical_points_carry_leading_dims_and_handle_empty_frames():
    src = field(lambda x, y: x - 3.3, lambda x, y: y - 4.6)
    flat = field(lambda x, y: 1 + 0 * x, lambda x, y: 0 * y)  # no zero anywhere
    both = xr.concat([src, flat, src], dim="trial").assign_coords(trial=[10, 11, 12])
    points = critical_points(both)
    assert list(points["trial"].values) == [10, 12]
    assert points.sizes["point"] == 2
    none = critical_points(flat)
    assert none.sizes["point"] == 0 and none["kind"].dtype.kind == "U"
    with pytest.raises(ValueError, match="frame"):
        critical_points(src, frame=3)
