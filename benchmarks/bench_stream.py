"""A recording larger than memory, streamed from disk through the wave measures.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_stream.py [--gb 20] [--dir /tmp]
        [--slice-gb 1] [--workers 2] [--keep] [--no-notes]

1. **write**: an ``--gb`` GB float32 netCDF (64 x 64 sites, 500 Hz): a plane wave
   (15 Hz, wavelength 32 px, 0.7 rad) in white noise (0.5 of its amplitude), generated
   and written by dask in chunks of whole frames through ``ws.save`` (never held whole).
2. **stream**: ``ws.load(path, chunks=...)`` in time chunks of ``--chunk-frames``
   (default 8192, 128 MB, as a lazy ``ws.load`` chunks it; the filter's pads add 2 x 1668)
   -> ``analytic_signal(band=(10, 20))`` (overlap and discard over the chunks) -> per
   frame ``pgd``, ``synchrony`` and the frame means of ``phase_gradient``, computed
   together (one analytic signal per chunk) by dask's threaded scheduler with
   ``--workers`` threads.
3. **detect**: ``ws.load(path, chunks=...)`` -> ``detect_waves(band=(10, 20),
   n_surrogates=--surrogates)``: its frames decided piece by piece, its null from windows
   read from the file; the frame table is kept for the slice check.
4. **slice**: a ``--slice-gb`` GB stretch in the middle of the file, in memory, through
   the same functions: (a) on the streamed analytic signal's values of the stretch the
   measures must equal the streamed ones exactly (they are frame by frame); (b) from the
   raw samples (the analytic signal of the stretch as one series) they must agree within
   the streamed filter's border error, away from the stretch's own ends; (c)
   ``detect_waves`` on the streamed analytic signal of the stretch, in memory, against the
   streamed run's frames and events there (frame-local values equal; the pooled slope
   test and the labels resting on it estimated from another span of frames).

Each stage runs in its own process under ``/usr/bin/time -v`` (peak resident memory,
wall and CPU time). The file is deleted afterwards unless ``--keep``. The table goes into
``docs/notes/streaming.md`` between markers of its size and
``docs/notes/streaming.json`` (``runs``, by size).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

NOTES = Path(__file__).resolve().parents[1] / "docs" / "notes"


def markers(gb: float) -> tuple[str, str]:
    """The notes' markers of the table of one recording size."""
    return f"<!-- stream table {gb:g} GB: start -->", f"<!-- stream table {gb:g} GB: end -->"
NY = NX = 64
SFREQ, FREQ, WAVELENGTH, DIRECTION, NOISE = 500.0, 15.0, 32.0, 0.7, 0.5
BAND = (10.0, 20.0)
WRITE_FRAMES = 8192  # frames per generated chunk (128 MB of float32)


