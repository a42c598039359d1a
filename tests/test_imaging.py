"""Imaging helpers: ROI, binning, smoothing with missing pixels, dF/F (known answers)."""

import json

import numpy as np
import pytest
import xarray as xr

import wavescope as ws
from wavescope import imaging
from wavescope import simulate as sim
from wavescope.analysis import analytic_signal, pgd


def image(values, spacing=(2.0, 3.0), sfreq=20.0):
    return ws.from_array(values, ("time", "y", "x"), sfreq=sfreq, spacing=spacing,
                         space_units="um", source="recording", units="a.u.")


def test_roi_sets_outside_to_nan():
    da = image(np.arange(2 * 4 * 5, dtype=float).reshape(2, 4, 5))
    mask = np.zeros((4, 5), dtype=bool)
    mask[1:3, 2:] = True
    out = imaging.roi(da, mask)
    np.testing.assert_array_equal(np.isnan(out.values), np.broadcast_to(~mask, out.shape))
    np.testing.assert_array_equal(out.values[:, mask], da.values[:, mask])
    assert out.attrs["sfreq"] == 20.0 and ws.provenance(out)["steps"][-1]["step"] == "roi"
    with pytest.raises(ws.DataModelError, match="boolean array of shape"):
        imaging.roi(da, np.ones((5, 4), dtype=bool))
    with pytest.raises(ws.DataModelError, match="grid activity"):
        imaging.roi(ws.as_channels(da), mask)


def test_bin_pixels_block_means_positions_and_nan():
    rng = np.random.default_rng(0)
    values = rng.standard_normal((3, 6, 7))
    values[0, 0, 0] = np.nan  # one of four in a block: mean of the other three
    values[1, 2:4, 2:4] = np.nan  # a whole block: NaN
    da = image(values)
    out = imaging.bin_pixels(da, 2)
    assert out.sizes == {"time": 3, "y": 3, "x": 3}  # the seventh column is trimmed
    np.testing.assert_allclose(out.values[0, 0, 0], np.nanmean(values[0, :2, :2]))
    np.testing.assert_allclose(out.values[2, 1, 2], values[2, 2:4, 4:6].mean())
    assert np.isnan(out.values[1, 1, 1])
    np.testing.assert_allclose(out.x.values, [1.5, 7.5, 13.5])  # block centres, um
    np.testing.assert_allclose(out.y.values, [1.0, 5.0, 9.0])
    for key in ("sfreq", "space_units", "source", "units", "time_units"):
        assert out.attrs[key] == da.attrs[key]
    strict = imaging.bin_pixels(da, (2, 2), min_valid=1.0)
    assert np.isnan(strict.values[0, 0, 0])
    with pytest.raises(ws.DataModelError, match="factor"):
        imaging.bin_pixels(da, 0)


def test_bin_pixels_leaves_bad_pixels_out():
    values = np.ones((2, 4, 4))
    values[:, 0, 1] = 1000.0
    da = image(values).assign_attrs(bads=json.dumps(["y0x1"]))
    with pytest.warns(ws.WavescopeWarning, match="y0x1"):
        out = imaging.bin_pixels(da, 2)
    np.testing.assert_allclose(out.values, 1.0)
    assert "bads" not in out.attrs


def test_binning_lifts_pgd_of_a_noisy_wave():
    wave = sim.plane_wave((40, 40), n_times=200, sfreq=100.0, frequency=5.0, speed=200.0,
                          direction=0.4, noise=3.0, seed=1)
    raw = pgd(analytic_signal(wave, (3, 7))).median().item()
    binned = pgd(analytic_signal(imaging.bin_pixels(wave, 5), (3, 7))).median().item()
    assert raw < 0.5 < binned


def test_smooth_is_a_normalised_convolution():
    # A constant image with holes stays exactly constant; holes stay holes.
    values = np.full((2, 9, 11), 5.0)
    values[:, 4, 5] = np.nan
    values[:, 0, :3] = np.nan
    out = imaging.smooth(image(values), 4.0)
    np.testing.assert_allclose(out.values[~np.isnan(values)], 5.0)
    np.testing.assert_array_equal(np.isnan(out.values), np.isnan(values))
    # An impulse spreads as a Gaussian of the given sigma in space units (spacing 2, 3 um).
    delta = np.zeros((1, 41, 41))
    delta[0, 20, 20] = 1.0
    blur = imaging.smooth(image(delta, spacing=(2.0, 3.0), sfreq=1.0), 6.0)
    w = blur.isel(time=0)
    assert float(w.sum()) == pytest.approx(1.0, rel=1e-6)
    var_x = float((w * (w.x - w.x[20]) ** 2).sum())
    var_y = float((w * (w.y - w.y[20]) ** 2).sum())
    assert var_x == pytest.approx(36.0, rel=0.02) and var_y == pytest.approx(36.0, rel=0.02)
    # Complex data (an analytic signal) smooth part by part.
    z = image(delta + 1j * delta, sfreq=1.0)
    zs = imaging.smooth(z, 6.0)
    np.testing.assert_allclose(zs.values.imag, zs.values.real)


def test_dff_percentile_and_mean_baselines():
    t = np.arange(100)
    pulse = ((t % 10) == 0).astype(float)  # active 10 % of the time
    f0 = np.array([[100.0, 50.0], [20.0, 10.0]])
    values = f0[None] * (1 + 0.5 * pulse[:, None, None])
    da = image(values)
    out = imaging.dff(da, percentile=20)
    np.testing.assert_allclose(out.values, 0.5 * np.broadcast_to(pulse[:, None, None],
                                                                 out.shape))
    assert out.attrs["units"] == "1" and out.dims == da.dims
    mean = imaging.dff(da, baseline="mean")
    expected = (1 + 0.5 * pulse) / (1 + 0.5 * pulse.mean()) - 1
    np.testing.assert_allclose(mean.values[:, 1, 0], expected)
    dark = image(np.zeros((10, 2, 2)))
    assert np.isnan(imaging.dff(dark).values).all()
    with pytest.raises(ws.DataModelError, match="baseline"):
        imaging.dff(da, baseline="median")


def test_helpers_keep_trial_dims():
    values = np.random.default_rng(3).random((2, 5, 4, 4))
    da = ws.from_array(values, ("trial", "time", "y", "x"), sfreq=10.0, space_units="um")
    assert imaging.bin_pixels(da, 2).dims == ("trial", "time", "y", "x")
    sm = imaging.smooth(da, 1.0)
    assert sm.dims == da.dims
    xr.testing.assert_allclose(sm.isel(trial=1), imaging.smooth(da.isel(trial=1), 1.0))
