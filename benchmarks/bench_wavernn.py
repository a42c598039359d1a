"""One training step of the sequence models against the Wave-RNN paper's own code.

Side by side, on the paper's sequential-MNIST sizes (784 steps, one input per step, 10
classes, cross-entropy, Adam step included):

- ``wrnn-B``: ``WaveRNN`` (n 256 x C 16, with the original code's convolution bias and the
  paper's MLP readout) against the seed code's ``conv_rnn_model.coRNN`` (Keller et al.
  2024, https://github.com/akandykeller/Wave_RNNs, ``sMNIST/``), batch B = 128 and 32;
- ``irnn-B``: ``IRNN`` (256 units, MLP readout) against the seed code's
  ``rnn_model.coRNN`` with ``init="eye"``, ``act="relu"``;
- ``lstm-B``, ``gru-B``: ``GatedRNN`` against ``torch.nn.LSTM`` / ``GRU`` (time first, as the
  seed code feeds its models) with the same readout; these need no seed code.

The seed code is kept out of this repository: pass ``--seed-code PATH`` (a checkout of the
repository, or its git directory, e.g. a bare mirror) or set ``WAVESCOPE_WAVE_RNN_SEED``.
Its two model files are extracted into a temporary folder and imported from there, untouched;
the plotting helpers they import from the seed's ``utils`` (wandb, matplotlib, torchvision)
are replaced by no-ops, and the module-level ``device`` they pick (CUDA whenever present) is
set to ``--device``. Without the seed code, the rows that need it are skipped with a message.

Both sides get the same weights (ours copied into the seed's model) and the same batch; each
runs in its own process, so peak memory is measured cleanly: on CPU the growth of the
resident set during the first timed step (VmHWM after resetting it through
/proc/self/clear_refs, minus VmRSS before; Linux), on CUDA ``max_memory_allocated`` minus
the memory allocated before. The sides run alternately (``--rounds`` fresh processes each,
``--repeat`` steps per process after a short warm-up; a process's time is the median of its
steps), so that a shared machine's changing load affects both alike. The first timed step is
the first at full length on both sides, so its memory includes every buffer allocated fresh
(the ``WaveRNN`` keeps its state buffer for later steps, as in a training loop, so its later
steps fault no new pages in; the median time is of such steady steps). On CPU the time is the
process's CPU time (one thread), which does not count waiting for a core. Reported: the
median over rounds with the range, the median of the per-round time ratios with their range,
the memory ratio, and how far the outputs and gradients of the two sides differ. The table
is also written to ``docs/results/bench_wavernn.json`` (``--json PATH`` elsewhere,
``--no-json`` not at all), with the command, commit, rounds and load average, for the
README (``scripts/readme_results.py``).

Run::

    OMP_NUM_THREADS=1 python benchmarks/bench_wavernn.py --seed-code PATH     # every row
    OMP_NUM_THREADS=1 python benchmarks/bench_wavernn.py --seed-code PATH --cases irnn-128
    python benchmarks/bench_wavernn.py --seed-code PATH --device cuda
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _seedbench import (  # noqa: E402
    RESULTS,
    extract_seed,
    load_average,
    peak,
    reset_peak,
    run_side,
    show,
    spread,
    write_record,
)

from wavescope.training.models.gated import GatedRNN  # noqa: E402
from wavescope.training.models.irnn import IRNN  # noqa: E402
from wavescope.training.models.wavernn import WaveRNN  # noqa: E402

SEED_ENV = "WAVESCOPE_WAVE_RNN_SEED"
SEED_FILES = ("sMNIST/rnn_model.py", "sMNIST/conv_rnn_model.py")
CASES = ("wrnn-128", "wrnn-32", "irnn-128", "irnn-32", "lstm-128", "gru-128")
GOALS = {"wrnn": (0.5, 0.3), "irnn": (1.0, None), "lstm": (1.0, None), "gru": (1.0, None)}


def _import_seed(folder: str, module: str, device: torch.device):
    """Import one of the seed's model files, unmodified, from ``folder``."""
    # The seed's conv_rnn_model imports two plotting helpers from its utils, which needs
    # wandb, matplotlib and torchvision; a training step never calls them.
    stub = types.ModuleType("utils")
    stub.plot_filters = stub.plot_conv_filters = lambda *args, **kwargs: None
    sys.modules["utils"] = stub
    sys.path.insert(0, folder)
    seed = importlib.import_module(module)
    seed.device = device  # the seed picks CUDA whenever present
    return seed


class TorchGated(nn.Module):
    """torch's LSTM/GRU fed time first, the last output read out (the reference side)."""

    def __init__(self, layer: nn.Module, readout: nn.Module):
        super().__init__()
        self.rnn, self.readout = layer, readout

    def forward(self, x):  # x: (time, batch, n_in)
        out, _ = self.rnn(x)
        return self.readout(out[-1])


