"""The hot analysis kernels on NumPy, on torch on the CPU and on torch on a GPU, side by side.

For the analytic signal (band-pass + Hilbert), PGD (phase gradient and its frame means),
the plane-wave fit, Horn–Schunck optical flow and phase-randomised and shuffled surrogates,
on simulated waves of model-like sizes, it prints the median wall time of ``--repeats``
alternating rounds (NumPy, torch-CPU, torch-GPU in turn; the first round of each warms
up and is not counted), each torch time's ratio to NumPy's (below 1: faster), and the
largest relative difference of the torch result from NumPy's. A GPU column appears only
where torch sees CUDA (or MPS); otherwise the table says "no GPU".

Run ``python benchmarks/bench_analysis_devices.py`` (``--quick``: small sizes, a smoke
test; ``--json FILE`` writes the rows; ``--markdown FILE`` writes the table). One thread
by default (``--threads``), for NumPy (set ``OMP_NUM_THREADS`` before starting) and torch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import wavescope as ws  # noqa: E402
from wavescope._safeio import write_json, write_text  # noqa: E402
from wavescope.analysis import (  # noqa: E402
    analytic_signal,
    fit_plane_wave,
    optical_flow,
    pgd,
    surrogates,
)


def cases(quick: bool):
    """(kernel, size label, function of device) on simulated waves."""
    side, frames = (16, 200) if quick else (64, 1000)
    sim = dict(n_times=frames, sfreq=100.0, frequency=5.0)
    da = ws.simulate.plane_wave((side, side), speed=40.0, direction=0.7, noise=0.3, seed=1,
                                **sim)
    z = analytic_signal(da, band=(3.0, 8.0))
    size = f"{side}x{side}x{frames}"
    yield "analytic_signal", size, lambda d: analytic_signal(da, band=(3.0, 8.0), device=d)
    yield "pgd", size, lambda d: pgd(z, device=d)
    fit_frames = 50 if quick else 200
    zf = z.isel(time=slice(0, fit_frames))
    yield "fit_plane_wave", f"{side}x{side}x{fit_frames}", lambda d: fit_plane_wave(zf,
                                                                                  device=d)
    flow_frames = 20 if quick else 100
    zo = z.isel(time=slice(0, flow_frames))
    yield "optical_flow", f"{side}x{side}x{flow_frames}", lambda d: optical_flow(zo, device=d)
    small = ws.simulate.plane_wave((16, 16), speed=40.0, noise=0.3, seed=2, **sim)
    n = 5 if quick else 20
    for kind in ("phase", "multivariate", "shuffle"):
        yield (f"surrogates {kind}", f"16x16x{frames}, n={n}",
               lambda d, kind=kind: surrogates(small, kind, n=n, seed=0, device=d))


def devices():
    import torch

    out = [None, "cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append("mps")
    return out


def _sync(device) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def _values(result) -> list[np.ndarray]:
    if hasattr(result, "data_vars"):
        return [np.asarray(result[v].values) for v in sorted(result.data_vars)]
    return [np.asarray(result.values)]


def max_rel(got, want) -> float:
    """Largest relative difference over the values (a floor of 1e-9 of the largest)."""
    worst = 0.0
    for a, b in zip(_values(got), _values(want), strict=True):
        if b.dtype == bool:
            worst = max(worst, float((a != b).mean()))
            continue
        ok = np.isfinite(b) & np.isfinite(a)
        if not ok.any():
            continue
        a, b = a[ok].astype(complex), b[ok].astype(complex)
        floor = 1e-9 * np.abs(b).max()
        worst = max(worst, float((np.abs(a - b) / np.maximum(np.abs(b), floor)).max()))
    return worst


def main(argv=None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on the CPU")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--json", type=Path, help="write the rows to this file")
    parser.add_argument("--markdown", type=Path, help="write the table to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    devs = devices()
    gpu = devs[2] if len(devs) > 2 else None
    header = ("| kernel | size | NumPy s | torch-CPU s | CPU / NumPy | CPU max rel diff | "
              + (f"torch-{gpu} s | {gpu} / NumPy | {gpu} max rel diff |" if gpu
                 else "GPU |"))
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    print(header, flush=True)
    print(lines[1], flush=True)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, size, run in cases(args.quick):
            times = {d: [] for d in devs}
            results = {}
            for i in range(args.repeats + 1):  # alternating rounds; round 0 warms up
                for d in devs:
                    _sync(d)
                    start = time.perf_counter()
                    results[d] = run(d)
                    _sync(d)
                    if i:
                        times[d].append(time.perf_counter() - start)
            med = {d: statistics.median(t) for d, t in times.items()}
            row = dict(kernel=name, size=size, numpy_s=med[None], cpu_s=med["cpu"],
                       cpu_ratio=med["cpu"] / med[None],
                       cpu_max_rel=max_rel(results["cpu"], results[None]),
                       numpy_spread_s=[min(times[None]), max(times[None])],
                       cpu_spread_s=[min(times["cpu"]), max(times["cpu"])])
            cells = [name, size, f"{med[None]:.3f}", f"{med['cpu']:.3f}",
                     f"{row['cpu_ratio']:.2f}x", f"{row['cpu_max_rel']:.1e}"]
            if gpu:
                row.update(gpu=gpu, gpu_s=med[gpu], gpu_ratio=med[gpu] / med[None],
                           gpu_max_rel=max_rel(results[gpu], results[None]),
                           gpu_spread_s=[min(times[gpu]), max(times[gpu])])
                cells += [f"{med[gpu]:.4f}", f"{row['gpu_ratio']:.3f}x",
                          f"{row['gpu_max_rel']:.1e}"]
            else:
                cells.append("no GPU")
            rows.append(row)
            lines.append("| " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    if gpu is None:
        print("no GPU: torch sees no CUDA or MPS device here, so only the CPU columns ran")
    meta = {"quick": args.quick, "threads": args.threads, "repeats": args.repeats,
            "torch": torch.__version__, "numpy": np.__version__, "gpu": gpu or "no GPU",
            "gpu_name": torch.cuda.get_device_name() if gpu == "cuda" else None}
    if args.json:
        write_json(args.json, {**meta, "rows": rows})
    if args.markdown:
        write_text(args.markdown, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
