"""An HTML report of an output folder, built with :class:`mne.Report`.

:func:`make_report` reads what a folder already holds and writes ``report.html`` beside it:

- a quickstart folder (``metrics.json`` with the steps' results): what was found, a table
  of every step's numbers with its time and the budget, the figures and the animation;
- a training run folder (``config.json``, ``metrics.csv``, ``test_metrics.json``): the
  test scores, the per-evaluation metrics, their curves and the config (the run's budget);
- any other folder: its images.

Every report ends with its provenance (versions, seed, the command that remakes the
folder) and a link to every file of the folder. Images are embedded, so the page works
when moved alone; the links are relative to the folder.
"""

from __future__ import annotations

import csv
import html
import json
import math
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from ._safeio import safe_write

__all__ = ["make_report", "REPORT_FILE"]

#: The report's file name inside the folder.
REPORT_FILE = "report.html"

_IMAGES = (".png", ".gif", ".jpg", ".jpeg", ".svg")
_MAX_ROWS = 200  # per-evaluation rows shown of a long run (the CSV is linked in full)


def make_report(folder, *, title: str | None = None) -> Path:
    """Write ``folder/report.html`` and return its path.

    Parameters
    ----------
    folder : path
        A ``wavescope quickstart`` output folder, a training run folder, or any folder
        with images.
    title : str, optional
        The page title (default: names the kind of folder and its name).

    Returns
    -------
    pathlib.Path
        The report (written atomically; an older report is replaced).

    Raises
    ------
    FileNotFoundError, NotADirectoryError
        When ``folder`` does not exist or is not a folder.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis import analytic_signal
    >>> from wavescope.plotting import plot_phase_map
    >>> from wavescope.report import make_report
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     fig = plot_phase_map(analytic_signal(sim.plane_wave((8, 8), n_times=20)), time=0.1)
    ...     fig.savefig(Path(tmp) / "phase.png")
    ...     page = make_report(tmp, title="one figure")
    ...     print(page.name, "phase.png" in page.read_text())
    ...
    report.html True
    """
    import mne

    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"{folder} does not exist; give a quickstart output folder "
                                "or a training run folder")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder; give a quickstart output folder "
                                 "or a training run folder")
    metrics = _read_json(folder / "metrics.json")
    if isinstance(metrics, dict) and "steps" in metrics:
        kind = "quickstart"
    elif (folder / "config.json").is_file() and (folder / "metrics.csv").is_file():
        kind = "training run"
    else:
        kind = "folder"
    report = mne.Report(title=title or f"wavescope {kind}: {folder.resolve().name}",
                        verbose="error")
    if kind == "quickstart":
        _quickstart(report, folder, metrics)
    elif kind == "training run":
        _run(report, folder)
    _images(report, folder, kind)
    _provenance(report, folder, kind, metrics)
    _files(report, folder)
    path = folder / REPORT_FILE
    with safe_write(path) as tmp:
        report.save(tmp, open_browser=False, overwrite=True, verbose="error")
    return path


# ----------------------------------------------------------------------------- sections


def _quickstart(report, folder: Path, metrics: dict) -> None:
    steps = metrics.get("steps", {})
    found = [line for s in steps.values() for line in s.get("lines", [])]
    report.add_html(_list(found) if found else "<p>No step has run yet.</p>",
                    title="What was found", section="Summary", tags=("summary",))
    rows = [(name, key, value, _plain(s.get("seconds")) if i == 0 else "")  # time once
            for name, s in steps.items()
            for i, (key, value) in enumerate(_flat(s.get("results", {})))]
    report.add_html(_table(("step", "result", "value", "step time (s)"), rows),
                    title="Results of every step", section="Results", tags=("results",))
    decoding = steps.get("spectra", {}).get("results", {}).get("decoding")
    if decoding:
        keys = list(decoding[0])
        report.add_html(_table(keys, [[r.get(k) for k in keys] for r in decoding]),
                        title="Decoding and its controls", section="Results",
                        tags=("results",))
    budget = metrics.get("budget", {})
    report.add_html(_table(("setting", "value"), list(budget.items())),
                    title="Budget", section="Results", tags=("budget",))


