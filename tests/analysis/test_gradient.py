import numpy as np
import pytest
import xarray as xr

import wavescope as ws
from wavescope.analysis import phase_gradient


def linear_phase(xy, k, n_times=3, omega=0.7):
    """Exact wrapped phase omega t - k . r at positions xy, shape (time, n)."""
    t = np.arange(n_times)[:, None]
    return np.angle(np.exp(1j * (omega * t - xy @ np.asarray(k))))


def grid_phase(shape, k, spacing=1.0, periodic=False, x=None, y=None):
    ny, nx = shape
    da = ws.from_array(np.zeros((3, ny, nx)), ("time", "y", "x"), sfreq=1.0, spacing=spacing,
                       units="rad", periodic=periodic)
    if x is not None:
        da = da.assign_coords(x=x, y=y)
    yy, xx = np.meshgrid(da["y"].values, da["x"].values, indexing="ij")
    xy = np.column_stack([xx.ravel(), yy.ravel()])
    return da.copy(data=linear_phase(xy, k).reshape(3, ny, nx))


@pytest.mark.parametrize("wavelength", [3.0, 4.0, 7.3, 40.0])
@pytest.mark.parametrize("direction", [0.0, 0.4, 2.0, -2.6])
def test_grid_gradient_is_exact_for_a_linear_phase_down_to_three_sites(wavelength, direction):
    k = 2 * np.pi / wavelength * np.array([np.cos(direction), np.sin(direction)])
    if np.abs(k).max() >= np.pi:  # a component beyond Nyquist along an axis is aliased
        pytest.skip("component above the grid's Nyquist wavenumber")
    g = phase_gradient(grid_phase((9, 11), k))
    assert set(g.data_vars) == {"dphi_dx", "dphi_dy"}
    assert g["dphi_dx"].attrs["units"] == "rad/pixel"
    np.testing.assert_allclose(g["dphi_dx"].values, -k[0], atol=1e-9)
    np.testing.assert_allclose(g["dphi_dy"].values, -k[1], atol=1e-9)


def test_analytic_signal_input_gives_the_same_gradient():
    # 100 samples hold exactly 5 cycles, so the FFT-based Hilbert transform is exact
    da = ws.simulate.plane_wave((8, 9), n_times=100, speed=20.0, direction=1.1)
    z = ws.analysis.analytic_signal(da)
    g = phase_gradient(z)
    k = ws.simulate.truth(da)["k"]
    np.testing.assert_allclose(g["dphi_dx"].values, -k[0], atol=1e-9)
    np.testing.assert_allclose(g["dphi_dy"].values, -k[1], atol=1e-9)


def test_unequal_spacing_and_a_ring():
    x = np.cumsum([0.0, 1.0, 0.5, 1.5, 0.8, 1.2, 0.6, 1.0])
    y = np.cumsum([0.0, 0.7, 1.3, 0.9, 1.1, 0.6])
    k = np.array([0.9, -0.6])
    g = phase_gradient(grid_phase((6, 8), k, x=x, y=y))
    np.testing.assert_allclose(g["dphi_dx"].values, -k[0], atol=1e-9)
    np.testing.assert_allclose(g["dphi_dy"].values, -k[1], atol=1e-9)
    # a ring of 12 sites holding 5 cycles (wavelength 2.4 sites): periodic differences
    kx = 2 * np.pi * 5 / 12
    ring = ws.from_array(linear_phase(np.column_stack([np.arange(12.0), np.zeros(12)]),
                                      [kx, 0.0]), ("time", "x"), sfreq=1.0, units="rad",
                         periodic=True)
    gr = phase_gradient(ring)
    np.testing.assert_allclose(gr["dphi_dx"].values, -kx, atol=1e-9)
    np.testing.assert_array_equal(gr["dphi_dy"].values, 0.0)


