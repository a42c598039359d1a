"""Pattern labels, accuracy and interval coverage of plane waves across wavelengths.

Plane waves of wavelength 1, 3, 10 and 30 times the array's extent (5 Hz, sampled at
100 Hz, white noise of 0.3 times the signal's SD per site, band-pass 2-12 Hz), on a
10 x 10 grid without its corners, 64 irregular sensors (uniform in an 8 x 8 square) and
a 100 x 100 grid; then a zero-lag oscillation and noise alone. Prints one markdown row
per case: the share of frames labelled planar (or synchronous / any wave), the per-frame
median errors of speed and direction, and the share of frames (0.2 s apart, nearly
independent) whose 95 % interval holds the true speed, direction and wavelength.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/wave_intervals.py [--quick]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import xarray as xr

import wavescope as ws
from wavescope.analysis import analytic_signal, classify_patterns

SFREQ, FREQ, BAND, DIRECTION = 100.0, 5.0, (2.0, 12.0), 0.7
NOISE = 0.3 / np.sqrt(2)


def layouts():
    xy = np.random.default_rng(1).uniform(0.0, 8.0, (64, 2))
    return {"10x10 grid, corners missing": ((10, 10), 9.0, True),
            "64 irregular sensors": (xy, float(np.ptp(xy, axis=0).max()), False),
            "100x100 grid": ((100, 100), 99.0, False)}


def labelled(where, corners, n_trials, n_times, edge, make):
    da = xr.concat([make(where, seed) for seed in range(n_trials)], dim="trial")
    if corners:
        values = da.values.copy()
        values[..., [0, 0, -1, -1], [0, -1, 0, -1]] = np.nan
        da = da.copy(data=values)
    z = analytic_signal(da, band=BAND).isel(time=slice(edge, n_times - edge))
    return classify_patterns(z)


def main(quick: bool) -> None:
    print("| sites | wavelength / extent | planar | speed error (median) | direction error "
          "(median) | 95 % interval holds speed / direction / wavelength | frames |")
    print("|---|---|---|---|---|---|---|")
    for name, (where, extent, corners) in layouts().items():
        big = name.startswith("100")
        # 10,000 sites: intervals so narrow that the filter's transients matter up to 2 s
        # from the ends, so 2 s are cut there (1 s elsewhere)
        n_trials, n_times, edge, step = ((2 if quick else 4), 500, 200, 10) if big else (
            (10 if quick else 50), 400, 100, 20)
        for ratio in (1, 3, 10, 30):
            wavelength = ratio * extent
            speed = wavelength * FREQ
            t0 = time.perf_counter()
            c = labelled(where, corners, n_trials, n_times, edge, lambda w, s, n=n_times,
                         v=speed: ws.simulate.plane_wave(
                             w, n_times=n, sfreq=SFREQ, frequency=FREQ, speed=v,
                             direction=DIRECTION, noise=NOISE, seed=s))
            every = c.isel(time=slice(0, None, step))
            lo, hi = every["direction_low"].values, every["direction_high"].values
            cover = [
                np.mean((every["speed_low"] <= speed) & (speed <= every["speed_high"])),
                np.mean((np.mod(DIRECTION - lo, 2 * np.pi) <= np.mod(hi - lo, 2 * np.pi))
                        & np.isfinite(lo)),
                np.mean((every["wavelength_low"] <= wavelength)
                        & (wavelength <= every["wavelength_high"]))]
            err_s = 100 * (float(c["speed"].median()) / speed - 1)
            err_d = np.degrees(np.angle(np.exp(1j * (float(c["direction"].median())
                                                     - DIRECTION))))
            print(f"| {name} | {ratio} | {np.mean(c['pattern'].values == 'planar'):.3f} | "
                  f"{err_s:+.2f} % | {err_d:+.2f} deg | "
                  f"{' / '.join(f'{float(x):.3f}' for x in cover)} | {every['pattern'].size}"
                  f" ({time.perf_counter() - t0:.0f} s) |", flush=True)
        for kind in ("zero-lag oscillation", "noise alone"):
            def make(w, s, kind=kind):
                if kind == "noise alone":
                    return ws.simulate.noise(w, n_times=400, sfreq=SFREQ, seed=s)
                return ws.simulate.plane_wave(w, n_times=400, sfreq=SFREQ, frequency=FREQ,
                                              speed=1e12, noise=NOISE, seed=s)
            c = labelled(where, corners, 1 if big else n_trials, 400, 100, make)
            labels = c["pattern"].values
            share = (np.mean(labels == "synchronous") if kind.startswith("zero")
                     else np.mean(labels != "none"))
            what = "synchronous" if kind.startswith("zero") else "labelled a wave"
            finite = int(np.isfinite(c["speed"].values[labels == "synchronous"]).sum())
            print(f"| {name} | {kind} | {what}: {share:.3f} | finite speeds on synchronous "
                  f"frames: {finite} | | | {labels.size} |", flush=True)


if __name__ == "__main__":
    main("--quick" in sys.argv)
