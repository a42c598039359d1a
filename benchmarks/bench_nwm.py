"""One NWM training step, side by side with the NWM paper's own code (or a reference).

With the seed code (``--seed-code PATH`` or ``$WAVESCOPE_NWM_SEED``: a checkout or git
directory, e.g. a bare mirror, of https://github.com/anonymous123-user/Wave_Representations,
the anonymous code of Jacobs et al. 2025): its ``cornn_model.py`` is extracted into a
temporary folder and imported from there, untouched (it needs neither wandb nor CUDA), and
one training step (forward, cross-entropy, backward, Adam step, in the order of the seed's
``trainer.py``) of its ``cornn_model.Model`` runs against wavescope's
:class:`NeuralWaveMachine` at equal configuration. The seed's model fixes some choices that
the paper's (docs/notes/image.md) does not: encoders of width C throughout (no c_mid), the
``fft`` readout and the ``mlp256`` head. Wavescope is built the same way
(``hidden=C, readout="fft", head="mlp256"``: equal parameter counts, our weights copied into
the seed's model, equal logits), at the sizes of the paper's settings:

- ``tetrominoes-16``, ``tetrominoes-64``: 64×64, c_in 3, C 2, T 100, dt 0.1, 6 classes,
  batch 16 (the seed's config.yaml) and 64 (its Tetrominoes script);
- ``multi_mnist-4``: 128×128, c_in 1, C 16, T 100, dt 0.1, 11 classes, batch 4.

Each side runs in fresh processes, alternately (``--rounds`` per side; ``--repeat`` steps
per process after a batch-1 warm-up; a process's time is the median CPU time of its steps,
one thread, so waiting for a core on a shared machine does not count). Peak memory is the
growth of the resident set over the first timed step (VmHWM reset through
/proc/self/clear_refs; Linux), on CUDA ``max_memory_allocated``. Reported: medians over
rounds with their range, per-round time ratios, the memory ratio against the goals
(<= 0.5x time, <= 0.3x memory), how far logits and gradients differ; the table is written to
``docs/results/bench_nwm.json`` (``--json PATH``; ``--no-json``) for the README.

Without the seed code the script says where to get it and falls back to the older
comparison below, against a reference written here in the style of the original (not the
seed code), at the paper's Tetrominoes configuration (batch 16, 64×64, c_in 3, C 2,
T 100, ``linear`` readout, ``mlp256`` head, 6 classes):

* the time of one training step (forward, cross-entropy, backward, Adam), median of
  ``--repeats`` steps, for wavescope's :class:`NeuralWaveMachine` and for a reference
  written here in the style of the original code: a Python loop over steps with autograd
  recording every operation, the whole state sequence stacked for the readout, the readout
  and head applied with ``nn.Linear`` on a channels-last copy;
* the peak memory of one step (each variant in a fresh process: the rise of the peak
  resident set size over the step);
* that both give the same logits and gradients from the same weights.

``--multi`` adds the paper's largest model (Multi-MNIST: 128×128, c_in 1, C 16, T 100,
``mlp32x5``, 11 classes) at batch 16: wavescope's training step (target: within 8 GB).
``--multi-reference`` also runs the reference's inference forward pass there (no autograd
record; about 6 GB, as the original's 5.7 GB).

Run::

    OMP_NUM_THREADS=1 python benchmarks/bench_nwm.py --seed-code PATH     # every case
    OMP_NUM_THREADS=1 python benchmarks/bench_nwm.py --seed-code PATH --cases tetrominoes-16
    OMP_NUM_THREADS=1 python benchmarks/bench_nwm.py --multi              # no seed code
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _seedbench as sb  # noqa: E402

from wavescope.training.models import NeuralWaveMachine  # noqa: E402

CONFIGS = {
    "tetrominoes": dict(in_channels=3, channels=2, n_classes=6, steps=100, head="mlp256",
                        size=64),
    "multi_mnist": dict(in_channels=1, channels=16, n_classes=11, steps=100, head="mlp32x5",
                        size=128),
}


def reference_forward(model: NeuralWaveMachine, x: torch.Tensor) -> torch.Tensor:
    """The NWM as the original code computes it, from ``model``'s own parameters."""
    omega = model.omega_encoder(x)
    alpha = model.alpha_encoder(x)
    y = model.y0_encoder(x)
    z = torch.zeros_like(y)
    states = []
    for _ in range(model.steps):
        coupled = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="circular"), model.coupling)
        z = z + model.dt * (torch.tanh(coupled) - omega * y - alpha * z)
        y = y + model.dt * z
        states.append(y)
    seq = torch.stack(states, dim=1)  # (B, T, C, H, W), all kept
    b, t, c, h, w = seq.shape
    feats = model.readout.linear(seq.permute(0, 2, 3, 4, 1))  # (B, C, H, W, K)
    feats = feats.permute(0, 2, 3, 1, 4).reshape(b, h, w, -1)  # feature c·K + k
    layers = model.head.layers
    for i, layer in enumerate(layers):
        feats = layer(feats)
        if i < len(layers) - 1:
            feats = torch.relu(feats)
    return feats.permute(0, 3, 1, 2)


