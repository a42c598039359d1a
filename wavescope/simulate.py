"""Ground-truth waves: the fixtures of every analysis test.

Every simulator returns an activity that follows the data model (:mod:`wavescope.core`)
and records its true parameters as JSON in ``attrs["truth"]`` (read them back with
:func:`truth`). The conventions are those of the analysis (``docs/notes/waves.md``):

- phase ``phi(r, t) = omega t - k . r + phi0`` and signal ``amplitude cos(phi)``, with
  ``omega = 2 pi frequency`` and ``|k| = omega / speed``;
- ``direction`` is the angle of travel, radians counter-clockwise from +x, so
  ``k_hat = (cos direction, sin direction)``;
- a source has ``phi = omega t - |k| |r - c|`` (crests move outward), a sink
  ``phi = omega t + |k| |r - c|``;
- a rotating wave has ``phi = omega t - theta`` for "ccw" (the crest's polar angle
  ``theta`` about the centre increases with time) and ``omega t + theta`` for "cw";
- a standing wave is ``amplitude cos(omega t + phi0) cos(k . r)``.

``sites`` is either a grid shape, ``(ny, nx)`` or ``(nx,)``, giving dims
``(time, y, x)`` or ``(time, x)`` with ``spacing`` between neighbours, or an ``(n, 2)``
array of (x, y) positions giving dims ``(time, channel)``. Both paths compute the same
values at the same positions, noise included (noise is drawn per site in
:func:`wavescope.as_channels` order). Time runs ``t = arange(n_times) / sfreq`` in the
activity's time units ("time unit" for models, "s" for ``source="recording"``); frequencies are
in cycles per time unit and speeds in space units per time unit.
"""

from __future__ import annotations

import json
from numbers import Integral

import numpy as np
import xarray as xr

from ._checks import positive
from .core import from_array, validate
from .drums import area_from_frequency, disc, drum, polygon, rectangle, square

__all__ = [
    "plane_wave",
    "radial_wave",
    "rotating_wave",
    "standing_wave",
    "dispersive_wave",
    "noise",
    "combine",
    "sequence",
    "truth",
    "drum",
    "square",
    "rectangle",
    "disc",
    "polygon",
    "area_from_frequency",
]

DEFAULT_SPEED = 50.0  # space units per time unit: a 10-unit wavelength at 5 cycles per unit


class _Sites:
    """Where a simulation is evaluated: flat (n, 2) positions plus how to reshape them."""

    def __init__(self, sites, spacing):
        if _is_shape(sites):
            shape = tuple(int(s) for s in sites)
            if any(s < 1 for s in shape):
                raise ValueError(f"grid shape {shape} must hold positive sizes")
            dy, dx = np.broadcast_to(np.asarray(spacing, dtype=float), (2,))
            if not (np.isfinite([dy, dx]).all() and dy > 0 and dx > 0):
                raise ValueError(f"spacing must be positive and finite, got {spacing!r}")
            self.grid = True
            self.shape = shape
            self.dims = ("y", "x") if len(shape) == 2 else ("x",)
            self.spacing = (float(dy), float(dx))
            if len(shape) == 2:
                yy, xx = np.meshgrid(
                    np.arange(shape[0]) * dy, np.arange(shape[1]) * dx, indexing="ij"
                )
                self.xy = np.column_stack([xx.ravel(), yy.ravel()])
            else:
                self.xy = np.column_stack([np.arange(shape[0]) * dx, np.zeros(shape[0])])
        else:
            xy = np.asarray(sites, dtype=float) if not isinstance(sites, str) else None
            if xy is None or xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] < 1:
                got = getattr(xy, "shape", type(sites).__name__)
                raise ValueError(
                    f"sites must be a grid shape (ny, nx) or (nx,), or an (n, 2) array of "
                    f"(x, y) positions; got {got}"
                )
            if not np.isfinite(xy).all():
                raise ValueError("site positions hold NaN or infinite values; drop those sites")
            self.grid = False
            self.shape = (xy.shape[0],)
            self.dims = ("channel",)
            self.spacing = None
            self.xy = xy

    @property
    def line(self) -> bool:
        return self.grid and len(self.shape) == 1

    def middle(self) -> np.ndarray:
        """Centre of the sites' bounding box, (x, y)."""
        return (self.xy.min(axis=0) + self.xy.max(axis=0)) / 2


