"""The contract of every public analysis function (docs/notes/contract.md), checked on
small plane waves, on a grid and on channels with x/y coordinates.

``CASES`` says how to call each name of ``wavescope.analysis.__all__``; the first test
fails for a name without a row, so no new function escapes the contract.
"""

import importlib.util
import json
import warnings

import numpy as np
import pytest
import xarray as xr

import wavescope as ws
import wavescope.analysis as A
from wavescope.core import DataModelError
from wavescope.units import unit_registry

BAND = (5.0, 15.0)
#: Dims whose coordinates are labels (indices, names), not quantities with units.
LABEL_DIMS = {"trial", "feature", "channel", "point", "event"}


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _inputs():
    """Every input kind, built once: a noisy plane wave (10 Hz, 40 pixel per time unit)
    on an 8 x 8 grid and on 64 channels, its analytic signal, and its optical flow."""
    grid = ws.simulate.plane_wave((8, 8), n_times=64, sfreq=100.0, frequency=10.0,
                                  speed=40.0, direction=0.5, noise=0.05, seed=0)
    channels = ws.as_channels(grid)
    z = _quiet(A.analytic_signal, grid, BAND)
    return {
        "grid": grid, "channels": channels, "z grid": z,
        "z channels": _quiet(A.analytic_signal, channels, BAND),
        "flow": _quiet(A.optical_flow, z),
        "trials": xr.concat([grid + 0.1 * np.sin(i) * grid.roll(x=i) for i in range(8)],
                            "trial"),
    }


INPUTS = _inputs()


def _null(z):
    """PGD of phase-randomised surrogates of the wave behind ``z``: a null for p_value."""
    return A.pgd(A.analytic_signal(A.surrogates(INPUTS["grid"], "phase", n=5, seed=0), BAND))


def _labels(X):
    return np.arange(X.sizes["trial"]) % 2


