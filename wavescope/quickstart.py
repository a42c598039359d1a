"""The main job end to end: ``wavescope quickstart``.

Train a small Neural Wave Machine on polygon images, export its hidden states, detect
travelling waves in them, compute their spectra and decode each image's shape from them
(beside the fixed drum of the same shapes), detect alpha waves in the bundled EEG with
surrogate p-values, draw the figures and write a summary page that links every file.

Every step is a function of one :class:`Quickstart` folder and can run alone, once the
steps before it have written their files (``wavescope quickstart OUT --step waves``):

=========  ==========================================================================
step       writes (inside OUT)
=========  ==========================================================================
simulate   ``simulated.nc``: a plane wave, then a rotating wave (known truth)
data       ``data/polygons/``: the polygon images and masks (cached, checksummed)
train      ``runs/<run>/``: config, metrics per epoch, checkpoints, test metrics
export     ``hidden_states.nc``: hidden states, inputs, masks, shape and area labels
waves      ``waves_simulated.nc``, ``waves_model.nc``: wave events and frame measures
spectra    ``spectra.nc``, ``decoding.csv``: spectra of the hidden states; decoding
           scores of shape and area from the NWM's and from the fixed drum's spectra,
           each beside its controls in the same folds (shuffled labels, the input's pixel
           count and |FFT2|, mean |state|, amplitude-free spectra, peak frequency)
eeg        ``waves_eeg.nc``: alpha-band wave events in the bundled EEG, with p-values
figures    ``figures/*.png``, ``hidden_waves.gif``
summary    ``summary.md``: what was found (numbers with their budgets), links to all
           files; ``report.html``: the same as one HTML page with the figures
=========  ==========================================================================

Each finished step records its numbers, files, wall time and summary lines in
``OUT/metrics.json``. Every file is written atomically (a temporary file in the same folder,
then :func:`os.replace`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from . import _safeio
from .report import REPORT_FILE, make_report

__all__ = [
    "Budget",
    "FULL",
    "SMALL",
    "Quickstart",
    "StepResult",
    "STEPS",
    "SHAPES",
    "RATIOS",
    "run_quickstart",
    "run_step",
    "centre_on_masks",
    "model_phase",
    "relative_spectrum",
    "drum_of_masks",
    "with_shape_labels",
    "event_summary",
    "write_text",
    "save_figure",
]

#: Names of the polygon classes of :mod:`wavescope.training.data.polygons` (class = sides - 2).
SHAPES = ("triangle", "square", "pentagon", "hexagon", "heptagon", "octagon")


# ------------------------------------------------------------------------------ budget


@dataclass(frozen=True)
class Budget:
    """How much every step computes.

    Parameters
    ----------
    image_size : int
        Polygon images are ``image_size`` x ``image_size`` pixels.
    n_train, n_val, n_test : int
        Polygon images per split (one polygon each, 3 to 8 sides).
    steps : int
        Recorded time steps T of the NWM.
    dt : float
        NWM time step (time units per step).
    channels : int
        Oscillator channels C of the NWM.
    head : str
        Per-pixel head of the NWM ("mlp32x5" is the fast one).
    readout : str
        Readout over time: "fft" (the magnitude spectrum of every pixel's time course; in
        short trainings it did not collapse in any of 4 seeds, where "linear" collapsed to
        all-background in 1 of 3).
    epochs, batch_size, lr
        Training budget (Adam).
    n_export : int
        Test images whose hidden states are exported and analysed.
    n_surrogates_model, n_surrogates_eeg : int
        Surrogates per wave event p-value.
    eeg_seconds : float or None
        Length of the EEG excerpt analysed (None: all 61 s).
    drum_steps : int
        Updates of the fixed drum (dt 0.1) whose spectra are decoded beside the NWM's.
    threads : int or None
        Torch threads for training (None: torch's default). One by default: the NWM's
        tensors are small, so a second thread gains little, and on a busy machine
        competing threads make training several times slower.
    """

    image_size: int = 32
    n_train: int = 3000
    n_val: int = 200
    n_test: int = 300
    steps: int = 50
    dt: float = 0.2
    channels: int = 2
    head: str = "mlp32x5"
    readout: str = "fft"
    epochs: int = 4
    batch_size: int = 32
    lr: float = 1e-3
    n_export: int = 120
    n_surrogates_model: int = 19
    n_surrogates_eeg: int = 99
    eeg_seconds: float | None = None
    drum_steps: int = 2000
    threads: int | None = 1

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


#: The budget of ``wavescope quickstart`` (about 8 minutes on two CPU cores).
FULL = Budget()
#: The budget of ``wavescope quickstart --small`` (under a minute; used by the tests).
SMALL = Budget(image_size=24, n_train=192, n_val=32, n_test=60, steps=20, dt=0.3, epochs=3,
               batch_size=16, n_export=60, n_surrogates_model=9, n_surrogates_eeg=19,
               eeg_seconds=10.0, drum_steps=300)


# ------------------------------------------------------------------------------ folder


@dataclass
class StepResult:
    """What a step found.

    Attributes
    ----------
    results : dict
        Numbers (JSON values), recorded in ``metrics.json``.
    files : list of str
        Files written, relative to the quickstart folder.
    lines : list of str
        Markdown sentences for the summary (and the terminal).
    """

    results: dict = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


class Quickstart:
    """One quickstart folder: where each step reads and writes, and its metrics record.

    Parameters
    ----------
    out : path
        The folder (created when missing).
    budget : Budget
        Sizes of the steps.
    seed : int
        Seeds data, model, surrogates and folds.
    progress : bool
        Show progress bars.
    """

    METRICS = "metrics.json"

    def __init__(self, out, budget: Budget = FULL, *, seed: int = 0, progress: bool = True):
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(f"{out} exists and is not a folder; choose another OUT")
        if not isinstance(budget, Budget):
            raise TypeError(f"budget must be a wavescope.quickstart.Budget, got "
                            f"{type(budget).__name__}")
        self.out, self.budget, self.seed, self.progress = out, budget, int(seed), bool(progress)

    # paths ---------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        """``out / name``, its folder created."""
        p = self.out / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def need(self, name: str, step: str) -> Path:
        """``out / name``, which an earlier ``step`` writes; a clear error when missing."""
        p = self.out / name
        if not p.exists():
            raise FileNotFoundError(
                f"{p} is missing: run the '{step}' step first (wavescope quickstart "
                f"{self.out} --step {step}), or the whole quickstart")
        return p

    def train_config(self):
        """The :class:`~wavescope.training.TrainConfig` of the NWM run."""
        from .training import TrainConfig

        b = self.budget
        return TrainConfig(
            task="polygons", model="nwm", head=b.head, readout=b.readout,
            model_kwargs={"steps": b.steps, "dt": b.dt, "channels": b.channels},
            task_kwargs={"sizes": self.sizes(), "seed": self.seed, "height": b.image_size,
                         "width": b.image_size},
            epochs=b.epochs, batch_size=b.batch_size, lr=b.lr, seed=self.seed,
            data_root=str(self.out / "data"), out_dir=str(self.out / "runs"),
            progress=self.progress, threads=b.threads)

    def sizes(self) -> dict[str, int]:
        b = self.budget
        return {"train": b.n_train, "val": b.n_val, "test": b.n_test}

    # metrics -------------------------------------------------------------------------
    def metrics(self) -> dict:
        """The folder's ``metrics.json`` (empty record when there is none)."""
        p = self.out / self.METRICS
        if not p.exists():
            return {"steps": {}}
        return json.loads(p.read_text())

    def settings(self) -> dict:
        return {"budget": self.budget.to_dict(), "seed": self.seed}

    def record(self, step: str, result: StepResult, seconds: float) -> None:
        """Store a step's result in ``metrics.json`` (atomically)."""
        from . import __version__

        data = self.metrics()
        data.update(self.settings(), wavescope=__version__)
        data.setdefault("steps", {})[step] = {
            "seconds": round(float(seconds), 2), "results": result.results,
            "files": result.files, "lines": result.lines}
        write_text(self.out / self.METRICS, json.dumps(data, indent=2, default=_json) + "\n")

    def check_settings(self) -> None:
        """Refuse to mix results of another budget or seed in one folder."""
        old = self.metrics()
        if old.get("steps") and {k: old.get(k) for k in ("budget", "seed")} != self.settings():
            raise ValueError(
                f"{self.out} holds results made with other settings (budget or seed; see "
                f"{self.out / self.METRICS}); use the same options or another folder")


def _json(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in metrics.json")


def write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    return _safeio.write_text(path, text)


def save_figure(fig, path, dpi: int = 100) -> Path:
    """Save a matplotlib figure as PNG atomically; returns the path."""
    with _safeio.safe_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=dpi)
    return Path(path)


def _rel(qs: Quickstart, *paths) -> list[str]:
    return [Path(p).relative_to(qs.out).as_posix() for p in paths]


# ------------------------------------------------------------------------------ steps


def step_simulate(qs: Quickstart) -> StepResult:
    """A plane wave, then a rotating wave, on a 32 x 32 grid with 10 % noise (known truth)."""
    from . import io, simulate

    kw = dict(n_times=200, sfreq=100.0, frequency=5.0, noise=0.1)
    plane = simulate.plane_wave((32, 32), speed=50.0, direction=np.pi / 4, seed=qs.seed, **kw)
    rotating = simulate.rotating_wave((32, 32), sense="ccw", seed=qs.seed + 1, **kw)
    recording = simulate.sequence(plane, rotating).rename("activity")
    path = io.save(recording, qs.path("simulated.nc"))
    segments = simulate.truth(recording)["segments"]
    lines = [f"Simulated {_sizes(recording.sizes)}: "
             + "; ".join(_segment_text(s) for s in segments) + "."]
    return StepResult({"segments": segments}, _rel(qs, path), lines)


def _segment_text(seg: dict) -> str:
    what = (f"rotating wave ({seg['sense']})" if seg["kind"] == "rotating" else
            f"{seg['kind']} wave at {seg['speed']:g} pixel/step, direction "
            f"{seg['direction']:.2f} rad")
    return f"t = {seg['start']:g}-{seg['stop']:g}: {what}, {seg['frequency']:g} cycles/step"


def _sizes(sizes) -> str:
    return " x ".join(f"{n} {d}" for d, n in sizes.items())


def step_data(qs: Quickstart) -> StepResult:
    """Generate (or load from the cache) the polygon images of the three splits."""
    from .training.data.polygons import polygons

    b = qs.budget
    splits = polygons(qs.out / "data" / "polygons", qs.sizes(), seed=qs.seed,
                      height=b.image_size, width=b.image_size)
    test_masks = splits["test"]["masks"]
    background = float(np.mean(test_masks == 0))
    counts = np.bincount(splits["test"]["labels"], minlength=len(SHAPES) + 1)[1:]
    files = sorted(p for p in (qs.out / "data" / "polygons").iterdir() if p.is_file())
    results = {"sizes": qs.sizes(), "image_size": b.image_size,
               "background_accuracy": background,
               "test_shape_counts": dict(zip(SHAPES, counts.tolist(), strict=True))}
    lines = [f"Polygon data: {b.n_train}/{b.n_val}/{b.n_test} train/val/test images of "
             f"{b.image_size}x{b.image_size} pixels, one filled regular polygon (3-8 sides) "
             f"each; predicting background everywhere scores pixel accuracy "
             f"{background:.3f} on the test split."]
    return StepResult(results, _rel(qs, *files), lines)


def step_train(qs: Quickstart) -> StepResult:
    """Train the NWM to segment the polygons (per-pixel shape class)."""
    from .training import read_metrics, train

    config = qs.train_config()
    run = train(config)
    test = json.loads((run / "test_metrics.json").read_text())
    rows = read_metrics(run)
    background = qs.metrics()["steps"].get("data", {}).get("results", {}).get(
        "background_accuracy")
    n_params = _n_params(run)
    results = {"run": _rel(qs, run)[0], "test": test, "epochs": len(rows),
               "train_seconds": rows[-1]["time_s"] if rows else None, "n_params": n_params,
               "background_accuracy": background}
    b = qs.budget
    budget = (f"{b.epochs} epochs of {b.n_train} images, batch {b.batch_size}, Adam lr "
              f"{b.lr:g}, T = {b.steps}, dt = {b.dt:g}, C = {b.channels}, {n_params:,} "
              f"parameters, {results['train_seconds'] or 0:.0f} s")
    vs = f" (background only: {background:.3f})" if background is not None else ""
    lines = [f"NWM test pixel accuracy **{test['pixel_accuracy']:.3f}**{vs}, foreground "
             f"accuracy {test['fg_accuracy']:.3f} (chance 1/6 = 0.167), mean IoU "
             f"{test['miou']:.3f} - budget: {budget}."]
    if test.get("collapsed"):
        lines.append("The network predicts background everywhere: where short trainings "
                     "start, and where runs that collapse stay (the papers report such "
                     "collapses); train longer or try another --seed.")
    files = [run / n for n in ("config.json", "metrics.csv", "test_metrics.json",
                               "checkpoint_best.pt")]
    return StepResult(results, _rel(qs, *files), lines)


def _n_params(run: Path) -> int:
    from .training import load_run

    _, _, model = load_run(run)
    return int(sum(p.numel() for p in model.parameters()))


def step_export(qs: Quickstart) -> StepResult:
    """Export the hidden states of test images, with each image's shape and area."""
    from . import io
    from .training import TrainConfig, export_hidden_states

    run = qs.train_config().run_dir()
    if not (run / "test_metrics.json").exists():
        qs.need(Path(run, "test_metrics.json").relative_to(qs.out).as_posix(), "train")
    TrainConfig.load(run)  # a readable config, else a clear error before the long part
    ds = export_hidden_states(run, split="test", n_trials=qs.budget.n_export)
    ds = with_shape_labels(ds)
    path = io.save(ds, qs.path("hidden_states.nc"))
    size = path.stat().st_size / 1e6
    lines = [f"Exported hidden states {_sizes(ds['hidden'].sizes)} ({size:.1f} MB), with "
             f"each image's shape and area."]
    results = {"sizes": dict(ds["hidden"].sizes), "megabytes": size}
    return StepResult(results, _rel(qs, path), lines)


def with_shape_labels(ds: xr.Dataset) -> xr.Dataset:
    """Add per-trial ``shape`` (class 1-6, see :data:`SHAPES`), ``shape_name`` and ``area``
    (pixels) to an exported polygon Dataset whose ``label`` holds the masks."""
    if "label" not in ds or ds["label"].dims != ("trial", "y", "x"):
        raise ValueError("expected a Dataset with masks 'label' (trial, y, x), as exported "
                         "from a polygons run")
    masks = ds["label"].values
    shape = masks.reshape(len(masks), -1).max(axis=1).astype(np.int64)
    area = (masks > 0).reshape(len(masks), -1).sum(axis=1)
    names = np.array(("background",) + SHAPES)
    return ds.assign(shape=("trial", shape, {"units": "class"}),
                     shape_name=("trial", names[shape]),
                     area=("trial", area, {"units": "pixel^2"}))


def step_waves(qs: Quickstart) -> StepResult:
    """Detect wave events in the simulated recording (against its truth) and in the NWM's
    hidden states, with surrogate p-values."""
    from . import io
    from .analysis import detect_waves, kw_speed, local_pgd, surrogates

    b = qs.budget
    sim = io.load(qs.need("simulated.nc", "simulate"))
    truth = json.loads(sim.attrs["truth"])["segments"]
    band_sim = (0.6 * truth[0]["frequency"], 1.4 * truth[0]["frequency"])
    ev_sim = detect_waves(sim, band_sim, n_surrogates=b.n_surrogates_model, seed=qs.seed)
    p_sim = io.save(ev_sim, qs.path("waves_simulated.nc"))
    sim_res = _check_simulated(ev_sim, truth)

    ds = io.load(qs.need("hidden_states.nc", "export"))
    hidden = ds["hidden"].isel(feature=0)
    # Each polygon launches its own waves: cut the window closest to centred on its polygon,
    # inside the grid. Rolling would be exact on the torus, but the encoder zero-pads the
    # image, so a rolled crop carries the image border through it as a seam.
    centred = centre_on_masks(hidden, ds["label"].values > 0, roll=False)
    z = model_phase(centred)
    ev = detect_waves(z, n_surrogates=b.n_surrogates_model, seed=qs.seed, progress=qs.progress)
    p_model = io.save(ev, qs.path("waves_model.nc"))
    model_res = event_summary(ev)
    shuffled = surrogates(centred, n=1, seed=qs.seed, dim="surrogate").isel(surrogate=0)
    model_res["local_pgd"] = float(local_pgd(z, _TILE).mean())
    model_res["local_pgd_shuffled"] = float(local_pgd(model_phase(shuffled), _TILE).mean())
    model_res["kw_speed"] = float(np.nanmedian(np.abs(
        kw_speed(hidden, method="ridge")["speed"].values)))

    planar = sim_res["planar"]
    su = f"{hidden.attrs.get('space_units')}/{_tu(hidden)}"
    lines = [
        f"Simulated plane wave: {100 * planar['share']:.0f} % of its frames detected as "
        f"planar, mean PGD **{planar['pgd']:.2f}**, speed {planar['speed']:.1f} pixel/step "
        f"(true {planar['true_speed']:g}), direction {planar['direction']:.2f} rad (true "
        f"{planar['true_direction']:.2f}); rotating wave: "
        f"{100 * sim_res['rotating']['share']:.0f} % of its frames detected as rotating "
        f"({sim_res['rotating']['sense']}).",
        _event_line("NWM hidden states (feature 0, each image centred on its polygon)",
                    model_res, f"{hidden.sizes['trial']} test images, "
                    f"{b.n_surrogates_model} surrogates per event", hidden)
        + f" Local PGD in {_TILE}x{_TILE}-pixel windows **{model_res['local_pgd']:.2f}** "
        f"(pixels shuffled in space: {model_res['local_pgd_shuffled']:.2f}); k-omega ridge "
        f"speed {model_res['kw_speed']:.2f} {su} (time in steps x dt).",
    ]
    return StepResult({"simulated": sim_res, "model": model_res},
                      _rel(qs, p_sim, p_model), lines)


def _tu(da) -> str:
    return da.attrs.get("time_units", "s")


#: Side of the windows of :func:`wavescope.analysis.local_pgd`, in sites.
_TILE = 8


def centre_on_masks(hidden: xr.DataArray, masks: np.ndarray, keep: float = 0.75, *,
                    roll: bool = True) -> xr.DataArray:
    """Roll each trial of a periodic grid activity so its mask's centroid sits in the
    middle, and keep the central ``keep`` fraction of the grid (no longer periodic).

    Parameters
    ----------
    hidden : xarray.DataArray
        (trial, time, y, x) on a periodic grid (the NWM's torus).
    masks : numpy.ndarray of bool
        (trial, y, x): the object of each trial.
    keep : float
        Fraction of each side kept.
    roll : bool
        True: roll, exact on a torus; but where the input was zero-padded (the NWM's
        encoder), the grid's border lands inside the crop as a seam. False: cut the
        window that is closest to centred on the object and lies inside the grid (no
        seam; an object near the border sits off-centre).
    """
    from .core import from_array

    if hidden.dims != ("trial", "time", "y", "x"):
        raise ValueError(f"expected dims (trial, time, y, x), got {hidden.dims}")
    if masks.shape != (hidden.sizes["trial"], hidden.sizes["y"], hidden.sizes["x"]):
        raise ValueError(f"masks {masks.shape} do not match the activity {hidden.shape}")
    out = _centred(hidden.values, masks, keep, roll=roll)
    return from_array(out, hidden.dims, sfreq=hidden.attrs["sfreq"],
                      t0=float(hidden["time"][0]), units=hidden.attrs.get("units"),
                      time_units=_tu(hidden), space_units=hidden.attrs.get("space_units"),
                      source=hidden.attrs.get("source", "model"), periodic=False,
                      name=hidden.name)


def _centred(values: np.ndarray, masks: np.ndarray, keep: float, *, roll: bool = True
             ) -> np.ndarray:
    """``values`` (trial, ..., y, x) rolled per trial to its mask's centroid and cropped
    (``roll=False``: cropped around it, inside the grid)."""
    ny, nx = masks.shape[1:]
    cy, cx = int(round(ny * keep)), int(round(nx * keep))
    y0, x0 = (ny - cy) // 2, (nx - cx) // 2
    out = np.empty(values.shape[:-2] + (cy, cx), values.dtype)
    for i, mask in enumerate(masks):
        ys, xs = np.nonzero(mask)
        my, mx = int(round(ys.mean())), int(round(xs.mean()))
        if roll:
            shift = (ny // 2 - my, nx // 2 - mx)
            out[i] = np.roll(values[i], shift, axis=(-2, -1))[..., y0:y0 + cy, x0:x0 + cx]
        else:
            wy, wx = min(max(my - cy // 2, 0), ny - cy), min(max(mx - cx // 2, 0), nx - cx)
            out[i] = values[i][..., wy:wy + cy, wx:wx + cx]
    return out


def model_phase(hidden: xr.DataArray, *, common: bool = True) -> xr.DataArray:
    """Analytic signal of hidden states about each site's mean over time.

    The NWM's states oscillate about offsets set by the encoders (and drift); the phase
    of the oscillation is that of the mean-removed signal. No band-pass: a roll-out is
    only a few cycles long, too short for a filter's edge transients.

    Parameters
    ----------
    hidden : xarray.DataArray
        Hidden states (..., time, y, x).
    common : bool
        Keep the common mode (the whole field moving together). False also removes each
        frame's mean over space, which leaves the waves that travel across the field.
    """
    from .analysis import analytic_signal

    x = hidden - hidden.mean("time")
    if not common:
        x = x - x.mean(("y", "x"))
    return analytic_signal(x.assign_attrs(hidden.attrs))


def _check_simulated(ev: xr.Dataset, truth: list[dict]) -> dict:
    """Per true segment, the share of its frames given the true pattern, and the measured
    speed and direction over them."""
    times = ev["time"].values
    pattern = ev["frame_pattern"].values
    out = {}
    for seg in truth:
        sel = (times >= seg["start"]) & (times < seg["stop"])
        # the band-pass filter rings at the edges: judge the middle 80 % of each segment
        span = seg["stop"] - seg["start"]
        sel &= (times >= seg["start"] + 0.1 * span) & (times < seg["stop"] - 0.1 * span)
        if seg["kind"] == "plane":
            hit = pattern[sel] == "planar"
            d = ev["frame_direction"].values[sel][hit]
            out["planar"] = {
                "share": float(hit.mean()),
                "speed": float(np.nanmedian(ev["frame_speed"].values[sel][hit])),
                "direction": float(np.angle(np.nanmean(np.exp(1j * d)))),
                "true_speed": seg["speed"], "true_direction": seg["direction"],
                "pgd": float(np.nanmean(ev["frame_pgd"].values[sel]))}
        elif seg["kind"] == "rotating":
            want = f"rotating-{seg['sense']}"
            out["rotating"] = {"share": float(np.mean(pattern[sel] == want)),
                               "sense": seg["sense"]}
    return out


def event_summary(ev: xr.Dataset) -> dict:
    """Numbers of a :func:`~wavescope.analysis.detect_waves` result: events, events with
    p <= 0.05 and with Benjamini-Hochberg q <= 0.05 per pattern, the null that gave them, the
    share of frames per pattern, mean frame PGD, and the median speed and wavelength of
    planar frames."""
    pats = ev["pattern"].values
    frame = ev["frame_pattern"].values
    p = ev["p_value"].values
    q = ev["q_value"].values if "q_value" in ev else np.full(p.shape, np.nan)
    significance = json.loads(ev.attrs.get("significance", "{}") or "{}")
    labels, counts = np.unique(frame, return_counts=True)
    planar = frame == "planar"
    res = {
        "n_events": int(pats.size),
        "events": {str(k): int(np.sum(pats == k)) for k in np.unique(pats)},
        "significant": {str(k): int(np.sum((pats == k) & (p <= 0.05)))
                        for k in np.unique(pats)},
        "discoveries": {str(k): int(np.sum((pats == k) & (q <= 0.05)))
                        for k in np.unique(pats)},
        "null": significance.get("null"),
        "frame_share": {str(k): float(c / frame.size) for k, c in zip(labels, counts,
                                                                       strict=True)},
        "mean_pgd": float(np.nanmean(ev["frame_pgd"].values)),
        "planar_speed": float(np.nanmedian(ev["frame_speed"].values[planar]))
        if planar.any() else None,
        "planar_wavelength": float(np.nanmedian(ev["frame_wavelength"].values[planar]))
        if planar.any() else None,
        "speed_units": ev["speed"].attrs.get("units", ""),
        "min_p": float(np.nanmin(p)) if np.isfinite(p).any() else None,
    }
    return res


def _event_line(what: str, res: dict, budget: str, da) -> str:
    share = ", ".join(f"{k} {100 * v:.0f} %" for k, v in
                      sorted(res["frame_share"].items(), key=lambda kv: -kv[1]))
    sig = sum(res["significant"].values())
    found = sum(res["discoveries"].values())
    speed = ""
    if res["planar_speed"] is not None:
        speed = (f"; planar frames travel at a median {res['planar_speed']:.3g} "
                 f"{res['speed_units']} (wavelength {res['planar_wavelength']:.3g} "
                 f"{da.attrs.get('space_units', '')})")
    return (f"{what}: mean PGD **{res['mean_pgd']:.2f}**; frames {share}; "
            f"{res['n_events']} events, {sig} with p <= 0.05 and {found} with q <= 0.05 "
            f"(false discovery rate, {res['null']} null){speed} - budget: {budget}.")


def step_eeg(qs: Quickstart) -> StepResult:
    """Detect alpha-band (8-13 Hz) waves in the bundled eyes-closed EEG."""
    from . import datasets, io
    from .analysis import detect_waves, dominant_frequency

    b = qs.budget
    eeg = datasets.eeg_eyes_closed()
    if b.eeg_seconds is not None:
        eeg = eeg.isel(time=slice(0, int(round(b.eeg_seconds * eeg.attrs["sfreq"]))))
    occipital = eeg.sel(channel=["O1", "Oz", "O2"])
    alpha = float(dominant_frequency(occipital, fmin=4.0, fmax=30.0, method="welch",
                                     nperseg=int(4 * eeg.attrs["sfreq"])).median())
    ev = detect_waves(eeg, (8.0, 13.0), n_surrogates=b.n_surrogates_eeg, seed=qs.seed,
                      progress=qs.progress)
    path = io.save(ev, qs.path("waves_eeg.nc"))
    res = event_summary(ev)
    res.update(alpha_peak_hz=alpha, seconds=float(eeg.sizes["time"] / eeg.attrs["sfreq"]),
               n_channels=int(eeg.sizes["channel"]))
    budget = (f"{res['seconds']:.0f} s of {res['n_channels']} channels, "
              f"{b.n_surrogates_eeg} surrogates per event")
    lines = [f"Bundled EEG (PhysioNet S001R02, eyes closed): occipital alpha peak "
             f"{alpha:.1f} Hz.",
             _event_line("EEG alpha band (8-13 Hz)", res, budget, eeg)]
    return StepResult(res, _rel(qs, path), lines)


def step_spectra(qs: Quickstart) -> StepResult:
    """Spectra of the hidden states, and cross-validated decoding of each image's shape and
    area from the spectra of the trained NWM and of the fixed drum of the same mask, each
    beside the controls of :func:`~wavescope.analysis.decode_with_baselines`."""
    from . import io
    from .analysis import SpectralFeatures, decode_with_baselines, dominant_frequency, spectrum

    b = qs.budget
    ds = io.load(qs.need("hidden_states.nc", "export"))
    hidden = ds["hidden"]
    spec = spectrum(hidden, "fft", window="hann").mean(("y", "x"), keep_attrs=True)
    spec = spec.assign_coords(shape=("trial", ds["shape"].values),
                              shape_name=("trial", ds["shape_name"].values))
    path_spec = io.save(spec.rename("power"), qs.path("spectra.nc"))
    f0 = float(dominant_frequency(spec.mean(("trial", "feature"), keep_attrs=True)))

    shape, area = ds["shape"].values, ds["area"].values.astype(float)
    drum = drum_of_masks(ds["label"].values > 0, b.drum_steps, progress=qs.progress)
    # Area from the absolute frequencies (pooled log-FFT); shape from the spectrum relative
    # to its peak, which does not change with size (see relative_spectrum). Each decoder
    # stands beside its controls in the same folds (decode_with_baselines); the input
    # image's controls are scored once, with the NWM.
    pooled = SpectralFeatures(pool="mean", log=True)
    cv = _folds(shape)
    rows = []
    for source, data in (("NWM hidden states", hidden), ("fixed drum", drum)):
        inputs = ds["input"] if source == "NWM hidden states" else None
        for target, y, task, X, features, what in (
                ("shape", shape, "classification", relative_spectrum(data), "passthrough",
                 "log spectrum relative to its peak"),
                ("area", area, "regression", data, pooled, "pooled log-FFT")):
            table = decode_with_baselines(X, y, states=data, inputs=inputs, task=task,
                                          features=features, cv=cv, seed=qs.seed)
            table.loc[0, "description"] = what
            for r in table.to_dict("records"):
                src = "input image" if r["decoder"] in _INPUT_BASELINES else source
                rows.append({"source": src, "target": target, **r})
    path_dec = write_text(qs.path("decoding.csv"), _csv(rows))
    fu = spec["freq"].attrs.get("units", "")
    res = {"peak_frequency": f0, "freq_units": fu, "decoding": rows}
    n = len(shape)
    lines = [f"Hidden-state spectra: peak at {f0:.3g} {fu} (time in steps x dt)."]
    for r in rows:
        if r["decoder"] == "spectra":
            lines += _decoding_lines(r, rows, n, cv)
    return StepResult(res, _rel(qs, path_spec, path_dec), lines)


#: Controls of :func:`~wavescope.analysis.decode_with_baselines` that read the input image.
_INPUT_BASELINES = ("pixel_count", "input_fft2")


def _decoding_lines(main: dict, rows: list[dict], n: int, cv: int) -> list[str]:
    """The summary's sentences on one spectral decoder: its score, its controls, and
    whether it beats them."""
    score = {"r2": "R²"}.get(main["scoring"], main["scoring"])
    vs = f" (chance {main['chance']:.2f})" if main["target"] == "shape" else ""
    controls = [r for r in rows if r["target"] == main["target"] and r["decoder"] != "spectra"
                and r["source"] in (main["source"], "input image")]
    listed = "; ".join(f"{r['description']} {r['mean']:.2f}" for r in controls)
    beaten = [r for r in controls if r["control"] == "non-spectral" and r["mean"] >= main["mean"]]
    verdict = ("**The spectra do not beat** " + ", ".join(
        f"{r['description']} ({r['mean']:.2f})" for r in beaten) + "." if beaten else
        "The spectra beat every non-spectral control.")
    return [f"Decoding {main['target']} from {main['source']} spectra: {score} "
            f"**{main['mean']:.2f}** +- {main['std']:.2f}{vs} - budget: {n} test images, "
            f"{cv}-fold CV, {main['description']}, "
            + ("logistic regression." if main["target"] == "shape" else "ridge.")
            + f" Controls in the same folds ({score}): {listed}. {verdict}"]


#: Frequencies of :func:`relative_spectrum`, as multiples of each series' peak frequency.
RATIOS = np.geomspace(0.5, 6.0, 80)


def relative_spectrum(da: xr.DataArray, ratios=RATIOS, *, pad: int = 4) -> np.ndarray:
    """Scale-free spectral features: each trial's log power spectrum, averaged over space,
    read at fixed multiples of its own peak frequency.

    A drum (or any wave field) made ``s`` times larger sounds every mode ``s`` times lower,
    so its spectrum shifts along a log-frequency axis. Read at ``f = ratio * f_peak`` and
    taken relative to the peak, the spectrum no longer depends on size but keeps the
    ratios between the modes, which depend on shape.

    Parameters
    ----------
    da : xarray.DataArray
        Activity with ``trial`` and ``time`` dims (and space; other dims such as
        ``feature`` give one block of features each).
    ratios : array_like
        Multiples of the peak frequency to read (log-spaced by default).
    pad : int
        Zero-padding factor of the FFT (finer frequency sampling for the interpolation).

    Returns
    -------
    numpy.ndarray
        (n_trials, n_blocks * len(ratios)) log power relative to the peak (nepers).
    """
    from .analysis import spectrum
    from .core import space_dims, validate

    validate(da)
    if "trial" not in da.dims:
        raise ValueError(f"relative_spectrum needs a 'trial' dim, got dims {da.dims}")
    ratios = np.asarray(ratios, dtype=float)
    spec = spectrum(da, "fft", window="hann", n_fft=int(pad) * da.sizes["time"])
    power = spec.mean(space_dims(da)).transpose("trial", ..., "freq")
    freqs = power["freq"].values
    values = power.values.reshape(-1, freqs.size)
    floor = 1e-12 * values.max(axis=1, keepdims=True) + np.finfo(float).tiny
    logp = np.log(np.maximum(values, floor))
    out = np.empty((len(values), ratios.size))
    for i, row in enumerate(logp):
        k = 1 + int(np.argmax(row[1:]))  # the peak above DC
        out[i] = np.interp(freqs[k] * ratios, freqs, row, right=row[-1]) - row[k]
    return out.reshape(power.sizes["trial"], -1)


def drum_of_masks(masks: np.ndarray, n_steps: int, *, dt: float = 0.1, record_every: int = 5,
                  progress: bool = False) -> xr.DataArray:
    """Ring the fixed drum (the NWM cell with Laplacian coupling) on each mask.

    Masks are padded by two pixels of background, as a drum needs an empty border.
    """
    from . import drums

    masks = np.pad(np.asarray(masks, dtype=bool), ((0, 0), (2, 2), (2, 2)))
    return drums.drum(masks, n_steps, dt, record_every=record_every, progress=progress)


def _folds(labels: np.ndarray, most: int = 5) -> int:
    """Stratified folds: at most ``most``, at least 2, no more than the rarest class has."""
    counts = np.unique(labels, return_counts=True)[1]
    return int(max(2, min(most, counts.min())))


def _cell(value) -> str:
    text = str(value)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def _csv(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = [",".join(keys)]
    for r in rows:
        lines.append(",".join(f"{r[k]:.6g}" if isinstance(r[k], float) else _cell(r[k])
                              for k in keys))
    return "\n".join(lines) + "\n"


def step_figures(qs: Quickstart) -> StepResult:
    """Draw the figures (PNG) and the animation of the hidden-state waves (GIF)."""
    from . import datasets, io, plotting
    from .analysis import analytic_signal, critical_points, kw_spectrum, optical_flow
    from .training import read_metrics

    written = []

    def save(fig, name):
        written.append(save_figure(fig, qs.path(f"figures/{name}")))

    # training curves
    run = qs.train_config().run_dir()
    if not (run / "metrics.csv").exists():
        qs.need(Path(run, "metrics.csv").relative_to(qs.out).as_posix(), "train")
    background = qs.metrics()["steps"].get("data", {}).get("results", {}).get(
        "background_accuracy")
    save(training_figure(read_metrics(run), background), "training.png")

    # simulated plane wave: phase and flow
    sim = io.load(qs.need("simulated.nc", "simulate"))
    zs = analytic_signal(sim, (3.0, 7.0)).isel(time=slice(90, 92))
    save(plotting.plot_flow(optical_flow(zs), zs), "simulated_flow.png")

    # hidden states of the trial with the clearest waves
    ds = io.load(qs.need("hidden_states.nc", "export"))
    ev = io.load(qs.need("waves_model.nc", "waves"))
    trial, frame = _best_frame(ev)
    masks = ds["label"].values > 0
    # drawn without the common mode, which would paint the whole field one colour, and
    # cropped without rolling, so that the zero-padded border is no seam inside the maps
    z = model_phase(centre_on_masks(ds["hidden"].isel(feature=0), masks, roll=False)
                    .isel(trial=trial), common=False)
    pair = z.isel(time=slice(frame, frame + 2))
    flow = optical_flow(pair)
    fig = plotting.plot_flow(flow, pair)
    ax = fig.axes[0]
    mask = _centred(masks, masks, 0.75, roll=False)[trial]
    shape = str(ds["shape_name"].values[trial]) if "shape_name" in ds else "polygon"
    ax.contour(z["x"], z["y"], mask.astype(float), levels=[0.5], colors="white",
               linewidths=1.2)
    ax.plot([], [], color="white", lw=1.2, label=f"{shape} outline")  # the contour's entry
    plotting.plot_critical_points(critical_points(flow), ax=ax, legend=False)
    ax.set_facecolor("0.5")  # so that the white outline shows in the legend
    fig.legend(loc="outside lower left", ncols=4, fontsize="small", facecolor="0.55")
    ax.set_title(f"test image {trial} ({shape}), feature 0\n{ax.get_title(loc='left')}",
                 loc="left", fontsize="medium")
    save(fig, "hidden_phase_flow.png")
    save(plotting.plot_space_time(z), "hidden_space_time.png")  # through the centre
    spec = io.load(qs.need("spectra.nc", "spectra"))
    save(shape_spectra_figure(spec.isel(feature=0)), "hidden_spectra.png")
    drum = drum_of_masks(masks, qs.budget.drum_steps)
    save(relative_spectra_figure({"NWM hidden states": ds["hidden"], "fixed drum": drum},
                                 ds["shape_name"].values), "relative_spectra.png")
    kw = kw_spectrum(ds["hidden"].isel(trial=trial, feature=0)).sel(ky=0, method="nearest")
    speed = qs.metrics()["steps"].get("waves", {}).get("results", {}).get("model", {}).get(
        "kw_speed")
    speeds = (round(speed, 2), -round(speed, 2)) if speed and np.isfinite(speed) else ()
    save(plotting.plot_kw(kw, speeds=speeds), "hidden_kw.png")
    rows = qs.metrics()["steps"].get("spectra", {}).get("results", {}).get("decoding")
    if rows:
        save(decoding_figure(rows), "decoding.png")
    gif = plotting.animate(z, qs.path("hidden_waves.gif"), fps=8, progress=qs.progress,
                           title=f"test image {trial} ({shape}), feature 0")
    written.append(gif)

    # EEG: alpha phase at the strongest planar frame, and PGD over time
    eeg_ev = io.load(qs.need("waves_eeg.nc", "eeg"))
    eeg = datasets.eeg_eyes_closed().isel(time=slice(0, eeg_ev.sizes["time"]))
    ze = analytic_signal(eeg, (8.0, 13.0))
    pgd = eeg_ev["frame_pgd"].where(eeg_ev["frame_pattern"] == "planar")
    t_best = float(pgd.idxmax()) if np.isfinite(pgd).any() else float(eeg_ev["time"][0])
    fig = plotting.plot_phase_map(ze, t_best, head=True)
    fig.axes[0].set_title(f"EEG alpha band (8-13 Hz) phase, t = {t_best:.2f} s",
                          fontsize="medium")
    save(fig, "eeg_phase.png")
    save(pgd_figure(eeg_ev, centre=t_best), "eeg_pgd.png")
    n_png = sum(p.suffix == ".png" for p in written)
    lines = [f"{n_png} figures and the animation `hidden_waves.gif` (hidden-state "
             f"phase of test image {trial}, feature 0)."]
    return StepResult({"trial": int(trial), "frame": int(frame)}, _rel(qs, *written), lines)


def _best_frame(ev: xr.Dataset) -> tuple[int, int]:
    """(trial, time index): the trial of highest mean frame PGD (a clear wave throughout,
    not one lucky frame) and its frame of highest PGD."""
    pgd = ev["frame_pgd"].transpose("trial", "time").values
    score = np.nanmean(pgd, axis=1)
    trial = int(np.nanargmax(score))
    frame = int(np.nanargmax(pgd[trial, :-1]))
    return trial, frame


def training_figure(rows: list[dict], background: float | None):
    """Loss and pixel accuracy per epoch (train and validation)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 3.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    epoch = [r["epoch"] for r in rows]
    for split, style in (("train", "-o"), ("val", "--s")):
        ax_loss.plot(epoch, [r[f"{split}_loss"] for r in rows], style, label=split)
        ax_acc.plot(epoch, [r[f"{split}_pixel_accuracy"] for r in rows], style, label=split)
    if background is not None:
        ax_acc.axhline(background, color="0.5", ls=":", label="background only")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy (nats per pixel)", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="pixel accuracy (fraction)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.legend(fontsize="small")
    return fig


def shape_spectra_figure(spec: xr.DataArray, *, dynamic_range: float = 1e-6):
    """Each shape's mean spectrum beside the mean over all shapes, and its log ratio to it.

    The shapes' spectra share one peak and fall together over decades, so drawn on one
    log axis they coincide; the lower panel shows where they differ. Frequencies whose
    mean power is below ``dynamic_range`` of the peak are left out (rounding noise)."""
    import matplotlib.pyplot as plt

    by_shape = spec.groupby("shape_name").mean("trial")
    mean = by_shape.mean("shape_name")
    keep = (mean > dynamic_range * float(mean.max())).values
    freqs = spec["freq"].values[keep]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(5.6, 5.2),
                                      layout="constrained")
    top.semilogy(freqs, mean.values[keep], color="black", lw=2, label="all shapes")
    for name in by_shape["shape_name"].values:
        ratio = by_shape.sel(shape_name=name).values[keep] / mean.values[keep]
        bottom.plot(freqs, np.log10(ratio), lw=1.2, label=str(name))
    bottom.axhline(0.0, color="0.5", lw=0.8)
    units = spec["freq"].attrs.get("units", "")
    df = float(np.diff(spec["freq"].values[:2])[0])
    top.set_ylabel(f"power ({spec.attrs.get('units', 'a.u.')})")
    top.set_title(f"NWM hidden states, feature 0, mean over space and test images\n"
                  f"of each shape; frequency resolution {df:.2g} {units}", loc="left",
                  fontsize="medium")
    top.legend(fontsize="small")
    bottom.set_ylabel("log10(shape / all shapes)")
    bottom.set_xlabel(f"frequency ({units})")
    fig.legend(*bottom.get_legend_handles_labels(), loc="outside lower center", ncols=3,
               fontsize="small")
    return fig


def relative_spectra_figure(sources: dict, names: np.ndarray):
    """Mean :func:`relative_spectrum` per shape, one panel per source: what the shape
    decoder reads."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.0 * len(sources), 3.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, len(sources)))
    for ax, (title, da) in zip(axes, sources.items(), strict=True):
        feats = relative_spectrum(da)
        blocks = feats.shape[1] // RATIOS.size
        first = feats[:, :RATIOS.size]  # the first block (feature 0 of a model)
        for shape_name in [s for s in SHAPES if s in set(names)]:
            ax.plot(RATIOS, first[names == shape_name].mean(axis=0), label=shape_name)
        ax.set_xscale("log")
        ticks = [0.5, 1, 2, 3, 6]
        ax.set_xticks(ticks, labels=[f"{t:g}" for t in ticks], minor=False)
        ax.set_xticks([], minor=True)
        ax.set(xlabel="frequency / peak frequency (ratio)",
               ylabel="log power re peak (nepers)",
               title=title + (" (feature 0)" if blocks > 1 else ""))
    axes[0].legend(fontsize="small")
    return fig


def decoding_figure(rows: list[dict]):
    """Cross-validated decoding scores of shape and area: the spectral decoders of the NWM
    and of the fixed drum beside their controls (same folds)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_rgba
    from matplotlib.figure import Figure

    colours = {"NWM hidden states": "tab:blue", "fixed drum": "tab:orange",
               "input image": "0.55"}
    n_bars = max(sum(r["target"] == t for r in rows) for t in ("shape", "area"))
    fig = Figure(figsize=(11.0, 1.2 + 0.28 * n_bars), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=False)
    for ax, target in zip(axes, ("shape", "area"), strict=True):
        sel = [r for r in rows if r["target"] == target][::-1]  # first row on top
        names = [f"{r['source']}: {'spectra' if r['decoder'] == 'spectra' else r['description']}"
                 for r in sel]
        ax.barh(names, [r["mean"] for r in sel], xerr=[r["std"] for r in sel], capsize=3,
                color=[to_rgba(colours.get(r["source"], "0.3"),
                               1.0 if r["decoder"] == "spectra" else 0.5) for r in sel])
        ax.tick_params(axis="y", labelsize="x-small")
        if target == "shape":
            ax.axvline(sel[0]["chance"], color="0.4", ls=":", label="chance")
            ax.legend(fontsize="small")
        ax.set(xlabel=f"{sel[0]['scoring']} (fraction)" if target == "shape" else
               "R² (fraction of variance)", title=f"{target}: spectra and controls",
               xlim=(min(0.0, *[r["mean"] for r in sel]), 1.0))
    return fig


def pgd_figure(ev: xr.Dataset, seconds: float = 10.0, centre: float | None = None):
    """Frame PGD and synchrony of ``seconds`` of a recording (the first, or those around
    ``centre``, marked: the frame of the phase map), planar frames shaded."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    first, last = float(ev["time"][0]), float(ev["time"][-1])
    start = first if centre is None else min(max(first, centre - seconds / 2),
                                             max(first, last - seconds))
    part = ev.sel(time=slice(start, start + seconds))
    t = part["time"].values
    fig = Figure(figsize=(8.0, 2.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(t, part["frame_pgd"], lw=0.8, label="PGD")
    ax.plot(t, part["frame_synchrony"], lw=0.8, color="0.6", label="synchrony")
    planar = part["frame_pattern"].values == "planar"
    ax.fill_between(t, 0, 1, where=planar, color="tab:green", alpha=0.25, lw=0,
                    label="planar frames")
    if centre is not None:
        ax.axvline(centre, color="k", ls="--", lw=1, label="frame of the phase map")
    ax.set(xlabel=f"time ({_tu(ev)})", ylabel="score (0-1)", ylim=(0, 1),
           title=f"EEG alpha band (8-13 Hz): phase-gradient directionality, {t[0]:.1f}-"
                 f"{t[-1]:.1f} {_tu(ev)} of {first:.0f}-{last:.0f} {_tu(ev)}")
    fig.legend(loc="outside lower center", ncols=4, fontsize="small")  # clear of the traces
    return fig


def step_summary(qs: Quickstart) -> StepResult:
    """Write ``summary.md`` (what each step found, its budget, and links to every file) and
    ``report.html`` (the same with the figures, see :func:`wavescope.report.make_report`)."""
    data = qs.metrics()
    steps = data.get("steps", {})
    b = qs.budget
    text = ["# wavescope quickstart", "",
            f"Made by wavescope {data.get('wavescope', '?')} with seed {qs.seed} and the "
            f"{'small' if b == SMALL else 'full' if b == FULL else 'custom'} budget "
            "(listed at the end). Every number below comes from the files linked here; "
            "rerun any step with `wavescope quickstart OUT --step NAME`. Everything on one "
            f"page, figures included: [{REPORT_FILE}]({REPORT_FILE}).", "",
            "## What was found", ""]
    for name in STEPS:
        for line in steps.get(name, {}).get("lines", []):
            text.append(f"- {line}")
    missing = [n for n in STEPS if n != "summary" and n not in steps]
    if missing:
        text += ["", f"Not run yet: {', '.join(missing)}."]
    figures = [f for f in steps.get("figures", {}).get("files", []) if f.endswith(".png")]
    gifs = [f for f in steps.get("figures", {}).get("files", []) if f.endswith(".gif")]
    if figures or gifs:
        text += ["", "## Figures", ""]
        for f in gifs + figures:
            text += [f"![{Path(f).stem}]({f})", ""]
    text += ["## Files", "", "| step | seconds | files |", "|---|---|---|"]
    for name in STEPS:
        if name in steps:
            links = ", ".join(f"[{f}]({f})" for f in steps[name]["files"])
            text.append(f"| {name} | {steps[name]['seconds']:.1f} | {links} |")
    total = sum(s["seconds"] for s in steps.values())
    text += ["", f"Total time of the steps: {total:.0f} s. All numbers as JSON: "
             f"[{Quickstart.METRICS}]({Quickstart.METRICS}).", "", "## Budget", "",
             "| setting | value |", "|---|---|"]
    text += [f"| {k} | {v} |" for k, v in b.to_dict().items()]
    path = write_text(qs.path("summary.md"), "\n".join(text) + "\n")
    report = make_report(qs.out)  # the same record as an HTML page (mne.Report)
    return StepResult({"total_seconds": total}, _rel(qs, path, report), [])


#: The steps of the quickstart, in order.
STEPS: dict[str, Callable[[Quickstart], StepResult]] = {
    "simulate": step_simulate,
    "data": step_data,
    "train": step_train,
    "export": step_export,
    "waves": step_waves,
    "spectra": step_spectra,
    "eeg": step_eeg,
    "figures": step_figures,
    "summary": step_summary,
}


def run_step(qs: Quickstart, name: str) -> StepResult:
    """Run one step, record its result in ``metrics.json`` and return it."""
    if name not in STEPS:
        raise ValueError(f"unknown quickstart step {name!r}; choose from {list(STEPS)}")
    start = time.perf_counter()
    result = STEPS[name](qs)
    seconds = time.perf_counter() - start
    if name == "summary":  # the summary states the total, so record first and write again
        qs.record(name, result, seconds)
        result = STEPS[name](qs)
    qs.record(name, result, seconds)
    return result


def run_quickstart(out="wavescope-quickstart", *, small: bool = False, seed: int = 0,
                   progress: bool = True, steps=None, budget: Budget | None = None,
                   echo: Callable[[str], None] | None = print) -> Path:
    """Run the quickstart (or some of its steps) into ``out``; returns ``out/summary.md``.

    Parameters
    ----------
    out : path
        Output folder (created when missing).
    small : bool
        Use :data:`SMALL` (under a minute) instead of :data:`FULL` (minutes).
    seed : int
        Seeds data, model, surrogates and folds.
    progress : bool
        Show progress bars.
    steps : sequence of str, optional
        Run only these steps (in the order of :data:`STEPS`); they read the files the
        earlier steps wrote. The summary is rewritten after them. Default: all.
    budget : Budget, optional
        A custom budget (overrides ``small``).
    echo : callable or None
        Receives each summary line as a step finishes (default ``print``).
    """
    from tqdm.auto import tqdm

    qs = Quickstart(out, budget or (SMALL if small else FULL), seed=seed, progress=progress)
    names = list(STEPS) if steps is None else [n for n in STEPS if n in set(steps)]
    unknown = sorted(set(steps or ()) - set(STEPS))
    if unknown:
        raise ValueError(f"unknown quickstart step(s) {unknown}; choose from {list(STEPS)}")
    if "summary" not in names:
        names.append("summary")
    qs.out.mkdir(parents=True, exist_ok=True)
    if steps is None:  # a whole run starts a fresh record
        write_text(qs.out / Quickstart.METRICS, json.dumps({"steps": {}}) + "\n")
    qs.check_settings()
    bar = tqdm(names, desc="quickstart", unit="step", disable=not progress)
    for name in bar:
        bar.set_postfix_str(name)
        result = run_step(qs, name)
        if echo is not None:
            for line in result.lines:
                (tqdm.write if progress else echo)(f"[{name}] {line.replace('**', '')}")
    summary = qs.out / "summary.md"
    if echo is not None:
        echo(f"quickstart done: {summary}")
    return summary