def _is_shape(sites) -> bool:
    """A grid shape is a flat tuple or list of one or two integers."""
    return (
        isinstance(sites, (tuple, list))
        and len(sites) in (1, 2)
        and all(isinstance(s, Integral) and not isinstance(s, bool) for s in sites)
    )


def _check_common(n_times, sfreq, frequency, amplitude, noise_level):
    if not isinstance(n_times, Integral) or isinstance(n_times, bool) or n_times < 1:
        raise ValueError(f"n_times must be a positive integer, got {n_times!r}")
    sfreq = positive("sfreq", sfreq)
    if frequency is not None:
        frequency = positive("frequency", frequency)
        if frequency >= sfreq / 2:
            raise ValueError(
                f"frequency {frequency} is at or above the Nyquist frequency {sfreq / 2} "
                f"(sfreq {sfreq}); lower the frequency or raise sfreq"
            )
    amplitude = float(amplitude)
    if not np.isfinite(amplitude) or amplitude < 0:
        raise ValueError(f"amplitude must be finite and >= 0, got {amplitude!r}")
    noise_level = float(noise_level)
    if not np.isfinite(noise_level) or noise_level < 0:
        raise ValueError(f"noise must be finite and >= 0 (a fraction of amplitude), got "
                         f"{noise_level!r}")
    return int(n_times), sfreq, frequency, amplitude, noise_level


def _plane(kind: str, frequency, speed, direction, amplitude, phase0):
    """Angular frequency, wave vector and ground truth of a plane wave (or of the two
    that make a standing wave) of ``speed`` along ``direction``."""
    speed = positive("speed", speed)
    direction = float(direction)
    omega = 2 * np.pi * frequency
    k = omega / speed * np.array([np.cos(direction), np.sin(direction)])
    truth = {
        "kind": kind, "frequency": frequency, "speed": speed, "direction": direction,
        "wavelength": speed / frequency, "wavenumber": omega / speed, "k": k.tolist(),
        "amplitude": amplitude, "phase0": float(phase0),
    }
    return omega, k, truth


def _centre(site: _Sites, centre) -> np.ndarray:
    if centre is None:
        return site.middle()
    c = np.asarray(centre, dtype=float)
    if c.shape != (2,) or not np.isfinite(c).all():
        raise ValueError(f"centre must be a finite (x, y) pair, got {centre!r}")
    return c


def _finish(values, site, *, sfreq, noise_level, amplitude, seed, space_units, source,
            time_units, truth_dict, func):
    """Add noise, reshape (time, n_sites) values to the layout and build the activity."""
    if noise_level > 0:
        rng = np.random.default_rng(seed)
        values = values + rng.standard_normal(values.shape) * (noise_level * amplitude)
    truth_dict = dict(truth_dict, noise=noise_level, seed=seed, sfreq=sfreq,
                      space_units=space_units)
    params = {"generator": f"wavescope.simulate.{func}", **truth_dict}
    n_times = values.shape[0]
    if site.grid:
        da = from_array(
            values.reshape((n_times, *site.shape)), ("time", *site.dims), sfreq=sfreq,
            spacing=site.spacing, space_units=space_units, source=source,
            time_units=time_units, provenance=params,
        )
    else:
        da = from_array(
            values, ("time", "channel"), sfreq=sfreq, positions=site.xy,
            space_units=space_units, source=source, time_units=time_units, provenance=params,
        )
    da.attrs["truth"] = json.dumps(truth_dict)
    return da


def _times(n_times, sfreq):
    return (np.arange(n_times) / sfreq)[:, None]


