import json
import os
import warnings

import mne
import numpy as np
import pytest
import xarray as xr

import wavescope as ws
from wavescope import io as wio
from wavescope import simulate as sim

mne.set_log_level("error")


# ----------------------------------------------------------------------------- netCDF


@pytest.mark.parametrize("name", [None, "activity", "x"])
def test_dataarray_round_trip_exact(tmp_path, name):
    da = sim.plane_wave((4, 5), n_times=20, noise=0.3, seed=0).rename(name)
    da.attrs["note"] = json.dumps({"a": [1, 2]})
    out = ws.save(da, tmp_path / "a.nc")
    back = ws.load(out)
    xr.testing.assert_identical(back, da)
    assert back.name == name
    assert isinstance(back.attrs["note"], str) and back.attrs["periodic"] == 0
    assert type(back.attrs["sfreq"]) is float and type(back.attrs["periodic"]) is int


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_complex_round_trip_bit_exact(tmp_path, dtype):
    rng = np.random.default_rng(1)
    values = (rng.standard_normal((30, 6)) + 1j * rng.standard_normal((30, 6))).astype(dtype)
    values[0, 0] = complex(np.inf, -np.inf)
    values[1, 1] = complex(np.nan, 2.0)
    values[2, 2] = complex(-0.0, np.inf)
    da = ws.from_array(values, ("time", "channel"), sfreq=50.0,
                       positions=rng.random((6, 2)), name="z")
    ws.save(da, tmp_path / "z.nc")
    back = ws.load(tmp_path / "z.nc")
    assert back.dtype == dtype
    xr.testing.assert_identical(back, da)
    np.testing.assert_array_equal(back.values.view(back.values.real.dtype),
                                  da.values.view(da.values.real.dtype))
    assert np.signbit(back.values[2, 2].real)


def test_dataset_round_trip_with_complex_and_coords(tmp_path):
    hidden = sim.rotating_wave((3, 4), n_times=10).expand_dims(trial=2).copy()
    ds = xr.Dataset(
        {
            "hidden": hidden * (1 + 1j),
            "label": ("trial", np.array([3, 1])),
            "input": (("trial", "time"), np.ones((2, 10), dtype=np.float32)),
        },
        coords={"trial": [10, 20], "cond": ("trial", ["a", "bb"]),
                "phase": ("trial", np.array([1j, -1 + 0.5j]))},
        attrs={"config": json.dumps({"lr": 1e-3}), "epochs": 5},
    )
    ws.save(ds, tmp_path / "d.nc")
    back = ws.load(tmp_path / "d.nc")
    assert isinstance(back, xr.Dataset)
    xr.testing.assert_identical(back, ds)
    assert back["input"].dtype == np.float32 and back["phase"].dtype == np.complex128
    assert "wavescope_complex" not in back.dims


def test_lazy_load_with_dask(tmp_path):
    pytest.importorskip("dask")
    da = sim.plane_wave((4, 4), n_times=40) * (1 - 2j)
    ws.save(da, tmp_path / "l.nc")
    lazy = ws.load(tmp_path / "l.nc", chunks={"time": -1, "x": 2})
    assert hasattr(lazy.data, "dask")
    xr.testing.assert_identical(lazy.compute(), da)
    # Saving a lazy selection over the very file it reads from is safe (temp file first).
    ws.save(lazy.isel(time=slice(5, 25)), tmp_path / "l.nc")
    lazy.close()
    xr.testing.assert_identical(ws.load(tmp_path / "l.nc"), da.isel(time=slice(5, 25)))


def test_large_files_load_lazily_in_time_chunks(tmp_path, monkeypatch):
    pytest.importorskip("dask")
    da = sim.plane_wave((4, 4), n_times=40) * (1 - 2j)  # 40 frames of 16 complex values
    monkeypatch.setattr(ws.io, "_STORED_BYTES", 16 * 16 * 5)  # 5 frames per stored chunk
    ws.save(da, tmp_path / "big.nc")
    small = ws.load(tmp_path / "big.nc")
    assert isinstance(small.data, np.ndarray)  # under LAZY_BYTES: in memory
    monkeypatch.setattr(ws.io, "LAZY_BYTES", 1000)
    monkeypatch.setattr(ws.io, "CHUNK_BYTES", 16 * 16 * 10)  # 10 frames of 256 bytes
    lazy = ws.load(tmp_path / "big.nc")
    assert hasattr(lazy.data, "dask")
    assert lazy.chunksizes["time"] == (10, 10, 10, 10)
    assert all(len(lazy.chunksizes[d]) == 1 for d in lazy.dims if d != "time")
    xr.testing.assert_identical(lazy.compute(), da)
    # stored in chunks of whole frames, so that time chunks read each stored chunk once
    with xr.open_dataset(tmp_path / "big.nc") as raw:
        stored = raw["wavescope_dataarray"].encoding["chunksizes"]
    assert stored == (5, 4, 4, 2)  # time, y, x, real/imaginary
    lazy.close()


