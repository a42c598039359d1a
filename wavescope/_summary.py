"""The quickstart's words: the Markdown sentences of each step and the ``summary.md`` page.

Every function turns numbers a step measured into text (nothing here computes a result);
:func:`summary_markdown` assembles the page from the record in ``metrics.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .analysis.spectral import TRAVELLING_DIRECTIONALITY


def json_default(value):
    """``json.dumps`` ``default=`` for NumPy scalars and arrays."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in metrics.json")


def sizes_text(sizes) -> str:
    """``{"time": 4, "x": 3}`` -> ``"4 time x 3 x"``."""
    return " x ".join(f"{n} {d}" for d, n in sizes.items())


def simulate_line(sizes, segments: list[dict]) -> str:
    def one(seg):
        what = (f"rotating wave ({seg['sense']})" if seg["kind"] == "rotating" else
                f"{seg['kind']} wave at {seg['speed']:g} pixel/time unit, direction "
                f"{seg['direction']:.2f} rad")
        return (f"t = {seg['start']:g}-{seg['stop']:g}: {what}, "
                f"{seg['frequency']:g} cycles/time unit")

    return f"Simulated {sizes_text(sizes)}: " + "; ".join(one(s) for s in segments) + "."


def data_line(b, background: float) -> str:
    return (f"Polygon data: {b.n_train}/{b.n_val}/{b.n_test} train/val/test images of "
            f"{b.image_size}x{b.image_size} pixels, one filled regular polygon (3-8 sides) "
            f"each; predicting background everywhere scores pixel accuracy "
            f"{background:.3f} on the test split.")


def train_lines(test: dict, background: float | None, b, n_params: int,
                seconds: float | None) -> list[str]:
    budget = (f"{b.epochs} epochs of {b.n_train} images, batch {b.batch_size}, Adam lr "
              f"{b.lr:g}, T = {b.steps}, dt = {b.dt:g}, C = {b.channels}, {n_params:,} "
              f"parameters, {seconds or 0:.0f} s")
    vs = f" (background only: {background:.3f})" if background is not None else ""
    lines = [f"NWM test pixel accuracy **{test['pixel_accuracy']:.3f}**{vs}, foreground "
             f"accuracy {test['fg_accuracy']:.3f} (chance 1/6 = 0.167), mean IoU "
             f"{test['miou']:.3f} - budget: {budget}."]
    if test.get("collapsed"):
        lines.append("The network predicts background everywhere: where short trainings "
                     "start, and where runs that collapse stay (the papers report such "
                     "collapses); train longer or try another --seed.")
    return lines


def event_line(what: str, res: dict, budget: str, space_units: str) -> str:
    """One sentence on an :func:`~wavescope.analysis.summaries.event_summary`."""
    share = ", ".join(f"{k} {100 * v:.0f} %" for k, v in
                      sorted(res["frame_share"].items(), key=lambda kv: -kv[1]))
    sig = sum(res["significant"].values())
    found = sum(res["discoveries"].values())
    speed = ""
    if res["planar_speed"] is not None:
        speed = (f"; planar frames travel at a median {res['planar_speed']:.3g} "
                 f"{res['speed_units']} (wavelength {res['planar_wavelength']:.3g} "
                 f"{space_units})")
    return (f"{what}: mean PGD **{res['mean_pgd']:.2f}**; frames {share}; "
            f"{res['n_events']} events, {sig} with p <= 0.05 and {found} with q <= 0.05 "
            f"(false discovery rate, {res['null']} null){speed} - budget: {budget}.")


def export_line(sizes, megabytes: float) -> str:
    return (f"Exported hidden states {sizes_text(sizes)} ({megabytes:.1f} MB), with each "
            f"image's shape and area.")


def waves_lines(sim: dict, model: dict, hidden, n_surrogates: int, tile: int) -> list[str]:
    """The simulated plane and rotating waves against their truth, and the waves of the
    ``hidden`` states (trial, ...) in :func:`~wavescope.analysis.hidden.hidden_waves`."""
    planar = sim["planar"]
    su = hidden.attrs.get("space_units")
    return [
        f"Simulated plane wave: {100 * planar['share']:.0f} % of its frames detected as "
        f"planar, mean PGD **{planar['pgd']:.2f}**, speed {planar['speed']:.1f} "
        "pixel/time unit "
        f"(true {planar['true_speed']:g}), direction {planar['direction']:.2f} rad (true "
        f"{planar['true_direction']:.2f}); rotating wave: "
        f"{100 * sim['rotating']['share']:.0f} % of its frames detected as rotating "
        f"({sim['rotating']['sense']}).",
        event_line("NWM hidden states (feature 0, each image centred on its polygon)",
                   model, f"{hidden.sizes['trial']} test images, {n_surrogates} surrogates "
                   "per event", hidden.attrs.get("space_units", ""))
        + f" Local PGD in {tile}x{tile}-pixel windows **{model['local_pgd']:.2f}** "
        f"(pixels shuffled in space: {model['local_pgd_shuffled']:.2f}); " + kw_phrase(
            model, f"{su}/{hidden.attrs.get('time_units', 's')}"),
    ]


