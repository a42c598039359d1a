"""Travelling waves in a trained NWM's hidden states, measured with wavescope.analysis.

Exports the hidden states of a run (or reads an exported netCDF file), then per image and
hidden channel:

* phase-gradient directionality (PGD, Rubino et al. 2006) of the analytic signal in
  ``tile``×``tile`` windows, frame by frame, averaged — against the same states with their
  pixels shuffled in space (same spectra, no spatial order). Windows, because on the
  NWM's torus the mean wrapped phase gradient over the whole grid is exactly the winding
  number (about 0): a global PGD says nothing there, and waves start from every object;
* the phase speed |ω| / |∇φ| at every site (``wave_speed(per_site=True)``), median;
* the wave speed where the k–ω power lies (``kw_speed``, "ridge": a line f = speed·|k|
  through the power of every wavenumber), in pixels per unit time (time = step · dt);
* the share of (image, channel, pixel) time courses that oscillate at all (at least two
  turning points), overall and inside and outside the labelled objects: phases, PGD and
  speeds mean something only where this is high.

``--untrained`` analyses a freshly initialised model of the run's configuration instead
(its coupling is still the Laplacian: the reference for what the analysis reports on
wave-making dynamics).

Usage::

    python scripts/analyse_nwm_waves.py RUN [--n-trials 16] [--out states.nc]
    python scripts/analyse_nwm_waves.py states.nc

Prints a table and writes ``waves.json`` beside the run (or the file).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import wavescope as ws  # noqa: E402
from wavescope import analysis  # noqa: E402


def hidden_states(source: Path, n_trials: int, out: Path | None, untrained: bool = False):
    """The exported states of ``source`` (a run folder or a netCDF file), and the model
    when there is one (None for a file)."""
    if not source.is_dir():
        return ws.load(source), None
    import torch

    from wavescope.training import export_hidden_states
    from wavescope.training.trainer import load_run

    config, task, model = load_run(source)
    if untrained:
        torch.manual_seed(config.seed)
        model = task.build_model()
    data = task.datasets(Path(config.data_root))["test"]
    ds = export_hidden_states(model, data, n_trials=n_trials, config=config)
    if out is not None:
        ws.save(ds, out)
    return ds, model


def medium(model, ds) -> dict:
    """What the encoders make of the test images: median natural frequency ω and damping α
    inside the objects and in the background, and the coupling's size against the
    Laplacian it starts as (the linear wave speed is about √scale pixels per unit time)."""
    import torch

    from wavescope.training.models.nwm import laplacian_kernel

    x = torch.as_tensor(ds["input"].values, dtype=torch.float32)
    inside = torch.as_tensor(ds["label"].values > 0)[:, None].expand(-1, model.channels, -1, -1)
    with torch.no_grad():
        omega, alpha = model.omega_encoder(x), model.alpha_encoder(x)
    lap = laplacian_kernel(model.channels)
    scale = float((model.coupling.detach() * lap).sum() / (lap * lap).sum())
    return {
        "omega_objects_median": float(omega[inside].median()),
        "omega_background_median": float(omega[~inside].median()),
        "alpha_objects_median": float(alpha[inside].median()),
        "alpha_background_median": float(alpha[~inside].median()),
        "coupling_scale": scale,
    }


def analyse(ds, skip: int = 10, tile: int = 16) -> dict:
    """Local PGD, phase speed and k–ω speed of ``ds["hidden"]`` (the first ``skip`` frames
    are left out: the field starts from the encoders' y0, not yet a wave)."""
    hidden = ds["hidden"].isel(time=slice(skip, None))
    turns = (np.diff(np.sign(np.diff(hidden.values, axis=1)), axis=1) != 0).sum(axis=1)
    oscillating = turns >= 2  # (trial, feature, y, x)
    hidden = hidden - hidden.mean("time")  # oscillation about each pixel's offset
    z = analysis.analytic_signal(hidden)
    pgd = analysis.local_pgd(z, tile).values  # (trial, time, feature)
    shuffled = analysis.surrogates(hidden, n=1, dim="surrogate").isel(surrogate=0)
    pgd_null = analysis.local_pgd(analysis.analytic_signal(shuffled), tile).values
    phase_speed = analysis.wave_speed(z, per_site=True).values
    speed = analysis.kw_speed(hidden, method="ridge")  # (trial, feature)
    peak = analysis.kw_speed(hidden, method="peak")
    result = {
        "n_trials": int(hidden.sizes["trial"]),
        "frames": int(hidden.sizes["time"]),
        "dt": float(ds.attrs.get("dt", 1.0)),
        "tile": tile,
        "oscillating_fraction": float(oscillating.mean()),
        "pgd_mean": float(np.nanmean(pgd)),
        "pgd_by_feature": [float(v) for v in np.nanmean(pgd, axis=(0, 1))],
        "pgd_shuffled_mean": float(np.nanmean(pgd_null)),
        "phase_speed_median": float(np.nanmedian(phase_speed)),
        "speed_ridge_median": float(np.nanmedian(np.abs(speed["speed"].values))),
        "speed_ridge_iqr": [float(v) for v in np.nanpercentile(np.abs(speed["speed"].values),
                                                                [25, 75])],
        "speed_peak_median": float(np.nanmedian(np.abs(peak["speed"].values))),
        "frequency_peak_median": float(np.nanmedian(peak["frequency"].values)),
        "wavenumber_peak_median": float(np.nanmedian(peak["wavenumber"].values)),
    }
    if "label" in ds:  # where the oscillations are: in the objects or around them
        inside = np.broadcast_to(ds["label"].values[:, None] > 0, oscillating.shape)
        result["oscillating_objects"] = float(oscillating[inside].mean())
        result["oscillating_background"] = float(oscillating[~inside].mean())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="run folder or exported .nc file")
    parser.add_argument("--n-trials", type=int, default=16)
    parser.add_argument("--out", type=Path, default=None, help="save the export here (.nc)")
    parser.add_argument("--skip", type=int, default=10, help="first frames left out")
    parser.add_argument("--tile", type=int, default=16, help="PGD window size (pixels)")
    parser.add_argument("--untrained", action="store_true",
                        help="analyse a freshly initialised model of the run's config")
    args = parser.parse_args()
    ds, model = hidden_states(args.source, args.n_trials, args.out, args.untrained)
    result = analyse(ds, args.skip, args.tile)
    if model is not None and hasattr(model, "omega_encoder"):  # an NWM: read its medium too
        result.update(medium(model, ds))
    for key, value in result.items():
        print(f"{key:>24}: {value}")
    name = "waves_untrained.json" if args.untrained else "waves.json"
    dest = (args.source if args.source.is_dir() else args.source.parent) / name
    dest.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {dest}")


if __name__ == "__main__":
    main()
