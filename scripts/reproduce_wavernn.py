"""Reproduce the Wave-RNN paper's synthetic results (Keller et al. 2024) at a CPU budget.

Three parts, each a set of ordinary training runs through :func:`wavescope.training.train`
(so every run folder holds its config, metrics and checkpoints, and an interrupted
reproduction resumes where it stopped):

adding
    wRNN (100 units x 27 rings) and iRNN (100 units) on the adding task at each ``--T``,
    over ``--seeds``. Every ``--eval-every`` steps both are scored on the same fixed, seeded
    test set of 1,000 sequences; a run has *solved* the task at the first step whose test
    MSE is at most 0.05.
copy
    wRNN (100 x 6) and iRNN (100) on the copy task at ``--copy-T``: test cross-entropy over
    all steps at the end.
waves
    the hidden states of the first seed's trained wRNN and iRNN on adding (first ``--T``),
    exported and analysed with :func:`wavescope.analysis.spectral.kw_speed` (both methods)
    and by the ring shift that best maps each state onto the next.

The table of results is written to ``OUT/results.md`` (and ``OUT/results.json``).

The defaults are the budget reported in docs/notes/seq.md (batch 32, Adam lr 1e-3,
gradient norm clipped at 1, adding at T = 100 and 200 over seeds 0-2 with at most 2,000
wRNN and 3,000 iRNN steps, copy at T = 10 for 2,000 steps); about two hours on one shared
CPU core::

    OMP_NUM_THREADS=1 python scripts/reproduce_wavernn.py --out wavernn-repro
    python scripts/reproduce_wavernn.py --out wavernn-repro --parts copy waves  # one part
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wavescope.training.config import TrainConfig  # noqa: E402
from wavescope.training.tasks_seq import SOLVED_MSE, solved_step  # noqa: E402
from wavescope.training.trainer import read_metrics, train  # noqa: E402

SIZES = {  # the paper's sizes (units per ring x rings; iRNN units)
    "adding": {"wavernn": {"n": 100, "channels": 27}, "irnn": {"hidden": 100}},
    "copy": {"wavernn": {"n": 100, "channels": 6}, "irnn": {"hidden": 100}},
}


def _config(args, task, model, T, seed, steps, lr, clip) -> TrainConfig:
    return TrainConfig(
        task=task, model=model, model_kwargs=SIZES[task][model], task_kwargs={"T": T},
        batch_size=args.batch, lr=lr, clip_grad=clip, seed=seed, epochs=1,
        n_train=args.batch * steps, n_val=args.n_val, n_test=1000, max_steps=steps,
        eval_every_steps=args.eval_every, eval_test=True, out_dir=str(args.out / "runs"),
        name=f"{task}-T{T}-{model}-seed{seed}", progress=args.progress, threads=args.threads,
    )


def _run(config: TrainConfig, stop_when_solved: bool) -> list[dict]:
    def stop(row):
        if stop_when_solved and row.get("test_mse", math.inf) <= SOLVED_MSE:
            raise _Solved

    t0 = time.perf_counter()
    try:
        run = train(config, callback=stop)
    except _Solved:
        run = config.run_dir()
    rows = read_metrics(run)
    print(f"  {config.name}: {len(rows)} evaluations, last step {int(rows[-1]['step'])}, "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    return rows


class _Solved(Exception):
    """Raised from the trainer's callback to stop a run once it has solved the task."""


def adding(args) -> list[dict]:
    out = []
    for T in args.T:
        for model in ("wavernn", "irnn"):
            steps = args.wavernn_steps if model == "wavernn" else args.irnn_steps
            lr, clip = (args.wavernn_lr, args.wavernn_clip) if model == "wavernn" else (
                args.irnn_lr, args.irnn_clip)
            for seed in args.seeds:
                cfg = _config(args, "adding", model, T, seed, steps, lr, clip)
                rows = _run(cfg, stop_when_solved=args.stop_when_solved)
                out.append({"task": "adding", "T": T, "model": model, "seed": seed,
                            "budget_steps": steps, "lr": lr, "clip": clip,
                            "solved_step": solved_step(rows),
                            "final_test_mse": rows[-1]["test_mse"],
                            "best_test_mse": min(r["test_mse"] for r in rows),
                            "run": str(cfg.run_dir())})
    return out


def copy(args) -> list[dict]:
    out = []
    for model in ("wavernn", "irnn"):
        lr, clip = (args.wavernn_lr_copy, args.wavernn_clip) if model == "wavernn" else (
            args.irnn_lr_copy, args.irnn_clip)
        for seed in args.seeds:
            cfg = _config(args, "copy", model, args.copy_T, seed, args.copy_steps, lr, clip)
            rows = _run(cfg, stop_when_solved=False)
            out.append({"task": "copy", "T": args.copy_T, "model": model, "seed": seed,
                        "budget_steps": args.copy_steps, "lr": lr, "clip": clip,
                        "final_test_cross_entropy": rows[-1]["test_cross_entropy"],
                        "final_test_recall_accuracy": rows[-1]["test_recall_accuracy"],
                        "run": str(cfg.run_dir())})
    return out


def _shift_per_step(hidden: np.ndarray, max_shift: int = 3) -> int:
    """The ring shift s that best maps each state onto the next: argmax over s of the
    correlation between h_{t+1} and h_t rolled by s units (+1: one unit per step)."""
    now, nxt = hidden[:, :-1], hidden[:, 1:]
    corr = {s: np.corrcoef(np.roll(now, s, axis=-1).ravel(), nxt.ravel())[0, 1]
            for s in range(-max_shift, max_shift + 1)}
    return max(corr, key=lambda s: corr[s])