def _copy(pairs) -> None:
    with torch.no_grad():
        for dst, src in pairs:
            dst.copy_(src)


def _models(args, kind: str, device):
    """(ours, reference, forward of each, [(name, our param, reference param)])."""
    torch.manual_seed(0)
    if kind == "wrnn":
        ours = WaveRNN(1, 10, n=args.n, channels=args.channels, conv_bias=True, readout="mlp")
        seed = _import_seed(args.seed_dir, "conv_rnn_model", device)
        # n_inp, n_hid, n_out, device, n_ch, act, ksize, mlp_decoder, init, freeze_rnn,
        # freeze_encoder, solo_init: the paper's sMNIST wRNN.
        ref = seed.coRNN(1, args.n, 10, device, args.channels, "relu", 3, "yes", "fwd",
                         "no", "no", "yes")
        pairs = [("V", ours.input.weight, ref.cell.Wx.weight),
                 ("b", ours.input.bias, ref.cell.Wx.bias),
                 ("u", ours.recurrent.weight, ref.cell.Wy.weight),
                 ("u bias", ours.recurrent.bias, ref.cell.Wy.bias)]
    elif kind == "irnn":
        ours = IRNN(1, 10, hidden=args.hidden, readout="mlp")
        seed = _import_seed(args.seed_dir, "rnn_model", device)
        ref = seed.coRNN(1, args.hidden, 10, device, 1, "relu", 3, "yes", "eye")
        with torch.no_grad():
            ref.cell.Wy.bias.zero_()  # the seed's second bias (zero-initialised there too)
        pairs = [("V", ours.input.weight, ref.cell.Wx.weight),
                 ("b", ours.input.bias, ref.cell.Wx.bias),
                 ("U", ours.recurrent.weight, ref.cell.Wy.weight)]
    else:
        ours = GatedRNN(1, 10, hidden=args.hidden, cell=kind, readout="mlp")
        layer = {"lstm": nn.LSTM, "gru": nn.GRU}[kind](1, args.hidden)
        ref = TorchGated(layer, nn.Sequential(nn.Linear(args.hidden, 100), nn.ReLU(),
                                              nn.Linear(100, 10)))
        pairs = [(name, p, getattr(layer, name)) for name, p in ours.rnn.named_parameters()]
    pairs += [(f"readout {name}", p, ref.readout.state_dict(keep_vars=True)[name])
              for name, p in ours.readout.named_parameters()]
    _copy((r, o) for _, o, r in pairs)
    seed_forward = (lambda x: ref(x)[0]) if kind in ("wrnn", "irnn") else ref
    return ours, ref, (lambda x: ours(x)), (lambda x: seed_forward(x.transpose(0, 1))), pairs


