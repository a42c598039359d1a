"""detect_waves on an imaging-sized recording: today's code against the code at base commits.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_detect_imaging.py \
        [--case tester|planes] [--null default|phase ...] [--base COMMIT ...] \
        [--tree COMMIT] [--rounds N] [--out FILE.json]

Both cases: 100 x 100 pixels x 1,000 frames at 25 Hz (40 s), band 1-3 Hz,
``detect_waves(da, (1, 3), n_surrogates=99, seed=0)``, one thread per side.

``--case tester`` (default; issue 13 item 7: 403 s and 1.58 GB for 40 s of such imaging,
"most of it phase-randomising 5,385 NaN pixels", 22 events in it per issue 12): 5,385 NaN
pixels, those outside a circular cranial window of radius 40 px (4,976) and 409 in two
sinuous vessel-like stripes about 2.5 px wide across the window (the pixels nearest
their centre lines, so the count is exact). The stripes keep NaN inside the window, as
masked vessels do in wide-field imaging, so the grid cannot be cropped free of NaN.
22 plane waves at 33 mm/s (the issue's plane-fit speed on the imaging) on a 0.05 mm
pixel pitch, 1.5-2.5 Hz (wavelength 13-22 mm, 2.6-4.4x the 5 mm field: the regime old
code labelled "synchronous"), random directions, 33 frames each (Tukey envelope, 0.3
tapered), one every 45 frames, in white pixel noise of 0.3 of the wave amplitude.

``--case planes`` (the earlier case, kept so the numbers in docs/notes/detect_speed.md
stay reproducible): 4,976 NaN pixels outside the circular window only, five 2-s plane
waves at 2 Hz (noise 0.1), three with a 40 px wavelength and two with 200 px.

Each base commit (default: efa9e10, the code before the issues were filed) is unpacked
with ``git archive`` into a temporary folder, and so is ``--tree COMMIT`` when given
(then "this tree" is that commit, not the working tree, which other work may be
changing); every run is its own subprocess. The
recording's values are made once here (NumPy) and given to each side as a file, so the
sides see the same numbers whatever their ``simulate`` does. ``--null default`` runs
each side with its own default null, ``--null phase`` with ``surrogate="phase"``
(per-site phase randomisation, which both versions have); default: both. With
``--rounds`` > 1 the runs alternate (per round and null: this tree, base, ...), so a
change in the machine's load hits the sides alike; medians per side and null are
compared. Printed per run: wall and CPU seconds of ``detect_waves``, events, patterns,
p-values, the surrogates scanned (where the side reports them), peak resident memory
and the load averages. Target (issue 13): this tree <= 30 s and >= 10x faster than
efa9e10 on the tester's case.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: The tester's case: grid, timing, NaN pixels, waves (see the module docstring).
SIZE, N_TIMES, SFREQ, PITCH = 100, 1000, 25.0, 0.05  # px, frames, Hz, mm per px
N_NAN, N_EVENTS, SPEED, NOISE = 5385, 22, 33.0, 0.3  # pixels, waves, mm/s, of amplitude
WAVE_FRAMES, PERIOD_FRAMES, FIRST_FRAME = 33, 45, 10


def window_mask() -> np.ndarray:
    """True outside a circular window of radius 40 px centred on the 100 x 100 grid."""
    c = np.arange(SIZE) - (SIZE - 1) / 2
    return c[:, None] ** 2 + c[None, :] ** 2 > 40.0**2


def tester_mask() -> np.ndarray:
    """The window's outside plus the N_NAN - 4,976 inside pixels nearest two sinuous
    vessel centre lines (one across, one down the window, slightly tilted)."""
    outside = window_mask()
    yi, xi = np.mgrid[:SIZE, :SIZE].astype(float)
    across = np.abs(yi - (32 + 6 * np.sin(xi / 9.0)))
    down = np.abs(xi - (63 + 5 * np.sin(yi / 11.0) + 0.15 * (yi - 50)))
    distance = np.minimum(across, down).ravel()
    inside = np.flatnonzero(~outside.ravel())
    nearest = inside[np.argsort(distance[inside], kind="stable")]
    mask = outside.ravel().copy()
    mask[nearest[: N_NAN - outside.sum()]] = True
    return mask.reshape(SIZE, SIZE)


def tester_values(seed: int = 0) -> np.ndarray:
    """(time, y, x) float64: N_EVENTS tapered plane waves in white noise, NaN outside the
    mask's live pixels. Frequencies, directions and phases drawn from ``seed``."""
    from scipy.signal.windows import tukey

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:SIZE, :SIZE] * PITCH
    t = np.arange(WAVE_FRAMES) / SFREQ
    values = NOISE * rng.standard_normal((N_TIMES, SIZE, SIZE))
    envelope = tukey(WAVE_FRAMES, 0.3)[:, None, None]
    for i in range(N_EVENTS):
        f, d, phase0 = rng.uniform(1.5, 2.5), rng.uniform(-np.pi, np.pi), rng.uniform(0, 6.3)
        k = 2 * np.pi * f / SPEED  # rad/mm
        a = FIRST_FRAME + PERIOD_FRAMES * i
        phase = (2 * np.pi * f * t[:, None, None] - k * (np.cos(d) * x + np.sin(d) * y)
                 + phase0)
        values[a:a + WAVE_FRAMES] += envelope * np.cos(phase)
    values[:, tester_mask()] = np.nan
    return values