@pytest.mark.parametrize("neighbors", ["delaunay", 6])
def test_irregular_gradient_is_exact_for_a_linear_phase(neighbors, positions):
    xy = positions
    k = np.array([0.8, 0.5])  # wavelength 6.7 sites
    da = ws.from_array(linear_phase(xy, k), ("time", "channel"), sfreq=1.0, positions=xy,
                       units="rad")
    g = phase_gradient(da, neighbors=neighbors)
    np.testing.assert_allclose(g["dphi_dx"].values, -k[0], atol=1e-9)
    np.testing.assert_allclose(g["dphi_dy"].values, -k[1], atol=1e-9)
    assert "least squares" in g.attrs["gradient_method"]


def test_nan_sites_are_skipped_on_grids_and_positions(positions):
    k = np.array([0.5, -1.2])
    da = grid_phase((7, 8), k)
    data = da.values.copy()
    data[:, 3, 4] = np.nan  # dead site
    data[1, 5, 2] = np.nan  # missing in one frame
    with pytest.warns(ws.WavescopeWarning):
        g = phase_gradient(da.copy(data=data))
    gx, gy = g["dphi_dx"].values, g["dphi_dy"].values
    assert np.isnan(gx[:, 3, 4]).all() and np.isnan(gx[1, 5, 2])
    good = np.isfinite(gx)
    np.testing.assert_array_equal(good, np.isfinite(gy))  # a gradient is whole or missing
    # only the edge site (6, 2) loses its one neighbour along y, in frame 1
    assert good.sum() == gx.size - 3 - 2
    np.testing.assert_allclose(gx[good], -k[0], atol=1e-9)
    np.testing.assert_allclose(gy[good], -k[1], atol=1e-9)

    xy = positions
    k = np.array([0.4, -0.5])  # every Delaunay edge well under half a wavelength
    values = linear_phase(xy, k)
    values[:, 10] = np.nan
    values[2, 20] = np.nan
    with pytest.warns(ws.WavescopeWarning):
        gi = phase_gradient(ws.from_array(values, ("time", "channel"), sfreq=1.0, positions=xy,
                                          units="rad"))
    gx = gi["dphi_dx"].values
    assert np.isnan(gx[:, 10]).all() and np.isnan(gx[2, 20])
    np.testing.assert_allclose(gx[np.isfinite(gx)], -k[0], atol=1e-9)


def test_dask_chunks_along_time_stay_lazy():
    dask = pytest.importorskip("dask")
    da = ws.simulate.plane_wave((6, 7), n_times=40, noise=0.3, seed=1)
    z = ws.analysis.analytic_signal(da)
    lazy = phase_gradient(z.chunk(time=10))
    assert isinstance(lazy["dphi_dx"].data, dask.array.Array)
    xr.testing.assert_allclose(lazy.compute(), phase_gradient(z))


def test_errors_name_the_fix(positions):
    da = ws.simulate.plane_wave((4, 4), n_times=20)
    with pytest.raises(ws.DataModelError, match="analytic_signal"):
        phase_gradient(da)  # a real signal is not a phase
    line = ws.from_array(np.zeros((3, 5)), ("time", "channel"), sfreq=1.0, units="rad",
                         positions=np.column_stack([np.arange(5.0), np.arange(5.0)]))
    with pytest.raises(ws.DataModelError, match="on a line"):
        phase_gradient(line)
    with pytest.raises(ValueError, match="neighbors"):
        phase_gradient(ws.analysis.phase(ws.simulate.plane_wave(positions)),
                       neighbors=1)


def test_fused_grid_path_matches_the_general_one():
    from wavescope.analysis._geometry import derivative, geometry_of
    from wavescope.analysis.waves import _block_stats

    rng = np.random.default_rng(5)
    z = rng.standard_normal((30, 7, 9)) + 1j * rng.standard_normal((30, 7, 9))
    da = ws.from_array(z, ("time", "y", "x"), sfreq=1.0, spacing=(0.5, 2.0))
    geom = geometry_of(da)
    gx, gy = derivative(np.angle(z), geom)
    g = phase_gradient(da)
    np.testing.assert_allclose(g["dphi_dx"].values, gx, atol=1e-9)
    np.testing.assert_allclose(g["dphi_dy"].values, gy, atol=1e-9)
    stats = _block_stats(z.reshape(30, -1), geom, unit=False)
    np.testing.assert_allclose(ws.analysis.pgd(da).values, np.hypot(*stats[:2]) / stats[2],
                               atol=1e-9)


