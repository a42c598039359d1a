"""A folder of named steps that share one record, ``metrics.json``.

Each step is a function of the folder returning a :class:`StepResult`; :func:`run_steps`
runs some in order and records each one's numbers, files, wall time and summary lines.
A step reads what earlier steps wrote (:meth:`StepFolder.need` names the step to run when
a file is missing), so any step can be rerun alone. The record refuses to mix results made
with other settings.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ._safeio import write_json
from ._summary import json_default

__all__ = ["StepResult", "StepFolder", "run_step", "run_steps"]


@dataclass
class StepResult:
    """What a step found.

    Attributes
    ----------
    results : dict
        Numbers (JSON values), recorded in ``metrics.json``.
    files : list of str
        Files written, relative to the folder.
    lines : list of str
        Markdown sentences for the summary (and the terminal).
    """

    results: dict = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


class StepFolder:
    """Where the steps read and write (``out``, created when missing), and their record.

    Subclasses define :meth:`settings` (what must match between steps of one folder) and
    the command that reruns a step (:attr:`COMMAND`, formatted with ``out`` and ``step``).
    """

    METRICS = "metrics.json"
    COMMAND = "wavescope quickstart {out} --step {step}"

    def __init__(self, out):
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(f"{out} exists and is not a folder; choose another OUT")
        self.out = out

    def path(self, name: str) -> Path:
        """``out / name``, its folder created."""
        (self.out / name).parent.mkdir(parents=True, exist_ok=True)
        return self.out / name

    def need(self, name, step: str) -> Path:
        """``out / name``, which an earlier ``step`` writes; a clear error when missing."""
        p = self.out / name
        if not p.exists():
            raise FileNotFoundError(
                f"{p} is missing: run the '{step}' step first "
                f"({self.COMMAND.format(out=self.out, step=step)}), or the whole quickstart")
        return p

    def rel(self, *paths) -> list[str]:
        """Paths relative to the folder, with forward slashes."""
        return [Path(p).relative_to(self.out).as_posix() for p in paths]

    def metrics(self) -> dict:
        """The folder's ``metrics.json`` (empty record when there is none)."""
        p = self.out / self.METRICS
        return json.loads(p.read_text()) if p.exists() else {"steps": {}}

    def found(self, step: str, key: str):
        """``results[key]`` of an earlier step (None when it has not run or lacks it)."""
        return self.metrics()["steps"].get(step, {}).get("results", {}).get(key)

    def settings(self) -> dict:
        return {}

    def record(self, step: str, result: StepResult, seconds: float) -> None:
        """Store a step's result in ``metrics.json`` (atomically)."""
        from . import __version__

        data = self.metrics()
        data.update(self.settings(), wavescope=__version__)
        data.setdefault("steps", {})[step] = {
            "seconds": round(float(seconds), 2), "results": result.results,
            "files": result.files, "lines": result.lines, "git": source_commit()}
        write_json(self.out / self.METRICS, data, default=json_default)

    def check_settings(self) -> None:
        """Refuse to mix results of other settings in one folder."""
        old = self.metrics()
        if old.get("steps") and {k: old.get(k) for k in self.settings()} != self.settings():
            raise ValueError(
                f"{self.out} holds results made with other settings "
                f"({' or '.join(self.settings())}; see {self.out / self.METRICS}); use the "
                "same options or another folder")


Step = Callable[[StepFolder], StepResult]


def source_commit() -> dict | None:
    """The git commit of the wavescope source that runs (and whether tracked files differ
    from it), or None when the package is not a git checkout (an installed release)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=30)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode or not (root / ".git").exists():
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "wavescope")
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def run_step(folder: StepFolder, steps: dict[str, Step], name: str, *,
             last: str | None = None) -> StepResult:
    """Run one step, record its result and return it. The ``last`` step (a summary of
    the record, which states the total time) is recorded, then run and recorded again."""
    if name not in steps:
        raise ValueError(f"unknown quickstart step {name!r}; choose from {list(steps)}")
    start = time.perf_counter()
    result = steps[name](folder)
    seconds = time.perf_counter() - start
    if name == last:
        folder.record(name, result, seconds)
        result = steps[name](folder)
    folder.record(name, result, seconds)
    return result


def run_steps(folder: StepFolder, steps: dict[str, Step], names=None, *, last: str,
              progress: bool = True, echo: Callable[[str], None] | None = print) -> None:
    """Run ``names`` (in the order of ``steps``; default all, in a fresh record), always
    ending with ``last``; ``echo`` receives each step's lines as it finishes."""
    from tqdm.auto import tqdm

    unknown = sorted(set(names or ()) - set(steps))
    if unknown:
        raise ValueError(f"unknown quickstart step(s) {unknown}; choose from {list(steps)}")
    todo = list(steps) if names is None else [n for n in steps if n in set(names)]
    if last not in todo:
        todo.append(last)
    folder.out.mkdir(parents=True, exist_ok=True)
    if names is None:  # a whole run starts a fresh record
        write_json(folder.out / folder.METRICS, {"steps": {}}, indent=None)
    folder.check_settings()
    bar = tqdm(todo, desc="quickstart", unit="step", disable=not progress)
    for name in bar:
        bar.set_postfix_str(name)
        result = run_step(folder, steps, name, last=last)
        if echo is not None:
            for line in result.lines:
                (tqdm.write if progress else echo)(f"[{name}] {line.replace('**', '')}")
