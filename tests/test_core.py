import numpy as np
import pytest
import xarray as xr

import wavescope as ws


def grid_activity(shape=(2, 10, 4, 5)):
    rng = np.random.default_rng(0)
    return ws.from_array(
        rng.standard_normal(shape), ("trial", "time", "y", "x"), sfreq=10.0, spacing=(2.0, 1.0)
    )


def test_grid_channel_round_trip_keeps_positions_and_attrs():
    da = grid_activity()
    ch = ws.as_channels(da)
    assert ch.sizes["channel"] == 20
    np.testing.assert_array_equal(ch["y"].values[:6], [0, 0, 0, 0, 0, 2])
    xr.testing.assert_identical(ws.as_grid(ch), da)


def test_ring_round_trip():
    ring = ws.from_array(np.ones((10, 6)), ("time", "x"), sfreq=1.0, periodic=True)
    assert ring.attrs["periodic"] == 1
    xr.testing.assert_identical(ws.as_grid(ws.as_channels(ring)), ring)


def test_time_coordinate_from_sfreq():
    da = grid_activity()
    np.testing.assert_allclose(da["time"].values, np.arange(10) / 10.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dims=("time", "y")), "one name per axis"),
        (dict(dims=("trial", "y", "x")), "no 'time'"),
        (dict(dims=("time", "y", "x"), sfreq=None), "sfreq is missing"),
        (dict(dims=("time", "y", "x"), sfreq=-1.0), "positive finite"),
        (dict(dims=("time", "foo", "x")), "unknown dims"),
    ],
)
def test_from_array_errors_name_the_problem(kwargs, match):
    kwargs.setdefault("sfreq", 10.0)
    with pytest.raises(ws.DataModelError, match=match):
        ws.from_array(np.zeros((3, 4, 5)), **kwargs)


def test_channel_errors():
    data = np.zeros((5, 3))
    with pytest.raises(ws.DataModelError, match="no positions"):
        ws.from_array(data, ("time", "channel"), sfreq=1.0)
    with pytest.raises(ws.DataModelError, match="expected \\(3, 2 or 3\\)"):
        ws.from_array(data, ("time", "channel"), sfreq=1.0, positions=np.zeros((4, 2)))
    with pytest.raises(ws.DataModelError, match="duplicate channel names"):
        ws.from_array(
            data, ("time", "channel"), sfreq=1.0, positions=np.eye(3)[:, :2], ch_names="aab"
        )


def test_validate_errors():
    da = grid_activity()
    with pytest.raises(ws.DataModelError, match="expected an xarray.DataArray"):
        ws.validate(da.values)
    no_sfreq = da.copy()
    del no_sfreq.attrs["sfreq"]
    with pytest.raises(ws.DataModelError, match="'sfreq'"):
        ws.validate(no_sfreq)
    backwards = da.assign_coords(time=da["time"].values[::-1])
    with pytest.raises(ws.DataModelError, match="not strictly increasing"):
        ws.validate(backwards)
    with pytest.raises(ws.DataModelError, match="'source'"):
        ws.validate(da.assign_attrs(source="simulation"))


def test_dead_sites_are_reported_not_rejected():
    data = np.random.default_rng(1).standard_normal((10, 3, 3))
    data[:, 1, 1] = np.nan
    with pytest.warns(ws.WavescopeWarning, match="1 of 9 sites"):
        ws.from_array(data, ("time", "y", "x"), sfreq=5.0)


def test_irregular_grid_cannot_become_a_grid():
    pos = np.random.default_rng(2).uniform(size=(5, 2))
    da = ws.from_array(np.zeros((4, 5)), ("time", "channel"), sfreq=1.0, positions=pos)
    with pytest.raises(ws.DataModelError, match="do not fill a grid"):
        ws.as_grid(da)


def test_dead_site_check_scans_long_recordings_in_blocks():
    # Long enough for several blocks; site 0 is NaN only in the first block, site 1 always.
    data = np.ones((2**20 // 4 * 5, 2, 2), dtype=np.float32)
    data[: 2**18, 0, 0] = np.nan
    data[:, 0, 1] = np.nan
    with pytest.warns(ws.WavescopeWarning, match="1 of 4 sites"):
        ws.from_array(data, ("time", "y", "x"), sfreq=1.0)


def test_positions_without_units_are_a_recording_in_seconds_and_warned():
    pos = np.random.default_rng(3).uniform(size=(6, 2))
    with pytest.warns(ws.WavescopeWarning, match="without space_units"):
        da = ws.from_array(np.zeros((10, 6)), ("time", "channel"), sfreq=500.0, positions=pos)
    assert (da.attrs["source"], da.attrs["time_units"]) == ("recording", "s")
    mm = ws.from_array(np.zeros((10, 6)), ("time", "channel"), sfreq=500.0, positions=pos,
                       space_units="mm")
    from wavescope.analysis._common import space_units_per_time

    assert space_units_per_time(mm) == "mm/s"
    grid = ws.from_array(np.zeros((10, 3, 3)), ("time", "y", "x"), sfreq=1.0)
    assert (grid.attrs["source"], grid.attrs["time_units"]) == ("model", "time unit")


def test_time_coordinate_must_agree_with_sfreq():
    da = ws.from_array(np.zeros((100, 3)), ("time", "x"), sfreq=500.0, source="recording")
    halved = da.isel(time=slice(None, None, 2))
    with pytest.raises(ws.DataModelError,
                       match=r"spacing 0.004 s disagrees with sfreq=500.*sfreq=250"):
        ws.validate(halved)
    ws.validate(halved.assign_attrs(sfreq=250.0))
    # Jittered timestamps (real frame clocks) pass; model time in steps x dt passes.
    jitter = da.assign_coords(time=da.time + np.random.default_rng(0).uniform(0, 2e-5, 100))
    ws.validate(jitter)
    model = ws.from_array(np.zeros((5, 3)), ("time", "x"), sfreq=1 / 0.1, t0=0.1)
    np.testing.assert_allclose(model.time, [0.1, 0.2, 0.3, 0.4, 0.5])


@pytest.mark.parametrize("value, ok", [(0, True), (1, True), (True, True), (np.int64(1), True),
                                       ("0", False), ("1", False), (2, False), (0.5, False)])
def test_periodic_must_be_zero_or_one(value, ok):
    da = ws.from_array(np.zeros((4, 5)), ("time", "x"), sfreq=1.0).assign_attrs(periodic=value)
    if ok:
        ws.validate(da)
    else:
        with pytest.raises(ws.DataModelError, match="'periodic'.*0 or 1"):
            ws.validate(da)


def test_sfreq_must_be_a_number():
    da = ws.from_array(np.zeros((4, 5)), ("time", "x"), sfreq=1.0)
    for bad in ("500", b"5", None, True):
        with pytest.raises(ws.DataModelError, match="sfreq"):
            ws.validate(da.assign_attrs(sfreq=bad))
    with pytest.raises(ws.DataModelError, match="sfreq must be a number"):
        ws.from_array(np.zeros((4, 5)), ("time", "x"), sfreq="500")
