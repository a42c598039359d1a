"""Horn–Schunck optical flow: wavescope against Cobrawap, side by side on the same frames.

Cobrawap (the reference pipeline of the field) estimates phase optical flow frame by frame
with per-pixel Python loops (``horn_schunck`` in its stage-04 script ``optical_flow.py``).
This script saves phase frames of a rotating wave plus a plane wave plus noise to
``.npy``, runs Cobrawap's own function on them in a subprocess of Cobrawap's virtual
environment, runs :func:`wavescope.analysis.optical_flow` on the same frames, and prints
the CPU time per frame pair of each (single thread; CPU time rather than wall time so that
other processes on a shared machine do not blur the ratio), their ratio, and the mean
angular difference of the two flows. Targets: wavescope at least 100x faster, flows within
5 degrees.

Cobrawap needs its own environment (its pins clash with wavescope's)::

    python3 -m venv /tmp/cobrawap-venv && /tmp/cobrawap-venv/bin/pip install cobrawap

Point ``--cobrawap-python`` (or the environment variable ``COBRAWAP_PYTHON``) elsewhere if
it lives elsewhere; without it the script says so and exits without comparing.

Matching the two. Cobrawap differences phases with a normalised kernel, divides by pi and
adds the two frames, so its spatial derivatives are ``c = 2 / pi`` times the derivative
per pixel, while its temporal derivative is the plain wrapped difference. The same
Horn–Schunck problem is therefore solved with wavescope's ``alpha = alpha_c / c`` and
``tol = c tol_c``; Cobrawap's flow is ``1 / c`` times wavescope's (pixels per frame), and
directions compare directly. Cobrawap's field defaults are used (alpha 0.1, 100
iterations, tolerance 1e-4; its optional Gaussian smoothing of the result is left out).
Its derivative kernel is an option: ``simple_3x3`` is the central difference that
wavescope (and WAVES.md) uses, so it is the like-for-like comparison held to the targets;
``scharr_3x3``, its config's default, also averages the gradient over three rows and is
reported beside it (on noisy frames that smoothing alone turns the flow by a few degrees).

wavescope runs with ``smooth=0`` (single-site differences, as Cobrawap) and the given
alpha, not its defaults (pooled derivatives, ``alpha="auto"``), which solve a different
problem; ``benchmarks/bench_flow_speed.py`` measures what those defaults buy.

Run from the repository root (about a minute, most of it Cobrawap)::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_flow.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import wavescope as ws
from wavescope.analysis import optical_flow

HERE = Path(__file__).resolve().parent
DEFAULT_PYTHON = os.environ.get("COBRAWAP_PYTHON", "/tmp/cobrawap-venv/bin/python")


def make_frames(size: int, n_frames: int, noise: float, seed: int) -> np.ndarray:
    """Phases (time, y, x) of a rotating wave plus a weaker plane wave plus complex noise.

    The analytic signal is written down directly (``exp(i phi)`` of each wave), as
    :mod:`wavescope.simulate` defines them: a ccw rotating wave ``omega t - theta`` about
    (0.4, 0.55) x size and a plane wave of wavelength ``0.8 size`` along 0.8 rad.
    """
    omega = 2 * np.pi * 0.05  # 20 frames per cycle
    t = np.arange(n_frames)[:, None, None]
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    theta = np.arctan2(yy - size * 0.55, xx - size * 0.4)
    k = 2 * np.pi / (0.8 * size) * np.array([np.cos(0.8), np.sin(0.8)])
    z = np.exp(1j * (omega * t - theta)) + 0.5 * np.exp(1j * (omega * t - k[0] * xx - k[1] * yy))
    eps = np.random.default_rng(seed).normal(0.0, noise, (2, *z.shape))
    return np.angle(z + eps[0] + 1j * eps[1])


def run_cobrawap(python: str, phases: np.ndarray, alpha: float, max_iter: int, tol: float,
                 kernel: str) -> tuple[np.ndarray, float]:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "frames.npy", Path(tmp) / "flow.npy"
        np.save(src, phases)
        env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
        out = subprocess.run(
            [python, str(HERE / "_cobrawap_hs.py"), str(src), str(dst), str(alpha),
             str(max_iter), str(tol), kernel],
            capture_output=True, text=True, env=env, check=False,
        )
        if out.returncode != 0:
            sys.exit(f"Cobrawap run failed:\n{out.stderr[-3000:]}")
        timing = json.loads(out.stdout.strip().splitlines()[-1])
        return np.load(dst), timing["seconds"] / timing["n_pairs"]


def run_wavescope(phases: np.ndarray, alpha: float, max_iter: int, tol: float,
                  repeats: int) -> tuple[np.ndarray, float]:
    z = ws.from_array(np.exp(1j * phases), ("time", "y", "x"), sfreq=1.0)
    times = []
    for _ in range(repeats):
        start = time.process_time()
        # single-site differences (smooth=0): the Horn-Schunck problem Cobrawap solves
        flow = optical_flow(z, alpha=alpha, max_iter=max_iter, tol=tol, smooth=0)
        times.append(time.process_time() - start)
    w = flow["u"].values + 1j * flow["v"].values  # sfreq 1, spacing 1: pixels per frame
    return w, float(np.median(times)) / (phases.shape[0] - 1)


def mean_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    ok = (np.abs(a) > 1e-9) & (np.abs(b) > 1e-9)
    return float(np.degrees(np.abs(np.angle(a[ok] * np.conj(b[ok]))).mean()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cobrawap-python", default=DEFAULT_PYTHON)
    parser.add_argument("--size", type=int, default=32, help="grid side, sites")
    parser.add_argument("--frames", type=int, default=61, help="frames (pairs + 1)")
    parser.add_argument("--noise", type=float, default=0.1, help="complex noise s.d.")
    parser.add_argument("--alpha", type=float, default=0.1, help="Cobrawap's alpha")
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--tol", type=float, default=1e-4, help="Cobrawap's tolerance")
    parser.add_argument("--kernels", default="simple_3x3,scharr_3x3",
                        help="Cobrawap derivative kernels; the first is held to the targets")
    parser.add_argument("--repeats", type=int, default=5, help="wavescope timing repeats")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if not Path(args.cobrawap_python).exists():
        print(f"SKIPPED: no Cobrawap environment at {args.cobrawap_python}. Create it with\n"
              "  python3 -m venv /tmp/cobrawap-venv && /tmp/cobrawap-venv/bin/pip install "
              "cobrawap\nor pass --cobrawap-python.")
        return 0

    phases = make_frames(args.size, args.frames, args.noise, args.seed)
    scale = 2 / np.pi  # Cobrawap's derivative scale (see the module docstring)
    print(f"{args.frames - 1} frame pairs of {args.size}x{args.size}, noise {args.noise}; "
          f"alpha {args.alpha}, {args.max_iter} iterations, tol {args.tol}")
    flow_w, per_w = run_wavescope(phases, args.alpha / scale, args.max_iter,
                                  args.tol * scale, args.repeats)
    print(f"wavescope optical_flow      : {per_w * 1e3:8.2f} ms CPU per frame pair "
          f"(median of {args.repeats} runs)")
    for i, kernel in enumerate(args.kernels.split(",")):
        flow_c, per_c = run_cobrawap(args.cobrawap_python, phases, args.alpha, args.max_iter,
                                     args.tol, kernel)
        angle = mean_angle_deg(flow_w, flow_c)
        inner = mean_angle_deg(flow_w[:, 1:-1, 1:-1], flow_c[:, 1:-1, 1:-1])
        speed = np.median(np.abs(flow_w)) / np.median(np.abs(flow_c) * scale)
        ratio = per_c / per_w
        print(f"Cobrawap horn_schunck {kernel:>10}: {per_c * 1e3:8.2f} ms CPU per frame pair; "
              f"wavescope {ratio:.0f}x faster; mean angular difference {angle:.2f} deg "
              f"({inner:.2f} without the edge); median speed ratio {speed:.3f}")
        if i == 0:
            print(f"  targets: speed-up >= 100x {'PASS' if ratio >= 100 else 'FAIL'}, "
                  f"angle <= 5 deg {'PASS' if angle <= 5 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
