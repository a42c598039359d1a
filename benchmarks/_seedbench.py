"""What the side-by-side benchmarks against a paper's seed code share.

- :func:`extract_seed`: copy the seed's files from a checkout or a git directory (a bare
  mirror) into a temporary folder, so they are imported from there, untouched, and never
  live in this repository;
- :func:`reset_peak` / :func:`peak`: the peak memory of one step (CPU: the resident set's
  high-water mark VmHWM after resetting it through /proc/self/clear_refs, Linux; CUDA:
  ``max_memory_allocated``);
- :func:`spread` and :func:`write_record`: medians with their range, and the table a run
  wrote, as ``docs/results/<name>.json`` (command, git commit, rounds, load average), which
  ``scripts/readme_results.py`` renders into the README.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from reproduce import git_commit  # noqa: E402

from wavescope._safeio import write_json  # noqa: E402


def extract_seed(source: Path, files, folder: Path, what: str) -> str | None:
    """Copy ``files`` (paths inside the seed repository) from ``source`` into ``folder``.

    ``source`` is a checkout or a git directory; returns the seed's commit when ``source``
    is a git directory or a checkout with one (else None). Raises FileNotFoundError naming
    ``what`` when a file is missing.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist (expected a checkout or git "
                                f"directory of {what})")
    for name in files:
        target = folder / Path(name).name
        if (source / name).is_file():
            shutil.copyfile(source / name, target)
            continue
        done = subprocess.run(["git", "--git-dir", str(source), "show", f"HEAD:{name}"],
                              capture_output=True, check=False)
        if done.returncode:
            raise FileNotFoundError(f"{source} is neither a checkout of {what} nor its git "
                                    f"directory (no {name}): {done.stderr.decode().strip()}")
        target.write_bytes(done.stdout)
    for git_dir in (source, source / ".git"):
        done = subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return done.stdout.strip()
    return None


def run_side(script: str, case: str, side: str, folder: Path, threads: int,
             options: list[str]) -> dict:
    """Time one side of one case in a fresh process of ``script`` (its ``--case``/``--side``
    mode): the printed JSON line of seconds and peak bytes, merged with the outputs the
    process saved for the comparison of the two sides."""
    result = folder / f"{case}-{side}.pt"
    cmd = [sys.executable, script, "--case", case, "--side", side, "--result", str(result),
           "--seed-dir", str(folder), "--threads", str(threads), *options]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise RuntimeError(f"{case} {side} failed (exit {done.returncode}):\n{done.stderr}")
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    stats.update(torch.load(result))
    return stats


def _status_bytes(field: str) -> int:
    """A memory line of /proc/self/status (Linux), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak(device: torch.device) -> int:
    """Start measuring a peak; return the memory in use now (bytes)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device)
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    return _status_bytes("VmRSS")


def peak(device: torch.device) -> int:
    """The peak memory (bytes) since :func:`reset_peak`."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return _status_bytes("VmHWM")


def spread(values) -> dict:
    """Median, min and max of ``values``."""
    values = list(values)
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def show(s: dict, fmt: str) -> str:
    """``median (min-max)`` of a :func:`spread`."""
    return f"{s['median']:{fmt}} ({s['min']:{fmt}}-{s['max']:{fmt}})"


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def command_line(env=(), argv=None) -> str:
    """This run's command as one could type it again: OMP_NUM_THREADS and the variables
    named in ``env`` (where set), the script relative to the repository, its arguments."""
    argv = sys.argv if argv is None else argv
    script = Path(argv[0])
    script = script.resolve().relative_to(ROOT) if script.resolve().is_relative_to(ROOT) \
        else script
    names = [n for n in ("OMP_NUM_THREADS", *env) if os.environ.get(n)]
    return " ".join([f"{n}={shlex.quote(os.environ[n])}" for n in names]
                    + ["python", str(script), *map(shlex.quote, argv[1:])])


def write_record(path: Path, title: str, rows: list[dict], meta: dict, env=(),
                 argv=None) -> Path:
    """Write a benchmark table as JSON (``"kind": "bench"``) for the README.

    ``rows`` hold per case the two sides' :func:`spread` of seconds and GiB, the spread of
    the per-round time ratios, the memory ratio, the goals and how far the outputs differ;
    ``meta`` adds the run's settings (rounds, repeats, seed code, load average at start);
    ``env``: environment variables that belong to the command (the seed code's path);
    ``argv``: the command's arguments (default ``sys.argv``).
    """
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    record = {"kind": "bench", "title": title, "command": command_line(env, argv),
              "git": git_commit(), "source": f"run finished {date}", "date": date,
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
              "torch": torch.__version__, **meta, "load_average_end": load_average(),
              "rows": rows}
    return write_json(path, record, ensure_ascii=False)
