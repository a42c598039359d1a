# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 2. Detecting travelling waves, in a model and in a brain
#
# The same functions read simulated waves with a known answer, the hidden states of a
# trained Neural Wave Machine, and a real EEG recording: the data model is the contract,
# and nothing in `wavescope.analysis` knows where its input came from.
#
# 1. **Known answers**: a plane wave and a rotating wave, simulated; phase, phase-gradient
#    directionality (PGD), plane-wave fit, optical flow and critical points recover their
#    speed, direction and centre; surrogates tell a wave from noise.
# 2. **Model**: waves in the hidden states of a trained NWM.
# 3. **Brain**: alpha-band waves in the bundled eyes-closed EEG, with p-values.
#
# ```bash
# python tutorials/02_detect_waves.py                       # full size, about 2 minutes
# WAVESCOPE_TUTORIAL_SIZE=small python tutorials/02_detect_waves.py   # CI, seconds
# ```

# %%
import os
from pathlib import Path

import numpy as np

import wavescope as ws
from wavescope import datasets, plotting
from wavescope import simulate as sim
from wavescope.analysis import (
    analytic_signal,
    critical_points,
    detect_waves,
    dominant_frequency,
    fit_plane_wave,
    kw_speed,
    optical_flow,
    pgd,
)

SMALL = os.environ.get("WAVESCOPE_TUTORIAL_SIZE", "full") == "small"
FIGURES = Path(os.environ.get("WAVESCOPE_FIGURES", "docs/figures"))
WORK = Path(os.environ.get("WAVESCOPE_TUTORIAL_OUT", "tutorial-output"))
N_SURROGATES = 19 if SMALL else 99


def save(fig, name):
    if not SMALL:
        FIGURES.mkdir(parents=True, exist_ok=True)
        fig.savefig(FIGURES / name, dpi=90)


# %% [markdown]
# ## 1. Known answers
# A plane wave at 50 pixels per unit time travelling at 45°, 5 cycles per unit time, with
# 10 % noise. Its analytic signal (band-passed around 5) gives a phase at every pixel; the
# phase gradient is the same everywhere, so the PGD (how aligned the local gradients are)
# is close to 1, and a plane fitted to the phase gives speed and direction.

# %%
plane = sim.plane_wave((32, 32), n_times=200, sfreq=100.0, frequency=5.0, speed=50.0,
                       direction=np.pi / 4, noise=0.1, seed=0)
truth = sim.truth(plane)
z = analytic_signal(plane, (3.0, 7.0))
inner = slice(20, 180)  # the band-pass filter rings at both ends
fit = fit_plane_wave(z.isel(time=inner))
speed = float(fit["speed"].median())
direction = float(np.angle(np.exp(1j * fit["direction"]).mean()))
print(f"PGD {float(pgd(z).isel(time=inner).mean()):.3f}; plane fit: speed {speed:.2f} "
      f"(true {truth['speed']}), direction {direction:.3f} rad (true {truth['direction']:.3f})")
assert abs(speed / truth["speed"] - 1) < 0.05 and abs(direction - truth["direction"]) < 0.05

# %% [markdown]
# A rotating wave: the phase turns about a centre. Optical flow on the phase (Horn-Schunck,
# wrap-safe) gives the velocity field; its critical point is a *centre* at the pivot.

# %%
rotating = sim.rotating_wave((32, 32), n_times=200, sfreq=100.0, frequency=5.0,
                             sense="ccw", noise=0.1, seed=1)
zr = analytic_signal(rotating, (3.0, 7.0))
flow = optical_flow(zr.isel(time=slice(100, 102)))
points = critical_points(flow)
centres = points.where(points["kind"] == "centre", drop=True)
print(f"critical points: {[str(k) for k in points['kind'].values]}; true centre "
      f"{sim.truth(rotating)['centre']}")
assert centres.sizes["point"] >= 1
assert np.allclose([float(centres["x"][0]), float(centres["y"][0])],
                   sim.truth(rotating)["centre"], atol=1.0)
fig = plotting.plot_flow(flow, zr)
plotting.plot_critical_points(points, ax=fig.axes[0])
save(fig, "rotating_flow.png")

# %% [markdown]
# `detect_waves` labels every frame (synchronous, planar, source, sink, rotating), joins
# frames into events, and gives each event a p-value against surrogates: the same data
# with the sites shuffled (a spatial pattern's null) or phase-randomised (synchrony's null).
# A plane wave then a rotating wave, then only noise with the same spectrum at every site:

# %%
story = sim.sequence(plane, rotating)
events = detect_waves(story, (3.0, 7.0), n_surrogates=N_SURROGATES, seed=0)
print(events[["start", "stop", "pattern", "speed", "direction", "pgd", "p_value"]]
      .to_dataframe().round(3).to_string())
kinds = list(events["pattern"].values)
assert "planar" in kinds and "rotating-ccw" in kinds
assert (events["p_value"] < 0.1).all(), "real waves beat every surrogate"

noise = sim.noise((32, 32), n_times=400, sfreq=100.0, color="pink", seed=2)
null = detect_waves(noise, (3.0, 7.0), n_surrogates=N_SURROGATES, seed=0)
share_planar = float((null["frame_pattern"] == "planar").mean())
print(f"noise: {null.sizes['event']} events, planar frames {100 * share_planar:.1f} %, "
      f"mean PGD {float(null['frame_pgd'].mean()):.3f}")
