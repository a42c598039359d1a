"""The README's results tables, generated from the files that commands wrote.

Every results table of README.md sits between two marker comments::

    <!-- BEGIN results:NAME -->
    ...generated from docs/results/NAME.json; do not edit by hand...
    <!-- END results:NAME -->

and is rendered from ``docs/results/NAME.json``, which is one of

* a reproduction table written by ``scripts/reproduce.py --table NAME`` (``"kind":
  "reproduce"``): rows with per-seed numbers, mean ± sd, collapse rate, budget, CPU hours;
* ``quickstart.json``, a copy of a quickstart folder's ``metrics.json`` with its provenance
  (``"kind": "quickstart"``), made by ``--quickstart OUT``;
* a table recorded from an earlier session whose run folders were not kept (``"kind":
  "recorded"``): its cells verbatim, with ``source`` saying which command and session made
  them;
* a side-by-side benchmark written by ``benchmarks/bench_nwm.py`` or
  ``benchmarks/bench_wavernn.py`` (``"kind": "bench"``, as ``bench_nwm.json`` /
  ``bench_wavernn.json``): per case both sides' medians and ranges, the ratios against
  their goals, rounds, load average, the seed code's commit;
* a timed example written by ``scripts/time_train_example.py`` (``"kind": "timing"``): the
  command shown to users, its wall and CPU time and peak memory.

Each rendered table names its command and commit. ``tests/test_readme_numbers.py`` fails
when the README differs from what this script renders, so a README number cannot drift
from its file.

Usage::

    wavescope quickstart OUT && python scripts/readme_results.py --quickstart OUT
    python scripts/readme_results.py            # rewrite the README's blocks from the files
    python scripts/readme_results.py --check    # exit 1 (with a diff) when they differ
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from reproduce import git_commit  # noqa: E402

from wavescope._safeio import write_text  # noqa: E402
from wavescope.analysis.spectral import TRAVELLING_DIRECTIONALITY  # noqa: E402

README = ROOT / "README.md"
RESULTS = ROOT / "docs" / "results"
BLOCK = re.compile(r"(<!-- BEGIN results:(?P<name>[\w-]+) -->\n)(?P<body>.*?)"
                   r"(<!-- END results:(?P=name) -->)", re.S)


# ----------------------------------------------------------------------------- helpers
def _get(data, *keys, default=None):
    for k in keys:
        if not isinstance(data, dict) or k not in data:
            return default
        data = data[k]
    return data


def _f(value, fmt: str = ".2f") -> str:
    return "–" if value is None else format(value, fmt)


def _kw_cell(model: dict) -> str:
    """The ridge's speed, called a travel speed only where its power is one-sided in k."""
    speed, one_sided = model.get("kw_speed"), model.get("kw_directionality")
    if one_sided is None:  # a run from before the directionality was measured
        return f"{_f(speed)} pixel per unit time"
    if one_sided >= TRAVELLING_DIRECTIONALITY:
        return f"**{_f(speed)}** pixel per unit time (directionality {_f(one_sided)})"
    return (f"phase velocity {_f(speed)} pixel per unit time, directionality "
            f"{_f(one_sided)}: power symmetric in ±k (standing modes), **no travel "
            "speed**")


def _provenance(record: dict) -> str:
    git = record.get("git") or {}
    commit = (git.get("commit") or "unknown")[:7] + (" with local changes" if git.get("dirty")
                                                      else "")
    source = f"; {record['source']}" if record.get("source") else ""
    return (f"Generated from `docs/results/{record['_name']}.json` (command: "
            f"`{record.get('command', '?')}`; commit {commit}{source}).")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells):  # a "|" inside a cell (|FFT2|) would end it
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "---|" * len(header), *(line(r) for r in rows)]