#: The child: builds the recording with the side's own data model and times detect_waves.
CASE = r"""
import json, resource, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
import wavescope as ws
from wavescope.analysis import detect_waves

case, null, path = sys.argv[1:4]
sim = ws.simulate
if case == "tester":
    values = np.load(path)
    da = sim.noise((100, 100), n_times=1000, sfreq=25.0, spacing=0.05, space_units="mm",
                   seed=0).copy(data=values)
else:  # "planes": the earlier case, built by the side's own simulate as it was
    where, seg = (100, 100), dict(sfreq=25.0, noise=0.1)
    parts = []
    for i, wavelength in enumerate((40, 200, 40, 200, 40)):
        parts.append(sim.noise(where, n_times=150, sfreq=25.0, seed=10 + i))
        parts.append(sim.plane_wave(where, n_times=50, frequency=2.0,
                                    speed=2.0 * wavelength, direction=0.3 + i,
                                    seed=20 + i, **seg))
    da = sim.sequence(*parts)
    yy, xx = np.mgrid[:100, :100]
    values = da.values.copy()
    values[:, (yy - 49.5) ** 2 + (xx - 49.5) ** 2 > 40 ** 2] = np.nan
    da = da.copy(data=values)
kwargs = {} if null == "default" else {"surrogate": null}
t0, c0 = time.perf_counter(), time.process_time()
ev = detect_waves(da, (1.0, 3.0), n_surrogates=99, seed=0, **kwargs)
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
sig = json.loads(ev.attrs.get("significance", "null"))
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "events": int(ev.sizes["event"]),
                  "patterns": sorted(map(str, ev["pattern"].values)),
                  "p_values": [float(p) for p in ev["p_value"].values],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "nan_pixels": int(np.isnan(da.values[0]).sum()),
                  "null": ev.attrs.get("surrogate"),
                  "scanned": sig["per_trial"][0] if sig else None, "code": ws.__file__}))
"""


def run_case(pythonpath: str, case: str, null: str, data: str) -> dict:
    env = dict(os.environ, PYTHONPATH=pythonpath, OMP_NUM_THREADS="1")
    before = [round(v, 1) for v in os.getloadavg()]
    # run inside the tree: "-c" puts the working folder first on sys.path
    out = subprocess.run([sys.executable, "-c", CASE, case, null, data], env=env,
                         capture_output=True, text=True, cwd=pythonpath)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1], "null": null}
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["load"] = round(os.getloadavg()[0], 1)  # 1-min average at the end of the run
    result["load_before"] = before  # 1, 5, 15-min averages at its start
    return result


