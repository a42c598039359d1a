"""Sweeps: many training runs from one specification, through joblib, gathered in one table.

A specification is a dict (or a JSON file) with

``base``      the fields shared by every run (a :class:`TrainConfig` as a dict);
``variants``  optional list of dicts of fields that go together (e.g. a model with its
              readout and ``model_kwargs``);
``grid``      optional dict of field -> list of values, crossed with the variants
              (e.g. ``{"seed": [0, 1, 2]}``).

Runs go through :class:`joblib.Parallel`, so the joblib backend chooses where they run: a
user with a dask cluster runs ``with joblib.parallel_config(backend="dask"):`` around
:func:`sweep` (or ``wavescope sweep --backend dask --scheduler ADDRESS``), without code
changes. Each run is resumable, so a sweep restarted after an interruption skips finished
runs and resumes the others.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .._safeio import write_text
from .config import TrainConfig

__all__ = ["expand_sweep", "sweep", "collect", "summarize"]

_RESULTS, _SUMMARY = "results.csv", "summary.csv"


def _load_spec(spec) -> dict:
    if isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        if not path.exists():
            raise FileNotFoundError(f"no sweep specification at {path}")
        spec = json.loads(path.read_text())
    if not isinstance(spec, dict) or "base" not in spec:
        raise ValueError("a sweep specification is a dict with 'base' (and optional 'variants' "
                         "and 'grid')")
    unknown = set(spec) - {"base", "variants", "grid", "name"}
    if unknown:
        raise ValueError(f"unknown sweep keys {sorted(unknown)}; use base, variants, grid")
    return spec


def expand_sweep(spec) -> list[TrainConfig]:
    """The configs of a sweep: every variant crossed with every grid point."""
    spec = _load_spec(spec)
    variants = spec.get("variants") or [{}]
    grid = spec.get("grid") or {}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"grid[{key!r}] must be a non-empty list, got {values!r}")
    keys = list(grid)
    configs = []
    for variant in variants:
        for point in itertools.product(*(grid[k] for k in keys)):
            fields = {**spec["base"], **variant, **dict(zip(keys, point, strict=True))}
            configs.append(TrainConfig.from_dict(fields))
    names = [c.run_dir() for c in configs]
    if len(set(names)) != len(names):
        raise ValueError("two runs of the sweep share a run folder; drop a fixed `name` from "
                         "the base config")
    return configs


def _run_one(config_dict: dict) -> str:
    from .trainer import train

    return str(train(TrainConfig.from_dict(config_dict)))


def sweep(spec, n_jobs: int = 1, backend: str | None = None, out: str | None = None,
          verbose: int = 0) -> pd.DataFrame:
    """Run every config of a sweep and return the table of results (one row per run).

    Parameters
    ----------
    spec : dict or path
        The sweep specification (see the module docstring).
    n_jobs : int
        Parallel runs (joblib's ``n_jobs``; -1: all cores).
    backend : str, optional
        joblib backend ("loky", "threading", "dask", ...); None uses the current
        ``joblib.parallel_config``.
    out : path, optional
        Where to write ``results.csv`` and ``summary.csv`` (default: the base ``out_dir``).
    verbose : int
        joblib's verbosity.
    """
    import joblib

    configs = expand_sweep(spec)
    jobs = (joblib.delayed(_run_one)(c.to_dict()) for c in configs)
    if backend is None:
        runs = joblib.Parallel(n_jobs=n_jobs, verbose=verbose)(jobs)
    else:
        with joblib.parallel_config(backend=backend, n_jobs=n_jobs):
            runs = joblib.Parallel(verbose=verbose)(jobs)
    table = collect(runs)
    folder = Path(out) if out else Path(configs[0].out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    _write(table, folder / _RESULTS)
    _write(summarize(table), folder / _SUMMARY)
    return table


def _write(df: pd.DataFrame, path: Path) -> None:
    write_text(path, df.to_csv(index=False))


def collect(runs) -> pd.DataFrame:
    """One row per run folder: its config fields, the best validation row and the test
    metrics (prefixed ``test_``)."""
    from .trainer import read_metrics

    rows = []
    for run in runs:
        run = Path(run)
        config = TrainConfig.load(run)
        row = {"run": str(run), "task": config.task, "model": config.model,
               "readout": config.readout or "", "head": config.head or "",
               "model_kwargs": json.dumps(config.model_kwargs, sort_keys=True),
               "task_kwargs": json.dumps(config.task_kwargs, sort_keys=True),
               "seed": config.seed, "epochs": config.epochs, "n_train": config.n_train}
        metrics = read_metrics(run)
        key = f"val_{config.monitor}"
        values = [m.get(key, math.nan) for m in metrics]
        if values and not all(math.isnan(v) for v in values):
            pick = np.nanargmin if config.monitor_mode == "min" else np.nanargmax
            best = metrics[int(pick(values))]
            row.update({"best_epoch": best["epoch"], "best_step": best["step"]})
            row.update({k: v for k, v in best.items() if k.startswith("val_")})
        test_file = run / "test_metrics.json"
        if test_file.exists():
            row.update({f"test_{k}": v for k, v in json.loads(test_file.read_text()).items()})
        if metrics:
            row["time_s"] = metrics[-1].get("time_s", math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame, metrics=("test_fg_accuracy", "test_paper_fg_iou",
                                            "test_miou", "test_miou_fg", "test_pixel_accuracy",
                                            "test_loss")) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each setting, and the collapse rate.

    Runs are grouped by every descriptive column except ``seed`` and ``run``.
    """
    keys = [c for c in ("task", "model", "readout", "head", "model_kwargs", "task_kwargs",
                        "epochs", "n_train") if c in table]
    present = [m for m in metrics if m in table]
    table = table.fillna({k: "" for k in keys})
    groups = table.groupby(keys, dropna=False, sort=False)
    out = groups.size().rename("n_runs").to_frame()
    for m in present:
        out[f"{m}_mean"] = groups[m].mean()
        out[f"{m}_std"] = groups[m].std(ddof=0)
    if "test_collapsed" in table:
        out["collapse_rate"] = groups["test_collapsed"].mean()
    return out.reset_index()
