"""The helpers the quickstart calls: wavescope.analysis.hidden, wavescope.analysis.summaries,
drums.drum_of_masks and the step sentences, against known answers."""

import doctest

import numpy as np
import pytest
import xarray as xr

import wavescope as ws
from wavescope import _summary, drums
from wavescope.analysis import hidden, summaries


@pytest.mark.parametrize("module", [hidden, summaries])
def test_the_examples_in_the_docstrings_hold(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def grid(values, sfreq=100.0, periodic=False):
    return ws.from_array(values, ("trial", "time", "y", "x")[-values.ndim:], sfreq=sfreq,
                         source="model", periodic=periodic)


def test_centre_on_masks_moves_the_object_to_the_middle_exactly():
    rng = np.random.default_rng(0)
    values = rng.standard_normal((2, 3, 16, 16)).astype(np.float32)
    da = grid(values, sfreq=5.0, periodic=True)
    masks = np.zeros((2, 16, 16), bool)
    masks[0, 0:3, 13:16] = True  # centroid (1, 14)
    masks[1, 7:10, 7:10] = True  # centroid (8, 8): already central
    out = hidden.centre_on_masks(da, masks)
    assert out.sizes == {"trial": 2, "time": 3, "y": 12, "x": 12}
    assert out.attrs["periodic"] == 0 and out.attrs["sfreq"] == 5.0
    # the centroid lands on (8, 8) of the grid, i.e. (6, 6) of the 12-wide crop
    np.testing.assert_array_equal(out.values[0, :, 6, 6], values[0, :, 1, 14])
    np.testing.assert_array_equal(out.values[1], values[1, :, 2:14, 2:14])
    with pytest.raises(ValueError, match="do not match"):
        hidden.centre_on_masks(da, masks[:, :8])
    with pytest.raises(ValueError, match="trial, time, y, x"):
        hidden.centre_on_masks(da.isel(trial=0), masks[0])
    # without rolling: the window closest to centred that lies inside the grid (no seam)
    inside = hidden.centre_on_masks(da, masks, roll=False)
    np.testing.assert_array_equal(inside.values[0], values[0, :, 0:12, 4:16])
    np.testing.assert_array_equal(inside.values[1], values[1, :, 2:14, 2:14])
    # the same windows on plain arrays (e.g. the masks themselves)
    np.testing.assert_array_equal(hidden.centre_crop(masks, masks, roll=False)[0],
                                  masks[0, 0:12, 4:16])


def test_shape_labels_are_the_polygon_class_and_area():
    masks = np.zeros((2, 8, 8), np.uint8)
    masks[0, 1:4, 1:4] = 2  # 9 pixels of class 2 (square)
    masks[1, 2:4, 2:7] = 1  # 10 pixels of class 1 (triangle)
    ds = xr.Dataset({"label": (("trial", "y", "x"), masks)})
    out = hidden.with_shape_labels(ds)
    assert out["shape"].values.tolist() == [2, 1]
    assert out["shape_name"].values.tolist() == ["square", "triangle"]
    assert out["area"].values.tolist() == [9, 10] and out["area"].attrs["units"] == "pixel^2"
    assert "shape" not in ds  # the input is not changed
    with pytest.raises(ValueError, match="masks"):
        hidden.with_shape_labels(xr.Dataset({"label": (("trial",), [1])}))


def test_model_phase_is_the_phase_about_each_sites_mean():
    # 200 samples at 100 per time unit hold whole cycles of 5 and 2 per time unit, so the
    # FFT analytic signal is exact; each site has its own offset (the encoder's).
    t = np.arange(200) / 100.0
    x = np.arange(8)
    travelling = 2 * np.pi * (5.0 * t[:, None, None] - x[None, None, :] / 8.0)
    common = np.cos(2 * np.pi * 2.0 * t)[:, None, None]
    offset = np.linspace(-3, 3, 64).reshape(1, 8, 8)
    da = grid(offset + np.cos(travelling) + np.zeros((200, 8, 8)))
    z = hidden.model_phase(da)
    assert np.iscomplexobj(z.values) and z.attrs["sfreq"] == 100.0
    np.testing.assert_allclose(np.exp(1j * np.angle(z.values)),
                               np.exp(1j * np.broadcast_to(travelling, z.shape)), atol=1e-6)
    # common=False removes the field moving as one, leaving the travelling wave
    z2 = hidden.model_phase(da.copy(data=da.values + 0.8 * common), common=False)
    np.testing.assert_allclose(np.exp(1j * np.angle(z2.values)),
                               np.exp(1j * np.broadcast_to(travelling, z.shape)), atol=1e-6)


def test_local_order_is_high_for_a_wave_and_low_once_shuffled():
    wave = ws.simulate.plane_wave((16, 16), n_times=100, sfreq=100.0, frequency=5.0,
                                  speed=40.0, direction=0.3, seed=0)
    ordered, shuffled = hidden.local_order(wave.expand_dims(trial=2).copy(), 8, seed=0)
    assert ordered > 0.95 and shuffled < 0.5


def test_relative_spectrum_reads_the_mode_ratios_whatever_the_size():
    # A "drum" with modes at f and 2 f (amplitude 1 and 0.5), at two sizes: f = 5 and 10 per
    # time unit, both on FFT bins. Relative to its peak, the second mode is at ratio 2 with
    # log power log(0.25) for both.
    t = np.arange(200) / 100.0
    rows = [np.cos(2 * np.pi * f * t) + 0.5 * np.cos(2 * np.pi * 2 * f * t) for f in (5, 10)]
    da = grid(np.stack(rows)[:, :, None, None] * np.ones((1, 1, 2, 2)))
    feats = hidden.relative_spectrum(da, ratios=[1.0, 2.0])
    np.testing.assert_allclose(feats, [[0.0, np.log(0.25)]] * 2, atol=1e-9)
    assert hidden.relative_spectrum(da).shape == (2, hidden.RATIOS.size)
    with pytest.raises(ValueError, match="trial"):
        hidden.relative_spectrum(da.isel(trial=0))


def test_shape_spectra_average_space_and_carry_the_labels():
    t = np.arange(40) / 10.0
    values = np.cos(2 * np.pi * 1.0 * t)[None, :, None, None, None] * np.ones((3, 1, 2, 4, 4))
    ds = xr.Dataset({"hidden": ws.from_array(values, ("trial", "time", "feature", "y", "x"),
                                             sfreq=10.0, source="model")})
    ds = hidden.with_shape_labels(ds.assign(label=(("trial", "y", "x"),
                                                   np.full((3, 4, 4), 2, np.uint8))))
    spec = hidden.shape_spectra(ds)
    assert spec.name == "power" and spec.dims == ("trial", "feature", "freq")
    assert spec["shape_name"].values.tolist() == ["square"] * 3
    assert float(spec["freq"][spec.isel(trial=0, feature=0).argmax("freq")]) == pytest.approx(1.0)


def test_drum_of_masks_is_the_drum_on_masks_with_an_empty_border():
    masks = np.zeros((2, 6, 6), bool)
    masks[0, 1:5, 1:5] = True
    masks[1, 0:6, 2:4] = True  # touches the image border: the padding makes room
    da = drums.drum_of_masks(masks, 40, record_every=2)
    assert da.sizes["y"] == 10 and da.sizes["x"] == 10 and da.sizes["time"] == 20
    same = drums.drum(np.pad(masks, ((0, 0), (2, 2), (2, 2))), 40, 0.1, record_every=2,
                      progress=False)
    np.testing.assert_array_equal(da.values, same.values)


def test_truth_agreement_judges_the_middle_of_each_segment():
    t = np.arange(100) / 10.0  # 0-9.9
    pattern = np.where(t < 5, "planar", "rotating-ccw").astype(object)
    pattern[[0, 49]] = "none"  # edges of the first segment, left out
    pattern[60] = "planar"  # one wrong frame inside the second
    speed = np.where(t < 5, 2.0, np.nan)
    ev = xr.Dataset({"frame_pattern": ("time", pattern.astype(str)),
                     "frame_speed": ("time", speed),
                     "frame_direction": ("time", np.where(t < 5, 0.5, np.nan)),
                     "frame_pgd": ("time", np.where(t < 5, 0.9, 0.1))}, coords={"time": t})
    segments = [{"kind": "plane", "start": 0.0, "stop": 5.0, "speed": 2.0, "direction": 0.5},
                {"kind": "rotating", "start": 5.0, "stop": 10.0, "sense": "ccw"}]
    out = summaries.truth_agreement(ev, segments)
    assert out["planar"]["share"] == 1.0 and out["planar"]["speed"] == 2.0
    assert out["planar"]["direction"] == pytest.approx(0.5) and out["planar"]["pgd"] == 0.9
    # the middle 80 % of 5-10 is 5.5-9.5: 40 frames, one of them planar
    assert out["rotating"] == {"share": pytest.approx(39 / 40), "sense": "ccw"}


def test_event_summary_counts_significance_per_pattern():
    ev = xr.Dataset({"pattern": ("event", ["planar", "planar", "source"]),
                     "p_value": ("event", [0.01, 0.2, 0.04]),
                     "q_value": ("event", [0.03, 0.2, 0.06]),
                     "speed": ("event", [1.0, 2.0, 3.0], {"units": "m/s"}),
                     "frame_pattern": ("time", ["planar", "planar", "source", "none"]),
                     "frame_pgd": ("time", [0.9, 0.7, 0.2, np.nan]),
                     "frame_speed": ("time", [1.0, 3.0, np.nan, np.nan]),
                     "frame_wavelength": ("time", [0.1, 0.3, np.nan, np.nan])},
                    attrs={"significance": '{"null": "multivariate"}'})
    s = summaries.event_summary(ev)
    assert s["n_events"] == 3 and s["events"] == {"planar": 2, "source": 1}
    assert s["significant"] == {"planar": 1, "source": 1}
    assert s["discoveries"] == {"planar": 1, "source": 0}
    assert s["null"] == "multivariate" and s["min_p"] == 0.01 and s["speed_units"] == "m/s"
    assert s["frame_share"] == {"none": 0.25, "planar": 0.5, "source": 0.25}
    assert s["mean_pgd"] == pytest.approx(0.6) and s["planar_speed"] == 2.0
    assert s["planar_wavelength"] == pytest.approx(0.2)


def test_csv_text_quotes_what_needs_quoting():
    text = _summary.csv_text([{"a": 0.1234567891, "b": 'say "hi", twice', "c": 3}])
    assert text == 'a,b,c\n0.123457,"say ""hi"", twice",3\n'
