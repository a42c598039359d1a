"""Fast path of the streaming gradient statistics on uniform, non-periodic 2-D grids.

Same arithmetic as :func:`wavescope.analysis._geometry.axis_derivative` (the mean of the
two wrapped one-sided differences, one-sided at the edges), but every temporary lives in
buffers allocated once per call: on long recordings, fresh large temporaries (page
faults) and extra passes cost more than the arithmetic. Blocks holding a NaN are left to
the general path, which handles missing sites; the caller checks the returned mask.
"""

from __future__ import annotations

import numpy as np

from ._circular import TWO_PI, angle

_INV_TWO_PI = 1.0 / TWO_PI


class GridStats:
    """Per-frame sums of dphi/dx, dphi/dy and |grad phi| over a uniform grid."""

    def __init__(self, block: int, ny: int, nx: int, hy: float, hx: float, dtype):
        self.hx, self.hy = float(hx), float(hy)
        f = np.dtype(dtype)
        full = (block, ny, nx)
        self.phi = np.empty(full, f)
        self.work = (np.empty(full, f), np.empty(full, f), np.empty(full, f),
                     np.empty(full, bool))
        self.gx = np.empty(full, f)
        self.gy = np.empty(full, f)
        self.dx = np.empty((block, ny, nx - 1), f)
        self.dy = np.empty((block, ny - 1, nx), f)

    def sums(self, z: np.ndarray):
        """(sum gx, sum gy, sum |g|) per frame of a (b, ny, nx) block; NaN marks frames
        that hold a missing value (recompute those with the general path)."""
        b = z.shape[0]
        phi, gx, gy = self.phi[:b], self.gx[:b], self.gy[:b]
        work = tuple(w[:b] for w in self.work)
        if np.iscomplexobj(z):
            angle(z, out=phi, work=work)
        else:
            phi[...] = z
        _two_h_derivative(phi, self.dx[:b], gx, axis=2, tmp=work[0][:, :, 1:])
        _two_h_derivative(phi, self.dy[:b], gy, axis=1, tmp=work[0][:, 1:, :])
        sx, sy = 0.5 / self.hx, 0.5 / self.hy
        if sx != sy:  # equal steps: scale the sums instead of every site
            gy *= sy / sx
        mag = work[1]
        np.multiply(gx, gx, out=mag)
        np.multiply(gy, gy, out=work[2])
        mag += work[2]
        np.sqrt(mag, out=mag)
        flat = (b, -1)
        return (gx.reshape(flat).sum(axis=1) * sx, gy.reshape(flat).sum(axis=1) * sx,
                mag.reshape(flat).sum(axis=1) * sx)


def _two_h_derivative(phi, d, g, *, axis: int, tmp) -> None:
    """``g`` = 2h dphi/d(axis): sum of the two wrapped one-sided differences (doubled
    one-sided difference at the edges)."""
    n = phi.shape[axis]
    lo = [slice(None)] * 3
    hi = [slice(None)] * 3
    lo[axis], hi[axis] = slice(0, n - 1), slice(1, n)
    np.subtract(phi[tuple(hi)], phi[tuple(lo)], out=d)
    np.multiply(d, _INV_TWO_PI, out=tmp)
    np.rint(tmp, out=tmp)
    tmp *= TWO_PI
    d -= tmp
    inner = [slice(None)] * 3
    inner[axis] = slice(1, n - 1)
    dlo, dhi = [slice(None)] * 3, [slice(None)] * 3
    dlo[axis], dhi[axis] = slice(0, n - 2), slice(1, n - 1)
    np.add(d[tuple(dhi)], d[tuple(dlo)], out=g[tuple(inner)])
    first, last = [slice(None)] * 3, [slice(None)] * 3
    first[axis], last[axis] = slice(0, 1), slice(n - 1, n)
    dfirst, dlast = [slice(None)] * 3, [slice(None)] * 3
    dfirst[axis], dlast[axis] = slice(0, 1), slice(n - 2, n - 1)
    np.multiply(d[tuple(dfirst)], 2.0, out=g[tuple(first)])
    np.multiply(d[tuple(dlast)], 2.0, out=g[tuple(last)])
