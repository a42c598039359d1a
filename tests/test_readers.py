"""Readers: NWB (pynwb) and TIFF stacks (tifffile) round-trip units, positions, rate, bads."""

import json
from datetime import UTC, datetime

import numpy as np
import pytest

import wavescope as ws
from wavescope import io as wio
from wavescope import readers

pynwb = pytest.importorskip("pynwb")
tifffile = pytest.importorskip("tifffile")

PITCH_UM = 400.0


def utah_positions():
    """10 x 10 at 400 um without its four corners: 96 (rel_x, rel_y) in um."""
    j, i = np.meshgrid(np.arange(10), np.arange(10))
    flat = np.column_stack([j.ravel(), i.ravel()]) * PITCH_UM
    return np.delete(flat, [0, 9, 90, 99], axis=0)


def new_nwb():
    return pynwb.NWBFile(session_description="test", identifier="wavescope-test",
                         session_start_time=datetime(2024, 1, 2, tzinfo=UTC))


def write_ecephys(path, *, bad=(3, 40), timestamps=False, rel=True, tilt=False):
    nwb = new_nwb()
    device = nwb.create_device(name="utah")
    group = nwb.create_electrode_group("array", description="96 ch", location="M1",
                                       device=device)
    nwb.add_electrode_column("bad", "True for a bad channel")
    nwb.add_electrode_column("label", "channel name")
    rel_xy = utah_positions()
    for k, (rx, ry) in enumerate(rel_xy):
        brain = (rx, ry * np.cos(0.5), ry * np.sin(0.5)) if tilt else (1000 + rx, 2000 + ry, 0)
        nwb.add_electrode(x=float(brain[0]), y=float(brain[1]), z=float(brain[2]),
                          rel_x=float(rx) if rel else 0.0, rel_y=float(ry) if rel else 0.0,
                          rel_z=0.0, location="M1", group=group, bad=k in bad,
                          label=f"ch{k + 1:02d}")
    region = nwb.create_electrode_table_region(list(range(96)), "all")
    rng = np.random.default_rng(0)
    data = rng.integers(-2000, 2000, size=(500, 96)).astype(np.int16)
    kw = (dict(timestamps=2.0 + np.arange(500) / 1000.0) if timestamps
          else dict(rate=1000.0, starting_time=2.0))
    es = pynwb.ecephys.ElectricalSeries(name="raw", data=data, electrodes=region,
                                        conversion=0.25e-6, **kw)
    nwb.add_acquisition(es)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return data


@pytest.mark.parametrize("timestamps", [False, True])
def test_nwb_electrical_series_round_trip(tmp_path, timestamps):
    path = tmp_path / "utah.nwb"
    data = write_ecephys(path, timestamps=timestamps)
    da = ws.io.read(path)
    assert da.dims == ("time", "channel") and da.sizes["channel"] == 96
    assert da.attrs["units"] == "V" and da.attrs["sfreq"] == pytest.approx(1000.0)
    assert (da.attrs["time_units"], da.attrs["space_units"], da.attrs["source"]) == (
        "s", "m", "recording")
    np.testing.assert_allclose(da.values, data * 0.25e-6)
    np.testing.assert_allclose(da.time.values, 2.0 + np.arange(500) / 1000.0)
    np.testing.assert_allclose(np.column_stack([da.x, da.y]), utah_positions() * 1e-6,
                               atol=1e-12)
    assert json.loads(da.attrs["bads"]) == ["ch04", "ch41"]
    assert da.channel.values[0] == "ch01"
    prov = ws.provenance(da)
    assert prov["series"] == "raw" and prov["reader"] == "wavescope.readers.read_nwb"
    # Onto the grid, Utah corners missing: bads follow the sites.
    grid = ws.as_grid(da, fill=np.nan)
    assert grid.sizes == {"time": 500, "y": 10, "x": 10}
    np.testing.assert_allclose(np.diff(grid.x.values), PITCH_UM * 1e-6)
    assert len(json.loads(grid.attrs["bads"])) == 2


def test_nwb_positions_from_the_brain_frame_keep_the_pitch(tmp_path):
    path = tmp_path / "tilted.nwb"
    write_ecephys(path, rel=False, tilt=True)  # no in-group positions; a tilted plane
    da = readers.read_nwb(path)
    from scipy.spatial import cKDTree

    xy = np.column_stack([da.x, da.y])
    d, _ = cKDTree(xy).query(xy, k=2)
    np.testing.assert_allclose(d[:, 1], PITCH_UM * 1e-6, rtol=1e-5)
    assert "x, y, z" in ws.provenance(da)["geometry"]["positions"]


def write_imaging(path, *, kind="one-photon"):
    nwb = new_nwb()
    device = nwb.create_device(name="camera")
    channel = pynwb.ophys.OpticalChannel(name="green", description="GCaMP",
                                         emission_lambda=525.0)
    plane = nwb.create_imaging_plane(
        name="plane", optical_channel=channel, description="cortex", device=device,
        excitation_lambda=470.0, indicator="GCaMP6f", location="V1",
        grid_spacing=[20.0, 25.0], grid_spacing_unit="micrometers")
    frames = np.random.default_rng(1).random((40, 12, 9)).astype(np.float32)  # (t, x, y)
    if kind == "one-photon":
        series = pynwb.ophys.OnePhotonSeries(name="wide", data=frames, imaging_plane=plane,
                                             rate=50.0, unit="a.u.", conversion=2.0)
    else:
        series = pynwb.image.ImageSeries(name="movie", data=frames, rate=50.0, unit="a.u.")
    nwb.add_acquisition(series)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return frames


