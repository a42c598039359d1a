"""Drums: the fixed Neural Wave Machine cell on a shape, and hearing its area.

"Can one hear the shape of a drum?" A drum here is the NWM cell (Jacobs et al. 2025) with its
coupling kernel fixed to ``c**2`` times the discrete Laplacian ``[[0,1,0],[1,-4,1],[0,1,0]]``,
natural frequency and damping zero (ω = α = 0) inside a binary mask, and the field clamped
to zero outside it (Dirichlet boundary). Started from a displacement inside the shape, every
site then rings with the eigenfrequencies of the mask's discrete Laplacian, and the
fundamental frequency tells the area.

Shape makers (:func:`square`, :func:`rectangle`, :func:`disc`, :func:`polygon`) return
boolean masks on a pixel grid with at least one empty pixel around the shape;
:func:`drum` simulates a batch of masks at once and returns a model activity;
:func:`fundamental_frequency` measures the fundamental from the drum's own spectrum;
:func:`area_from_frequency` inverts it to an area (derivation in its docstring).
Positions are in pixels; time is ``(step + 1) * dt`` in model time units.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import xarray as xr
from scipy.special import jn_zeros
from tqdm.auto import tqdm

from .core import from_array, validate

__all__ = [
    "square",
    "rectangle",
    "disc",
    "polygon",
    "drum",
    "fundamental_frequency",
    "area_from_frequency",
    "drum_of_masks",
    "SHAPE_CONSTANTS",
]

#: Continuum Dirichlet constants per shape: ``(lambda_1 * area, area / inradius**2)``.
#: lambda_1 * area: square 2 pi^2, disc pi j_01^2, equilateral triangle 4 pi^2 / sqrt(3)
#: (closed forms); area / inradius^2 = n tan(pi / n) for a regular n-gon, pi for a disc.
SHAPE_CONSTANTS = {
    "square": (2 * np.pi**2, 4.0),
    "disc": (np.pi * jn_zeros(0, 1)[0] ** 2, np.pi),
    "triangle": (4 * np.pi**2 / np.sqrt(3), 3 * np.sqrt(3)),
}


# --------------------------------------------------------------------------- shapes


def _int(name, value, minimum=1) -> int:
    if not isinstance(value, Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _size(size, default) -> tuple[int, int]:
    if size is None:
        return default
    if isinstance(size, Integral):
        size = (size, size)
    ny, nx = (_int("size", s) for s in size)
    return ny, nx


def _check_border(mask: np.ndarray, what: str) -> np.ndarray:
    if not mask.any():
        raise ValueError(f"the {what} holds no pixel; make it larger")
    if mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any():
        raise ValueError(
            f"the {what} touches the edge of its {mask.shape} grid; give a larger size so a "
            "one-pixel empty border surrounds it"
        )
    return mask


def square(side: int, size=None) -> np.ndarray:
    """A filled ``side`` x ``side`` square, centred.

    Parameters
    ----------
    side : int
        Side length in pixels (the area is ``side**2`` pixels).
    size : int or (ny, nx), optional
        Grid shape; default ``side + 2`` (a one-pixel empty border).

    Returns
    -------
    numpy.ndarray of bool, shape (ny, nx)

    Examples
    --------
    >>> from wavescope import drums
    >>> mask = drums.square(3, size=5)
    >>> print(mask.astype(int))
    [[0 0 0 0 0]
     [0 1 1 1 0]
     [0 1 1 1 0]
     [0 1 1 1 0]
     [0 0 0 0 0]]
    """
    side = _int("side", side)
    return rectangle(side, side, size=size)


def rectangle(height: int, width: int, size=None) -> np.ndarray:
    """A filled ``height`` x ``width`` rectangle (rows x columns), centred.

    Parameters
    ----------
    height, width : int
        Side lengths in pixels, along y and x.
    size : int or (ny, nx), optional
        Grid shape; default ``(height + 2, width + 2)``.

    Returns
    -------
    numpy.ndarray of bool, shape (ny, nx)

    Examples
    --------
    >>> from wavescope import drums
    >>> mask = drums.rectangle(2, 4, size=6)
    >>> print(mask.shape, int(mask.sum()))
    (6, 6) 8
    """
    height, width = _int("height", height), _int("width", width)
    ny, nx = _size(size, (height + 2, width + 2))
    if ny < height + 2 or nx < width + 2:
        raise ValueError(
            f"size {(ny, nx)} cannot hold a {height}x{width} rectangle with a one-pixel border; "
            f"use at least {(height + 2, width + 2)}"
        )
    mask = np.zeros((ny, nx), dtype=bool)
    y0, x0 = (ny - height) // 2, (nx - width) // 2
    mask[y0 : y0 + height, x0 : x0 + width] = True
    return mask


def _centre_grid(size, centre):
    ny, nx = size
    cx, cy = ((nx - 1) / 2, (ny - 1) / 2) if centre is None else map(float, centre)
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    return xx - cx, yy - cy


def _inside_polygon(x, y, n_sides, radius, rotation):
    # Pixel centres inside a convex polygon: on the left of every edge (counter-clockwise).
    angles = rotation + 2 * np.pi * np.arange(n_sides) / n_sides
    vx, vy = radius * np.cos(angles), radius * np.sin(angles)
    inside = np.ones(x.shape, dtype=bool)
    for j in range(n_sides):
        x0, y0, x1, y1 = vx[j], vy[j], vx[(j + 1) % n_sides], vy[(j + 1) % n_sides]
        inside &= (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0) >= -1e-9 * radius
    return inside


def _match_area(make, area: float, r_max: float) -> float:
    """Smallest radius whose mask has the pixel count closest to ``area``.

    Masks of convex shapes scaled about a fixed centre are nested, so the pixel count grows
    monotonically with the radius and bisection finds the switching radii.
    """
    lo, hi = 0.0, r_max
    for _ in range(60):  # radius where the count first reaches area
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if make(mid).sum() < area else (lo, mid)
    below, above = make(lo).sum(), make(hi).sum()
    return lo if abs(below - area) < abs(above - area) else hi


def disc(radius: float | None = None, *, area: float | None = None, size=None,
         centre=None) -> np.ndarray:
    """A filled disc: the pixels whose centres lie within ``radius`` of ``centre``.

    Parameters
    ----------
    radius : float, optional
        Radius in pixels. Give this or ``area``.
    area : float, optional
        Target area in pixels: the radius is chosen so that the pixel count is as close to
        ``area`` as possible (shapes of "equal area" then hold equally many pixels). About
        a centre of symmetry (the default grid middle) pixels come in groups of 4 or 8;
        a sub-pixel ``centre`` lets the count move one pixel at a time.
    size : int or (ny, nx), optional
        Grid shape; default the smallest square with a one-pixel empty border.
    centre : (x, y), optional
        Centre in pixel coordinates (column, row); default the middle of the grid.
        Sub-pixel centres change which pixels are in.

    Returns
    -------
    numpy.ndarray of bool, shape (ny, nx)

    Examples
    --------
    >>> from wavescope import drums
    >>> mask = drums.disc(3.0)
    >>> print(mask.shape, int(mask.sum()))
    (9, 9) 29
    """
    return _radial_shape(lambda x, y, r: x**2 + y**2 <= r**2 * (1 + 1e-12), np.sqrt(np.pi),
                         radius, area, size, centre, "disc")


def polygon(n_sides: int, radius: float | None = None, *, area: float | None = None,
            rotation: float = 0.0, size=None, centre=None) -> np.ndarray:
    """A filled regular polygon: the pixels whose centres lie inside it.

    Parameters
    ----------
    n_sides : int
        Number of sides, at least 3 (3 triangle, 4 square, 6 hexagon, ...).
    radius : float, optional
        Circumradius in pixels. Give this or ``area``.
    area : float, optional
        Target area in pixels: the circumradius is chosen so that the pixel count is as close
        to ``area`` as possible.
    rotation : float
        Angle of the first vertex, radians counter-clockwise from +x in the grid's (x, y)
        coordinates (y grows with the row index). ``polygon(4, rotation=pi/4)`` is an
        axis-aligned square.
    size : int or (ny, nx), optional
        Grid shape; default the smallest square with a one-pixel empty border.
    centre : (x, y), optional
        Centre in pixel coordinates; default the middle of the grid.

    Returns
    -------
    numpy.ndarray of bool, shape (ny, nx)

    Examples
    --------
    >>> from wavescope import drums
    >>> mask = drums.polygon(6, area=100.0)
    >>> print(int(mask.sum()))
    102
    """
    n_sides = _int("n_sides", n_sides, minimum=3)
    rotation = float(rotation)
    # area of the polygon of circumradius r is (n/2) sin(2 pi / n) r^2
    scale = np.sqrt(n_sides / 2 * np.sin(2 * np.pi / n_sides))
    return _radial_shape(lambda x, y, r: _inside_polygon(x, y, n_sides, r, rotation), scale,
                         radius, area, size, centre, f"{n_sides}-sided polygon")


def _radial_shape(inside, scale, radius, area, size, centre, what):
    if (radius is None) == (area is None):
        raise ValueError(f"give exactly one of radius or area for the {what}")
    if radius is not None:
        radius = float(radius)
        if not np.isfinite(radius) or radius <= 0:
            raise ValueError(f"radius must be a positive number of pixels, got {radius!r}")
        r_guess = radius
    else:
        area = float(area)
        if not np.isfinite(area) or area < 1:
            raise ValueError(f"area must be at least 1 pixel, got {area!r}")
        r_guess = np.sqrt(area) / scale * 1.5 + 2  # a generous upper bound for the search
    n = int(np.ceil(2 * r_guess)) + 3
    shape = _size(size, (n, n))
    x, y = _centre_grid(shape, centre)
    if area is not None:
        radius = _match_area(lambda r: inside(x, y, r), area, r_guess)
    return _check_border(inside(x, y, radius), what)


# --------------------------------------------------------------------------- simulation


def _masks(mask) -> tuple[np.ndarray, bool]:
    arr = np.asarray(mask)
    if arr.ndim not in (2, 3):
        raise ValueError(
            f"mask must be 2-D (ny, nx) or a batch (n, ny, nx), got shape {arr.shape}"
        )
    if arr.dtype != bool:
        if not np.isin(arr, (0, 1)).all():
            raise ValueError("mask must be binary (bool, or 0/1 values)")
        arr = arr.astype(bool)
    batch = arr.ndim == 3
    arr = arr if batch else arr[None]
    empty = ~arr.reshape(len(arr), -1).any(axis=1)
    if empty.any():
        raise ValueError(f"masks {np.flatnonzero(empty).tolist()} hold no pixel")
    return arr, batch


def _initial(init, masks, amplitude, width, seed) -> np.ndarray:
    n, ny, nx = masks.shape
    if isinstance(init, str):
        if init == "uniform":
            y0 = np.ones(masks.shape)
        elif init == "bump":
            # Gaussian at each shape's centroid: positive, so the fundamental is excited.
            yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
            cy = (masks * yy).sum((1, 2)) / masks.sum((1, 2))
            cx = (masks * xx).sum((1, 2)) / masks.sum((1, 2))
            w = np.sqrt(masks.sum((1, 2)) / np.pi) / 2 if width is None else np.full(n, width)
            d2 = (yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2
            y0 = np.exp(-d2 / (2 * w[:, None, None] ** 2))
        elif init == "random":
            from scipy.ndimage import gaussian_filter

            rng = np.random.default_rng(seed)
            w = 2.0 if width is None else float(width)
            y0 = gaussian_filter(rng.standard_normal(masks.shape), sigma=(0, w, w))
        else:
            raise ValueError(
                f"init must be 'uniform', 'bump', 'random' or an array, got {init!r}"
            )
    else:
        y0 = np.asarray(init, dtype=float)
        if y0.shape not in (masks.shape, masks.shape[1:]):
            raise ValueError(
                f"an init array must have the mask's shape {masks.shape[1:]} or the batch's "
                f"{masks.shape}, got {y0.shape}"
            )
        if not np.isfinite(y0).all():
            raise ValueError("the init array holds NaN or infinite values")
        y0 = np.broadcast_to(y0, masks.shape)
    y0 = np.where(masks, y0, 0.0)
    peak = np.abs(y0).reshape(n, -1).max(axis=1)
    if (peak == 0).any():
        raise ValueError("the initial displacement is zero inside some mask; choose another init")
    return y0 * (amplitude / peak)[:, None, None]


def _tanh(x: np.ndarray, scale: float, scratch: np.ndarray) -> None:
    """``x <- tanh(scale * x)`` in place, as ``expm1(2u) / (expm1(2u) + 2)``.

    Exact to rounding (no cancellation for small u, unlike ``1 - 2 / (exp(2u) + 1)``) and
    about twice as fast as ``np.tanh`` here; |u| is clipped at 20, where tanh is 1 to double
    precision, so expm1 cannot overflow.
    """
    np.multiply(x, 2 * scale, out=x)
    np.clip(x, -40.0, 40.0, out=x)
    np.expm1(x, out=x)
    np.add(x, 2.0, out=scratch)
    np.divide(x, scratch, out=x)


def drum(
    mask,
    n_steps: int,
    dt: float = 0.1,
    *,
    c: float = 1.0,
    init="uniform",
    amplitude: float = 0.01,
    width: float | None = None,
    linear: bool = False,
    record_every: int = 1,
    seed: int | None = None,
    dtype="float32",
    progress: bool = True,
) -> xr.DataArray:
    """Ring a drum: the fixed NWM cell on a binary mask with a Dirichlet boundary.

    The NWM update (Jacobs et al. 2025) with ``W = c**2 * [[0,1,0],[1,-4,1],[0,1,0]]`` and
    ``omega = alpha = 0`` inside the mask; outside it the field stays zero::

        z <- z + dt * tanh(W * y)        (inside the mask)
        y <- y + dt * z

    symplectic Euler, one recorded frame after each update. The grid edge counts as outside
    (zero padding), which equals the NWM's circular padding because every mask made here has
    an empty border.

    The tanh is kept (the drum *is* the NWM cell); for a small ``amplitude`` it is linear to
    within ``(c**2 * |W * y|)**2 / 3``. The Laplacian of a field of height ``a`` is at most
    about ``2 a`` (a corner pixel), so with the default ``amplitude = 0.01`` the restoring force
    departs from linear by < 2e-4 relative, and less where the field is smooth. Measured on
    the fundamental of a 16-pixel square (dt = 0.1, uniform start), the tanh lowers the
    frequency by 9e-6 relative at amplitude 0.01, 9e-4 at 0.1, 0.75 % at 0.3 and 6.4 % at 1
    (it scales as amplitude², and the drum softens as tanh saturates). ``linear=True`` drops
    the tanh: the linear wave equation on the grid, for which :func:`area_from_frequency` is
    exact.

    Parameters
    ----------
    mask : array_like of bool, shape (ny, nx) or (n, ny, nx)
        The drum head(s); a batch is simulated at once (all on one grid).
    n_steps : int
        Number of updates.
    dt : float
        Time step. Stability needs ``c * dt < 1 / sqrt(2)`` (the largest grid eigenvalue is 8).
    c : float
        Wave speed in pixels per unit time (the kernel is ``c**2`` times the Laplacian).
    init : {"uniform", "bump", "random"} or array_like
        Initial displacement ``y0`` inside the mask (the velocity starts at zero):
        "uniform" displaces the whole interior by ``amplitude`` (every mode symmetric under
        the shape's symmetries is excited, the fundamental most of all, since it is the one
        eigenfunction of one sign); "bump" is a Gaussian at the mask's centroid of standard
        deviation ``width`` (default half the radius of the disc of equal area);
        "random" is white noise smoothed by a Gaussian of ``width`` pixels (default 2),
        seeded by ``seed`` (excites all modes, the fundamental not necessarily most). An
        array of the mask's (or the batch's) shape gives ``y0`` directly. Every ``y0`` is
        zeroed outside the mask and scaled so that ``max |y0| = amplitude`` per drum.
    amplitude : float
        Peak initial displacement (a.u.).
    width : float, optional
        Width in pixels of the "bump" and "random" inits.
    linear : bool
        Drop the tanh (linear coupling ``W * y``).
    record_every : int
        Record every ``record_every``-th frame (sampling rate ``1 / (record_every * dt)``).
        With ``dt = 0.1`` the grid's highest frequency (``arcsin(sqrt(2) c dt) / (pi dt)``,
        about 0.46 cycles per time unit) stays below Nyquist up to ``record_every = 10``.
    seed : int, optional
        Seed of the "random" init.
    dtype : str or numpy dtype
        Dtype of the returned field (the simulation runs in float64).
    progress : bool
        Show a tqdm progress bar over steps.

    Returns
    -------
    xarray.DataArray
        The displacement ``y``, dims ``(time, y, x)`` for one mask or ``(trial, time, y, x)``
        for a batch; ``time = (step + 1) * dt`` for the recorded steps, ``sfreq =
        1 / (record_every * dt)``, source "model", space_units "pixel". Coordinates ``mask``
        (the drum heads, int8) and ``area`` (pixels per drum); attrs ``dt``, ``c``, ``init``,
        ``amplitude``, ``linear``, ``boundary = "dirichlet"`` and provenance.

    Examples
    --------
    >>> from wavescope import drums
    >>> ring = drums.drum(drums.square(8), n_steps=400, dt=0.1, record_every=2, progress=False)
    >>> print(ring.dims, ring.sizes["time"])
    ('time', 'y', 'x') 200
    """
    masks, batch = _masks(mask)
    n_steps = _int("n_steps", n_steps)
    record_every = _int("record_every", record_every)
    if n_steps < record_every:
        raise ValueError(f"n_steps {n_steps} is below record_every {record_every}: nothing "
                         "would be recorded")
    for name, value in (("dt", dt), ("c", c), ("amplitude", amplitude)):
        if not isinstance(value, Real) or not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    dt, c, amplitude = float(dt), float(c), float(amplitude)
    if c * dt >= 1 / np.sqrt(2):
        raise ValueError(
            f"c * dt = {c * dt:g} makes the symplectic Euler drum unstable; it needs "
            f"c * dt < 1/sqrt(2) = {1 / np.sqrt(2):.4f} (lower dt)"
        )
    if width is not None and not (np.isfinite(width) and width > 0):
        raise ValueError(f"width must be a positive number of pixels, got {width!r}")
    if np.dtype(dtype).kind != "f":
        raise ValueError(f"dtype must be a floating-point type, got {dtype!r}")
    y0 = _initial(init, masks, amplitude, width, seed)
    n, ny, nx = masks.shape
    n_rec = n_steps // record_every
    out = np.empty((n, n_rec, ny, nx), dtype=dtype)

    # y lives in a zero-padded buffer so the Laplacian is four shifted views, no copies.
    ypad = np.zeros((n, ny + 2, nx + 2))
    y = ypad[:, 1:-1, 1:-1]
    y[...] = y0
    z = np.zeros((n, ny, nx))
    force = np.empty((n, ny, nx))
    scratch = np.empty((n, ny, nx))
    inside = masks.astype(float) * (dt * c**2 if linear else dt)
    for step in tqdm(range(n_steps), disable=not progress, desc="drum", leave=False):
        np.add(ypad[:, :-2, 1:-1], ypad[:, 2:, 1:-1], out=force)
        force += ypad[:, 1:-1, :-2]
        force += ypad[:, 1:-1, 2:]
        force -= 4 * y
        if not linear:
            _tanh(force, c**2, scratch)
        force *= inside  # dt, and zero outside the mask (Dirichlet)
        z += force
        y += dt * z
        if (step + 1) % record_every == 0:
            out[:, (step + 1) // record_every - 1] = y

    init_name = init if isinstance(init, str) else "array"
    attrs = {
        "dt": dt, "c": c, "init": init_name, "amplitude": amplitude, "linear": int(linear),
        "boundary": "dirichlet", "record_every": record_every,
    }
    provenance = {
        "generator": "wavescope.drums.drum",
        "model": "fixed NWM cell, Laplacian kernel, omega = alpha = 0",
        "n_steps": n_steps, "seed": seed, "width": width, **attrs,
    }
    data = out if batch else out[0]
    dims = ("trial", "time", "y", "x") if batch else ("time", "y", "x")
    step_dt = record_every * dt
    da = from_array(data, dims, sfreq=1 / step_dt, t0=step_dt, source="model",
                    space_units="pixel", units="a.u.", name="drum", provenance=provenance)
    da.attrs.update(attrs)
    area = masks.sum(axis=(1, 2))
    mask_coord = masks.astype(np.int8)
    if batch:
        da = da.assign_coords(mask=(("trial", "y", "x"), mask_coord), area=("trial", area))
    else:
        da = da.assign_coords(mask=(("y", "x"), mask_coord[0]), area=int(area[0]))
    return da


# --------------------------------------------------------------------------- area


def fundamental_frequency(da: xr.DataArray, *, pad: int = 4, fmax: float | None = None
                          ) -> xr.DataArray:
    """The fundamental frequency of drum recordings, with sub-bin precision.

    The signal is each drum's mean displacement over its mask (the "sound" of the drum: a
    mode contributes in proportion to its mean, and the fundamental, the only eigenfunction
    of one sign, has the largest). Its power spectrum (Hann window, zero-padded ``pad``-fold)
    has its peak refined by a parabola through the log power of the three highest bins (for
    the Hann main lobe of a pure tone, zero-padded 4-fold, the bias is below 1e-3 bins).
    Started from a "uniform" or "bump" displacement the fundamental dominates, so the peak
    *is* the fundamental.

    Parameters
    ----------
    da : xarray.DataArray
        Output of :func:`drum` (dims ``(trial,) time, y, x``; the ``mask`` coordinate, when
        present, selects the sites, else all sites are averaged).
    pad : int
        Zero-padding factor of the FFT.
    fmax : float, optional
        Ignore power above this frequency (cycles per time unit).

    Returns
    -------
    xarray.DataArray
        Fundamental frequency in cycles per time unit (time = step x dt), one per drum.

    Examples
    --------
    >>> from wavescope import drums
    >>> ring = drums.drum(drums.square(8), n_steps=1000, dt=0.1, record_every=4, progress=False)
    >>> f = float(drums.fundamental_frequency(ring))
    >>> print(round(f, 3), round(drums.area_from_frequency(f, dt=0.1), 1))
    0.078 64.0
    """
    from .analysis.spectral import dominant_frequency

    validate(da)
    pad = _int("pad", pad)
    if not {"y", "x"} <= set(da.dims):
        raise ValueError(f"expected a drum recording with dims (trial,) time, y, x; got {da.dims}")
    if "mask" in da.coords:
        inside = da["mask"].astype(bool)
    else:
        inside = xr.ones_like(da.isel(time=0, drop=True), dtype=bool)
    sound = da.where(inside, 0.0).sum(("y", "x")) / inside.sum(("y", "x"))
    sound.attrs = dict(da.attrs)
    return dominant_frequency(sound, fmax=fmax, window="hann", n_fft=pad * da.sizes["time"])


def area_from_frequency(f, *, dt: float | None = 0.1, c: float = 1.0, shape: str = "square",
                        grid: bool = True, shape_constant=None):
    r"""The area of a drum heard from its fundamental frequency.

    Notes
    -----
    A Dirichlet eigenmode ``u`` of the mask's discrete Laplacian, ``-Δu = λ u``, evolves in
    the (linear) drum as a scalar oscillator ``y'' = -c² λ y``. Symplectic Euler with step
    ``dt`` maps ``(y, z)`` by the matrix ``[[1 - c²λdt², dt], [-c²λdt, 1]]``, of determinant 1
    and trace ``2 - c²λdt²``; its eigenvalues ``exp(±iθ)`` have ``2 cos θ = 2 - c²λdt²``,
    so the mode turns by ``θ = ω dt`` per step with::

        ω = (2 / dt) arcsin(c dt sqrt(λ) / 2),  i.e.  λ = (2 / (c dt))² sin²(π f dt)

    for the measured frequency ``f = ω / 2π`` in cycles per time unit (``dt=None``: the
    continuous-time limit ``λ = (2π f / c)²``). The mode is undamped and never drifts: the
    scheme is exact up to this change of frequency.

    For a square of side ``L`` pixels the discrete Laplacian separates into two 1-D Dirichlet
    chains of ``L`` sites, whose lowest eigenvalue is ``4 sin²(π / (2(L + 1)))`` each, so
    ``λ₁₁ = 8 sin²(π / (2(L + 1)))`` exactly, and::

        L = π / (2 arcsin(sqrt(λ / 8))) - 1,   A = L².

    For large ``L``, ``λ₁₁ ≈ 2π² / (L + 1)²``: the grid drum sounds like the continuous square
    of side ``L + 1``, its boundary half a pixel beyond the outermost pixel centres on each
    side. The continuous formula ``A = 2π²c² / ω²`` ignores that half pixel and
    overestimates the area by ``(1 + 1/L)²`` (38 % at L = 6, 7 % at L = 30).

    Other shapes (``shape="disc"``, ``"triangle"``, or ``shape_constant``) use the
    continuum scaling of Weyl / Faber-Krahn type, ``λ₁ = C / A`` with the shape's constant
    ``C = λ₁ A`` (:data:`SHAPE_CONSTANTS`), and the same half-pixel correction: the pixel
    shape sounds like the continuous shape grown by half a pixel along its inward normal,
    which for a shape with an incircle (discs, regular polygons) scales its inradius ``r`` to
    ``r + 1/2``. With ``κ = A / r²``::

        sqrt(A) = sqrt(C / λ) - sqrt(κ) / 2.

    This is exact to first order for edges along the grid axes and approximate for slanted
    or curved pixel boundaries (staircases): measured on discs of 50 to 700 pixels it is
    within 5 % of the pixel count (``docs/notes/spectral.md``). ``grid=False`` drops the
    correction (``A = C / λ``), for drums much larger than a pixel.

    Parameters
    ----------
    f : float, array_like or xarray.DataArray
        Fundamental frequency in cycles per time unit (time = step x dt), e.g. from
        :func:`fundamental_frequency`.
    dt : float or None
        The drum's time step (the scheme's correction); None for continuous time.
    c : float
        Wave speed in pixels per time unit.
    shape : {"square", "disc", "triangle"}
        The shape family; ignored when ``shape_constant`` is given.
    grid : bool
        Apply the discrete-grid correction.
    shape_constant : (float, float), optional
        ``(λ₁ A, A / r²)`` of another shape family (continuum values).

    Returns
    -------
    float, numpy.ndarray or xarray.DataArray
        Area in pixels, of the same kind as ``f``.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import drums
    >>> lam = 8 * np.sin(np.pi / (2 * (8 + 1))) ** 2  # the lowest eigenvalue of an 8 x 8 square
    >>> f = np.arcsin(0.1 * np.sqrt(lam) / 2) / (np.pi * 0.1)  # its frequency at dt = 0.1, c = 1
    >>> round(drums.area_from_frequency(f, dt=0.1), 6)
    64.0
    """
    if shape_constant is None:
        if shape not in SHAPE_CONSTANTS:
            raise ValueError(
                f"shape must be one of {sorted(SHAPE_CONSTANTS)} (or give shape_constant="
                f"(lambda_1 * area, area / inradius**2)), got {shape!r}"
            )
        C, kappa = SHAPE_CONSTANTS[shape]
    else:
        C, kappa = (float(v) for v in shape_constant)
        shape = "custom"
    for name, value in (("c", c),) + ((("dt", dt),) if dt is not None else ()):
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    is_da = isinstance(f, xr.DataArray)
    fv = f if is_da else np.asarray(f, dtype=float)
    if np.any(fv <= 0):
        raise ValueError("frequencies must be positive (cycles per time unit)")
    if dt is None:
        lam = (2 * np.pi * fv / c) ** 2
    else:
        if np.any(fv * dt >= 0.5):
            raise ValueError(f"frequencies must lie below Nyquist 1 / (2 dt) = {0.5 / dt:g}")
        lam = (2 / (c * dt)) ** 2 * np.sin(np.pi * fv * dt) ** 2
    if shape == "square" and grid:
        if np.any(lam >= 8):
            raise ValueError("a frequency this high belongs to no square drum (lambda >= 8)")
        side = np.pi / (2 * np.arcsin(np.sqrt(lam / 8))) - 1
        area = side**2
    elif grid:
        area = (np.sqrt(C / lam) - np.sqrt(kappa) / 2) ** 2
    else:
        area = C / lam
    if is_da:
        area = area.rename("area_estimate")  # "area" is the drums' true-area coordinate
        area.attrs = {"units": "pixel^2", "shape": shape, "dt": "none" if dt is None else dt,
                      "c": c, "grid_correction": int(grid)}
        return area
    return float(area) if np.ndim(area) == 0 else area


def drum_of_masks(masks, n_steps: int, *, dt: float = 0.1, record_every: int = 5,
                  progress: bool = False) -> xr.DataArray:
    """Ring the fixed drum on each of a batch of image masks (see :func:`drum`).

    Parameters
    ----------
    masks : array_like of bool, shape (trial, y, x)
        The objects of images (e.g. an exported polygon run's ``label > 0``); they are
        padded by two pixels of background first, as a drum needs an empty border.
    n_steps : int
        Updates of the drum.
    dt : float
        Time step, in model time units.
    record_every : int
        Keep every ``record_every``-th state (the sampling rate is
        ``1 / (record_every * dt)`` per time unit).
    progress : bool
        Show a progress bar.

    Returns
    -------
    xarray.DataArray
        (trial, time, y, x) on the padded grid (``y + 4`` by ``x + 4`` pixels).

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import drums
    >>> masks = np.stack([drums.square(4, size=8), drums.disc(3.0, size=8)])
    >>> ring = drums.drum_of_masks(masks, n_steps=200, record_every=5)
    >>> print(ring.dims, ring.shape)
    ('trial', 'time', 'y', 'x') (2, 40, 12, 12)
    """
    masks = np.pad(np.asarray(masks, dtype=bool), ((0, 0), (2, 2), (2, 2)))
    return drum(masks, n_steps, dt, record_every=record_every, progress=progress)
