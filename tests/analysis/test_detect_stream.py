"""detect_waves on a lazy recording whose time is split into dask chunks: the same frames,
events and p-values as the call on the computed analytic signal, with events that cross
chunk and piece borders; windows of a long recording for the null."""

import json

import numpy as np
import pytest

import wavescope as ws
from wavescope.analysis import _chunks, analytic_signal, detect_waves, events

BAND = (3.0, 8.0)
CHUNK = 96
#: Frame-local values: equal however the frames are grouped (to rounding).
LOCAL = ("pgd", "synchrony", "strength", "explained", "radial", "rotation", "dphi_dx",
         "dphi_dy", "omega", "omega_se", "radial_slope", "radial_slope_se")


@pytest.fixture(scope="module")
def recording():
    """Noise, a plane wave, noise, a long (synchronous-looking) plane wave, noise; the
    first wave crosses the chunk borders at 192 and 288."""
    sim = ws.simulate
    where, seg = (10, 10), dict(sfreq=100.0, frequency=5.0)
    da = sim.sequence(sim.noise(where, n_times=150, sfreq=100.0, seed=1),
                      sim.plane_wave(where, n_times=150, speed=40.0, direction=0.7,
                                     noise=0.3, seed=2, **seg),
                      sim.noise(where, n_times=120, sfreq=100.0, seed=3),
                      sim.plane_wave(where, n_times=90, speed=1e6, noise=0.3, seed=4, **seg),
                      sim.noise(where, n_times=110, sfreq=100.0, seed=5))
    return analytic_signal(da, BAND).chunk(time=CHUNK)  # a lazy analytic signal


def _assert_same(lazy, eager):
    assert set(lazy.data_vars) == set(eager.data_vars)
    for name in lazy.data_vars:
        np.testing.assert_array_equal(lazy[name].values, eager[name].values, err_msg=name)


def test_streamed_call_equals_the_computed_one(recording):
    z = recording
    assert _chunks.time_split(z)
    lazy = detect_waves(z, n_surrogates=9, seed=2)
    eager = detect_waves(z.compute(), n_surrogates=9, seed=2)
    assert lazy["pattern"].values.tolist().count("planar") >= 1
    first = lazy["start"].values[lazy["pattern"].values == "planar"][0]
    stop = lazy["stop"].values[lazy["pattern"].values == "planar"][0]
    assert first < 2 * CHUNK / 100.0 < stop  # an event across a chunk border
    _assert_same(lazy, eager)
    assert lazy.attrs["significance"] == eager.attrs["significance"]
    assert np.isfinite(lazy["p_value"]).all()


def test_pieces_with_whole_overlaps_equal_the_computed_call(recording, monkeypatch):
    """Pieces of 130 frames (borders inside the events) that each see the whole series
    through their overlaps: every frame and event equal, so the pieces join exactly."""
    monkeypatch.setattr(events, "_PIECE_VALUES", 130 * 100)
    monkeypatch.setattr(events, "_PIECE_OVERLAP", 1000)
    z = recording
    lazy = detect_waves(z, n_surrogates=5, seed=1)
    eager = detect_waves(z.compute(), n_surrogates=5, seed=1)
    _assert_same(lazy, eager)


def test_pieces_with_short_overlaps(recording, monkeypatch):
    """Overlaps shorter than the series: frame-local values still equal exactly (the
    temporal frequency at a piece's last frame reads the next piece's first); the pooled
    slope test sees each piece's series, so labels may differ on some frames."""
    monkeypatch.setattr(events, "_PIECE_VALUES", 200 * 100)
    monkeypatch.setattr(events, "_PIECE_OVERLAP", 150)
    z = recording
    lazy = detect_waves(z, n_surrogates=0)
    eager = detect_waves(z.compute(), n_surrogates=0)
    for name in LOCAL:  # (fits vectorised over other frames: rounding apart)
        np.testing.assert_allclose(lazy[f"frame_{name}"].values,
                                   eager[f"frame_{name}"].values, rtol=1e-12, atol=1e-14,
                                   err_msg=name)
    # the clear plane wave: the same event, its ends within a few frames
    assert lazy["pattern"].values[0] == eager["pattern"].values[0] == "planar"
    for end in ("start", "stop"):
        np.testing.assert_allclose(lazy[end].values[0], eager[end].values[0], atol=0.05)
    # the long wave (near-synchronous: planar only by the gradient's evidence over many
    # frames) is the borderline case: with these short overlaps it comes out synchronous
    assert lazy.sizes["event"] == eager.sizes["event"] == 2
    same = lazy["frame_pattern"].values == eager["frame_pattern"].values
    assert same[:400].mean() >= 0.97


