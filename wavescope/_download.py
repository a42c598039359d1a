"""The one way wavescope downloads a file: :func:`pooch.retrieve`, with its hash check and cache.

pooch downloads to a temporary file beside the target and moves it into place only when
its hash matches, so a failed or corrupt download never sits in the cache under the real
name; a file already there with the right hash is used without a network. This module
adds what the data sets need around it: ``file://`` addresses (pooch reads only remote
ones), the usual file permissions (pooch's temporary is owner-only), and errors that name
the file and say what to do when the download cannot happen.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

from ._safeio import _umask

__all__ = ["ChecksumError", "retrieve"]

_HASH_LENGTHS = {"sha256": 64, "md5": 32}


class ChecksumError(OSError):
    """A file's digest (SHA-256, or the MD5 a data set publishes) is not the expected one.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from wavescope import datasets
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     src = Path(tmp) / "recording.bin"
    ...     _ = src.write_bytes(b"wave")
    ...     try:
    ...         datasets.fetch(src.as_uri(), "0" * 64, Path(tmp) / "cache", progress=False)
    ...     except datasets.ChecksumError as err:
    ...         print(type(err).__name__)
    ...
    ChecksumError
    """


def _copy_local(url: str, output_file, pooch_obj=None) -> None:
    """A pooch downloader for ``file://`` addresses: copy the file's bytes."""
    source = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
    with open(source, "rb") as src:
        if hasattr(output_file, "write"):
            shutil.copyfileobj(src, output_file)
        else:
            with open(output_file, "wb") as dst:
                shutil.copyfileobj(src, dst)


def _check_hash(known_hash: str) -> tuple[str, str]:
    alg, sep, digest = str(known_hash).lower().partition(":")
    if not sep:
        alg, digest = "sha256", alg
    want = _HASH_LENGTHS.get(alg)
    if want is None or len(digest) != want or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(
            f"known_hash must be 'sha256:' + 64 or 'md5:' + 32 hexadecimal digits, got "
            f"{known_hash!r}")
    return alg, digest


def retrieve(url: str, known_hash: str, folder, *, fname: str | None = None,
             timeout: float = 60.0, progress: bool = True, advice: str | None = None) -> Path:
    """Download ``url`` into ``folder`` once (pooch), check its hash and return the path.

    Parameters
    ----------
    url : str
        ``http://``, ``https://`` or ``file://`` address.
    known_hash : str
        ``"sha256:<64 hex digits>"`` (a bare digest is SHA-256) or ``"md5:<32 hex digits>"``.
    folder : path-like
        The cache folder (created if needed).
    fname : str, optional
        File name in ``folder``; default the last part of the URL's path.
    timeout : float
        Seconds to wait for the server before giving up.
    progress : bool
        Show a progress bar (tqdm) while downloading.
    advice : str, optional
        What to do when the download fails (the default says how to place the file by hand).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ChecksumError
        When the downloaded file's digest differs (nothing is kept).
    OSError
        When the download fails; the message names the file, the URL and what to do.
    ValueError
        For a URL that is not http, https or file, or a malformed ``known_hash``.
    """
    import pooch

    alg, digest = _check_hash(known_hash)
    parts = urllib.parse.urlparse(url)
    if parts.scheme not in ("http", "https", "file"):
        raise ValueError(f"cannot fetch {url!r}: use an http, https or file URL")
    name = fname or Path(urllib.parse.unquote(parts.path)).name
    if not name:
        raise ValueError(f"cannot tell a file name from {url!r}; pass fname=")
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    fetch = (_copy_local if parts.scheme == "file"
             else pooch.HTTPDownloader(progressbar=progress, timeout=timeout))
    downloaded = []

    def downloader(address, output_file, pooch_obj):
        downloaded.append(True)
        fetch(address, output_file, pooch_obj)

    try:
        pooch.retrieve(url, f"{alg}:{digest}", fname=name, path=str(folder),
                       downloader=downloader)
    except ValueError as err:  # pooch's hash check (the arguments were checked above)
        raise ChecksumError(f"{url}: {err} Nothing was kept; try again, or check the "
                            "expected digest.") from err
    except OSError as err:  # requests' errors are OSErrors, and so are the file:// ones
        what = advice or (f"Check the network connection, or copy the file to {target} by "
                          "hand (a file there with the right hash is used without a network).")
        raise OSError(f"cannot download {name} from {url}: {err}. {what}") from err
    if downloaded:  # pooch's temporary was owner-only (mkstemp); give the usual mode
        os.chmod(target, 0o666 & ~_umask())
    return target
