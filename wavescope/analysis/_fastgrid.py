"""Fast path of the streaming gradient statistics on uniform, non-periodic 2-D grids.

The arithmetic of :func:`wavescope.analysis._geometry.axis_derivative` (the mean of the
two wrapped one-sided differences, one-sided at the edges), laid out for speed, which on
long recordings is set by the number of passes over memory:

- each block of frames is flattened, so every pass is one contiguous 1-D NumPy loop: the
  differences along ``x`` are neighbours in the flat block, along ``y`` values ``nx``
  apart; the few that straddle a row or a frame are overwritten by the edge rule;
- the real and imaginary parts are copied apart first, so ``arctan2`` reads contiguous
  data;
- phases are kept in turns (cycles), where wrapping a difference is ``d - rint(d)`` (two
  passes instead of four); the factor 2 pi joins the final scale. This agrees with the
  same arithmetic in radians within a few units in the last place of pi (2e-15 rad
  in float64);
- the work runs in sub-blocks of about ``SUB_VALUES`` values through buffers (and views
  of them) made once per call.

Blocks holding a NaN are left to the general path, which handles missing sites; the
caller checks the returned flag (``gradient``) or the NaN sums (``sums``).
"""

from __future__ import annotations

import numpy as np

from ._circular import TWO_PI

_INV_TWO_PI = 1.0 / TWO_PI
#: Values per sub-block: fewer, longer NumPy calls against buffers that stay in cache.
SUB_VALUES = 1 << 16