def test_nwb_imaging_series_round_trip(tmp_path):
    path = tmp_path / "wide.nwb"
    frames = write_imaging(path)
    da = ws.read(path)
    assert da.dims == ("time", "y", "x") and da.sizes == {"time": 40, "y": 9, "x": 12}
    np.testing.assert_allclose(da.values, np.swapaxes(frames, 1, 2) * 2.0, rtol=1e-6)
    np.testing.assert_allclose(np.diff(da.x.values), 20e-6)
    np.testing.assert_allclose(np.diff(da.y.values), 25e-6)
    assert da.attrs["sfreq"] == 50.0 and da.attrs["space_units"] == "m"
    np.testing.assert_allclose(da.time.values, np.arange(40) / 50.0)
    plain = tmp_path / "movie.nwb"
    write_imaging(plain, kind="image")
    with pytest.warns(ws.WavescopeWarning, match="no pixel size"):
        px = ws.read(plain)
    assert px.attrs["space_units"] == "pixel"
    sized = ws.read(plain, pixel_size=10.0, space_units="um")
    np.testing.assert_allclose(np.diff(sized.x.values), 10e-6)


def test_nwb_series_choice_and_errors(tmp_path):
    path = tmp_path / "utah.nwb"
    write_ecephys(path)
    with pytest.raises(ws.DataModelError, match="no electrical or imaging series 'lfp'"):
        readers.read_nwb(path, series="lfp")
    with pytest.raises(FileNotFoundError):
        ws.io.read(tmp_path / "none.nwb")


def test_tiff_stacks_imagej_and_ome(tmp_path):
    frames = np.random.default_rng(2).integers(0, 4000, (30, 16, 20)).astype(np.uint16)
    ij = tmp_path / "stack.tif"
    tifffile.imwrite(ij, frames, imagej=True, resolution=(1 / 6.5, 1 / 6.5),
                     metadata={"axes": "TYX", "finterval": 0.025, "unit": "um"})
    da = ws.io.read(ij)
    assert da.dims == ("time", "y", "x") and da.sizes == {"time": 30, "y": 16, "x": 20}
    np.testing.assert_array_equal(da.values, frames)
    assert da.attrs["sfreq"] == pytest.approx(40.0) and da.attrs["space_units"] == "m"
    np.testing.assert_allclose(np.diff(da.x.values), 6.5e-6, rtol=1e-6)
    assert ws.provenance(da)["sfreq_from"] == "ImageJ finterval"
    ome = tmp_path / "stack.ome.tif"
    tifffile.imwrite(ome, frames, ome=True, metadata={
        "axes": "TYX", "PhysicalSizeX": 3.0, "PhysicalSizeXUnit": "µm", "PhysicalSizeY": 4.0,
        "PhysicalSizeYUnit": "µm", "TimeIncrement": 20.0, "TimeIncrementUnit": "ms"})
    do = readers.read_tiff(ome)
    assert do.attrs["sfreq"] == pytest.approx(50.0)
    np.testing.assert_allclose(np.diff(do.x.values), 3e-6)
    np.testing.assert_allclose(np.diff(do.y.values), 4e-6)
    plain = tmp_path / "plain.tiff"
    tifffile.imwrite(plain, frames)
    with pytest.raises(ws.DataModelError, match="sfreq"):
        ws.io.read(plain)
    with pytest.warns(ws.WavescopeWarning, match="no pixel size"):
        px = ws.io.read(plain, sfreq=100.0)
    assert px.attrs["space_units"] == "pixel" and px.attrs["sfreq"] == 100.0


def test_read_dispatches_to_mne_and_netcdf(tmp_path):
    import mne

    montage = mne.channels.make_standard_montage("standard_1005")
    names = montage.ch_names[:8]
    raw = mne.io.RawArray(np.random.default_rng(0).standard_normal((8, 200)) * 1e-5,
                          mne.create_info(names, 100.0, "eeg"), verbose=False)
    raw.set_montage(montage)
    raw.info["bads"] = [names[1]]
    raw.save(tmp_path / "rec_raw.fif", verbose=False)
    da = ws.io.read(tmp_path / "rec_raw.fif")
    assert json.loads(da.attrs["bads"]) == [names[1]] and da.attrs["units"] == "V"
    np.testing.assert_allclose(da.values, raw.get_data().T)
    ws.save(da, tmp_path / "rec.nc")
    assert ws.io.read(tmp_path / "rec.nc").equals(da)
    (tmp_path / "notes.xyz").write_text("nothing")
    with pytest.raises(wio.WavescopeIOError, match="no reader"):
        ws.io.read(tmp_path / "notes.xyz")


def test_missing_library_names_the_extra(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_pynwb(name, *args, **kwargs):
        if name == "pynwb":
            raise ImportError("No module named 'pynwb'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pynwb)
    with pytest.raises(ImportError, match=r"wavescope\[nwb\]"):
        readers._require("pynwb", "nwb")
