"""Shared fixtures of the wave-analysis tests: the sites of the 'done when' criteria."""

import numpy as np
import pytest

#: The regular grid of the acceptance criteria (unit spacing).
GRID = (16, 16)


def irregular_positions(n: int = 64, seed: int = 1) -> np.ndarray:
    """``n`` irregular positions, uniform in a square of side sqrt(n) (density 1)."""
    side = np.sqrt(n)
    return np.random.default_rng(seed).uniform(0.0, side, (n, 2))


@pytest.fixture(params=["grid", "irregular"])
def sites(request):
    """The 16 x 16 grid and 64 irregular positions, with the middle of each."""
    if request.param == "grid":
        return GRID, np.array([7.5, 7.5])
    return irregular_positions(), np.array([4.0, 4.0])


@pytest.fixture
def positions():
    """64 irregular positions (density 1 site per unit area)."""
    return irregular_positions()