# ----------------------------------------------------------------------------- quickstart
def _decoding_rows(rows: list[dict], target: str) -> list[list[str]]:
    main = {r["source"]: r for r in rows if r["target"] == target and r["decoder"] == "spectra"}
    nwm, drum = main.get("NWM hidden states"), main.get("fixed drum")
    if nwm is None:
        return []
    score = "accuracy" if target == "shape" else "R²"
    what = "shape (3–8 sides)" if target == "shape" else "area"
    chance = f" (chance {nwm['chance']:.2f})" if target == "shape" else ""
    drum_text = (f", fixed drum **{drum['mean']:.2f}** ± {drum['std']:.2f}" if drum else "")
    method = (f"{nwm['description']}, "
              f"{'logistic regression' if target == 'shape' else 'ridge'}, "
              f"{nwm['folds']}-fold CV, {nwm['n']} images")
    out = [[f"{what} from spectra ({score})",
            f"NWM **{nwm['mean']:.2f}** ± {nwm['std']:.2f}{drum_text}{chance}", method]]
    for source, r in (("NWM", nwm), ("fixed drum", drum)):
        if r is None:
            continue
        controls = [c for c in rows if c["target"] == target and c["decoder"] != "spectra"
                    and c["source"] in (r["source"], "input image")]
        if not controls:
            continue
        beaten = [c for c in controls
                  if c.get("control") == "non-spectral" and c["mean"] >= r["mean"]]
        verdict = ("**the spectra do not beat** " + ", ".join(c["description"] for c in beaten)
                   if beaten else "the spectra beat every non-spectral control")
        out.append([f"{what}, {source}: controls ({score})",
                    "; ".join(f"{c['description']} {c['mean']:.2f}" for c in controls),
                    f"same folds; {verdict}"])
    return out


def render_quickstart(record: dict) -> str:
    steps = record.get("steps", {})
    b = record.get("budget", {})
    train = _get(steps, "train", "results", default={})
    test = train.get("test", {})
    sim = _get(steps, "waves", "results", "simulated", default={})
    model = _get(steps, "waves", "results", "model", default={})
    eeg = _get(steps, "eeg", "results", default={})
    planar, rot = sim.get("planar", {}), sim.get("rotating", {})
    n_surr = b.get("n_surrogates_model")
    rows = [
        ["NWM test pixel accuracy",
         f"**{_f(test.get('pixel_accuracy'), '.3f')}** (background only "
         f"{_f(train.get('background_accuracy'), '.3f')})",
         f"{train.get('epochs', '?')} epochs of {b.get('n_train', '?')} images, "
         f"{_f(train.get('n_params'), ',')} parameters"],
        ["NWM foreground accuracy, mean IoU",
         f"{_f(test.get('fg_accuracy'), '.3f')} (chance 1/6), {_f(test.get('miou'), '.3f')}",
         "as above"],
        [f"simulated plane wave ({_f(planar.get('true_speed'), 'g')} px/step at "
         f"{_f(planar.get('true_direction'), '.3f')} rad)",
         f"planar in {_f(100 * planar['share'] if 'share' in planar else None, '.0f')} % of "
         f"frames, PGD {_f(planar.get('pgd'))}, {_f(planar.get('speed'), '.1f')} px/step at "
         f"{_f(planar.get('direction'))} rad", f"`detect_waves`, {n_surr} surrogates"],
        ["simulated rotating wave",
         f"rotating-{rot.get('sense', '?')} in "
         f"{_f(100 * rot['share'] if 'share' in rot else None, '.0f')} % of frames", "same"],
        ["NWM hidden states: local order",
         f"PGD in 8×8 windows **{_f(model.get('local_pgd'))}** (pixels shuffled: "
         f"{_f(model.get('local_pgd_shuffled'))})",
         f"polygon-centred crops, {b.get('n_export', '?')} images"],
        ["NWM hidden states: k–ω ridge", _kw_cell(model),
         "k–ω ridge (`kw_speed`), median over the images"],
    ]
    decoding = _get(steps, "spectra", "results", "decoding", default=[]) or []
    rows += _decoding_rows(decoding, "shape") + _decoding_rows(decoding, "area")
    if eeg:
        sig = eeg.get("significant", {})
        pats = ", ".join(f"{k} {v}" for k, v in sorted(eeg.get("events", {}).items()))
        rows += [
            ["EEG alpha peak (O1, Oz, O2)", f"{_f(eeg.get('alpha_peak_hz'), '.1f')} Hz",
             "Welch, 4 s segments"],
            ["EEG alpha waves",
             f"mean PGD **{_f(eeg.get('mean_pgd'))}**; {eeg.get('n_events', '?')} events "
             f"({pats}), {sum(sig.values())} of them with p ≤ 0.05, "
             f"**{sum(eeg.get('discoveries', {}).values())}** with q ≤ 0.05",
             f"{_f(eeg.get('seconds'), '.0f')} s, {eeg.get('n_channels', '?')} channels, "
             f"8–13 Hz, {b.get('n_surrogates_eeg', '?')} {eeg.get('null', '')} surrogates asked "
             "(phase nulls of long recordings: at least 10 scanned whole), "
             "Benjamini–Hochberg q over the recording"],
            ["EEG planar waves",
             f"median **{_f(eeg.get('planar_speed'), '.2g')} {eeg.get('speed_units', '')}**, "
             f"wavelength {_f(eeg.get('planar_wavelength'), '.2g')} m", "same"],
        ]
    seconds = {name: step.get("seconds") for name, step in steps.items()}
    if all(isinstance(v, (int, float)) for v in seconds.values()) and seconds:
        rows.append(["time of this run",
                     f"{sum(seconds.values()) / 60:.1f} min over the steps, of which "
                     f"training {_f(seconds.get('train'), '.0f')} s",
                     "one thread per process; the machine's load is not recorded"])
    lines = _table(["what", "result", "budget / method"], rows)
    return "\n".join([*lines, "", _provenance(record)])