def unpack(commit: str, folder: str) -> str:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "wavescope"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def describe(name: str, r: dict) -> str:
    if "error" in r:
        return f"{name:>16} [{r['null']}]: failed: {r['error']}"
    scanned = r.get("scanned") or {}
    scanned = scanned.get("surrogates_scanned", "") if isinstance(scanned, dict) else ""
    return (f"{name:>16} [{r['null'] or 'auto'}]: {r['seconds']:6.1f} s "
            f"(cpu {r['cpu_seconds']:.1f}), {r['events']} events "
            f"{dict((p, r['patterns'].count(p)) for p in sorted(set(r['patterns'])))}, "
            f"p {sorted(round(p, 4) for p in r['p_values'])}, scanned {scanned}, "
            f"peak {r['peak_mb']:.0f} MB, load {r['load_before'][0]} -> {r['load']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("tester", "planes"), default="tester")
    parser.add_argument("--null", action="append", choices=("default", "phase"),
                        help="null per side (repeatable; default: default and phase)")
    parser.add_argument("--base", action="append", help="commit of reference code "
                        "(repeatable; default efa9e10)")
    parser.add_argument("--tree", help="time this commit as 'this tree' instead of the "
                        "working tree")
    parser.add_argument("--rounds", type=int, default=1, help="alternating runs per side")
    parser.add_argument("--out", help="write the runs and ratios to this JSON file")
    args = parser.parse_args()
    bases = args.base or ["efa9e10"]
    nulls = args.null or ["default", "phase"]
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "wavescope"],
                           capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "values.npy")
        if args.case == "tester":
            np.save(data, tester_values())
        sides = {"this tree": unpack(args.tree, os.path.join(tmp, "tree")) if args.tree
                 else str(ROOT)}
        for commit in bases:
            sides[f"base {commit}"] = unpack(commit, os.path.join(tmp, commit))
        runs = {null: {name: [] for name in sides} for null in nulls}
        record = {"command": " ".join(["python", *sys.argv]), "case": args.case,
                  "head": head, "tree": args.tree or "working tree",
                  "wavescope_modified": [] if args.tree else dirty.splitlines(),
                  "cpus": os.cpu_count(), "runs": runs}
        for _ in range(max(1, args.rounds)):
            for null in nulls:
                for name, path in sides.items():
                    r = run_case(path, args.case, null, data)
                    runs[null][name].append(r)
                    print(describe(name, r), flush=True)
                    record.update(summary(runs))
                    if args.out:  # after every run, so a stopped benchmark leaves its runs
                        write(record, args.out)
    for null, ratios in record["ratios"].items():
        for name, ratio in ratios.items():
            print(f"[{null}] ratio {name} / this tree: {ratio:.1f}x wall, "
                  f"{record['cpu_ratios'][null][name]:.1f}x CPU (medians "
                  f"{record['median_seconds'][null][name]:.1f} / "
                  f"{record['median_seconds'][null]['this tree']:.1f} s)")


def summary(runs: dict) -> dict:
    """Median wall and CPU seconds per null and side, and base / this tree ratios."""
    out = {"median_seconds": {}, "median_cpu_seconds": {}, "ratios": {}, "cpu_ratios": {}}
    for null, per_side in runs.items():
        done = {name: rs for name, rs in per_side.items()
                if rs and all("error" not in r for r in rs)}
        for key, field, ratio in (("seconds", "median_seconds", "ratios"),
                                  ("cpu_seconds", "median_cpu_seconds", "cpu_ratios")):
            med = {name: statistics.median(r[key] for r in rs) for name, rs in done.items()}
            out[field][null] = med
            if "this tree" in med:
                out[ratio][null] = {name: round(sec / med["this tree"], 2)
                                    for name, sec in med.items() if name != "this tree"}
    return out


def write(record: dict, path: str) -> None:
    tmp_out = f"{path}.tmp"
    with open(tmp_out, "w") as f:
        json.dump(record, f, indent=1)
    os.replace(tmp_out, path)  # nothing half-written


if __name__ == "__main__":
    main()
