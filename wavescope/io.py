"""Reading and writing activities: netCDF files and MNE objects.

netCDF
    :func:`save` and :func:`load` round-trip a DataArray or a Dataset exactly: values
    (complex included), coordinates, attributes and the DataArray's name (``None``
    included). netCDF has no complex type, so a complex variable ``v`` is stored as a real
    variable of the matching float type with one extra trailing dimension
    ``wavescope_complex`` of size 2 (real part, imaginary part) and the variable attribute
    ``wavescope_complex = 1``; :func:`load` rebuilds it bit for bit. Files are written with
    the netCDF4 (HDF5) engine; any netCDF reader can open them, and a reader that ignores
    the marker sees the real/imaginary pair.

MNE
    :func:`from_mne` turns a Raw or Epochs into an activity ``(time, channel)`` or
    ``(trial, time, channel)``; :func:`to_mne` turns one back.

Sensor positions from MNE
    Analysis works in the plane, so :func:`from_mne` maps the 3-D montage positions (head
    coordinate frame, metres) onto it, by ``projection``: "auto" (default) takes "plane"
    when every channel is intracranial (ecog, seeg, dbs) and "sphere" when none is;
    "plane" puts planar arrays (ECoG grids, Utah arrays) onto their best-fitting plane,
    keeping their pitch, with in-plane axes fixed from the head axes (see
    :mod:`wavescope._positions`); "none" keeps the 3-D positions as ``x``, ``y``, ``z``
    (the analysis then uses ``x`` and ``y`` alone); "sphere" (alias "azimuthal", the
    former default) projects scalp positions with an *azimuthal equidistant projection
    about the vertex*: about an origin (default :data:`HEAD_ORIGIN`, fixed so that any subset of
    channels projects identically), an electrode at
    polar angle ``theta`` from +z (the vertex direction) and azimuth ``psi`` goes to
    ``x = rho theta cos psi``, ``y = rho theta sin psi``, where ``rho`` is its distance from
    the origin. So ``x``/``y`` are metres of arc along the scalp from the vertex, +x towards
    the right ear and +y towards the nose, and the distance from the vertex is preserved.
    The origin used is stored in ``attrs["projection"]``; pass it back as ``origin=`` to
    project another recording of the same montage identically. The raw 3-D positions are
    kept as ``pos3d_x``, ``pos3d_y``, ``pos3d_z`` (metres).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from ._model import append_step
from ._safeio import MemoryLimitError, check_memory, safe_write
from .core import DataModelError, WavescopeWarning, from_array, validate

__all__ = ["save", "load", "read", "from_mne", "to_mne", "WavescopeIOError", "HEAD_ORIGIN"]

_COMPLEX_DIM = "wavescope_complex"
_COMPLEX_ATTR = "wavescope_complex"
_KIND_ATTR = "wavescope_io_kind"
_NAME_ATTR = "wavescope_io_name"
_DA_VAR = "wavescope_dataarray"
_ENGINE = "netcdf4"
#: Files whose arrays hold more bytes than this load lazily by default (``chunks=None``).
LAZY_BYTES = 2 << 30
#: Bytes per dask chunk of such a lazy load, whole frames along ``time``.
CHUNK_BYTES = 128 << 20
_STORED_BYTES = 4 << 20  # per HDF5 chunk written by save: whole frames along time
_MNE_UNITS = ("V", "T", "T/m", "mol", "Am")


#: Default centre of the scalp projection, head frame (x right, y nose, z up), metres: the
#: centre of the sphere that best fits MNE's standard_1005 montage, (-0.001, 0.015, 0.041),
#: rounded. The head frame's own origin (between the ear points) lies ~4 cm too low.
HEAD_ORIGIN = (0.0, 0.015, 0.040)


class WavescopeIOError(OSError):
    """A file could not be read or written; the message names the file and the fix.

    Examples
    --------
    >>> import wavescope as ws
    >>> from wavescope import simulate as sim
    >>> try:
    ...     ws.save(sim.noise((3,), n_times=10), "no-such-folder/noise.nc")
    ... except ws.io.WavescopeIOError as err:
    ...     print(type(err).__name__, isinstance(err, OSError))
    ...
    WavescopeIOError True
    """


# ----------------------------------------------------------------------------- netCDF


def save(obj: xr.DataArray | xr.Dataset, path: str | os.PathLike) -> Path:
    """Write a DataArray or Dataset to a netCDF file, atomically.

    The file is written to a temporary file in the same folder and moved over ``path``
    only once complete, so an interrupted save never leaves a broken file (an existing
    file at ``path`` stays as it was; see :func:`wavescope._safeio.safe_write`). Every
    numeric array carries HDF5's Fletcher-32 checksum, verified by :func:`load`. Complex
    variables are stored as a real/imaginary pair (see the module docstring). Arrays
    with ``time`` are stored in chunks of whole frames (about 4 MB each), which a lazy
    :func:`load` in time chunks reads once each. ``obj`` is not modified.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        Attributes must be netCDF-safe: numbers, strings or 1-D arrays of them (store
        dicts as JSON strings; no None or bool).
    path : str or path-like
        Destination file, conventionally ending in ``.nc``. Its folder must exist.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import wavescope as ws
    >>> from wavescope import simulate as sim
    >>> z = sim.plane_wave((4, 4), n_times=20).astype(complex) * 1j
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = ws.save(z, Path(tmp) / "wave.nc")
    ...     back = ws.load(path)
    ...     print(path.name, back.dtype, bool((back == z).all()))
    ...
    wave.nc complex128 True
    """
    path = Path(path)
    if isinstance(obj, xr.DataArray):
        try:
            json.dumps(obj.name)
        except TypeError:
            raise TypeError(
                f"DataArray name {obj.name!r} cannot be stored; use a string or None"
            ) from None
        ds = obj.to_dataset(name=_DA_VAR, promote_attrs=False)
        ds.attrs = {_KIND_ATTR: "DataArray", _NAME_ATTR: json.dumps(obj.name)}
    elif isinstance(obj, xr.Dataset):
        for key in (_KIND_ATTR, _NAME_ATTR):
            if key in obj.attrs:
                raise ValueError(f"attribute '{key}' is reserved by wavescope.save; rename it")
        ds = obj.copy(deep=False)
        ds.attrs = dict(obj.attrs, **{_KIND_ATTR: "Dataset"})
    else:
        raise TypeError(
            f"save writes an xarray.DataArray or Dataset, got {type(obj).__name__}"
        )
    ds = _encode_complex(ds.drop_encoding())
    _check_attrs(ds)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise WavescopeIOError(f"cannot save to {path}: folder {folder} does not exist; "
                               "create it first")
    # HDF5's Fletcher-32 checksum on every numeric array: a damaged file fails on load.
    encoding = {name: {"fletcher32": True} for name, var in ds.variables.items()
                if var.dtype.kind in "biufMm" and var.ndim >= 1 and var.size > 0}
    for name, enc in encoding.items():
        var = ds.variables[name]
        if "time" in var.dims and var.ndim > 1:
            # stored chunks of whole frames (about 4 MB), so that a lazy load in time
            # chunks reads each stored chunk once (HDF5's own choice splits the frames)
            frames = max(1, _STORED_BYTES // max(1, var.nbytes // var.sizes["time"]))
            enc["chunksizes"] = tuple(min(frames, n) if d == "time" else n
                                      for d, n in var.sizes.items())
    with safe_write(path) as tmp:
        ds.to_netcdf(tmp, engine=_ENGINE, encoding=encoding)
    return path


def load(path: str | os.PathLike, *, chunks=None) -> xr.DataArray | xr.Dataset:
    """Read a netCDF file written by :func:`save` (or any netCDF file).

    Parameters
    ----------
    path : str or path-like
        The file.
    chunks : int, dict or "auto", optional
        None (default): read the file into memory and close it when its arrays hold at
        most :data:`LAZY_BYTES` (2 GiB); a larger file opens lazily with dask in chunks of
        whole frames along ``time`` of about :data:`CHUNK_BYTES` (128 MB) each, which
        :func:`~wavescope.analysis.analytic_signal` streams (``"auto"`` chunks for a file
        without ``time``; ``.load()`` reads it whole). Otherwise open lazily with these
        chunks (as in :func:`xarray.open_dataset`). Lazily opened, the file stays open
        until the result is closed, and read errors in the data surface on compute.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        What was saved: a DataArray (with its name) or a Dataset. A netCDF file that
        :func:`save` did not write loads as a Dataset.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    WavescopeIOError
        When the file is not netCDF or is damaged (for example truncated, or its data no
        longer match the checksum written by :func:`save`).
    MemoryLimitError
        When ``chunks`` is None and the arrays would not fit in memory (see
        :func:`wavescope._safeio.check_memory`).

    Warns
    -----
    WavescopeWarning
        For a model export written by an earlier wavescope with ``time_units="step"``:
        it is read with today's names (``time_units="time unit"``, ``dt = 1 / sfreq``,
        "step" in ``units`` strings as "time unit", a provenance step saying so); the
        values are unchanged.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import wavescope as ws
    >>> from wavescope import simulate as sim
    >>> da = sim.plane_wave((4, 4), n_times=20, speed=40.0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     back = ws.load(ws.save(da, Path(tmp) / "wave.nc"))
    ...     print(back.dims, ws.simulate.truth(back)["speed"])
    ...
    ('time', 'y', 'x') 40.0
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}; check the path (files are written "
                                "by wavescope.save)")
    if path.is_dir():
        raise WavescopeIOError(f"{path} is a folder, not a netCDF file; give the file inside")
    try:
        ds = xr.open_dataset(path, engine=_ENGINE, chunks=chunks)
        if chunks is None and ds.nbytes > LAZY_BYTES:
            frames = _time_chunks(ds)
            ds.close()
            ds = xr.open_dataset(path, engine=_ENGINE, chunks=frames)
        elif chunks is None:
            with ds:
                sizes = ", ".join(f"{d}={n}" for d, n in ds.sizes.items())
                check_memory(ds.nbytes, f"reading {path} ({sizes}) into memory",
                             "open it lazily with load(path, chunks='auto') and select a part")
                ds.load()
    except (OSError, ValueError, RuntimeError, KeyError, IndexError) as err:
        if isinstance(err, MemoryLimitError):
            raise
        raise WavescopeIOError(
            f"cannot read {path} as netCDF ({type(err).__name__}: {err}); the file is not "
            "netCDF or is damaged (a truncated or partial copy, or data that fail their "
            "checksum?): copy or save it again"
        ) from err
    ds = _decode_complex(ds)
    kind = ds.attrs.get(_KIND_ATTR)
    if kind == "DataArray":
        name = json.loads(ds.attrs[_NAME_ATTR])
        da = ds[_DA_VAR].rename(name)
        da.attrs = _plain_attrs(da.attrs)
        return _read_old_step_unit(da, path)
    ds.attrs = _plain_attrs({k: v for k, v in ds.attrs.items() if k != _KIND_ATTR})
    for var in ds.variables.values():
        var.attrs = _plain_attrs(var.attrs)
    return _read_old_step_unit(ds, path)