def plane_wave(
    sites,
    *,
    n_times: int = 200,
    sfreq: float = 100.0,
    frequency: float = 5.0,
    speed: float = DEFAULT_SPEED,
    direction: float = 0.0,
    amplitude: float = 1.0,
    phase0: float = 0.0,
    spacing: float | tuple[float, float] = 1.0,
    noise: float = 0.0,
    seed: int | None = None,
    space_units: str = "pixel",
    source: str = "model",
    time_units: str | None = None,
) -> xr.DataArray:
    """A plane wave ``amplitude cos(omega t - k·r + phase0)``.

    Parameters
    ----------
    sites : tuple of int or array_like, shape (n, 2)
        Grid shape ``(ny, nx)`` / ``(nx,)``, or (x, y) positions in ``space_units``.
    n_times : int
        Number of samples.
    sfreq : float
        Sampling rate, samples per time unit.
    frequency : float
        Temporal frequency, cycles per time unit; below ``sfreq / 2``.
    speed : float
        Phase speed, space units per time unit. Wavelength = speed / frequency.
    direction : float
        Direction of travel, radians counter-clockwise from +x.
    amplitude, phase0 : float
        Peak amplitude (``units``) and phase at r = 0, t = 0 (radians).
    spacing : float or (dy, dx)
        Grid spacing in ``space_units`` (grids only).
    noise : float
        Standard deviation of additive Gaussian noise, as a fraction of ``amplitude``.
    seed : int, optional
        Seed of the noise.
    space_units, source, time_units : str
        Data-model attributes (see :func:`wavescope.from_array`).

    Returns
    -------
    xarray.DataArray
        Dims ``(time, y, x)``, ``(time, x)`` or ``(time, channel)``; ``attrs["truth"]``
        holds kind="plane", frequency, speed, direction, wavelength, wavenumber (rad per
        space unit), k (the wave vector), amplitude, phase0, noise and seed.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> da = sim.plane_wave((16, 16), speed=40.0, direction=np.pi / 2, n_times=50)
    >>> print(da.dims, da.shape)
    ('time', 'y', 'x') (50, 16, 16)
    >>> t = sim.truth(da)
    >>> print(t["kind"], t["speed"], t["wavelength"], round(t["direction"], 4))
    plane 40.0 8.0 1.5708
    """
    n_times, sfreq, frequency, amplitude, noise_level = _check_common(
        n_times, sfreq, frequency, amplitude, noise)
    omega, k, truth_dict = _plane("plane", frequency, speed, direction, amplitude, phase0)
    site = _Sites(sites, spacing)
    phase = omega * _times(n_times, sfreq) - (site.xy @ k)[None, :] + phase0
    return _finish(amplitude * np.cos(phase), site, sfreq=sfreq, noise_level=noise_level,
                   amplitude=amplitude, seed=seed, space_units=space_units, source=source,
                   time_units=time_units, truth_dict=truth_dict, func="plane_wave")


def radial_wave(
    sites,
    *,
    n_times: int = 200,
    sfreq: float = 100.0,
    frequency: float = 5.0,
    speed: float = DEFAULT_SPEED,
    amplitude: float = 1.0,
    phase0: float = 0.0,
    centre=None,
    kind: str = "source",
    spacing: float | tuple[float, float] = 1.0,
    noise: float = 0.0,
    seed: int | None = None,
    space_units: str = "pixel",
    source: str = "model",
    time_units: str | None = None,
) -> xr.DataArray:
    """A radial ("target") wave about ``centre``.

    ``kind="source"``: ``phi = omega t - |k| |r - c| + phase0`` (crests move outward);
    ``kind="sink"``: ``phi = omega t + |k| |r - c| + phase0`` (crests move inward).

    Parameters
    ----------
    centre : (x, y), optional
        Centre in ``space_units``; default the middle of the sites' bounding box.
    kind : {"source", "sink"}
        Outward or inward travel.

    Other parameters are those of :func:`plane_wave`. ``attrs["truth"]`` holds
    kind="radial", radial ("source"/"sink"), centre, frequency, speed, wavelength, ...

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> da = sim.radial_wave((16, 16), kind="sink", centre=(4.0, 8.0), n_times=50)
    >>> t = sim.truth(da)
    >>> print(t["kind"], t["centre"])
    radial [4.0, 8.0]
    """
    n_times, sfreq, frequency, amplitude, noise_level = _check_common(
        n_times, sfreq, frequency, amplitude, noise)
    speed = positive("speed", speed)
    if kind not in ("source", "sink"):
        raise ValueError(f"kind must be 'source' or 'sink', got {kind!r}")
    site = _Sites(sites, spacing)
    c = _centre(site, centre)
    omega = 2 * np.pi * frequency
    sign = -1.0 if kind == "source" else 1.0
    dist = np.hypot(*(site.xy - c).T)
    phase = omega * _times(n_times, sfreq) + sign * (omega / speed) * dist[None, :] + phase0
    truth_dict = {
        "kind": "radial", "radial": kind, "centre": c.tolist(), "frequency": frequency,
        "speed": speed, "wavelength": speed / frequency, "wavenumber": omega / speed,
        "amplitude": amplitude, "phase0": float(phase0),
    }
    return _finish(amplitude * np.cos(phase), site, sfreq=sfreq, noise_level=noise_level,
                   amplitude=amplitude, seed=seed, space_units=space_units, source=source,
                   time_units=time_units, truth_dict=truth_dict, func="radial_wave")


