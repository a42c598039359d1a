"""Huge-page state buffers: same tensor semantics, advice aimed inside the buffer."""

import pytest
import torch

from wavescope.training.models import _memory


def test_small_buffer_is_plain_and_writable():
    like = torch.zeros(1, dtype=torch.float64)
    out = _memory.empty_huge((3, 5), like=like)
    assert out.shape == (3, 5) and out.dtype == torch.float64 and out.device == like.device
    out.fill_(2.0)
    assert float(out.sum()) == 30.0


def test_large_buffer_advice_is_aligned_and_inside(monkeypatch):
    calls = []
    monkeypatch.setattr(_memory, "_madvise", lambda *a: calls.append(a) or 0)
    like = torch.zeros(1)
    shape = (7, 3, _memory._MIN_BYTES // 4 // 21 + 13)  # just past the threshold, odd size
    out = _memory.empty_huge(shape, like=like)
    assert out.shape == shape and out.dtype == torch.float32
    (start, length, advice), = calls
    huge = _memory._HUGE_PAGE
    assert advice == _memory._MADV_HUGEPAGE
    assert start % huge == 0 and length % huge == 0 and length > 0
    assert out.data_ptr() <= start and start + length <= out.data_ptr() + out.nbytes
    # Everything but the unaligned ends is advised.
    assert out.nbytes - length < 2 * huge
    out.fill_(1.0)
    assert float(out[-1, -1, -1]) == 1.0


def test_failed_advice_changes_nothing(monkeypatch):
    monkeypatch.setattr(_memory, "_madvise", lambda *a: -1)
    out = _memory.empty_huge((_memory._MIN_BYTES // 4 + 1,), like=torch.zeros(1))
    out.zero_()
    assert float(out.abs().sum()) == 0.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_wavernn_states_unchanged_by_huge_pages(monkeypatch, dtype):
    # The same forward with the advice switched off gives bit-identical states.
    from wavescope.training.models import WaveRNN

    torch.manual_seed(0)
    model = WaveRNN(1, 3, n=64, channels=4).to(dtype)
    x = torch.rand(8, 50, 1, dtype=dtype)
    monkeypatch.setattr(_memory, "_MIN_BYTES", 0)  # advise even this small buffer
    out, hidden = model(x, return_hidden=True)
    monkeypatch.setattr(_memory, "_madvise", None)
    out2, hidden2 = model(x, return_hidden=True)
    assert torch.equal(hidden, hidden2) and torch.equal(out, out2)