def _worker(args) -> None:
    """Run one side of one case and write its results."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    kind, batch = args.case.split("-")
    ours, ref, fwd_ours, fwd_ref, pairs = _models(args, kind, device)
    model, forward = (ours, fwd_ours) if args.side == "ours" else (ref, fwd_ref)
    model.to(device)
    params = [p for _, o, r in pairs for p in [o if args.side == "ours" else r]]
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(int(batch), args.steps, 1, generator=gen).to(device)
    y = torch.randint(0, 10, (int(batch),), generator=gen).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(inputs):
        optimizer.zero_grad(set_to_none=True)
        out = forward(inputs)
        F.cross_entropy(out, y).backward()
        return out

    step(x[:, :3])  # warm-up (kernels, allocator), no optimiser step: the weights stay equal
    # On CPU, the process's CPU time: on a shared machine it does not count the time the
    # process waited for a core. On CUDA, wall time after synchronising.
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    times = []
    for i in range(args.repeat):
        base = reset_peak(device)
        start = clock()
        out = step(x)
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(clock() - start)
        if i == 0:
            peak_bytes = peak(device) - base
            first = {"out": out.detach().cpu(), "grads": [p.grad.cpu() for p in params]}
    torch.save(first, args.result)
    print(json.dumps({"seconds": statistics.median(times), "peak_bytes": peak_bytes}))


def _run_side(case: str, side: str, args, folder: Path) -> dict:
    return run_side(__file__, case, side, folder, args.threads,
                    ["--steps", str(args.steps), "--n", str(args.n),
                     "--channels", str(args.channels), "--hidden", str(args.hidden),
                     "--device", args.device, "--repeat", str(args.repeat)])


LABELS = {"wrnn": "wRNN n {n} × C {channels}, conv bias, MLP readout",
          "irnn": "iRNN {hidden}, MLP readout", "lstm": "LSTM {hidden}, MLP readout",
          "gru": "GRU {hidden}, MLP readout"}


def _report(case: str, args, runs: dict, names) -> dict:
    """Print one case's comparison and return it as a row of the results file."""
    kind, batch = case.split("-")
    ours, ref = runs["ours"], runs["reference"]
    gib = 2**30
    label = {"wrnn": "seed code", "irnn": "seed code"}.get(kind, f"torch.nn.{kind.upper()}")
    print(f"{case}: batch {batch}, {args.steps} steps, {args.device}, "
          f"{args.threads} thread(s), {args.rounds} rounds (median (min-max))")
    sides = {}
    for side, rows in (("reference", ref), ("wavescope", ours)):
        sides[side] = {"seconds": spread(r["seconds"] for r in rows),
                       "peak_gib": spread(r["peak_bytes"] / gib for r in rows)}
        print(f"  {label if side == 'reference' else side:18s} "
              f"{show(sides[side]['seconds'], '.3f')} s   "
              f"{show(sides[side]['peak_gib'], '.2f')} GiB")
    ratios = spread(o["seconds"] / r["seconds"] for o, r in zip(ours, ref, strict=True))
    mem_ratio = (statistics.median(o["peak_bytes"] for o in ours)
                 / statistics.median(r["peak_bytes"] for r in ref))
    goal_time, goal_mem = GOALS[kind]
    goals = f"goals <= {goal_time}" + (f" and <= {goal_mem}" if goal_mem else "")
    print(f"  ratio wavescope / {label}: {show(ratios, '.2f')} x time, "
          f"{mem_ratio:.2f} x memory ({goals})")
    a, b = ours[0], ref[0]
    diff = float((a["out"] - b["out"]).abs().max())
    grads = {name: float((g - h).norm() / h.norm().clamp_min(1e-30))
             for name, g, h in zip(names, a["grads"], b["grads"], strict=True)}
    print(f"  outputs: max |diff| {diff:.1e} (max |output| {float(b['out'].abs().max()):.1e})"
          "; gradients, relative difference: "
          + ", ".join(f"{name} {v:.0e}" for name, v in grads.items()))
    return {"case": case, "label": LABELS[kind].format(**vars(args)) + f", batch {batch}",
            "reference_label": label, **sides, "time_ratio": ratios,
            "memory_ratio": mem_ratio, "goals": {"time": goal_time, "memory": goal_mem},
            "max_abs_output_diff": diff, "max_abs_output": float(b["out"].abs().max()),
            "grad_rel_diff": grads}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed-code", type=Path, default=os.environ.get(SEED_ENV),
                        help=f"checkout or git directory of Wave_RNNs (or ${SEED_ENV})")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--steps", type=int, default=784)
    parser.add_argument("--n", type=int, default=256, help="wRNN units per ring")
    parser.add_argument("--channels", type=int, default=16, help="wRNN rings")
    parser.add_argument("--hidden", type=int, default=256, help="iRNN/LSTM/GRU units")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3,
                        help="training steps per process (their median is the process's time)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="fresh processes per side, run alternately")
    parser.add_argument("--json", type=Path, default=RESULTS / "bench_wavernn.json",
                        help="where the table is written (for the README)")
    parser.add_argument("--no-json", action="store_true", help="write no table")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--side", choices=["ours", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--seed-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        _worker(args)
        return

    cases = list(args.cases)
    load = load_average()
    seed_commit = None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            if args.seed_code is None:
                raise FileNotFoundError("no --seed-code given and $" + SEED_ENV + " is unset")
            seed_commit = extract_seed(Path(args.seed_code), SEED_FILES, folder,
                                       "akandykeller/Wave_RNNs")
        except FileNotFoundError as err:
            skipped = [c for c in cases if c.split("-")[0] in ("wrnn", "irnn")]
            cases = [c for c in cases if c not in skipped]
            if skipped:
                print(f"Seed code unavailable ({err}); skipping {', '.join(skipped)}. Clone "
                      "https://github.com/akandykeller/Wave_RNNs and pass its path with "
                      f"--seed-code (or set ${SEED_ENV}).")
        for case in cases:
            runs = {"reference": [], "ours": []}
            for _ in range(args.rounds):  # alternate, so a change of load hits both alike
                for side in runs:
                    runs[side].append(_run_side(case, side, args, folder))
            args.seed_dir = str(folder)
            names = [name for name, _, _ in _models(args, case.split("-")[0], "cpu")[4]]
            rows.append(_report(case, args, runs, names))
    if rows and not args.no_json:
        title = f"One training step of the sequence models, {args.steps} steps"
        meta = {"device": args.device, "threads": args.threads, "rounds": args.rounds,
                "repeat": args.repeat, "load_average_start": load,
                "seed_code": {"repository": "akandykeller/Wave_RNNs", "commit": seed_commit,
                              "files": SEED_FILES}}
        path = write_record(args.json, title, rows, meta, env=(SEED_ENV,),
                            argv=None if argv is None else [__file__, *argv])
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
