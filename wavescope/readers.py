"""Recordings into the data model, through the libraries the field uses.

:func:`read` dispatches on the file: ``.nwb`` (:func:`read_nwb`, through ``pynwb``),
``.tif``/``.tiff`` (:func:`read_tiff`, through ``tifffile``), ``.nc``
(:func:`wavescope.load`), and everything MNE reads (EDF, BDF, BrainVision, FIF, EEGLAB,
...; through :func:`mne.io.read_raw` or :func:`mne.read_epochs` and
:func:`wavescope.from_mne`). Each returns an activity in SI units with ``units``,
``sfreq``, ``space_units``, ``source="recording"``, bad sites in ``attrs["bads"]`` and
the file, reader and library versions in ``attrs["provenance"]``.

``pynwb`` and ``tifffile`` are optional: ``pip install 'wavescope[nwb]'`` or
``'wavescope[imaging]'``.

Conventions
    Electrode positions: NWB stores them in micrometres (``x``, ``y``, ``z`` in the
    brain; ``rel_x``, ``rel_y``, ``rel_z`` within the electrode group). The in-group
    positions are used when they span a plane (a Utah array, an ECoG grid); otherwise the
    brain positions go onto their best-fitting plane (as :func:`wavescope.from_mne` with
    ``projection="plane"``). Positions are returned in metres.

    Images: an NWB ``ImageSeries`` is ``(frame, x, y)`` (the NWB schema's order) and a
    TIFF stack ``(frame, row, column)``; both come back as ``(time, y, x)`` with ``x``,
    ``y`` the pixel centres in metres from the first pixel (for TIFF, ``y`` grows with the
    row index, i.e. downwards in the usual image display).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from .core import DataModelError, WavescopeWarning, from_array, validate

__all__ = ["read", "read_nwb", "read_tiff"]

#: Metres per unit, for the length units recordings come in.
_METRES = {"m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0,
           "cm": 1e-2, "centimeter": 1e-2, "centimeters": 1e-2,
           "mm": 1e-3, "millimeter": 1e-3, "millimeters": 1e-3,
           "um": 1e-6, "µm": 1e-6, "\u03bcm": 1e-6, "micron": 1e-6, "microns": 1e-6,
           "micrometer": 1e-6, "micrometers": 1e-6, "nm": 1e-9}
_ECEPHYS_UNITS = {"volts": "V", "volt": "V", "v": "V"}


def _require(module: str, extra: str):
    try:
        return __import__(module)
    except ImportError as err:
        raise ImportError(
            f"this reader needs {module}, which is not installed; install it with "
            f"pip install 'wavescope[{extra}]' (or pip install {module})"
        ) from err


def _metres_per(unit: str, what: str) -> float:
    key = str(unit).strip().lower().replace("\\u00b5", "µ")
    if key not in _METRES:
        raise DataModelError(
            f"{what} are in {unit!r}, a length unit wavescope does not know; give "
            f"one of {sorted(set(_METRES))}"
        )
    return _METRES[key]


def read(path: str | os.PathLike, **kwargs) -> xr.DataArray:
    """Read a recording (or a file written by :func:`wavescope.save`), by its suffix.

    Parameters
    ----------
    path : str or path-like
        ``.nwb``, ``.tif``/``.tiff``, ``.nc``, or any file MNE reads (``-epo.fif`` files
        as Epochs).
    **kwargs
        Passed to the reader: :func:`read_nwb`, :func:`read_tiff`, :func:`wavescope.load`
        or, for MNE files, ``projection`` and ``origin`` to :func:`wavescope.from_mne`
        and the rest to :func:`mne.io.read_raw`.

    Returns
    -------
    xarray.DataArray
        The activity (a Dataset for ``.nc`` files that hold one).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    wavescope.io.WavescopeIOError
        When no reader knows the file.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import tifffile
    >>> from wavescope import readers
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "stack.tif"
    ...     tifffile.imwrite(path, np.zeros((5, 6, 8), np.uint16))
    ...     da = readers.read(path, sfreq=20.0, pixel_size=10.0)
    ...     print(da.dims, da.shape, da.attrs["space_units"])
    ...
    ('time', 'y', 'x') (5, 6, 8) m
    """
    from .io import WavescopeIOError, from_mne, load

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".nwb":
        return read_nwb(path, **kwargs)
    if suffix in (".tif", ".tiff"):
        return read_tiff(path, **kwargs)
    if suffix == ".nc":
        return load(path, **kwargs)
    import mne

    to_model = {k: kwargs.pop(k) for k in ("projection", "origin") if k in kwargs}
    try:
        if path.name.endswith(("-epo.fif", "_epo.fif", "-epo.fif.gz", "_epo.fif.gz")):
            inst = mne.read_epochs(path, preload=True, verbose=False, **kwargs)
        else:
            inst = mne.io.read_raw(path, preload=True, verbose=False, **kwargs)
    except ValueError as err:
        raise WavescopeIOError(
            f"no reader for {path.name} ({err}); wavescope reads .nwb, .tif/.tiff, .nc and "
            "every format MNE reads"
        ) from err
    return from_mne(inst, **to_model)


# ----------------------------------------------------------------------------- NWB


def read_nwb(path: str | os.PathLike, series: str | None = None, *,
             position_units: str = "um", pixel_size: float | None = None,
             space_units: str = "m") -> xr.DataArray:
    """An ``ElectricalSeries`` or an imaging series (``OnePhotonSeries``,
    ``TwoPhotonSeries``, ``ImageSeries``) of an NWB file, as an activity.

    Parameters
    ----------
    path : str or path-like
        The NWB (HDF5) file.
    series : str, optional
        Name of the series (in ``acquisition`` or a processing module). Default: the only
        electrical or imaging series in the file.
    position_units : str
        Unit of the electrodes table's positions (the NWB schema says micrometres).
    pixel_size : float, optional
        Imaging only: the distance between pixel centres, in ``space_units``, when the
        file does not give it (``imaging_plane.grid_spacing``, or ``field_of_view``
        divided by the image size). Without either the pixels are the unit ("pixel",
        with a warning).
    space_units : str
        Unit of ``pixel_size``.

    Returns
    -------
    xarray.DataArray
        Electrical: dims ``(time, channel)`` in volts (``data * conversion *
        channel_conversion + offset``), positions ``x``, ``y`` in metres, coordinates
        ``pos3d_x``, ``pos3d_y``, ``pos3d_z`` (the brain positions, metres) and
        ``electrode_id``; channel names from the table's ``label`` column (else
        "e{id}"); ``attrs["bads"]`` from a boolean ``bad`` column (True = bad) or
        ``good`` column (False = bad). Imaging: dims ``(time, y, x)`` in the series'
        unit (times ``conversion``, plus ``offset``). Time in seconds from the series'
        ``starting_time`` (or its ``timestamps``), ``sfreq`` its ``rate`` (or the median
        rate of the timestamps).

    Examples
    --------
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import pynwb
    >>> from wavescope import readers
    >>> nwb = pynwb.NWBFile(session_description="demo", identifier="demo",
    ...                     session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    >>> movie = pynwb.image.ImageSeries(name="movie", data=np.zeros((10, 4, 6)), unit="a.u.",
    ...                                 rate=25.0)
    >>> nwb.add_acquisition(movie)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "demo.nwb"
    ...     with pynwb.NWBHDF5IO(str(path), "w") as io:
    ...         io.write(nwb)
    ...     da = readers.read_nwb(path, pixel_size=0.05, space_units="mm")  # NWB frames: (x, y)
    ...     print(da.dims, da.shape, da.attrs["sfreq"], da.attrs["space_units"])
    ...
    ('time', 'y', 'x') (10, 6, 4) 25.0 m
    """
    pynwb = _require("pynwb", "nwb")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    from pynwb.ecephys import ElectricalSeries
    from pynwb.image import ImageSeries

    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        found = {obj.name: obj for obj in nwb.objects.values()
                 if isinstance(obj, ElectricalSeries | ImageSeries)}
        if series is None:
            if len(found) != 1:
                raise DataModelError(
                    f"{path.name} holds {len(found)} electrical or imaging series "
                    f"{sorted(found)}; choose one with series=..."
                )
            series = next(iter(found))
        if series not in found:
            raise DataModelError(
                f"{path.name} has no electrical or imaging series {series!r}; it has "
                f"{sorted(found)}"
            )
        ts = found[series]
        prov = {"reader": "wavescope.readers.read_nwb", "file": str(path.resolve()),
                "series": series, "neurodata_type": type(ts).__name__,
                "pynwb_version": pynwb.__version__, "identifier": nwb.identifier,
                "session_description": nwb.session_description,
                "session_start_time": str(nwb.session_start_time)}
        time, sfreq = _nwb_time(ts, path)
        if isinstance(ts, ElectricalSeries):
            da = _electrical(ts, time, sfreq, position_units, prov)
        else:
            da = _imaging(ts, time, sfreq, pixel_size, space_units, prov)
    return validate(da)


def _nwb_time(ts, path: Path) -> tuple[np.ndarray, float]:
    n = int(ts.data.shape[0])
    if ts.timestamps is not None:
        t = np.asarray(ts.timestamps[:], dtype=float)
        if t.size > 1:
            return t, 1.0 / float(np.median(np.diff(t)))
    rate = ts.rate
    if rate is None and getattr(ts, "imaging_plane", None) is not None:
        rate = ts.imaging_plane.imaging_rate
    if rate is None:
        raise DataModelError(
            f"series {ts.name!r} of {path.name} gives neither a rate nor timestamps; the "
            "sampling rate cannot be known"
        )
    start = float(ts.starting_time or 0.0)
    return start + np.arange(n) / float(rate), float(rate)


def _electrical(ts, time, sfreq, position_units, prov) -> xr.DataArray:
    table = ts.electrodes.table
    rows = np.asarray(ts.electrodes.data[:], dtype=int)
    columns = set(table.colnames)

    def column(name):
        return np.asarray(table[name].data[:])[rows] if name in columns else None

    scale = _metres_per(position_units, "electrode positions")
    pos3d = np.column_stack([column(c) if c in columns else np.zeros(rows.size)
                             for c in ("x", "y", "z")]).astype(float) * scale
    rel = np.column_stack([column(c) if c in columns else np.zeros(rows.size)
                           for c in ("rel_x", "rel_y", "rel_z")]).astype(float) * scale
    ids = np.asarray(table.id.data[:])[rows]
    label = column("label")
    names = ([str(v) for v in label] if label is not None else [f"e{int(i)}" for i in ids])
    if _spans_plane(rel):
        xy, geometry = _in_plane(rel, "rel_x, rel_y, rel_z (within the electrode group)")
    elif _spans_plane(pos3d):
        xy, geometry = _in_plane(pos3d, "x, y, z (brain positions)")
    else:
        raise DataModelError(
            "the electrodes table gives no 2-D layout (rel_x/rel_y or x/y/z); wave analysis "
            "needs electrode positions: add them to the NWB file's electrodes table"
        )
    if "bad" in columns:
        bad = column("bad").astype(bool)
    elif "good" in columns:
        bad = ~column("good").astype(bool)
    else:
        bad = np.zeros(rows.size, dtype=bool)
    data = np.asarray(ts.data[:], dtype=float) * float(ts.conversion)
    if ts.channel_conversion is not None:
        data = data * np.asarray(ts.channel_conversion[:], dtype=float)[None, :]
    data = data + float(getattr(ts, "offset", 0.0) or 0.0)
    unit = _ECEPHYS_UNITS.get(str(ts.unit).lower(), str(ts.unit))
    prov = dict(prov, geometry=geometry, position_units=position_units)
    da = from_array(data, ("time", "channel"), sfreq=sfreq, positions=xy, ch_names=names,
                    units=unit, time_units="s", space_units="m", source="recording",
                    provenance=prov, name=ts.name)
    da = da.assign_coords(time=time, pos3d_x=("channel", pos3d[:, 0]),
                          pos3d_y=("channel", pos3d[:, 1]), pos3d_z=("channel", pos3d[:, 2]),
                          electrode_id=("channel", ids.astype(int)))
    da.attrs["bads"] = json.dumps([n for n, b in zip(names, bad, strict=True) if b])
    return da


def _spans_plane(pos: np.ndarray) -> bool:
    if not np.all(np.isfinite(pos)):
        return False
    sv = np.linalg.svd(pos - pos.mean(axis=0), compute_uv=False)
    return sv.size >= 2 and sv[1] > 1e-9 * max(sv[0], np.finfo(float).tiny)


def _in_plane(pos: np.ndarray, source: str) -> tuple[np.ndarray, dict]:
    if np.ptp(pos[:, 2]) == 0:  # already planar in x, y: keep the file's own axes
        return pos[:, :2].copy(), {"positions": source, "kind": "as given (z constant)"}
    from ._positions import plane_positions

    xy, info = plane_positions(pos)
    return xy, dict(info, positions=source)


def _imaging(ts, time, sfreq, pixel_size, space_units, prov) -> xr.DataArray:
    frames = np.asarray(ts.data[:])
    if frames.ndim != 3:
        raise DataModelError(
            f"series {ts.name!r} has data of shape {frames.shape}; wavescope reads (frame, x, "
            "y) image stacks (select one z plane or colour channel first)"
        )
    values = np.swapaxes(frames, 1, 2).astype(float) * float(ts.conversion)
    values = values + float(getattr(ts, "offset", 0.0) or 0.0)
    spacing, where = _nwb_pixel_size(ts, frames.shape[1:], pixel_size, space_units)
    units = "pixel" if spacing is None else "m"
    if spacing is None:
        warnings.warn(
            f"series {ts.name!r} gives no pixel size (imaging_plane.grid_spacing or "
            "field_of_view): positions and speeds are in pixels; pass pixel_size=... and "
            "space_units=... to read_nwb for physical units",
            WavescopeWarning, stacklevel=3,
        )
        spacing = (1.0, 1.0)
    prov = dict(prov, pixel_size=where)
    da = from_array(values, ("time", "y", "x"), sfreq=sfreq, spacing=(spacing[1], spacing[0]),
                    units=str(ts.unit), time_units="s", space_units=units,
                    source="recording", provenance=prov, name=ts.name)
    return da.assign_coords(time=time)


def _nwb_pixel_size(ts, shape_xy, pixel_size, space_units):
    """(dx, dy) in metres and where it came from, or (None, None)."""
    if pixel_size is not None:
        d = float(pixel_size) * _metres_per(space_units, "pixel_size")
        return (d, d), f"pixel_size={pixel_size} {space_units} (argument)"
    plane = getattr(ts, "imaging_plane", None)
    if plane is not None and plane.grid_spacing is not None:
        scale = _metres_per(plane.grid_spacing_unit, "imaging_plane.grid_spacing")
        gs = np.asarray(plane.grid_spacing[:2], dtype=float) * scale
        return (gs[0], gs[1]), "imaging_plane.grid_spacing"
    fov = getattr(ts, "field_of_view", None)
    if fov is not None:
        fov = np.asarray(fov[:2], dtype=float)  # width (x), height (y), metres
        return (fov[0] / shape_xy[0], fov[1] / shape_xy[1]), "field_of_view / image size"
    return None, None


# ----------------------------------------------------------------------------- TIFF


def read_tiff(path: str | os.PathLike, *, sfreq: float | None = None,
              pixel_size: float | None = None, space_units: str = "um",
              units: str = "a.u.") -> xr.DataArray:
    """A TIFF image stack (frames of one plane) as a grid activity ``(time, y, x)``.

    The frame rate and pixel size come from the file's ImageJ metadata (``finterval``,
    ``fps``, ``unit`` with the X/Y resolution tags) or OME-XML (``TimeIncrement``,
    ``PhysicalSizeX``/``Y`` with their units); the arguments override them.

    Parameters
    ----------
    path : str or path-like
        A multi-page TIFF (ImageJ, OME or plain) holding one 2-D image per frame.
    sfreq : float, optional
        Frames per second, when the file does not say (required then).
    pixel_size : float, optional
        Distance between pixel centres, in ``space_units``. Without it, and without a
        size in the file, positions are in pixels (with a warning).
    space_units : str
        Unit of ``pixel_size``.
    units : str
        Unit of the pixel values (e.g. "a.u." for fluorescence counts).

    Returns
    -------
    xarray.DataArray
        Float values, dims ``(time, y, x)``, positions in metres (or pixels), time in
        seconds from 0, ``source="recording"``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import tifffile
    >>> from wavescope import readers
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "stack.tif"
    ...     tifffile.imwrite(path, np.arange(5 * 6 * 8, dtype=np.uint16).reshape(5, 6, 8))
    ...     da = readers.read_tiff(path, sfreq=20.0, pixel_size=10.0, space_units="um")
    ...     print(da.dims, da.attrs["sfreq"], da.attrs["space_units"], da["x"].values[:3] * 1e6)
    ...
    ('time', 'y', 'x') 20.0 m [ 0. 10. 20.]
    """
    tifffile = _require("tifffile", "imaging")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    with tifffile.TiffFile(str(path)) as tif:
        s = tif.series[0]
        frames = np.asarray(s.asarray())
        axes = s.axes
        meta = _tiff_meta(tif)
    frames, axes = _squeeze(frames, axes, path)
    rate = sfreq if sfreq is not None else meta.get("sfreq")
    if rate is None:
        raise DataModelError(
            f"{path.name} does not give its frame rate; pass read_tiff(..., sfreq=...) in "
            "frames per second"
        )
    if pixel_size is not None:
        spacing = (float(pixel_size) * _metres_per(space_units, "pixel_size"),) * 2
        where = "argument"
    else:
        spacing, where = meta.get("spacing"), meta.get("spacing_from")
    if spacing is None:
        warnings.warn(
            f"{path.name} gives no pixel size: positions and speeds are in pixels; pass "
            "pixel_size=... (and space_units=...) for physical units",
            WavescopeWarning, stacklevel=2,
        )
    prov = {"reader": "wavescope.readers.read_tiff", "file": str(path.resolve()),
            "tifffile_version": tifffile.__version__, "axes": axes,
            "sfreq_from": "argument" if sfreq is not None else meta.get("sfreq_from"),
            "pixel_size_from": where}
    return from_array(frames.astype(float), ("time", "y", "x"), sfreq=float(rate),
                      spacing=(1.0, 1.0) if spacing is None else (spacing[1], spacing[0]),
                      units=units, time_units="s",
                      space_units="pixel" if spacing is None else "m",
                      source="recording", provenance=prov)


def _squeeze(frames: np.ndarray, axes: str, path: Path) -> tuple[np.ndarray, str]:
    """Drop singleton axes; the rest must be (frames, Y, X)."""
    keep = [i for i, (a, n) in enumerate(zip(axes, frames.shape, strict=True))
            if n > 1 or a in "YX"]
    frames = frames.reshape([frames.shape[i] for i in keep])
    axes = "".join(axes[i] for i in keep)
    if frames.ndim == 2:
        frames, axes = frames[None], "T" + axes
    if frames.ndim != 3 or axes[1:] != "YX":
        raise DataModelError(
            f"{path.name} holds an image series of axes {axes!r}, shape {frames.shape}; "
            "wavescope reads stacks of 2-D frames (T, Y, X): select one channel or plane "
            "first (e.g. with tifffile)"
        )
    return frames, "T" + axes[1:]


def _tiff_meta(tif) -> dict:
    meta: dict = {}
    ij = tif.imagej_metadata or {}
    if ij.get("finterval"):
        meta.update(sfreq=1.0 / float(ij["finterval"]), sfreq_from="ImageJ finterval")
    elif ij.get("fps"):
        meta.update(sfreq=float(ij["fps"]), sfreq_from="ImageJ fps")
    page = tif.pages.first
    res = [page.tags.get(k) for k in ("XResolution", "YResolution")]
    if ij.get("unit") and all(r is not None for r in res):
        scale = _metres_per(ij["unit"], "the ImageJ unit")
        ppu = [r.value[0] / r.value[1] for r in res]  # pixels per unit
        meta.update(spacing=(scale / ppu[0], scale / ppu[1]),
                    spacing_from="ImageJ unit and X/YResolution")
    if tif.ome_metadata:
        meta.update(_ome_meta(tif.ome_metadata))
    return meta


def _ome_meta(xml: str) -> dict:
    out: dict = {}
    pixels = re.search(r"<(?:\w+:)?Pixels\b[^>]*>", xml)
    if pixels is None:
        return out
    attrs = dict(re.findall(r'(\w+)="([^"]*)"', pixels.group(0)))
    if "PhysicalSizeX" in attrs and "PhysicalSizeY" in attrs:
        sx = float(attrs["PhysicalSizeX"]) * _metres_per(attrs.get("PhysicalSizeXUnit", "µm"),
                                                         "OME PhysicalSizeX")
        sy = float(attrs["PhysicalSizeY"]) * _metres_per(attrs.get("PhysicalSizeYUnit", "µm"),
                                                         "OME PhysicalSizeY")
        out.update(spacing=(sx, sy), spacing_from="OME PhysicalSizeX/Y")
    if attrs.get("TimeIncrement"):
        unit = attrs.get("TimeIncrementUnit", "s")
        per_s = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6}.get(unit)
        if per_s is not None:
            out.update(sfreq=1.0 / (float(attrs["TimeIncrement"]) * per_s),
                       sfreq_from="OME TimeIncrement")
    return out
