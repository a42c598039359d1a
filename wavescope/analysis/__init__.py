"""Analysis of activities that follow the data model: phase, waves, flow, spectra, decoding.

Nothing here knows whether its input came from a network or a brain.
"""

# Velocity fields (flow helper)
from .flow import critical_points, curl, divergence, optical_flow  # noqa: F401
