"""One training step of the wave models on every device here, in float32 and bf16.

For the NWM (Tetrominoes: batch 16, 64×64, C 2, T 100) and the wRNN (sMNIST: n 256 × 16
channels, batch 128, 784 steps), on ``cpu`` and on ``cuda``/``mps`` when present, in
float32 and under ``torch.autocast`` to bfloat16 (``TrainConfig.precision="bf16"``), it
prints the median time of one step (forward, loss, backward, Adam) over ``--repeats``
steps, its ratio to the CPU float32 step, and how far the bf16 loss and gradient lie from
the float32 ones on the same device (relative norms; the tolerance the trainer states is
5 % for the gradient).

Run ``python benchmarks/bench_devices.py`` (``--quick``: small sizes, a smoke test;
``--json FILE`` writes the table). On a machine without a GPU only the CPU rows appear.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wavescope._safeio import write_json  # noqa: E402
from wavescope.training.models.nwm import NeuralWaveMachine  # noqa: E402
from wavescope.training.models.wavernn import WaveRNN  # noqa: E402


def cases(quick: bool):
    """(name, model factory, inputs, targets, loss) on the CPU."""
    gen = torch.Generator().manual_seed(0)
    size, batch, steps = (16, 4, 20) if quick else (64, 16, 100)
    yield ("nwm", lambda: NeuralWaveMachine(in_channels=3, channels=2, n_classes=6,
                                            steps=steps),
           torch.randn(batch, 3, size, size, generator=gen),
           torch.randint(0, 6, (batch, size, size), generator=gen), F.cross_entropy)
    n, ch, batch, length = (32, 4, 8, 50) if quick else (256, 16, 128, 784)
    yield ("wavernn", lambda: WaveRNN(n_in=1, n_out=10, n=n, channels=ch),
           torch.randn(batch, length, 1, generator=gen),
           torch.randint(0, 10, (batch,), generator=gen), F.cross_entropy)


def devices() -> list[str]:
    out = ["cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append("mps")
    return out


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def step_stats(make, x, y, loss_fn, device: str, bf16: bool, repeats: int):
    """Median seconds of one Adam step, and the first step's loss and flat gradient."""
    torch.manual_seed(0)
    model = make().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = x.to(device), y.to(device)
    times, first = [], None
    for i in range(repeats + 1):  # the first step warms up (allocations, kernels)
        _sync(device)
        start = time.perf_counter()
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        loss = loss_fn(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if i == 0:
            first = (float(loss.detach()), torch.cat([p.grad.reshape(-1).float().cpu()
                                             for p in model.parameters()]))
        opt.step()
        _sync(device)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times), first


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on the CPU")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--json", type=Path, help="write the table to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    print(f"{'model':8} {'device':6} {'precision':9} {'step s':>9} {'vs cpu f32':>10} "
          f"{'loss rel':>9} {'grad rel':>9}")
    for name, make, x, y, loss_fn in cases(args.quick):
        base = None
        for device in devices():
            ref = None
            for precision in ("float32", "bf16"):
                seconds, (loss, grad) = step_stats(make, x, y, loss_fn, device,
                                                   precision == "bf16", args.repeats)
                base = base or seconds
                if ref is None:
                    ref = (loss, grad)
                loss_rel = abs(loss - ref[0]) / abs(ref[0])
                grad_rel = float((grad - ref[1]).norm() / ref[1].norm())
                row = dict(model=name, device=device, precision=precision, step_s=seconds,
                           ratio=seconds / base, loss_rel=loss_rel, grad_rel=grad_rel)
                rows.append(row)
                print(f"{name:8} {device:6} {precision:9} {seconds:9.4f} "
                      f"{seconds / base:9.2f}x {loss_rel:9.2e} {grad_rel:9.2e}", flush=True)
    if args.json:
        write_json(args.json, {"quick": args.quick, "threads": args.threads, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
