"""Analysis of activities that follow the data model: phase, waves, flow, spectra, decoding.

Nothing here knows whether its input came from a network or a brain.
"""

# spectral decomposition and decoding
from .decoding import SpectralFeatures, decode  # noqa: F401

# Wave detection (branch waves): phase, gradients, wave measures, events, significance.
from .events import detect_waves  # noqa: F401

# velocity fields
from .flow import critical_points, curl, divergence, optical_flow  # noqa: F401
from .gradient import phase_gradient  # noqa: F401
from .phase import analytic_signal, instantaneous_frequency, phase  # noqa: F401
from .spectral import (  # noqa: F401
    band_power,
    dominant_frequency,
    kw_spectrum,
    kw_speed,
    spectrum,
)
from .stats import p_value, surrogate_test, surrogates  # noqa: F401
from .waves import (  # noqa: F401
    PATTERNS,
    classify_patterns,
    fit_plane_wave,
    pgd,
    radial_correlation,
    rotational_correlation,
    synchrony,
    wave_direction,
    wave_speed,
    wavelength,
)
