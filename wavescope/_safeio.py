"""Safe file writing: every file wavescope writes goes through :func:`safe_write`.

A write goes to a temporary file created exclusively (``mkstemp``: a fresh random name,
``O_EXCL``, never a fixed name that a planted symlink could redirect) in the destination's
own folder; it is flushed to disk (``fsync``) and moved over the destination with
``os.replace``, so readers see the old file or the new one, never half of one. A failed
write removes its temporary; temporaries of the same file left by writers that were
killed (their process no longer runs) are removed by the next write. Final files get the
usual permissions (``0o666`` minus the umask), not ``mkstemp``'s owner-only ``0o600``.

:func:`run_lock` guards a folder against a second concurrent writer (a training run).
:func:`check_memory` refuses an allocation too big for this machine before it is made.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["safe_write", "write_bytes", "write_text", "write_json", "save_figure", "run_lock",
           "RunLockedError", "check_memory", "MemoryLimitError", "available_memory",
           "same_file"]

# Temporary names: ".<file name>.<pid>.<random>.tmp"; the PID tells a stale one (its writer
# is gone) from one being written right now by another process.
_TMP_SUFFIX = ".tmp"
_LEGACY_AGE_S = 3600.0  # temporaries without a PID (older wavescope) count as stale after this


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _remove_stale(folder: Path, name: str) -> None:
    """Remove temporaries of ``name`` whose writer no longer runs (never follows links)."""
    pattern = re.compile(re.escape(f".{name}.") + r"(?:(\d+)\.)?.+" + re.escape(_TMP_SUFFIX) + "$")
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    now = time.time()
    for entry in entries:
        match = pattern.match(entry.name)
        if not match:
            continue
        try:
            if match.group(1) is not None:
                stale = not _pid_alive(int(match.group(1)))
            else:
                stale = now - entry.stat(follow_symlinks=False).st_mtime > _LEGACY_AGE_S
            if stale:
                os.unlink(entry.path)  # unlink removes a symlink itself, not its target
        except OSError:
            pass


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def safe_write(path: str | os.PathLike, mode: str | None = None) -> Iterator:
    """Write ``path`` atomically: yield a temporary file, move it into place on success.

    Parameters
    ----------
    path : str or path-like
        Destination file. Its folder is created when missing.
    mode : {None, "wb", "w"}
        None yields the temporary file's path (a ``str``) for writers that take a file name
        (``to_netcdf``, ``savefig``); "wb" or "w" yields it opened for binary or UTF-8 text
        writing.

    Notes
    -----
    The temporary lives in the destination folder (so ``os.replace`` is atomic) and is
    created with ``O_EXCL`` under a random name. Before the rename, the temporary is
    checked to still be the file this call created (not a link put in its place).
    """
    if mode not in (None, "wb", "w"):
        raise ValueError(f"mode must be None, 'wb' or 'w', got {mode!r}")
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a folder")
    _remove_stale(folder, path.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=_TMP_SUFFIX,
                               dir=folder)
    made = os.fstat(fd)
    try:
        if mode is None:
            os.close(fd)
            fd = -1
            yield tmp
        else:
            with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as fh:
                fd = -1
                yield fh
        now = os.lstat(tmp)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (made.st_dev,
                                                                          made.st_ino):
            raise OSError(f"the temporary file {tmp} was replaced while {path} was written; "
                          "nothing was written (is another program writing in that folder?)")
        sync = os.open(tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            os.fsync(sync)
        finally:
            os.close(sync)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        _fsync_folder(folder)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`safe_write`); return the path."""
    with safe_write(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; return the path."""
    with safe_write(path, "w") as fh:
        fh.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj, **kwargs) -> Path:
    """Write ``obj`` as indented JSON (and a final newline) atomically; return the path."""
    kwargs.setdefault("indent", 2)
    return write_text(path, json.dumps(obj, **kwargs) + "\n")


def save_figure(fig, path: str | os.PathLike, dpi: int = 100, fmt: str = "png") -> Path:
    """Save a matplotlib figure atomically (``fig.savefig`` into :func:`safe_write`).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or path-like
        Destination file.
    dpi : int
        Resolution, dots per inch.
    fmt : str
        Image format given to ``savefig`` (the destination's suffix is not consulted).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    with safe_write(path, "wb") as fh:
        fig.savefig(fh, format=fmt, dpi=dpi)
    return Path(path)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file (links and ``..`` resolved; False if b is new)."""
    a, b = Path(a), Path(b)
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


# ----------------------------------------------------------------------------- run lock


class RunLockedError(RuntimeError):
    """Another process is writing into the same run folder."""


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike, what: str = "run folder") -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (a ``.lock`` file holding this process's PID).

    Raises
    ------
    RunLockedError
        When another process holds the lock; the message gives its PID.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / ".lock"
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks
        yield lock
        return
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunLockedError(
                f"{what} {folder} is in use by another process (PID {holder}); wait for it "
                "to finish, or give this run another `name`/`out_dir`"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield lock
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing releases the lock


# ----------------------------------------------------------------------------- memory


class MemoryLimitError(ValueError, MemoryError):
    """An allocation would not fit in memory; the message names its size and the knob."""


def available_memory() -> int:
    """Bytes of memory the system has available now (``MemAvailable``)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - no way to tell
        return 1 << 62


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _parse_bytes(text: str) -> int:
    match = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"WAVESCOPE_MAX_MEMORY={text!r} is not a size; use e.g. 8GB or "
                         "8000000000")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} TB"  # pragma: no cover


def check_memory(n_bytes: float, what: str, knob: str, fraction: float = 0.8) -> None:
    """Raise :class:`MemoryLimitError` when allocating ``n_bytes`` would not fit.

    Parameters
    ----------
    n_bytes : float
        Estimated size of the allocation, bytes.
    what : str
        What is allocated, e.g. ``"the surrogate stack (99 x 1000 x 64 float64)"``.
    knob : str
        How the caller makes it smaller, e.g. ``"lower n_surrogates or pass dim="``.
    fraction : float
        Share of :func:`available_memory` one allocation may take.

    Notes
    -----
    ``$WAVESCOPE_MAX_MEMORY`` (bytes, or with a unit: ``"8GB"``, ``"512MiB"``) replaces the
    limit, e.g. to allow more on a machine with swap, or less on a shared one.
    """
    env = os.environ.get("WAVESCOPE_MAX_MEMORY")
    limit = _parse_bytes(env) if env else fraction * available_memory()
    if n_bytes > limit:
        raise MemoryLimitError(
            f"{what} would need {_human(n_bytes)}, more than the {_human(limit)} this machine "
            f"can spare; {knob} (or raise the limit with $WAVESCOPE_MAX_MEMORY)"
        )
