"""Helpers for the hidden states of models trained on images of one object each.

An exported polygon run (:func:`wavescope.training.export_hidden_states`) holds per trial
the hidden states on the image grid and the image's mask. Each object launches its own
waves, so the states are compared across trials after centring each on its object
(:func:`centre_on_masks`); their phase is that of each site's oscillation about its mean
(:func:`model_phase`), ordered locally when :func:`local_order` beats pixels shuffled in
space; the shape is read from the spectrum on a frequency axis relative to its own peak
(:func:`relative_spectrum`), where size drops out, and the area from the absolute
frequencies (:func:`decode_shape_and_area`). Nothing here imports torch.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..core import from_array, space_dims, validate

__all__ = ["SHAPES", "RATIOS", "ENCODER_BORDER", "with_shape_labels", "centre_crop",
           "centre_on_masks", "border_sites", "model_phase", "local_order", "hidden_waves",
           "shape_spectra", "relative_spectrum", "decode_shape_and_area"]

#: Names of the polygon classes of :mod:`wavescope.training.data.polygons` (class = sides - 2).
SHAPES = ("triangle", "square", "pentagon", "hexagon", "heptagon", "octagon")

#: Frequencies of :func:`relative_spectrum`, as multiples of each series' peak frequency.
RATIOS = np.geomspace(0.5, 6.0, 80)

#: Sites of the NWM's grid this close to the image's edge see its encoders' zero padding:
#: the medium there (omega, alpha, y0) differs from what the same image inside a larger
#: black frame would give, and the states show a strip along the border (see
#: :func:`border_sites`). The first 3x3 convolution sees the padding's zeros as black;
#: each later one sees zeros where black would give its own non-zero response, one site
#: further in: 3 sites for the y0 encoder's four convolutions (2 for omega and alpha).
ENCODER_BORDER = 3


def with_shape_labels(ds: xr.Dataset) -> xr.Dataset:
    """Add each trial's shape class, shape name and area to an exported polygon Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        With masks ``label`` (trial, y, x): 0 background, ``sides - 2`` inside a polygon.

    Returns
    -------
    xarray.Dataset
        A copy with ``shape`` (trial; class 1-6, units "class"), ``shape_name`` (trial;
        from :data:`SHAPES`) and ``area`` (trial; foreground pixels, units "pixel^2").

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> masks = np.zeros((1, 4, 4), np.uint8); masks[0, :2, :2] = 2
    >>> out = with_shape_labels(xr.Dataset({"label": (("trial", "y", "x"), masks)}))
    >>> str(out["shape_name"].values[0]), int(out["area"].values[0])
    ('square', 4)
    """
    if "label" not in ds or ds["label"].dims != ("trial", "y", "x"):
        raise ValueError("expected a Dataset with masks 'label' (trial, y, x), as exported "
                         "from a polygons run")
    masks = ds["label"].values
    shape = masks.reshape(len(masks), -1).max(axis=1).astype(np.int64)
    area = (masks > 0).reshape(len(masks), -1).sum(axis=1)
    names = np.array(("background",) + SHAPES)
    return ds.assign(shape=("trial", shape, {"units": "class"}),
                     shape_name=("trial", names[shape]),
                     area=("trial", area, {"units": "pixel^2"}))


def centre_crop(values: np.ndarray, masks: np.ndarray, keep: float = 0.75, *,
                roll: bool = True) -> np.ndarray:
    """Per trial, a window of ``values`` centred on the centroid of its mask.

    Parameters
    ----------
    values : numpy.ndarray
        (trial, ..., y, x).
    masks : numpy.ndarray of bool
        (trial, y, x): the object of each trial.
    keep : float
        Fraction of each side kept (the window is ``round(keep * n)`` sites wide).
    roll : bool
        True: roll each trial (periodically) so the centroid, rounded to a site, lands on
        site ``(ny // 2, nx // 2)``, then cut the central window. False: cut the window
        closest to centred on the centroid that lies inside the grid.

    Returns
    -------
    numpy.ndarray
        (trial, ..., round(keep * ny), round(keep * nx)), the dtype of ``values``.

    Examples
    --------
    >>> values = np.arange(16.0).reshape(1, 4, 4)
    >>> masks = np.zeros((1, 4, 4), bool); masks[0, 0, 0] = True
    >>> centre_crop(values, masks, 0.5, roll=False)
    array([[[0., 1.],
            [4., 5.]]])
    """
    ny, nx = masks.shape[1:]
    cy, cx = int(round(ny * keep)), int(round(nx * keep))
    y0, x0 = (ny - cy) // 2, (nx - cx) // 2
    out = np.empty(values.shape[:-2] + (cy, cx), values.dtype)
    for i, mask in enumerate(masks):
        ys, xs = np.nonzero(mask)
        my, mx = int(round(ys.mean())), int(round(xs.mean()))
        if roll:
            shift = (ny // 2 - my, nx // 2 - mx)
            out[i] = np.roll(values[i], shift, axis=(-2, -1))[..., y0:y0 + cy, x0:x0 + cx]
        else:
            wy, wx = min(max(my - cy // 2, 0), ny - cy), min(max(mx - cx // 2, 0), nx - cx)
            out[i] = values[i][..., wy:wy + cy, wx:wx + cx]
    return out


def centre_on_masks(hidden: xr.DataArray, masks: np.ndarray, keep: float = 0.75, *,
                    roll: bool = True) -> xr.DataArray:
    """Centre each trial of a grid activity on its mask's centroid and crop it.

    Parameters
    ----------
    hidden : xarray.DataArray
        (trial, time, y, x) on a periodic grid (the NWM's torus).
    masks : numpy.ndarray of bool
        (trial, y, x): the object of each trial.
    keep : float
        Fraction of each side kept.
    roll : bool
        True: roll, exact on a torus; but where the input was zero-padded (the NWM's
        encoder), the grid's border lands inside the crop as a seam. False: cut the
        window that is closest to centred on the object and lies inside the grid (no
        seam; an object near the border sits off-centre). See :func:`centre_crop`.

    Returns
    -------
    xarray.DataArray
        (trial, time, y, x) with the sampling rate, units and time units of ``hidden``;
        no longer periodic; positions restart at 0 (in ``space_units``).

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> from wavescope import simulate as sim
    >>> waves = [sim.radial_wave((16, 16), n_times=40, sfreq=10.0, frequency=1.0, speed=5.0,
    ...                          noise=0.05, seed=s).values for s in (0, 1)]
    >>> hidden = ws.from_array(np.stack(waves)[:, :, None], ("trial", "time", "feature", "y", "x"),
    ...                        sfreq=10.0, source="model")  # (trial, time, feature, y, x)
    >>> from wavescope import drums
    >>> from wavescope.analysis.hidden import centre_on_masks
    >>> masks = np.stack([drums.square(6, size=16), drums.disc(3.0, size=16)])
    >>> crop = centre_on_masks(hidden.isel(feature=0), masks, keep=0.5)
    >>> print(crop.dims, crop.shape)
    ('trial', 'time', 'y', 'x') (2, 40, 8, 8)
    """
    if hidden.dims != ("trial", "time", "y", "x"):
        raise ValueError(f"expected dims (trial, time, y, x), got {hidden.dims}")
    if masks.shape != (hidden.sizes["trial"], hidden.sizes["y"], hidden.sizes["x"]):
        raise ValueError(f"masks {masks.shape} do not match the activity {hidden.shape}")
    out = centre_crop(hidden.values, masks, keep, roll=roll)
    return from_array(out, hidden.dims, sfreq=hidden.attrs["sfreq"],
                      t0=float(hidden["time"][0]), units=hidden.attrs.get("units"),
                      time_units=hidden.attrs.get("time_units", "s"),
                      space_units=hidden.attrs.get("space_units"),
                      source=hidden.attrs.get("source", "model"), periodic=False,
                      name=hidden.name)


def border_sites(masks: np.ndarray, keep: float = 0.75, *, roll: bool = True,
                 border: int = ENCODER_BORDER) -> np.ndarray:
    """Per trial, the sites of its centred crop that lie within ``border`` sites of the
    image's edge, where a zero-padded encoder's receptive field reaches past the image.

    The NWM's encoders pad the image with zeros (as the model prescribes), so their output
    within ``border`` sites of the edge differs from the interior's, and so do the hidden
    states there: an object near the edge shows a strip along it (rolled crops, a seam).
    Leaving these sites out (for example ``wavescope.exclude_bads(z, mask)``) keeps the
    strip out of phase maps, flow and critical points.

    Parameters
    ----------
    masks : numpy.ndarray of bool
        (trial, y, x): the object of each trial, as given to :func:`centre_crop`.
    keep, roll
        As for :func:`centre_crop` (the crop the mask is for).
    border : int
        Width of the strip in sites (default :data:`ENCODER_BORDER`).

    Returns
    -------
    numpy.ndarray of bool
        (trial, round(keep * ny), round(keep * nx)): True where the crop's site lies within
        ``border`` sites of the grid's edge.

    Examples
    --------
    >>> masks = np.zeros((1, 8, 8), bool); masks[0, 1, 1] = True  # near the top-left corner
    >>> border_sites(masks, 0.5, roll=False, border=1).astype(int)
    array([[[1, 1, 1, 1],
            [1, 0, 0, 0],
            [1, 0, 0, 0],
            [1, 0, 0, 0]]])
    """
    masks = np.asarray(masks, bool)
    if int(border) != border or border < 0:
        raise ValueError(f"border must be a non-negative number of sites, got {border!r}")
    ny, nx = masks.shape[1:]
    near = np.ones((ny, nx), bool)
    near[border:ny - border, border:nx - border] = False
    return centre_crop(np.broadcast_to(near, masks.shape), masks, keep, roll=roll)


def model_phase(hidden: xr.DataArray, *, common: bool = True) -> xr.DataArray:
    """Analytic signal of hidden states about each site's mean over time.

    The NWM's states oscillate about offsets set by the encoders (and drift); the phase
    of the oscillation is that of the mean-removed signal. No band-pass: a roll-out is
    only a few cycles long, too short for a filter's edge transients.

    Parameters
    ----------
    hidden : xarray.DataArray
        Hidden states (..., time, y, x).
    common : bool
        Keep the common mode (the whole field moving together). False also removes each
        frame's mean over space, which leaves the waves that travel across the field.

    Returns
    -------
    xarray.DataArray
        Complex, the dims and attributes of ``hidden``; its angle is the phase (rad).

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> from wavescope import simulate as sim
    >>> waves = [sim.radial_wave((16, 16), n_times=40, sfreq=10.0, frequency=1.0, speed=5.0,
    ...                          noise=0.05, seed=s).values for s in (0, 1)]
    >>> hidden = ws.from_array(np.stack(waves)[:, :, None], ("trial", "time", "feature", "y", "x"),
    ...                        sfreq=10.0, source="model")  # (trial, time, feature, y, x)
    >>> from wavescope.analysis.hidden import model_phase
    >>> z = model_phase(hidden.isel(feature=0))
    >>> print(z.dtype, z.dims)
    complex128 ('trial', 'time', 'y', 'x')
    """
    from .analytic import analytic_signal

    x = hidden - hidden.mean("time")
    if not common:
        x = x - x.mean(("y", "x"))
    return analytic_signal(x.assign_attrs(hidden.attrs))


def local_order(hidden: xr.DataArray, tile: int = 8, *, seed: int = 0) -> tuple[float, float]:
    """Local PGD of hidden states, and of the same states with their sites shuffled in space.

    Waves radiating from an object are ordered within windows but not across the grid
    (:func:`~wavescope.analysis.local_pgd`); the shuffled copy (one
    :func:`~wavescope.analysis.surrogates` of kind "shuffle") is the null, with the same
    time courses and no spatial order.

    Parameters
    ----------
    hidden : xarray.DataArray
        Real states (..., time, y, x); the phase is :func:`model_phase`'s.
    tile : int
        Window side, in sites.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    (float, float)
        Mean local PGD (0-1) of the states and of the shuffled states.

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> from wavescope import simulate as sim
    >>> waves = [sim.radial_wave((16, 16), n_times=40, sfreq=10.0, frequency=1.0, speed=5.0,
    ...                          noise=0.05, seed=s).values for s in (0, 1)]
    >>> hidden = ws.from_array(np.stack(waves)[:, :, None], ("trial", "time", "feature", "y", "x"),
    ...                        sfreq=10.0, source="model")  # (trial, time, feature, y, x)
    >>> from wavescope.analysis.hidden import local_order
    >>> states, shuffled = local_order(hidden.isel(feature=0), tile=8)
    >>> print(states > shuffled)  # waves are ordered locally, shuffled sites are not
    True
    """
    from .stats import surrogates
    from .waves import local_pgd

    shuffled = surrogates(hidden, n=1, seed=seed, dim="surrogate").isel(surrogate=0)
    return (float(local_pgd(model_phase(hidden), tile).mean()),
            float(local_pgd(model_phase(shuffled), tile).mean()))


def shape_spectra(ds: xr.Dataset) -> xr.DataArray:
    """Power spectra of exported hidden states (FFT, Hann window, zero-padded 4-fold so that
    a peak is placed between the bins of a short roll-out), averaged over space, with
    each trial's ``shape`` and ``shape_name`` as coordinates.

    Parameters
    ----------
    ds : xarray.Dataset
        ``hidden`` (trial, time, ..., y, x) and the labels of :func:`with_shape_labels`.

    Returns
    -------
    xarray.DataArray
        ``power`` (trial, ..., freq), in the units of :func:`~wavescope.analysis.spectrum`;
        ``attrs["frequency_resolution"]``: 1 / roll-out duration (cycles per time unit),
        four times the spacing of ``freq``.

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> from wavescope import simulate as sim
    >>> waves = [sim.radial_wave((16, 16), n_times=40, sfreq=10.0, frequency=1.0, speed=5.0,
    ...                          noise=0.05, seed=s).values for s in (0, 1)]
    >>> hidden = ws.from_array(np.stack(waves)[:, :, None], ("trial", "time", "feature", "y", "x"),
    ...                        sfreq=10.0, source="model")  # (trial, time, feature, y, x)
    >>> import xarray as xr
    >>> from wavescope import drums
    >>> from wavescope.analysis.hidden import shape_spectra, with_shape_labels
    >>> masks = np.stack([drums.square(6, size=16) * 2, drums.polygon(6, 4.0, size=16) * 4])
    >>> ds = with_shape_labels(xr.Dataset({"hidden": hidden,
    ...                                    "label": (("trial", "y", "x"), masks)}))
    >>> spec = shape_spectra(ds)
    >>> print(spec.dims, spec["shape_name"].values.tolist())
    ('trial', 'feature', 'freq') ['square', 'hexagon']
    """
    from .spectral import spectrum

    n = ds["hidden"].sizes["time"]
    spec = spectrum(ds["hidden"], "fft", window="hann", n_fft=4 * n).mean(("y", "x"),
                                                                           keep_attrs=True)
    return spec.assign_coords(shape=("trial", ds["shape"].values),
                              shape_name=("trial", ds["shape_name"].values)).rename(
        "power").assign_attrs(frequency_resolution=float(ds["hidden"].attrs["sfreq"]) / n)


def relative_spectrum(da: xr.DataArray, ratios=RATIOS, *, pad: int = 4) -> np.ndarray:
    """Scale-free spectral features: each trial's log power spectrum, averaged over space,
    read at fixed multiples of its own peak frequency.

    A drum (or any wave field) made ``s`` times larger sounds every mode ``s`` times lower,
    so its spectrum shifts along a log-frequency axis. Read at ``f = ratio * f_peak`` and
    taken relative to the peak, the spectrum no longer depends on size but keeps the
    ratios between the modes, which depend on shape.

    Parameters
    ----------
    da : xarray.DataArray
        Activity with ``trial`` and ``time`` dims (and space; other dims such as
        ``feature`` give one block of features each).
    ratios : array_like
        Multiples of the peak frequency to read (log-spaced by default).
    pad : int
        Zero-padding factor of the FFT (finer frequency sampling for the interpolation).

    Returns
    -------
    numpy.ndarray
        (n_trials, n_blocks * len(ratios)) log power relative to the peak (nepers); 0 at
        ratio 1 when the peak lies on an FFT bin. The peak is the largest bin above DC;
        frequencies past the last bin read the last bin's power.

    Examples
    --------
    >>> import xarray as xr
    >>> from wavescope import simulate as sim
    >>> from wavescope.analysis.hidden import RATIOS, relative_spectrum
    >>> trials = xr.concat([sim.plane_wave((4, 4), n_times=100, frequency=f) for f in (4.0, 8.0)],
    ...                    "trial")
    >>> feats = relative_spectrum(trials)
    >>> print(feats.shape == (2, RATIOS.size))
    True
    >>> print(RATIOS[feats.argmax(axis=1)].round(2))  # both peak at their own frequency
    [1. 1.]
    """
    from .spectral import spectrum

    validate(da)
    if "trial" not in da.dims:
        raise ValueError(f"relative_spectrum needs a 'trial' dim, got dims {da.dims}")
    ratios = np.asarray(ratios, dtype=float)
    spec = spectrum(da, "fft", window="hann", n_fft=int(pad) * da.sizes["time"])
    power = spec.mean(space_dims(da)).transpose("trial", ..., "freq")
    freqs = power["freq"].values
    values = power.values.reshape(-1, freqs.size)
    floor = 1e-12 * values.max(axis=1, keepdims=True) + np.finfo(float).tiny
    logp = np.log(np.maximum(values, floor))
    out = np.empty((len(values), ratios.size))
    for i, row in enumerate(logp):
        k = 1 + int(np.argmax(row[1:]))  # the peak above DC
        out[i] = np.interp(freqs[k] * ratios, freqs, row, right=row[-1]) - row[k]
    return out.reshape(power.sizes["trial"], -1)


def decode_shape_and_area(sources: dict, shape, area, *, inputs=None, cv: int = 5,
                          seed: int = 0) -> list[dict]:
    """Cross-validated decoding of each trial's shape and area from the spectra of several
    activities of the same trials, each beside its controls in the same folds.

    The shape is read from :func:`relative_spectrum` (logistic regression), which does not
    change with size; the area from the absolute frequencies (pooled log-FFT, ridge); see
    :func:`~wavescope.analysis.decode_with_baselines` for the controls.

    Parameters
    ----------
    sources : dict of str to xarray.DataArray
        Name -> activity (trial, time, ...), e.g. hidden states and the fixed drum.
    shape : array_like of int
        Shape class of each trial.
    area : array_like of float
        Area of each trial's object (pixels).
    inputs : xarray.DataArray, optional
        The input images, whose controls (pixel count, ``|FFT2|``) are scored once, with the
        first source, under the source name "input image".
    cv : int
        Stratified folds.
    seed : int
        Seeds folds, estimators and shuffled labels.

    Returns
    -------
    list of dict
        Rows of :func:`~wavescope.analysis.decode_with_baselines` with ``source`` and
        ``target`` ("shape" or "area") first; the spectral decoder's ``description`` says
        which features it read.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> import wavescope as ws
    >>> from wavescope.analysis.hidden import decode_shape_and_area
    >>> rng = np.random.default_rng(0)
    >>> shape = np.repeat([1, 2], 10)  # two shape classes of 10 trials
    >>> area = rng.uniform(20, 60, 20)
    >>> t = np.arange(64) / 64.0
    >>> x = np.sin(2 * np.pi * (2.0 + 2.0 * shape + 0.05 * area)[:, None] * t)[:, :, None, None]
    >>> states = ws.from_array(x + 0.05 * rng.standard_normal((20, 64, 2, 2)),
    ...                        ("trial", "time", "y", "x"), sfreq=64.0, source="model")
    >>> rows = decode_shape_and_area({"toy": states}, shape, area, cv=2)
    >>> print(sorted({(r["source"], r["target"]) for r in rows}))
    [('toy', 'area'), ('toy', 'shape')]
    """
    from .decoding import SpectralFeatures, decode_with_baselines

    rows = []
    for i, (source, data) in enumerate(sources.items()):
        for target, y, task, X, features, what in (
                ("shape", shape, "classification", relative_spectrum(data), "passthrough",
                 "log spectrum relative to its peak"),
                ("area", area, "regression", data, SpectralFeatures(pool="mean", log=True),
                 "pooled log-FFT")):
            table = decode_with_baselines(X, y, states=data, inputs=inputs if i == 0 else None,
                                          task=task, features=features, cv=cv, seed=seed)
            table.loc[0, "description"] = what
            for r in table.to_dict("records"):
                src = "input image" if r["decoder"] in ("pixel_count", "input_fft2") else source
                rows.append({"source": src, "target": target, **r})
    return rows


def hidden_waves(ds: xr.Dataset, *, feature: int = 0, tile: int = 8, n_surrogates: int = 19,
                 seed: int = 0, progress: bool = False) -> tuple[xr.Dataset, dict]:
    """Wave events in the hidden states of an exported polygon run, each image centred on
    its polygon, and numbers that say whether they are waves.

    Each polygon launches its own waves, so every image is cut to the window closest to
    centred on its polygon that lies inside the grid (:func:`centre_on_masks` with
    ``roll=False``: rolling would be exact on the torus, but the encoder zero-pads the
    image, so a rolled crop carries the image border through it as a seam); the phase is
    :func:`model_phase`'s.

    Parameters
    ----------
    ds : xarray.Dataset
        ``hidden`` (trial, time, feature, y, x) and masks ``label`` (trial, y, x).
    feature : int
        Feature (oscillator channel) analysed.
    tile : int
        Window side of :func:`local_order`, in sites.
    n_surrogates : int
        Surrogates per event p-value of :func:`~wavescope.analysis.detect_waves`.
    seed : int
        Seeds the surrogates and the shuffle.
    progress : bool
        Show a progress bar.

    Returns
    -------
    events : xarray.Dataset
        :func:`~wavescope.analysis.detect_waves` of the centred states.
    numbers : dict
        :func:`~wavescope.analysis.summaries.event_summary` with ``local_pgd`` and
        ``local_pgd_shuffled`` (:func:`local_order`, 0-1), ``kw_speed`` (median
        absolute k-omega ridge speed of the uncropped states, space units per time unit)
        and ``kw_directionality`` (its median directionality: near 0 the k-omega power
        is symmetric in k, standing modes or radial spread, and the speed is only a phase
        velocity; see :func:`~wavescope.analysis.kw_speed`).

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> from wavescope import simulate as sim
    >>> waves = [sim.radial_wave((16, 16), n_times=40, sfreq=10.0, frequency=1.0, speed=5.0,
    ...                          noise=0.05, seed=s).values for s in (0, 1)]
    >>> hidden = ws.from_array(np.stack(waves)[:, :, None], ("trial", "time", "feature", "y", "x"),
    ...                        sfreq=10.0, source="model")  # (trial, time, feature, y, x)
    >>> import xarray as xr
    >>> from wavescope import drums
    >>> from wavescope.analysis.hidden import hidden_waves
    >>> masks = np.stack([drums.square(6, size=16) * 2, drums.polygon(6, 4.0, size=16) * 4])
    >>> ds = xr.Dataset({"hidden": hidden, "label": (("trial", "y", "x"), masks)})
    >>> events, numbers = hidden_waves(ds, tile=8, n_surrogates=10)
    >>> print(events["frame_pattern"].dims, "kw_speed" in numbers, "local_pgd" in numbers)
    ('trial', 'time') True True
    """
    from .events import detect_waves
    from .spectral import kw_speed
    from .summaries import event_summary

    hidden = ds["hidden"].isel(feature=feature)
    centred = centre_on_masks(hidden, ds["label"].values > 0, roll=False)
    ev = detect_waves(model_phase(centred), n_surrogates=n_surrogates, seed=seed,
                      progress=progress)
    numbers = event_summary(ev)
    numbers["local_pgd"], numbers["local_pgd_shuffled"] = local_order(centred, tile, seed=seed)
    kw = kw_speed(hidden, method="ridge")
    numbers["kw_speed"] = float(np.nanmedian(np.abs(kw["speed"].values)))
    numbers["kw_directionality"] = float(np.nanmedian(kw["directionality"].values))
    return ev, numbers