SEGMENT = None  # the roll-out's velocity checkpoint interval (None: the model's default)
KEEP_DRIVES = None  # keep the roll-out's tanh terms (None: the model's default)


def build(name: str, batch: int, seed: int = 0):
    cfg = dict(CONFIGS[name])
    size = cfg.pop("size")
    torch.manual_seed(seed)
    model = NeuralWaveMachine(**cfg, segment=SEGMENT, keep_drives=KEEP_DRIVES)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.rand(batch, cfg["in_channels"], size, size, generator=gen)
    target = torch.randint(0, cfg["n_classes"], (batch, size, size), generator=gen)
    return model, x, target


def train_step(forward, model, optimizer, x, target):
    logits = forward(x)
    loss = F.cross_entropy(logits, target)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _forward(variant: str, model):
    return model if variant == "wavescope" else (lambda x: reference_forward(model, x))


def measure(variant: str, name: str, batch: int, repeats: int, forward_only: bool) -> dict:
    """Run in a fresh process: peak memory of the first step, then step times.

    Times are CPU seconds of this process (user + system, so page faults count): on a
    shared machine the wall time also counts other processes' turns, the CPU time does
    not. Wall times are returned beside them.
    """
    model, x, target = build(name, batch)
    fwd = _forward(variant, model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    cpu_device = torch.device("cpu")
    before = sb.reset_peak(cpu_device)
    start, cpu = time.perf_counter(), time.process_time()
    if forward_only:  # inference, as the original's 5.7 GB forward pass was measured
        with torch.no_grad():
            out = fwd(x)
        del out
    else:
        train_step(fwd, model, optimizer, x, target)
    walls, cpus = [time.perf_counter() - start], [time.process_time() - cpu]
    peak = (sb.peak(cpu_device) - before) / 2**20
    if not forward_only:
        walls, cpus = [], []
        for _ in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            train_step(fwd, model, optimizer, x, target)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
    return {"time_s": statistics.median(cpus), "wall_s": statistics.median(walls),
            "peak_mb": peak}


def in_subprocess(args, variant: str, name: str, batch: int, forward_only=False) -> dict:
    cmd = [sys.executable, __file__, "--child", variant, "--config", name, "--batch",
           str(batch), "--repeats", str(args.repeats), "--threads", str(args.threads)]
    if args.segment is not None:
        cmd += ["--segment", str(args.segment)]
    if args.keep_drives is not None:
        cmd += ["--keep-drives", str(args.keep_drives)]
    if forward_only:
        cmd.append("--forward-only")
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return {"error": (res.stderr.strip().splitlines() or ["killed"])[-1]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def compare_outputs(name: str, batch: int) -> dict:
    """Logits and gradients of both forms on one batch, from the same weights."""
    model, x, target = build(name, batch)
    grads = {}
    logits = {}
    for variant in ("wavescope", "reference"):
        model.zero_grad(set_to_none=True)
        out = _forward(variant, model)(x)
        F.cross_entropy(out, target).backward()
        logits[variant] = out.detach()
        grads[variant] = [p.grad.clone() for p in model.parameters()]
    max_grad = max(float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))
                   for a, b in zip(grads["wavescope"], grads["reference"], strict=True))
    return {"max_abs_logit_diff": float((logits["wavescope"] - logits["reference"]).abs().max()),
            "max_rel_grad_diff": max_grad}


