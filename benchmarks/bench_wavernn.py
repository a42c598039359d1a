"""One training step of the Wave-RNN against a reference written like the original code.

The reference is the recurrence as the Wave-RNN paper's public code runs it: at every step
a Linear layer on that step's input, torch's circular ``Conv1d`` on the state, a ReLU, and
autograd keeping every intermediate. ``wavescope``'s ``WaveRNN`` computes the input
projection for all steps at once and back-propagates through time by hand, keeping one copy
of the states. Both get the same weights and the same batch; each runs in its own process,
so peak memory is measured cleanly: on CPU the growth of the resident set during the step
(VmHWM after resetting it through /proc/self/clear_refs, minus VmRSS before; Linux), on CUDA
``max_memory_allocated`` minus the memory allocated before. The sides run alternately
(``--rounds`` fresh processes each, ``--repeat`` steps per process, the median step of each
process), so that a shared machine's changing load affects both alike; the medians over
rounds and the ratio of each round are reported, as in ``bench_nwm.py``. On CPU the time is
the process's CPU time (one thread), which does not count waiting for a core.

Default size, the paper's sequential-MNIST model: n 256, C 16, batch 128, 784 steps.

Run::

    OMP_NUM_THREADS=1 python benchmarks/bench_wavernn.py            # full size, CPU
    python benchmarks/bench_wavernn.py --device cuda
    python benchmarks/bench_wavernn.py --steps 100 --batch 32       # a quick look

It prints each side's time and peak memory, their ratios, and how far the outputs and
gradients of the two differ.
"""

from __future__ import annotations

import argparse
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
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wavescope.training.models.wavernn import WaveRNN  # noqa: E402


class ReferenceWaveRNN(nn.Module):
    """The original code's recurrence: per-step input projection and circular Conv1d."""

    def __init__(self, n_in, n_out, n, channels):
        super().__init__()
        self.n, self.channels = n, channels
        self.Wx = nn.Linear(n_in, n * channels)
        self.Wy = nn.Conv1d(channels, channels, 3, padding=1, padding_mode="circular",
                            bias=False)
        self.readout = nn.Linear(n * channels, n_out)

    def forward(self, x):  # x: (time, batch, n_in), as in the original
        hy = torch.zeros(x.size(1), self.n * self.channels, device=x.device)
        for t in range(x.size(0)):
            hy = torch.relu(self.Wx(x[t]) + self.Wy(hy.view(-1, self.channels, self.n)).flatten(1))
        return self.readout(hy)


def _models(args):
    torch.manual_seed(0)
    # The paper's initialisation (shift and input init), as a training run starts.
    ours = WaveRNN(1, 10, n=args.n, channels=args.channels)
    ref = ReferenceWaveRNN(1, 10, args.n, args.channels)
    with torch.no_grad():
        ref.Wx.weight.copy_(ours.input.weight)
        ref.Wx.bias.copy_(ours.input.bias)
        ref.Wy.weight.copy_(ours.recurrent.weight)
        ref.readout.weight.copy_(ours.readout.weight)
        ref.readout.bias.copy_(ours.readout.bias)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(args.batch, args.steps, 1, generator=gen)
    y = torch.randint(0, 10, (args.batch,), generator=gen)
    return ours, ref, x, y


def _status_bytes(field: str) -> int:
    """A memory line of /proc/self/status (Linux), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak(device) -> int:
    """Start measuring a peak; return the memory in use now."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device)
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    return _status_bytes("VmRSS")


def _peak(device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return _status_bytes("VmHWM")


def _worker(args) -> None:
    """Run one side once (after a warm-up at a few steps) and write its results."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    ours, ref, x, y = _models(args)
    model = (ours if args.side == "ours" else ref).to(device)
    x, y = x.to(device), y.to(device)

    def step(inputs):
        model.zero_grad(set_to_none=True)
        out = model(inputs if args.side == "ours" else inputs.transpose(0, 1))
        loss = F.cross_entropy(out, y)
        loss.backward()
        return out, loss

    step(x[:, :3])  # warm-up: kernels, allocator
    # On CPU, the process's CPU time: on a shared machine it does not count the time the
    # process waited for a core. On CUDA, wall time after synchronising.
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    times = []
    for i in range(args.repeat):
        base = _reset_peak(device)
        start = clock()
        out, loss = step(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(clock() - start)
        if i == 0:
            peak = _peak(device) - base
    seconds = statistics.median(times)
    if args.side == "ours":
        grads = [ours.input.weight.grad, ours.input.bias.grad, ours.recurrent.weight.grad,
                 ours.readout.weight.grad]
    else:
        grads = [ref.Wx.weight.grad, ref.Wx.bias.grad, ref.Wy.weight.grad, ref.readout.weight.grad]
    torch.save({"out": out.detach().cpu(), "loss": float(loss),
                "grads": [g.detach().cpu() for g in grads]}, args.result)
    print(json.dumps({"seconds": seconds, "peak_bytes": peak}))


def _run_side(side: str, args, folder: Path) -> dict:
    result = folder / f"{side}.pt"
    cmd = [sys.executable, __file__, "--side", side, "--result", str(result),
           "--steps", str(args.steps), "--batch", str(args.batch), "--n", str(args.n),
           "--channels", str(args.channels), "--device", args.device,
           "--threads", str(args.threads), "--repeat", str(args.repeat)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    stats.update(torch.load(result))
    return stats


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=784)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3,
                        help="training steps per process (their median is the process's time)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="fresh processes per side, run alternately (medians are reported)")
    parser.add_argument("--side", choices=["ours", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        _worker(args)
        return

    # Alternate the sides, so a change in the machine's load hits both alike.
    runs = {"reference": [], "ours": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for side in runs:
                runs[side].append(_run_side(side, args, Path(tmp)))
    # Outputs and gradients are the same in every round; times and peaks are medians.
    ref, ours = ({**runs[side][0],
                  **{key: statistics.median(r[key] for r in runs[side])
                     for key in ("seconds", "peak_bytes")}}
                 for side in ("reference", "ours"))
    gib = 2**30
    print(f"Wave-RNN training step: n {args.n}, C {args.channels}, batch {args.batch}, "
          f"{args.steps} steps, {args.device}, {args.threads} thread(s), "
          f"medians over {args.rounds} rounds")
    print(f"  reference (original style): {ref['seconds']:8.2f} s  "
          f"{ref['peak_bytes'] / gib:6.2f} GiB")
    print(f"  wavescope WaveRNN:           {ours['seconds']:8.2f} s  "
          f"{ours['peak_bytes'] / gib:6.2f} GiB")
    per_round = [o["seconds"] / r["seconds"]
                 for o, r in zip(runs["ours"], runs["reference"], strict=True)]
    print("  per-round time ratios:       " + ", ".join(f"{v:.2f}" for v in per_round))
    print(f"  ratio (ours / reference):    {statistics.median(per_round):8.2f} x time  "
          f"{ours['peak_bytes'] / ref['peak_bytes']:6.2f} x memory  "
          "(targets <= 0.5 and <= 0.5)")
    out_diff = float((ours["out"] - ref["out"]).abs().max())
    scale = float(ref["out"].abs().max())
    print(f"  outputs: max |diff| {out_diff:.2e} (max |output| {scale:.2e}); "
          f"loss {ours['loss']:.6f} vs {ref['loss']:.6f}")
    for name, a, b in zip(["V", "b", "u", "readout"], ours["grads"], ref["grads"], strict=True):
        rel = float((a - b).norm() / b.norm().clamp_min(1e-30))
        print(f"  gradient of {name:8s}: relative difference {rel:.2e}")


if __name__ == "__main__":
    main()
