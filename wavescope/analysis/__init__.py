"""Analysis of activities that follow the data model: phase, waves, flow, spectra, decoding.

Nothing here knows whether its input came from a network or a brain.
"""

# Wave detection (branch waves): phase, gradients, wave measures, events, significance.
from .events import detect_waves
from .gradient import phase_gradient
from .phase import analytic_signal, instantaneous_frequency, phase
from .stats import p_value, surrogate_test, surrogates
from .waves import (
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