assert share_planar < 0.05 and float(null["frame_pgd"].mean()) < 0.3

# %% [markdown]
# ## 2. Waves in a trained network
# The hidden states of a Neural Wave Machine trained on polygon images (tutorial 1 trains
# this run; `train` finds it again, or trains it). Each image makes the field move
# differently; we take the phase in a band around the field's own dominant frequency.

# %%
from _polygons import polygon_run_config  # noqa: E402

from wavescope.training import export_hidden_states, train  # noqa: E402

config = polygon_run_config(SMALL, WORK)
size = config.task_kwargs["height"]
run = train(config)
ds = export_hidden_states(run, split="test", n_trials=16 if SMALL else 64)
hidden = ds["hidden"].isel(feature=0)

# %% [markdown]
# Each polygon launches its own waves, on a torus (the NWM's grid wraps around). We roll
# every image so that its polygon sits in the middle (exact on a torus) and cut out the
# central part, so the wrap-around never meets itself and patterns share one centre; the
# phase is that of each pixel's oscillation about its mean. The waves radiate from the
# polygon, so their phase gradients point away from it in every direction: the grid-wide
# PGD is low by construction, and the order shows *locally*, in 8 x 8 windows, against the
# same states with their pixels shuffled in space.

# %%
from wavescope.analysis import local_pgd, surrogates  # noqa: E402
from wavescope.analysis.hidden import centre_on_masks, model_phase  # noqa: E402

centred = centre_on_masks(hidden, ds["label"].values > 0)
z_model = model_phase(centred)
order = float(local_pgd(z_model, tile=8).mean())
shuffled = surrogates(centred, n=1, seed=0, dim="surrogate").isel(surrogate=0)
order_null = float(local_pgd(model_phase(shuffled), tile=8).mean())
model_events = detect_waves(z_model, n_surrogates=N_SURROGATES, seed=0)
frames = model_events["frame_pattern"].values
speed = kw_speed(hidden, method="ridge")["speed"]
print(f"local PGD {order:.3f} (shuffled {order_null:.3f}); frame patterns "
      f"{ {str(k): round(float(np.mean(frames == k)), 2) for k in np.unique(frames)} }; "
      f"k-omega speed {float(np.nanmedian(np.abs(speed))):.2f} {speed.attrs['units']} "
      "(time in steps x dt)")
assert order > order_null + 0.05, "the hidden states are locally ordered waves"
assert np.isfinite(np.nanmedian(np.abs(speed))) and np.nanmedian(np.abs(speed)) > 0

# Drawn without the common mode (the whole field moving together), which would paint
# every pixel the same colour: what is left are the waves running out from the polygon.
trial = int(np.nanargmax(model_events["frame_pgd"].mean("time")))
fig = plotting.plot_space_time(model_phase(centred, common=False).isel(trial=trial))
fig.axes[0].set_title("NWM hidden state without its common mode: phase, middle row",
                      fontsize="medium")
save(fig, "nwm_space_time.png")

# %% [markdown]
# ## 3. Waves in the brain: alpha in the bundled EEG
# 64 channels at rest with eyes closed (PhysioNet EEGMMIDB S001R02). The sensors sit on the
# scalp, projected to the plane (metres of arc from the vertex), so speeds come out in m/s.

# %%
eeg = datasets.eeg_eyes_closed()
if SMALL:
    eeg = eeg.isel(time=slice(0, 1600))  # 10 s
alpha = float(dominant_frequency(eeg.sel(channel=["O1", "Oz", "O2"]), fmin=4, fmax=30,
                                 method="welch", nperseg=640).median())
print(f"occipital alpha peak: {alpha:.2f} Hz")
assert 8.0 < alpha < 12.0

eeg_events = detect_waves(eeg, (8.0, 13.0), n_surrogates=N_SURROGATES, seed=0)
table = eeg_events[["start", "duration", "pattern", "speed", "pgd", "p_value"]].to_dataframe()
print(table.groupby("pattern").agg(n=("p_value", "size"),
                                   significant=("p_value", lambda p: int((p < 0.05).sum())),
                                   median_speed=("speed", "median")))
frames = eeg_events["frame_pattern"].values
print({str(k): round(float(np.mean(frames == k)), 3) for k in np.unique(frames)})
# Under the calibrated null (surrogates that keep the recording's cross-spectra, so volume
# conduction is in the null) few alpha frames pass the plane fit's slope test, and no
# event survives the correction for testing all of them: the organisation that volume
# conduction produces on its own is not called a wave.
assert len(table) > 0 and table["p_value"].between(0, 1).all()
assert (eeg_events["q_value"] > 0.05).all()
planar_events = table[table["pattern"] == "planar"]
if len(planar_events):
    assert 0.5 < planar_events["speed"].median() < 50, "alpha waves travel at metres per second"

ze = analytic_signal(eeg, (8.0, 13.0))
t_best = float(eeg_events["frame_pgd"].idxmax())  # the frame most aligned in direction
fig = plotting.plot_phase_map(ze, t_best)
save(fig, "eeg_alpha_phase.png")
ws.validate(ze)