def test_save_does_not_mutate_and_resaves_loaded(tmp_path):
    da = sim.noise((5,), seed=0) * 1j
    before = da.copy(deep=True)
    ws.save(da, tmp_path / "n.nc")
    xr.testing.assert_identical(da, before)
    back = ws.load(tmp_path / "n.nc")
    ws.save(back, tmp_path / "n.nc")  # overwriting the file it came from
    xr.testing.assert_identical(ws.load(tmp_path / "n.nc"), da)


def test_missing_file_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file.*nope.nc"):
        ws.load(tmp_path / "nope.nc")


def test_garbage_and_truncated_files(tmp_path):
    garbage = tmp_path / "garbage.nc"
    garbage.write_text("this is not netCDF")
    with pytest.raises(wio.WavescopeIOError, match="garbage.nc.*not netCDF or is damaged"):
        ws.load(garbage)
    ws.save(sim.plane_wave((8, 8)), tmp_path / "good.nc")
    data = (tmp_path / "good.nc").read_bytes()
    cut = tmp_path / "cut.nc"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(wio.WavescopeIOError, match="cut.nc.*save it again"):
        ws.load(cut)


def test_atomic_save_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "keep.nc"
    old = sim.plane_wave((3, 3), n_times=10)
    ws.save(old, path)
    real = xr.Dataset.to_netcdf

    def half_write(self, target, *args, **kwargs):
        real(self, target, *args, **kwargs)
        with open(target, "r+b") as f:  # a partial file exists when the failure hits
            f.truncate(100)
        raise KeyboardInterrupt

    monkeypatch.setattr(xr.Dataset, "to_netcdf", half_write)
    with pytest.raises(KeyboardInterrupt):
        ws.save(sim.rotating_wave((3, 3), n_times=10), path)
    monkeypatch.undo()
    xr.testing.assert_identical(ws.load(path), old)
    assert os.listdir(tmp_path) == ["keep.nc"]  # no temporary file left behind


def _old_export(n_times=12, dt=0.2):
    """A hidden-state export as earlier wavescope versions wrote it: time (step + 1) * dt,
    sfreq 1 / dt, time_units "step", no dt attribute, written by xarray itself."""
    hidden = sim.plane_wave((4, 4), n_times=n_times, sfreq=1 / dt, frequency=0.5, speed=1.0)
    attrs = {**hidden.attrs, "time_units": "step", "units": "a.u.",
             "provenance": json.dumps({"generator": "wavescope.training.export"})}
    attrs.pop("dt", None)
    time = (np.arange(n_times) + 1) * dt
    hidden = hidden.assign_coords(time=("time", time, {"units": "step"})).assign_attrs(attrs)
    speed = xr.DataArray(np.full(n_times, 1.0), dims="time",
                         attrs={"units": "pixel/step", "time_units": "step", "sfreq": 1 / dt})
    return xr.Dataset({"hidden": hidden, "speed": speed}, attrs={"source": "model"})


def test_old_step_time_units_read_as_time_unit(tmp_path):
    old = _old_export()
    old.to_netcdf(tmp_path / "old.nc", engine="netcdf4")
    with pytest.warns(ws.WavescopeWarning, match=r"old.nc was written by an earlier wavescope "
                                                  r"with time_units 'step'.*dt = 0.2"):
        ds = ws.load(tmp_path / "old.nc")
    hidden = ds["hidden"]
    assert hidden.attrs["time_units"] == "time unit" and hidden.attrs["sfreq"] == 5.0
    assert hidden.attrs["dt"] == pytest.approx(0.2)
    assert hidden["time"].attrs["units"] == "time unit"
    assert ds["speed"].attrs["units"] == "pixel/time unit"
    np.testing.assert_array_equal(hidden["time"].values, old["time"].values)  # values kept
    np.testing.assert_array_equal(hidden.values, old["hidden"].values)
    step = ws.provenance(hidden)["steps"][-1]["wavescope.io.load"]
    assert "'step'" in step["time_units"] and "time unit" in step["time_units"]
    assert ws.provenance(hidden)["generator"] == "wavescope.training.export"
    ws.validate(hidden)
    # Saved again, the file says today's names and loads without a warning.
    ws.save(ds, tmp_path / "new.nc")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = ws.load(tmp_path / "new.nc")
    assert again["hidden"].attrs["time_units"] == "time unit"


