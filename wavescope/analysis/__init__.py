"""Analysis of activities that follow the data model: phase, waves, flow, spectra, decoding.

Nothing here knows whether its input came from a network or a brain.
"""

# spectral decomposition and decoding (issue #4)
from .decoding import SpectralFeatures, decode  # noqa: F401
from .spectral import (  # noqa: F401
    band_power,
    dominant_frequency,
    kw_spectrum,
    kw_speed,
    spectrum,
)
