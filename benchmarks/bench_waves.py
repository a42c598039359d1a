"""Side-by-side speed and memory of the wave measures (run on demand, not by the tests).

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_waves.py [--frames 10000]
        [--repeat 5] [--sections 1234] [--no-notes]

1. Phase gradient + PGD on a 64 x 64 grid x N frames against the memory-bandwidth floor:
   ``np.copyto`` of the same array into a buffer faulted in beforehand (a fresh
   allocation would add its page faults to the floor and flatter the ratio). Inputs: the
   analytic signal as ``analytic_signal`` returns it (the real pipeline's layout) from a
   float64 and from a float32 recording, a frame-ordered complex128 array built directly,
   and its phase. Target: within 5x (stretch 3x). The table (medians with spread, ratios
   of medians) goes into ``docs/notes/waves_speed.md`` between markers and
   ``docs/notes/waves_speed.json`` (``--no-notes``: print only).
2. Peak memory (tracemalloc) of the streaming functions at growing recording lengths:
   it should not grow beyond the output.
3. ``fit_plane_wave`` against an exhaustive 361-direction x 181-frequency grid search
   (65,341 candidates per frame, evaluated as one matrix product per block of frames),
   on a 16 x 16 grid and on 64 irregular positions with noise. Target: >= 50x faster at
   equal or better accuracy.
4. Welch spectra of a 32 x 32 x ``--welch-frames`` float32 recording (time slowest, as
   recordings load): ``spectrum(da, "welch")`` against MNE's ``psd_array_welch`` on the
   same values laid out (sites, time), equal segments. Target: within 1.2x.

Every ratio is measured in one run; the sides of a ratio are timed in interleaved rounds,
``--repeat`` times each (section 1: medians; the others: best of each).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
import tracemalloc
from functools import partial
from pathlib import Path

import numpy as np
import xarray as xr
from _notes import write_table

import wavescope as ws
from wavescope.analysis import (
    analytic_signal,
    fit_plane_wave,
    pgd,
    phase,
    phase_gradient,
    spectrum,
    synchrony,
    wave_speed,
)
from wavescope.analysis._geometry import typical_spacing

NOTES = Path(__file__).resolve().parents[1] / "docs" / "notes"
START, END = "<!-- gradient table: start -->", "<!-- gradient table: end -->"


def best_time(func, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


def rounds(funcs: dict, repeat: int, prepare: dict | None = None) -> dict:
    """Wall times of each function over ``repeat`` rounds that run each once in turn,
    so every side sees the same machine load and the same number of tries; a function
    in ``prepare`` under the same name runs untimed just before each try."""
    times = {name: [] for name in funcs}
    for _ in range(repeat):
        for name, func in funcs.items():
            (prepare or {}).get(name, lambda: None)()
            times[name].append(best_time(func, 1))
    return times


def cpu_rounds(funcs: dict, repeat: int, prepare: dict | None = None) -> dict:
    """As :func:`rounds`, in CPU seconds of this process (time.process_time): free of
    the time other jobs hold the core, not of their share of caches and memory."""
    times = {name: [] for name in funcs}
    for _ in range(repeat):
        for name, func in funcs.items():
            (prepare or {}).get(name, lambda: None)()
            t0 = time.process_time()
            func()
            times[name].append(time.process_time() - t0)
    return times


def interleaved(funcs: dict, repeat: int) -> dict:
    """Best time of each function over interleaved rounds (see :func:`rounds`)."""
    return {name: min(t) for name, t in rounds(funcs, repeat).items()}


def plane_wave_grid(n_frames: int, size: int = 64, seed: int = 0):
    """A noisy plane wave as an analytic signal on a size x size grid, complex128."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames)[:, None, None]
    yy, xx = np.mgrid[0:size, 0:size]
    z = np.exp(1j * (0.3 * t - 0.4 * xx - 0.2 * yy))
    z += 0.1 * (rng.standard_normal(z.shape) + 1j * rng.standard_normal(z.shape))
    return ws.from_array(z, ("time", "y", "x"), sfreq=100.0)


def _layout(da) -> str:
    strides = da.data.strides
    step = strides[da.get_axis_num("time")]
    return ("time fastest" if step == da.dtype.itemsize else
            "frame-ordered" if step == max(strides) else "mixed")