def test_old_step_dataarray_through_save(tmp_path):
    da = _old_export()["hidden"]
    ws.save(da, tmp_path / "old.nc")
    with pytest.warns(ws.WavescopeWarning, match="time_units 'step'"):
        back = ws.load(tmp_path / "old.nc")
    assert back.attrs["time_units"] == "time unit" and back.attrs["dt"] == pytest.approx(0.2)
    assert back["time"].attrs["units"] == "time unit"
    # Files in today's terms (and recordings in seconds) are read exactly as written.
    today = sim.plane_wave((4, 4), n_times=12)
    ws.save(today, tmp_path / "today.nc")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xr.testing.assert_identical(ws.load(tmp_path / "today.nc"), today)


def test_save_rejects_unstorable_attrs(tmp_path):
    da = sim.plane_wave((2, 2), n_times=5)
    da.attrs["meta"] = {"a": 1}
    with pytest.raises(TypeError, match="'meta'.*json.dumps"):
        ws.save(da, tmp_path / "bad.nc")
    with pytest.raises(wio.WavescopeIOError, match="does not exist"):
        ws.save(sim.plane_wave((2, 2)), tmp_path / "no" / "f.nc")
    with pytest.raises(TypeError, match="DataArray or Dataset"):
        ws.save(np.zeros(3), tmp_path / "arr.nc")
    assert not (tmp_path / "bad.nc").exists()


# ----------------------------------------------------------------------------- MNE


def make_raw(n_ch=20, n_times=300, sfreq=160.0):
    montage = mne.channels.make_standard_montage("standard_1020")
    names = montage.ch_names[:n_ch]
    rng = np.random.default_rng(0)
    raw = mne.io.RawArray(rng.standard_normal((n_ch, n_times)) * 1e-5,
                          mne.create_info(names, sfreq, "eeg"))
    raw.set_montage(montage)
    return raw


def test_raw_round_trip():
    raw = make_raw()
    raw.info["bads"] = [raw.ch_names[2]]
    raw.set_annotations(mne.Annotations([0.5], [0.25], ["blink"]))
    da = ws.from_mne(raw)
    assert da.dims == ("time", "channel")
    assert da.attrs["units"] == "V" and da.attrs["source"] == "recording"
    assert da.attrs["time_units"] == "s" and da.attrs["space_units"] == "m"
    assert da.attrs["sfreq"] == 160.0
    np.testing.assert_array_equal(da.values, raw.get_data().T)
    np.testing.assert_array_equal(da["time"].values, raw.times)
    assert list(da["channel"].values) == raw.ch_names
    assert json.loads(da.attrs["bads"]) == [raw.ch_names[2]]
    pos = np.array([ch["loc"][:3] for ch in raw.info["chs"]])
    np.testing.assert_array_equal(
        np.column_stack([da[c].values for c in ("pos3d_x", "pos3d_y", "pos3d_z")]), pos)

    back = ws.to_mne(da)
    assert isinstance(back, mne.io.BaseRaw)
    np.testing.assert_array_equal(back.get_data(), raw.get_data())
    assert back.ch_names == raw.ch_names and back.info["sfreq"] == raw.info["sfreq"]
    assert back.info["bads"] == raw.info["bads"]
    np.testing.assert_allclose(np.array([ch["loc"][:3] for ch in back.info["chs"]]), pos)
    assert list(back.annotations.description) == ["blink"]
    np.testing.assert_allclose(back.annotations.onset, [0.5])
    np.testing.assert_allclose(back.get_montage().get_positions()["nasion"],
                               raw.get_montage().get_positions()["nasion"])


