"""Pattern labels, accuracy and interval coverage of plane waves across wavelengths.

Plane waves of wavelength 1, 3, 10 and 30 times the array's extent (5 Hz, sampled at
100 Hz, white noise of 0.3 times the signal's SD per site, band-pass 2-12 Hz), on a
10 x 10 grid without its corners, 64 irregular sensors (uniform in an 8 x 8 square) and
a 100 x 100 grid; then a zero-lag oscillation and noise alone. Prints one markdown row
per case: the share of frames labelled planar (or synchronous / any wave), the per-frame
median errors of speed and direction, and the share of frames (0.2 s apart, nearly
independent) whose 95 % interval holds the true speed, direction and wavelength. On the
100 x 100 grid, 10 s are simulated and pairs of consecutive frames 0.1 s apart, 2.5-7.5 s
in, are labelled (errors of the analytic signal common to all sites reach that far).

Then smooth Gaussian random fields without waves (correlation length 3 and 8 px on a
32 x 32 grid, 1.5 and 3 spacings on the 64 sensors, band 8-12 Hz): the share of frames
labelled planar with the plane fit's spatial HAC covariance and, side by side, with the
kernel off (independent-site SEs, as before issue 12's last part), and the share labelled
planar when a plane wave one extent long is added (noise 0.15 of its amplitude). Last,
the cost of the HAC covariance: fit_plane_wave with and without the kernel.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/wave_intervals.py [--quick]

``--long-waves`` prints only the table of long waves (1, 3, 10, 30 extents, and noise
alone under an in-phase oscillation) in noise smooth over a third of the array, with
the single-frame slope test, the pooled one, and the pooled one with the steady
gradient of a window of frames (the default).
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager, nullcontext

import numpy as np
import xarray as xr
from scipy.ndimage import gaussian_filter

import wavescope as ws
from wavescope.analysis import _planefit, analytic_signal, classify_patterns, fit_plane_wave

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
    z = analytic_signal(da, band=BAND)
    if edge is None:  # pairs of consecutive frames, 0.1 s apart, 2.5-7.5 s in
        z = z.drop_vars("trial", errors="ignore")
        pairs = xr.concat([z.isel(trial=i, time=slice(t, t + 2)).drop_vars("time")
                           for i in range(z.sizes["trial"]) for t in range(250, 750, 10)],
                          dim="trial")
        return classify_patterns(pairs.assign_coords(time=z["time"].values[:2])).isel(time=0)
    return classify_patterns(z.isel(time=slice(edge, n_times - edge)))


@contextmanager
def kernel_off():
    """The plane fit's residual correlation ignored: independent-site SEs."""
    kept = _planefit._RHO_SE
    _planefit._RHO_SE = np.inf
    try:
        yield
    finally:
        _planefit._RHO_SE = kept


def smooth_field(where, ell, seed, n_times=500):
    """Unit-SD noise with Gaussian spatial correlation of length ``ell`` (white noise
    smoothed by sigma ell / sqrt(2) on grids; a Cholesky factor on sensors) and time
    (sigma 1 sample)."""
    rng = np.random.default_rng(seed)
    if isinstance(where, tuple):
        s = ell / np.sqrt(2)
        f = gaussian_filter(rng.standard_normal((n_times, *where)), (1.0, s, s))
        return ws.from_array(f / f.std(), ("time", "y", "x"), sfreq=SFREQ)
    d2 = ((where[:, None] - where[None]) ** 2).sum(-1)
    chol = np.linalg.cholesky(np.exp(-d2 / (2 * ell**2)) + 1e-9 * np.eye(len(where)))
    f = gaussian_filter(rng.standard_normal((n_times, len(where))), (1.0, 0.0)) @ chol.T
    return ws.simulate.noise(where, n_times=n_times, sfreq=SFREQ).copy(data=f / f.std())


def planar(da) -> float:
    z = analytic_signal(da, (8.0, 12.0)).isel(time=slice(50, da.sizes["time"] - 50))
    return float(np.mean(classify_patterns(z)["pattern"].values == "planar"))


