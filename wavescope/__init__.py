"""wavescope: travelling-wave analysis for recordings and for the networks that make waves.

The two halves are :mod:`wavescope.training` (models that make waves, exported as xarray)
and :mod:`wavescope.analysis` (phase, gradients, wave detection, spectra, decoding). They
meet in the data model of :mod:`wavescope.core`.
"""

from ._lazy import lazy_attributes
from .core import (
    DataModelError,
    WavescopeWarning,
    as_channels,
    as_grid,
    bad_sites,
    exclude_bads,
    from_array,
    positions,
    provenance,
    space_dims,
    validate,
)

__version__ = "0.1.0"

__all__ = [
    "DataModelError",
    "WavescopeWarning",
    "as_channels",
    "as_grid",
    "bad_sites",
    "exclude_bads",
    "from_array",
    "positions",
    "provenance",
    "space_dims",
    "validate",
    "save",
    "load",
    "read",
    "from_mne",
    "to_mne",
    "analysis",
    "datasets",
    "drums",
    "plotting",
    "simulate",
    "training",
]

# Submodules and I/O load on first use, so `import wavescope` stays light (no torch, no mne).
_LAZY = {
    "save": ("wavescope.io", "save"),
    "load": ("wavescope.io", "load"),
    "read": ("wavescope.io", "read"),
    "from_mne": ("wavescope.io", "from_mne"),
    "to_mne": ("wavescope.io", "to_mne"),
}
_SUBMODULES = {"analysis", "datasets", "drums", "plotting", "simulate", "training", "io", "cli",
               "quickstart", "readers", "imaging"}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, _SUBMODULES, globals())
