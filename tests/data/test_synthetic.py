"""The synthetic source of the identifiability experiment: the transition law, the mixing, seeding."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from slowvae.data.synthetic import Mixing, SyntheticPairs, gennorm_std, sample_gennorm
from slowvae.errors import SlowVAEError


@pytest.mark.parametrize("alpha,rate", [(0.5, 3.0), (1.0, 6.0), (2.0, 1.5)])
def test_steps_follow_scipy_gennorm(alpha, rate):
    rng = np.random.default_rng(0)
    e = sample_gennorm((20_000,), alpha, rate, rng)
    # the density ∝ exp(-(rate |e|)^alpha) is scipy's gennorm(alpha, scale=1/rate)
    assert stats.kstest(e, stats.gennorm(alpha, scale=1 / rate).cdf).pvalue > 1e-3
    assert e.std() == pytest.approx(gennorm_std(alpha, rate), rel=0.05)
    assert gennorm_std(alpha, rate) == pytest.approx(stats.gennorm(alpha, scale=1 / rate).std(), rel=1e-12)


def test_pairs_are_latent_steps_through_the_mixing():
    src = SyntheticPairs(dim=4, alpha=1.0, rate=6.0, mixing="mlp", layers=3, rng=np.random.default_rng(1))
    x0, x1, z0, z1 = src.sample_pairs(5000, np.random.default_rng(2))
    assert x0.shape == x1.shape == (5000, 4) and x0.dtype == np.float32
    np.testing.assert_allclose(x0, src.mixing(z0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x1, src.mixing(z1), rtol=1e-5, atol=1e-5)
    assert abs(z0.std() - 1) < 0.03  # z_{t-1} ~ N(0, I)
    step = (z1 - z0).ravel()
    assert stats.kstest(step, stats.laplace(scale=1 / 6).cdf).pvalue > 1e-3
    # factorised: steps of different latents are uncorrelated
    assert abs(np.corrcoef((z1 - z0).T)[0, 1]) < 0.05


def test_mlp_mixing_is_injective_nonlinear_and_standardised():
    mix = Mixing(5, "mlp", 3, rng=np.random.default_rng(3))
    z = np.random.default_rng(4).standard_normal((20_000, 5))
    x = mix(z)
    np.testing.assert_allclose(x.mean(0), 0, atol=0.05)
    np.testing.assert_allclose(x.std(0), 1, atol=0.05)
    # invert it layer by layer: leaky ReLU and rotations are invertible
    h = x * mix.scale + mix.shift
    for i, w in reversed(list(enumerate(mix.weights))):
        if i < len(mix.weights) - 1:
            h = np.where(h > 0, h, h / 0.2)
        h = h @ w.T
    np.testing.assert_allclose(h, z, atol=1e-9)
    # not linear: the best linear fit leaves a clear residual
    coef, *_ = np.linalg.lstsq(np.c_[z, np.ones(len(z))], x, rcond=None)
    resid = x - np.c_[z, np.ones(len(z))] @ coef
    assert resid.var() > 0.02


def test_linear_mixing_is_a_rotation():
    mix = Mixing(6, "linear", rng=np.random.default_rng(5))
    (w,) = mix.weights
    np.testing.assert_allclose(w @ w.T, np.eye(6), atol=1e-12)


def test_same_seed_same_source_other_seed_other_mixing():
    a = SyntheticPairs(3, 0.5, 2.0, rng=np.random.default_rng(7))
    b = SyntheticPairs(3, 0.5, 2.0, rng=np.random.default_rng(7))
    c = SyntheticPairs(3, 0.5, 2.0, rng=np.random.default_rng(8))
    xa = a.sample_pairs(10, np.random.default_rng(0))
    xb = b.sample_pairs(10, np.random.default_rng(0))
    for u, v in zip(xa, xb):
        np.testing.assert_array_equal(u, v)
    assert not np.allclose(a.mixing.weights[0], c.mixing.weights[0])


def test_bad_settings_raise():
    with pytest.raises(SlowVAEError):
        SyntheticPairs(3, alpha=0.0, rng=np.random.default_rng(0))
    with pytest.raises(SlowVAEError):
        Mixing(3, "spline", rng=np.random.default_rng(0))
