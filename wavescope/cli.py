"""The ``wavescope`` command.

Each verb is one small pair of functions: ``add_<verb>(subparsers)`` declares its
arguments and sets ``run=<function>``, and the function takes the parsed arguments and
returns an exit code. All verbs are registered in :data:`VERBS`; to add one, write the
pair and append ``add_<verb>`` there.

Exit codes: 0 success; 1 an error while running (a missing or damaged file, bad data, a
run folder in use, a verb whose optional dependency is not installed, ...), shown as one
line on stderr; 2 a usage error (bad or conflicting arguments, found before anything
runs, e.g. an output that would overwrite an input).
``--debug`` (alias ``--traceback``) shows the full traceback instead of the one line.

``wavescope quickstart`` runs the steps of :mod:`wavescope.quickstart` in order (or the
ones named by ``--step``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["main", "build_parser", "VERBS"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class _Formatter(argparse.HelpFormatter):
    """Help that ends with the default of every option that has one (None defaults and
    on/off switches say nothing: their help tells what they mean)."""

    def _get_help_string(self, action) -> str:
        text = action.help or ""
        shown = action.option_strings or action.nargs in ("?", "*")
        if (not text or "%(default)" in text or not shown or action.nargs == 0
                or action.default is None or action.default is argparse.SUPPRESS):
            return text
        return text + " (default: %(default)s)"


class _VerbParser(argparse.ArgumentParser):
    """A verb's parser; ``fill(parser)``, if given, adds its arguments on first use, so that
    a verb whose help is read from the training registries (which import torch) does not
    slow down the others. Defaults are shown in every verb's help."""

    def __init__(self, *args, fill: Callable | None = None, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self._fill = fill

    def _filled(self) -> None:
        if self._fill is not None:
            fill, self._fill = self._fill, None
            try:
                fill(self)
            except ImportError as err:  # e.g. `train --help` without torch: say which extra
                if not _missing_extra(err):
                    raise
                self.exit(EXIT_ERROR, f"{self.prog}: error: {err}\n")

    def parse_known_args(self, args=None, namespace=None):
        self._filled()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._filled()
        return super().format_help()

    def format_usage(self) -> str:
        self._filled()
        return super().format_usage()


def _int_at_least(minimum: int):
    """argparse type: an integer >= ``minimum`` (so ``--trials 0`` is a usage error, not a
    crash)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_positive_int, _non_negative_int = _int_at_least(1), _int_at_least(0)


def _missing_extra(err: BaseException) -> bool:
    """Whether ``err`` is wavescope's ImportError for an optional dependency that is not
    installed (its message names the extra: ``pip install 'wavescope[...]'``)."""
    return isinstance(err, ImportError) and "pip install 'wavescope[" in str(err)


# ----------------------------------------------------------------------------- info


def add_info(sub) -> None:
    p = sub.add_parser(
        "info", help="describe a saved netCDF file",
        description="Show dims, sizes, dtype, sampling rate, source, units and provenance of "
                    "a file written by wavescope.save (any netCDF file works).",
    )
    p.add_argument("file", type=Path, help="netCDF file")
    p.set_defaults(run=run_info)


def run_info(args) -> int:
    from . import io

    try:  # lazily with dask when available, so big files are not read just to describe them
        import dask  # noqa: F401

        obj = io.load(args.file, chunks={})
    except ImportError:
        obj = io.load(args.file)
    try:
        print("\n".join(describe(obj, path=args.file)))
    finally:
        obj.close()
    return EXIT_OK


def describe(obj, path: Path | None = None) -> list[str]:
    """Human-readable summary lines of a DataArray or Dataset (used by ``info``)."""
    import xarray as xr

    lines = []
    if path is not None:
        lines.append(f"file: {path} ({Path(path).stat().st_size / 1e6:.2f} MB)")
    if isinstance(obj, xr.DataArray):
        lines.append(f"type: DataArray, name {obj.name!r}")
        lines += _describe_array(obj, indent="")
    else:
        lines.append(f"type: Dataset with {len(obj.data_vars)} variable(s)")
        lines.append("dims: " + _sizes(obj.sizes))
        lines += _describe_attrs(obj.attrs, indent="")
        for name, var in obj.data_vars.items():
            lines.append(f"variable {name}:")
            lines += _describe_array(var, indent="  ")
    return lines


def _sizes(sizes) -> str:
    return ", ".join(f"{d}={n}" for d, n in sizes.items()) or "(scalar)"


def _describe_array(da, indent: str) -> list[str]:
    lines = [f"{indent}dims: {_sizes(da.sizes)}", f"{indent}dtype: {da.dtype}"]
    if "time" in da.coords and da.sizes.get("time", 0) > 0:
        t = da["time"].values
        unit = da.attrs.get("time_units", "")
        lines.append(f"{indent}time: {t[0]:g} to {t[-1]:g} {unit}".rstrip())
    return lines + _describe_attrs(da.attrs, indent)


def _describe_attrs(attrs, indent: str) -> list[str]:
    lines = []
    if "sfreq" in attrs:
        unit = attrs.get("time_units", "time unit")
        per = "Hz" if unit == "s" else f"per {unit}"
        lines.append(f"{indent}sampling rate: {attrs['sfreq']:g} {per}")
    for key, label in (("source", "source"), ("units", "units"),
                       ("space_units", "space units"), ("periodic", "periodic")):
        if key in attrs:
            lines.append(f"{indent}{label}: {attrs[key]}")
    for key in ("provenance", "truth"):
        if key in attrs:
            lines.append(f"{indent}{key}: {_short_json(attrs[key])}")
    return lines


def _short_json(text: str, limit: int = 240) -> str:
    try:
        text = json.dumps(json.loads(text), separators=(", ", ": "))
    except (TypeError, ValueError):
        text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ----------------------------------------------------------------------------- quickstart


def add_quickstart(sub) -> None:
    from .quickstart import STEPS

    p = sub.add_parser(
        "quickstart", help="the main job end to end: train, export, detect, decode",
        description="Train a small Neural Wave Machine on polygon images, export its hidden "
                    "states, detect travelling waves in them, decode each image's shape from "
                    "their spectra (beside the fixed drum), detect alpha waves in the bundled "
                    "EEG, and write figures, an animation and OUT/summary.md. About 5 "
                    "minutes on two CPU cores (--small: under a minute).",
    )
    p.add_argument("out", nargs="?", type=Path, default=Path("wavescope-quickstart"),
                   help="output folder")
    p.add_argument("--small", action="store_true",
                   help="a tiny budget that runs in under a minute (for tests and trials)")
    p.add_argument("--seed", type=int, default=0, help="seed of data, model and tests")
    p.add_argument("--step", action="append", choices=list(STEPS), metavar="STEP",
                   help="run only this step (repeatable), reading the files of the steps "
                        f"before it; steps in order: {', '.join(STEPS)}")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="hide progress bars")
    p.set_defaults(run=run_quickstart)


def run_quickstart(args) -> int:
    from .quickstart import run_quickstart as run

    run(args.out, small=args.small, seed=args.seed, progress=args.progress, steps=args.step)
    return EXIT_OK


# ----------------------------------------------------------------------------- report


def add_report(sub) -> None:
    p = sub.add_parser(
        "report", help="an HTML report of an output folder (mne.Report)",
        description="Write FOLDER/report.html: what was found, tables of the results with "
                    "their budgets, the figures and animation, provenance, and a link to "
                    "every file. Works for a quickstart output folder, a training run "
                    "folder, or any folder of images.",
    )
    p.add_argument("folder", metavar="RUN_OR_OUT", type=Path,
                   help="quickstart output folder or training run folder")
    p.set_defaults(run=run_report)


def run_report(args) -> int:
    from .report import make_report

    print(f"report -> {make_report(args.folder)}")
    return EXIT_OK


# ----------------------------------------------------------------------------- detect


def add_detect(sub) -> None:
    p = sub.add_parser(
        "detect", help="detect travelling waves in a saved activity",
        description="Find wave events (planar, synchronous, radial, rotating) in a netCDF "
                    "activity, with surrogate p-values, and print them; -o saves the events "
                    "and frame-wise measures. A Dataset (a model export) gives its "
                    "'hidden' variable unless --var says otherwise.",
    )
    p.add_argument("file", type=Path, help="netCDF file (wavescope.save or an export)")
    p.add_argument("-o", "--output", type=Path, help="netCDF file for the events")
    p.add_argument("--var", help="variable of a Dataset (default 'hidden' or the only one)")
    p.add_argument("--feature", type=_non_negative_int, default=0,
                   help="hidden channel to use")
    p.add_argument("--trials", type=_positive_int, default=None,
                   help="use only the first N trials")
    p.add_argument("--band", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="pass band in cycles per time unit (Hz for recordings)")
    p.add_argument("--n-surrogates", type=_non_negative_int, default=99,
                   help="surrogate recordings (per trial) for the p-values")
    p.add_argument("--surrogate", default="multivariate",
                   choices=("multivariate", "spatial", "shuffle", "phase", "auto"),
                   help="null of the p-values (default multivariate, the calibrated one; "
                        "see docs/notes/calibration.md)")
    p.add_argument("--seed", type=int, default=0, help="seed of the surrogates")
    p.set_defaults(run=run_detect, paths=lambda a: ([a.file], [a.output]))


def _activity(path: Path, var: str | None, feature: int, trials: int | None):
    """The activity of a file: a DataArray, or one variable (and feature) of a Dataset."""
    import xarray as xr

    from . import io

    obj = io.load(path)
    if isinstance(obj, xr.Dataset):
        names = list(obj.data_vars)
        name = var or ("hidden" if "hidden" in names else names[0] if len(names) == 1 else None)
        if name not in names:
            raise ValueError(f"{path} holds variables {names}; choose one with --var")
        obj = obj[name]
    elif var is not None:
        raise ValueError(f"{path} holds one DataArray; drop --var")
    if "feature" in obj.dims:
        n = obj.sizes["feature"]
        if feature >= n:
            raise ValueError(f"--feature {feature} is out of range: {path} has {n} feature(s) "
                             f"(0 to {n - 1})")
        obj = obj.isel(feature=feature)
    elif feature != 0:
        raise ValueError(f"--feature {feature}: {path} has no 'feature' dim; drop --feature")
    if trials is not None and "trial" in obj.dims:
        obj = obj.isel(trial=slice(0, trials))
    return obj


def run_detect(args) -> int:
    from . import io
    from .analysis import detect_waves

    da = _activity(args.file, args.var, args.feature, args.trials)
    ev = detect_waves(da, tuple(args.band) if args.band else None,
                      n_surrogates=args.n_surrogates, surrogate=args.surrogate,
                      seed=args.seed, progress=True)
    import pandas as pd

    keys = ("event_trial", "start", "duration", "pattern", "speed", "direction", "pgd",
            "p_value", "q_value")
    table = pd.DataFrame({k: ev[k].values for k in keys
                          if k in ev.variables and ev[k].dims == ("event",)})
    units = {k: ev[k].attrs.get("units", "") for k in table.columns}
    table.columns = [f"{k} ({units[k]})" if units[k] not in ("", "1") else k
                     for k in table.columns]
    print(table.to_string(float_format=lambda v: f"{v:.4g}") if len(table) else
          "no wave events")
    if args.output is not None:
        print(f"events -> {io.save(ev, args.output)}")
    return EXIT_OK


# ----------------------------------------------------------------------------- decode


def add_decode(sub) -> None:
    p = sub.add_parser(
        "decode", help="decode a per-trial label from spectra (cross-validated)",
        description="Cross-validated decoding of a per-trial variable of a Dataset (e.g. "
                    "'shape' or 'area' of a quickstart export) from the pooled log-FFT "
                    "spectra of its activity.",
    )
    p.add_argument("file", type=Path, help="netCDF Dataset with an activity and labels")
    p.add_argument("--label", required=True, help="per-trial variable to decode")
    p.add_argument("--var", help="activity variable (default 'hidden' or the only one)")
    p.add_argument("--task", choices=("classification", "regression"),
                   default="classification", help="what kind of label: classes or numbers")
    p.add_argument("--cv", type=_positive_int, default=5, help="cross-validation folds")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds")
    p.set_defaults(run=run_decode)


def run_decode(args) -> int:
    import xarray as xr

    from . import io
    from .analysis import SpectralFeatures, decode

    ds = io.load(args.file)
    if not isinstance(ds, xr.Dataset) or args.label not in ds:
        raise ValueError(f"{args.file} has no variable {args.label!r} to decode")
    y = ds[args.label]
    if y.dims != ("trial",):
        raise ValueError(f"--label must name a per-trial variable (dims ('trial',)); "
                         f"{args.label!r} has dims {y.dims}")
    names = [n for n in ds.data_vars if "time" in ds[n].dims]
    var = args.var or ("hidden" if "hidden" in names else names[0] if len(names) == 1 else None)
    if var not in ds:
        raise ValueError(f"choose the activity with --var among {names}")
    res = decode(ds[var], y.values, task=args.task, cv=args.cv, seed=args.seed,
                 features=SpectralFeatures(pool="mean", log=True))
    chance = f" (chance {res['chance']:.3f})" if args.task == "classification" else ""
    print(f"{args.label} from {var} spectra: {res['scoring']} {res['mean']:.3f} +- "
          f"{res['std']:.3f}{chance}, {args.cv}-fold CV on {y.size} trials")
    return EXIT_OK


# ----------------------------------------------------------------------------- training


def add_train(sub) -> None:
    p = sub.add_parser(
        "train", help="train a model (config file and/or flags)",
        description="Train one model. Give a JSON config (--config FILE) and/or one flag per "
                    "TrainConfig field; flags override the file. A run folder that already "
                    "holds this config resumes from its last checkpoint. Optional fields "
                    "take 'none'.",
        fill=_train_arguments,
    )
    p.set_defaults(run=run_train)


def _train_arguments(parser) -> None:
    from .training.config import TrainConfig

    TrainConfig.add_arguments(parser)  # help, choices and defaults from TrainConfig itself
    parser.add_argument("--nproc", type=_positive_int, default=1, metavar="N",
                        help="data-parallel training in N processes on this machine (gloo on "
                             "cpu, NCCL on cuda: one GPU each); batch_size is the global "
                             "batch. Several machines: `torchrun ... -m wavescope train ...`")


def run_train(args) -> int:
    from .training import TrainConfig
    from .training.distributed import launch, rank

    run = launch(TrainConfig.from_args(args), args.nproc)
    if rank() != 0:  # under torchrun: one report, from rank 0
        return EXIT_OK
    print(f"run folder: {run}")
    print((run / "test_metrics.json").read_text().strip())
    return EXIT_OK


SPLITS, CHECKPOINTS = ("train", "val", "test"), ("best", "last")
CHECKPOINT_HELP = ("weights to use: best (the best validation score, see --monitor of "
                   "train) or last (the end of training)")


def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a trained run on a split",
                       description="Score a run folder's checkpoint on train, val or test.")
    p.add_argument("run_dir", metavar="RUN", type=Path,
                   help="run folder written by `wavescope train`")
    p.add_argument("--split", default="test", choices=SPLITS, help="data split to score")
    p.add_argument("--checkpoint", default="best", choices=CHECKPOINTS, help=CHECKPOINT_HELP)
    p.add_argument("--device", default=None, help="torch device (default: the run's)")
    p.set_defaults(run=run_evaluate)


def run_evaluate(args) -> int:
    from .training import evaluate

    metrics = evaluate(args.run_dir, split=args.split, checkpoint=args.checkpoint,
                       device=args.device)
    print(json.dumps(metrics, indent=2))
    return EXIT_OK


def add_sweep(sub) -> None:
    p = sub.add_parser(
        "sweep", help="run a grid of training configs and gather one table",
        description="Run every config of a sweep specification (JSON with base, variants, "
                    "grid) on this machine (joblib), a dask.distributed cluster or SLURM "
                    "(submitit) and write results.csv and summary.csv.",
    )
    p.add_argument("spec", type=Path, help="sweep specification (JSON)")
    p.add_argument("--n-jobs", type=int, default=1,
                   help="parallel runs; with --backend dask and no --scheduler, the workers "
                        "of a local cluster")
    p.add_argument("--backend", default=None,
                   help="dask, submitit, or a joblib backend such as loky (default: joblib's)")
    p.add_argument("--scheduler", default=None,
                   help="dask scheduler address, e.g. tcp://host:8786 (with --backend dask; "
                        "without it, a local cluster)")
    p.add_argument("--executor", action="append", default=None, metavar="KEY=VALUE",
                   help="submitit option (with --backend submitit), repeatable: cluster=slurm, "
                        "folder=logs, timeout_min=60, slurm_partition=gpu; values are JSON "
                        "where they parse")
    p.add_argument("--out", type=Path, default=None,
                   help="folder of the tables (default: the base out_dir)")
    p.set_defaults(run=run_sweep, paths=lambda a: (
        [a.spec], [a.out / "results.csv", a.out / "summary.csv"] if a.out else []))


def run_sweep(args) -> int:
    from .training import sweep

    executor = None
    for item in args.executor or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--executor takes KEY=VALUE, got {item!r}")
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass  # a plain string such as a partition name
        executor = {**(executor or {}), key: value}
    table = sweep(args.spec, n_jobs=args.n_jobs, backend=args.backend, out=args.out,
                  scheduler=args.scheduler, executor=executor)
    print(table.to_string(index=False, max_colwidth=40))
    return EXIT_OK


def add_export(sub) -> None:
    p = sub.add_parser(
        "export", help="export a run's hidden states to netCDF",
        description="Run a trained model on a split and save its hidden states, inputs and "
                    "labels as a netCDF Dataset in the wavescope data model.",
    )
    p.add_argument("run_dir", metavar="RUN", type=Path,
                   help="run folder written by `wavescope train`")
    p.add_argument("-o", "--output", type=Path, required=True, help="netCDF file to write")
    p.add_argument("--split", default="test", choices=SPLITS, help="data split to export")
    p.add_argument("--n-trials", type=_positive_int, default=16,
                   help="items to export (the first of the split)")
    p.add_argument("--checkpoint", default="best", choices=CHECKPOINTS, help=CHECKPOINT_HELP)
    p.add_argument("--batch-size", type=_positive_int, default=16,
                   help="items per forward pass (memory, not results)")
    p.set_defaults(run=run_export, paths=lambda a: (_run_files(a.run_dir), [a.output]))


def run_export(args) -> int:
    from . import io
    from .training import export_hidden_states

    ds = export_hidden_states(args.run_dir, split=args.split, n_trials=args.n_trials,
                              checkpoint=args.checkpoint, batch_size=args.batch_size)
    path = io.save(ds, args.output)
    print(f"hidden states {dict(ds['hidden'].sizes)} -> {path}")
    return EXIT_OK


# ----------------------------------------------------------------------------- main

#: Every verb of the command, in the order shown by ``--help``.
VERBS: list[Callable] = [add_info, add_quickstart, add_report, add_train, add_evaluate,
                         add_sweep, add_export, add_detect, add_decode]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="wavescope",
        description="Travelling-wave analysis for recordings and for the recurrent networks "
                    "that make waves.",
    )
    parser.add_argument("--version", action="version", version=f"wavescope {__version__}")
    parser.add_argument("--debug", "--traceback", dest="debug", action="store_true",
                        help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_VerbParser)
    for add in VERBS:
        add(sub)
    return parser


def _run_files(run_dir: Path) -> list[Path]:
    return [run_dir / name for name in ("config.json", "metrics.csv", "checkpoint_best.pt",
                                        "checkpoint_last.pt", "test_metrics.json")]


def _overwritten_input(args) -> str | None:
    """A message when an output path of the verb is one of its inputs, else None."""
    from ._safeio import same_file

    inputs, outputs = args.paths(args) if hasattr(args, "paths") else ([], [])
    for out in outputs:
        if out is None:
            continue
        for inp in inputs:
            if inp is not None and Path(inp).exists() and same_file(inp, out):
                return (f"the output {out} is the input {inp}; writing it would destroy the "
                        "input: choose another output path")
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 success, 1 error, 2 usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors
        return int(exit_.code or 0)
    if args.verb is None:
        parser.print_help()
        return EXIT_USAGE
    clash = _overwritten_input(args)
    if clash:
        print(f"wavescope {args.verb}: error: {clash}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"wavescope {args.verb}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - one line for every error unless --debug
        if args.debug:
            raise
        known = (isinstance(err, (OSError, ValueError, RuntimeError, MemoryError))
                 or _missing_extra(err))
        text = str(err) if known else f"{type(err).__name__}: {err}"
        hint = "" if known else " (an unexpected error: rerun with --debug and report it)"
        print(f"wavescope {args.verb}: error: {' '.join(text.split())}{hint}",
              file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