def smooth_rows(quick: bool) -> None:
    print("\n| sites | correlation length | planar, HAC SE | planar, independent-site SE "
          "| plane wave in it (noise 0.15): planar | frames |")
    print("|---|---|---|---|---|---|")
    xy = layouts()["64 irregular sensors"][0]
    seeds = range(2 if quick else 4)
    for name, where, extent, ells in (("32x32 grid", (32, 32), 31.0, (3.0, 8.0)),
                                      ("64 irregular sensors", xy, float(np.ptp(xy)), (1.5,
                                                                                       3.0))):
        for ell in ells:
            fields = [smooth_field(where, ell, seed) for seed in seeds]
            hac = [planar(f) for f in fields]
            with kernel_off():
                ind = [planar(f) for f in fields]
            wave = ws.simulate.plane_wave(where, n_times=500, sfreq=SFREQ, frequency=10.0,
                                          speed=10.0 * extent, direction=DIRECTION)
            found = [planar(wave.copy(data=wave.values + 0.15 * f.values)) for f in fields]
            print(f"| {name} | {ell:g} | {np.mean(hac):.3f} ({min(hac):.3f}-{max(hac):.3f}) | "
                  f"{np.mean(ind):.3f} ({min(ind):.3f}-{max(ind):.3f}) | "
                  f"{np.mean(found):.3f} | {len(fields)} x 400 |", flush=True)


def speed_rows(quick: bool) -> None:
    print("\n| fit_plane_wave | HAC covariance | kernel off | ratio |")
    print("|---|---|---|---|")
    n = 50 if quick else 200
    for label, da in (
            ("100x100 smooth field (8 px)", smooth_field((100, 100), 8.0, 0, n + 100)),
            ("32x32 smooth field (8 px), x10 frames", smooth_field((32, 32), 8.0, 0,
                                                                   10 * n + 100)),
            ("100x100 plane wave, noise 0.2", ws.simulate.plane_wave(
                (100, 100), n_times=n + 100, sfreq=SFREQ, frequency=10.0, speed=400.0,
                noise=0.2, seed=0))):
        z = analytic_signal(da, (8.0, 12.0)).isel(time=slice(50, -50))
        times = []
        for off in (False, True, False, True, False, True):
            with kernel_off() if off else nullcontext():
                t0 = time.perf_counter()
                fit_plane_wave(z)
                times.append(time.perf_counter() - t0)
        on, off = min(times[0::2]), min(times[1::2])
        print(f"| {label} ({z.sizes['time']} frames) | {on:.2f} s | {off:.2f} s | "
              f"{on / off:.2f}x |", flush=True)


def main(quick: bool) -> None:
    print("| sites | wavelength / extent | planar | speed error (median) | direction error "
          "(median) | 95 % interval holds speed / direction / wavelength | frames |")
    print("|---|---|---|---|---|---|---|")
    for name, (where, extent, corners) in layouts().items():
        big = name.startswith("100")
        # 10,000 sites: intervals so narrow that the analytic signal's errors common to
        # all sites matter up to 2.5 s from the ends: pairs of frames 2.5-7.5 s in
        n_trials, n_times, edge, step = ((1 if quick else 2), 1000, None, 1) if big else (
            (10 if quick else 50), 400, 100, 20)
        for ratio in (1, 3, 10, 30):
            wavelength = ratio * extent
            speed = wavelength * FREQ
            t0 = time.perf_counter()
            c = labelled(where, corners, n_trials, n_times, edge, lambda w, s, n=n_times,
                         v=speed: ws.simulate.plane_wave(
                             w, n_times=n, sfreq=SFREQ, frequency=FREQ, speed=v,
                             direction=DIRECTION, noise=NOISE, seed=s))
            every = c if big else c.isel(time=slice(0, None, step))
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


