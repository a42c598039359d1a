"""The main job end to end: ``wavescope quickstart``.

Train a small Neural Wave Machine on polygon images, export its hidden states, detect
travelling waves in them, decode each image's shape and area from their spectra (beside
the fixed drum of the same shapes), detect alpha waves in the bundled EEG with surrogate
p-values, draw the figures and write a summary page that links every file. Each step of
:data:`STEPS` (its docstring names the files it writes in ``OUT``) can run alone once the
steps before it have written their files (``wavescope quickstart OUT --step waves``) and
records its numbers, files, wall time and sentences in ``OUT/metrics.json``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import numpy as np

import wavescope as ws

from . import _summary as say
from ._safeio import save_figure, write_text
from ._steps import StepFolder, StepResult, run_steps
from ._steps import run_step as _run_step
from .report import REPORT_FILE, make_report

__all__ = ["Budget", "FULL", "SMALL", "Quickstart", "StepResult", "STEPS", "run_quickstart",
           "run_step"]

_MOVED = {name: module for module, names in (
    ("analysis.hidden", "SHAPES RATIOS centre_on_masks model_phase relative_spectrum "
                        "with_shape_labels"), ("analysis.summaries", "event_summary"),
    ("drums", "drum_of_masks"), ("plotting", "training_figure shape_spectra_figure "
                                 "relative_spectra_figure decoding_figure pgd_figure"))
    for name in names.split()}


def __getattr__(name):  # helpers that lived here stay importable from here
    if name in _MOVED:
        return getattr(import_module(f"wavescope.{_MOVED[name]}"), name)
    raise AttributeError(f"module 'wavescope.quickstart' has no attribute {name!r}")


@dataclass(frozen=True)
class Budget:
    """How much every step computes (attributes are ``__init__`` parameters).

    ``image_size``, ``n_train``, ``n_val``, ``n_test``: polygon images (pixels per side,
    images per split). ``steps``, ``dt``, ``channels``, ``head``, ``readout``: the NWM
    (recorded steps T, time units per step, oscillator channels C, per-pixel head, readout
    over time: "fft", the magnitude spectrum of every pixel's time course, did not
    collapse in short trainings of 4 seeds where "linear" collapsed in 1 of 3).
    ``epochs``, ``batch_size``, ``lr``: Adam. ``n_export``: test images exported and
    analysed. ``n_surrogates_model``, ``n_surrogates_eeg``: surrogates per event p-value.
    ``eeg_seconds``: EEG excerpt, s (None: all 61 s). ``drum_steps``: updates of the fixed
    drum (dt 0.1). ``threads``: torch threads for training (None: torch's default).
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
#: Side of the windows of :func:`wavescope.analysis.local_pgd`, in sites.
_TILE = 8


class Quickstart(StepFolder):
    """A quickstart folder ``out``, the ``budget`` and ``seed`` of its results, and whether
    steps show ``progress`` bars."""

    def __init__(self, out, budget: Budget = FULL, *, seed: int = 0, progress: bool = True):
        super().__init__(out)
        if not isinstance(budget, Budget):
            raise TypeError(f"budget must be a wavescope.quickstart.Budget, got "
                            f"{type(budget).__name__}")
        self.budget, self.seed, self.progress = budget, int(seed), bool(progress)

    def settings(self) -> dict:
        return {"budget": self.budget.to_dict(), "seed": self.seed}

    def sizes(self) -> dict[str, int]:
        b = self.budget
        return {"train": b.n_train, "val": b.n_val, "test": b.n_test}

    def train_config(self):
        """The :class:`~wavescope.training.TrainConfig` of the NWM run."""
        b = self.budget
        return ws.training.TrainConfig(
            task="polygons", model="nwm", head=b.head, readout=b.readout,
            model_kwargs={"steps": b.steps, "dt": b.dt, "channels": b.channels},
            task_kwargs={"sizes": self.sizes(), "seed": self.seed, "height": b.image_size,
                         "width": b.image_size},
            epochs=b.epochs, batch_size=b.batch_size, lr=b.lr, seed=self.seed,
            data_root=str(self.out / "data"), out_dir=str(self.out / "runs"),
            progress=self.progress, threads=b.threads)

    def run_file(self, name: str) -> Path:
        """A file of the training run; a clear error naming the train step when missing."""
        return self.need(self.rel(self.train_config().run_dir() / name)[0], "train")


def step_simulate(qs: Quickstart) -> StepResult:
    """``simulated.nc``: a plane wave, then a rotating wave, 32 x 32 sites, 10 % noise."""
    sim, kw = ws.simulate, dict(n_times=200, sfreq=100.0, frequency=5.0, noise=0.1)
    plane = sim.plane_wave((32, 32), speed=50.0, direction=np.pi / 4, seed=qs.seed, **kw)
    rotating = sim.rotating_wave((32, 32), sense="ccw", seed=qs.seed + 1, **kw)
    recording = sim.sequence(plane, rotating).rename("activity")
    path = ws.io.save(recording, qs.path("simulated.nc"))
    segments = sim.truth(recording)["segments"]
    return StepResult({"segments": segments}, qs.rel(path),
                      [say.simulate_line(recording.sizes, segments)])


def step_data(qs: Quickstart) -> StepResult:
    """``data/polygons/``: polygon images and masks of three splits (cached, checksummed)."""
    b, folder, shapes = qs.budget, qs.out / "data" / "polygons", ws.analysis.hidden.SHAPES
    test = ws.training.data.polygons(folder, qs.sizes(), seed=qs.seed, height=b.image_size,
                                     width=b.image_size)["test"]
    background = float(np.mean(test["masks"] == 0))
    counts = np.bincount(test["labels"], minlength=len(shapes) + 1)[1:]
    results = {"sizes": qs.sizes(), "image_size": b.image_size, "background_accuracy":
               background, "test_shape_counts": dict(zip(shapes, counts.tolist(), strict=True))}
    return StepResult(results, qs.rel(*sorted(p for p in folder.iterdir() if p.is_file())),
                      [say.data_line(b, background)])


def step_train(qs: Quickstart) -> StepResult:
    """``runs/<run>/``: the NWM trained to segment the polygons (per-pixel shape class)."""
    run = ws.training.train(qs.train_config())
    test = json.loads((run / "test_metrics.json").read_text())
    rows = ws.training.read_metrics(run)
    background = qs.found("data", "background_accuracy")
    n_params = int(sum(p.numel() for p in ws.training.load_run(run)[2].parameters()))
    res = {"run": qs.rel(run)[0], "test": test, "epochs": len(rows),
           "train_seconds": rows[-1]["time_s"] if rows else None, "n_params": n_params,
           "background_accuracy": background}
    files = [run / n for n in ("config.json", "metrics.csv", "test_metrics.json",
                               "checkpoint_best.pt")]
    return StepResult(res, qs.rel(*files), say.train_lines(test, background, qs.budget,
                                                           n_params, res["train_seconds"]))


def step_export(qs: Quickstart) -> StepResult:
    """``hidden_states.nc``: hidden states, inputs, masks, shapes and areas of test images."""
    run = qs.run_file("test_metrics.json").parent
    ws.training.TrainConfig.load(run)  # a readable config, else a clear error before the work
    ds = ws.analysis.hidden.with_shape_labels(ws.training.export_hidden_states(
        run, split="test", n_trials=qs.budget.n_export))
    path = ws.io.save(ds, qs.path("hidden_states.nc"))
    size = path.stat().st_size / 1e6
    return StepResult({"sizes": dict(ds["hidden"].sizes), "megabytes": size}, qs.rel(path),
                      [say.export_line(ds["hidden"].sizes, size)])


def step_waves(qs: Quickstart) -> StepResult:
    """``waves_simulated.nc``, ``waves_model.nc``: wave events with p-values (the first
    scored against its truth) in the simulated recording and the NWM's hidden states."""
    b, an = qs.budget, ws.analysis
    sim = ws.io.load(qs.need("simulated.nc", "simulate"))
    truth = json.loads(sim.attrs["truth"])["segments"]
    band = (0.6 * truth[0]["frequency"], 1.4 * truth[0]["frequency"])
    ev_sim = an.detect_waves(sim, band, n_surrogates=b.n_surrogates_model, seed=qs.seed)
    p_sim = ws.io.save(ev_sim, qs.path("waves_simulated.nc"))
    ds = ws.io.load(qs.need("hidden_states.nc", "export"))
    ev, model = an.hidden.hidden_waves(ds, tile=_TILE, n_surrogates=b.n_surrogates_model,
                                       seed=qs.seed, progress=qs.progress)
    res = {"simulated": an.summaries.truth_agreement(ev_sim, truth), "model": model}
    p_model = ws.io.save(ev, qs.path("waves_model.nc"))
    lines = say.waves_lines(res["simulated"], model, ds["hidden"], b.n_surrogates_model, _TILE)
    return StepResult(res, qs.rel(p_sim, p_model), lines)


def step_spectra(qs: Quickstart) -> StepResult:
    """``spectra.nc``, ``decoding.csv``: hidden-state spectra; each image's shape and area
    decoded from the NWM's and the fixed drum's spectra, beside controls in the same folds."""
    an, b, ds = ws.analysis, qs.budget, ws.io.load(qs.need("hidden_states.nc", "export"))
    path_spec = ws.io.save(spec := an.hidden.shape_spectra(ds), qs.path("spectra.nc"))
    f0 = float(an.dominant_frequency(spec.mean(("trial", "feature"), keep_attrs=True)))
    shape = ds["shape"].values
    drum = ws.drums.drum_of_masks(ds["label"].values > 0, b.drum_steps, progress=qs.progress)
    cv = int(max(2, min(5, np.unique(shape, return_counts=True)[1].min())))  # stratified
    rows = an.hidden.decode_shape_and_area(
        {"NWM hidden states": ds["hidden"], "fixed drum": drum}, shape,
        ds["area"].values.astype(float), inputs=ds["input"], cv=cv, seed=qs.seed)
    path_dec = write_text(qs.path("decoding.csv"), say.csv_text(rows))
    fu = spec["freq"].attrs.get("units", "")
    return StepResult({"peak_frequency": f0, "freq_units": fu, "decoding": rows},
                      qs.rel(path_spec, path_dec), say.spectra_lines(f0, fu, rows, len(shape), cv))


def step_eeg(qs: Quickstart) -> StepResult:
    """``waves_eeg.nc``: alpha-band (8-13 Hz) wave events in the bundled eyes-closed EEG."""
    b, an, eeg = qs.budget, ws.analysis, ws.datasets.eeg_eyes_closed()
    if b.eeg_seconds is not None:
        eeg = eeg.isel(time=slice(0, int(round(b.eeg_seconds * eeg.attrs["sfreq"]))))
    alpha = float(an.dominant_frequency(eeg.sel(channel=["O1", "Oz", "O2"]), fmin=4.0,
                                        fmax=30.0, method="welch",
                                        nperseg=int(4 * eeg.attrs["sfreq"])).median())
    ev = an.detect_waves(eeg, (8.0, 13.0), n_surrogates=b.n_surrogates_eeg, seed=qs.seed,
                         progress=qs.progress)
    path = ws.io.save(ev, qs.path("waves_eeg.nc"))
    res = an.summaries.event_summary(ev)
    res.update(alpha_peak_hz=alpha, seconds=float(eeg.sizes["time"] / eeg.attrs["sfreq"]),
               n_channels=int(eeg.sizes["channel"]))
    return StepResult(res, qs.rel(path), say.eeg_lines(res, b.n_surrogates_eeg, eeg))


def step_figures(qs: Quickstart) -> StepResult:
    """``figures/*.png`` and ``hidden_waves.gif``, the animation of the hidden-state waves."""
    wp, load = ws.plotting, ws.io.load
    figures = {"training": wp.training_figure(ws.training.read_metrics(qs.run_file(
        "metrics.csv").parent), qs.found("data", "background_accuracy"))}
    zs = ws.analysis.analytic_signal(load(qs.need("simulated.nc", "simulate")), (3.0, 7.0))
    zs = zs.isel(time=slice(90, 92))  # the plane wave: phase and flow
    figures["simulated_flow"] = wp.plot_flow(ws.analysis.optical_flow(zs), zs)
    wp.style.subtitle(figures["simulated_flow"].axes[0], "simulated wave, 3-7 cycles/time unit")
    figures.update(wp.polygon_run_figures(
        load(qs.need("hidden_states.nc", "export")), load(qs.need("waves_model.nc", "waves")),
        load(qs.need("spectra.nc", "spectra")), decoding=qs.found("spectra", "decoding"),
        drum_steps=qs.budget.drum_steps, kw_speed=(qs.found("waves", "model") or {}).get(
            "kw_speed"), gif=qs.path("hidden_waves.gif"), progress=qs.progress))
    trial, frame = figures.pop("trial"), figures.pop("frame")
    events = load(qs.need("waves_eeg.nc", "eeg"))
    figures.update(wp.eeg_figures(ws.datasets.eeg_eyes_closed().isel(
        time=slice(0, events.sizes["time"])), events))
    written = [fig if name == "gif" else save_figure(fig, qs.path(f"figures/{name}.png"))
               for name, fig in figures.items()]
    lines = [f"{len(written) - 1} figures and the animation `hidden_waves.gif` (hidden-state "
             f"phase of test image {trial}, feature 0)."]
    return StepResult({"trial": trial, "frame": frame}, qs.rel(*written), lines)


def step_summary(qs: Quickstart) -> StepResult:
    """``summary.md`` (what was found, budgets, links to every file), ``report.html``."""
    data, b = qs.metrics(), qs.budget
    name = "small" if b == SMALL else "full" if b == FULL else "custom"
    path = write_text(qs.path("summary.md"), say.summary_markdown(
        data, STEPS, seed=qs.seed, budget_name=name, budget=b.to_dict(), report=REPORT_FILE,
        metrics=qs.METRICS))
    total = sum(s["seconds"] for s in data.get("steps", {}).values())
    return StepResult({"total_seconds": total}, qs.rel(path, make_report(qs.out)), [])


#: The steps of the quickstart, in order (name: function).
STEPS: dict[str, Callable[[Quickstart], StepResult]] = {f.__name__[5:]: f for f in (
    step_simulate, step_data, step_train, step_export, step_waves, step_spectra, step_eeg,
    step_figures, step_summary)}


def run_step(qs: Quickstart, name: str) -> StepResult:
    """Run one step, record its result in ``metrics.json`` and return it."""
    return _run_step(qs, STEPS, name, last="summary")


def run_quickstart(out="wavescope-quickstart", *, small: bool = False, seed: int = 0,
                   progress: bool = True, steps=None, budget: Budget | None = None,
                   echo: Callable[[str], None] | None = print) -> Path:
    """Run the quickstart (or some of its steps) into ``out``; returns ``out/summary.md``.

    ``small`` uses :data:`SMALL` (under a minute) instead of :data:`FULL` (minutes), unless
    a ``budget`` is given; ``seed`` seeds data, model, surrogates and folds; ``progress``
    shows progress bars. ``steps`` (default all) runs only these steps, in the order of
    :data:`STEPS`, reading the files the earlier steps wrote; the summary is rewritten
    after them. ``echo`` receives each summary line as a step finishes.
    """
    qs = Quickstart(out, budget or (SMALL if small else FULL), seed=seed, progress=progress)
    run_steps(qs, STEPS, steps, last="summary", progress=progress, echo=echo)
    if echo is not None:
        echo(f"quickstart done: {qs.out / 'summary.md'}")
    return qs.out / "summary.md"