def waves(args, results) -> list[dict]:
    from wavescope.analysis.spectral import kw_speed
    from wavescope.training.export import export_hidden_states

    out = []
    for model in ("wavernn", "irnn"):
        match = [r for r in results if r["task"] == "adding" and r["model"] == model
                 and r["T"] == args.T[0] and r["seed"] == args.seeds[0]]
        if not match:
            continue
        ds = export_hidden_states(match[0]["run"], n_trials=args.wave_trials,
                                  checkpoint="last")
        hidden = ds["hidden"]
        row = {"task": "waves", "T": args.T[0], "model": model, "seed": args.seeds[0],
               "n_trials": int(hidden.sizes["trial"]), "n_rings": int(hidden.sizes["feature"]),
               "shift_per_step": _shift_per_step(hidden.values), "run": match[0]["run"]}
        for method in ("peak", "ridge"):
            speed = kw_speed(hidden, method=method)["speed"].values
            row[f"{method}_median"] = float(np.nanmedian(speed))
            row[f"{method}_p10"] = float(np.nanpercentile(speed, 10))
            row[f"{method}_p90"] = float(np.nanpercentile(speed, 90))
        out.append(row)
    return out


def _fmt(value, digits=3) -> str:
    if value is None:
        return "not solved"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def table(results: list[dict], args) -> str:
    lines = ["# Wave-RNN reproduction (Keller et al. 2024) at a CPU budget", "",
             f"Command: `{' '.join(['python', *sys.argv])}`", ""]
    adding_rows = [r for r in results if r["task"] == "adding"]
    if adding_rows:
        lines += ["## Adding: steps to test MSE <= 0.05 (fixed test set of 1,000)", "",
                  "| T | model | budget (steps) | lr | clip | steps to solve, per seed | "
                  "final test MSE, per seed |", "|---|---|---|---|---|---|---|"]
        for T in args.T:
            for model in ("wavernn", "irnn"):
                rs = [r for r in adding_rows if r["T"] == T and r["model"] == model]
                if rs:
                    lines.append(
                        f"| {T} | {model} | {rs[0]['budget_steps']} | {rs[0]['lr']:g} | "
                        f"{rs[0]['clip']:g} | {', '.join(_fmt(r['solved_step']) for r in rs)} | "
                        f"{', '.join(_fmt(r['final_test_mse']) for r in rs)} |")
        lines.append("")
    copy_rows = [r for r in results if r["task"] == "copy"]
    if copy_rows:
        lines += [f"## Copy, T = {args.copy_T}: test cross-entropy after the budget", "",
                  "| model | budget (steps) | lr | cross-entropy, per seed | recall accuracy |",
                  "|---|---|---|---|---|"]
        for model in ("wavernn", "irnn"):
            rs = [r for r in copy_rows if r["model"] == model]
            if rs:
                ce = ", ".join(f"{r['final_test_cross_entropy']:.2e}" for r in rs)
                lines.append(
                    f"| {model} | {rs[0]['budget_steps']} | {rs[0]['lr']:g} | {ce} | "
                    f"{', '.join(_fmt(r['final_test_recall_accuracy']) for r in rs)} |")
        lines.append("")
    wave_rows = [r for r in results if r["task"] == "waves"]
    if wave_rows:
        lines += ["## Waves in the trained models' hidden states (adding, first T and seed)", "",
                  "kw_speed over every (trial, ring), median and 10th-90th percentile, in "
                  "units per step; and the ring shift that best maps one state onto the next.",
                  "", "| model | trials x rings | kw_speed peak | kw_speed ridge | "
                  "best shift per step |", "|---|---|---|---|---|"]
        for r in wave_rows:
            lines.append(
                f"| {r['model']} | {r['n_trials']} x {r['n_rings']} | "
                f"{r['peak_median']:.3g} ({r['peak_p10']:.3g} ... {r['peak_p90']:.3g}) | "
                f"{r['ridge_median']:.3g} ({r['ridge_p10']:.3g} ... {r['ridge_p90']:.3g}) | "
                f"{r['shift_per_step']:+d} |")
        lines.append("")
    return "\n".join(lines)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("wavernn-repro"))
    p.add_argument("--parts", nargs="+", default=["adding", "copy", "waves"],
                   choices=["adding", "copy", "waves"])
    p.add_argument("--T", type=int, nargs="+", default=[100, 200])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--batch", type=int, default=32,
                   help="batch size for every run (the paper: 128; 32 fits a CPU budget)")
    p.add_argument("--n-val", type=int, default=200)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--wavernn-steps", type=int, default=2000)
    p.add_argument("--irnn-steps", type=int, default=3000)
    p.add_argument("--wavernn-lr", type=float, default=1e-3)
    p.add_argument("--irnn-lr", type=float, default=1e-3)
    p.add_argument("--wavernn-clip", type=float, default=1.0)
    p.add_argument("--irnn-clip", type=float, default=1.0)
    p.add_argument("--stop-when-solved", action=argparse.BooleanOptionalAction, default=True,
                   help="stop an adding run at its first evaluation with test MSE <= 0.05")
    p.add_argument("--copy-T", type=int, default=10)
    p.add_argument("--copy-steps", type=int, default=2000)
    p.add_argument("--wavernn-lr-copy", type=float, default=1e-3)
    p.add_argument("--irnn-lr-copy", type=float, default=1e-3)
    p.add_argument("--wave-trials", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else []
    for part in args.parts:
        print(f"== {part}", flush=True)
        results = [r for r in results if r["task"] != part]
        if part == "adding":
            results += adding(args)
        elif part == "copy":
            results += copy(args)
        else:
            results += waves(args, results)
        _write(results_path, json.dumps(results, indent=2) + "\n")
        _write(args.out / "results.md", table(results, args) + "\n")
    print(table(results, args))


if __name__ == "__main__":
    main()