def bench_gradient(n_frames: int, repeat: int) -> dict:
    print(f"\n[1] phase gradient + PGD, 64 x 64 grid x {n_frames} frames; floor: np.copyto "
          f"of the input into a pre-faulted buffer; {repeat} interleaved rounds, median "
          "[min-max]")
    z = plane_wave_grid(n_frames)
    # the real pipeline: the band-passed analytic signal (0.3 rad/sample = 4.8 Hz) of a
    # float64 recording (complex128) and of a float32 one (complex64)
    rows = [("complex128 from analytic_signal", analytic_signal(z.real, band=(3.0, 7.0))),
            ("complex64 from analytic_signal",
             analytic_signal(z.real.astype(np.float32), band=(3.0, 7.0))),
            ("complex128 built frame-ordered", z),
            ("float64 phase", phase(z))]
    load = [os.getloadavg()[0]]
    result = {"frames": n_frames, "repeat": repeat, "rows": []}
    for label, activity in rows:
        data = activity.data
        buffer = np.empty_like(data)
        copy = partial(np.copyto, buffer, data)
        # the floor's buffer is faulted in (again) just before each timed copy: the
        # kernel's compaction may move its pages between rounds, which the next touch pays
        t = rounds({"copy": copy, "pgd": lambda a=activity: pgd(a).values,
                    "two": lambda a=activity: pgd(phase_gradient(a)).values}, repeat,
                   prepare={"copy": copy})
        cpu = cpu_rounds({"copy": copy, "pgd": lambda a=activity: pgd(a).values}, repeat,
                         prepare={"copy": copy})
        med = {k: float(np.median(v)) for k, v in t.items()}
        row = {"input": label, "layout": _layout(activity), "mb": data.nbytes / 1e6,
               "times_s": {k: [round(x, 4) for x in v] for k, v in t.items()},
               "median_s": med,
               "pgd_over_copy": med["pgd"] / med["copy"],
               "two_over_copy": med["two"] / med["copy"],
               "pgd_over_copy_best": min(t["pgd"]) / min(t["copy"]),
               "cpu_s": {k: [round(x, 4) for x in v] for k, v in cpu.items()},
               "pgd_over_copy_cpu": float(np.median(cpu["pgd"]) / np.median(cpu["copy"]))}
        result["rows"].append(row)
        print(f"  {label} ({row['layout']}, {row['mb']:.0f} MB): copy floor "
              f"{_spread(t['copy'])}; pgd (gradient + PGD, streamed) {_spread(t['pgd'])} "
              f"-> {row['pgd_over_copy']:.1f}x the floor (best/best "
              f"{row['pgd_over_copy_best']:.1f}x, CPU time {row['pgd_over_copy_cpu']:.1f}x); "
              "phase_gradient then pgd "
              f"{_spread(t['two'])} -> {row['two_over_copy']:.1f}x")
        load.append(os.getloadavg()[0])
    result["load"] = [round(x, 1) for x in load]
    print(f"  load average (1 min) during the runs: {min(load):.1f}-{max(load):.1f}")
    return result


def _spread(times) -> str:
    return f"{np.median(times):.3f} s [{min(times):.3f}-{max(times):.3f}]"