def rotating_wave(
    sites,
    *,
    n_times: int = 200,
    sfreq: float = 100.0,
    frequency: float = 5.0,
    amplitude: float = 1.0,
    phase0: float = 0.0,
    centre=None,
    sense: str = "ccw",
    spacing: float | tuple[float, float] = 1.0,
    noise: float = 0.0,
    seed: int | None = None,
    space_units: str = "pixel",
    source: str = "model",
    time_units: str | None = None,
) -> xr.DataArray:
    """A rotating (spiral-free, one-armed) wave about ``centre``.

    ``sense="ccw"``: ``phi = omega t - theta + phase0``, so the crest's polar angle
    ``theta`` about the centre increases with time (counter-clockwise rotation);
    ``sense="cw"``: ``phi = omega t + theta + phase0``. One turn takes ``1 / frequency``.
    Needs 2-D sites (a grid ``(ny, nx)`` or positions).

    Parameters
    ----------
    centre : (x, y), optional
        Centre of rotation; default the middle of the sites' bounding box.
    sense : {"ccw", "cw"}
        Counter-clockwise or clockwise rotation.

    Other parameters are those of :func:`plane_wave`. ``attrs["truth"]`` holds
    kind="rotating", sense, centre, frequency, angular_speed (rad per time unit), ...

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> da = sim.rotating_wave((16, 16), sense="cw", n_times=50)
    >>> t = sim.truth(da)
    >>> print(t["kind"], t["sense"], t["centre"])
    rotating cw [7.5, 7.5]
    """
    n_times, sfreq, frequency, amplitude, noise_level = _check_common(
        n_times, sfreq, frequency, amplitude, noise)
    if sense not in ("ccw", "cw"):
        raise ValueError(f"sense must be 'ccw' or 'cw', got {sense!r}")
    site = _Sites(sites, spacing)
    if site.line:
        raise ValueError("a rotating wave needs 2-D sites; give a grid (ny, nx) or positions")
    c = _centre(site, centre)
    omega = 2 * np.pi * frequency
    theta = np.arctan2(site.xy[:, 1] - c[1], site.xy[:, 0] - c[0])
    sign = -1.0 if sense == "ccw" else 1.0
    phase = omega * _times(n_times, sfreq) + sign * theta[None, :] + phase0
    truth_dict = {
        "kind": "rotating", "sense": sense, "centre": c.tolist(), "frequency": frequency,
        "angular_speed": omega if sense == "ccw" else -omega, "amplitude": amplitude,
        "phase0": float(phase0),
    }
    return _finish(amplitude * np.cos(phase), site, sfreq=sfreq, noise_level=noise_level,
                   amplitude=amplitude, seed=seed, space_units=space_units, source=source,
                   time_units=time_units, truth_dict=truth_dict, func="rotating_wave")


def standing_wave(
    sites,
    *,
    n_times: int = 200,
    sfreq: float = 100.0,
    frequency: float = 5.0,
    speed: float = DEFAULT_SPEED,
    direction: float = 0.0,
    amplitude: float = 1.0,
    phase0: float = 0.0,
    spacing: float | tuple[float, float] = 1.0,
    noise: float = 0.0,
    seed: int | None = None,
    space_units: str = "pixel",
    source: str = "model",
    time_units: str | None = None,
) -> xr.DataArray:
    """A standing wave ``amplitude cos(omega t + phase0) cos(k·r)``.

    The sum of two plane waves of half the amplitude travelling along ``direction`` and
    against it; nodes lie where ``k . r = pi/2 + n pi``. Parameters are those of
    :func:`plane_wave`; ``speed`` is the speed of the two component waves.

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> da = sim.standing_wave((32,), n_times=50)
    >>> print(da.dims, sim.truth(da)["kind"])
    ('time', 'x') standing
    """
    n_times, sfreq, frequency, amplitude, noise_level = _check_common(
        n_times, sfreq, frequency, amplitude, noise)
    omega, k, truth_dict = _plane("standing", frequency, speed, direction, amplitude, phase0)
    site = _Sites(sites, spacing)
    values = amplitude * np.cos(omega * _times(n_times, sfreq) + phase0) * np.cos(site.xy @ k)
    return _finish(values, site, sfreq=sfreq, noise_level=noise_level, amplitude=amplitude,
                   seed=seed, space_units=space_units, source=source, time_units=time_units,
                   truth_dict=truth_dict, func="standing_wave")


