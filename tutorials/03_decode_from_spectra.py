# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 3. Decoding spatial information from spectra
#
# Wave dynamics turn geometry into frequencies. A *drum* is the Neural Wave Machine cell
# with its coupling fixed to the discrete Laplacian, no natural frequency or damping, on a
# binary mask with the field clamped to zero outside (MODELS.md §8). We
#
# 1. hear the **area** of square drums from their fundamental frequency (an exact formula);
# 2. tell **shapes of equal area** apart from their spectra;
# 3. decode the **shape of polygons** of many sizes (the NWM's training images) from the
#    spectra of the fixed drum, and from the hidden states of a trained NWM;
# 4. read **wave speeds** from where the space-time (k-ω) power lies.
#
# Run it as a script or open it as a notebook (jupytext):
#
# ```bash
# python tutorials/03_decode_from_spectra.py                     # full size, a few minutes
# WAVESCOPE_TUTORIAL_SIZE=small python tutorials/03_decode_from_spectra.py   # CI, seconds
# ```
#
# At full size it writes the figures the README shows into `docs/figures/`.

# %%
import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import wavescope as ws
from wavescope import drums, plotting, simulate
from wavescope.analysis import (
    SpectralFeatures,
    decode,
    decode_with_baselines,
    kw_spectrum,
    kw_speed,
    spectrum,
)

SMALL = os.environ.get("WAVESCOPE_TUTORIAL_SIZE", "full") == "small"
FIGURES = Path(os.environ.get("WAVESCOPE_FIGURES", "docs/figures"))
WORK = Path(os.environ.get("WAVESCOPE_TUTORIAL_OUT", "tutorial-output"))
rng = np.random.default_rng(0)


def save(fig, name):
    """Figures of the full-size run go to docs/figures (the README shows them)."""
    if not SMALL:
        FIGURES.mkdir(parents=True, exist_ok=True)
        fig.savefig(FIGURES / name, dpi=90)


# %% [markdown]
# ## 1. The area of a square drum from its fundamental
# Squares of side 6 to 30 pixels, rung by displacing their whole interior. The fundamental
# is measured from the spectrum of each drum's mean displacement (Hann window, 4x zero
# padding, parabolic peak refinement) and inverted with the exact discrete dispersion
# relation of the grid and of the symplectic Euler step (see `drums.area_from_frequency`).

# %%
sides = np.arange(6, 31, 4 if SMALL else 1)
masks = np.stack([drums.square(int(s), size=32) for s in sides])
ring = drums.drum(masks, n_steps=2000 if SMALL else 4000, dt=0.1, record_every=10,
                  progress=False)
f = drums.fundamental_frequency(ring)
area = drums.area_from_frequency(f, dt=0.1).values
true = sides**2.0
r2 = 1 - np.sum((area - true) ** 2) / np.sum((true - true.mean()) ** 2)
err = np.abs(area / true - 1)
naive = drums.area_from_frequency(f, dt=0.1, grid=False).values  # A = 2 pi^2 c^2 / omega^2
print(f"squares {sides[0]}..{sides[-1]}: R2 = {r2:.6f}, max error {100 * err.max():.4f} %")
print(f"continuous formula without the grid correction: max error "
      f"{100 * np.abs(naive / true - 1).max():.1f} %")
assert r2 > 0.9999 and err.max() < 0.005, "the area formula must be exact on squares"
assert np.abs(naive / true - 1).max() > 0.2, "the naive formula must be visibly off"

fig = Figure(figsize=(4.2, 3.6), layout="constrained")
FigureCanvasAgg(fig)
ax = fig.add_subplot()
ax.plot(true, naive, "x", color="0.5", label="continuous formula")
ax.plot(true, area, "o", mfc="none", label="grid-corrected")
ax.plot(true, true, "k:", lw=1, label="truth")
ax.set(xlabel="true area (pixel²)", ylabel="area heard (pixel²)",
       title="hearing the area of square drums")
ax.legend(fontsize="small")
save(fig, "drum_area.png")

# %% [markdown]
# Other shapes: for a disc or an equilateral triangle, `area_from_frequency` uses the
# continuum constant C = λ₁·A of the shape and grows the shape by half a pixel along its
# normals (exact to first order for straight, grid-aligned edges; staircase edges leave a
# few per cent).

