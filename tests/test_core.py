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
