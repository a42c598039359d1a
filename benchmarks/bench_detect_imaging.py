"""detect_waves on an imaging-sized recording: today's code against the code at base commits.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_detect_imaging.py \
        [--base COMMIT ...] [--rounds N] [--out FILE.json]

100 x 100 pixels x 1,000 frames at 25 Hz (40 s), 4,976 of them NaN (outside a circular
cranial window of radius 40 px), 99 surrogates, band 1-3 Hz: five 2-s plane waves at
2 Hz in white noise (noise 0.1 of the wave amplitude), three with a 40 px wavelength and
two with 200 px (longer than the window, which older code labels "synchronous" and
tests with per-site phase randomisation of every pixel). Issue 13 measured 403 s for
such a call. Each base commit (default: efa9e10, the commit before the calibrated
nulls; add the commit before a change to time the change itself) is unpacked with
``git archive`` into a temporary folder, and every side runs in its own subprocess
with its own default null, one thread. With ``--rounds`` > 1 the sides alternate
(this tree, base, ..., this tree, base, ...), so a change in the machine's load hits
them alike; the median per side is compared. Printed per run: seconds, events, peak
resident memory and the load average; then the ratios. Target: this tree <= 30 s.
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

ROOT = Path(__file__).resolve().parents[1]

CASE = r"""
import json, resource, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
import wavescope as ws
from wavescope.analysis import detect_waves

sim = ws.simulate
where, seg = (100, 100), dict(sfreq=25.0, noise=0.1)
parts = []
for i, wavelength in enumerate((40, 200, 40, 200, 40)):
    parts.append(sim.noise(where, n_times=150, sfreq=25.0, seed=10 + i))
    parts.append(sim.plane_wave(where, n_times=50, frequency=2.0, speed=2.0 * wavelength,
                                direction=0.3 + i, seed=20 + i, **seg))
da = sim.sequence(*parts)
yy, xx = np.mgrid[:100, :100]
outside = (yy - 49.5) ** 2 + (xx - 49.5) ** 2 > 40 ** 2
values = da.values.copy()
values[:, outside] = np.nan
da = da.copy(data=values)
t0 = time.perf_counter()
ev = detect_waves(da, (1.0, 3.0), n_surrogates=99, seed=0)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "events": int(ev.sizes["event"]),
                  "patterns": sorted(map(str, ev["pattern"].values)),
                  "p_values": [float(p) for p in ev["p_value"].values],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "nan_pixels": int(outside.sum()),
                  "null": ev.attrs.get("surrogate"), "code": ws.__file__}))
"""


def run_case(pythonpath: str) -> dict:
    env = dict(os.environ, PYTHONPATH=pythonpath, OMP_NUM_THREADS="1")
    # run inside the tree: "-c" puts the working folder first on sys.path
    out = subprocess.run([sys.executable, "-c", CASE], env=env, capture_output=True,
                         text=True, check=True, cwd=pythonpath)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["load"] = round(os.getloadavg()[0], 1)  # 1-min average at the end of the run
    return result


def unpack(commit: str, folder: str) -> str:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "wavescope"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", action="append", help="commit of reference code "
                        "(repeatable; default efa9e10)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating runs per side")
    parser.add_argument("--out", help="write the runs and ratios to this JSON file")
    args = parser.parse_args()
    bases = args.base or ["efa9e10"]
    with tempfile.TemporaryDirectory() as tmp:
        sides = {"this tree": str(ROOT)}
        for commit in bases:
            sides[f"base {commit}"] = unpack(commit, os.path.join(tmp, commit))
        runs = {name: [] for name in sides}
        for _ in range(max(1, args.rounds)):
            for name, path in sides.items():
                r = run_case(path)
                runs[name].append(r)
                print(f"{name:>16}: {r['seconds']:6.1f} s, {r['events']} events "
                      f"({r['null'] or 'auto'} null), p {[round(p, 4) for p in r['p_values']]}, "
                      f"peak {r['peak_mb']:.0f} MB, load {r['load']}", flush=True)
    median = {name: statistics.median(r["seconds"] for r in rs) for name, rs in runs.items()}
    new = median["this tree"]
    ratios = {name: round(sec / new, 2) for name, sec in median.items() if name != "this tree"}
    for name, ratio in ratios.items():
        print(f"ratio {name} / this tree: {ratio:.1f}x (median of {len(runs[name])})")
    print(f"this tree: {new:.1f} s (target <= 30 s)")
    if args.out:
        record = {"command": " ".join(["python", *sys.argv]), "runs": runs,
                  "median_seconds": median, "ratios": ratios}
        tmp_out = f"{args.out}.tmp"
        with open(tmp_out, "w") as f:
            json.dump(record, f, indent=1)
        os.replace(tmp_out, args.out)  # nothing half-written


if __name__ == "__main__":
    main()
