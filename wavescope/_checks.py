"""Checks of numeric parameters shared across the package (private)."""

from __future__ import annotations

import numpy as np


def positive(name: str, value, alternative: str = "") -> float:
    """``value`` as a float, or a ValueError naming ``name`` unless it is a finite number
    above 0; ``alternative`` (e.g. " or 'auto'") completes the message."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = np.nan
    if not np.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a positive finite number{alternative}, got {value!r}")
    return number