# ----------------------------------------------------------------------------- seed code
SEED_ENV = "WAVESCOPE_NWM_SEED"
SEED_REPO = "anonymous123-user/Wave_Representations"
SEED_FILES = ("cornn_model.py",)
SEED_CASES = {  # name: (image size, c_in, C, classes, T, batch)
    "tetrominoes-16": (64, 3, 2, 6, 100, 16),
    "tetrominoes-64": (64, 3, 2, 6, 100, 64),
    "multi_mnist-4": (128, 1, 16, 11, 100, 4),
}
DT = 0.1
GOALS = (0.5, 0.3)  # time, memory (issue 19)


def _seed_name(name: str) -> str:
    """The seed model's parameter name for one of ours (same layer order in each encoder)."""
    if name == "coupling":
        return "classifier.cell.Wy.weight"
    if name.startswith("head.layers."):
        _, _, i, kind = name.split(".")
        return f"classifier.readout.{2 * int(i)}.{kind}"  # Linear, ReLU, Linear, ...
    return "classifier." + name.replace("y0_encoder", "hy_encoder")


def seed_models(case: str, folder: str):
    """(ours, the seed's model): equal configuration, our weights copied into the seed's."""
    size, c_in, c, n_cls, steps, _ = SEED_CASES[case]
    sys.path.insert(0, folder)
    seed = importlib.import_module("cornn_model")
    torch.manual_seed(0)
    ours = NeuralWaveMachine(c_in, c, n_cls, steps, DT, hidden=c, readout="fft", head="mlp256")
    # As the seed's utils.make_model builds it: Model(N, c_in, c_out, num_classes,
    # min_iters, max_iters, img_size, num_slots, dt, T), T = max_iters.
    ref = seed.Model(size, c_in, c, n_cls, 0, steps, size, 256, DT, steps)
    theirs = dict(ref.named_parameters())
    mapped = {_seed_name(n) for n, _ in ours.named_parameters()}
    if mapped != set(theirs):
        raise RuntimeError(f"the seed's model has other parameters: {sorted(set(theirs) ^ mapped)}")
    with torch.no_grad():
        for name, param in ours.named_parameters():
            theirs[_seed_name(name)].copy_(param)
    return ours, ref


