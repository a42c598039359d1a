import hashlib
import http.server
import os
import socket
import threading
from functools import partial

import numpy as np
import pytest
from scipy.signal import welch

import wavescope as ws
from wavescope import datasets


@pytest.fixture(scope="module")
def eeg():
    return datasets.eeg_eyes_closed()


def test_eeg_shape_rate_and_model(eeg):
    ws.validate(eeg)
    assert eeg.dims == ("time", "channel")
    assert eeg.sizes == {"time": 9760, "channel": 64}
    assert eeg.attrs["sfreq"] == 160.0 and eeg.attrs["units"] == "V"
    assert eeg.attrs["source"] == "recording" and eeg.attrs["space_units"] == "m"
    assert {"Cz", "Oz", "O1", "O2", "FC5", "Fpz"} <= set(eeg["channel"].values.tolist())
    prov = ws.provenance(eeg)
    assert prov["sha256"] == datasets.EEG_EYES_CLOSED_SHA256 and prov["licence"] == "ODC-By-1.0"
    # EEG amplitudes are tens of microvolts: the data are in volts, not microvolts.
    assert 1e-6 < float(eeg.std()) < 1e-3


def test_eeg_positions_finite_and_distinct(eeg):
    xy = ws.positions(eeg)
    assert np.isfinite(xy).all()
    assert len({tuple(p) for p in np.round(xy, 6)}) == 64
    pos3d = np.column_stack([eeg[c].values for c in ("pos3d_x", "pos3d_y", "pos3d_z")])
    assert np.isfinite(pos3d).all() and len({tuple(p) for p in pos3d}) == 64


def test_eeg_alpha_peak_over_occipital_channels(eeg):
    occ = eeg.sel(channel=["O1", "Oz", "O2"]).values.T
    f, p = welch(occ, fs=eeg.attrs["sfreq"], nperseg=640)
    band = (f >= 2) & (f <= 40)
    peak = f[band][np.argmax(p.mean(axis=0)[band])]
    assert 8.0 <= peak <= 13.0


def test_eeg_checksum_mismatch(monkeypatch):
    monkeypatch.setattr(datasets, "EEG_EYES_CLOSED_SHA256", "0" * 64)
    with pytest.raises(datasets.ChecksumError, match="damaged or was replaced; reinstall"):
        datasets.eeg_eyes_closed()


# ----------------------------------------------------------------------------- fetch


def payload(tmp_path, n=200_000):
    data = np.random.default_rng(0).bytes(n)
    src = tmp_path / "src"
    src.mkdir()
    (src / "blob.bin").write_bytes(data)
    return src / "blob.bin", hashlib.sha256(data).hexdigest()


def test_fetch_file_url_and_cache_hit(tmp_path):
    src, digest = payload(tmp_path)
    cache = tmp_path / "cache"
    got = datasets.fetch(src.as_uri(), digest, cache, progress=False)
    assert got == cache / "blob.bin" and got.read_bytes() == src.read_bytes()
    src.unlink()  # a second call is served from the cache, with no download
    assert datasets.fetch(src.as_uri(), digest, cache, progress=False) == got


def test_fetch_checksum_mismatch_keeps_nothing(tmp_path):
    src, _ = payload(tmp_path)
    cache = tmp_path / "cache"
    with pytest.raises(datasets.ChecksumError,
                       match=r"blob.bin\) does not match the known hash: expected "
                             r"sha256:f{64}.*Nothing was kept"):
        datasets.fetch(src.as_uri(), "f" * 64, cache, progress=False)
    assert list(cache.iterdir()) == []


def test_fetch_gives_downloads_the_usual_mode(tmp_path):
    src, digest = payload(tmp_path)
    got = datasets.fetch(src.as_uri(), digest, tmp_path / "cache", progress=False)
    mask = os.umask(0)
    os.umask(mask)
    assert got.stat().st_mode & 0o777 == 0o666 & ~mask  # not the temporary's owner-only 600


def test_fetch_offline_uses_a_file_placed_by_hand(tmp_path):
    src, digest = payload(tmp_path)
    cache = tmp_path / "cache"
    unreachable = "http://127.0.0.1:9/blob.bin"  # the discard port: nothing answers
    with pytest.raises(OSError, match=r"cannot download blob.bin from .*Check the network "
                                      r".*copy the file to .*cache/blob.bin by hand"):
        datasets.fetch(unreachable, digest, cache, progress=False, timeout=2)
    (cache / "blob.bin").write_bytes(src.read_bytes())
    assert datasets.fetch(unreachable, digest, cache, progress=False) == cache / "blob.bin"


def test_fetch_replaces_corrupt_cached_file(tmp_path):
    src, digest = payload(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "blob.bin").write_bytes(b"stale")
    got = datasets.fetch(src.as_uri(), digest, cache, progress=False)
    assert got.read_bytes() == src.read_bytes()


@pytest.fixture
def local_server(tmp_path):
    src, digest = payload(tmp_path)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(src.parent))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", digest, src
    server.shutdown()
    server.server_close()


def test_fetch_over_http(tmp_path, local_server):
    base, digest, src = local_server
    got = datasets.fetch(f"{base}/blob.bin", digest, tmp_path / "c", fname="b.bin",
                         progress=False)
    assert got.name == "b.bin" and got.read_bytes() == src.read_bytes()
    with pytest.raises(OSError, match="cannot download .*missing.bin"):
        datasets.fetch(f"{base}/missing.bin", digest, tmp_path / "c", progress=False)


def test_fetch_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="64 hexadecimal"):
        datasets.fetch("file:///x", "abc", tmp_path)
    with pytest.raises(ValueError, match="http, https or file"):
        datasets.fetch("ftp://example.org/x", "0" * 64, tmp_path)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("WAVESCOPE_DATA", str(tmp_path / "d"))
    assert datasets.default_cache_dir() == tmp_path / "d"


def _online(host="physionet.org"):
    try:
        socket.create_connection((host, 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _online(), reason="needs the internet (physionet.org)")
def test_fetch_real_file_from_physionet(tmp_path):
    url = "https://physionet.org/files/eegmmidb/1.0.0/S001/S001R02.edf"
    got = datasets.fetch(url, datasets.EEG_EYES_CLOSED_SHA256, tmp_path, progress=False)
    assert got.stat().st_size == 1275936
