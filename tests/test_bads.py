"""Bad sites: flagged in attrs["bads"] or given as bads=, they are left out everywhere."""

import json
import warnings

import numpy as np
import pytest
import xarray as xr

import wavescope as ws
from wavescope import simulate as sim
from wavescope.analysis import (
    analytic_signal,
    classify_patterns,
    detect_waves,
    fit_plane_wave,
    optical_flow,
    pgd,
    phase_gradient,
    surrogates,
)

BAND = (3.0, 7.0)


def recording(grid: bool, seed=0):
    """A noisy plane wave on a 8 x 8 grid or 60 scattered sensors (mm, s), two bursts."""
    sites = (8, 8) if grid else np.random.default_rng(seed).uniform(0, 8, (60, 2))
    kw = dict(sfreq=100.0, frequency=5.0, speed=20.0, space_units="mm",
              source="recording")
    wave = sim.sequence(sim.plane_wave(sites, n_times=150, direction=0.6, **kw),
                        sim.noise(sites, n_times=100, seed=seed, **{k: kw[k] for k in (
                            "sfreq", "space_units", "source")}),
                        sim.plane_wave(sites, n_times=150, direction=-2.0, **kw))
    noisy = wave + np.random.default_rng(seed + 1).standard_normal(wave.shape) * 0.4
    return noisy.assign_attrs(wave.attrs)


def with_artefact(da, site):
    """Site ``site`` (flat index) carries a 100x artefact: big noise and a step."""
    out = ws.as_channels(da).copy() if "channel" not in da.dims else da.copy()
    rng = np.random.default_rng(5)
    art = 100 * (rng.standard_normal(out.sizes["time"]) + (np.arange(out.sizes["time"]) > 120))
    out[:, site] = out[:, site] + art
    return ws.as_grid(out) if "channel" not in da.dims else out


def event_table(ds):
    keep = ["start", "stop", "pattern", "speed", "direction", "wavelength", "pgd"]
    return ds[keep]