# ----------------------------------------------------------------------------- tables
_COLUMNS = {"test_fg_accuracy": "fg accuracy", "test_paper_fg_iou": "paper_fg_iou",
            "test_miou": "mIoU", "test_pixel_accuracy": "pixel accuracy",
            "solved_step": "steps to MSE ≤ 0.05", "final_test_mse": "final test MSE",
            "final_test_cross_entropy": "final test cross-entropy",
            "final_test_recall_accuracy": "recall", "test_accuracy": "test accuracy"}


def _cell(row: dict, key: str) -> str:
    st = row["metrics"].get(key)
    if not st:
        return "–"
    fmt = ".3g" if key.startswith("final_") else ".0f" if key == "solved_step" else ".3f"
    per_seed = [r.get(key) for r in row["runs"] if r["finished"]]
    if st.get("mean") is None:
        return "not solved" if key == "solved_step" else "–"
    text = f"{st['mean']:{fmt}}"
    if st.get("sd") is not None:
        text += f" ± {st['sd']:{fmt}}"
    if len(per_seed) > 1:
        text += " (" + ", ".join("not solved" if v is None else f"{v:{fmt}}"
                                 for v in per_seed) + ")"
    return text


def render_reproduce(record: dict) -> str:
    keys = [k for k in _COLUMNS if any(k in r["metrics"] for r in record["rows"])]
    paper = any(r.get("paper") for r in record["rows"])
    header = ["row", "parameters", "seeds done", "progress", *(_COLUMNS[k] for k in keys),
              "collapse rate", "CPU hours", *(["paper"] if paper else [])]
    rows = []
    for r in record["rows"]:
        b = r["budget"]
        prog = ("; ".join(f"{x['steps_done']}/{x['steps_planned']} steps" for x in r["runs"])
                if b.get("max_steps") else
                "; ".join(f"{x['epochs_done']:g}/{x['epochs_planned']} epochs"
                          for x in r["runs"]))
        rows.append([r["label"], _f(r.get("n_params"), ","),
                     f"{len(r['seeds_finished'])}/{len(r['seeds_planned'])}", prog,
                     *(_cell(r, k) for k in keys),
                     _f(r.get("collapse_rate")), _f(r.get("cpu_hours")),
                     *([r.get("paper") or "–"] if paper else [])])
    lines = [f"{record['title']}. Mean ± sd over finished seeds (each seed in brackets).", "",
             *_table(header, rows), ""]
    for o in record.get("orderings", []):
        verdict = {True: "**holds**", False: "**does not hold**",
                   None: "not measured yet"}[o["holds"]]
        lines.append(f"- The papers' ordering {o['claim']} ({o['metric']}): {verdict} at "
                     "this budget.")
    lines += ["", _provenance(record)]
    return "\n".join(lines)