# %%
targets = [50, 200, 600] if SMALL else [50, 100, 200, 400, 600]
for shape_name, make in (
        ("disc", lambda a: drums.disc(area=a, size=34, centre=(16.3, 16.6))),
        ("triangle", lambda a: drums.polygon(3, area=a, size=48, rotation=np.pi / 2))):
    m = np.stack([make(a) for a in targets])
    d = drums.drum(m, 1600, 0.5, progress=False)
    est = drums.area_from_frequency(drums.fundamental_frequency(d), dt=0.5, shape=shape_name)
    rel = est.values / d["area"].values - 1
    print(f"{shape_name}: areas {d['area'].values.tolist()} -> errors "
          f"{np.round(100 * rel, 1).tolist()} %")
    assert np.abs(rel).max() < 0.08

# %% [markdown]
# ## 2. Telling shapes of equal area apart
# Five shapes of 150 pixels (triangle, square, pentagon, hexagon, disc), each at a random
# rotation and sub-pixel position (which changes its pixels). Features: the log FFT
# magnitude of every pixel's time series averaged over the grid (so the position does not
# matter); a cross-validated logistic regression (`analysis.decode`).

# %%
def equal_area_set(n_per_class, area=150, size=26, seed=0):
    rng = np.random.default_rng(seed)
    n_sides = {"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6, "disc": 0}
    masks, labels = [], []
    for name, n in n_sides.items():
        for _ in range(n_per_class):
            centre = (size - 1) / 2 + rng.uniform(-0.5, 0.5, 2)
            if n:
                m = drums.polygon(n, area=area, size=size, centre=centre,
                                  rotation=rng.uniform(0, 2 * np.pi / n))
            else:
                m = drums.disc(area=area, size=size, centre=centre)
            masks.append(m)
            labels.append(name)
    return np.stack(masks), np.array(labels)


masks, labels = equal_area_set(8 if SMALL else 20)
features = SpectralFeatures(pool="mean", log=True)
for init in ("uniform", "random"):
    d = drums.drum(masks, 1000 if SMALL else 2000, 0.1, record_every=5, init=init, seed=1,
                   progress=False)
    res = decode(d, labels, features=features, cv=4 if SMALL else 5)
    print(f"5 shapes of {masks.sum((1, 2)).min()}-{masks.sum((1, 2)).max()} pixels, "
          f"init={init}: accuracy {res['mean']:.3f} +- {res['std']:.3f} "
          f"(chance {res['chance']:.2f})")
    assert res["mean"] > (0.8 if init == "uniform" else 0.5), "shapes must be told apart"
    if init == "uniform":
        d_uniform = d

# %% [markdown]
# What tells these shapes apart? `decode_with_baselines` scores the same decoder beside
# controls in the same folds: shuffled labels (chance); the non-spectral controls, the
# mask's pixel count (equal here, so it knows little), the mask's |FFT2| (the image itself)
# and the time-mean of |state|; and what frequency alone carries, the spectra with their
# amplitude removed and the peak frequency alone.

# %%
controls = decode_with_baselines(d_uniform, labels, inputs=masks, features=features,
                                 cv=4 if SMALL else 5)
print(controls[["decoder", "description", "mean", "std"]].round(3).to_string(index=False))
c = controls.set_index("decoder")["mean"]
assert abs(c["shuffled"] - 1 / 5) < 0.15, "shuffled labels must score chance"
assert c["pixel_count"] < c["spectra"] - 0.2, "equal areas: the pixel count cannot do it"
assert c["normalized_spectra"] > 0.8, "the shape is in where the power lies, not how much"

by_shape = spectrum(d_uniform, "fft", window="hann").mean(("y", "x"))
by_shape = by_shape.assign_coords(shape=("trial", labels)).groupby("shape").mean()
fig = plotting.plot_spectrum(by_shape.sel(freq=slice(0, 0.6)))
fig.axes[0].set_title("drums of equal area: mean spectrum per shape")
save(fig, "drum_spectra.png")

# %% [markdown]
# The same `decode` reads a quantity (regression): the area of 80 mixed shapes (discs,
# triangles, squares, hexagons of 40 to 300 pixels) from their spectra.

# %%
masks, areas = [], []
for _ in range(30 if SMALL else 80):
    a, n = rng.uniform(40, 300), rng.choice([0, 3, 4, 6])
    centre = 15.5 + rng.uniform(-0.5, 0.5, 2)
    masks.append(drums.disc(area=a, size=32, centre=centre) if n == 0 else
                 drums.polygon(n, area=a, size=32, centre=centre,
                               rotation=rng.uniform(0, 2 * np.pi)))
d_mixed = drums.drum(np.stack(masks), 1000 if SMALL else 2000, 0.1, record_every=5,
                     progress=False)
res = decode(d_mixed, d_mixed["area"].values, task="regression", features=features)
print(f"area of mixed shapes (40-300 px) from spectra: cross-validated R2 = {res['mean']:.3f}")
assert res["mean"] > 0.85

# %% [markdown]
# ## 3. The shape of polygons of many sizes: fixed drum vs trained network
# The polygon images the NWM is trained on hold one regular polygon of 3 to 8 sides, of
# random size (circumradius 5 to 12 pixels), rotation and position. Size now changes the
# spectrum far more than shape does: a drum s times larger sounds every mode s times
# lower. So the shape is read from the spectrum on a frequency axis relative to each
# drum's own peak (`wavescope.analysis.hidden.relative_spectrum`), where size drops out
# and the ratios between the modes remain; the area is read from the absolute
# frequencies as before.
# First the fixed drum on each polygon's mask; then the hidden states of a trained NWM
# (tutorial 1 trains the same run; here it is trained, or found, again). Each decoder is
# shown beside its controls in the same folds (`decode_with_baselines`): where the input's
# pixel count, its |FFT2| or the time-mean of |h| do as well, the spectra show nothing that
# the input or the mean state does not, and the lines below say so; the amplitude-normalised
# spectra and the peak frequency show what frequency alone carries.

# %%
from _polygons import polygon_run_config  # noqa: E402

from wavescope.analysis.hidden import relative_spectrum  # noqa: E402
from wavescope.training import export_hidden_states, train  # noqa: E402
from wavescope.training.data.polygons import SIDES, make_polygons  # noqa: E402

config = polygon_run_config(SMALL, WORK)
size = config.task_kwargs["height"]
n_images = 150 if SMALL else 240
poly = make_polygons(n_images, "test", seed=1, height=size, width=size,
                     max_radius=9.0 if SMALL else 12.0)
shape = poly["labels"]  # class = sides - 2
names = np.array([f"{n}-gon" for n in SIDES])
print("images per class:", dict(zip(names, np.bincount(shape, minlength=7)[1:].tolist(),
                                    strict=True)))
padded = np.pad(poly["masks"] > 0, ((0, 0), (2, 2), (2, 2)))  # a drum needs an empty border
drum_states = drums.drum(padded, 400 if SMALL else 1500, 0.1, record_every=5,
                         progress=False)
folds = 5
drum_res = decode(relative_spectrum(drum_states), shape, features="passthrough", cv=folds)
plain = decode(drum_states, shape, features=features, cv=folds)
drum_area = decode(drum_states, padded.sum((1, 2)), task="regression", features=features,
                   cv=folds)
print(f"fixed drum: shape accuracy {drum_res['mean']:.3f} from the relative spectrum, "
      f"{plain['mean']:.3f} from the plain one (chance {drum_res['chance']:.3f}); area R2 "
      f"{drum_area['mean']:.3f}")


def with_controls(who, states, target):
    """The spectral decoder of ``target`` beside its controls (same folds), and the
    controls that match or beat it."""
    area = poly["masks"].astype(bool).sum((1, 2))
    if target == "shape":
        kw = dict(X=relative_spectrum(states), y=shape, features="passthrough")
    else:
        kw = dict(X=states, y=area, task="regression", features=features)
    table = decode_with_baselines(**kw, states=states, inputs=poly["images"], cv=folds)
    print(f"{who}, {target}:")
    print(table[["decoder", "description", "mean", "std"]].round(3).to_string(index=False))
    rows = table.set_index("decoder")["mean"]
    trivial = table[table["control"] == "non-spectral"]
    beaten = trivial[trivial["mean"] >= rows["spectra"]]["description"].tolist()
    print(f"  the spectra do not beat: {', '.join(beaten)}" if beaten else
          "  the spectra beat every non-spectral control")
    return rows


drum_controls = with_controls("fixed drum", drum_states, "shape")
assert abs(drum_controls["shuffled"] - drum_res["chance"]) < 0.1
assert drum_controls["spectra"] == drum_res["mean"]  # the same decoder, the same folds

# %%
run = train(config)
images = poly["images"].astype(np.float32) / 255
hidden = export_hidden_states(run, (images, poly["masks"].astype(np.int64)))["hidden"]
nwm_res = decode(relative_spectrum(hidden), shape, features="passthrough", cv=folds)
nwm_area = decode(hidden, poly["masks"].astype(bool).sum((1, 2)), task="regression",
                  features=features, cv=folds)
print(f"trained NWM hidden states: shape accuracy {nwm_res['mean']:.3f}, "
      f"area R2 {nwm_area['mean']:.3f}")
nwm_shape_controls = with_controls("trained NWM", hidden, "shape")
nwm_area_controls = with_controls("trained NWM", hidden, "area")
assert abs(nwm_shape_controls["shuffled"] - nwm_res["chance"]) < 0.1
assert nwm_area_controls["pixel_count"] > 0.9, "the input's pixel count knows the area"
assert drum_area["mean"] > 0.9, "the drum's spectra must carry the area"
assert drum_res["mean"] > drum_res["chance"] + 0.2, "the drum must hear shape above chance"
assert drum_res["mean"] > plain["mean"], "reading relative to the peak removes size"
assert nwm_area["mean"] > 0.5, "the NWM's spectra must carry the area"
assert nwm_res["mean"] > nwm_res["chance"] + 0.05, "the NWM must carry shape above chance"

fig = Figure(figsize=(6.4, 3.0), layout="constrained")
FigureCanvasAgg(fig)
ax_shape, ax_area = fig.subplots(1, 2)
who = ["fixed drum", "trained NWM"]
ax_shape.bar(who, [drum_res["mean"], nwm_res["mean"]],
             yerr=[drum_res["std"], nwm_res["std"]], color=["tab:orange", "tab:blue"],
             capsize=4)
ax_shape.axhline(drum_res["chance"], color="0.4", ls=":", label="chance")
ax_shape.set(ylabel="accuracy (fraction)", title="polygon shape (3-8 sides)", ylim=(0, 1))
ax_shape.legend(fontsize="small")
ax_area.bar(who, [drum_area["mean"], nwm_area["mean"]],
            yerr=[drum_area["std"], nwm_area["std"]], color=["tab:orange", "tab:blue"],
            capsize=4)
ax_area.set(ylabel="R² (fraction of variance)", title="polygon area", ylim=(0, 1))
save(fig, "decoding_polygons.png")

# %% [markdown]
# ## 4. Wave speed from where the power lies
# A plane wave whose frequency and wavenumber fall between FFT bins (with noise), read by
# `kw_speed`; the k-ω spectrum shows its power on the line `f = speed * k`.

# %%
pw = simulate.plane_wave((24, 28), n_times=300, sfreq=100.0, frequency=7.3, speed=37.0,
                         direction=0.7, spacing=1.5, noise=0.3, seed=2, space_units="mm",
                         source="recording")
out = kw_speed(pw)
speed, direction = out["speed"].item(), out["direction"].item()
print(f"plane wave, true 37 mm/s at 0.7 rad: {speed:.2f} {out['speed'].attrs['units']} at "
      f"{direction:.3f} rad")
assert abs(speed / 37.0 - 1) < 0.02 and abs(direction - 0.7) < 0.02

line = simulate.plane_wave((64,), n_times=256, sfreq=100.0, frequency=7.3, speed=37.0,
                           spacing=1.5, noise=0.3, seed=3, space_units="mm",
                           source="recording")
fig = plotting.plot_kw(kw_spectrum(line).sel(freq=slice(0, 20)), speeds=[37.0])
fig.axes[0].set_title("k-ω power of a plane wave at 37 mm/s")
save(fig, "kw_plane_wave.png")
ws.validate(line)
