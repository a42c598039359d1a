"""Sensor geometry from MNE: planar arrays keep their pitch and their waves' directions."""

import json

import mne
import numpy as np
import pytest
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

import wavescope as ws
from wavescope.analysis import analytic_signal, fit_plane_wave

mne.set_log_level("error")

PITCH = 0.003  # m, a 10 x 10 ECoG grid
SPEED, FREQ, DIRECTION = 0.3, 8.0, np.deg2rad(-161.0)  # m/s, Hz, rad in the array's frame


def ecog_raw(rotation: np.ndarray, offset, kind="ecog", sfreq=500.0, n_times=250):
    """A 10 x 10 planar grid carrying a plane wave, placed in the head frame by a rigid
    motion; returns the Raw and the wave's direction of travel as a 3-D unit vector."""
    j, i = np.meshgrid(np.arange(10), np.arange(10))
    uv = np.column_stack([j.ravel(), i.ravel()]) * PITCH
    uv -= uv.mean(axis=0)
    pos = np.column_stack([uv, np.zeros(len(uv))]) @ rotation.T + np.asarray(offset)
    k = 2 * np.pi * FREQ / SPEED * np.array([np.cos(DIRECTION), np.sin(DIRECTION)])
    t = np.arange(n_times) / sfreq
    data = np.cos(2 * np.pi * FREQ * t[None, :] - (uv @ k)[:, None]) * 1e-4
    names = [f"E{n:03d}" for n in range(len(uv))]
    raw = mne.io.RawArray(data, mne.create_info(names, sfreq, kind))
    montage = mne.channels.make_dig_montage(dict(zip(names, pos, strict=True)), coord_frame="head")
    raw.set_montage(montage)
    travel3d = rotation @ np.array([np.cos(DIRECTION), np.sin(DIRECTION), 0.0])
    return raw, travel3d


PLACEMENTS = [
    (np.eye(3), (0.0, 0.0, 0.0)),  # a Utah-like array at z = 0 in the head frame
    (Rotation.from_euler("y", 90, degrees=True).as_matrix(), (-0.07, 0.01, 0.03)),  # lateral
    (Rotation.from_euler("xyz", [30, -40, 75], degrees=True).as_matrix(), (0.03, -0.05, 0.06)),
    (Rotation.from_euler("zx", [200, 100], degrees=True).as_matrix(), (0.0, 0.08, 0.02)),
    (Rotation.from_euler("xz", [180, 10], degrees=True).as_matrix(), (0.01, 0.0, 0.09)),
]


@pytest.mark.parametrize("rotation, offset", PLACEMENTS)
def test_plane_projection_keeps_pitch_direction_and_wavelength(rotation, offset):
    raw, travel3d = ecog_raw(rotation, offset)
    da = ws.from_mne(raw)  # "auto": ecog goes onto its plane
    proj = json.loads(da.attrs["projection"])
    assert proj["kind"].startswith("plane")
    xy = np.column_stack([da.x.values, da.y.values])
    d, _ = cKDTree(xy).query(xy, k=2)
    np.testing.assert_allclose(d[:, 1], PITCH, rtol=0.01)
    fit = fit_plane_wave(analytic_signal(da, (4, 12))).isel(time=slice(50, -50))
    np.testing.assert_allclose(fit["wavelength"], SPEED / FREQ, rtol=0.01)
    # The in-plane direction, mapped back into the head frame through the in-plane axes
    # that the output positions themselves define, is the wave's true 3-D direction.
    pos3d = np.column_stack([da[c].values for c in ("pos3d_x", "pos3d_y", "pos3d_z")])
    design = np.column_stack([np.ones(len(xy)), xy])
    axes = np.linalg.lstsq(design, pos3d, rcond=None)[0][1:]  # rows: d pos3d / dx, / dy
    np.testing.assert_allclose(axes @ axes.T, np.eye(2), atol=1e-9)  # orthonormal: rigid
    angle = float(np.median(fit["direction"].values))
    found = np.cos(angle) * axes[0] + np.sin(angle) * axes[1]
    assert np.degrees(np.arccos(np.clip(found @ travel3d, -1, 1))) < 1.0


def test_plane_axes_follow_the_head_axes():
    raw, _ = ecog_raw(np.eye(3), (0.0, 0.0, 0.0))
    da = ws.from_mne(raw, projection="plane")
    # A flat array keeps head x and y: positions equal the array's own, centred.
    pos3d = np.column_stack([da[c].values for c in ("pos3d_x", "pos3d_y")])
    np.testing.assert_allclose(da.x.values, pos3d[:, 0] - pos3d[:, 0].mean(), atol=1e-12)
    np.testing.assert_allclose(da.y.values, pos3d[:, 1] - pos3d[:, 1].mean(), atol=1e-12)
    fit = fit_plane_wave(analytic_signal(da, (4, 12))).isel(time=slice(50, -50))
    assert np.degrees(np.median(fit["direction"].values)) == pytest.approx(-161.0, abs=1.0)
    # On the lateral surface: x along the nose (+y), y up (+z), whichever side.
    for side in (-1, 1):
        rot = Rotation.from_euler("y", 90 * side, degrees=True).as_matrix()
        lateral = ws.from_mne(ecog_raw(rot, (0.07 * side, 0, 0.03))[0])
        e = json.loads(lateral.attrs["projection"])
        np.testing.assert_allclose(e["e1"], [0, 1, 0], atol=1e-9)
        np.testing.assert_allclose(e["e2"], [0, 0, 1], atol=1e-9)


def test_sphere_is_the_scalp_default_and_azimuthal_an_alias():
    raw, _ = ecog_raw(np.eye(3), (0.0, 0.0, 0.09), kind="eeg")
    auto = ws.from_mne(raw)
    for name in ("sphere", "azimuthal"):
        same = ws.from_mne(raw, projection=name)
        np.testing.assert_array_equal(same.x.values, auto.x.values)
    assert json.loads(auto.attrs["projection"])["kind"].startswith("azimuthal")
    # The azimuthal projection of an array far from the vertex distorts its pitch, which
    # is why intracranial arrays go onto their plane.
    low = ws.from_mne(ecog_raw(np.eye(3), (0.0, 0.0, 0.0), kind="eeg")[0])
    d, _ = cKDTree(np.column_stack([low.x, low.y])).query(np.column_stack([low.x, low.y]), 2)
    assert np.abs(d[:, 1] / PITCH - 1).max() > 0.3


def test_none_keeps_3d_positions_and_mixed_types_need_a_choice():
    rot = Rotation.from_euler("x", 30, degrees=True).as_matrix()
    raw, _ = ecog_raw(rot, (0.0, 0.02, 0.05))
    da = ws.from_mne(raw, projection="none")
    for axis in "xyz":
        np.testing.assert_array_equal(da[axis].values, da[f"pos3d_{axis}"].values)
    mixed = raw.copy().set_channel_types({raw.ch_names[0]: "eeg"})
    with pytest.raises(ws.DataModelError, match="mix intracranial and scalp"):
        ws.from_mne(mixed)
    assert ws.from_mne(mixed, projection="plane").sizes["channel"] == 100
    with pytest.raises(ValueError, match="projection"):
        ws.from_mne(raw, projection="cylinder")
