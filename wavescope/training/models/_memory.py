"""Large state buffers backed by transparent huge pages where the OS offers them.

A recurrence that keeps every state (the Wave-RNN at sequential-MNIST size: 1.6 GB per
call) gets fresh memory from the OS at each call, and the kernel faults it in 4 KiB at a
time, zeroing each page: about a quarter of a training step. Asking for transparent huge
pages (``madvise(MADV_HUGEPAGE)``) before the first write lets each fault map 2 MiB
instead. This is what PyTorch's own ``THP_MEM_ALLOC_ENABLE=1`` does for every allocation,
applied here to the one buffer that matters, without an environment variable.

Only Linux has the call; elsewhere, or when it fails (THP disabled, a sandbox without the
call), the buffer is an ordinary one.

:class:`StatePool` avoids the faults altogether in a training loop: it keeps the buffer of
one call for the next, so only the first step pays for fresh pages.
"""

from __future__ import annotations

import ctypes
import math
import sys

import torch

__all__ = ["StatePool", "empty_huge"]

_HUGE_PAGE = 2 * 1024 * 1024
_MADV_HUGEPAGE = 14  # <linux/mman.h>
_MIN_BYTES = 32 * _HUGE_PAGE  # below this the page faults do not matter

_madvise = None
if sys.platform.startswith("linux"):
    try:
        _madvise = ctypes.CDLL(None, use_errno=True).madvise
        _madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        _madvise.restype = ctypes.c_int
    except (OSError, AttributeError):  # no libc symbol: plain buffers
        _madvise = None


def empty_huge(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """An uninitialised tensor of ``shape`` with ``like``'s dtype and device.

    Large CPU buffers are advised to use transparent huge pages before anything is written
    to them; the contents and semantics are those of ``like.new_empty(shape)``.
    """
    out = like.new_empty(shape)
    if _madvise is None or out.device.type != "cpu" or out.nbytes < _MIN_BYTES:
        return out
    start = out.data_ptr()
    first = -(-start // _HUGE_PAGE) * _HUGE_PAGE  # huge pages must start 2 MiB-aligned
    length = (start + out.nbytes - first) // _HUGE_PAGE * _HUGE_PAGE
    if length > 0:
        _madvise(first, length, _MADV_HUGEPAGE)  # advice only: a failure changes nothing
    return out


class StatePool:
    """One state buffer kept between calls of a recurrence, for the next call to reuse.

    :meth:`take` hands out the kept buffer (or a new one when the kept one is too small or
    of another dtype or device) and forgets it, so two calls in flight
    never share a buffer; :meth:`give` keeps a buffer no one will read again (after the
    backward pass). A graph kept for a second backward (``retain_graph=True``) whose buffer
    was reused meanwhile fails torch's check that saved tensors were not modified in place,
    instead of computing wrong gradients. Copies and pickles of a model start empty.
    """

    def __init__(self):
        self._flat = None

    def take(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """An uninitialised (contiguous) tensor of ``shape`` with ``like``'s dtype and device."""
        flat, self._flat = self._flat, None
        need = math.prod(shape)
        if flat is None or flat.dtype != like.dtype or flat.device != like.device \
                or flat.numel() < need:
            del flat  # freed before the new buffer is allocated
            # No huge-page advice: its faults are paid once here, and on a fragmented
            # machine the advice can stall the first step for seconds in compaction.
            return like.new_empty(shape)
        return flat[:need].view(shape)

    def give(self, buf: torch.Tensor) -> None:
        """Keep ``buf`` (from :meth:`take`) for the next call."""
        base = buf if buf._base is None else buf._base
        self._flat = base.view(-1)

    def __reduce__(self):
        return (StatePool, ())
