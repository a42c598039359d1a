"""Time the README's training example and record it in ``docs/results/train_example.json``.

The README's example command and the time beside it are both rendered from that file by
``scripts/readme_results.py``, so the command shown is the command that was timed.

Usage::

    python scripts/time_train_example.py [--work DIR]   # then: python scripts/readme_results.py

The run goes into a temporary folder (or ``--work``) so it never touches ``runs/``; wall
and CPU seconds and the peak resident set come from ``/usr/bin/time -v`` where it exists,
else from ``resource.getrusage`` of the child.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from reproduce import git_commit  # noqa: E402

from wavescope._safeio import write_text  # noqa: E402

# The quickstart's network and budget, trained alone.
ARGS = ["train", "--task", "polygons", "--model", "nwm", "--readout", "fft",
        "--head", "mlp32x5", "--model-kwargs", '{"steps": 50, "dt": 0.2}',
        "--n-train", "3000", "--n-val", "200", "--n-test", "300",
        "--epochs", "4", "--batch-size", "32"]
RESULT = ROOT / "docs" / "results" / "train_example.json"


def command_line() -> str:
    """The example as a user types it."""
    return "wavescope " + " ".join(shlex.quote(a) for a in ARGS)


def _gnu_time(report: str) -> dict:
    """Wall, CPU seconds and peak memory out of ``/usr/bin/time -v``'s report."""
    def field(name):
        m = re.search(rf"{re.escape(name)}: (.+)", report)
        return m.group(1).strip() if m else None

    parts = [float(p) for p in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")]
    wall = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    return {"wall_s": wall, "cpu_s": cpu,
            "peak_gib": float(field("Maximum resident set size (kbytes)")) / 2**20}


def time_example(work: Path) -> dict:
    """Run the example in ``work``; its timing, or an error naming the failed run."""
    cmd = [sys.executable, "-m", "wavescope", *ARGS, "--out-dir", str(work / "runs"),
           "--data-root", str(work / "data"), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    gnu = "/usr/bin/time" if Path("/usr/bin/time").exists() else None  # GNU time, not the shell's
    report = work / "time.txt"
    load_start = os.getloadavg()
    start = time.perf_counter()
    full = [gnu, "-v", "-o", str(report), *cmd] if gnu else cmd
    proc = subprocess.run(full, env=env, cwd=work, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"the training example failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-2000:]}")
    if gnu:
        measured, how = _gnu_time(report.read_text()), "/usr/bin/time -v"
    else:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        measured = {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
                    "peak_gib": usage.ru_maxrss / 2**20}
        how = "resource.getrusage"
    return {**measured, "measured_with": how, "load_average_start": list(load_start),
            "load_average_end": list(os.getloadavg())}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, help="folder for the run (default: a temporary one)")
    p.add_argument("--out", type=Path, default=RESULT)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="train_example_") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        timing = time_example(work)
    record = {"kind": "timing", "title": "The README's training example",
              "example": command_line(), "command": "python scripts/time_train_example.py",
              "git": git_commit(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", **timing}
    write_text(args.out, json.dumps(record, indent=2) + "\n")
    print(f"{timing['wall_s']:.0f} s wall, {timing['cpu_s']:.0f} s CPU, "
          f"{timing['peak_gib']:.2f} GiB peak; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
