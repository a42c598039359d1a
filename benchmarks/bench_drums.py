"""Drum simulation speed, measured side by side in one run.

Compares (1) the batched drum (all masks in one array) with ringing the same masks one at
a time, and (2) the drum's in-place expm1 tanh with ``np.tanh`` on the same arrays.

Run: ``PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bench_drums.py``
"""

import time

import numpy as np

from wavescope import drums


def best_of(func, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.process_time()
        func()
        times.append(time.process_time() - start)
    return min(times)


def main():
    masks = np.stack([drums.square(int(s), size=32) for s in range(6, 31)])
    steps = 1000

    batched = best_of(lambda: drums.drum(masks, steps, 0.1, progress=False))
    one_by_one = best_of(lambda: [drums.drum(m, steps, 0.1, progress=False) for m in masks])
    print(f"25 square drums x {steps} steps: batched {batched:.2f} s, one at a time "
          f"{one_by_one:.2f} s -> batched is {one_by_one / batched:.1f}x faster")

    x = np.random.default_rng(0).standard_normal(masks.shape) * 0.02
    out, scratch = np.empty_like(x), np.empty_like(x)

    def expm1_tanh():
        for _ in range(steps):
            np.copyto(out, x)
            drums._tanh(out, 1.0, scratch)

    def numpy_tanh():
        for _ in range(steps):
            np.tanh(x, out=out)

    a, b = best_of(expm1_tanh), best_of(numpy_tanh)
    print(f"tanh on {x.size} values x {steps}: expm1 form {a:.2f} s, np.tanh {b:.2f} s -> "
          f"{b / a:.1f}x")


if __name__ == "__main__":
    main()
