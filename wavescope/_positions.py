"""3-D sensor positions onto the plane the analysis works in (private).

Planar arrays (ECoG grids, Utah arrays, a sheet of imaging pixels) go onto their
best-fitting plane: the plane through the centroid whose normal is the direction of least
spread (the last right-singular vector of the centred positions). In-plane distances are
kept exactly for positions on the plane, so the array's pitch and a wave's direction and
speed along it are preserved wherever the plane sits and however it is tilted.

In-plane axes, fixed so that the result does not depend on the order of the sensors or
on the sign SVD returns: of the head frame's axes (x right, y nose, z up) drop the one
most aligned with the plane's normal; the other two, ``a`` then ``b`` in the order x, y,
z, give the axes: ``e1`` is ``a`` projected onto the plane, ``e2`` is ``b`` projected and
made orthogonal to ``e1``. So an array lying flat (normal near z) gets ``x`` along head
+x and ``y`` along head +y; one on the lateral surface (normal near x) gets ``x`` along
+y (towards the nose) and ``y`` along +z (up); one on a frontal or occipital surface
(normal near y) gets ``x`` along +x and ``y`` along +z. Positions are in metres from the
centroid.
"""

from __future__ import annotations

import warnings

import numpy as np

from .core import DataModelError, WavescopeWarning

#: Out-of-plane spread (RMS, as a share of the in-plane extent) above which the positions
#: are reported as not planar: distances along a curved array shrink when flattened.
_CURVED = 0.05


def plane_positions(pos3d: np.ndarray) -> tuple[np.ndarray, dict]:
    """In-plane (x, y) of 3-D positions, and a JSON-safe description of the plane.

    Parameters
    ----------
    pos3d : ndarray, shape (n, 3)
        Positions in metres (any Cartesian frame whose axes are the head's).

    Returns
    -------
    xy : ndarray, shape (n, 2)
        Coordinates along ``e1``, ``e2`` from the centroid, metres.
    info : dict
        ``kind`` "plane", ``centre_m``, ``e1``, ``e2``, ``normal`` (unit vectors in the
        input frame) and ``rms_out_of_plane_m``.
    """
    pos3d = np.asarray(pos3d, dtype=float)
    centre = pos3d.mean(axis=0)
    rel = pos3d - centre
    _, sv, vt = np.linalg.svd(rel, full_matrices=False)
    if sv.size < 2 or sv[1] <= 1e-9 * max(sv[0], np.finfo(float).tiny):
        raise DataModelError(
            "the sensor positions lie on a line (or a point); a plane needs at least three "
            "positions not on one line: use projection='none' to keep them as they are"
        )
    normal = vt[-1] / np.linalg.norm(vt[-1])
    axes = np.eye(3)
    keep = [i for i in range(3) if i != int(np.argmax(np.abs(normal)))]
    a, b = axes[keep[0]], axes[keep[1]]
    e1 = a - (a @ normal) * normal
    e1 /= np.linalg.norm(e1)
    e2 = b - (b @ normal) * normal - (b @ e1) * e1
    e2 /= np.linalg.norm(e2)
    xy = np.column_stack([rel @ e1, rel @ e2])
    off = rel @ normal
    rms = float(np.sqrt(np.mean(off**2)))
    extent = float(np.ptp(xy, axis=0).max())
    if rms > _CURVED * extent:
        warnings.warn(
            f"the sensor positions are not planar (RMS {rms * 1e3:.3g} mm off their best plane "
            f"for an extent of {extent * 1e3:.3g} mm); distances along a curved array shrink "
            "when flattened: use projection='sphere' for scalp-like layouts",
            WavescopeWarning, stacklevel=3,
        )
    info = {
        "kind": "plane (best-fitting, by SVD; in-plane axes from the head axes)",
        "centre_m": centre.tolist(), "e1": e1.tolist(), "e2": e2.tolist(),
        "normal": normal.tolist(), "rms_out_of_plane_m": rms, "units": "m",
    }
    return xy, info
