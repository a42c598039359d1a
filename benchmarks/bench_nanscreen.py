"""The NaN screen of the streaming gradient statistics, before and after (issue 17).

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_nanscreen.py [--frames 4000]
        [--repeat 7]

``waves._stats_kernel`` asks, for every block of frames, whether each frame holds a NaN
(then the whole block goes to the general path). Before: ``np.isnan(block).any(axis=1)
.all()``, a pass over every value; after: ``waves._all_frames_missing``, which reads the
first frame and, where that one has a NaN, the column of that site. Both screens over all
blocks, and ``pgd`` with each, are timed in interleaved rounds against the floor (a
``np.copyto`` of the input into a pre-faulted buffer), on a 64 x 64 complex128 grid:
clean, one pixel missing in every frame, one frame in seven with a NaN, and a NaN at a
random site of every frame (the screen's slow case). Prints medians and ratios to the
floor, and checks that ``pgd`` is the same value for value with either screen.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import wavescope as ws
from wavescope.analysis import pgd, waves
from wavescope.analysis._common import frame_blocks


def _old(block: np.ndarray) -> bool:
    return bool(np.isnan(block).any(axis=1).all())


def _inputs(n_frames: int, size: int = 64) -> dict:
    rng = np.random.default_rng(0)
    t = np.arange(n_frames)[:, None, None]
    yy, xx = np.mgrid[0:size, 0:size]
    clean = np.exp(1j * (0.3 * t - 0.4 * xx - 0.2 * yy))
    clean += 0.1 * (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape))
    pixel, sparse, moving = clean.copy(), clean.copy(), clean.copy()
    pixel[:, 5, 7] = np.nan
    sparse[::7, 3, 3] = np.nan
    moving[np.arange(n_frames), rng.integers(0, size, n_frames),
           rng.integers(0, size, n_frames)] = np.nan
    return {"clean": clean, "masked pixel (every frame)": pixel,
            "NaN in 1 frame of 7": sparse, "NaN at a random site of every frame": moving}


def _screen(screen, flat: np.ndarray) -> int:
    return sum(screen(flat[sl]) for sl in frame_blocks(flat.shape[0], flat.shape[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    new = waves._all_frames_missing
    load = [os.getloadavg()[0]]
    print(f"64 x 64 complex128 x {args.frames} frames, {args.repeat} interleaved rounds, "
          "wall-time medians; ratios to the pre-faulted np.copyto floor")
    for label, z in _inputs(args.frames).items():
        da = ws.from_array(z, ("time", "y", "x"), sfreq=100.0)
        flat = z.reshape(z.shape[0], -1)
        buffer = np.empty_like(z)
        assert _screen(_old, flat) == _screen(new, flat)

        def with_screen(screen, a=da):
            waves._all_frames_missing = screen
            try:
                return pgd(a).values
            finally:
                waves._all_frames_missing = new

        assert np.array_equal(with_screen(_old), with_screen(new), equal_nan=True)
        runs = {"floor": lambda b=buffer, z=z: np.copyto(b, z),
                "screen before": lambda f=flat: _screen(_old, f),
                "screen after": lambda f=flat: _screen(new, f),
                "pgd before": lambda: with_screen(_old),
                "pgd after": lambda: with_screen(new)}
        times = {k: [] for k in runs}
        for _ in range(args.repeat):
            for k, f in runs.items():
                if k == "floor":
                    buffer.fill(0)  # faulted in (again) just before the timed copy
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
        med = {k: float(np.median(v)) for k, v in times.items()}
        floor = med["floor"]
        print(f"  {label}: floor {floor * 1e3:.1f} ms; screen {med['screen before'] / floor:.2f}x"
              f" -> {med['screen after'] / floor:.3f}x the floor; pgd "
              f"{med['pgd before'] / floor:.1f}x -> {med['pgd after'] / floor:.1f}x "
              "(values equal)")
        load.append(os.getloadavg()[0])
    print(f"  load average (1 min): {min(load):.1f}-{max(load):.1f}")


if __name__ == "__main__":
    main()