@pytest.mark.parametrize("grid", [True, False], ids=["grid", "channels"])
def test_flagged_artefact_changes_no_event_speed_or_direction(grid):
    clean = recording(grid)
    site = 27
    name = str(ws.as_channels(clean)["channel"].values[site])
    dirty = with_artefact(clean, site)
    reference = detect_waves(ws.exclude_bads(clean, [name], warn=False), BAND,
                             n_surrogates=19)
    assert reference.sizes["event"] >= 2
    flagged = dirty.assign_attrs(bads=json.dumps([name]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        by_attr = detect_waves(flagged, BAND, n_surrogates=19)
    reported = [w for w in caught if "bad site" in str(w.message)]
    assert len(reported) == 1 and name in str(reported[0].message)  # reported once
    with pytest.warns(ws.WavescopeWarning, match=name):
        by_arg = detect_waves(dirty, BAND, n_surrogates=19, bads=[name])
    for out in (by_attr, by_arg):
        xr.testing.assert_allclose(event_table(out), event_table(reference))
        np.testing.assert_allclose(out["p_value"], reference["p_value"])
    # The same artefact, not flagged, does change the answer (the test can fail).
    unflagged = detect_waves(dirty, BAND, n_surrogates=0)
    assert not (unflagged.sizes["event"] == reference.sizes["event"] and np.allclose(
        unflagged["speed"], reference["speed"], rtol=1e-3))


@pytest.mark.parametrize("grid", [True, False], ids=["grid", "channels"])
def test_every_spatial_measure_leaves_flagged_sites_out(grid):
    clean = recording(grid)
    name = str(ws.as_channels(clean)["channel"].values[10])
    dirty = with_artefact(clean, 10)
    z_ref = analytic_signal(ws.exclude_bads(clean, [name], warn=False), BAND)
    z = analytic_signal(dirty.assign_attrs(bads=json.dumps([name])), BAND)
    assert json.loads(z.attrs["bads"]) == [name]  # site-wise analyses carry the flag on
    with pytest.warns(ws.WavescopeWarning, match="bad site"):
        fit = fit_plane_wave(z)
    xr.testing.assert_allclose(fit, fit_plane_wave(z_ref))
    with pytest.warns(ws.WavescopeWarning, match="bad site"):
        xr.testing.assert_allclose(pgd(z), pgd(z_ref))
    with pytest.warns(ws.WavescopeWarning, match="bad site"):
        xr.testing.assert_allclose(classify_patterns(z), classify_patterns(z_ref))
    with pytest.warns(ws.WavescopeWarning, match="bad site"):
        grad = phase_gradient(z)
    xr.testing.assert_allclose(grad, phase_gradient(z_ref))
    unflagged = analytic_signal(dirty, BAND)
    assert not np.allclose(fit_plane_wave(unflagged)["direction"], fit["direction"])
    # bads= on a clean input does the same as the flag
    z_arg = analytic_signal(dirty, BAND)
    with pytest.warns(ws.WavescopeWarning, match=name):
        xr.testing.assert_allclose(fit_plane_wave(z_arg, bads=[name])[["direction", "speed"]],
                                   fit[["direction", "speed"]])
    with pytest.warns(ws.WavescopeWarning, match="bad site"):
        surr = surrogates(z, "phase", n=3, seed=1)
    if grid:
        assert np.isnan(ws.as_channels(surr).sel(channel=name)).all()
        with pytest.warns(ws.WavescopeWarning, match="bad site"):
            flow = optical_flow(z)
        assert not flow["valid"].sel(y=z.y[10 // 8], x=z.x[10 % 8]).any()
    else:
        assert name not in surr["channel"].values
        assert surr.sizes["channel"] == clean.sizes["channel"] - 1


def test_exclude_bads_forms_and_errors():
    grid = recording(True).isel(time=slice(0, 20))
    mask = np.zeros((8, 8), dtype=bool)
    mask[0, 1] = True
    out = ws.exclude_bads(grid, mask, warn=False)
    assert out.dims == grid.dims and np.isnan(out[:, 0, 1]).all()
    assert json.loads(out.attrs["bads"]) == ["y0x1"]
    np.testing.assert_array_equal(ws.bad_sites(out).values, mask)
    assert ws.exclude_bads(grid) is grid  # nothing bad: the input itself
    with pytest.raises(ws.DataModelError, match="does not have"):
        ws.exclude_bads(grid, ["y9x9"])
    with pytest.raises(ws.DataModelError, match="mask has shape"):
        ws.exclude_bads(grid, np.zeros((3, 3), dtype=bool))
    with pytest.raises(ws.DataModelError, match="'bads'"):
        ws.validate(grid.assign_attrs(bads="e1,e2"))
    # Names the data no longer hold (dropped by a selection) are ignored.
    ch = ws.as_channels(grid).assign_attrs(bads=json.dumps(["y0x1"]))
    kept = ch.isel(channel=slice(2, None))
    assert ws.exclude_bads(kept) is kept
    # Known bad sites are not reported a second time as dead sites.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ws.validate(out)


def test_as_grid_fills_missing_corners_and_translates_bads():
    # A Utah-like 10 x 10 array without its corners, positions with rounding noise.
    j, i = np.meshgrid(np.arange(10), np.arange(10))
    pos = np.column_stack([j.ravel(), i.ravel()]) * 0.4
    corners = [0, 9, 90, 99]
    keep = np.setdiff1d(np.arange(100), corners)
    rng = np.random.default_rng(0)
    pos = pos[keep] + rng.uniform(-1e-9, 1e-9, (96, 2))
    names = [f"e{k:02d}" for k in range(96)]
    data = rng.standard_normal((20, 96))
    ch = ws.from_array(data, ("time", "channel"), sfreq=1000.0, positions=pos,
                       ch_names=names, space_units="mm").assign_attrs(
        bads=json.dumps(["e00", "e50"]))
    with pytest.raises(ws.DataModelError, match="fill=np.nan"):
        ws.as_grid(ch)
    grid = ws.as_grid(ch, fill=np.nan)
    assert grid.sizes == {"time": 20, "y": 10, "x": 10}
    np.testing.assert_allclose(np.diff(grid.x.values), 0.4, rtol=1e-6)
    assert np.isnan(grid.values[:, [0, 0, 9, 9], [0, 9, 0, 9]]).all()
    np.testing.assert_array_equal(grid.values[:, 0, 1], data[:, 0])  # e00 sits at y0x1
    iy, ix = divmod(int(keep[50]), 10)  # e50 is the 51st kept site
    assert json.loads(grid.attrs["bads"]) == sorted(["y0x1", f"y{iy}x{ix}"])
    np.testing.assert_array_equal(grid.values[:, iy, ix], data[:, 50])
    # NaN corners are dead sites (reported), the bad electrodes are left out by name.
    with pytest.warns(ws.WavescopeWarning, match="4 of 100 sites hold only NaN"):
        ws.validate(grid)


def test_as_grid_fill_value_and_full_grid_round_trip():
    pos = np.array([[0, 0], [1, 0], [0, 1]], dtype=float)
    ch = ws.from_array(np.ones((3, 3)), ("time", "channel"), sfreq=1.0, positions=pos,
                       space_units="mm")
    grid = ws.as_grid(ch, fill=0.0)
    np.testing.assert_array_equal(grid.values[0], [[1, 1], [1, 0]])
    full = recording(True).isel(time=slice(0, 5))
    xr.testing.assert_identical(ws.as_grid(ws.as_channels(full), fill=np.nan), full)


@pytest.mark.parametrize("grid", [True, False], ids=["grid", "channels"])
def test_spectra_and_decoding_leave_flagged_sites_out(grid):
    """As MNE's compute_psd leaves out info["bads"]: a flagged 100x artefact changes no
    spectrum, peak, band power, k-omega speed or decoding feature of the good sites."""
    from wavescope.analysis import band_power, dominant_frequency, kw_speed, spectrum
    from wavescope.analysis.decoding import SpectralFeatures

    clean = recording(grid)
    name = str(ws.as_channels(clean)["channel"].values[10])
    ref = ws.exclude_bads(clean, [name], warn=False)
    dirty = with_artefact(clean, 10).assign_attrs(bads=json.dumps([name]))
    with pytest.warns(ws.WavescopeWarning, match=name):
        spec = spectrum(dirty)
    xr.testing.assert_allclose(spec, spectrum(ref))
    if grid:  # the grid keeps its shape: the bad site's spectrum is NaN
        assert np.isnan(ws.as_channels(spec).sel(channel=name)).all()
        assert np.isfinite(ws.as_channels(spec).drop_sel(channel=name)).all()
    else:
        assert name not in spec["channel"].values
    with pytest.warns(ws.WavescopeWarning, match=name):
        peak = dominant_frequency(dirty)
    np.testing.assert_allclose(np.nanmedian(peak), 5.0, atol=0.1)  # the wave's frequency
    with pytest.warns(ws.WavescopeWarning, match=name):
        xr.testing.assert_allclose(band_power(dirty, BAND), band_power(ref, BAND))
    # a spectrum computed with the bad site in it loses it too
    with pytest.warns(ws.WavescopeWarning, match=name):
        xr.testing.assert_allclose(
            band_power(spectrum(with_artefact(clean, 10)), BAND, bads=[name]),
            band_power(ref, BAND))
    if grid:
        with pytest.warns(ws.WavescopeWarning, match=name):
            speed = kw_speed(dirty, fmin=3, fmax=7)
        xr.testing.assert_allclose(speed, kw_speed(ref, fmin=3, fmax=7))
    # decoding: trials of the good sites only, and finite features
    epochs = xr.concat([dirty.isel(time=slice(i, i + 100)).assign_coords(
        time=dirty.time[:100].values) for i in (0, 150, 300)], "trial")
    epochs_ref = xr.concat([ref.isel(time=slice(i, i + 100)).assign_coords(
        time=ref.time[:100].values) for i in (0, 150, 300)], "trial")
    good = epochs_ref if not grid else epochs_ref.stack(site=("y", "x")).isel(
        site=np.arange(64) != 10)
    good = good.transpose("trial", "time", ...).values  # (trial, time, good sites)
    for pool in (None, "mean"):
        with pytest.warns(ws.WavescopeWarning, match=name):
            feats = SpectralFeatures("power", pool=pool).fit_transform(epochs)
        np.testing.assert_allclose(
            feats, SpectralFeatures("power", pool=pool, sfreq=100.0).fit_transform(good),
            rtol=1e-10)
