"""The papers' tables (shared/spec/RESULTS.md), row by row, at a stated CPU budget.

One entry point for every reproduction table. Each table is a sweep specification in
``configs/reproduce_<table>.json`` (a ``base`` config, one ``variant`` per row of the
table, a ``grid`` of at least three seeds), run through :func:`wavescope.training.sweep`:
every run is an ordinary run folder, so an interrupted table resumes where it stopped,
finished runs are skipped, asking for more epochs extends them, and ``--n-jobs`` /
``--backend`` fan the runs out over a joblib backend (``loky`` on one machine, ``dask`` on
a cluster).

The table is written to ``docs/results/<table>.json``: per row its budget, the numbers of
every seed, their mean and sample standard deviation (over finished seeds), the collapse
rate (segmentation: seeds that predict background everywhere), CPU hours (training wall
time times threads), how far unfinished runs got (epochs or steps done of planned), the
papers' orderings and whether each holds at this budget, and the git commit. Numbers come
only from the run folders; a row without finished runs has none.

Tables, in the order of priority of issue 15:

==============  ==========================================================================
tetrominoes     NWM linear, ConvLSTM linear, 8-layer CNN (mlp256 heads), 3 seeds
readouts        NWM on Tetrominoes with linear, fft, last, mean, max readouts
fashion_mnist   MNIST segmentation on Fashion-MNIST: NWM, ConvLSTM, 16-layer CNN
multi_mnist     Multi-MNIST from Fashion items, reduced size: NWM against U-Net c = 2..5
sequences       wRNN, iRNN (LSTM, GRU): copy, adding, Fashion-(p)sMNIST, wRNN ablations
==============  ==========================================================================

Usage::

    OMP_NUM_THREADS=1 python scripts/reproduce.py --table tetrominoes --n-jobs 2
    python scripts/reproduce.py --table tetrominoes --collect-only   # table of what exists
    python scripts/reproduce.py --table sequences --backend dask --n-jobs 16
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wavescope._safeio import write_json  # noqa: E402
from wavescope.training import TrainConfig  # noqa: E402
from wavescope.training.sweeps import expand_sweep, sweep  # noqa: E402

SEGMENTATION = ("test_fg_accuracy", "test_paper_fg_iou", "test_miou", "test_pixel_accuracy")

#: Per table: its papers' orderings and numbers (RESULTS.md; segmentation: fg accuracy /
#: paper_fg_iou at 300 epochs). Each ordering lists groups of rows from best to worst on one
#: metric: every row of a group must beat every row of the next ("≈" within a group).
TABLES = {
    "tetrominoes": {"orderings": [
        {"metric": "test_paper_fg_iou", "better": "higher",
         "groups": [["NWM, linear"], ["ConvLSTM, linear"], ["CNN-8"]]}],
        "paper": {"NWM, linear": "0.99 / 0.98", "ConvLSTM, linear": "0.97 / 0.94",
                  "CNN-8": "0.74 / 0.64"}},
    "readouts": {"orderings": [
        {"metric": "test_paper_fg_iou", "better": "higher",
         "groups": [["NWM, linear"], ["NWM, fft"], ["NWM, last", "NWM, mean", "NWM, max"]]}],
        "paper": {"NWM, linear": "0.99 / 0.98", "NWM, fft": "0.98 / 0.97",
                  "NWM, last": "0.94 / 0.90"}},
    "fashion_mnist": {"orderings": [
        {"metric": "test_paper_fg_iou", "better": "higher",
         "groups": [["NWM, linear"], ["ConvLSTM, linear"], ["CNN-16"]]}],
        "paper": {"NWM, linear": "MNIST 0.90 / 0.85", "ConvLSTM, linear": "MNIST 0.79 / 0.73",
                  "CNN-16": "MNIST 0.57 / 0.50"}},
    "multi_mnist": {"orderings": [
        {"metric": "test_fg_accuracy", "better": "higher",
         "groups": [["U-Net c=5"], ["U-Net c=4"], ["NWM"], ["U-Net c=3"], ["U-Net c=2"]]}],
        "paper": {"NWM": "MNIST 0.955 / 0.928", "U-Net c=2": "MNIST 0.663 / 0.602",
                  "U-Net c=3": "MNIST 0.900 / 0.866", "U-Net c=4": "MNIST 0.972 / 0.960",
                  "U-Net c=5": "MNIST 0.979 / 0.969"}},
    "sequences": {"orderings": [
        *({"metric": "solved_step", "better": "lower",
           "groups": [[f"adding T={T}: wRNN"], [f"adding T={T}: iRNN"]]} for T in (100, 400, 1000)),
        *({"metric": "final_test_cross_entropy", "better": "lower",
           "groups": [[f"copy T={T}: wRNN"], [f"copy T={T}: iRNN"]]} for T in (10, 30, 80)),
        {"metric": "solved_step", "better": "lower",
         "groups": [["adding T=100: wRNN"], ["adding T=100: wRNN, identity recurrent init",
                                             "adding T=100: wRNN, no input init"]]},
    ], "paper": {"adding T=100: wRNN": "300 iterations", "adding T=100: iRNN": "14,000",
                 "adding T=1000: wRNN": "MSE 6e-5", "adding T=1000: iRNN": "MSE 0.16",
                 **{f"copy T={T}: wRNN": "≈ 1e-10 … 1e-11" for T in (10, 30, 80)},
                 **{f"copy T={T}: iRNN": "≈ 1e-3 … 1e-4" for T in (10, 30, 80)}}},
}

_NAMES = {"nwm": "NWM", "convlstm": "ConvLSTM", "cnn": "CNN", "unet": "U-Net",
          "wavernn": "wRNN", "irnn": "iRNN", "lstm": "LSTM", "gru": "GRU"}


def label(config: TrainConfig) -> str:
    """The row name of a run: model, readout and what sets the row apart."""
    kw = config.model_kwargs
    name = _NAMES.get(config.model, config.model)
    if config.model == "cnn":
        name += f"-{kw.get('layers', 8 if config.task == 'tetrominoes' else 16)}"
    if config.model == "unet":
        name += f" c={kw.get('width', 4)}"
    if config.readout:
        name += f", {config.readout}"
    if "T" in config.task_kwargs or config.task in ("adding", "copy"):
        name = f"{config.task} T={config.task_kwargs.get('T')}: {name}"
    elif config.task.startswith("fashion_") and config.task != "fashion_mnist":
        name = f"{config.task}: {name}"
    if kw.get("recurrent_init", "shift") != "shift":
        name += f", {kw['recurrent_init']} recurrent init"
    if kw.get("input_init", True) is False:
        name += ", no input init"
    return name


def _progress(config: TrainConfig, rows: list[dict]) -> dict:
    """Epochs and steps done against those planned."""
    epoch = rows[-1]["epoch"] if rows else 0.0
    step = int(rows[-1]["step"]) if rows else 0
    done = epoch >= config.epochs - 1e-9 or (config.max_steps is not None
                                             and step >= config.max_steps)
    return {"epochs_done": round(float(epoch), 3), "epochs_planned": config.epochs,
            "steps_done": step, "steps_planned": config.max_steps, "done": bool(done)}


def _number(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def run_record(config: TrainConfig) -> dict:
    """One seed's numbers, read from its run folder (an empty record when it has none)."""
    from wavescope.training.tasks_seq import solved_step
    from wavescope.training.trainer import read_metrics

    run = config.run_dir()
    rec = {"seed": config.seed, "run": str(run), "finished": False, "time_s": 0.0,
           **_progress(config, [])}
    if not (run / "metrics.csv").exists():
        return rec
    rows = read_metrics(run)
    rec.update(_progress(config, rows))
    rec["time_s"] = float(rows[-1].get("time_s", 0.0)) if rows else 0.0
    test_file = run / "test_metrics.json"
    rec["finished"] = rec.pop("done") and test_file.exists()
    if config.eval_test and rows:  # sequence tasks scored on the test set as they train
        last = rows[-1]
        if "test_mse" in last:
            rec["solved_step"] = solved_step(rows)
            rec["final_test_mse"] = _number(last["test_mse"])
        if "test_cross_entropy" in last:
            rec["final_test_cross_entropy"] = _number(last["test_cross_entropy"])
            rec["final_test_recall_accuracy"] = _number(last.get("test_recall_accuracy"))
    if rec["finished"]:
        for k, v in json.loads(test_file.read_text()).items():
            rec[f"test_{k}"] = bool(v) if k == "collapsed" else _number(v)
    else:  # how far it got, on validation data
        val = [r.get("val_loss", math.nan) for r in rows]
        if rows and not all(math.isnan(v) for v in val):
            best = rows[int(np.nanargmin(val))]
            rec["best_val_so_far"] = {k: _number(v) for k, v in best.items()
                                      if k.startswith("val_") or k in ("epoch", "step")}
    return rec