_OLD_TIME_UNIT = re.compile(r"\bstep\b")


def _read_old_step_unit(obj, path: Path):
    """Model exports written by earlier wavescope versions, read in today's terms.

    They said ``time_units="step"`` where the time was already steps x dt in the time
    unit of the dynamics (sfreq = 1 / dt, so dt = 0.2 gave "5 per step"). Such a file is
    read with ``time_units="time unit"``, ``dt = 1 / sfreq`` beside it, "step" in every
    ``units`` string (the time coordinate's, "pixel/step", "cycles/step") read as "time
    unit", and a provenance step saying so; the values are unchanged. A warning names the
    file, once per load.
    """
    holders = [obj] + list(obj.variables.values() if isinstance(obj, xr.Dataset)
                           else obj.coords.values())
    old = [h for h in holders if h.attrs.get("time_units") == "step"]
    if not old:
        return obj
    for h in holders:
        if isinstance(h.attrs.get("units"), str):
            h.attrs["units"] = _OLD_TIME_UNIT.sub("time unit", h.attrs["units"])
    for h in old:
        h.attrs["time_units"] = "time unit"
        sfreq = h.attrs.get("sfreq")
        if "dt" not in h.attrs and isinstance(sfreq, int | float) and sfreq > 0:
            h.attrs["dt"] = 1.0 / sfreq
        if "provenance" in h.attrs or h is obj:
            h.attrs["provenance"] = append_step(h.attrs.get("provenance"), "wavescope.io.load", {
                "time_units": "read 'step' (the name earlier versions wrote) as 'time unit', "
                              "dt = 1 / sfreq"})
    dt = obj.attrs.get("dt", old[0].attrs.get("dt"))
    warnings.warn(
        f"{path} was written by an earlier wavescope with time_units 'step'; read as "
        f"'time unit' (the time unit of the model's dynamics) with dt = {dt} beside it; the "
        "values are unchanged (save it again to write today's names)",
        WavescopeWarning, stacklevel=3)
    return obj