def _seed_worker(args) -> None:
    """One side of one case in this process: print its time and peak, save its first step."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    ours, ref = seed_models(args.case, args.seed_dir)
    model = (ours if args.side == "ours" else ref).to(device)
    size, c_in, _, n_cls, _, batch = SEED_CASES[args.case]
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(batch, c_in, size, size, generator=gen).to(device)
    target = torch.randint(0, n_cls, (batch, size, size), generator=gen).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(inputs, labels):  # the seed's trainer.py: forward, loss, zero_grad, backward
        out = model(inputs)
        loss = loss_fn(out, labels)
        model.zero_grad()
        loss.backward()
        return out

    step(x[:1], target[:1])  # warm-up (kernels, allocator), no Adam step: weights stay equal
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    times = []
    for i in range(args.repeat):
        base = sb.reset_peak(device)
        start = clock()
        out = step(x, target)
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(clock() - start)
        if i == 0:
            peak = sb.peak(device) - base
            names = [n for n, _ in ours.named_parameters()]
            params = ([p for _, p in ours.named_parameters()] if args.side == "ours" else
                      [dict(ref.named_parameters())[_seed_name(n)] for n in names])
            first = {"out": out.detach().cpu(),
                     "grads": {n: p.grad.cpu() for n, p in zip(names, params, strict=True)}}
    torch.save(first, args.result)
    print(json.dumps({"seconds": statistics.median(times), "peak_bytes": peak}))


def _seed_side(case: str, side: str, args, folder: Path) -> dict:
    return sb.run_side(__file__, case, side, folder, args.threads,
                       ["--device", args.device, "--repeat", str(args.repeat)])


def _group(name: str) -> str:
    return name.split(".")[0].replace("_", " ")


def _seed_report(case: str, args, runs: dict, n_params: int) -> dict:
    """Print one case's comparison and return it as a row of the results file."""
    size, c_in, c, n_cls, steps, batch = SEED_CASES[case]
    ours, ref = runs["ours"], runs["reference"]
    label = (f"NWM {case.split('-')[0].replace('_', '-').title().replace('Mnist', 'MNIST')}, "
             f"{size}×{size}, c_in {c_in}, C {c}, T {steps}, fft + mlp256, batch {batch}")
    print(f"{label}: {n_params:,} parameters each, {args.device}, {args.threads} thread(s), "
          f"{args.rounds} rounds (median (min-max))")
    sides = {}
    for side, rows in (("reference", ref), ("wavescope", ours)):
        sides[side] = {"seconds": sb.spread(r["seconds"] for r in rows),
                       "peak_gib": sb.spread(r["peak_bytes"] / 2**30 for r in rows)}
        print(f"  {'seed code' if side == 'reference' else side:10s} "
              f"{sb.show(sides[side]['seconds'], '.3f')} s   "
              f"{sb.show(sides[side]['peak_gib'], '.2f')} GiB")
    ratios = sb.spread(o["seconds"] / r["seconds"] for o, r in zip(ours, ref, strict=True))
    mem_ratio = (statistics.median(o["peak_bytes"] for o in ours)
                 / statistics.median(r["peak_bytes"] for r in ref))
    print(f"  ratio wavescope / seed code: {sb.show(ratios, '.2f')} x time, {mem_ratio:.2f} x "
          f"memory (goals <= {GOALS[0]} and <= {GOALS[1]})")
    a, b = ours[0], ref[0]
    diff = float((a["out"] - b["out"]).abs().max())
    grads: dict[str, float] = {}
    for name, g in a["grads"].items():
        h = b["grads"][name]
        rel = float((g - h).norm() / h.norm().clamp_min(1e-30))
        grads[_group(name)] = max(grads.get(_group(name), 0.0), rel)
    print(f"  logits: max |diff| {diff:.1e} (max |logit| {float(b['out'].abs().max()):.1e}); "
          "gradients, largest relative difference per part: "
          + ", ".join(f"{k} {v:.0e}" for k, v in grads.items()))
    return {"case": case, "label": label, "reference_label": "seed code", "n_params": n_params,
            **sides, "time_ratio": ratios, "memory_ratio": mem_ratio,
            "goals": {"time": GOALS[0], "memory": GOALS[1]}, "max_abs_output_diff": diff,
            "max_abs_output": float(b["out"].abs().max()), "grad_rel_diff": grads}


