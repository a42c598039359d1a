"""Frame labels of classify_patterns on spatially correlated, wave-free frames.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/calibrate_frames.py [--quick]

The event p-values of detect_waves are calibrated by surrogates (calibrate_nulls.py);
the per-frame labels are not: the plane fit's slope test (a spatial HAC covariance,
docs/notes/waves.md) estimates the residuals' correlation from the frame itself. This
measures how often it calls a wave-free frame a wave, by correlation family and length,
and how often it finds a plane wave in the same noise.

Frames are independent draws of a circular complex Gaussian field (an analytic signal's
frame) with correlation ``exp(-(d / l)**2)`` ("gauss", smooth, as volume conduction) or
``exp(-d / l)`` ("exp", rough but long-reaching), ``l`` a share of the array's extent,
plus an optional in-phase component of amplitude ``sync`` (noise standard deviation 1),
on a 32 x 32 grid, a 10 x 10 grid without its corners and 64 random sensors. Power: a
plane wave of wavelength equal to the extent, amplitude 3, in the same noise (no in-phase
part). The table goes into docs/notes/calibration.md between markers and
docs/notes/calibration_frames.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
from _notes import write_table

import wavescope as ws
from wavescope.analysis import classify_patterns

NOTES = Path(__file__).resolve().parents[1] / "docs" / "notes"
START, END = "<!-- frame table: start -->", "<!-- frame table: end -->"
FIELDS = (("independent", 0.0), ("gauss", 0.1), ("gauss", 0.3), ("exp", 0.1), ("exp", 0.3),
          ("gauss", 0.6))


def layout(name: str, rng) -> tuple[np.ndarray, callable]:
    """Site positions (n, 2) and a function frames (f, n) -> DataArray."""
    if name == "sensors-64":
        xy = rng.uniform(0.0, 8.0, (64, 2))
        return xy, lambda z: ws.from_array(z, ("time", "channel"), sfreq=100.0,
                                           positions=xy, space_units="mm")
    n = int(name.split("x")[0].split("-")[1])
    y, x = np.mgrid[0:n, 0:n].astype(float)
    keep = np.ones((n, n), bool)
    if name.endswith("corners"):
        keep[[0, 0, -1, -1], [0, -1, 0, -1]] = False
    xy = np.column_stack([x[keep], y[keep]])

    def grid(z):
        full = np.full((len(z), n * n), np.nan + 0j)
        full[:, keep.ravel()] = z
        return ws.from_array(full.reshape(-1, n, n), ("time", "y", "x"), sfreq=100.0)
    return xy, grid


def mixing(xy, family: str, share: float) -> np.ndarray | None:
    """A matrix that gives independent site noise the correlation ``family`` at length
    ``share`` of the extent (None: independent); one eigendecomposition per cell."""
    if family == "independent":
        return None
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    ell = share * np.ptp(xy[:, 0])
    corr = np.exp(-((d / ell) ** 2)) if family == "gauss" else np.exp(-d / ell)
    w, v = np.linalg.eigh(corr)
    return (v * np.sqrt(np.clip(w, 0.0, None))).T


def noise(mix, n_sites: int, n_frames: int, rng) -> np.ndarray:
    g = (rng.standard_normal((n_frames, n_sites))
         + 1j * rng.standard_normal((n_frames, n_sites))) / np.sqrt(2)
    return g if mix is None else g @ mix


def shares(da) -> tuple[float, float, float]:
    """Shares of frames labelled planar, any travelling wave, synchronous."""
    pattern = classify_patterns(da)["pattern"].values
    still = (pattern == "none") | (pattern == "synchronous")
    return (float(np.mean(pattern == "planar")), float(np.mean(~still)),
            float(np.mean(pattern == "synchronous")))


def run(quick: bool) -> dict:
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    n_frames = 60 if quick else 400
    rows = []
    for name in ("grid-32x32", "grid-10x10-corners", "sensors-64"):
        xy, make = layout(name, rng)
        extent = float(np.ptp(xy[:, 0]))
        k = 2 * np.pi / extent * np.array([np.cos(0.6), np.sin(0.6)])
        for family, share in FIELDS:
            row = {"layout": name, "field": family, "length": share}
            mix = mixing(xy, family, share)
            for sync in (0.0, 2.0):
                z = noise(mix, len(xy), n_frames, rng)
                z += sync * np.exp(2j * np.pi * rng.random((n_frames, 1)))
                (row[f"planar_sync{sync:g}"], row[f"travelling_sync{sync:g}"],
                 row[f"synchronous_sync{sync:g}"]) = shares(make(z))
            phase = 2 * np.pi * rng.random((n_frames, 1)) - xy @ k
            wave = 3.0 * np.exp(1j * phase) + noise(mix, len(xy), n_frames, rng)
            row["power_planar"] = shares(make(wave))[0]
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {"rows": rows, "frames": n_frames, "quick": quick,
            "seconds": round(time.perf_counter() - t0, 1),
            "command": "OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/calibrate_frames.py",
            "cpu": f"{os.cpu_count()} cores, OMP_NUM_THREADS="
                   f"{os.environ.get('OMP_NUM_THREADS', 'unset')}"}


def table(result: dict) -> str:
    lines = ["| layout | noise (length / extent) | planar | any travelling wave "
             "| planar, in-phase 2 | any travelling wave, in-phase 2 "
             "| synchronous, in-phase 2 | plane wave found (amplitude 3) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        noise_name = r["field"] if r["field"] == "independent" \
            else f"{r['field']} {r['length']:g}"
        lines.append(f"| {r['layout']} | {noise_name} | {r['planar_sync0']:.3f} | "
                     f"{r['travelling_sync0']:.3f} | {r['planar_sync2']:.3f} | "
                     f"{r['travelling_sync2']:.3f} | {r['synchronous_sync2']:.3f} | "
                     f"{r['power_planar']:.3f} |")
    lines += ["", f"{result['frames']} frames per cell, classify_patterns' defaults "
              "(travelling: planar, source, sink, rotating); "
              f"the run took {result['seconds']:.0f} s ({result['cpu']}): "
              f"`{result['command']}`."]
    return "\n".join(lines)


def write(result: dict) -> None:
    write_table(NOTES / "calibration.md", START, END, table(result),
                NOTES / "calibration_frames.json", result, "Calibration of the nulls")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (no files written)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    result = run(args.quick)
    print(table(result))
    if not args.quick:
        write(result)


if __name__ == "__main__":
    main()