def dispersive_wave(
    sites,
    *,
    n_times: int = 2000,
    sfreq: float = 200.0,
    frequencies=None,
    phase_speed: float = 50.0,
    group_speed: float = 100.0,
    direction: float = 0.0,
    amplitude: float = 1.0,
    spacing: float | tuple[float, float] = 1.0,
    noise: float = 0.0,
    seed: int | None = None,
    space_units: str = "pixel",
    source: str = "model",
    time_units: str | None = None,
) -> xr.DataArray:
    """A dispersive plane wave: plane-wave components whose phase speed varies with frequency.

    The sum over ``frequencies`` f_j of ``a cos(omega_j t - k_j khat . r + phi_j)``, with
    ``a = amplitude / sqrt(n)``, random phases ``phi_j`` (from ``seed``) and the
    dispersion relation ``k(omega) = omega_0 / phase_speed + (omega - omega_0) /
    group_speed`` about the mean frequency ``f_0``, i.e. ``omega(k) = omega_0 +
    group_speed (k - k_0)``, which is not proportional to k. So:

    - the phase speed ``omega / k`` is ``phase_speed`` at ``f_0`` and varies with
      frequency (rising with it when ``group_speed > phase_speed``);
    - the group speed ``d omega / dk`` is ``group_speed`` at every frequency: the
      envelope, and every delay between sites, travels at it.

    Parameters
    ----------
    frequencies : sequence of float, optional
        Component frequencies, cycles per time unit, below ``sfreq / 2``. Default: every
        ``sfreq / n_times`` from 3 to 9 (a continuous band spectrum, as in recordings; a
        few lines make the multitaper cross-spectrum phase flat across each line's
        leakage lobe, which biases delay estimates).
    phase_speed : float
        Phase speed at the mean frequency, space units per time unit.
    group_speed : float
        Group speed, space units per time unit.

    Other parameters are those of :func:`plane_wave`. ``attrs["truth"]`` holds
    kind="dispersive", frequencies, reference_frequency (f_0), phase_speed,
    group_speed, phase_speeds (one per component), wavenumbers (rad per space unit),
    direction, amplitude, noise and seed.

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> da = sim.dispersive_wave((8,), n_times=400, phase_speed=50.0, group_speed=100.0)
    >>> t = sim.truth(da)
    >>> print(da.dims, t["phase_speed"], t["group_speed"])
    ('time', 'x') 50.0 100.0
    """
    n_times, sfreq, _, amplitude, noise_level = _check_common(
        n_times, sfreq, None, amplitude, noise)
    if frequencies is None:
        step = sfreq / n_times
        frequencies = np.arange(3.0, 9.0 + step / 2, step)
    freqs = np.atleast_1d(np.asarray(frequencies, dtype=float))
    if freqs.ndim != 1 or freqs.size < 2 or not np.all((freqs > 0) & (freqs < sfreq / 2)):
        raise ValueError(f"frequencies must hold at least 2 values in (0, sfreq / 2 = "
                         f"{sfreq / 2:g}), got {frequencies!r}")
    phase_speed = positive("phase_speed", phase_speed)
    group_speed = positive("group_speed", group_speed)
    direction = float(direction)
    site = _Sites(sites, spacing)
    omega = 2 * np.pi * freqs
    omega0 = omega.mean()
    wavenumber = omega0 / phase_speed + (omega - omega0) / group_speed
    if np.any(wavenumber <= 0):
        raise ValueError("these speeds give a wavenumber <= 0 at the lowest frequency; "
                         "narrow the frequencies or bring the two speeds closer")
    # phases from their own stream of the seed, so the noise is that of the other simulators
    phases = np.random.default_rng(None if seed is None else [seed, 1]).uniform(
        -np.pi, np.pi, freqs.size)
    along = site.xy @ np.array([np.cos(direction), np.sin(direction)])
    t = _times(n_times, sfreq)
    values = np.zeros((n_times, site.xy.shape[0]))
    for w, k, p in zip(omega, wavenumber, phases, strict=True):
        values += np.cos(w * t - k * along[None, :] + p)
    values *= amplitude / np.sqrt(freqs.size)
    truth_dict = {
        "kind": "dispersive", "frequencies": freqs.tolist(),
        "reference_frequency": float(omega0 / (2 * np.pi)), "phase_speed": phase_speed,
        "group_speed": group_speed, "phase_speeds": (omega / wavenumber).tolist(),
        "wavenumbers": wavenumber.tolist(), "direction": direction, "amplitude": amplitude,
        "phases": phases.tolist(),
    }
    return _finish(values, site, sfreq=sfreq, noise_level=noise_level, amplitude=amplitude,
                   seed=seed, space_units=space_units, source=source,
                   time_units=time_units, truth_dict=truth_dict, func="dispersive_wave")