#: name -> (input kinds, call, call with a bad parameter or None, category).
#: Categories: "lazy" (per frame or per site: dask in, dask out), "summary" (event and
#: point tables, whole-recording fits: they compute), "decoder" (dicts of scores).
CASES = {
    "analytic_signal": ("real", lambda d: A.analytic_signal(d, BAND),
                        lambda d: A.analytic_signal(d, BAND, method="wavelet"), "lazy"),
    "phase": ("real", lambda d: A.phase(d, BAND),
              lambda d: A.phase(d, BAND, method="wavelet"), "lazy"),
    "instantaneous_frequency": ("z", A.instantaneous_frequency, None, "lazy"),
    "phase_gradient": ("z", A.phase_gradient,
                       lambda d: A.phase_gradient(d, neighbors=1), "lazy"),
    "pgd": ("z", A.pgd, lambda d: A.pgd(d, form="mean"), "lazy"),
    "local_pgd": ("z grid", lambda d: A.local_pgd(d, tile=4),
                  lambda d: A.local_pgd(d, tile=99), "lazy"),
    "wave_direction": ("z", A.wave_direction, None, "lazy"),
    "wavelength": ("z", A.wavelength, None, "lazy"),
    "wave_speed": ("z", A.wave_speed, None, "lazy"),
    "synchrony": ("z", A.synchrony, None, "lazy"),
    "fit_plane_wave": ("z", A.fit_plane_wave,
                       lambda d: A.fit_plane_wave(d, confidence=1.5), "lazy"),
    "radial_correlation": ("z", A.radial_correlation,
                           lambda d: A.radial_correlation(d, centre="middle"), "lazy"),
    "rotational_correlation": ("z", A.rotational_correlation,
                               lambda d: A.rotational_correlation(d, centre="middle"), "lazy"),
    "classify_patterns": ("z", A.classify_patterns,
                          lambda d: A.classify_patterns(d, pgd_threshold=1.5), "lazy"),
    "optical_flow": ("z grid", A.optical_flow, lambda d: A.optical_flow(d, on="speed"),
                     "lazy"),
    "divergence": ("flow", A.divergence, None, "lazy"),
    "curl": ("flow", A.curl, None, "lazy"),
    "critical_points": ("flow", A.critical_points,
                        lambda d: A.critical_points(d, tol=-1.0), "summary"),
    "surrogates": ("real", lambda d: A.surrogates(d, "phase", n=3),
                   lambda d: A.surrogates(d, "bootstrap"), "lazy"),
    "surrogate_test": ("z", lambda d: A.surrogate_test(A.synchrony, d, n=5),
                       lambda d: A.surrogate_test(A.synchrony, d, kind="bootstrap"), "lazy"),
    "p_value": ("z grid", lambda d: A.p_value(A.pgd(d), _null(d)),
                lambda d: A.p_value(A.pgd(d), _null(d), tail="upper"), "lazy"),
    "spectrum": ("real", A.spectrum, lambda d: A.spectrum(d, method="wavelet"), "lazy"),
    "band_power": ("real", lambda d: A.band_power(d, BAND),
                   lambda d: A.band_power(d, BAND, method="wavelet"), "lazy"),
    "dominant_frequency": ("real", A.dominant_frequency,
                           lambda d: A.dominant_frequency(d, method="wavelet"), "lazy"),
    "kw_spectrum": ("grid", A.kw_spectrum, lambda d: A.kw_spectrum(d, space_window="nope"),
                    "lazy"),
    "kw_speed": ("grid", A.kw_speed, lambda d: A.kw_speed(d, method="nope"), "summary"),
    "wave_delays": ("real", lambda d: A.wave_delays(d, BAND),
                    lambda d: A.wave_delays(d, (4.0, 150.0)), "summary"),
    "detect_waves": ("real", lambda d: A.detect_waves(d, BAND, n_surrogates=3),
                     lambda d: A.detect_waves(d, BAND, surrogate="bootstrap"), "summary"),
    "decode": ("trials", lambda d: A.decode(d, _labels(d), cv=2),
               lambda d: A.decode(d, _labels(d), task="sorting"), "decoder"),
    "decode_with_baselines": ("trials",
                              lambda d: A.decode_with_baselines(d, _labels(d), cv=2,
                                                                n_shuffles=1),
                              lambda d: A.decode_with_baselines(d, _labels(d), task="sorting"),
                              "decoder"),
}
#: Public names that are not functions of an activity: tables of names, and the
#: scikit-learn transformer behind the decoders (checked by parametrize_with_checks in
#: tests/analysis/test_decoding.py).
NOT_FUNCTIONS = {"PATTERNS", "BASELINES", "CONTROL_KINDS", "SpectralFeatures"}


def _kinds(kind: str) -> list[str]:
    """Input kinds of a row: "real" and "z" are the grid and the channels."""
    if kind == "real":
        return ["grid", "channels"]
    if kind == "z":
        return ["z grid", "z channels"]
    return [kind]


ROWS = [pytest.param(name, k, id=f"{name}-{k}")
        for name, (kind, *_rest) in CASES.items() for k in _kinds(kind)]
XARRAY_ROWS = [r for r in ROWS if CASES[r.values[0]][3] != "decoder"]


def test_every_public_name_has_a_row():
    assert set(A.__all__) == set(CASES) | NOT_FUNCTIONS
    for name in NOT_FUNCTIONS - {"SpectralFeatures"}:
        assert all(isinstance(key, str) for key in getattr(A, name))


def test_no_function_shadows_its_module():
    for name in A.__all__:
        assert importlib.util.find_spec(f"wavescope.analysis.{name}") is None, name


def _run(name, kind, **kw):
    inp = INPUTS[kind]
    if kw.get("lazy"):
        inp = inp.chunk()
    return inp, _quiet(CASES[name][1], inp)