def _stats(values: list) -> dict:
    vals = [v for v in values if v is not None]
    out = {"n": len(vals), "mean": float(np.mean(vals)) if vals else None,
           "sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else None}
    if len(vals) < len(values):
        out["n_none"] = len(values) - len(vals)  # e.g. adding runs that never solved
    return out


def _budget(config: TrainConfig) -> dict:
    keys = ("task", "model", "readout", "head", "model_kwargs", "task_kwargs", "epochs",
            "max_steps", "batch_size", "lr", "clip_grad", "n_train", "n_val", "n_test",
            "threads")
    return {k: getattr(config, k) for k in keys}


def _n_params(config: TrainConfig) -> int | None:
    from wavescope.training.tasks import get_task

    try:
        model = get_task(config.task)(config).build_model()
    except Exception:  # noqa: BLE001 - a count is a courtesy; the table does without it
        return None
    return int(sum(p.numel() for p in model.parameters()))


def table_rows(configs: list[TrainConfig], paper: dict | None = None) -> list[dict]:
    """Group run records by row (label) and summarise each over its seeds; ``paper``: the
    papers' number of a row, by label."""
    groups: dict[str, list[TrainConfig]] = {}
    for c in configs:
        groups.setdefault(label(c), []).append(c)
    out = []
    for name, cs in groups.items():
        recs = [run_record(c) for c in cs]
        done = [r for r in recs if r["finished"]]
        metric_keys = [k for k in dict.fromkeys(k for r in done for k in r)
                       if k.startswith(("test_", "final_")) or k == "solved_step"]
        metric_keys = [k for k in metric_keys if k != "test_collapsed"]
        row = {"label": name, "paper": (paper or {}).get(name), "budget": _budget(cs[0]),
               "n_params": _n_params(cs[0]),
               "seeds_planned": [c.seed for c in cs], "seeds_finished": [r["seed"] for r in done],
               "metrics": {k: _stats([r.get(k) for r in done]) for k in metric_keys},
               "collapse_rate": (float(np.mean([r["test_collapsed"] for r in done]))
                                 if done and "test_collapsed" in done[0] else None),
               "cpu_hours": sum(r["time_s"] * (cs[0].threads or 1) for r in recs) / 3600,
               "runs": recs}
        out.append(row)
    return out


def check_orderings(table: str, rows: list[dict]) -> list[dict]:
    """Whether each of the table's papers' orderings holds (None: a row has no number)."""
    by = {r["label"]: r for r in rows}
    out = []
    for o in TABLES[table]["orderings"]:
        sign = 1.0 if o["better"] == "higher" else -1.0
        worst = math.inf if o["better"] == "lower" else -math.inf
        values, holds = [], True
        for group in o["groups"]:
            vals = []
            for name in group:
                row = by.get(name)
                if row is None or not row["seeds_finished"]:
                    holds = None
                    vals.append(None)
                    continue
                st = row["metrics"].get(o["metric"], {})
                # a seed without a value (an adding run that never solved) is the worst
                vals.append(worst if st.get("n_none") or st.get("mean") is None
                            else st["mean"])
            values.append(vals)
        if holds is not None:
            holds = all(min(sign * v for v in a) > max(sign * v for v in b)
                        for a, b in zip(values, values[1:], strict=False))
        claim = " > ".join(" ≈ ".join(g) for g in o["groups"])
        out.append({"claim": claim, "metric": o["metric"], "better": o["better"],
                    "values": values, "holds": holds})
    return out


def git_commit() -> dict:
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                              text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD") or None,
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def load_spec(args) -> dict:
    spec = json.loads(Path(args.spec or ROOT / "configs" / f"reproduce_{args.table}.json")
                      .read_text())
    if args.out_dir:
        spec["base"]["out_dir"] = str(args.out_dir)
    if args.data_root:
        spec["base"]["data_root"] = str(args.data_root)
    if args.seeds:
        spec.setdefault("grid", {})["seed"] = list(args.seeds)
    return spec


def reproduce(args) -> dict:
    """Run (or only collect) one table and write its JSON; returns the written record."""
    spec = load_spec(args)
    configs = expand_sweep(spec)
    seeds = {c.seed for c in configs}
    if len(seeds) < 3 and not args.seeds:
        raise ValueError(f"table {args.table!r} has {len(seeds)} seed(s); the tables need at "
                         "least 3 (grid 'seed')")
    t0 = time.perf_counter()
    if not args.collect_only:
        sweep(spec, n_jobs=args.n_jobs, backend=args.backend)
    rows = table_rows(configs, TABLES[args.table].get("paper"))
    record = {
        "kind": "reproduce", "table": args.table, "title": spec.get("name", args.table),
        "config": str(Path(args.spec).resolve() if args.spec else
                      f"configs/reproduce_{args.table}.json"),
        "command": " ".join(["python", "scripts/reproduce.py", *args.argv]),
        "source": "this command, run folders under " + spec["base"]["out_dir"],
        "git": git_commit(), "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_seconds_this_call": round(time.perf_counter() - t0, 1),
        "cpu_hours": sum(r["cpu_hours"] for r in rows),
        "complete": all(len(r["seeds_finished"]) == len(r["seeds_planned"]) for r in rows),
        "rows": rows, "orderings": check_orderings(args.table, rows),
    }
    out = Path(args.results) / f"{args.table}.json"
    write_json(out, record)
    print(markdown(record))
    print(f"wrote {out}")
    return record


def _fmt(st: dict | None) -> str:
    if not st or st.get("mean") is None:
        return "–"
    text = f"{st['mean']:.3g}"
    if st.get("sd") is not None:
        text += f" ± {st['sd']:.2g}"
    if st.get("n_none"):
        text += f" ({st['n_none']} none)"
    return text


def markdown(record: dict) -> str:
    """The table as markdown: one line per row, metrics as mean ± sd over finished seeds."""
    keys = list(dict.fromkeys(k for r in record["rows"] for k in r["metrics"]))
    lines = [f"**{record['title']}** (`{record['command']}`, commit "
             f"{(record['git']['commit'] or '?')[:7]}, {record['cpu_hours']:.2f} CPU hours)",
             "", "| row | seeds done | progress | " + " | ".join(keys) + " | collapse rate |",
             "|---" * (len(keys) + 4) + "|"]
    for r in record["rows"]:
        prog = ", ".join(
            f"{x['epochs_done']:g}/{x['epochs_planned']} ep" if x["steps_planned"] is None
            else f"{x['steps_done']}/{x['steps_planned']} steps" for x in r["runs"])
        cr = "–" if r["collapse_rate"] is None else f"{r['collapse_rate']:.2f}"
        lines.append(f"| {r['label']} | {len(r['seeds_finished'])}/{len(r['seeds_planned'])} | "
                     f"{prog} | " + " | ".join(_fmt(r["metrics"].get(k)) for k in keys)
                     + f" | {cr} |")
    for o in record["orderings"]:
        verdict = {True: "holds", False: "does not hold", None: "not measured yet"}[o["holds"]]
        lines.append(f"\nPaper's ordering {o['claim']} ({o['metric']}): {verdict}.")
    return "\n".join(lines)


def main(argv=None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--table", required=True, choices=list(TABLES))
    p.add_argument("--n-jobs", type=int, default=1, help="parallel runs (joblib n_jobs)")
    p.add_argument("--backend", default=None, help="joblib backend: loky, threading, dask...")
    p.add_argument("--collect-only", action="store_true",
                   help="train nothing: write the table of what the run folders hold")
    p.add_argument("--results", type=Path, default=ROOT / "docs" / "results",
                   help="folder of the <table>.json files")
    p.add_argument("--spec", type=Path, help="another sweep specification for the table")
    p.add_argument("--out-dir", type=Path, help="parent folder of the runs (default: the "
                   "spec's out_dir)")
    p.add_argument("--data-root", type=Path, help="data cache (default: the spec's)")
    p.add_argument("--seeds", type=int, nargs="+", help="override the spec's seeds")
    args = p.parse_args(argv)
    args.argv = argv
    return reproduce(args)


if __name__ == "__main__":
    main()