def noise(
    sites,
    *,
    n_times: int = 200,
    sfreq: float = 100.0,
    amplitude: float = 1.0,
    color: str = "white",
    spacing: float | tuple[float, float] = 1.0,
    seed: int | None = None,
    space_units: str = "pixel",
    source: str = "model",
    time_units: str | None = None,
) -> xr.DataArray:
    """Gaussian noise, independent across sites, with standard deviation ``amplitude``.

    Parameters
    ----------
    color : {"white", "pink"}
        "white": independent samples. "pink": power spectral density proportional to
        ``1 / f`` along time (zero mean), scaled so each site's standard deviation is
        ``amplitude``.
    seed : int, optional
        Seed of the generator; the same seed gives the same values.

    Other parameters are those of :func:`plane_wave`. ``attrs["truth"]`` holds
    kind="noise", color, amplitude and seed.

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope import simulate as sim
    >>> da = sim.noise((8, 8), n_times=500, amplitude=2.0, seed=0)
    >>> print(round(float(da.std()), 1))
    2.0
    """
    n_times, sfreq, _, amplitude, _ = _check_common(n_times, sfreq, None, amplitude, 0.0)
    if color not in ("white", "pink"):
        raise ValueError(f"color must be 'white' or 'pink', got {color!r}")
    site = _Sites(sites, spacing)
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((n_times, site.xy.shape[0]))
    if color == "pink" and n_times > 2:
        spec = np.fft.rfft(values, axis=0)
        f = np.fft.rfftfreq(n_times)
        scale = np.zeros_like(f)
        scale[1:] = 1 / np.sqrt(f[1:])  # amplitude ~ f^-1/2, so power ~ 1/f
        values = np.fft.irfft(spec * scale[:, None], n=n_times, axis=0)
        values /= values.std(axis=0, keepdims=True)
    values = values * amplitude
    truth_dict = {"kind": "noise", "color": color, "amplitude": amplitude}
    return _finish(values, site, sfreq=sfreq, noise_level=0.0, amplitude=amplitude, seed=seed,
                   space_units=space_units, source=source, time_units=time_units,
                   truth_dict=truth_dict, func="noise")


def truth(da: xr.DataArray) -> dict:
    """The true parameters a simulator stored in ``da.attrs["truth"]``.

    Raises
    ------
    ValueError
        When ``da`` has no truth (it was not made by :mod:`wavescope.simulate`).

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> t = sim.truth(sim.plane_wave((8, 8), frequency=4.0, speed=20.0))
    >>> print(t["frequency"], t["speed"], t["wavelength"])
    4.0 20.0 5.0
    """
    raw = getattr(da, "attrs", {}).get("truth")
    if raw is None:
        raise ValueError(
            "this activity has no 'truth' attribute; only arrays made by wavescope.simulate "
            "(and kept with their attrs) carry their true parameters"
        )
    return json.loads(raw)


