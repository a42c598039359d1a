"""Sweeps: many training runs from one specification, gathered in one table.

A specification is a dict (or a JSON file) with

``base``      the fields shared by every run (a :class:`TrainConfig` as a dict);
``variants``  optional list of dicts of fields that go together (e.g. a model with its
              readout and ``model_kwargs``);
``grid``      optional dict of field -> list of values, crossed with the variants
              (e.g. ``{"seed": [0, 1, 2]}``).

Where the runs go is the ``backend`` of :func:`sweep`:

- a :mod:`joblib` backend (``"loky"``, ``"threading"``, or None for the current
  ``joblib.parallel_config``): this machine's cores;
- ``"dask"``: one task per run on a :mod:`dask.distributed` cluster, either the scheduler at
  ``scheduler`` (an address such as ``"tcp://10.0.0.1:8786"``, or a ``Client``, e.g. of a
  ``dask_jobqueue.SLURMCluster``) or, when ``scheduler`` is None, a ``LocalCluster`` of
  ``n_jobs`` single-threaded worker processes started and closed by the sweep
  (``pip install wavescope[dask]``);
- ``"submitit"``: one SLURM job array through :mod:`submitit` (``pip install
  wavescope[slurm]``); ``executor`` holds the options of ``submitit.AutoExecutor``
  (``cluster``, ``folder``, and its ``update_parameters`` such as ``timeout_min`` or
  ``slurm_partition``); ``cluster="local"`` runs the array as local processes.

``wavescope sweep SPEC --backend dask --scheduler ADDRESS`` and ``--backend submitit
--executor KEY=VALUE`` are the same on the command line. Every backend gives the same
``results.csv`` (apart from ``run`` folders and wall times): each run is seeded, and a run
records everything it needs in its folder. Runs are resumable, so a sweep restarted after an
interruption skips finished runs and resumes the others. The class of each run's task travels
with the run, so a task registered in the calling process also runs on remote workers (with
``cloudpickle.register_pickle_by_value(module)`` when its module is not importable there).
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


def _run_one(config_dict: dict, task_cls=None) -> str:
    from . import tasks
    from .trainer import train

    if task_cls is not None:  # a task registered in the caller, unknown to a fresh worker
        tasks.TASKS.setdefault(task_cls.name, task_cls)
    return str(train(TrainConfig.from_dict(config_dict)))


def sweep(spec, n_jobs: int = 1, backend: str | None = None, out: str | None = None,
          verbose: int = 0, scheduler=None, executor: dict | None = None) -> pd.DataFrame:
    """Run every config of a sweep and return the table of results (one row per run).

    Parameters
    ----------
    spec : dict or path
        The sweep specification (see the module docstring).
    n_jobs : int
        Parallel runs (joblib's ``n_jobs``, -1: all cores; with ``backend="dask"`` and no
        ``scheduler``, the workers of the local cluster).
    backend : str, optional
        ``"dask"``, ``"submitit"``, or a joblib backend ("loky", "threading", ...); None uses
        the current ``joblib.parallel_config``.
    out : path, optional
        Where to write ``results.csv`` and ``summary.csv`` (default: the base ``out_dir``).
    verbose : int
        joblib's verbosity.
    scheduler : str or distributed.Client, optional
        With ``backend="dask"``: the scheduler address or a connected client (None: a
        ``LocalCluster`` of ``n_jobs`` workers for the duration of the sweep).
    executor : dict, optional
        With ``backend="submitit"``: ``cluster`` ("slurm", "local", ...; default: detected),
        ``folder`` (submitit's logs, default ``<out>/submitit``) and any parameters of
        ``AutoExecutor.update_parameters``.

    Returns
    -------
    pandas.DataFrame
        The table written to ``results.csv``.

    Examples
    --------
    >>> import tempfile
    >>> from wavescope.training import sweep
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     base = dict(task="tetrominoes", model="nwm", model_kwargs={"steps": 2},
    ...                 task_kwargs={"height": 16, "width": 16, "max_pieces": 1},
    ...                 epochs=1, batch_size=2, n_train=2, n_val=2, n_test=2,
    ...                 data_root=f"{tmp}/data", out_dir=f"{tmp}/runs", progress=False)
    ...     table = sweep({"base": base, "grid": {"seed": [0, 1]}})
    ...     print(table["seed"].tolist(), "test_pixel_accuracy" in table)
    ...
    [0, 1] True
    """
    configs = expand_sweep(spec)
    folder = Path(out) if out else Path(configs[0].out_dir)
    if scheduler is not None and backend != "dask":
        raise ValueError(f"scheduler={scheduler!r} needs backend='dask', got {backend!r}")
    if executor is not None and backend != "submitit":
        raise ValueError(f"executor options need backend='submitit', got {backend!r}")
    args = [(c.to_dict(), _task_class(c.task)) for c in configs]
    if backend == "dask":
        runs = _run_dask(args, scheduler, n_jobs)
    elif backend == "submitit":
        runs = _run_submitit(args, dict(executor or {}), folder)
    else:
        runs = _run_joblib(args, backend, n_jobs, verbose)
    table = collect(runs)
    folder.mkdir(parents=True, exist_ok=True)
    _write(table, folder / _RESULTS)
    _write(summarize(table), folder / _SUMMARY)
    return table


def _task_class(name: str):
    from .tasks import get_task

    return get_task(name)


def _run_joblib(args, backend, n_jobs, verbose) -> list[str]:
    import joblib

    jobs = (joblib.delayed(_run_one)(*a) for a in args)
    if backend is None:
        return joblib.Parallel(n_jobs=n_jobs, verbose=verbose)(jobs)
    with joblib.parallel_config(backend=backend, n_jobs=n_jobs):
        return joblib.Parallel(verbose=verbose)(jobs)


def _run_dask(args, scheduler, n_jobs) -> list[str]:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as err:
        raise ImportError("backend='dask' needs dask.distributed: "
                          "pip install 'wavescope[dask]'") from err
    owned = []  # what the sweep started, closed in reverse order afterwards
    if isinstance(scheduler, Client):
        client = scheduler
    else:
        if scheduler is None:
            n = (os.cpu_count() or 1) if n_jobs == -1 else max(int(n_jobs), 1)
            owned.append(LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                      dashboard_address=None))
            scheduler = owned[0]
        client = Client(scheduler)
        owned.append(client)
    try:
        # pure=False: a run is a side effect (its folder), never deduplicated by dask
        futures = client.map(_run_one, *zip(*args, strict=True), pure=False)
        return client.gather(futures)
    finally:
        for item in reversed(owned):
            item.close()


def _run_submitit(args, options: dict, folder: Path) -> list[str]:
    try:
        import submitit
    except ImportError as err:
        raise ImportError("backend='submitit' needs submitit: "
                          "pip install 'wavescope[slurm]'") from err
    cluster = options.pop("cluster", None)
    logs = Path(options.pop("folder", folder / "submitit"))
    ex = submitit.AutoExecutor(folder=logs, cluster=cluster)
    ex.update_parameters(**options)
    jobs = ex.map_array(_run_one, *zip(*args, strict=True))  # one job array
    return [job.result() for job in jobs]


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
