# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 4. A real-shaped recording, end to end
#
# Real recordings come as files, with bad channels, sensors placed somewhere in a head,
# and pixels too noisy to differentiate one by one. This tutorial walks two recordings
# shaped like real ones, simulated so that every answer is known:
#
# 1. **A Utah-like array** (96 electrodes, 0.4 mm pitch, corners missing) carrying a
#    dispersive wave, with three broken electrodes, written to **NWB** with `pynwb`:
#    read, bad channels, geometry, grid form, wave detection, and **phase speed versus
#    group speed** (delays).
# 2. **Wide-field imaging** written as a **TIFF** stack with `tifffile`: read, ΔF/F, a
#    region of interest, pixel binning, detection.
#
# Needs the optional readers: `pip install 'wavescope[nwb,imaging]'`.
#
# ```bash
# python tutorials/04_real_recording.py                       # full size, about a minute
# WAVESCOPE_TUTORIAL_SIZE=small python tutorials/04_real_recording.py   # CI, seconds
# ```

# %%
import json
import os
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pynwb
import tifffile

import wavescope as ws
from wavescope import imaging, plotting
from wavescope import simulate as sim
from wavescope.analysis import (
    analytic_signal,
    detect_waves,
    fit_plane_wave,
    pgd,
    wave_delays,
)

SMALL = os.environ.get("WAVESCOPE_TUTORIAL_SIZE", "full") == "small"
FIGURES = Path(os.environ.get("WAVESCOPE_FIGURES", "docs/figures"))
WORK = Path(os.environ.get("WAVESCOPE_TUTORIAL_OUT", "tutorial-output"))
WORK.mkdir(parents=True, exist_ok=True)
N_SURROGATES = 19 if SMALL else 99


def save(fig, name):
    if not SMALL:
        FIGURES.mkdir(parents=True, exist_ok=True)
        fig.savefig(FIGURES / name, dpi=90)


# %% [markdown]
# ## 1. A Utah-like array in an NWB file
# A 10 × 10 grid at 0.4 mm without its four corners. The wave is *dispersive*: its phase
# speed is 24 mm/s at the band's centre (6 Hz), while its envelope, and so every delay
# between electrodes, travels at the group speed, 48 mm/s. It travels towards −161°.
# Three electrodes are broken (a 100× artefact) and flagged bad in the electrodes table,
# as acquisition systems and curators do.

# %%
PITCH = 0.4e-3  # m
PHASE_SPEED, GROUP_SPEED, DIRECTION = 0.024, 0.048, np.deg2rad(-161.0)
SFREQ = 500.0
n_times = 2000 if SMALL else 10000
j, i = np.meshgrid(np.arange(10), np.arange(10))
grid_xy = np.delete(np.column_stack([j.ravel(), i.ravel()]) * PITCH, [0, 9, 90, 99], axis=0)
wave = sim.dispersive_wave(grid_xy, n_times=n_times, sfreq=SFREQ, phase_speed=PHASE_SPEED,
                           group_speed=GROUP_SPEED, direction=DIRECTION, noise=0.3, seed=0,
                           space_units="m", source="recording")
volts = wave.values * 1e-4
broken = [7, 40, 81]
rng = np.random.default_rng(1)
volts[:, broken] += 1e-2 * rng.standard_normal((n_times, len(broken)))  # 100x artefacts

nwb = pynwb.NWBFile(session_description="simulated Utah-array seizure", identifier="utah-sim",
                    session_start_time=datetime(2024, 5, 1, tzinfo=UTC))
device = nwb.create_device(name="Utah array")
group = nwb.create_electrode_group("utah", description="96 channels, 0.4 mm",
                                   location="cortex", device=device)
nwb.add_electrode_column("bad", "True for a broken electrode")
tilt = 0.6  # the array sits on a tilted cortical surface in the brain frame
for k, (rx, ry) in enumerate(grid_xy * 1e6):  # NWB positions are micrometres
    nwb.add_electrode(x=float(rx), y=float(ry * np.cos(tilt)), z=float(ry * np.sin(tilt)),
                      rel_x=float(rx), rel_y=float(ry), rel_z=0.0, location="cortex",
                      group=group, bad=k in broken)
electrodes = nwb.create_electrode_table_region(list(range(96)), "all electrodes")
nwb.add_acquisition(pynwb.ecephys.ElectricalSeries(
    name="ecephys", data=volts.astype(np.float32), electrodes=electrodes, rate=SFREQ))