def test_a_split_space_dim_gets_a_guided_error():
    pytest.importorskip("dask")
    from wavescope.analysis import pgd

    z = np.exp(1j * np.random.default_rng(0).uniform(-3, 3, (20, 8, 8)))
    da = ws.from_array(z, ("time", "y", "x"), sfreq=10.0).chunk(y=4)
    for func in (phase_gradient, pgd):
        with pytest.raises(ws.DataModelError, match=r"dim 'y' is split into 2 dask chunks.*"
                                                    r"da.chunk\(\{'y': -1\}\)"):
            func(da)
    # rechunked as the message says, it runs lazily and gives the in-memory answer
    lazy = pgd(da.chunk(y=-1, time=5))
    np.testing.assert_allclose(lazy.values, pgd(da.compute()).values)


def test_fused_grid_path_over_sub_blocks_zeros_and_gaps():
    # 64 x 64 x 37 frames: the fused path's sub-blocks (16 frames) end mid-call; an
    # exact zero has no phase and a NaN is missing, each only in its own frame
    from wavescope.analysis._geometry import derivative, geometry_of
    from wavescope.analysis.waves import _block_stats

    rng = np.random.default_rng(8)
    z = rng.standard_normal((37, 64, 64)) + 1j * rng.standard_normal((37, 64, 64))
    z[3, 10, 0] = 0.0
    z[20, 63, 5] = np.nan
    da = ws.from_array(z, ("time", "y", "x"), sfreq=1.0, spacing=(1.0, 1.5))
    geom = geometry_of(da)
    ph = np.angle(z)
    ph[z == 0] = np.nan
    gx, gy = derivative(ph, geom)
    g = phase_gradient(da)
    for name, ref in (("dphi_dx", gx), ("dphi_dy", gy)):
        np.testing.assert_array_equal(np.isnan(g[name].values), np.isnan(ref))
        np.testing.assert_allclose(g[name].values, ref, atol=1e-12, equal_nan=True)
    assert np.isnan(g["dphi_dx"].values[3, 10, 0]) and np.isfinite(g["dphi_dx"].values[4, 10, 0])
    stats = _block_stats(z.reshape(37, -1), geom, unit=False)
    np.testing.assert_allclose(ws.analysis.pgd(da).values, np.hypot(*stats[:2]) / stats[2],
                               rtol=1e-12)


def test_nan_screen_matches_a_full_pass_and_pgd_routes_blocks_alike():
    # the screen that sends a block of frames to the general path when every frame holds
    # a NaN reads only a few frames and columns; its answer must be a full pass's
    from wavescope.analysis.waves import _all_frames_missing

    rng = np.random.default_rng(3)
    base = rng.standard_normal((16, 30)) + 1j * rng.standard_normal((16, 30))
    cases = {}
    cases["clean"] = base.copy()
    cases["masked site"] = base.copy()
    cases["masked site"][:, 7] = np.nan
    cases["one frame clean"] = cases["masked site"].copy()
    cases["one frame clean"][11, 7] = 1.0
    cases["scattered, all frames"] = base.copy()
    cases["scattered, all frames"][np.arange(16), rng.integers(0, 30, 16)] = np.nan
    cases["scattered, last clean"] = cases["scattered, all frames"].copy()
    cases["scattered, last clean"][15] = base[15]
    cases["two sites"] = base.copy()
    cases["two sites"][:8, 2] = np.nan
    cases["two sites"][8:, 9] = np.nan
    cases["whole frames"] = base.copy()
    cases["whole frames"][::2] = np.nan
    cases["whole frames"][1::2, 4] = complex(0.5, np.nan)  # a NaN imaginary part counts
    cases["first frame clean"] = cases["two sites"].copy()
    cases["first frame clean"][0] = base[0]
    for name, block in cases.items():
        expected = bool(np.isnan(block).any(axis=1).all())
        assert _all_frames_missing(block) is expected, name
        assert _all_frames_missing(block.real.copy()) is bool(
            np.isnan(block.real).any(axis=1).all()), name
    assert [_all_frames_missing(b) for b in cases.values()] == [
        False, True, False, True, False, True, True, False]
