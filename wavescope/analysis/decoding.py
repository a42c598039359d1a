"""Decoding from spectra: a scikit-learn transformer and cross-validated decoders.

:class:`SpectralFeatures` turns time series (model hidden states or recorded epochs) into
per-unit spectral features, optionally pooled over space; it is a real scikit-learn
transformer, so ``Pipeline``, ``cross_val_score`` and ``GridSearchCV`` work with it.
:func:`decode` wraps it with a scaler and a linear model and returns cross-validated scores
for a class (e.g. a drum's shape) or a quantity (e.g. its area).
:func:`decode_with_baselines` scores the same decoder beside trivial controls (shuffled
labels, the input's pixel count and 2-D FFT, the time-mean of the states, spectra without
their amplitude, the peak frequency alone) in the same folds, so a claim such as "the area
is heard from the spectrum" can be checked against what carries it without frequency.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from sklearn.base import BaseEstimator, TransformerMixin, clone, is_classifier
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from ..core import DataModelError, bad_sites, exclude_bads, space_dims, validate
from ._psd import psd, spectrum_options

__all__ = ["BASELINES", "CONTROL_KINDS", "SpectralFeatures", "decode",
           "decode_with_baselines"]

POOLS = (None, "mean", "max")


def _as_samples(X):
    """(array (n_samples, n_times, ...), sfreq or None, pooled axes) from an array or xarray.

    An xarray activity must have a ``trial`` dim (the samples); its other non-time dims
    are units, and pooling runs over the spatial ones (``feature`` is kept). Bad sites
    (``attrs["bads"]``) are left out, as MNE's decoders leave out ``info["bads"]``: bad
    channels are dropped, and a grid with bad sites becomes one ``site`` axis of its good
    sites (features must be finite).
    """
    if not isinstance(X, xr.DataArray):
        return X, None, None
    validate(X)
    if "trial" not in X.dims:
        raise DataModelError(
            f"an xarray input needs a 'trial' dim (one sample per trial); got dims {X.dims}"
        )
    X = exclude_bads(X, stacklevel=5)
    space = list(space_dims(X))
    if space and space != ["channel"]:
        bad = bad_sites(X).stack(site=space)
        if bool(bad.any()):
            X = X.stack(site=space).isel(site=np.flatnonzero(~bad.values))
            space = ["site"]
    rest = [d for d in X.dims if d not in ("trial", "time", *space)]
    X = X.transpose("trial", "time", *rest, *space)
    pooled = tuple(range(2 + len(rest), X.ndim))
    return X.values, float(X.attrs["sfreq"]), pooled


class SpectralFeatures(TransformerMixin, BaseEstimator):
    """Per-unit spectral features of time series, for decoding.

    Input is ``(n_samples, n_times, *units)`` (units: hidden channels, pixels, sensors; a
    2-D array is one unit per sample), or an xarray activity with a ``trial`` dim, whose
    ``sfreq`` sets the frequency axis. Each unit's time series becomes its spectrum, cut to
    ``[fmin, fmax]``; the output is ``(n_samples, n_units_kept * n_freqs)``.

    Parameters
    ----------
    method : {"fft", "power", "welch", "multitaper"}
        "fft": the FFT magnitude ``|rfft(x * window)|`` with the DC bin kept and nothing
        removed (the NWM's ``fft`` readout). "power", "welch",
        "multitaper": power spectral densities as in :func:`wavescope.analysis.spectrum`
        (periodogram, Welch, MNE multitaper; mean removed).
    sfreq : float, optional
        Sampling rate of array input (cycles per time unit then; default 1, cycles per
        sample). An xarray input brings its own, which must agree when both are given.
    fmin, fmax : float, optional
        Keep frequencies in ``[fmin, fmax]``.
    n_fft : int, optional
        FFT length (zero-padding) for "fft" and "power".
    window : str, optional
        Taper for "fft"/"power"/"welch" (default none, none, "hann").
    nperseg : int, optional
        Welch segment length.
    pool : {None, "mean", "max"}
        Pool each frequency's value over units: for arrays over all unit axes, for xarray
        over the spatial dims (``feature`` kept). Pooling makes features independent of
        where in the grid a pattern sits.
    log : bool
        Take the natural log of the features, floored at 1e-12 times each sample's largest
        value (so that zeros, e.g. sites outside a drum, stay finite).
    normalize : bool
        Divide each unit's spectrum (after pooling, before the log) by its sum over the kept
        frequencies, so that only how the power is spread over frequency remains, not how
        much there is (a unit with no power stays zero).

    Attributes
    ----------
    n_features_in_ : int
        Number of time samples seen in fit.
    sfreq_ : float
        Sampling rate used.
    freqs_ : numpy.ndarray
        Frequencies of the features (cycles per time unit).
    n_features_out_ : int
        Number of output features.
    unit_shape_ : tuple
        Shape of the units seen in fit (everything after the time axis).
    pooled_axes_ : tuple or None
        Axes pooled for xarray input (the spatial ones, in the (trial, time, feature...,
        space...) layout); None for array input (all unit axes).

    Examples
    --------
    >>> import numpy as np
    >>> from wavescope.analysis import SpectralFeatures
    >>> X = np.random.default_rng(0).standard_normal((10, 64, 3))  # (trial, time, unit)
    >>> feats = SpectralFeatures(sfreq=64.0, fmax=8.0).fit(X)
    >>> print(feats.transform(X).shape, feats.freqs_[:3])
    (10, 27) [0. 1. 2.]
    """

    def __init__(self, method="fft", *, sfreq=None, fmin=None, fmax=None, n_fft=None,
                 window=None, nperseg=None, pool=None, log=False, normalize=False):
        self.method = method
        self.sfreq = sfreq
        self.fmin = fmin
        self.fmax = fmax
        self.n_fft = n_fft
        self.window = window
        self.nperseg = nperseg
        self.pool = pool
        self.log = log
        self.normalize = normalize

    def _sfreq(self, xr_sfreq):
        if self.sfreq is None:
            return 1.0 if xr_sfreq is None else xr_sfreq
        sfreq = float(self.sfreq)
        if not np.isfinite(sfreq) or sfreq <= 0:
            raise ValueError(f"sfreq must be a positive number, got {self.sfreq!r}")
        if xr_sfreq is not None and not np.isclose(sfreq, xr_sfreq):
            raise ValueError(
                f"sfreq={sfreq} disagrees with the input's sfreq attribute {xr_sfreq}; leave "
                "sfreq=None to use the input's"
            )
        return sfreq

    def _options(self, n_times, sfreq):
        if self.method not in ("fft", "power", "welch", "multitaper"):
            raise ValueError(
                f"method must be 'fft', 'power', 'welch' or 'multitaper', got {self.method!r}"
            )
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {self.pool!r}")
        method = "fft" if self.method in ("fft", "power") else self.method
        kwargs = {"window": self.window, "n_fft": self.n_fft, "nperseg": self.nperseg}
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        if n_times < 2 and method != "fft":
            raise DataModelError(f"method {self.method!r} needs at least 2 time samples; X has "
                                 f"{n_times} feature(s) (time samples) per sample")
        opts, freqs, keep = spectrum_options(
            method, max(n_times, 2), sfreq, window=kwargs.get("window"),
            n_fft=kwargs.get("n_fft"), nperseg=kwargs.get("nperseg"), noverlap=None,
            bandwidth=None, adaptive=False, low_bias=True, scaling="density",
            detrend="constant", fmin=self.fmin, fmax=self.fmax)
        if self.method == "fft":
            nfft = n_times if self.n_fft is None else int(self.n_fft)
            freqs_all = np.fft.rfftfreq(nfft, 1.0 / sfreq)
            keep = (freqs_all >= opts["fmin"]) & (freqs_all <= opts["fmax"])
            if not keep.any():
                raise ValueError(f"no frequency bin lies in [{self.fmin}, {self.fmax}]")
            opts = dict(opts, nfft=nfft)
            freqs = freqs_all[keep]
        return opts, freqs, keep

    def _check(self, X, reset):
        arr, xr_sfreq, pooled = _as_samples(X)
        arr = validate_data(self, arr, reset=reset, allow_nd=True,
                            dtype=[np.float64, np.float32])
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if not reset and xr_sfreq is None and self.sfreq is None:
            return arr, self.sfreq_, pooled  # an array after fitting: the fitted rate
        return arr, self._sfreq(xr_sfreq), pooled

    def fit(self, X, y=None):
        """Learn the input shape and the frequency axis (no data-dependent state).

        Parameters
        ----------
        X : array_like (n_samples, n_times, ...) or xarray.DataArray with ``trial``
        y : ignored
        """
        arr, sfreq, pooled = self._check(X, reset=True)
        opts, freqs, _ = self._options(arr.shape[1], sfreq)
        self.sfreq_ = sfreq
        self.freqs_ = freqs
        self.unit_shape_ = arr.shape[2:]
        self.pooled_axes_ = pooled
        n_units = int(np.prod(self._kept_shape(arr.shape[2:], pooled)))
        self.n_features_out_ = n_units * freqs.size
        return self

    def _kept_shape(self, unit_shape, pooled):
        if self.pool is None:
            return unit_shape
        axes = range(len(unit_shape)) if pooled is None else [a - 2 for a in pooled]
        return tuple(s for i, s in enumerate(unit_shape) if i not in set(axes))

    def transform(self, X):
        """Spectral features, shape ``(n_samples, n_features_out_)``."""
        check_is_fitted(self)
        arr, sfreq, pooled = self._check(X, reset=False)
        if pooled is None:  # an array laid out like the activity fitted on
            pooled = self.pooled_axes_
        if arr.shape[2:] != self.unit_shape_:
            raise ValueError(
                f"X has units of shape {arr.shape[2:]}, but SpectralFeatures was fitted on "
                f"{self.unit_shape_}"
            )
        if not np.isclose(sfreq, self.sfreq_):
            raise ValueError(f"X has sfreq {sfreq}, but SpectralFeatures was fitted at "
                             f"{self.sfreq_}")
        opts, freqs, keep = self._options(arr.shape[1], sfreq)
        x = np.moveaxis(np.asarray(arr, dtype=float), 1, -1)  # (n, *units, time)
        if self.method == "fft":
            win = opts["window"]
            if win != "boxcar":
                from scipy.signal import get_window

                x = x * get_window(win, x.shape[-1])
            band = slice(*np.flatnonzero(keep)[[0, -1]] + [0, 1])  # a view, not a copy
            feats = np.abs(np.fft.rfft(x, n=opts["nfft"], axis=-1)[..., band])
        else:
            feats = psd(x, opts, keep)
        if self.pool is not None:
            axes = tuple(range(1, x.ndim - 1)) if pooled is None else tuple(
                a - 1 for a in pooled)
            reduce = np.mean if self.pool == "mean" else np.max
            feats = reduce(feats, axis=axes) if axes else feats
        if self.normalize:
            total = feats.sum(axis=-1, keepdims=True)
            feats = feats / np.where(total > 0, total, 1.0)
        feats = feats.reshape(len(feats), -1)
        if self.log:
            floor = 1e-12 * np.max(feats, axis=1, keepdims=True)
            feats = np.log(np.maximum(feats, np.where(floor > 0, floor, 1e-300)))
        return feats

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


def _default_estimator(task):
    if task == "classification":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-4, 4, 17)))


def _splitter(task: str, cv, seed: int):
    """The folds of :func:`decode`: ``cv`` itself when it is a splitter, else ``cv``
    shuffled folds, stratified for classification."""
    if hasattr(cv, "split"):
        return cv
    kind = StratifiedKFold if task == "classification" else KFold
    return kind(cv, shuffle=True, random_state=seed)


def decode(
    X,
    y,
    *,
    task: str = "classification",
    cv=5,
    estimator=None,
    seed: int = 0,
    features=None,
    scoring: str | None = None,
) -> dict:
    """Cross-validated decoding of a label or a quantity from spectral features.

    The model is ``features -> estimator``: by default :class:`SpectralFeatures` with
    ``log=True`` (log FFT magnitude per unit), then a standard scaler and a logistic
    regression (classification) or ridge regression with the penalty chosen by inner
    leave-one-out (regression). Folds are stratified for classification and shuffled with
    ``seed`` either way; features are fitted inside each fold, so nothing leaks.

    Parameters
    ----------
    X : array_like (n_samples, n_times, ...) or xarray.DataArray with ``trial``
        Time series per sample (hidden states of a model, epochs of a recording), or a
        feature matrix when ``features="passthrough"``.
    y : array_like (n_samples,)
        Class labels or target values.
    task : {"classification", "regression"}
    cv : int or scikit-learn splitter
        Number of folds (stratified for classification, shuffled with ``seed``), or a
        splitter such as ``GroupKFold`` to use as is.
    estimator : scikit-learn estimator, optional
        The model applied to the features (default above). It is cloned.
    seed : int
        Seed of the fold shuffling.
    features : transformer or "passthrough", optional
        Feature extractor; default ``SpectralFeatures(log=True)``.
    scoring : str, optional
        scikit-learn scorer name; default "accuracy" or "r2".

    Returns
    -------
    dict
        ``scores`` (one per fold), ``mean``, ``std``, ``scoring``, ``chance`` (the
        accuracy of always guessing the most frequent class, or 0 for R²),
        ``predictions`` (out-of-fold predictions, aligned with ``y``) and ``model`` (the
        unfitted model, features included).

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(64) / 64.0
    >>> f = np.repeat([4.0, 12.0], 20)  # two classes, 20 trials each, told by frequency
    >>> X = np.sin(2 * np.pi * f[:, None, None] * t[None, :, None] + rng.uniform(0, 6, (40, 1, 3)))
    >>> X = X + 0.1 * rng.standard_normal(X.shape)
    >>> da = ws.from_array(X, ("trial", "time", "x"), sfreq=64.0)
    >>> y = (f > 8).astype(int)
    >>> from wavescope.analysis import decode
    >>> res = decode(da, y, cv=5)
    >>> print(res["scoring"], round(res["mean"], 2), res["chance"])
    accuracy 1.0 0.5
    """
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one label or value per sample), got shape {y.shape}")
    if isinstance(X, xr.DataArray) and "trial" not in X.dims:
        raise DataModelError(
            f"X has dims {X.dims} without 'trial': decoding needs one sample per trial "
            "(stack recordings along a 'trial' dim, e.g. xr.concat(..., dim='trial'))"
        )
    values = X.values if isinstance(X, xr.DataArray) else np.asarray(X)
    if values.ndim < 2 or values.size == 0:
        raise DataModelError(f"X has shape {values.shape}: decoding needs (samples, time, "
                             "...) with at least one sample, time step and site")
    if values.dtype.kind in "fc" and not np.isfinite(values).all():
        raise DataModelError(
            f"X holds {int((~np.isfinite(values)).sum())} NaN or infinite values; spectral "
            "features need complete data: drop those sites or trials, or fill the gaps "
            "first (e.g. da.interpolate_na('time'))")
    n_samples = X.sizes["trial"] if isinstance(X, xr.DataArray) else len(X)
    if len(y) != n_samples:
        raise ValueError(f"X holds {n_samples} samples but y has {len(y)} entries")
    custom_cv = hasattr(cv, "split")
    if not custom_cv and (not isinstance(cv, int) or cv < 2):
        raise ValueError(f"cv must be an integer >= 2 or a scikit-learn splitter, got {cv!r}")
    if task == "classification":
        _, counts = np.unique(y, return_counts=True)
        if counts.size < 2:
            raise ValueError("classification needs at least two classes in y")
        if not custom_cv and counts.min() < cv:
            raise ValueError(
                f"the rarest class has {counts.min()} samples, fewer than cv={cv} folds; "
                "lower cv or add samples"
            )
        scoring = scoring or "accuracy"
        chance = float(counts.max() / counts.sum())
    else:
        y = y.astype(float)
        scoring = scoring or "r2"
        chance = 0.0
    splitter = _splitter(task, cv, seed)
    model = clone(estimator) if estimator is not None else _default_estimator(task)
    if task == "classification" and estimator is not None and not is_classifier(model):
        raise ValueError("task='classification' needs a classifier as estimator")
    feats = SpectralFeatures(log=True) if features is None else features
    if isinstance(X, xr.DataArray):
        X = X.transpose("trial", ...)
    if isinstance(feats, SpectralFeatures):
        # It learns nothing from the data (fit only reads shapes), so computing the
        # features once outside the folds equals fitting them inside each fold.
        X = clone(feats).fit_transform(X)
        pipe = model
    else:
        pipe = model if feats == "passthrough" else make_pipeline(clone(feats), model)
    res = cross_validate(pipe, X, y, cv=splitter, scoring=scoring, return_estimator=True,
                         return_indices=True)
    predictions = np.empty(len(y), dtype=float if task == "regression" else y.dtype)
    for est, test in zip(res["estimator"], res["indices"]["test"], strict=True):
        Xt = X.isel(trial=test) if isinstance(X, xr.DataArray) else np.asarray(X)[test]
        predictions[test] = est.predict(Xt)
    scores = np.asarray(res["test_score"], dtype=float)
    if isinstance(feats, SpectralFeatures):
        pipe = make_pipeline(clone(feats), pipe)
    return {"scores": scores, "mean": float(scores.mean()), "std": float(scores.std()),
            "scoring": scoring, "chance": chance, "predictions": predictions, "model": pipe}


#: The controls of :func:`decode_with_baselines`: name -> what that decoder reads.
#: :data:`CONTROL_KINDS` sorts them: ``chance`` (what no information scores),
#: ``non-spectral`` (what the label is read from without any frequency; a spectral decoder
#: should beat these), ``frequency only`` (what remains of the spectra without amplitude).
BASELINES = {
    "shuffled": "shuffled labels (same features and model)",
    "pixel_count": "input pixel count (share of non-zero pixels)",
    "input_fft2": "input |FFT2|",
    "state_mean_abs": "mean of |state| over time and space",
    "normalized_spectra": "spectra normalised for amplitude",
    "peak_frequency": "peak frequency alone",
}
CONTROL_KINDS = {"shuffled": "chance", "pixel_count": "non-spectral",
                 "input_fft2": "non-spectral", "state_mean_abs": "non-spectral",
                 "normalized_spectra": "frequency only", "peak_frequency": "frequency only"}
_NEEDS = {"pixel_count": "inputs", "input_fft2": "inputs", "state_mean_abs": "states",
          "normalized_spectra": "states", "peak_frequency": "states"}


def _per_sample(a, name: str, n: int, min_ndim: int) -> np.ndarray:
    """``a`` as a float array with the samples first (an xarray's ``trial`` dim first)."""
    if isinstance(a, xr.DataArray):
        if "trial" not in a.dims:
            raise DataModelError(f"{name} needs a 'trial' dim (one sample per trial); got dims "
                                 f"{a.dims}")
        a = a.transpose("trial", ...).values
    a = np.asarray(a, dtype=float)
    if a.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dims (samples first), got "
                         f"shape {a.shape}")
    if len(a) != n:
        raise ValueError(f"{name} holds {len(a)} samples but y has {n} entries")
    return a


def _mean_abs(states, n: int) -> np.ndarray:
    """Per sample: the mean of ``|state|`` over time and space (an xarray's spatial dims,
    other dims such as ``feature`` kept; an array's every unit axis)."""
    if isinstance(states, xr.DataArray):
        validate(states)
        if "trial" not in states.dims:
            raise DataModelError(f"states needs a 'trial' dim; got dims {states.dims}")
        states = exclude_bads(states, warn=False)
        m = np.abs(states).mean(("time", *space_dims(states)))  # NaN (bad) sites skipped
        return _per_sample(m, "states", n, 1).reshape(n, -1)
    return np.abs(_per_sample(states, "states", n, 2)).reshape(n, -1).mean(1, keepdims=True)


def _peak_frequency(states, chunk: int = 8) -> np.ndarray:
    """Per sample and pooled block: the frequency of the largest power above DC, f, and
    f**-2 (a drum's area goes as f**-2), from a Hann-windowed, 4x zero-padded periodogram.
    Samples go ``chunk`` at a time: the padded spectra of every unit are pooled only after
    the FFT, and all at once they would not fit in memory for large grids."""
    xarr = isinstance(states, xr.DataArray)
    n_times = states.sizes["time"] if xarr else states.shape[1]
    sf = SpectralFeatures("power", window="hann", n_fft=4 * n_times, pool="mean")
    n = states.sizes["trial"] if xarr else len(states)
    sf.fit(states.isel(trial=slice(0, 1)) if xarr else states[:1])
    power = np.concatenate([sf.transform(states.isel(trial=slice(i, i + chunk)) if xarr
                                         else states[i:i + chunk])
                            for i in range(0, n, chunk)])
    power = power.reshape(n, -1, sf.freqs_.size)
    f = sf.freqs_[1 + np.argmax(power[..., 1:], axis=-1)]
    return np.concatenate([f, f**-2.0], axis=1)


def decode_with_baselines(
    X,
    y,
    *,
    states=None,
    inputs=None,
    baselines=None,
    name: str = "spectra",
    task: str = "classification",
    cv=5,
    estimator=None,
    seed: int = 0,
    features=None,
    scoring: str | None = None,
    n_shuffles: int = 5,
):
    """:func:`decode` beside trivial controls, all scored in the same folds.

    A decoder that reads a label from spectra shows that the spectra carry it, not that
    they carry it *through frequency*: the input's size, a smoothed copy of the input in
    the states, or the overall amplitude may do as well. Each control is a decoder of the
    same kind (the same ``estimator``, default as in :func:`decode`) on other features:

    ``shuffled``
        the decoder itself on randomly permuted labels (``n_shuffles`` permutations; its
        score should sit at ``chance``, which shows nothing leaks through the folds);
    ``pixel_count``
        the share of non-zero pixels of each input (one feature: the object's area);
    ``input_fft2``
        ``|rfft2|`` of each input over its last two axes (the image, translation-free);
    ``state_mean_abs``
        the mean of ``|state|`` over time and space (pooled as the spectra are: an
        xarray's spatial dims, ``feature`` kept; an array's every unit axis): how strongly
        the states are driven, without any frequency;
    ``normalized_spectra``
        the spectral features with each unit's spectrum divided by its sum
        (:class:`SpectralFeatures` with ``normalize=True``; ``features`` itself when it is
        a :class:`SpectralFeatures`, else pooled over space and logged): frequency content
        without amplitude;
    ``peak_frequency``
        the frequency of the largest power above DC of the space-pooled spectrum (and its
        inverse square), per pooled block: the fundamental alone.

    Parameters
    ----------
    X, y, task, cv, estimator, seed, features, scoring
        As in :func:`decode` (the decoder under test). Folds are drawn once from the
        true ``y`` and shared by every row.
    states : array_like (n_samples, n_times, ...) or xarray.DataArray with ``trial``, optional
        The time series behind the features, for ``state_mean_abs``,
        ``normalized_spectra`` and ``peak_frequency``; default ``X`` when ``features`` is
        None or a :class:`SpectralFeatures` (so ``X`` is a time series).
    inputs : array_like (n_samples, ..., ny, nx) or xarray.DataArray with ``trial``, optional
        The input images, for ``pixel_count`` and ``input_fft2``.
    baselines : sequence of str, optional
        Names from :data:`BASELINES`; default every one whose data are given.
    name : str
        ``decoder`` name of the row of the decoder under test.
    n_shuffles : int
        Label permutations of ``shuffled`` (seeded with ``seed``).

    Returns
    -------
    pandas.DataFrame
        One row per decoder, the decoder under test first: ``decoder``, ``description``,
        ``control`` (its kind, :data:`CONTROL_KINDS`; "decoder" for the first row),
        ``scoring``, ``mean`` and ``std`` over folds (for ``shuffled``: the mean over
        permutations, the spread over all folds), ``chance``, ``n`` (samples), ``folds``.

    Examples
    --------
    >>> import numpy as np
    >>> import wavescope as ws
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(64) / 64.0
    >>> f = np.repeat([4.0, 12.0], 20)  # two classes, 20 trials each, told by frequency
    >>> X = np.sin(2 * np.pi * f[:, None, None] * t[None, :, None] + rng.uniform(0, 6, (40, 1, 3)))
    >>> X = X + 0.1 * rng.standard_normal(X.shape)
    >>> da = ws.from_array(X, ("trial", "time", "x"), sfreq=64.0)
    >>> y = (f > 8).astype(int)
    >>> from wavescope.analysis import decode_with_baselines
    >>> table = decode_with_baselines(da, y, cv=5, n_shuffles=2)
    >>> print(table[["decoder", "control"]].to_string(index=False))
               decoder        control
               spectra        decoder
              shuffled         chance
        state_mean_abs   non-spectral
    normalized_spectra frequency only
        peak_frequency frequency only
    >>> print(round(float(table["mean"].iloc[0]), 2))
    1.0
    """
    import pandas as pd
    from sklearn.model_selection import PredefinedSplit

    y = np.asarray(y)
    if states is None and (features is None or isinstance(features, SpectralFeatures)):
        states = X
    given = {"inputs": inputs, "states": states}
    if baselines is None:
        baselines = [b for b in BASELINES if b not in _NEEDS or given[_NEEDS[b]] is not None]
    for b in baselines:
        if b not in BASELINES:
            raise ValueError(f"unknown baseline {b!r}; choose from {list(BASELINES)}")
        if b in _NEEDS and given[_NEEDS[b]] is None:
            raise ValueError(f"baseline {b!r} needs {_NEEDS[b]}=...")
    if not isinstance(n_shuffles, int) or n_shuffles < 1:
        raise ValueError(f"n_shuffles must be a positive integer, got {n_shuffles!r}")
    common = dict(task=task, estimator=estimator, scoring=scoring)
    main = decode(X, y, cv=cv, seed=seed, features=features, **common)  # checks the inputs
    n = len(y)
    folds = list(_splitter(task, cv, seed).split(np.zeros((n, 1)), y))
    test_fold = np.empty(n, dtype=int)
    for i, (_, test) in enumerate(folds):
        test_fold[test] = i
    fixed = PredefinedSplit(test_fold)

    def row(decoder, description, res):
        return {"decoder": decoder, "description": description,
                "control": CONTROL_KINDS.get(decoder, "decoder"), "scoring": res["scoring"],
                "mean": float(res["mean"]), "std": float(res["std"]),
                "chance": float(main["chance"]), "n": n, "folds": len(folds)}

    if name in BASELINES:
        raise ValueError(f"name {name!r} is a baseline's; choose another")
    rows = [row(name, "the decoder under test", main)]
    for b in baselines:
        if b == "shuffled":
            feats, fx = features, X
            if features is None or isinstance(features, SpectralFeatures):
                fx = clone(features or SpectralFeatures(log=True)).fit_transform(X)
                feats = "passthrough"
            rng = np.random.default_rng(seed)
            scores = np.stack([decode(fx, rng.permutation(y), cv=fixed, features=feats,
                                      **common)["scores"] for _ in range(n_shuffles)])
            res = {"scoring": main["scoring"], "mean": scores.mean(), "std": scores.std()}
        elif b == "normalized_spectra":
            base = (features if isinstance(features, SpectralFeatures) else
                    SpectralFeatures(pool="mean", log=True))
            res = decode(states, y, cv=fixed, features=clone(base).set_params(normalize=True),
                         **common)
        else:
            if b == "pixel_count":
                img = _per_sample(inputs, "inputs", n, 2)
                fx = (img != 0).reshape(n, -1).mean(axis=1, keepdims=True)
            elif b == "input_fft2":
                img = _per_sample(inputs, "inputs", n, 3)
                fx = np.abs(np.fft.rfft2(img)).reshape(n, -1)
            elif b == "state_mean_abs":
                fx = _mean_abs(states, n)
            else:  # peak_frequency
                fx = _peak_frequency(states)
            res = decode(fx, y, cv=fixed, features="passthrough", **common)
        rows.append(row(b, BASELINES[b], res))
    return pd.DataFrame(rows)