def run_seed(args) -> None:
    """Every case of ``args.cases`` against the seed code; writes the table."""
    load = sb.load_average()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        commit = sb.extract_seed(args.seed_code, SEED_FILES, folder, SEED_REPO)
        for case in args.cases:
            runs = {"reference": [], "ours": []}
            for _ in range(args.rounds):  # alternate, so a change of load hits both alike
                for side in runs:
                    runs[side].append(_seed_side(case, side, args, folder))
            ours, _ = seed_models(case, str(folder))
            n_params = sum(p.numel() for p in ours.parameters())
            rows.append(_seed_report(case, args, runs, n_params))
    if rows and not args.no_json:
        meta = {"device": args.device, "threads": args.threads, "rounds": args.rounds,
                "repeat": args.repeat, "load_average_start": load,
                "seed_code": {"repository": SEED_REPO, "commit": commit, "files": SEED_FILES}}
        path = sb.write_record(args.json, "One NWM training step against the seed code",
                               rows, meta, env=(SEED_ENV,))
        print(f"wrote {path}")



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed-code", type=Path, default=os.environ.get(SEED_ENV),
                        help=f"checkout or git directory of {SEED_REPO} (or ${SEED_ENV})")
    parser.add_argument("--cases", nargs="+", default=list(SEED_CASES), choices=SEED_CASES,
                        help="with the seed code: which cases")
    parser.add_argument("--device", default="cpu", help="with the seed code: torch device")
    parser.add_argument("--json", type=Path, default=sb.RESULTS / "bench_nwm.json",
                        help="with the seed code: where the table is written (for the README)")
    parser.add_argument("--no-json", action="store_true", help="write no table")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per process")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds of one fresh process per variant (medians are reported)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16, help="without the seed code: batch")
    parser.add_argument("--multi", action="store_true", help="also the Multi-MNIST model")
    parser.add_argument("--multi-reference", action="store_true",
                        help="with --multi: also the reference inference forward pass (~6 GB)")
    parser.add_argument("--segment", type=int, default=None,
                        help="NWM roll-out checkpoint interval (default: the model's choice)")
    parser.add_argument("--keep-drives", type=int, default=None, choices=(0, 1),
                        help="NWM roll-out keeps its tanh terms (default: the model's choice)")
    parser.add_argument("--child", choices=("wavescope", "reference"), help=argparse.SUPPRESS)
    parser.add_argument("--config", default="tetrominoes", help=argparse.SUPPRESS)
    parser.add_argument("--forward-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=SEED_CASES, help=argparse.SUPPRESS)
    parser.add_argument("--side", choices=("ours", "reference"), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--seed-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.repeat = args.repeats
    if args.side:
        _seed_worker(args)
        return
    if args.seed_code is not None and not args.child:
        try:
            run_seed(args)
            return
        except FileNotFoundError as err:
            print(f"Seed code unavailable: {err}.")
    if not args.child:
        print(f"Without the NWM seed code, {', '.join(args.cases)} cannot run: clone "
              f"https://github.com/{SEED_REPO} and pass its path with --seed-code (or set "
              f"${SEED_ENV}). Comparing with the reference written here in the original's "
              "style instead (not the seed code).")
    torch.set_num_threads(args.threads)
    global SEGMENT, KEEP_DRIVES
    SEGMENT = args.segment
    KEEP_DRIVES = None if args.keep_drives is None else bool(args.keep_drives)
    if args.child:
        print(json.dumps(measure(args.child, args.config, args.batch, args.repeats,
                                 args.forward_only)))
        return

    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}")
    print("Tetrominoes NWM (64×64, C 2, T 100, linear readout, mlp256): one training step")
    # Interleave the variants so that load from other processes hits both alike; each round
    # runs the reference, then wavescope, each in a fresh process.
    rounds = []
    for _ in range(args.rounds):
        pair = {v: in_subprocess(args, v, "tetrominoes", args.batch)
                for v in ("reference", "wavescope")}
        for variant, result in pair.items():
            if "error" in result:
                raise SystemExit(f"{variant} failed: {result['error']}")
        rounds.append(pair)
    for variant in ("reference", "wavescope"):
        cpu = statistics.median(r[variant]["time_s"] for r in rounds)
        wall = statistics.median(r[variant]["wall_s"] for r in rounds)
        peak = statistics.median(r[variant]["peak_mb"] for r in rounds)
        print(f"  {variant:>9}: {cpu:.3f} CPU s/step ({wall:.3f} s wall), peak {peak:.0f} MB "
              "(medians over rounds)")
    ratio = {k: [r["wavescope"][k] / r["reference"][k] for r in rounds]
             for k in ("time_s", "wall_s", "peak_mb")}
    print("  per-round CPU-time ratios: " + ", ".join(f"{v:.2f}" for v in ratio["time_s"]))
    print(f"  ratio (median over rounds): CPU time {statistics.median(ratio['time_s']):.2f}x "
          f"(target <= 0.7), wall time {statistics.median(ratio['wall_s']):.2f}x, "
          f"memory {statistics.median(ratio['peak_mb']):.2f}x (target <= 0.5)")
    same = compare_outputs("tetrominoes", args.batch)
    print(f"  same function: max |logit difference| {same['max_abs_logit_diff']:.2e}, "
          f"max relative gradient difference {same['max_rel_grad_diff']:.2e}")

    if args.multi:
        print("Multi-MNIST NWM (128×128, C 16, T 100, linear readout, mlp32x5), batch 16")
        ours = in_subprocess(args, "wavescope", "multi_mnist", 16)
        ref = (in_subprocess(args, "reference", "multi_mnist", 16, forward_only=True)
               if args.multi_reference else None)
        if "error" in ours:
            print(f"  wavescope training step failed: {ours['error']}")
        else:
            print(f"  wavescope training step: {ours['time_s']:.2f} CPU s, "
                  f"peak {ours['peak_mb'] / 1024:.2f} GB (target <= 8 GB)")
        if ref is None:
            pass
        elif "error" in ref:
            print(f"  reference forward pass failed: {ref['error']}")
        else:
            print(f"  reference inference forward pass alone: {ref['time_s']:.2f} CPU s, "
                  f"peak {ref['peak_mb'] / 1024:.2f} GB")


if __name__ == "__main__":
    main()