def kw_phrase(model: dict, units: str) -> str:
    """The k-omega ridge in words: a travel speed only where the power is one-sided in k."""
    speed, one_sided = model.get("kw_speed"), model.get("kw_directionality")
    if speed is None or not np.isfinite(speed):
        return "k-omega ridge: no single phase velocity."
    if one_sided is not None and one_sided >= TRAVELLING_DIRECTIONALITY:
        return (f"k-omega ridge speed {speed:.2f} {units} (directionality {one_sided:.2f}: "
                "travelling; time in steps x dt).")
    return (f"k-omega ridge phase velocity {speed:.2f} {units}, but directionality "
            f"{one_sided:.2f}: the power is symmetric in k (standing modes or radial "
            "spread), so this is no travel speed.")


def eeg_lines(res: dict, n_surrogates: int, eeg) -> list[str]:
    budget = (f"{res['seconds']:.0f} s of {res['n_channels']} channels, "
              f"{n_surrogates} surrogates per event")
    return [f"Bundled EEG (PhysioNet S001R02, eyes closed): occipital alpha peak "
            f"{res['alpha_peak_hz']:.1f} Hz.",
            event_line("EEG alpha band (8-13 Hz)", res, budget, eeg.attrs.get("space_units", ""))]


def decoding_lines(main: dict, rows: list[dict], n: int, cv: int) -> list[str]:
    """The sentences on one spectral decoder: its score, its controls, and whether it
    beats them."""
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


def spectra_lines(f0: float, freq_units: str, rows: list[dict], n: int, cv: int) -> list[str]:
    lines = [f"Hidden-state spectra: peak at {f0:.3g} {freq_units} (time in steps x dt)."]
    for r in rows:
        if r["decoder"] == "spectra":
            lines += decoding_lines(r, rows, n, cv)
    return lines


def csv_text(rows: list[dict]) -> str:
    """Rows of equal keys as CSV (floats to 6 significant digits, quoted where needed)."""
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.6g}"
        text = str(value)
        return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text

    keys = list(rows[0])
    return "\n".join([",".join(keys)] + [",".join(cell(r[k]) for k in keys)
                                         for r in rows]) + "\n"


def summary_markdown(data: dict, order, *, seed: int, budget_name: str, budget: dict,
                     report: str, metrics: str) -> str:
    """``summary.md``: each step's sentences, the figures, the files, the budget.

    Parameters
    ----------
    data : dict
        The folder's ``metrics.json`` record.
    order : sequence of str
        Step names in order.
    seed : int
        The run's seed.
    budget_name : str
        "small", "full" or "custom".
    budget : dict
        The budget's settings.
    report, metrics : str
        File names of the HTML report and of the metrics record (linked).
    """
    steps = data.get("steps", {})
    text = ["# wavescope quickstart", "",
            f"Made by wavescope {data.get('wavescope', '?')} with seed {seed} and the "
            f"{budget_name} budget "
            "(listed at the end). Every number below comes from the files linked here; "
            "rerun any step with `wavescope quickstart OUT --step NAME`. Everything on one "
            f"page, figures included: [{report}]({report}).", "",
            "## What was found", ""]
    for name in order:
        for line in steps.get(name, {}).get("lines", []):
            text.append(f"- {line}")
    missing = [n for n in order if n != "summary" and n not in steps]
    if missing:
        text += ["", f"Not run yet: {', '.join(missing)}."]
    drawn = steps.get("figures", {}).get("files", [])
    images = [f for f in drawn if f.endswith(".gif")] + [f for f in drawn if f.endswith(".png")]
    if images:
        text += ["", "## Figures", ""]
        for f in images:
            text += [f"![{Path(f).stem}]({f})", ""]
    text += ["## Files", "", "| step | seconds | files |", "|---|---|---|"]
    for name in order:
        if name in steps:
            links = ", ".join(f"[{f}]({f})" for f in steps[name]["files"])
            text.append(f"| {name} | {steps[name]['seconds']:.1f} | {links} |")
    total = sum(s["seconds"] for s in steps.values())
    text += ["", f"Total time of the steps: {total:.0f} s. All numbers as JSON: "
             f"[{metrics}]({metrics}).", "", "## Budget", "",
             "| setting | value |", "|---|---|"]
    text += [f"| {k} | {v} |" for k, v in budget.items()]
    return "\n".join(text) + "\n"