def test_long_recording_null_reads_windows(recording, monkeypatch):
    """A streamed input too long to read whole: shuffles of windows read from the lazy
    recording equal the in-memory scan's (the windows fit the bound); phase nulls are
    made of the windows themselves, each chunk computed about once."""
    z = recording
    eager = detect_waves(z.compute(), n_surrogates=9, seed=4, surrogate="shuffle")
    monkeypatch.setattr(events, "_LAZY_WHOLE_VALUES", 0)
    lazy = detect_waves(z, n_surrogates=9, seed=4, surrogate="shuffle")
    np.testing.assert_array_equal(lazy["p_value"].values, eager["p_value"].values)
    computed = []
    real = _chunks.TimeReader.read

    def counted(self, a, b):
        out = real(self, a, b)
        computed.append(self.computed)
        return out

    monkeypatch.setattr(_chunks.TimeReader, "read", counted)
    monkeypatch.setattr(events, "_LAZY_WINDOW_VALUES", 100 * 100)
    lazy = detect_waves(z, n_surrogates=9, seed=4)
    significance = json.loads(lazy.attrs["significance"])
    info = significance["per_trial"][0]
    assert info["windows_of_the_recording"]
    width = info["frames_per_surrogate"]["multivariate"]
    assert width == max(events._SCAN_MIN * significance["min_frames"], 100) < z.sizes["time"]
    # as many frames as the in-memory scan: 9 whole surrogates
    assert info["surrogates_scanned"]["multivariate"] == int(np.ceil(9 * 620 / width))
    n_chunks = len(z.chunks[0])
    # the frame pass computes every chunk once, and so does the scan of the windows
    assert computed[-1] <= 2 * n_chunks + 2
    p = lazy["p_value"].values
    assert np.isfinite(p).all() and (p <= 1).all()


@pytest.fixture(scope="module")
def raw():
    """A real recording streamed from its chunks (1600 frames in chunks of 480, more than
    the filter's pads of 424), a plane wave across the first border."""
    sim = ws.simulate
    where, seg = (8, 8), dict(sfreq=100.0, frequency=9.0)
    da = sim.sequence(sim.noise(where, n_times=400, sfreq=100.0, seed=6),
                      sim.plane_wave(where, n_times=200, speed=60.0, direction=2.0,
                                     noise=0.3, seed=7, **seg),
                      sim.noise(where, n_times=1000, sfreq=100.0, seed=8))
    return da.chunk(time=480)


def test_a_real_recording_streams_through_its_analytic_signal(raw):
    lazy = detect_waves(raw, (4.0, 16.0), n_surrogates=5, seed=0)
    eager = detect_waves(analytic_signal(raw, (4.0, 16.0)).compute(), n_surrogates=5, seed=0)
    _assert_same(lazy, eager)
    planar = lazy["pattern"].values == "planar"
    assert ((lazy["start"].values[planar] < 4.8) & (lazy["stop"].values[planar] > 4.8)).any()


def test_space_split_across_chunks_is_a_guided_error(raw):
    with pytest.raises(ws.DataModelError, match=r"whole frames.*'y'.*da.chunk"):
        detect_waves(raw.chunk(y=4), (4.0, 16.0), n_surrogates=0)


def test_detect_waves_validates_once(recording, monkeypatch):
    """One check per call, in memory (the phase null included) and streamed."""
    import wavescope.analysis._common as common

    calls = []
    real = common.validate
    monkeypatch.setattr(common, "validate", lambda *a, **k: calls.append(1) or real(*a, **k))
    detect_waves(recording.compute(), n_surrogates=3)
    assert len(calls) == 1
    detect_waves(recording, n_surrogates=3)
    assert len(calls) == 2


def test_a_dead_border_is_cut_as_in_memory(recording):
    """A grid column without any valid sample (outside a cranial window) is seen once the
    chunks were computed; the frames are then decided again without it."""
    values = recording.values.copy()
    values[..., -1] = np.nan
    z = recording.compute().copy(data=values)
    lazy = detect_waves(z.chunk(time=CHUNK), n_surrogates=3, seed=0)
    eager = detect_waves(z, n_surrogates=3, seed=0)
    _assert_same(lazy, eager)
