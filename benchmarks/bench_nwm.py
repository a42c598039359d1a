"""One NWM training step, side by side with a straightforward reference.

Measures, at the Tetrominoes configuration (batch 16, 64×64, c_in 3, C 2, T 100, ``linear``
readout, ``mlp256`` head, 6 classes):

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
record; about 6 GB, as the original's 5.7 GB). Its training step records every step's
intermediates (over 20 GB: killed on this 24 GB machine) and is not attempted.

Run ``python benchmarks/bench_nwm.py`` (add ``--multi``; ``--threads`` sets torch's
threads, default 1). Prints ratios; targets: time <= 0.7x, memory <= 0.5x. Times are CPU
seconds per step (robust on a shared machine), wall seconds beside them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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


def _status_mb(field: str) -> float:
    """A memory line of /proc/self/status (Linux), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak_mb() -> float:
    """Start measuring a peak (VmHWM reset to the current resident set); return that."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def measure(variant: str, name: str, batch: int, repeats: int, forward_only: bool) -> dict:
    """Run in a fresh process: peak memory of the first step, then step times.

    Times are CPU seconds of this process (user + system, so page faults count): on a
    shared machine the wall time also counts other processes' turns, the CPU time does
    not. Wall times are returned beside them.
    """
    model, x, target = build(name, batch)
    fwd = _forward(variant, model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = _reset_peak_mb()
    start, cpu = time.perf_counter(), time.process_time()
    if forward_only:  # inference, as the original's 5.7 GB forward pass was measured
        with torch.no_grad():
            out = fwd(x)
        del out
    else:
        train_step(fwd, model, optimizer, x, target)
    walls, cpus = [time.perf_counter() - start], [time.process_time() - cpu]
    peak = _status_mb("VmHWM") - before
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per process")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds of one fresh process per variant (medians are reported)")
    parser.add_argument("--threads", type=int, default=1)
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
    args = parser.parse_args()
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
