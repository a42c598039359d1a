"""Calibration of detect_waves' surrogate nulls on smooth data that hold no waves.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/calibrate_nulls.py [--quick]

A null is calibrated when data that satisfy it give p < alpha in at most a share alpha
of tests (WAVES.md, Significance). Two kinds of spatially smooth, wave-free data:

- ``eeg-dipoles``: independent band-limited noise time courses of ~240 random dipoles
  (fixed random orientations, 6-7.5 cm from the centre of a four-shell sphere head
  model) projected through an MNE forward model (``mne.make_sphere_model`` +
  ``mne.make_forward_solution``, offline) to the bundled EEG montage (64 channels,
  160 Hz), with 5 % white sensor noise; detection in the alpha band (8-13 Hz);
- ``grf-32x32``: Gaussian random fields on a 32 x 32 grid, white noise smoothed in space
  (Gaussian, sigma 6 px) and time (sigma 1 sample) at 100 Hz; detection at 8-12 Hz.

For every null, the false-positive rate is the share of the detected events with
p < 0.05 (with its Clopper-Pearson 95 % interval), over >= 200 events for the default
(``multivariate``) and fewer for the others (enough to show shuffles and per-site phase
randomisation fail, which costs a recording or two). Power (the default null and any
other calibrated one): the same
kind of data with Hann-windowed plane waves injected (0.5 s at 10 Hz; the EEG wave
travels front to back at 3 m/s, the grid wave at 160 px/s, a 16 px wavelength), at an
SNR given as the wave's peak amplitude over the null data's in-band standard deviation;
a wave counts as detected when an event with p < 0.05 covers at least half of the
wave's central 0.25 s. The table goes into docs/notes/calibration.md (between markers)
and docs/notes/calibration.json, with the time the run took. ``--data``/``--nulls`` redo
part of the table (the other rows are kept; the time recorded is the sum of the runs).
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
from scipy.ndimage import gaussian_filter
from scipy.stats import binomtest

import wavescope as ws
from wavescope.analysis import analytic_signal, detect_waves

NULLS = ("multivariate", "spatial", "shuffle", "phase")
NOTES = Path(__file__).resolve().parents[1] / "docs" / "notes"
START, END = "<!-- calibration table: start -->", "<!-- calibration table: end -->"
WAVE_S, FREQ = 0.5, 10.0
#: Null events the calibrated-candidate nulls are measured on (recordings are added until
#: there are this many, up to MAX_RECORDS); the others take their fixed record counts.
MIN_EVENTS, MAX_RECORDS = 200, 30


def eeg_model(seed: int = 0):
    """(template activity, leadfield (64, n_dipoles)) for the bundled EEG montage."""
    import mne

    eeg = ws.datasets.eeg_eyes_closed()
    info = ws.io.to_mne(eeg.isel(time=slice(0, 160))).info
    sphere = mne.make_sphere_model(r0=(0.0, 0.0, 0.04), head_radius=0.09, info=None,
                                   verbose=False)
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((300, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    rr = np.array([0.0, 0.0, 0.04]) + v * (0.06 + 0.015 * rng.random(300))[:, None]
    rr = rr[rr[:, 2] > 0.0]
    nn = rng.standard_normal(rr.shape)
    nn /= np.linalg.norm(nn, axis=1, keepdims=True)
    src = mne.setup_volume_source_space(pos=dict(rr=rr, nn=nn), sphere=sphere,
                                        verbose=False)
    fwd = mne.make_forward_solution(info, trans=None, src=src, bem=sphere, eeg=True,
                                    meg=False, verbose=False)
    fwd = mne.convert_forward_solution(fwd, force_fixed=True, verbose=False)
    return eeg, fwd["sol"]["data"]


def eeg_null(model, n_times: int, seed: int):
    eeg, gain = model
    rng = np.random.default_rng(seed)
    sources = gaussian_filter(rng.standard_normal((n_times, gain.shape[1])), (1.5, 0))
    data = sources @ gain.T
    data += 0.05 * data.std() * rng.standard_normal(data.shape)
    return eeg.isel(time=slice(0, n_times)).copy(data=data * 1e-9)


def grf_null(n_times: int, seed: int, size: int = 32):
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.standard_normal((n_times, size, size)), (1.0, 6.0, 6.0))
    return ws.from_array(field, ("time", "y", "x"), sfreq=100.0)


def inject(da, band, snr: float, onsets, speed: float, direction: float):
    """da plus Hann-windowed plane waves starting at ``onsets`` (s)."""
    inband = float(analytic_signal(da, band).real.std())
    xy = ws.analysis._common.site_xy(da)
    k = 2 * np.pi * FREQ / speed * np.array([np.cos(direction), np.sin(direction)])
    t = da["time"].values - float(da["time"].values[0])
    wave = np.zeros((t.size, xy.shape[0]))
    n_wave = int(round(WAVE_S * float(da.attrs["sfreq"])))
    for onset in onsets:
        i0 = int(round(onset * float(da.attrs["sfreq"])))
        tt = t[i0:i0 + n_wave]
        env = np.hanning(n_wave)[:, None]
        wave[i0:i0 + n_wave] = env * np.cos(2 * np.pi * FREQ * tt[:, None] - xy @ k)
    shape = da.transpose("time", *ws.core.space_dims(da)).shape
    return da + snr * inband * da.copy(data=wave.reshape(shape))


def detected(ev, onsets, alpha: float = 0.05) -> tuple[int, int]:
    """(waves covered by a significant event, of which planar) for the injected onsets."""
    hit = planar = 0
    start, stop = ev["start"].values, ev["stop"].values
    p, pattern = ev["p_value"].values, ev["pattern"].values
    for onset in onsets:
        a, b = onset + WAVE_S / 4, onset + 3 * WAVE_S / 4  # the envelope's central half
        cover = np.clip(np.minimum(stop, b) - np.maximum(start, a), 0, None)
        ok = (cover >= (b - a) / 2) & (p < alpha)
        hit += bool(ok.any())
        planar += bool((ok & (pattern == "planar")).any())
    return hit, planar


def run(quick: bool, n_surrogates: int, data=None, nulls=NULLS) -> dict:
    t_start = time.perf_counter()
    # recordings per null: multivariate and spatial until MIN_EVENTS null events, the
    # old nulls (which fail on one) a fixed number; then the power runs
    cfg = {
        "eeg-dipoles": dict(band=(8.0, 13.0), n_times=4800, speed=3.0, direction=-np.pi / 2,
                            records={"shuffle": 1, "phase": 1}),
        "grf-32x32": dict(band=(8.0, 12.0), n_times=2000, speed=160.0, direction=0.6,
                          records={"shuffle": 1, "phase": 1}),
    }
    min_events = MIN_EVENTS
    if quick:
        min_events = 1
        for c in cfg.values():
            c["n_times"] //= 2
    snrs = (1.0,) if quick else (1.0, 2.0, 4.0)
    power_records = 1 if quick else 2
    model = eeg_model()
    rows = []
    for name, c in cfg.items():
        if data is not None and name not in data:
            continue
        make = (lambda s, n=c["n_times"]: eeg_null(model, n, s)) if name == "eeg-dipoles" \
            else (lambda s, n=c["n_times"]: grf_null(n, s))
        duration = c["n_times"] / (160.0 if name == "eeg-dipoles" else 100.0)
        onsets = np.arange(1.0, duration - 1.0, 4.0)
        for null in nulls:
            t0 = time.perf_counter()
            events = sig = records = 0
            fixed = c["records"].get(null)
            while records < (fixed or MAX_RECORDS) and (fixed or events < min_events):
                ev = detect_waves(make(1000 + records), c["band"], surrogate=null,
                                  n_surrogates=n_surrogates, seed=records)
                events += ev.sizes["event"]
                sig += int((ev["p_value"] < 0.05).sum())
                records += 1
            ci = binomtest(sig, events).proportion_ci() if events else None
            row = {"data": name, "null": null, "records": records, "events": events,
                   "p_below_0.05": sig,
                   "fpr": sig / events if events else float("nan"),
                   "fpr_ci95": [ci.low, ci.high] if ci else None,
                   "calibrated": bool(ci is not None and ci.low <= 0.05),
                   "power": {}, "seconds": 0.0}
            for snr in snrs if row["calibrated"] or null == NULLS[0] else ():
                hits = planar = total = 0
                for r in range(power_records):
                    da = inject(make(2000 + r), c["band"], snr, onsets, c["speed"],
                                c["direction"])
                    ev = detect_waves(da, c["band"], surrogate=null,
                                      n_surrogates=n_surrogates, seed=r)
                    h, pl = detected(ev, onsets)
                    hits, planar, total = hits + h, planar + pl, total + len(onsets)
                row["power"][str(snr)] = {"detected": hits / total, "planar": planar / total,
                                          "waves": total}
            row["seconds"] = round(time.perf_counter() - t0, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {"rows": rows, "n_surrogates": n_surrogates, "snrs": list(snrs),
            "quick": quick, "seconds": round(time.perf_counter() - t_start, 1),
            "command": "OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/calibrate_nulls.py"
                       + (" --quick" if quick else ""),
            "cpu": f"{os.cpu_count()} cores, OMP_NUM_THREADS="
                   f"{os.environ.get('OMP_NUM_THREADS', 'unset')}"}


def table(result: dict) -> str:
    snrs = result["snrs"]
    head = ("| data | null | events (recordings) | FPR (p < 0.05) | 95 % interval | "
            "calibrated | "
            + " | ".join(f"power SNR {s} (planar)" for s in snrs) + " |")
    lines = [head, "|" + "---|" * (6 + len(snrs))]
    for r in result["rows"]:
        lo, hi = r["fpr_ci95"] or (float("nan"), float("nan"))
        power = " | ".join(f"{r['power'][str(s)]['detected']:.2f} "
                           f"({r['power'][str(s)]['planar']:.2f})" if str(s) in r["power"]
                           else "-" for s in snrs)
        lines.append(f"| {r['data']} | {r['null']} | {r['events']} ({r.get('records', '-')}) | "
                     f"{r['fpr']:.3f} | "
                     f"{lo:.3f}-{hi:.3f} | {'yes' if r['calibrated'] else 'NO'} | {power} |")
    waves = {r["data"]: v["waves"] for r in result["rows"] for v in r["power"].values()}
    lines.append("")
    lines.append(f"{result['n_surrogates']} surrogates per recording; power: the share of "
                 f"injected waves detected (of them as planar events), over "
                 f"{', '.join(f'{n} ({k})' for k, n in waves.items())} waves per cell, "
                 f"uncalibrated nulls not tested; the run took {result['seconds']:.0f} s "
                 f"({result['cpu']}): `{result['command']}`.")
    return "\n".join(lines)


def write(result: dict) -> None:
    """Write the table; rows of an earlier run that this one did not redo are kept."""
    NOTES.mkdir(parents=True, exist_ok=True)
    old = NOTES / "calibration.json"
    if old.exists():
        done = {(r["data"], r["null"]) for r in result["rows"]}
        kept = [r for r in json.loads(old.read_text())["rows"]
                if (r["data"], r["null"]) not in done]
        order = {(d, n): i for i, (d, n) in enumerate(
            (d, n) for d in ("eeg-dipoles", "grf-32x32") for n in NULLS)}
        result["rows"] = sorted(kept + result["rows"],
                                key=lambda r: order.get((r["data"], r["null"]), 99))
        if kept:  # a partial rerun: the time of the runs behind the kept rows too
            result["seconds"] += json.loads(old.read_text()).get("seconds", 0.0)
    write_table(NOTES / "calibration.md", START, END, table(result), old, result,
                "Calibration of the nulls")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (no files written)")
    parser.add_argument("--n-surrogates", type=int, default=19)
    parser.add_argument("--data", nargs="+", choices=("eeg-dipoles", "grf-32x32"),
                        help="redo only these data (other rows of the table are kept)")
    parser.add_argument("--nulls", nargs="+", choices=NULLS, default=NULLS,
                        help="redo only these nulls")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    result = run(args.quick, args.n_surrogates, args.data, tuple(args.nulls))
    print(table(result))
    if not args.quick:
        write(result)


if __name__ == "__main__":
    main()
