# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Hearing the shape of a drum
#
# Wave dynamics turn geometry into frequencies. A *drum* here is the Neural Wave Machine
# cell with its coupling fixed to the discrete Laplacian, no natural frequency or damping,
# on a binary mask with the field clamped to zero outside (MODELS.md §8). We ring drums of
# many shapes, hear their area from the fundamental frequency, tell shapes of equal area
# apart from their spectra, and read wave speeds from space-time spectra.
#
# Run: `PYTHONPATH=. python tutorials/hear_the_drum.py` (about a minute on one core).

# %%
import numpy as np

import wavescope as ws
from wavescope import drums, simulate
from wavescope.analysis import SpectralFeatures, decode, kw_speed

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The area of a square drum from its fundamental
# Squares of side 6 to 30 pixels, rung by displacing their whole interior. The fundamental
# is measured from the spectrum of each drum's mean displacement (Hann window, 4x zero
# padding, parabolic peak refinement) and inverted with the exact discrete dispersion
# relation of the grid and of the symplectic Euler step (see `area_from_frequency`).

# %%
sides = np.arange(6, 31)
masks = np.stack([drums.square(int(s), size=32) for s in sides])
ring = drums.drum(masks, n_steps=4000, dt=0.1, record_every=10, progress=False)
f = drums.fundamental_frequency(ring)
area = drums.area_from_frequency(f, dt=0.1).values
true = sides**2.0
r2 = 1 - np.sum((area - true) ** 2) / np.sum((true - true.mean()) ** 2)
err = np.abs(area / true - 1)
naive = drums.area_from_frequency(f, dt=0.1, grid=False).values  # A = 2 pi^2 c^2 / omega^2
print(f"squares 6..30: R2 = {r2:.6f}, max error {100 * err.max():.4f} %")
print(f"continuous formula without the grid correction: max error "
      f"{100 * np.abs(naive / true - 1).max():.1f} %")

# %% [markdown]
# ## 2. Other shapes: Weyl-type scaling with a half-pixel correction
# For a disc or an equilateral triangle, `area_from_frequency` uses the continuum constant
# C = lambda_1 * A of the shape and grows the shape by half a pixel along its normals.

# %%
for shape, make in (("disc", lambda a: drums.disc(area=a, size=34, centre=(16.3, 16.6))),
                    ("triangle", lambda a: drums.polygon(3, area=a, size=48,
                                                         rotation=np.pi / 2))):
    targets = [50, 100, 200, 400, 600]
    m = np.stack([make(a) for a in targets])
    d = drums.drum(m, 1600, 0.5, progress=False)
    est = drums.area_from_frequency(drums.fundamental_frequency(d), dt=0.5, shape=shape)
    rel = est.values / d["area"].values - 1
    print(f"{shape}: areas {d['area'].values.tolist()} -> errors "
          f"{np.round(100 * rel, 1).tolist()} %")


# %% [markdown]
# ## 3. Telling shapes of equal area apart
# Five shapes, all of 150 pixels, each at a random rotation and sub-pixel position (which
# changes its pixels), 20 of each. Features: the log FFT magnitude of every pixel's time
# series, averaged over the grid (position-free); a cross-validated logistic regression.

# %%
def equal_area_set(n_per_class, area=150, size=26, seed=0):
    rng = np.random.default_rng(seed)
    sides = {"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6, "disc": 0}
    masks, labels = [], []
    for name, n in sides.items():
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


masks, labels = equal_area_set(20)
features = SpectralFeatures(pool="mean", log=True)
for init in ("uniform", "random"):
    d = drums.drum(masks, 2000, 0.1, record_every=5, init=init, seed=1, progress=False)
    res = decode(d, labels, features=features, cv=5)
    print(f"5 shapes of {masks.sum((1, 2)).min()}-{masks.sum((1, 2)).max()} pixels, "
          f"init={init}: accuracy {res['mean']:.3f} +- {res['std']:.3f} "
          f"(chance {res['chance']:.2f})")

# %% [markdown]
# ## 4. Decoding the area with the same API (regression)

# %%
masks, areas = [], []
for _ in range(80):
    a, n = rng.uniform(40, 300), rng.choice([0, 3, 4, 6])
    centre = 15.5 + rng.uniform(-0.5, 0.5, 2)
    masks.append(drums.disc(area=a, size=32, centre=centre) if n == 0 else
                 drums.polygon(n, area=a, size=32, centre=centre,
                               rotation=rng.uniform(0, 2 * np.pi)))
masks = np.stack(masks)
d = drums.drum(masks, 2000, 0.1, record_every=5, progress=False)
res = decode(d, d["area"].values, task="regression", features=features)
print(f"area of mixed shapes (40-300 px) from spectra: cross-validated R2 = {res['mean']:.3f}")

# %% [markdown]
# ## 5. Wave speed from where the power lies
# A plane wave between FFT bins (with noise), and the Wave-RNN's wave: a pattern shifting
# one unit per step around a ring.

# %%
pw = simulate.plane_wave((24, 28), n_times=300, sfreq=100.0, frequency=7.3, speed=37.0,
                         direction=0.7, spacing=1.5, noise=0.3, seed=2, space_units="mm",
                         source="recording")
out = kw_speed(pw)
print(f"plane wave, true 37 mm/s at 0.7 rad: {out['speed'].item():.2f} "
      f"{out['speed'].attrs['units']} at {out['direction'].item():.3f} rad")
pattern = rng.standard_normal(64)
frames = np.stack([np.roll(pattern, t) for t in range(200)])
ring = ws.from_array(frames, ("time", "x"), sfreq=1.0, periodic=True)
for method in ("peak", "ridge"):
    print(f"ring shift, {method}: {kw_speed(ring, method=method)['speed'].item():.4f} unit/step")