def _run(report, folder: Path) -> None:
    from .training import read_metrics

    test = _read_json(folder / "test_metrics.json")
    if isinstance(test, dict):
        report.add_html(_table(("test metric", "value"), list(test.items())),
                        title="Test scores", section="Results", tags=("results",))
    with open(folder / "metrics.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    if rows:
        shown = rows[1:_MAX_ROWS + 1]
        note = (f"<p>First {_MAX_ROWS} of {len(rows) - 1} rows; all in metrics.csv.</p>"
                if len(rows) - 1 > _MAX_ROWS else "")
        report.add_html(note + _table(rows[0], shown), title="Metrics per evaluation",
                        section="Results", tags=("results",))
    curves = read_metrics(folder)
    if curves and all(f"{s}_pixel_accuracy" in curves[0] for s in ("train", "val")):
        from .plotting import training_figure

        report.add_figure(training_figure(curves, None), title="Training curves",
                          section="Figures", tags=("figures",), image_format="png")
    config = _read_json(folder / "config.json") or {}
    report.add_html(_table(("setting", "value"), list(config.items())),
                    title="Budget", section="Results", tags=("budget",))


def _images(report, folder: Path, kind: str) -> None:
    """Every image of the folder (the GIF first), embedded."""
    images = sorted((p for p in folder.rglob("*") if p.suffix.lower() in _IMAGES
                     and p.is_file() and not _hidden(p, folder)),
                    key=lambda p: (p.suffix.lower() != ".gif", p.relative_to(folder).parts))
    if not images and kind == "folder":
        report.add_html("<p>This folder holds no images.</p>", title="Figures",
                        section="Figures", tags=("figures",))
    for p in images:
        rel = p.relative_to(folder).as_posix()
        report.add_image(p, title=rel, caption=f"{rel} ({p.stat().st_size / 1e3:.0f} kB)",
                         section="Figures", tags=("figures",))


def _provenance(report, folder: Path, kind: str, metrics) -> None:
    from . import __version__

    rows = [("folder", str(folder.resolve())), ("kind", kind),
            ("report made (UTC)", datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")),
            ("python", platform.python_version()), ("platform", platform.platform())]
    if kind == "quickstart":
        seed = metrics.get("seed", 0)
        small = "--small " if metrics.get("budget", {}).get("n_train") == _small_n_train() \
            else ""
        rows += [("made by wavescope", metrics.get("wavescope", "?")), ("seed", seed),
                 ("remake with", f"wavescope quickstart OUT {small}--seed {seed}")]
    elif kind == "training run":
        rows += [("remake with", f"wavescope train --config {folder / 'config.json'}")]
    rows.append(("report by wavescope", __version__))
    for name in ("numpy", "scipy", "xarray", "mne", "scikit-learn", "torch", "matplotlib"):
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    report.add_html(_table(("what", "value"), rows), title="Provenance",
                    section="Provenance", tags=("provenance",))


def _files(report, folder: Path) -> None:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not _hidden(p, folder)
                   and p.name != REPORT_FILE)
    rows = "".join(
        f'<tr><td><a href="{html.escape(p.relative_to(folder).as_posix(), quote=True)}">'
        f"{html.escape(p.relative_to(folder).as_posix())}</a></td>"
        f"<td>{p.stat().st_size / 1e3:.1f}</td></tr>" for p in files)
    report.add_html(f'<table class="table table-sm"><thead><tr><th>file</th><th>kB</th>'
                    f"</tr></thead><tbody>{rows}</tbody></table>",
                    title=f"Files ({len(files)})", section="Files", tags=("files",))


# ----------------------------------------------------------------------------- helpers


def _small_n_train() -> int:
    from .quickstart import SMALL

    return SMALL.n_train


def _hidden(path: Path, folder: Path) -> bool:
    """Temporary, lock and other dot files (not outputs)."""
    return any(part.startswith(".") for part in path.relative_to(folder).parts)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _flat(value, prefix: str = ""):
    """(dotted key, value) pairs of nested dicts; lists of dicts are shown as their own
    table, so they are left out here."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flat(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        return
    else:
        yield prefix, value


def _plain(value) -> str:
    """A value as a person reads it: plain floats with 4 significant digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    text = str(value)
    if math.isfinite(number) and number == int(number) and not set(text) & set(".eE"):
        return text  # an integer (a count, a step) stays exact
    return f"{number:.4g}"


def _table(header, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_plain(c))}</td>" for c in row)
                   + "</tr>" for row in rows)
    return (f'<table class="table table-sm table-striped"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _list(lines) -> str:
    """Summary sentences (markdown with **bold** and `code`) as an HTML list."""
    import re

    items = []
    for line in lines:
        text = html.escape(line)
        text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
        text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
        items.append(f"<li>{text}</li>")
    return f"<ul>{''.join(items)}</ul>"