def render_recorded(record: dict) -> str:
    lines = _table(record["columns"], record["rows"])
    return "\n".join([*lines, "", _provenance(record)])


# ----------------------------------------------------------------------------- benchmarks
def _sec(value: float) -> str:
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def _side(side: dict) -> str:
    sec, mem = side["seconds"], side["peak_gib"]
    return (f"{_sec(sec['median'])} s ({_sec(sec['min'])}–{_sec(sec['max'])}), "
            f"{mem['median']:.2f} GiB")


def _against(value: float, goal, extra: str = "") -> str:
    if goal is None:
        return f"{value:.2f}×{extra} (no goal)"
    met = value <= goal
    shown = f"**{value:.2f}×**" if met else f"{value:.2f}×"
    return f"{shown}{extra} (≤ {goal:g}: {'met' if met else 'missed'})"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def render_bench(record: dict) -> str:
    """A side-by-side benchmark (``"kind": "bench"``, written by ``benchmarks/_seedbench``)."""
    rows = []
    for r in record["rows"]:
        t = r["time_ratio"]
        rows.append([r["label"], f"{r['reference_label']}: {_side(r['reference'])}",
                     _side(r["wavescope"]),
                     _against(t["median"], r["goals"]["time"],
                              f" ({t['min']:.2f}–{t['max']:.2f})"),
                     _against(r["memory_ratio"], r["goals"]["memory"]),
                     f"{r['max_abs_output_diff']:.1e} (of {r['max_abs_output']:.1e})"])
    header = ["one training step", "reference", "wavescope", "time ratio (range)",
              "memory ratio", "outputs differ by"]
    seed = record.get("seed_code") or {}
    commit = (seed.get("commit") or "unknown")[:7]
    start, end = record.get("load_average_start"), record.get("load_average_end")
    load = (f"load average {start[0]:.1f} at the start, {end[0]:.1f} at the end "
            "(other jobs on the machine)" if start and end else "load average unknown")
    lines = [*_table(header, rows), "",
             f"{record['title']}: {_n(record['threads'], 'thread')} on {record['device']} "
             f"({record.get('machine', '?')}, torch {record.get('torch', '?')}); medians over "
             f"{_n(record['rounds'], 'alternating round')} of fresh processes, range in "
             f"brackets, {_n(record['repeat'], 'step')} per process; CPU seconds (wall seconds "
             "on CUDA); peak memory is the growth "
             f"of the resident set over the first step; {load}. Seed code: "
             f"`{seed.get('repository', '?')}` at {commit} "
             f"({', '.join(seed.get('files', []))}).", "", _provenance(record)]
    return "\n".join(lines)


def _clock(seconds: float) -> str:
    minutes, sec = divmod(round(seconds), 60)
    return f"{minutes} min {sec:02d} s" if minutes else f"{sec} s"