def _components(da) -> list[dict]:
    t = truth(da)
    return list(t["components"]) if t.get("kind") == "combined" else [t]


def combine(*das: xr.DataArray) -> xr.DataArray:
    """Sum simulated activities on the same sites and times, keeping every truth.

    Returns
    -------
    xarray.DataArray
        The sum, with the attrs of the first and ``truth = {"kind": "combined",
        "components": [...]}`` (nested combinations are flattened).

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> wave = sim.plane_wave((8, 8), n_times=50)
    >>> both = sim.combine(wave, sim.noise((8, 8), n_times=50, amplitude=0.1, seed=1))
    >>> [part["kind"] for part in sim.truth(both)["components"]]
    ['plane', 'noise']
    """
    if not das:
        raise ValueError("combine needs at least one activity")
    for da in das:
        validate(da)
    first = das[0]
    for i, da in enumerate(das[1:], start=1):
        if da.dims != first.dims or da.shape != first.shape:
            raise ValueError(
                f"activity {i} has dims {dict(da.sizes)}, the first {dict(first.sizes)}; "
                "simulate all components on the same sites and n_times"
            )
        if da.attrs["sfreq"] != first.attrs["sfreq"]:
            raise ValueError(
                f"activity {i} has sfreq {da.attrs['sfreq']}, the first {first.attrs['sfreq']}"
            )
        for name, coord in first.coords.items():
            if name not in da.coords or not np.array_equal(coord.values, da[name].values):
                raise ValueError(
                    f"activity {i} differs from the first in coordinate '{name}'; use the "
                    "same sites, spacing and sampling"
                )
    components = [c for da in das for c in _components(da)]
    total = first.values.copy()
    for da in das[1:]:
        total = total + da.values
    out = first.copy(data=total)
    out.attrs = dict(first.attrs)
    out.attrs["truth"] = json.dumps({"kind": "combined", "components": components})
    out.attrs["provenance"] = json.dumps(
        {"generator": "wavescope.simulate.combine", "components": components}
    )
    return out


def sequence(*das: xr.DataArray) -> xr.DataArray:
    """Concatenate simulated activities along time, one after the other.

    Time restarts from 0 and runs on at the common ``sfreq``; the truth records each
    segment with its start and stop times (stop exclusive, in time units):
    ``{"kind": "sequence", "segments": [{"start": ..., "stop": ..., **truth}, ...]}``.

    Examples
    --------
    >>> from wavescope import simulate as sim
    >>> story = sim.sequence(sim.plane_wave((8, 8), n_times=50),
    ...                      sim.rotating_wave((8, 8), n_times=30))
    >>> print(story.sizes["time"], [part["kind"] for part in sim.truth(story)["segments"]])
    80 ['plane', 'rotating']
    """
    if not das:
        raise ValueError("sequence needs at least one activity")
    for da in das:
        validate(da)
    first = das[0]
    sfreq = first.attrs["sfreq"]
    space = [d for d in first.dims if d != "time"]
    for i, da in enumerate(das[1:], start=1):
        other = [d for d in da.dims if d != "time"]
        if other != space or da.attrs["sfreq"] != sfreq:
            raise ValueError(
                f"activity {i} has dims {da.dims} and sfreq {da.attrs['sfreq']}; the first "
                f"has {first.dims} and {sfreq}: simulate all on the same sites and sfreq"
            )
        for d in space:
            if d in first.coords and not np.array_equal(first[d].values, da[d].values):
                raise ValueError(f"activity {i} differs from the first in coordinate '{d}'")
    segments, start = [], 0
    for da in das:
        n = da.sizes["time"]
        segments.append({"start": start / sfreq, "stop": (start + n) / sfreq, **truth(da)})
        start += n
    data = np.concatenate([da.values for da in das], axis=first.get_axis_num("time"))
    out = xr.DataArray(data, dims=first.dims, coords={k: v for k, v in first.coords.items()
                                                      if "time" not in v.dims},
                       attrs=dict(first.attrs), name=first.name)
    out = out.assign_coords(time=np.arange(start) / sfreq)
    out.attrs["truth"] = json.dumps({"kind": "sequence", "segments": segments})
    out.attrs["provenance"] = json.dumps(
        {"generator": "wavescope.simulate.sequence", "segments": segments}
    )
    return validate(out)
