import numpy as np
import pytest

from wavescope.analysis._circular import angle, circ_corr, fisher_lee, wrap


def test_angle_matches_numpy_in_every_octant():
    rng = np.random.default_rng(0)
    z = rng.standard_normal(20000) * 10.0 ** rng.uniform(-3, 3, 20000) + 1j * (
        rng.standard_normal(20000) * 10.0 ** rng.uniform(-3, 3, 20000))
    axes = np.array([1, -1, 1j, -1j, 1 + 1j, -1 - 1j, 2 - 1e-9j, -2 + 1e-9j])
    z = np.concatenate([z, axes])
    np.testing.assert_allclose(angle(z), np.angle(z), atol=1e-10, rtol=0)
    np.testing.assert_allclose(angle(z.astype(np.complex64)), np.angle(z), atol=1e-6, rtol=0)


def test_angle_of_zero_and_nan_is_nan():
    out = angle(np.array([0j, complex(np.nan, 1.0), 1.0 + 0j, -1j, 1 + 1j]))
    assert np.isnan(out[:2]).all()
    np.testing.assert_allclose(out[2:], [0.0, -np.pi / 2, np.pi / 4], atol=1e-15, rtol=0)


def test_wrap_maps_onto_the_circle():
    d = np.linspace(-20, 20, 1001)
    w = wrap(d)
    assert np.all(np.abs(w) <= np.pi + 1e-12)
    np.testing.assert_allclose(np.exp(1j * w), np.exp(1j * d), atol=1e-12)


@pytest.mark.parametrize("shift", [0.0, 1.3, -2.9])
def test_fisher_lee_sign_gives_sense_of_rotation(shift):
    theta = np.linspace(-np.pi, np.pi, 50, endpoint=False)
    assert fisher_lee(theta + shift, theta) == pytest.approx(1.0)
    assert fisher_lee(-theta + shift, theta) == pytest.approx(-1.0)
    rng = np.random.default_rng(3)
    assert abs(fisher_lee(rng.uniform(-np.pi, np.pi, 5000), rng.uniform(-np.pi, np.pi, 5000))
               ) < 0.05


def test_circular_correlation_of_a_linear_relation():
    x = np.linspace(0, 1.5, 40)
    assert circ_corr(0.7 + x, x) == pytest.approx(1.0)
    assert circ_corr(0.7 - x, x) == pytest.approx(-1.0)
    a = np.array([0.1, 0.5, np.nan, 0.9])
    assert np.isfinite(circ_corr(a, np.array([0.1, 0.5, 3.0, 0.9])))
