"""Kummer's 1F1(a; 1/2; -x) and the Gaussian absolute moments: scipy agreement, quadrature, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sp
import torch
from scipy import integrate

from slowvae.models.special import SWITCH, gaussian_abs_moment, hyp1f1_negative

#: |m| / sigma from 0 to 50 (x = t^2 / 2 up to 1,250; both branches and the switch) and alpha 0.2..2
T = np.concatenate([[0.0], np.geomspace(1e-4, 50, 300), [math.sqrt(2 * SWITCH) * f for f in (0.999999, 1, 1.000001)]])
ALPHAS = np.linspace(0.2, 2.0, 19)


def _grid() -> tuple[np.ndarray, np.ndarray]:
    t, alpha = np.meshgrid(T, ALPHAS)
    return t.ravel(), alpha.ravel()


def _reference_moment(m: np.ndarray, s: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Winkelbauer (2012) eq. (17) with scipy's hyp1f1."""
    return (
        s**p * 2 ** (p / 2) * sp.gamma((1 + p) / 2) / math.sqrt(math.pi) * sp.hyp1f1(-p / 2, 0.5, -(m**2) / (2 * s**2))
    )


def test_hyp1f1_agrees_with_scipy_in_float64():
    t, alpha = _grid()
    x = t**2 / 2
    got = hyp1f1_negative(torch.tensor(-alpha / 2), 0.5, torch.tensor(x)).numpy()
    ref = sp.hyp1f1(-alpha / 2, 0.5, -x)
    assert np.max(np.abs(got / ref - 1)) < 1e-12  # measured 2.2e-15


@pytest.mark.parametrize("scale", [1e-3, 1.0, 30.0])
def test_abs_moment_agrees_with_scipy_reference(scale):
    t, alpha = _grid()
    s = np.full_like(t, scale)
    m = t * s * np.where(np.arange(t.size) % 2, 1, -1)  # both signs of the mean
    got = gaussian_abs_moment(torch.tensor(m), torch.tensor(s), torch.tensor(alpha)).numpy()
    assert np.max(np.abs(got / _reference_moment(m, s, alpha) - 1)) < 1e-12


@pytest.mark.parametrize(
    "m, s, p", [(0.0, 1.0, 0.3), (0.7, 0.4, 0.5), (-2.0, 0.5, 1.3), (3.0, 0.3, 1.7), (9.0, 1.0, 0.8)]
)
def test_abs_moment_matches_quadrature(m, s, p):
    """Independent of the 1F1 closed form: integrate |z|^p N(z; m, s^2) numerically."""

    def f(z):
        return abs(z) ** p * math.exp(-0.5 * ((z - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))

    want = integrate.quad(f, m - 12 * s, m + 12 * s, points=[0.0] if abs(m) < 12 * s else None, limit=200)[0]
    got = float(gaussian_abs_moment(torch.tensor(m, dtype=torch.float64), torch.tensor(s, dtype=torch.float64), p))
    assert got == pytest.approx(want, rel=1e-8)


def test_alpha_one_and_two_have_elementary_forms():
    m = torch.linspace(-60, 60, 241, dtype=torch.float64)
    s = torch.full_like(m, 1.3)
    folded = s * math.sqrt(2 / math.pi) * torch.exp(-0.5 * (m / s) ** 2) + m * torch.erf(m / (s * math.sqrt(2)))
    torch.testing.assert_close(gaussian_abs_moment(m, s, 1.0), folded, rtol=1e-13, atol=0)
    torch.testing.assert_close(gaussian_abs_moment(m, s, 2.0), m**2 + s**2, rtol=1e-13, atol=0)


def test_gradients_match_finite_differences():
    """Both branches, the switch at x = 40, m = 0 and the points alpha = 1, 2 where the asymptotic sum terminates."""
    t = torch.tensor(
        [0.0, 1e-3, 0.4, 2.0, 6.0, 8.9, math.sqrt(2 * SWITCH) - 1e-3, math.sqrt(2 * SWITCH) + 1e-3, 12.0, 50.0]
    )
    for alpha in (0.2, 0.5, 1.0, 1.37, 2.0):
        s = torch.linspace(0.3, 2.0, t.numel(), dtype=torch.float64).requires_grad_()
        m = (t.double() * s.detach() * torch.tensor([1.0, -1.0] * 5, dtype=torch.float64)).requires_grad_()
        p = torch.full_like(m, alpha).requires_grad_()
        assert torch.autograd.gradcheck(gaussian_abs_moment, (m, s, p))


def test_float32_accuracy():
    """Training runs in float32: the relative error there is below 2e-6 on the whole grid (measured 8.5e-7)."""
    t, alpha = _grid()
    x = t**2 / 2
    got = hyp1f1_negative(torch.tensor(-alpha / 2, dtype=torch.float32), 0.5, torch.tensor(x, dtype=torch.float32))
    assert got.dtype == torch.float32
    assert np.max(np.abs(got.double().numpy() / sp.hyp1f1(-alpha / 2, 0.5, -x) - 1)) < 2e-6