def frames_for(gb: float) -> int:
    return int(gb * 1e9 // (NY * NX * 4))


# --- stages (each in its own process) ----------------------------------------------------


def write(path: Path, gb: float, workers: int) -> dict:
    import dask
    import dask.array as dsa
    import xarray as xr

    import wavescope as ws

    n = frames_for(gb)
    template = ws.from_array(np.zeros((1, NY, NX), np.float32), ("time", "y", "x"),
                             sfreq=SFREQ, units="uV", source="recording")
    k = 2 * np.pi / WAVELENGTH * np.array([np.cos(DIRECTION), np.sin(DIRECTION)])
    yy, xx = np.mgrid[0:NY, 0:NX].astype(float)
    space = k[0] * xx + k[1] * yy

    def chunk(block_info=None):
        start, stop = block_info[None]["array-location"][0]
        t = np.arange(start, stop)[:, None, None] / SFREQ
        rng = np.random.default_rng([7, start])
        x = np.cos(2 * np.pi * FREQ * t - space).astype(np.float32)
        x += NOISE * rng.standard_normal(x.shape, dtype=np.float32)
        return x

    data = dsa.map_blocks(chunk, chunks=(_split(n, WRITE_FRAMES), (NY,), (NX,)),
                          dtype=np.float32, meta=np.empty((0, 0, 0), np.float32))
    da = xr.DataArray(data, dims=("time", "y", "x"), attrs=template.attrs,
                      coords={"time": ("time", np.arange(n) / SFREQ,
                                       template["time"].attrs),
                              "y": template["y"], "x": template["x"]})
    with dask.config.set(scheduler="threads", num_workers=workers):
        ws.save(da, path)
    return {"frames": n, "bytes": n * NY * NX * 4}


def _split(n: int, step: int) -> tuple[int, ...]:
    return tuple(min(step, n - s) for s in range(0, n, step))


def measures(z):
    """The per-frame measures that stream over time chunks (lazy on dask input)."""
    from wavescope.analysis import pgd, phase_gradient, synchrony

    g = phase_gradient(z)
    return {"pgd": pgd(z), "synchrony": synchrony(z),
            "mean_dphi_dx": g["dphi_dx"].mean(("y", "x")),
            "mean_dphi_dy": g["dphi_dy"].mean(("y", "x"))}


def stream(path: Path, out: Path, workers: int, frames: int) -> dict:
    import dask

    import wavescope as ws
    from wavescope.analysis import analytic_signal

    t0 = time.perf_counter()
    da = ws.load(path, chunks={"time": frames})
    z = analytic_signal(da, band=BAND)
    lazy = measures(z)
    with dask.config.set(scheduler="threads", num_workers=workers):
        values = dask.compute({k: v.data for k, v in lazy.items()})[0]
    seconds = time.perf_counter() - t0
    np.savez(out, **values)
    n = da.sizes["time"]
    return {"frames": n, "chunk_frames": frames, "n_chunks": len(da.chunks[0]),
            "pad_frames": int(_pad()), "seconds": seconds,
            "mb_per_s": n * NY * NX * 4 / 1e6 / seconds}


#: Frame-table columns kept from the streamed detect_waves run for the slice check.
FRAME_KEYS = ("pattern", "pgd", "strength", "omega", "dphi_dx", "gradient_p", "speed")


def detect(path: Path, out: Path, workers: int, frames: int, n_surrogates: int) -> dict:
    import dask

    import wavescope as ws
    from wavescope.analysis import detect_waves

    t0 = time.perf_counter()
    da = ws.load(path, chunks={"time": frames})
    with dask.config.set(scheduler="threads", num_workers=workers):
        ev = detect_waves(da, BAND, n_surrogates=n_surrogates, seed=0)
    seconds = time.perf_counter() - t0
    np.savez(out, **{f"frame_{k}": ev[f"frame_{k}"].values for k in FRAME_KEYS},
             **{k: ev[k].values for k in ("pattern", "start", "stop", "p_value")})
    n = da.sizes["time"]
    sig = json.loads(ev.attrs["significance"])["per_trial"][0]
    return {"frames": n, "n_surrogates": n_surrogates, "seconds": seconds,
            "mb_per_s": n * NY * NX * 4 / 1e6 / seconds, "n_events": int(ev.sizes["event"]),
            "null": sig}


def _event_list(ev, lo: float, hi: float) -> list:
    """(pattern, start, stop) of the events overlapping [lo, hi), cut to it."""
    cols = (np.asarray(ev[k]) for k in ("pattern", "start", "stop"))
    return [(str(p), round(max(float(a), lo), 4), round(min(float(b), hi), 4))
            for p, a, b in zip(*cols, strict=True) if b > lo and a < hi]


def _pad() -> int:
    from wavescope.analysis.analytic import _design, _impulse_length

    return 2 * _impulse_length(_design(BAND, SFREQ, 4))


def check_slice(path: Path, streamed: Path, detected: Path, gb: float, frames: int) -> dict:
    import wavescope as ws
    from wavescope.analysis import analytic_signal, detect_waves

    ref = dict(np.load(streamed))
    n = len(ref["pgd"])
    width = min(frames_for(gb), n // 2)
    a = max(0, n // 2 - width // 2)  # the middle of the file, across chunk borders
    b = a + width
    lazy = ws.load(path, chunks={"time": frames})
    z_stream = analytic_signal(lazy, band=BAND).isel(time=slice(a, b)).compute()
    exact = {k: bool(np.array_equal(v.values, ref[k][a:b], equal_nan=True))
             for k, v in measures(z_stream).items()}
    det = dict(np.load(detected))
    ev = detect_waves(z_stream, n_surrogates=0)
    del z_stream
    # (the slice's last frame has no next sample for its temporal frequency: left out)
    local = {k: float(np.nanmax(np.abs(ev[f"frame_{k}"].values[:-1]
                                       - det[f"frame_{k}"][a:b - 1])))
             for k in FRAME_KEYS if k not in ("pattern", "gradient_p", "speed")}
    labels = float(np.mean(ev["frame_pattern"].values == det["frame_pattern"][a:b]))
    sfreq = SFREQ
    lo, hi = a / sfreq, b / sfreq
    detect_check = {
        "frame_local_max_abs_diff": local, "labels_equal_share": labels,
        "gradient_p_max_abs_diff": float(np.nanmax(np.abs(
            ev["frame_gradient_p"].values - det["frame_gradient_p"][a:b]))),
        "events_in_memory": _event_list(ev, lo, hi),
        "events_streamed": _event_list({k: det[k] for k in ("pattern", "start", "stop")},
                                       lo, hi)}
    del ev
    raw = lazy.isel(time=slice(a, b)).load()
    lazy.close()
    whole = analytic_signal(raw, band=BAND)  # the stretch as one series, in memory
    margin = 4 * _pad()  # away from the stretch's own ends (the FFT's edge artefact)
    inner = slice(margin, width - margin)
    diffs = {k: float(np.nanmax(np.abs(v.values[inner] - ref[k][a:b][inner])))
             for k, v in measures(whole).items()}
    scale = {k: float(np.nanmax(np.abs(ref[k][a:b][inner]))) for k in diffs}
    del whole
    return {"slice_frames": width, "slice_start": a, "margin_frames": margin,
            "chunk_borders": (b - 1) // frames - a // frames,
            "exact_on_streamed_z": exact, "max_abs_diff_from_raw": diffs,
            "max_abs_value": scale, "detect": detect_check}


# --- the driver -----------------------------------------------------------------------


def timed(stage: str, argv: list[str], result: Path) -> dict:
    """Run one stage in a child process under /usr/bin/time -v; its JSON and usage."""
    cmd = ["/usr/bin/time", "-v", sys.executable, __file__, "--stage", stage, *argv,
           "--result", str(result)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"stage {stage} failed ({proc.returncode})")
    usage = {}
    for key, pattern in (("peak_rss_gb", r"Maximum resident set size \(kbytes\): (\d+)"),
                         ("user_s", r"User time \(seconds\): ([\d.]+)"),
                         ("system_s", r"System time \(seconds\): ([\d.]+)"),
                         ("wall", r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)")):
        m = re.search(pattern, proc.stderr)
        usage[key] = m.group(1) if m else None
    usage["peak_rss_gb"] = int(usage["peak_rss_gb"]) * 1024 / 1e9
    wall = [float(p) for p in usage["wall"].split(":")]
    usage["wall_s"] = sum(p * 60 ** i for i, p in enumerate(reversed(wall)))
    del usage["wall"]
    out = json.loads(result.read_text())
    result.unlink()
    return {**out, **{k: (round(v, 3) if isinstance(v, float) else v)
                      for k, v in usage.items()}}


def table(r: dict) -> str:
    w, s, c, d = r["write"], r["stream"], r["slice"], r["detect"]
    dc = c["detect"]
    gb = w["bytes"] / 1e9
    lines = [
        f"{gb:.2f} GB float32 recording, 64 x 64 sites x {w['frames']} frames at 500 Hz, "
        f"{s['n_chunks']} time chunks of {s['chunk_frames']} frames (pads of "
        f"{s['pad_frames']}), {r['workers']} dask threads, load average {r['load']}, "
        f"commit {r['commit']}:",
        "",
        "| stage | peak RSS (GB) | wall (s) | CPU (s) | note |",
        "|---|---|---|---|---|",
        f"| write (generate + ws.save) | {w['peak_rss_gb']:.2f} | {w['wall_s']:.0f} | "
        f"{float(w['user_s']) + float(w['system_s']):.0f} | {gb * 1e3 / w['wall_s']:.0f} MB/s |",
        f"| stream (load -> analytic_signal -> pgd, synchrony, gradient means) | "
        f"{s['peak_rss_gb']:.2f} | {s['wall_s']:.0f} | "
        f"{float(s['user_s']) + float(s['system_s']):.0f} | {s['mb_per_s']:.1f} MB/s |",
        f"| detect (load -> detect_waves, {d['n_surrogates']} surrogates) | "
        f"{d['peak_rss_gb']:.2f} | {d['wall_s']:.0f} | "
        f"{float(d['user_s']) + float(d['system_s']):.0f} | {d['mb_per_s']:.1f} MB/s, "
        f"{d['n_events']} events |",
        f"| slice check ({c['slice_frames']} frames, in memory) | {c['peak_rss_gb']:.2f} | "
        f"{c['wall_s']:.0f} | {float(c['user_s']) + float(c['system_s']):.0f} | "
        f"{c['chunk_borders']} chunk borders inside |",
        "",
        "On the streamed analytic signal's values of the slice, in memory, the measures "
        "equal the streamed ones exactly: " + ", ".join(
            f"{k} {'yes' if v else 'NO'}" for k, v in c["exact_on_streamed_z"].items()) + ".",
        f"From the raw samples of the slice (its analytic signal as one series), frames "
        f"{c['margin_frames']} or more from its ends, largest differences: " + ", ".join(
            f"{k} {v:.1e} (of values up to {c['max_abs_value'][k]:.2f})"
            for k, v in c["max_abs_diff_from_raw"].items()) + ".",
        "detect_waves on the streamed analytic signal of the slice, in memory, against the "
        "streamed run there: frame-local values (but the last frame's temporal frequency) "
        "differ by at most " + ", ".join(
            f"{k} {v:.1e}" for k, v in dc["frame_local_max_abs_diff"].items())
        + f"; labels equal on {100 * dc['labels_equal_share']:.2f} % of the frames, "
        f"gradient_p within {dc['gradient_p_max_abs_diff']:.1e}; events (pattern, start, "
        f"stop in s, cut to the slice) in memory {dc['events_in_memory']}, streamed "
        f"{dc['events_streamed']}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=20.0, help="size of the recording")
    parser.add_argument("--dir", type=Path, default=Path("/tmp"), help="where to write it")
    parser.add_argument("--slice-gb", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--surrogates", type=int, default=10,
                        help="n_surrogates of the streamed detect_waves")
    parser.add_argument("--chunk-frames", type=int, default=8192,
                        help="frames per time chunk (a multiple of the file's 256)")
    parser.add_argument("--keep", action="store_true", help="keep the recording")
    parser.add_argument("--no-notes", action="store_true", help="print only")
    parser.add_argument("--stage", choices=("write", "stream", "detect", "slice"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = args.dir / f"wavescope_stream_{args.gb:g}GB.nc"
    streamed = path.with_suffix(".measures.npz")
    detected = path.with_suffix(".events.npz")
    if args.stage:
        out = {"write": lambda: write(path, args.gb, args.workers),
               "stream": lambda: stream(path, streamed, args.workers, args.chunk_frames),
               "detect": lambda: detect(path, detected, args.workers, args.chunk_frames,
                                        args.surrogates),
               "slice": lambda: check_slice(path, streamed, detected, args.slice_gb,
                                            args.chunk_frames)}[args.stage]()
        args.result.write_text(json.dumps(out))
        return
    if os.environ.get("OMP_NUM_THREADS") != "1":
        print("note: set OMP_NUM_THREADS=1 for numbers comparable to the notes")
    common = ["--gb", str(args.gb), "--dir", str(args.dir), "--slice-gb", str(args.slice_gb),
              "--workers", str(args.workers), "--chunk-frames", str(args.chunk_frames),
              "--surrogates", str(args.surrogates)]
    result_file = path.with_suffix(".stage.json")
    r = {"workers": args.workers, "gb": args.gb}
    try:
        for stage in ("write", "stream", "detect", "slice"):
            print(f"[{stage}] ...", flush=True)
            r[stage] = timed(stage, common, result_file)
            print(f"[{stage}] {json.dumps(r[stage])}", flush=True)
    finally:
        if not args.keep:
            for p in (path, streamed, detected):
                p.unlink(missing_ok=True)
    r["load"] = " ".join(f"{v:.1f}" for v in os.getloadavg())
    r["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True, cwd=NOTES.parents[1]).stdout.strip()
    print(table(r))
    if not args.no_notes:
        from _notes import write_table

        record = NOTES / "streaming.json"
        runs = json.loads(record.read_text()).get("runs", {}) if record.exists() else {}
        runs[f"{args.gb:g}"] = r  # one run per recording size
        write_table(NOTES / "streaming.md", *markers(args.gb), table(r), record,
                    {"runs": runs}, "Streaming recordings larger than memory")


if __name__ == "__main__":
    main()