def _time_chunks(ds: xr.Dataset):
    """Chunks of whole frames along ``time`` of about CHUNK_BYTES ("auto" without time)."""
    if "time" not in ds.dims:
        return "auto"
    timed = [v for v in ds.data_vars.values() if "time" in v.dims]
    frame = sum(v.nbytes / max(1, v.sizes["time"]) for v in timed)
    n = max(1, int(CHUNK_BYTES // max(frame, 1)))
    # whole chunks of the file's own (HDF5) chunking along time where they fit in one
    # dask chunk: then no stored chunk is read twice
    stored = [dict(zip(v.dims, v.encoding.get("chunksizes") or (), strict=False)).get("time")
              for v in timed]
    step = max([c for c in stored if c] or [1])
    n = n // step * step if step <= n else n
    return {d: n if d == "time" else -1 for d in ds.dims}


def _plain_attrs(attrs: dict) -> dict:
    """netCDF gives NumPy scalars back; return Python numbers like those saved."""
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in attrs.items()}


def _check_attrs(ds: xr.Dataset) -> None:
    items = [("the file", ds.attrs)] + [(f"variable '{n}'", v.attrs)
                                        for n, v in ds.variables.items()]
    for where, attrs in items:
        for key, value in attrs.items():
            ok = isinstance(value, (str, int, float, np.number)) and not isinstance(
                value, (bool, np.bool_))
            if isinstance(value, (list, tuple, np.ndarray)):
                arr = np.asarray(value)
                ok = arr.ndim == 1 and arr.dtype.kind in "iufU"
            if not ok:
                raise TypeError(
                    f"attribute '{key}' of {where} is {type(value).__name__} {value!r}, which "
                    "netCDF cannot store; use a number or a string (json.dumps for dicts, "
                    "int for bools)"
                )


def _encode_complex(ds: xr.Dataset) -> xr.Dataset:
    if _COMPLEX_DIM in ds.dims:
        raise ValueError(f"dimension name '{_COMPLEX_DIM}' is reserved by wavescope.save")
    out = {}
    for name, var in ds.variables.items():
        if var.dtype.kind != "c":
            continue
        if name in ds.indexes:
            raise TypeError(f"index coordinate '{name}' is complex; netCDF cannot index by "
                            "complex values: use real coordinates")
        if hasattr(var.data, "dask"):  # stay lazy: dask writes it chunk by chunk
            import dask.array as dsa

            parts = dsa.stack([var.data.real, var.data.imag], axis=-1)
        else:
            values = np.asarray(var.values)
            parts = np.stack([values.real, values.imag], axis=-1)
        pair = xr.Variable((*var.dims, _COMPLEX_DIM), parts)
        pair.attrs = dict(var.attrs, **{_COMPLEX_ATTR: 1})
        out[name] = pair
    return _with_variables(ds, out)


def _with_variables(ds: xr.Dataset, variables: dict) -> xr.Dataset:
    """A shallow copy of ``ds`` with ``variables`` in place of those of the same names,
    coordinates staying coordinates."""
    if not variables:
        return ds
    ds = ds.copy(deep=False)
    for name, var in variables.items():
        if name in ds.coords:
            ds = ds.assign_coords({name: var})
        else:
            ds[name] = var
    return ds


def _decode_complex(ds: xr.Dataset) -> xr.Dataset:
    names = [n for n, v in ds.variables.items() if v.attrs.get(_COMPLEX_ATTR) == 1]
    if not names:
        return ds
    rebuilt = {}
    for name in names:
        var = ds.variables[name]
        attrs = {k: v for k, v in var.attrs.items() if k != _COMPLEX_ATTR}
        cdtype = np.result_type(var.dtype, np.complex64)
        pair = xr.DataArray(var).chunk({_COMPLEX_DIM: -1}) if hasattr(
            var.data, "dask") else xr.DataArray(var)
        z = xr.apply_ufunc(
            _pair_to_complex, pair, input_core_dims=[[_COMPLEX_DIM]],
            dask="parallelized", output_dtypes=[cdtype],
        )
        rebuilt[name] = xr.Variable(z.dims, z.data, attrs=attrs)
    return _with_variables(ds, rebuilt).drop_dims(_COMPLEX_DIM, errors="ignore")


def _pair_to_complex(pair: np.ndarray) -> np.ndarray:
    # Assign parts separately: re + 1j * im would turn an infinite im into a NaN real part.
    out = np.empty(pair.shape[:-1], dtype=np.result_type(pair.dtype, np.complex64))
    out.real = pair[..., 0]
    out.imag = pair[..., 1]
    return out


def read(path: str | os.PathLike, **kwargs):
    """Read a recording by its suffix: NWB, TIFF stacks, netCDF, or anything MNE reads.

    See :func:`wavescope.readers.read` (the readers live there).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import wavescope as ws
    >>> from wavescope import simulate as sim
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = ws.save(sim.noise((3,), n_times=10, seed=0), Path(tmp) / "noise.nc")
    ...     print(ws.read(path).sizes["time"])
    ...
    10
    """
    from .readers import read as _read

    return _read(path, **kwargs)


# ----------------------------------------------------------------------------- MNE


def _units_of(chs) -> str:
    from mne.io.constants import FIFF

    names = {
        FIFF.FIFF_UNIT_V: "V", FIFF.FIFF_UNIT_T: "T", FIFF.FIFF_UNIT_T_M: "T/m",
        FIFF.FIFF_UNIT_MOL: "mol", FIFF.FIFF_UNIT_AM: "Am", FIFF.FIFF_UNIT_NONE: "a.u.",
    }
    units = {names.get(int(ch["unit"]), f"FIFF unit {int(ch['unit'])}") for ch in chs}
    if len(units) > 1:
        raise DataModelError(
            f"channels have different units {sorted(units)}; one activity holds one unit: "
            "pick one channel type first, e.g. inst.pick('eeg')"
        )
    return units.pop()


def _project(pos3d: np.ndarray, origin) -> np.ndarray:
    """Azimuthal equidistant projection about the vertex (+z), in metres of arc."""
    rel = pos3d - np.asarray(origin, dtype=float)
    rho = np.linalg.norm(rel, axis=1)
    theta = np.arccos(np.clip(rel[:, 2] / np.where(rho > 0, rho, 1.0), -1.0, 1.0))
    psi = np.arctan2(rel[:, 1], rel[:, 0])
    return np.column_stack([rho * theta * np.cos(psi), rho * theta * np.sin(psi)])


PROJECTIONS = ("auto", "sphere", "plane", "none", "azimuthal")
_INTRACRANIAL = ("ecog", "seeg", "dbs")


def from_mne(raw_or_epochs, *, projection: str = "auto", origin=HEAD_ORIGIN):
    """An MNE Raw or Epochs as an activity.

    Parameters
    ----------
    raw_or_epochs : mne.io.BaseRaw or mne.BaseEpochs
        With a montage giving every channel a position (``inst.set_montage(...)``), and
        channels of one unit (pick one type, e.g. ``inst.pick("eeg")``).
    projection : {"auto", "sphere", "plane", "none"}
        How 3-D positions become the ``x``, ``y`` used by analysis (see the module
        docstring): "auto" chooses "plane" for intracranial channels (ecog, seeg, dbs) and
        "sphere" for scalp EEG/MEG; "sphere" (alias "azimuthal") is the azimuthal
        equidistant projection about the vertex; "plane" the best-fitting plane (pitch
        preserved, metres); "none" keeps 3-D ``x``, ``y``, ``z``.
    origin : (x, y, z) or "auto"
        Centre of the "sphere" projection in the head frame, metres. Default :data:`HEAD_ORIGIN`.
        "auto" fits a sphere to this recording's digitisation with
        :func:`mne.bem.fit_sphere_to_headshape` (then the projection depends on which
        positions were digitised).

    Returns
    -------
    xarray.DataArray
        Dims ``(time, channel)`` for Raw or ``(trial, time, channel)`` for Epochs, in the
        channel units of MNE (V for EEG); ``source="recording"``, ``time_units="s"``,
        ``space_units="m"``. Coordinates: ``channel`` (names), ``x``, ``y`` (projected,
        metres of arc), ``pos3d_x``, ``pos3d_y``, ``pos3d_z`` (montage positions, metres),
        ``ch_type``; for Epochs ``trial`` (epoch index) with ``event_sample``,
        ``event_prev`` and ``event_code``. Attributes add ``bads``, ``projection``,
        ``fiducials`` and, for Raw, ``annotations`` (JSON, onsets in seconds from the first
        sample) or, for Epochs, ``event_id`` (JSON).

    Examples
    --------
    >>> import mne
    >>> import numpy as np
    >>> import wavescope as ws
    >>> xyz = {"Fz": [0.0, 0.06, 0.09], "Cz": [0.0, 0.0, 0.1], "Pz": [0.0, -0.06, 0.09]}
    >>> info = mne.create_info(list(xyz), sfreq=100.0, ch_types="eeg")
    >>> raw = mne.io.RawArray(np.zeros((3, 200)), info, verbose=False)
    >>> raw = raw.set_montage(mne.channels.make_dig_montage(xyz, coord_frame="head"))
    >>> da = ws.from_mne(raw)
    >>> print(da.dims, da.attrs["sfreq"], da.attrs["space_units"])
    ('time', 'channel') 100.0 m
    >>> print(np.round(da["y"].values * 100, 1))  # cm of arc from the vertex, towards the nose
    [ 4.9 -1.5 -8.9]
    """
    import mne

    if projection not in PROJECTIONS:
        raise ValueError(f"projection {projection!r} is not known; use one of {PROJECTIONS}")
    is_epochs = isinstance(raw_or_epochs, mne.BaseEpochs)
    if not (is_epochs or isinstance(raw_or_epochs, mne.io.BaseRaw)):
        raise TypeError(
            f"from_mne takes an mne Raw or Epochs, got {type(raw_or_epochs).__name__}"
        )
    inst = raw_or_epochs
    info = inst.info
    chs = info["chs"]
    pos3d = np.array([ch["loc"][:3] for ch in chs], dtype=float)
    missing = [ch["ch_name"] for ch, p in zip(chs, pos3d, strict=True)
               if not np.all(np.isfinite(p)) or not np.any(p)]
    if missing:
        shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise DataModelError(
            f"{len(missing)} channel(s) have no position ({shown}); set a montage, e.g. "
            "inst.set_montage('standard_1005'), or pick positioned channels with inst.pick"
        )
    units = _units_of(chs)
    types = inst.get_channel_types()
    if projection == "auto":
        inside = [t in _INTRACRANIAL for t in types]
        if any(inside) and not all(inside):
            raise DataModelError(
                f"channel types {sorted(set(types))} mix intracranial and scalp sensors; pick "
                "one kind (inst.pick('ecog')) or give projection='plane' or 'sphere'"
            )
        projection = "plane" if all(inside) else "sphere"
    if isinstance(origin, str):
        if origin != "auto":
            raise ValueError(f"origin must be an (x, y, z) triple or 'auto', got {origin!r}")
        try:
            _, origin_arr, _ = mne.bem.fit_sphere_to_headshape(info, units="m", verbose=False)
        except (ValueError, RuntimeError, np.linalg.LinAlgError) as err:
            raise ValueError(
                f"cannot fit a head sphere to the digitisation ({err}); give the projection "
                "centre yourself, e.g. origin=(0.0, 0.0, 0.04)"
            ) from err
    else:
        origin_arr = np.asarray(origin, dtype=float)
        if origin_arr.shape != (3,) or not np.isfinite(origin_arr).all():
            raise ValueError(f"origin must be a finite (x, y, z) triple, got {origin!r}")
    if projection == "plane":
        from ._positions import plane_positions

        xy, proj_info = plane_positions(pos3d)
    elif projection == "none":
        xy, proj_info = pos3d, {"kind": "none (3-D head-frame positions)", "units": "m"}
    else:
        xy = _project(pos3d, origin_arr)
        proj_info = {"kind": "azimuthal equidistant about the vertex (+z)",
                     "origin_m": origin_arr.tolist(), "units": "m of arc"}
    sfreq = float(info["sfreq"])
    data = inst.get_data()  # (channel, time) or (trial, channel, time)
    dims = ("trial", "time", "channel") if is_epochs else ("time", "channel")
    data = np.moveaxis(data, -2, -1)
    prov = {
        "reader": "wavescope.io.from_mne",
        "mne_version": mne.__version__,
        "mne_class": type(inst).__name__,
        "filenames": [str(f) for f in (getattr(inst, "filenames", None) or []) if f],
        "meas_date": None if info["meas_date"] is None else str(info["meas_date"]),
        "highpass": info["highpass"],
        "lowpass": info["lowpass"],
    }
    da = from_array(
        data, dims, sfreq=sfreq, positions=xy, ch_names=inst.ch_names, t0=float(inst.times[0]),
        units=units, time_units="s", space_units="m", source="recording", provenance=prov,
    )
    # from_array builds time as t0 + arange / sfreq; keep MNE's own times exactly.
    da = da.assign_coords(
        time=np.asarray(inst.times, dtype=float),
        pos3d_x=("channel", pos3d[:, 0]), pos3d_y=("channel", pos3d[:, 1]),
        pos3d_z=("channel", pos3d[:, 2]),
        ch_type=("channel", np.asarray(inst.get_channel_types(), dtype=str)),
    )
    da.attrs["bads"] = json.dumps(list(info["bads"]))
    da.attrs["projection"] = json.dumps(proj_info)
    da.attrs["fiducials"] = json.dumps(_fiducials(inst))
    if not is_epochs:
        annot = inst.annotations
        # MNE counts onsets from meas_date when orig_time is set; store them from sample 0.
        shift = inst.first_time if annot.orig_time is not None else 0.0
        da.attrs["annotations"] = json.dumps({
            "onset": [float(o - shift) for o in annot.onset],
            "duration": [float(d) for d in annot.duration],
            "description": [str(d) for d in annot.description],
        })
    else:
        ev = np.asarray(inst.events)
        da = da.assign_coords(
            trial=np.arange(ev.shape[0]),
            event_sample=("trial", ev[:, 0]), event_prev=("trial", ev[:, 1]),
            event_code=("trial", ev[:, 2]),
        )
        da.attrs["event_id"] = json.dumps({str(k): int(v) for k, v in inst.event_id.items()})
    return validate(da)


def _fiducials(inst) -> dict:
    montage = inst.get_montage()
    if montage is None:
        return {}
    pos = montage.get_positions()
    return {k: np.asarray(pos[k], dtype=float).tolist() for k in ("nasion", "lpa", "rpa")
            if pos.get(k) is not None}


def to_mne(da: xr.DataArray):
    """An activity as an MNE RawArray, or an EpochsArray when it has a ``trial`` dim.

    The inverse of :func:`from_mne`: channel names, types (``ch_type``, default "eeg"),
    sampling rate, bad channels, annotations, events and the montage (from ``pos3d_*``,
    with fiducials when recorded) are restored. Needs ``time_units == "s"``, a
    ``channel`` dim and 3-D positions.

    Returns
    -------
    mne.io.RawArray or mne.EpochsArray

    Examples
    --------
    >>> import mne
    >>> import numpy as np
    >>> import wavescope as ws
    >>> xyz = {"Fz": [0.0, 0.06, 0.09], "Cz": [0.0, 0.0, 0.1], "Pz": [0.0, -0.06, 0.09]}
    >>> info = mne.create_info(list(xyz), sfreq=100.0, ch_types="eeg")
    >>> raw = mne.io.RawArray(np.ones((3, 200)), info, verbose=False)
    >>> raw = raw.set_montage(mne.channels.make_dig_montage(xyz, coord_frame="head"))
    >>> back = ws.to_mne(ws.from_mne(raw))
    >>> print(type(back).__name__, back.info["sfreq"], back.ch_names)
    RawArray 100.0 ['Fz', 'Cz', 'Pz']
    >>> np.allclose(back.get_data(), raw.get_data())
    True
    """
    import mne

    validate(da)
    if "channel" not in da.dims:
        raise DataModelError(
            f"to_mne needs a 'channel' dim, got {da.dims}; grids have no MNE form (use "
            "wavescope.as_channels first if the sites are sensors)"
        )
    extra = [d for d in da.dims if d not in ("trial", "time", "channel")]
    if extra:
        raise DataModelError(f"to_mne takes (trial,) time, channel; drop or select {extra}")
    if da.attrs.get("time_units") != "s":
        raise DataModelError(
            f"time_units is {da.attrs.get('time_units')!r}; MNE needs time in seconds"
        )
    if np.iscomplexobj(da.values):
        raise DataModelError("complex data has no MNE form; take np.real or np.abs first")
    missing = [c for c in ("pos3d_x", "pos3d_y", "pos3d_z") if c not in da.coords]
    if missing:
        raise DataModelError(
            f"coordinates {missing} (3-D sensor positions in metres) are missing; to_mne "
            "restores montages from activities made by from_mne"
        )
    units = da.attrs.get("units")
    if units not in _MNE_UNITS:
        warnings.warn(
            f"units are {units!r}; MNE assumes SI units ({', '.join(_MNE_UNITS)}), so its "
            "scalings and plots may be off: convert first (e.g. microvolts * 1e-6 -> V)",
            WavescopeWarning, stacklevel=2,
        )
    names = [str(c) for c in da["channel"].values]
    types = ([str(t) for t in da["ch_type"].values] if "ch_type" in da.coords
             else ["eeg"] * len(names))
    info = mne.create_info(names, float(da.attrs["sfreq"]), types)
    order = [d for d in ("trial", "channel", "time") if d in da.dims]
    data = np.asarray(da.transpose(*order).values, dtype=float)
    tmin = float(da["time"].values[0])
    if "trial" in da.dims:
        if all(c in da.coords for c in ("event_sample", "event_prev", "event_code")):
            events = np.column_stack([da[c].values for c in
                                      ("event_sample", "event_prev", "event_code")]).astype(int)
        else:
            n = da.sizes["trial"]
            events = np.column_stack([np.arange(n), np.zeros(n, int), np.ones(n, int)])
        event_id = json.loads(da.attrs.get("event_id", "null")) or None
        inst = mne.EpochsArray(data, info, events=events, tmin=tmin, event_id=event_id,
                               baseline=None, verbose=False)
    else:
        inst = mne.io.RawArray(data, info, first_samp=0, verbose=False)
    pos3d = np.column_stack([da[c].values for c in ("pos3d_x", "pos3d_y", "pos3d_z")])
    fid = json.loads(da.attrs.get("fiducials", "{}") or "{}")
    montage = mne.channels.make_dig_montage(
        ch_pos=dict(zip(names, pos3d, strict=True)), coord_frame="head",
        **{k: np.asarray(v) for k, v in fid.items()},
    )
    inst.set_montage(montage, verbose=False)
    inst.info["bads"] = [b for b in json.loads(da.attrs.get("bads", "[]")) if b in names]
    ann = json.loads(da.attrs.get("annotations", "null") or "null")
    if ann and ann["onset"] and "trial" not in da.dims:
        inst.set_annotations(mne.Annotations(ann["onset"], ann["duration"], ann["description"]))
    return inst

