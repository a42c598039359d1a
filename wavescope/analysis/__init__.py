"""Analysis of activities that follow the data model: phase, waves, flow, spectra, decoding.

Nothing here knows whether its input came from a network or a brain. Topic modules:
``analytic`` (analytic signal, phase, instantaneous frequency), ``gradient`` (spatial
phase gradient), ``waves`` (PGD, plane-wave fit, radial and rotating waves, pattern
labels), ``events`` (detect_waves), ``stats`` (surrogates, p-values), ``delays`` (delays,
group speed), ``flow`` (optical flow, critical points), ``spectral`` (spectra, k-omega)
and ``decoding`` (spectral features, cross-validated decoders)."""

# Also the submodules ``hidden`` (helpers for the hidden states of polygon runs) and
# ``summaries`` (numbers of detect_waves results), whose names stay out of __all__.
from . import hidden, summaries  # noqa: F401
from .analytic import analytic_signal, instantaneous_frequency, phase
from .decoding import (
    BASELINES,
    CONTROL_KINDS,
    SpectralFeatures,
    decode,
    decode_with_baselines,
)
from .delays import wave_delays
from .events import detect_waves
from .flow import critical_points, curl, divergence, optical_flow
from .gradient import phase_gradient
from .spectral import band_power, dominant_frequency, kw_spectrum, kw_speed, spectrum
from .stats import p_value, surrogate_test, surrogates
from .waves import (
    PATTERNS,
    classify_patterns,
    fit_plane_wave,
    local_pgd,
    pgd,
    radial_correlation,
    rotational_correlation,
    synchrony,
    wave_direction,
    wave_speed,
    wavelength,
)

__all__ = [
    "BASELINES",
    "CONTROL_KINDS",
    "PATTERNS",
    "SpectralFeatures",
    "analytic_signal",
    "band_power",
    "classify_patterns",
    "critical_points",
    "curl",
    "decode",
    "decode_with_baselines",
    "detect_waves",
    "divergence",
    "dominant_frequency",
    "fit_plane_wave",
    "instantaneous_frequency",
    "kw_spectrum",
    "kw_speed",
    "local_pgd",
    "optical_flow",
    "p_value",
    "pgd",
    "phase",
    "phase_gradient",
    "radial_correlation",
    "rotational_correlation",
    "spectrum",
    "surrogate_test",
    "surrogates",
    "synchrony",
    "wave_delays",
    "wave_direction",
    "wave_speed",
    "wavelength",
]