nwb_path = WORK / "utah.nwb"
with pynwb.NWBHDF5IO(str(nwb_path), "w") as io:
    io.write(nwb)

# %% [markdown]
# ### Read, with units, positions and bad channels
# `ws.io.read` dispatches on the file. The NWB reader returns volts, seconds, positions
# in metres (the in-array positions `rel_x`, `rel_y`), and the flagged electrodes in
# `attrs["bads"]`.

# %%
rec = ws.io.read(nwb_path)
print(rec.sizes, rec.attrs["units"], rec.attrs["sfreq"], "Hz; bads:", rec.attrs["bads"])
assert rec.attrs["units"] == "V" and rec.attrs["sfreq"] == SFREQ
assert json.loads(rec.attrs["bads"]) == [f"e{k}" for k in broken]
np.testing.assert_allclose(np.column_stack([rec.x, rec.y]), grid_xy, atol=1e-9)

# %% [markdown]
# ### Bad channels are left out everywhere
# Every analysis drops the channels in `attrs["bads"]` (or in its `bads=` argument) and
# says so once. Compare with what the artefacts do when nobody flags them.

# %%
band = (3.0, 9.0)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    events = detect_waves(rec, band, n_surrogates=N_SURROGATES)
print([str(w.message) for w in caught if "bad site" in str(w.message)])
unflagged = detect_waves(rec.assign_attrs(bads="[]"), band, n_surrogates=0)
planar = events.where(events["pattern"] == "planar", drop=True)
speed = float(np.median(planar["speed"]))
direction = float(np.angle(np.exp(1j * planar["direction"]).mean()))
good_pgd = float(events["frame_pgd"].median())
bad_pgd = float(unflagged["frame_pgd"].median())
print(f"{planar.sizes['event']} planar events; median phase speed {speed * 1e3:.1f} mm/s "
      f"(true {PHASE_SPEED * 1e3:.0f} at 6 Hz), direction {np.degrees(direction):.0f} deg; "
      f"median PGD {good_pgd:.2f} (unflagged artefacts: {bad_pgd:.2f})")
assert abs(speed / PHASE_SPEED - 1) < 0.15
assert abs(np.angle(np.exp(1j * (direction - DIRECTION)))) < np.deg2rad(10)
assert bad_pgd < good_pgd - 0.05

# %% [markdown]
# ### Geometry: the array's plane, not the scalp's sphere
# Through MNE the same electrodes carry their brain-frame positions. Scalp EEG is
# projected azimuthally about the vertex; for intracranial channels (`ecog`, `seeg`,
# `dbs`) `from_mne` puts the array on its best-fitting plane instead, so the pitch and
# the wave's direction survive any placement (`projection="auto"`).

# %%
raw = ws.to_mne(rec.assign_coords(ch_type=("channel", ["ecog"] * 96)))
from_raw = ws.from_mne(raw)  # auto: ecog -> plane
sphere = ws.from_mne(raw, projection="sphere")


def pitch(da):
    xy = np.column_stack([da.x, da.y])
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return np.median(d.min(axis=1))


print(f"pitch on the plane {pitch(from_raw) * 1e3:.3f} mm, on the sphere "
      f"{pitch(sphere) * 1e3:.3f} mm (true 0.400)")
assert abs(pitch(from_raw) / PITCH - 1) < 0.01

# %% [markdown]
# ### Grid form
# The electrodes sit on a grid with its corners missing: `as_grid(fill=np.nan)` makes the
# grid, the corners NaN (skipped by every analysis), and the bad channels' names become
# grid-site names.