def gradient_table(r: dict) -> str:
    lines = [f"64 x 64 grid x {r['frames']} frames, {r['repeat']} interleaved rounds, "
             f"one thread, load average {min(r['load']):.1f}-{max(r['load']):.1f} on 2 "
             f"cores, commit {r['commit']}. Seconds: median [min-max] of wall time; ratios "
             "of medians to the pre-faulted np.copyto floor (CPU time: the same rounds "
             "timed by time.process_time).", "",
             "| input (layout) | copy floor | pgd (streamed) | ratio | ratio in CPU time | "
             "phase_gradient then pgd | ratio |", "|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        t = row["times_s"]
        lines.append(f"| {row['input']} ({row['layout']}, {row['mb']:.0f} MB) | "
                     f"{_spread(t['copy'])} | {_spread(t['pgd'])} | "
                     f"**{row['pgd_over_copy']:.1f}x** | {row['pgd_over_copy_cpu']:.1f}x | "
                     f"{_spread(t['two'])} | "
                     f"{row['two_over_copy']:.1f}x |")
    return "\n".join(lines)


def peak_bytes(func) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def bench_memory(lengths) -> None:
    print("\n[2] peak memory beyond the input (tracemalloc), 64 x 64 grid")
    funcs = {"pgd": pgd, "synchrony": synchrony, "wave_speed": wave_speed,
             "fit_plane_wave": lambda z: fit_plane_wave(z)["speed"]}
    rows = []
    for n in lengths:
        z = plane_wave_grid(n)
        rows.append({"frames": n, "output": n * 8,
                     **{name: peak_bytes(partial(_values, func, z))
                        for name, func in funcs.items()}})
    print("  " + " ".join(f"{h:>14}" for h in ["frames", "output", *funcs]))
    for r in rows:
        print("  " + " ".join([f"{r['frames']:>14}"] + [f"{r[k] / 1e6:>12.2f}MB"
                                                         for k in ["output", *funcs]]))
    first, last = rows[0], rows[-1]
    for name in funcs:
        growth = (last[name] - first[name]) / max(1, last["output"] - first["output"])
        print(f"  {name}: peak grows {growth:.1f} bytes per output byte from "
              f"{first['frames']} to {last['frames']} frames")


def _values(func, z):
    return func(z).values


class Exhaustive:
    """The reference: R(a, b) at 361 directions x 181 spatial frequencies per frame."""

    def __init__(self, xy: np.ndarray, k_max: float):
        theta = np.radians(np.arange(0.0, 361.0, 1.0))
        kappa = np.linspace(0.0, k_max, 181)
        tt, kk = np.meshgrid(theta, kappa, indexing="ij")
        self.cand = np.column_stack([(kk * np.cos(tt)).ravel(), (kk * np.sin(tt)).ravel()])
        self.basis = np.exp(-1j * (xy @ self.cand.T))  # (n_sites, 65,341)

    def fit(self, u: np.ndarray, block: int = 64) -> np.ndarray:
        out = np.empty((len(u), 2))
        for i in range(0, len(u), block):
            r = np.abs(u[i:i + block] @ self.basis)
            out[i:i + block] = self.cand[np.argmax(r, axis=1)]
        return out


def bench_fit(repeat: int, n_waves: int = 8, frames_per_wave: int = 250) -> None:
    print(f"\n[3] fit_plane_wave vs exhaustive 361 x 181 search ({n_waves} waves x "
          f"{frames_per_wave} frames, noise 0.5)")
    rng = np.random.default_rng(3)
    layouts = {
        "16 x 16 grid": (16, 16),
        "64 irregular positions": rng.uniform(0, 8, (64, 2)),
    }
    for name, sites in layouts.items():
        dirs = rng.uniform(-np.pi, np.pi, n_waves)
        speeds = rng.uniform(12.0, 60.0, n_waves)  # wavelengths 2.4 .. 12 sites
        trials = []
        for d, s in zip(dirs, speeds, strict=True):
            da = ws.simulate.plane_wave(sites, n_times=frames_per_wave + 100, sfreq=100.0,
                                        frequency=5.0, speed=s, direction=d, noise=0.5,
                                        seed=int(rng.integers(1 << 30)))
            trials.append(analytic_signal(da, band=(3.0, 8.0)).isel(
                time=slice(50, 50 + frames_per_wave)))
        z = xr.concat(trials, dim="trial")  # one wave per trial: (trial, time, space)
        truth_dir = np.repeat(dirs, frames_per_wave)
        truth_speed = np.repeat(speeds, frames_per_wave)
        fit = fit_plane_wave(z)
        t_ours = best_time(lambda z=z: fit_plane_wave(z)["speed"].values, repeat)
        # the reference searches the disk our fit searches by default
        k_max = np.pi if isinstance(sites, tuple) else np.pi / typical_spacing(sites)
        ref = Exhaustive(ws.positions(z.isel(trial=0)), k_max)
        u = (z / np.abs(z)).values.reshape(len(truth_dir), -1)
        t0 = time.perf_counter()
        k_ref = ref.fit(u)
        t_ref = time.perf_counter() - t0
        # both speeds from the same temporal frequency: only the spatial fits differ
        omega = (fit["speed"] * np.hypot(fit["dphi_dx"], fit["dphi_dy"])).values.ravel()
        ref_dir = np.arctan2(-k_ref[:, 1], -k_ref[:, 0])
        ref_speed = omega / np.hypot(k_ref[:, 0], k_ref[:, 1])
        ours = _errors(fit["direction"].values.ravel(), fit["speed"].values.ravel(),
                       truth_dir, truth_speed)
        theirs = _errors(ref_dir, ref_speed, truth_dir, truth_speed)
        n = len(truth_dir)
        print(f"  {name}: fit_plane_wave {t_ours / n * 1e3:.3f} ms/frame, exhaustive "
              f"{t_ref / n * 1e3:.3f} ms/frame -> {t_ref / t_ours:.0f}x faster")
        print(f"    direction error median/mean/max: ours {ours[0]:.2f}/{ours[1]:.2f}/"
              f"{ours[2]:.2f} deg, exhaustive {theirs[0]:.2f}/{theirs[1]:.2f}/{theirs[2]:.2f}")
        print(f"    speed error median/mean/max: ours {ours[3]:.2f}/{ours[4]:.2f}/{ours[5]:.2f}"
              f" %, exhaustive {theirs[3]:.2f}/{theirs[4]:.2f}/{theirs[5]:.2f} %")


def _errors(direction, speed, truth_dir, truth_speed):
    de = np.degrees(np.abs(np.angle(np.exp(1j * (direction - truth_dir)))))
    se = 100 * np.abs(speed / truth_speed - 1)
    return np.median(de), np.mean(de), np.max(de), np.median(se), np.mean(se), np.max(se)


def bench_welch(n_frames: int, repeat: int) -> None:
    from mne.time_frequency import psd_array_welch

    print(f"\n[4] Welch spectra, 32 x 32 sites x {n_frames} float32 samples "
          "(256-sample Hann segments, half overlap)")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n_frames, 32, 32), dtype=np.float32)
    da = ws.from_array(x, ("time", "y", "x"), sfreq=1000.0)
    rows = np.ascontiguousarray(x.reshape(n_frames, -1).T)  # MNE's layout: (sites, time)
    t = interleaved({
        "ours": lambda: spectrum(da, "welch", nperseg=256).values,
        "mne": lambda: psd_array_welch(rows, 1000.0, n_fft=256, n_per_seg=256,
                                       n_overlap=128, window="hann", verbose=False)},
        repeat)
    ours = spectrum(da, "welch", nperseg=256).values.reshape(1024, -1)
    theirs = psd_array_welch(rows, 1000.0, n_fft=256, n_per_seg=256, n_overlap=128,
                             window="hann", verbose=False)[0]
    diff = np.abs(ours - theirs).max() / theirs.max()
    print(f"  spectrum(da, 'welch') {t['ours']:.3f} s, mne psd_array_welch {t['mne']:.3f} s "
          f"-> {t['ours'] / t['mne']:.2f}x MNE (largest difference {diff:.1e} of the peak)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--welch-frames", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sections", default="1234", help="which sections to run, e.g. 1")
    parser.add_argument("--no-notes", action="store_true",
                        help="do not write section 1 into docs/notes/waves_speed.md")
    args = parser.parse_args()
    if os.environ.get("OMP_NUM_THREADS") != "1":
        print("note: set OMP_NUM_THREADS=1 for single-core numbers comparable to the notes")
    if "1" in args.sections:
        result = bench_gradient(args.frames, args.repeat)
        result["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                          capture_output=True, text=True,
                                          cwd=NOTES.parents[1]).stdout.strip()
        if not args.no_notes:
            write_table(NOTES / "waves_speed.md", START, END, gradient_table(result),
                        NOTES / "waves_speed.json", result, "Speed of the wave measures")
    if "2" in args.sections:
        bench_memory([args.frames // 10, args.frames])
    if "3" in args.sections:
        bench_fit(args.repeat)
    if "4" in args.sections:
        bench_welch(args.welch_frames, args.repeat)


if __name__ == "__main__":
    main()