def test_projection_is_azimuthal_equidistant_about_vertex():
    raw = make_raw(n_ch=94)
    da = ws.from_mne(raw)
    xy = np.column_stack([da.x.values, da.y.values])
    pos = np.column_stack([da[c].values for c in ("pos3d_x", "pos3d_y", "pos3d_z")])
    origin = np.array(json.loads(da.attrs["projection"])["origin_m"])
    np.testing.assert_allclose(origin, wio.HEAD_ORIGIN)
    auto = ws.from_mne(raw, origin="auto")  # the sphere fitted to this montage is close
    fitted = json.loads(auto.attrs["projection"])["origin_m"]
    np.testing.assert_allclose(fitted, wio.HEAD_ORIGIN, atol=0.002)
    # Distance from the vertex = radius x polar angle (arc length).
    rel = pos - origin
    rho = np.linalg.norm(rel, axis=1)
    np.testing.assert_allclose(np.hypot(*xy.T), rho * np.arccos(rel[:, 2] / rho))
    names = list(da.channel.values)
    cz, fpz, oz, t7, t8 = (xy[names.index(n)] for n in ("Cz", "Fpz", "Oz", "T7", "T8"))
    assert names[np.argmin(np.hypot(*xy.T))] == "Cz"  # the vertex is nearest the origin
    assert fpz[1] > 0.1 and oz[1] < -0.1  # +y towards the nose
    assert t8[0] > 0.1 and t7[0] < -0.1  # +x towards the right ear
    # Distinct 3-D positions stay distinct (standard_1020 lists T3/T7 etc. twice).
    assert len({tuple(p) for p in xy}) == len({tuple(p) for p in pos})
    # A fixed origin projects any subset identically.
    sub = ws.from_mne(raw.copy().pick(["Cz", "Oz"]), origin=(0.0, 0.0, 0.04))
    full = ws.from_mne(raw, origin=(0.0, 0.0, 0.04)).sel(channel=["Cz", "Oz"])
    np.testing.assert_allclose(sub.x.values, full.x.values)
    with pytest.raises(ValueError, match="origin"):
        ws.from_mne(raw, origin=(0.0, 0.0))


def test_epochs_trial_dim_and_back():
    raw = make_raw(n_times=1000)
    events = np.array([[100, 0, 1], [400, 0, 2], [700, 0, 1]])
    epochs = mne.Epochs(raw, events, event_id={"left": 1, "right": 2}, tmin=-0.1, tmax=0.5,
                        baseline=None, preload=True)
    da = ws.from_mne(epochs)
    assert da.dims == ("trial", "time", "channel")
    np.testing.assert_array_equal(da.values, np.moveaxis(epochs.get_data(), 1, 2))
    np.testing.assert_array_equal(da["event_code"].values, [1, 2, 1])
    np.testing.assert_array_equal(da["event_sample"].values, [100, 400, 700])
    assert json.loads(da.attrs["event_id"]) == {"left": 1, "right": 2}
    np.testing.assert_allclose(da["time"].values, epochs.times)
    back = ws.to_mne(da)
    assert isinstance(back, mne.BaseEpochs)
    np.testing.assert_array_equal(back.get_data(), epochs.get_data())
    np.testing.assert_array_equal(back.events, epochs.events)
    assert back.event_id == epochs.event_id
    np.testing.assert_allclose(back.times, epochs.times)


def test_netcdf_round_trip_of_mne_activity(tmp_path):
    da = ws.from_mne(make_raw())
    ws.save(da, tmp_path / "eeg.nc")
    back = ws.load(tmp_path / "eeg.nc")
    xr.testing.assert_identical(back, da)
    np.testing.assert_array_equal(ws.to_mne(back).get_data(), ws.to_mne(da).get_data())


def test_missing_montage_error():
    raw = mne.io.RawArray(np.zeros((3, 10)), mne.create_info(["Cz", "Pz", "Oz"], 100.0, "eeg"))
    with pytest.raises(ws.DataModelError, match=r"no position.*set_montage\('standard_1005'\)"):
        ws.from_mne(raw)


def test_mixed_units_and_bad_inputs():
    raw = make_raw(n_ch=3)
    raw.add_channels([mne.io.RawArray(np.zeros((1, raw.n_times)),
                                      mne.create_info(["STI"], raw.info["sfreq"], "stim"))])
    with pytest.raises(ws.DataModelError, match="no position"):
        ws.from_mne(raw)
    with pytest.raises(TypeError, match="Raw or Epochs"):
        ws.from_mne(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="projection"):
        ws.from_mne(make_raw(), projection="stereographic")
    grid = sim.plane_wave((3, 3))
    with pytest.raises(ws.DataModelError, match="'channel' dim"):
        ws.to_mne(grid)
    model = ws.as_channels(grid)
    with pytest.raises(ws.DataModelError, match="time_units"):
        ws.to_mne(model)
    micro = ws.from_mne(make_raw(n_ch=3)) * 1e6
    micro.attrs["units"] = "uV"
    with pytest.warns(ws.WavescopeWarning, match="SI units"):
        ws.to_mne(micro)


def test_saved_files_get_the_usual_permissions(tmp_path):
    import stat

    da = ws.from_array(np.zeros((3, 2)), ("time", "x"), sfreq=1.0)
    path = ws.save(da, tmp_path / "a.nc")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask
