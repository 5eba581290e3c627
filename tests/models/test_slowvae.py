"""SlowVAE loss against an independent numpy computation, and the Laplace term against Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from slowvae.models import build_model
from slowvae.models.slowvae import _MIN_STD, laplace_cross_entropy, slowvae_loss


def numpy_loss(x, logits, mu, logvar, beta, gamma, rate):
    """The reference assembly written out term by term with numpy/scipy (docs/model.md §4)."""
    b = mu.shape[1]
    p = 1 / (1 + np.exp(-logits))
    bce = -(x * np.log(p) + (1 - x) * np.log(1 - p))
    recon = bce.sum() / (2 * b)
    var = np.exp(logvar)
    entropy = np.sum(0.5 * (logvar + np.log(2 * np.pi * np.e))) / (2 * b)
    ce_n = np.sum(0.5 * (mu**2 + var) + np.log(np.sqrt(2 * np.pi))) / (2 * b)

    def ce_lap(m, s):  # -log(rate/2) + rate E|z|, folded normal mean via the normal cdf
        return (
            -np.log(rate / 2)
            + rate * s * np.sqrt(2 / np.pi) * np.exp(-(m**2) / (2 * s**2))
            - rate * m * (1 - 2 * stats.norm.cdf(m / s))
        )

    sd = np.sqrt(var)
    ce_l = (ce_lap(mu[0] - mu[1], sd[0]) + ce_lap(mu[1] - mu[0], sd[1])).sum() / b
    return {
        "loss": 2 * recon + beta * (ce_n - entropy) + gamma * (ce_l - entropy),
        "recon": 2 * recon,
        "kl_normal": ce_n - entropy,
        "kl_laplace": ce_l - entropy,
    }


@pytest.fixture
def tensors():
    rng = np.random.default_rng(0)
    b, d = 5, 4
    x = (rng.random((2, b, 1, 6, 6)) > 0.5).astype(np.float64)
    logits = rng.normal(size=x.shape)
    mu = rng.normal(size=(2, b, d))
    logvar = rng.normal(-1, 1, size=(2, b, d))
    return x, logits, mu, logvar


def test_loss_matches_numpy(tensors):
    x, logits, mu, logvar = tensors
    hyper = dict(beta=1.5, gamma=10.0, rate=6.0)
    got = slowvae_loss(*(torch.tensor(a) for a in tensors), **hyper)
    want = numpy_loss(x, logits, mu, logvar, **hyper)
    for key in want:
        assert float(got[key]) == pytest.approx(want[key], rel=1e-10), key


def test_kl_normal_is_mean_per_image_kl(tensors):
    _, _, mu, logvar = tensors
    got = slowvae_loss(*(torch.tensor(a) for a in tensors), beta=1, gamma=1, rate=1)["kl_normal"]
    kl = 0.5 * (mu**2 + np.exp(logvar) - logvar - 1).sum(-1).mean()
    assert float(got) == pytest.approx(kl, rel=1e-10)


def test_gradients_match_numpy_finite_differences(tensors):
    x, logits, mu, logvar = tensors
    hyper = dict(beta=2.0, gamma=10.0, rate=6.0)
    t = [torch.tensor(a, requires_grad=True) for a in (logits, mu, logvar)]
    slowvae_loss(torch.tensor(x), *t, **hyper)["loss"].backward()
    rng = np.random.default_rng(1)
    for i, arr in enumerate((logits, mu, logvar)):
        for _ in range(6):
            idx = tuple(rng.integers(0, s) for s in arr.shape)
            h = 1e-6
            args = [logits.copy(), mu.copy(), logvar.copy()]
            args[i][idx] += h
            up = numpy_loss(x, *args, **hyper)["loss"]
            args[i][idx] -= 2 * h
            down = numpy_loss(x, *args, **hyper)["loss"]
            assert t[i].grad[idx].item() == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-6)


def test_laplace_cross_entropy_matches_monte_carlo():
    rng = np.random.default_rng(2)
    rate = 6.0
    for m, s in [(0.0, 0.3), (0.7, 0.1), (-1.2, 0.5), (0.05, 1e-3)]:
        z = rng.normal(m, s, size=2_000_000)
        mc = -stats.laplace(scale=1 / rate).logpdf(z).mean()
        closed = float(
            laplace_cross_entropy(torch.tensor(m, dtype=torch.float64), torch.tensor(s, dtype=torch.float64), rate)
        )
        se = stats.laplace(scale=1 / rate).logpdf(z).std() / math.sqrt(z.size)
        assert closed == pytest.approx(mc, abs=5 * se + 1e-9)


def test_laplace_cross_entropy_is_stable_at_extremes():
    m = torch.tensor([0.0, 50.0, -50.0, 1e-8, 0.0], requires_grad=True)
    s = torch.tensor([1e-20, 1e-20, 1e-4, 1e-30, 0.0], requires_grad=True)
    out = laplace_cross_entropy(m, s, 6.0)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(m.grad).all() and torch.isfinite(s.grad).all()
    # tiny variance: E|z| -> |m|
    assert out[1].item() == pytest.approx(-math.log(3) + 6 * 50, rel=1e-6)


@pytest.mark.parametrize("s", [1e-3, 1e-5, 1e-8])
def test_laplace_cross_entropy_small_std_values_and_gradients(s):
    """Below any useful floor (1e-3 ... 1e-8) the term is the exact folded-normal expectation.

    At m = 0, E|z| = s sqrt(2/pi) (half-normal), so the value is -log(rate/2) + rate s sqrt(2/pi) and
    d/ds = rate sqrt(2/pi); at |m| = 4 s, the folded-normal mean and its slopes come from scipy."""
    rate = 6.0
    m = torch.tensor([0.0, 4 * s, -4 * s], dtype=torch.float64, requires_grad=True)
    std = torch.full((3,), s, dtype=torch.float64, requires_grad=True)
    out = laplace_cross_entropy(m, std, rate)
    out.sum().backward()
    folded = stats.foldnorm(4.0, scale=s).mean()  # E|z| for z ~ N(4 s, s^2)
    want = -math.log(rate / 2) + rate * np.array([s * math.sqrt(2 / math.pi), folded, folded])
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-12)
    # dE|z|/dm = erf(m / (s sqrt 2)) = 2 Phi(m / s) - 1; dE|z|/ds = sqrt(2/pi) exp(-m^2 / (2 s^2))
    np.testing.assert_allclose(
        m.grad.numpy(), rate * np.array([0.0, 1, -1]) * (2 * stats.norm.cdf(4.0) - 1), rtol=1e-12
    )
    slope = math.sqrt(2 / math.pi) * np.array([1.0, math.exp(-8.0), math.exp(-8.0)])
    np.testing.assert_allclose(std.grad.numpy(), rate * slope, rtol=1e-9)


def test_laplace_cross_entropy_floor():
    """Below the floor (1e-12) the std is clamped: a zero std gives the value at the floor, finite
    gradients for the mean (its derivative at m = 0 is 0) and none for the std."""
    m = torch.tensor([0.0, 0.0, 3e-13], dtype=torch.float64, requires_grad=True)
    std = torch.tensor([0.0, 1e-14, 0.0], dtype=torch.float64, requires_grad=True)
    out = laplace_cross_entropy(m, std, 6.0)
    out.sum().backward()
    at_floor = -math.log(3) + 6 * _MIN_STD * math.sqrt(2 / math.pi)
    assert out[0].item() == out[1].item() == at_floor
    # m = 0.3 floor: E|z| = foldnorm(0.3).mean() * floor
    assert out[2].item() == pytest.approx(-math.log(3) + 6 * _MIN_STD * stats.foldnorm(0.3).mean(), rel=1e-12)
    assert m.grad[:2].tolist() == [0.0, 0.0] and std.grad.tolist() == [0.0, 0.0, 0.0]
    assert m.grad[2].item() == pytest.approx(6 * (2 * stats.norm.cdf(0.3) - 1), rel=1e-12)


def test_float32_loss_finite_for_large_mean_differences():
    x = torch.zeros(2, 3, 1, 4, 4)
    mu = torch.tensor([[[80.0, -80.0]] * 3, [[-80.0, 80.0]] * 3])
    logvar = torch.full_like(mu, -60.0)
    out = slowvae_loss(x, torch.zeros_like(x), mu, logvar, beta=1, gamma=10, rate=6)
    assert all(torch.isfinite(v) for v in out.values())
    # each latent moved by 160, in both directions: CE_L ~ 2 * 2 * (-log 3 + 6 * 160)
    assert out["kl_laplace"].item() == pytest.approx(
        4 * (-math.log(3) + 960) + 2 * 0.5 * (60 - math.log(2 * math.pi * math.e)), rel=1e-4
    )


def test_model_matches_reference_architecture():
    model = build_model("slowvae", channels=1)
    assert sum(p.numel() for p in model.parameters()) == 763_285  # docs/model.md §2
    assert sum(p.numel() for p in build_model("slowvae", channels=3).parameters()) == 765_335
    x = torch.rand(2, 4, 1, 64, 64)
    out = model(x, torch.Generator().manual_seed(0))
    assert set(out) == {"loss", "recon", "kl_normal", "kl_laplace"}
    assert model.encode(x[0]).shape == (4, 10)


def test_model_loss_is_reproducible_with_generator():
    torch.manual_seed(0)
    model = build_model("slowvae", channels=1)
    x = torch.rand(2, 4, 1, 64, 64)
    a = model(x, torch.Generator().manual_seed(3))["loss"]
    b = model(x, torch.Generator().manual_seed(3))["loss"]
    assert a.item() == b.item()