@pytest.mark.parametrize(("name", "kind"), XARRAY_ROWS)
def test_result_keeps_the_data_model_and_appends_provenance(name, kind):
    inp = INPUTS[kind]
    before = (dict(inp.attrs), {c: dict(inp[c].attrs) for c in inp.coords})
    _, out = _run(name, kind)
    assert isinstance(out, xr.DataArray | xr.Dataset)
    for key in ("sfreq", "time_units", "space_units", "source", "periodic"):
        assert out.attrs[key] == inp.attrs[key], key
    steps = json.loads(out.attrs["provenance"])["steps"]
    had = json.loads(inp.attrs["provenance"]).get("steps", [])
    # the input's history (and steps of the call's other inputs, as p_value's), then this
    assert steps[:len(had)] == had and list(steps[-1]) == [f"wavescope.analysis.{name}"]
    json.dumps(steps[-1])  # parameters as JSON, for netCDF
    # the input is left as it was
    assert before == (dict(inp.attrs), {c: dict(inp[c].attrs) for c in inp.coords})


@pytest.fixture(scope="module")
def ureg():
    pytest.importorskip("pint")
    return unit_registry()


@pytest.mark.parametrize(("name", "kind"), XARRAY_ROWS)
def test_every_coordinate_and_variable_has_units_pint_reads(name, kind, ureg):
    _, out = _run(name, kind)
    tu, su = ureg.parse_units(out.attrs["time_units"]), ureg.parse_units(out.attrs["space_units"])
    for c in out.coords:
        coord = out[c]
        if c in LABEL_DIMS or (coord.dims and set(coord.dims) <= LABEL_DIMS and c not in "xyz"):
            continue
        if coord.dtype.kind not in "fiu":
            continue
        assert "units" in coord.attrs, f"coordinate {c!r} of {name} has no units"
        unit = ureg.parse_units(coord.attrs["units"])
        if c == "time":
            assert unit == tu
        if c in ("x", "y", "z"):
            assert unit == su
    arrays = out.data_vars.values() if isinstance(out, xr.Dataset) else [out]
    for var in arrays:
        if "units" in var.attrs:
            ureg.parse_units(var.attrs["units"])


@pytest.mark.parametrize(("name", "kind"), XARRAY_ROWS)
def test_lazy_in_lazy_out(name, kind):
    """Per-frame and per-site results stay dask arrays; summaries compute, and agree."""
    _, eager = _run(name, kind)
    _, lazy = _run(name, kind, lazy=True)
    arrays = lazy.data_vars.values() if isinstance(lazy, xr.Dataset) else [lazy]
    if CASES[name][3] == "lazy":
        assert all(a.chunks is not None for a in arrays), name
    xr.testing.assert_allclose(_quiet(lazy.compute), eager)


def _broken(inp):
    """``inp`` outside the data model: an activity without ``sfreq``, a flow without
    ``u``."""
    if isinstance(inp, xr.Dataset):
        return inp.drop_vars("u")
    out = inp.copy()
    del out.attrs["sfreq"]
    return out


@pytest.mark.parametrize(("name", "kind"), ROWS)
def test_data_outside_the_model_raise_DataModelError(name, kind):
    with pytest.raises(DataModelError):
        _quiet(CASES[name][1], _broken(INPUTS[kind]))


@pytest.mark.parametrize(("name", "kind"), ROWS)
def test_bad_parameters_raise_ValueError(name, kind):
    bad = CASES[name][2]
    if bad is None:
        pytest.skip(f"{name} has no parameter besides its input")
    with pytest.raises(ValueError) as err:
        _quiet(bad, INPUTS[kind])
    assert not isinstance(err.value, DataModelError), err.value


@pytest.mark.parametrize("name", ["classify_patterns", "local_pgd", "band_power",
                                  "dominant_frequency", "surrogate_test", "kw_speed"])
def test_composite_functions_validate_their_input_once(name, monkeypatch):
    """Public functions built of other public functions (classify_patterns runs pgd,
    synchrony, fit_plane_wave, ...) check the data once: the inner calls run nested."""
    import wavescope.analysis._common as common

    calls = []
    real = common.validate
    monkeypatch.setattr(common, "validate", lambda *a, **k: calls.append(1) or real(*a, **k))
    kind = _kinds(CASES[name][0])[0]
    _quiet(CASES[name][1], INPUTS[kind])
    assert len(calls) == 1