class GridStats:
    """Per-frame sums of dphi/dx, dphi/dy and |grad phi| over a uniform grid."""

    def __init__(self, block: int, ny: int, nx: int, hy: float, hx: float, dtype):
        self.hx, self.hy = float(hx), float(hy)
        self.ny, self.nx = ny, nx
        self.dtype = f = np.dtype(dtype)
        self.sub = max(1, min(block, SUB_VALUES // (ny * nx)))  # frames per sub-block
        m = self.sub * ny * nx
        self.parts = np.zeros(2 * m, f)  # real | imaginary parts, then rint of the steps
        self.phi = np.zeros(m, f)
        self.d = np.zeros(2 * m, f)  # steps along x | along y
        self.g = np.zeros(2 * m, f)  # 2h dphi/dx | 2h dphi/dy, in turns
        self._plans: dict[int, _Plan] = {}

    def gradient(self, z: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> bool:
        """Write dphi/dx, dphi/dy of a (b, ny, nx) block into ``gx``, ``gy``; False when
        the block holds a missing value (then use the general path for it)."""
        sx, sy = TWO_PI * 0.5 / self.hx, TWO_PI * 0.5 / self.hy
        for start in range(0, z.shape[0], self.sub):
            sl = slice(start, start + self.sub)
            p = self._two_h_gradient(z[sl])
            if np.isnan(p.phi.sum()):
                return False
            np.multiply(p.gx3, sx, out=gx[sl])
            np.multiply(p.gy3, sy, out=gy[sl])
        return True

    def sums(self, z: np.ndarray):
        """(sum gx, sum gy, sum |g|) per frame of a (b, ny, nx) block; NaN marks frames
        that hold a missing value (recompute those with the general path)."""
        b = z.shape[0]
        out = np.empty((3, b), self.dtype)
        sx, sy = 0.5 / self.hx, 0.5 / self.hy
        for start in range(0, b, self.sub):
            sl = slice(start, start + self.sub)
            p = self._two_h_gradient(z[sl])
            if sx != sy:  # equal steps: scale the sums instead of every site
                p.gy *= sy / sx
            np.multiply(p.gx, p.gx, out=p.mag)  # phi and the steps are free by now
            np.multiply(p.gy, p.gy, out=p.tmp)
            p.mag += p.tmp
            np.sqrt(p.mag, out=p.mag)
            out[0, sl] = p.gx_frames.sum(axis=1)
            out[1, sl] = p.gy_frames.sum(axis=1)
            out[2, sl] = p.mag_frames.sum(axis=1)
        out *= sx * TWO_PI
        return out[0], out[1], out[2]

    def _plan(self, b: int) -> _Plan:
        if b not in self._plans:
            self._plans[b] = _Plan(self, b)
        return self._plans[b]

    def _two_h_gradient(self, z: np.ndarray) -> _Plan:
        """2h dphi/dx and 2h dphi/dy in turns (``plan.gx``, ``plan.gy``) of a
        sub-block: sums of the two wrapped one-sided steps, doubled one-sided at the
        edges."""
        p = self._plan(z.shape[0])
        if np.iscomplexobj(z):
            np.copyto(p.re3, z.real)
            np.copyto(p.im3, z.imag)
            np.arctan2(p.im, p.re, out=p.phi)
            if not (p.re.all() or p.im.all()):  # an exact zero has no phase (NaN)
                p.phi[(p.re == 0) & (p.im == 0)] = np.nan
            p.phi *= _INV_TWO_PI
        else:
            np.multiply(z, _INV_TWO_PI, out=p.phi3)
        np.subtract(p.phi_next, p.phi_prev, out=p.dx_out)
        np.subtract(p.phi_below, p.phi_above, out=p.dy_out)
        p.dx_tail.fill(0.0)  # steps across a frame's end: unused, kept finite
        p.dy_tail.fill(0.0)
        np.rint(p.d, out=p.q)
        p.d -= p.q
        np.add(p.dx_right, p.dx_left, out=p.gx_inner)
        np.add(p.dy_below, p.dy_above, out=p.gy_inner)
        for d, g in p.edges:
            np.multiply(d, 2.0, out=g)
        return p


class _Plan:
    """Views of a :class:`GridStats`' buffers for a sub-block of ``b`` frames, made once
    (slicing costs about as much as a pass over a small block)."""

    def __init__(self, s: GridStats, b: int):
        ny, nx = s.ny, s.nx
        m = b * ny * nx
        shape = (b, ny, nx)
        self.re, self.im = s.parts[:m], s.parts[m:2 * m]
        self.re3, self.im3 = self.re.reshape(shape), self.im.reshape(shape)
        self.phi = s.phi[:m]
        self.phi3 = self.phi.reshape(shape)
        self.phi_next, self.phi_prev = self.phi[1:], self.phi[:-1]
        self.phi_below, self.phi_above = self.phi[nx:], self.phi[:-nx]
        self.d, self.q = s.d[:2 * m], s.parts[:2 * m]
        dx, dy = self.d[:m], self.d[m:]
        self.dx_out, self.dy_out = dx[:-1], dy[:-nx]
        self.dx_tail, self.dy_tail = dx[-1:], dy[-nx:]
        g = s.g[:2 * m]
        self.gx, self.gy = g[:m], g[m:]
        self.gx3, self.gy3 = self.gx.reshape(shape), self.gy.reshape(shape)
        self.dx_right, self.dx_left, self.gx_inner = dx[1:m - 1], dx[:m - 2], self.gx[1:m - 1]
        self.dy_below, self.dy_above = dy[nx:m - nx], dy[:m - 2 * nx]
        self.gy_inner = self.gy[nx:m - nx]
        # edges: along x the first and last column of every row (rows of the flat block),
        # along y the first and last row of every frame
        dxr, gxr = dx.reshape(b * ny, nx), self.gx.reshape(b * ny, nx)
        dyf, gyf = dy.reshape(b, ny * nx), self.gy.reshape(b, ny * nx)
        self.edges = ((dxr[:, 0], gxr[:, 0]), (dxr[:, nx - 2], gxr[:, nx - 1]),
                      (dyf[:, :nx], gyf[:, :nx]),
                      (dyf[:, (ny - 2) * nx:(ny - 1) * nx], gyf[:, (ny - 1) * nx:]))
        self.mag, self.tmp = self.phi, dx
        frames = (b, ny * nx)
        self.gx_frames, self.gy_frames = self.gx.reshape(frames), self.gy.reshape(frames)
        self.mag_frames = self.mag.reshape(frames)