def long_wave_in_smooth_noise(where, seed, ratio=3.0, share=0.3, noise=0.3, n_times=600):
    """A 5 Hz plane wave ``ratio`` times the extent long (100 Hz) plus noise of ``noise``
    times its SD with Gaussian correlation over ``share`` of the extent (and 1 sample in
    time); returns the analytic signal (band 2-12 Hz, a second cut at each end) and the
    true speed."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_times) / 100.0
    if isinstance(where, tuple):
        y, x = np.mgrid[0:where[0], 0:where[1]].astype(float)
        xy = np.column_stack([x.ravel(), y.ravel()])
    else:
        xy = where
    extent = float(np.ptp(xy, axis=0).max())
    along = xy[:, 0] * np.cos(0.7) + xy[:, 1] * np.sin(0.7)
    wave = np.cos(2 * np.pi * (5.0 * t[:, None] - along[None] / (ratio * extent)))
    ell = share * extent
    d2 = ((xy[:, None] - xy[None]) ** 2).sum(-1)
    # a Cholesky factor (with a 1e-6 nugget: the Gaussian kernel is singular in floating
    # point) is unique, so the noise is the same draw whatever the BLAS threads; the
    # eigenvectors of its near-degenerate eigenvalues were not
    chol = np.linalg.cholesky(np.exp(-d2 / ell**2) + 1e-6 * np.eye(len(xy)))
    field = gaussian_filter(rng.standard_normal((n_times, len(xy))), (1.0, 0.0)) @ chol.T
    data = wave + noise * wave.std() * field / field.std()
    if isinstance(where, tuple):
        da = ws.from_array(data.reshape(n_times, *where), ("time", "y", "x"), sfreq=100.0)
    else:
        da = ws.simulate.noise(xy, n_times=n_times, sfreq=100.0).copy(data=data)
    z = analytic_signal(da, (2.0, 12.0)).isel(time=slice(100, n_times - 100))
    return z, ratio * extent * 5.0


def long_wave_rows() -> None:
    """Long waves in noise smooth over a third of the array: planar share with the
    single-frame slope test, pooled over frames, and pooled with the steady gradient
    of a window of frames (the default; docs/notes/waves.md); then noise alone under
    an in-phase oscillation (an infinitely long wave)."""
    xy = layouts()["64 irregular sensors"][0]
    print("\n| sites | wavelength / extent | planar, single-frame | planar, pooled "
          "| planar, pooled + steady (steady=True) | speed error (median) "
          "| direction error (median) | frames |")
    print("|---|---|---|---|---|---|---|---|")
    for name, where in (("32x32 grid", (32, 32)), ("64 irregular sensors", xy)):
        for ratio in (1.0, 3.0, 10.0, 30.0, np.inf):
            single, pooled, steady, err, err_d = [], [], [], [], []
            for seed in range(2):
                z, speed = long_wave_in_smooth_noise(where, seed, ratio=min(ratio, 1e12))
                c = classify_patterns(z, steady=True)
                for out, kw in ((single, {"pool_frames": False}), (pooled, {"steady": False})):
                    out.append(np.mean(classify_patterns(z, **kw)["pattern"].values
                                       == "planar"))
                planar = c["pattern"].values == "planar"
                steady.append(np.mean(planar))
                err.append(100 * (float(c["speed"].median()) / speed - 1))
                err_d.append(np.degrees(np.angle(np.exp(1j * (
                    np.median(c["direction"].values[planar]) - DIRECTION))))
                    if planar.any() else np.nan)
            errors = ("-", "-") if ratio == np.inf else (
                f"{min(err):+.1f} to {max(err):+.1f} %",
                f"{min(err_d):+.1f} to {max(err_d):+.1f} deg")
            print(f"| {name} | {'noise alone, in-phase' if ratio == np.inf else f'{ratio:g}'} "
                  f"| {min(single):.3f}-{max(single):.3f} | "
                  f"{min(pooled):.3f}-{max(pooled):.3f} | {min(steady):.3f}-{max(steady):.3f} "
                  f"| {errors[0]} | {errors[1]} | 2 x {z.sizes['time']} |", flush=True)


if __name__ == "__main__":
    if "--long-waves" in sys.argv:
        long_wave_rows()
        sys.exit()
    main("--quick" in sys.argv)
    smooth_rows("--quick" in sys.argv)
    speed_rows("--quick" in sys.argv)
