"""detect_waves on an imaging-sized recording: today's code against the code at a base commit.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_detect_imaging.py [--base COMMIT]

100 x 100 pixels x 1,000 frames at 25 Hz (40 s), 4,976 of them NaN (outside a circular
cranial window of radius 40 px), 99 surrogates, band 1-3 Hz: five 2-s plane waves at
2 Hz in white noise (noise 0.1 of the wave amplitude), three with a 40 px wavelength and
two with 200 px (longer than the window, which older code labels "synchronous" and
tests with per-site phase randomisation of every pixel). Issue 13 measured 403 s for
such a call. The base code (default: the commit before the calibrated nulls, efa9e10)
is unpacked with ``git archive`` into a temporary folder and run in a subprocess, both
sides with their own default null; the ratio is printed. Target: >= 10x, <= 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASE = r"""
import json, sys, time, warnings
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
                  "nan_pixels": int(outside.sum()),
                  "null": ev.attrs.get("surrogate"), "code": ws.__file__}))
"""


def run_case(pythonpath: str) -> dict:
    env = dict(os.environ, PYTHONPATH=pythonpath, OMP_NUM_THREADS="1")
    # run inside the tree: "-c" puts the working folder first on sys.path
    out = subprocess.run([sys.executable, "-c", CASE], env=env, capture_output=True,
                         text=True, check=True, cwd=pythonpath)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="efa9e10", help="commit of the reference code")
    args = parser.parse_args()
    new = run_case(str(ROOT))
    print(f"this tree:   {new['seconds']:.1f} s, {new['events']} events "
          f"({new['null']} null), {new['nan_pixels']} NaN pixels ({new['code']})",
          flush=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.base, "wavescope"],
                             capture_output=True, check=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        t0 = time.perf_counter()
        old = run_case(tmp)
        wall = time.perf_counter() - t0
    print(f"base {args.base}: {old['seconds']:.1f} s ({wall:.0f} s with start-up), "
          f"{old['events']} events ({old['null'] or 'auto'} null; {old['code']})")
    print(f"ratio base / this tree: {old['seconds'] / new['seconds']:.1f}x "
          f"(target >= 10x, this tree <= 30 s)")


if __name__ == "__main__":
    main()
