"""Real recordings: one bundled with the package, and a fetcher for bigger ones.

Every loader states its licence, citation and provenance, and checks a SHA-256 digest
before reading, so a damaged or substituted file is never analysed silently. Downloads go
through pooch (``wavescope._download``, shared with the MNIST and CIFAR-10 fetchers of
``wavescope.training.data``), which checks the hash and keeps the cache.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import xarray as xr

from ._download import ChecksumError, retrieve

__all__ = ["eeg_eyes_closed", "fetch", "ChecksumError", "EEG_EYES_CLOSED_SHA256",
           "default_cache_dir"]

EEG_EYES_CLOSED_SHA256 = "31a95e0a880e6c3d89960d9d62c144f24cc4e9f5d7e93c7f864ef61cd49e847e"


def eeg_eyes_closed() -> xr.DataArray:
    """64-channel EEG at rest with eyes closed (61 s at 160 Hz), with a strong alpha rhythm.

    PhysioNet EEG Motor Movement/Imagery Dataset (EEGMMIDB), subject 1 (S001), run 2:
    the one-minute eyes-closed baseline, recorded with the BCI2000 system from 64
    electrodes of the international 10-10 system. Occipital channels show the alpha
    rhythm, peaking near 10 Hz. The file ships inside the package
    (``wavescope/data/S001R02.edf``, 1.3 MB) and its SHA-256 digest is checked before it
    is read.

    Licence
        Open Data Commons Attribution License v1.0 (ODC-By 1.0),
        https://opendatacommons.org/licenses/by/1-0/ . Use requires attribution: cite the
        two references below.

    Citation
        Schalk, G., McFarland, D. J., Hinterberger, T., Birbaumer, N., Wolpaw, J. R.
        BCI2000: A General-Purpose Brain-Computer Interface (BCI) System. IEEE
        Transactions on Biomedical Engineering 51(6):1034-1043, 2004.

        Goldberger, A. L., Amaral, L. A. N., Glass, L., Hausdorff, J. M., Ivanov, P. Ch.,
        Mark, R. G., Mietus, J. E., Moody, G. B., Peng, C.-K., Stanley, H. E. PhysioBank,
        PhysioToolkit, and PhysioNet: Components of a New Research Resource for Complex
        Physiologic Signals. Circulation 101(23):e215-e220, 2000.

    Provenance
        https://physionet.org/content/eegmmidb/1.0.0/S001/S001R02.edf (also fetched by
        :func:`mne.datasets.eegbci.load_data` with subject 1, run 2), unchanged.
        SHA-256 ``31a95e0a880e6c3d89960d9d62c144f24cc4e9f5d7e93c7f864ef61cd49e847e``.

    Processing
        Read with :func:`mne.io.read_raw_edf`; channel names standardised with
        :func:`mne.datasets.eegbci.standardize` ("Fc5." -> "FC5"); positions from MNE's
        ``standard_1005`` montage; converted with :func:`wavescope.from_mne` (so ``x``,
        ``y`` are the azimuthal projection about the vertex in metres of arc, and
        ``pos3d_*`` the montage positions). No filtering, no re-referencing.

    Returns
    -------
    xarray.DataArray
        Dims ``(time, channel)``: 9760 samples x 64 channels, volts, ``sfreq`` 160.0,
        ``source="recording"``; the run's annotation (T0, rest) in ``attrs["annotations"]``.

    Raises
    ------
    ChecksumError
        When the bundled file does not match its SHA-256 digest (reinstall wavescope).

    Examples
    --------
    >>> from wavescope import datasets
    >>> eeg = datasets.eeg_eyes_closed()
    >>> print(eeg.dims, eeg.sizes["channel"], eeg.attrs["sfreq"], eeg.attrs["units"])
    ('time', 'channel') 64 160.0 V
    """
    import mne
    import pooch

    from .io import from_mne

    ref = resources.files("wavescope") / "data" / "S001R02.edf"
    with resources.as_file(ref) as path:
        digest = pooch.file_hash(str(path))
        if digest != EEG_EYES_CLOSED_SHA256:
            raise ChecksumError(
                f"{path} has SHA-256 {digest}, expected {EEG_EYES_CLOSED_SHA256}: the bundled "
                "EEG file is damaged or was replaced; reinstall wavescope"
            )
        raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    mne.datasets.eegbci.standardize(raw)
    raw.set_montage("standard_1005", verbose="error")
    da = from_mne(raw)
    da.attrs["provenance"] = _with_source(da.attrs["provenance"])
    da.name = "eeg"
    return da


def _with_source(prov_json: str) -> str:
    import json

    prov = json.loads(prov_json)
    prov.update(
        dataset="PhysioNet EEG Motor Movement/Imagery (eegmmidb 1.0.0), S001R02, eyes closed",
        url="https://physionet.org/content/eegmmidb/1.0.0/S001/S001R02.edf",
        sha256=EEG_EYES_CLOSED_SHA256,
        licence="ODC-By-1.0",
        citation="Schalk et al. 2004, IEEE TBME 51:1034; Goldberger et al. 2000, "
                 "Circulation 101:e215",
        filenames=["S001R02.edf"],
        montage="standard_1005",
    )
    return json.dumps(prov)


def default_cache_dir() -> Path:
    """Where :func:`fetch` keeps downloads by default.

    ``$WAVESCOPE_DATA`` when set, else ``$XDG_CACHE_HOME/wavescope`` (``~/.cache/wavescope``).

    Examples
    --------
    >>> import os
    >>> from unittest import mock
    >>> from wavescope import datasets
    >>> with mock.patch.dict(os.environ, {"WAVESCOPE_DATA": "/data/wavescope"}):
    ...     print(datasets.default_cache_dir())
    ...
    /data/wavescope
    """
    env = os.environ.get("WAVESCOPE_DATA")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "wavescope"


def fetch(
    url: str,
    sha256: str,
    cache_dir: str | os.PathLike | None = None,
    *,
    fname: str | None = None,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` into a cache once, check its SHA-256 and return the local path.

    The download is :func:`pooch.retrieve`'s: a file already in the cache with the right
    digest is returned without a network (so a file copied there by hand works offline);
    a download goes to a temporary file in the cache folder and is moved into place only
    when complete and verified, so an interrupted or corrupt download never sits in the
    cache under the real name.

    Parameters
    ----------
    url : str
        ``http://``, ``https://`` or ``file://`` address.
    sha256 : str
        Expected SHA-256 digest (64 hexadecimal digits).
    cache_dir : path-like, optional
        Folder of the cache (created if needed); default :func:`default_cache_dir`.
    fname : str, optional
        File name in the cache; default the last part of the URL's path.
    timeout : float
        Seconds to wait for the server before giving up.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ChecksumError
        When the downloaded file's digest differs (nothing is kept).
    OSError
        When the download fails (no network, a missing file, an HTTP error); the message
        names the file and the URL and says where to put the file by hand.

    Examples
    --------
    >>> import hashlib
    >>> import tempfile
    >>> from pathlib import Path
    >>> from wavescope import datasets
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     src = Path(tmp) / "recording.bin"
    ...     _ = src.write_bytes(b"wave" * 100)
    ...     digest = hashlib.sha256(src.read_bytes()).hexdigest()
    ...     local = datasets.fetch(src.as_uri(), digest, Path(tmp) / "cache", progress=False)
    ...     print(local.name, local.stat().st_size)
    ...
    recording.bin 400
    """
    sha256 = str(sha256).lower()
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    folder = cache_dir if cache_dir is not None else default_cache_dir()
    return retrieve(url, f"sha256:{sha256}", folder, fname=fname, timeout=timeout,
                    progress=progress)