def render_timing(record: dict) -> str:
    """A timed example (``"kind": "timing"``, written by ``scripts/time_train_example.py``):
    the command as shown to users, then what it cost."""
    example = record["example"]
    for flag in (" --model-kwargs", " --epochs"):  # three lines, as a user would type it
        example = example.replace(flag, " \\\n   " + flag, 1)
    start, end = record["load_average_start"], record["load_average_end"]
    return "\n".join([
        "```bash", example, "```", "",
        f"It took {_clock(record['wall_s'])} wall and "
        f"{_clock(record['cpu_s'])} of CPU, {record['peak_gib']:.2f} GiB peak "
        f"({record['measured_with']}, {record['machine']}, load average "
        f"{start[0]:.1f} at the start and {end[0]:.1f} at the end, {record['date']}).",
        "", _provenance(record)])


RENDERERS = {"quickstart": render_quickstart, "reproduce": render_reproduce,
             "recorded": render_recorded, "bench": render_bench, "timing": render_timing}


def render(name: str, results: Path = RESULTS) -> str:
    """The block ``results:name`` as generated from ``results/name.json``."""
    path = results / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"README block results:{name} has no file {path}")
    record = json.loads(path.read_text())
    record["_name"] = name
    kind = record.get("kind")
    if kind not in RENDERERS:
        raise ValueError(f"{path}: unknown kind {kind!r}; expected one of {list(RENDERERS)}")
    return RENDERERS[kind](record)


def regenerate(text: str, results: Path = RESULTS) -> str:
    """``text`` (the README) with every results block rendered again from its file."""
    def sub(m):
        return m.group(1) + render(m.group("name"), results) + "\n" + m.group(4)

    return BLOCK.sub(sub, text)


def blocks(text: str) -> list[str]:
    return [m.group("name") for m in BLOCK.finditer(text)]


# ----------------------------------------------------------------------------- commands
def copy_quickstart(out: Path, results: Path = RESULTS) -> Path:
    """Copy ``out/metrics.json`` to ``results/quickstart.json`` with its provenance."""
    metrics = Path(out) / "metrics.json"
    if not metrics.exists():
        raise FileNotFoundError(f"{metrics} is missing: run `wavescope quickstart {out}` first")
    data = json.loads(metrics.read_text())
    missing = [s for s in ("train", "waves", "spectra", "eeg") if s not in data.get("steps", {})]
    if missing:
        raise ValueError(f"{metrics} lacks the steps {missing}; run the whole quickstart")
    budget = "full" if data.get("budget", {}).get("n_train") == 3000 else "custom"
    # the source the steps ran (recorded by each step), else this checkout's
    ran = {json.dumps(s.get("git"), sort_keys=True) for s in data["steps"].values()
           if s.get("git")}
    if len(ran) > 1:
        raise ValueError(f"{metrics}: its steps ran from different commits ({sorted(ran)}); "
                         "rerun the whole quickstart")
    git = json.loads(ran.pop()) if ran else git_commit()
    record = {"kind": "quickstart",
              "command": "wavescope quickstart OUT; python scripts/readme_results.py "
                         "--quickstart OUT",
              "source": f"seed {data.get('seed')}, {budget} budget, copied on "
                        f"{time.strftime('%Y-%m-%d', time.gmtime())}",
              "git": git, **data}
    path = results / "quickstart.json"
    write_text(path, json.dumps(record, indent=2) + "\n")
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    p.add_argument("--quickstart", type=Path, metavar="OUT",
                   help="first copy OUT/metrics.json to docs/results/quickstart.json")
    p.add_argument("--readme", type=Path, default=README)
    p.add_argument("--results", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.quickstart:
        print(f"wrote {copy_quickstart(args.quickstart, args.results)}")
    text = args.readme.read_text()
    new = regenerate(text, args.results)
    if args.check:
        if new != text:
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(True), new.splitlines(True), "README.md", "generated"))
            return 1
        print(f"{args.readme}: {len(blocks(text))} results blocks match their files")
        return 0
    if new != text:
        write_text(args.readme, new)
    print(f"{args.readme}: {len(blocks(text))} results blocks regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