# %%
grid = ws.as_grid(rec, fill=np.nan)
print(grid.sizes, "bads on the grid:", grid.attrs["bads"])
assert grid.sizes["y"] == grid.sizes["x"] == 10 and np.isnan(grid.values[:, 0, 0]).all()
z = analytic_signal(grid, band)
fig = plotting.plot_phase_map(z, float(z.time[n_times // 2]))
fig.axes[0].set_title(f"Utah-like array, {band[0]:g}-{band[1]:g} Hz phase at "
                      f"t = {float(z.time[n_times // 2]):g} s\n(corners missing, bad "
                      "electrodes blank)", fontsize=9)
save(fig, "utah_phase_map.png")

# %% [markdown]
# ### Phase speed and group speed
# The plane fit reads the speed of the *phase* (omega / k at each instant, here near the
# band's centre); delays between electrodes (the slope of the coherence phase across
# frequency, `wave_delays`) read the speed of the *envelope*, the group speed
# d omega / dk. A dispersive wave has two different answers, and both are right: the
# literature on seizures reports delays (Martinet et al. 2017).

# %%
phase_fit = fit_plane_wave(z.isel(time=slice(200, -200)))
phase_speed = float(phase_fit["speed"].median())
delays = wave_delays(rec, band)
group_speed = float(delays["speed"])
print(f"phase speed {phase_speed * 1e3:.1f} mm/s (true {PHASE_SPEED * 1e3:.0f}); group speed "
      f"{group_speed * 1e3:.1f} mm/s [{float(delays['speed_low']) * 1e3:.1f}, "
      f"{float(delays['speed_high']) * 1e3:.1f}] (true {GROUP_SPEED * 1e3:.0f})")
assert abs(group_speed / GROUP_SPEED - 1) < 0.15
assert group_speed > 1.5 * phase_speed

# %% [markdown]
# ## 2. Wide-field imaging in a TIFF stack
# A plane wave at 15 mm/s over 3 × 3 mm of cortex (5 × 5 mm at full size), 50 µm pixels,
# 50 frames per second, on a fluorescence baseline with strong pixel noise; written as an
# ImageJ TIFF with its frame interval and pixel size.

# %%
n_pix = 60 if SMALL else 100
frames = 250 if SMALL else 1000
movie = sim.plane_wave((n_pix, n_pix), n_times=frames, sfreq=50.0, frequency=4.0,
                       speed=15.0, direction=0.5, spacing=0.05, noise=3.0, seed=3,
                       space_units="mm", source="recording")
counts = (1000 * (1 + 0.02 * movie.values)).astype(np.float32)
tif_path = WORK / "widefield.tif"
tifffile.imwrite(tif_path, counts, imagej=True, resolution=(1 / 50.0, 1 / 50.0),
                 metadata={"axes": "TYX", "finterval": 1 / 50.0, "unit": "um"})

# %% [markdown]
# Read; ΔF/F against each pixel's 10th percentile; a disc-shaped region of interest
# (outside → NaN); then 5 × 5 binning, which keeps positions (block centres) and the
# data model's attributes. On raw pixels the noise dominates every local gradient
# (PGD near 0); after binning the wave is clear.

# %%
img = ws.io.read(tif_path)
print(img.sizes, f"{img.attrs['sfreq']:.0f} Hz, pixel {float(img.x[1] - img.x[0]) * 1e6:.0f} um")
assert abs(float(img.x[1] - img.x[0]) - 50e-6) < 1e-9 and abs(img.attrs["sfreq"] - 50) < 1e-6
f = imaging.dff(img)
yy, xx = np.meshgrid(f.y - f.y.mean(), f.x - f.x.mean(), indexing="ij")
f = imaging.roi(f, np.hypot(yy, xx) < 0.45 * n_pix * 50e-6)
# Every step would now report the pixels outside the region as sites without data.
warnings.filterwarnings("ignore", message=".*hold only NaN", category=ws.WavescopeWarning)
warnings.filterwarnings("ignore", message=".*have no valid sample", category=ws.WavescopeWarning)
binned = imaging.bin_pixels(f, 5)
img_band = (2.5, 5.5)
raw_pgd = float(pgd(analytic_signal(f, img_band)).median())
binned_pgd = float(pgd(analytic_signal(binned, img_band)).median())
print(f"median PGD: raw pixels {raw_pgd:.2f}, 5 x 5 bins {binned_pgd:.2f}")
assert raw_pgd < 0.5 < binned_pgd
img_events = detect_waves(binned, img_band, n_surrogates=N_SURROGATES)
img_planar = img_events.where(img_events["pattern"] == "planar", drop=True)
img_speed = float(np.median(img_planar["speed"]))
print(f"{img_planar.sizes['event']} planar events, median speed {img_speed * 1e3:.0f} mm/s "
      "(true 15)")
assert abs(img_speed / 0.015 - 1) < 0.2
fig = plotting.plot_phase_map(analytic_signal(binned, img_band), float(binned.time[frames // 2]))
fig.axes[0].set_title(f"wide-field imaging, 5 x 5 binned, {img_band[0]:g}-{img_band[1]:g} Hz "
                      f"phase at t = {float(binned.time[frames // 2]):g} s\n(outside the "
                      "cranial window blank)", fontsize=9)
save(fig, "widefield_binned_phase.png")
