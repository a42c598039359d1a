"""On-disk cache of generated data sets, keyed by their parameters and checked by SHA-256.

A data set is stored as ``<name>-<key>.npz`` beside ``<name>-<key>.json``; the JSON holds
the generator's parameters, the array shapes and the file's SHA-256. ``key`` is a hash of
the parameters, so changing any parameter makes a new entry. A file whose checksum no
longer matches is rebuilt (and a warning says so).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..._safeio import safe_write, write_json

__all__ = ["cached", "sha256_file", "params_key"]


def sha256_file(path) -> str:
    """The SHA-256 hex digest of a file.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from wavescope.training.data import sha256_file
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "empty.bin"
    ...     _ = path.write_bytes(b"")
    ...     print(sha256_file(path)[:16])
    ...
    e3b0c44298fc1c14
    """
    import pooch  # the package's one hash reader (pooch checks the downloads with it too)

    return pooch.file_hash(str(path), alg="sha256")


def params_key(params: dict) -> str:
    """A short, stable hash of JSON-serialisable parameters."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def cached(root, name: str, params: dict, build: Callable[[], dict[str, np.ndarray]],
           info: Callable[[], dict] | None = None) -> dict[str, np.ndarray]:
    """Load the arrays ``build()`` made for ``params`` from ``root``, building them once.

    Parameters
    ----------
    root : path or None
        Cache folder (created when missing); None builds without caching.
    name : str
        Data set name, the start of the file names.
    params : dict
        Everything the arrays depend on (JSON-serialisable).
    build : callable
        Returns a dict of NumPy arrays.
    info : callable, optional
        Extra JSON facts recorded beside the arrays (e.g. how many images were redrawn).

    Returns
    -------
    dict of numpy.ndarray

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from wavescope.training.data import cached
    >>> calls = []
    >>> def build():
    ...     calls.append(1)
    ...     return {"x": np.arange(3)}
    ...
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     first = cached(tmp, "demo", {"n": 3}, build)
    ...     again = cached(tmp, "demo", {"n": 3}, build)  # read back, not rebuilt
    ...     print(again["x"], len(calls))
    ...
    [0 1 2] 1
    """
    if root is None:
        return build()
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{params_key(params)}"
    data_path, meta_path = root / f"{stem}.npz", root / f"{stem}.json"
    if data_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("sha256") == sha256_file(data_path):
            with np.load(data_path) as npz:
                return {k: npz[k] for k in npz.files}
        warnings.warn(f"{data_path} does not match its recorded SHA-256; rebuilding it",
                      stacklevel=2)
    arrays = build()
    with safe_write(data_path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    meta = {"name": name, "params": params, "sha256": sha256_file(data_path),
            "arrays": {k: [list(v.shape), str(v.dtype)] for k, v in arrays.items()}}
    if info is not None:
        meta["info"] = info()
    write_json(meta_path, meta)
    return arrays
