# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 1. Training a Neural Wave Machine and exporting its hidden states
#
# The Neural Wave Machine (NWM, Jacobs et al. 2025) is a field of coupled oscillators over
# the image grid: encoders read an image once and set each pixel's natural frequency,
# damping and starting position; the field then runs freely for T steps, and a readout over
# time labels every pixel. Here it learns to segment images of regular polygons (3 to 8
# sides) by their number of sides. Then we export its hidden states as an xarray Dataset in
# the wavescope data model, the input of every analysis in tutorials 2 and 3.
#
# ```bash
# python tutorials/01_train_and_export.py                     # full size, about 5 minutes
# WAVESCOPE_TUTORIAL_SIZE=small python tutorials/01_train_and_export.py   # CI, seconds
# ```

# %%
import json
import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import wavescope as ws
from wavescope import plotting
from wavescope.training import (
    TrainConfig,
    evaluate,
    export_hidden_states,
    load_run,
    read_metrics,
    train,
)

SMALL = os.environ.get("WAVESCOPE_TUTORIAL_SIZE", "full") == "small"
FIGURES = Path(os.environ.get("WAVESCOPE_FIGURES", "docs/figures"))
WORK = Path(os.environ.get("WAVESCOPE_TUTORIAL_OUT", "tutorial-output"))


def save(fig, name):
    if not SMALL:
        FIGURES.mkdir(parents=True, exist_ok=True)
        fig.savefig(FIGURES / name, dpi=90)


# %% [markdown]
# ## A run is a config
# Everything that defines a run is one `TrainConfig`; its JSON sits in the run folder, and
# the same config trained again gives the same numbers (it resumes, or returns at once if
# finished). The same fields are flags of `wavescope train` (`wavescope train --help`).
# The three tutorials share this run; its config is written once, in `_polygons.py`.

# %%
from _polygons import polygon_run_config  # noqa: E402

config = polygon_run_config(SMALL, WORK)
size = config.task_kwargs["height"]
print(config.to_json())

# %%
run = train(config)
rows = read_metrics(run)
test = json.loads((run / "test_metrics.json").read_text())
print(f"run folder: {run}")
print(f"{len(rows)} evaluation(s); last: train loss {rows[-1]['train_loss']:.3f}, "
      f"val loss {rows[-1]['val_loss']:.3f}")
print({k: round(v, 3) for k, v in test.items() if not k.startswith("iou_")})

# %% [markdown]
# ## What the numbers mean
# Most pixels are background, so pixel accuracy must be read against the score of
# predicting background everywhere. Foreground accuracy (pixels inside a polygon that get
# the right number of sides) has chance level 1/6. `evaluate` scores any split again
# from the saved checkpoint.

# %%
_, task, model = load_run(run)
masks = np.concatenate([m.numpy()[None] for _, m in task.datasets(config.data_root)["test"]])
background = float(np.mean(masks == 0))
n_params = sum(p.numel() for p in model.parameters())
print(f"{n_params:,} parameters; background-only pixel accuracy {background:.3f}; "
      f"NWM {test['pixel_accuracy']:.3f}")
assert evaluate(run, "test") == test  # the checkpoint reproduces the recorded numbers
assert rows[-1]["val_loss"] < rows[0]["val_loss"], "training lowers the validation loss"
assert np.isfinite(test["loss"]) and test["loss"] < np.log(7), "better than uniform guessing"
if not SMALL:
    assert test["pixel_accuracy"] > background + 0.01, "the NWM must beat background-only"

# %% [markdown]
# ## Exporting the hidden states
# `export_hidden_states` runs the model on a split and returns a Dataset: `hidden` with dims
# (trial, time, feature, y, x), time in steps x dt with `sfreq = 1/dt`, positions in pixels,
# `source="model"`; the inputs and masks beside it; the training config in the attributes.
# It is a valid activity, so every analysis reads it unchanged. `wavescope export RUN -o
# FILE` does the same from the command line.

# %%
ds = export_hidden_states(run, split="test", n_trials=8 if SMALL else 32)
path = ws.save(ds, WORK / "hidden_states.nc")
back = ws.load(path)
hidden = back["hidden"]
ws.validate(hidden)
print(hidden.sizes, hidden.attrs["sfreq"], hidden.attrs["space_units"],
      hidden.attrs["source"])
assert hidden.dims == ("trial", "time", "feature", "y", "x")
assert hidden.sizes["time"] == config.model_kwargs["steps"] and hidden.sizes["y"] == size
assert hidden.attrs["sfreq"] == 1 / config.model_kwargs["dt"] and hidden.attrs["source"] == "model"
assert TrainConfig.from_dict(json.loads(back.attrs["train_config"])) == config
np.testing.assert_array_equal(back["hidden"].values, ds["hidden"].values)  # exact round trip

# %% [markdown]
# The exported states, frame by frame: the field starts from the encoders' y₀ and waves
# run from the polygon's edges across the grid. `plotting.animate` writes the same as a GIF.

# %%
fig = Figure(figsize=(9.0, 2.6), layout="constrained")
FigureCanvasAgg(fig)
axes = fig.subplots(1, 4)
frames = np.linspace(0, hidden.sizes["time"] - 1, 4).astype(int)
# The whole field also rises together (its common mode); each frame is drawn about its
# spatial mean, so what moves across the grid shows.
movie = hidden.isel(trial=0, feature=0)
movie = (movie - movie.mean(("y", "x"))).assign_attrs(movie.attrs)
lim = float(np.abs(movie).max())
for ax, i in zip(axes, frames, strict=True):
    art = ax.pcolormesh(movie["x"], movie["y"], movie.isel(time=i), cmap="RdBu_r",
                        vmin=-lim, vmax=lim)
    ax.contour(movie["x"], movie["y"], back["label"].isel(trial=0) > 0, levels=[0.5],
               colors="k", linewidths=0.8)
    ax.set(aspect="equal", xlabel="x (pixel)", ylabel="y (pixel)",
           title=f"t = {float(hidden['time'][i]):.3g} (step·dt)")
fig.colorbar(art, ax=axes, label="y − spatial mean (a.u.)")
save(fig, "nwm_hidden_frames.png")
if not SMALL:  # the movie goes with the run, not into docs/
    plotting.animate(movie, WORK / "nwm_hidden.gif", fps=8, progress=False)

fig = Figure(figsize=(7.0, 3.0), layout="constrained")
FigureCanvasAgg(fig)
ax_loss, ax_acc = fig.subplots(1, 2)
epochs = [r["epoch"] for r in rows]
ax_loss.plot(epochs, [r["train_loss"] for r in rows], "-o", label="train")
ax_loss.plot(epochs, [r["val_loss"] for r in rows], "--s", label="validation")
ax_loss.set(xlabel="epoch", ylabel="cross-entropy (nats/pixel)")
ax_acc.plot(epochs, [r["val_pixel_accuracy"] for r in rows], "-o", label="NWM, validation")
ax_acc.axhline(background, color="0.5", ls=":", label="background only")
ax_acc.set(xlabel="epoch", ylabel="pixel accuracy (fraction)")
for ax in (ax_loss, ax_acc):
    ax.legend(fontsize="small")
save(fig, "nwm_training.png")
