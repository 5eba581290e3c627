"""The vector-observation SlowVAE: its loss is the image loss's assembly with a Gaussian decoder."""

from __future__ import annotations

import math

import pytest
import torch

from slowvae.errors import SlowVAEError
from slowvae.models.mlp import VECTOR_MODELS, build_vector_model, gaussian_slowvae_loss
from slowvae.models.slowvae import slowvae_loss, slowvae_prior_terms


def _tensors(seed=0, b=6, obs=4, d=3):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, b, obs, generator=g, dtype=torch.float64)
    xm = torch.randn(2, b, obs, generator=g, dtype=torch.float64)
    mu = torch.randn(2, b, d, generator=g, dtype=torch.float64)
    logvar = torch.randn(2, b, d, generator=g, dtype=torch.float64) - 1
    return x, xm, mu, logvar


def test_gaussian_loss_is_nll_plus_the_reference_prior_terms():
    x, xm, mu, logvar = _tensors()
    hyper = dict(beta=1.5, gamma=10.0, rate=6.0)
    got = gaussian_slowvae_loss(x, xm, mu, logvar, obs_std=0.3, **hyper)
    nll = -torch.distributions.Normal(xm, 0.3).log_prob(x).sum(-1).mean()  # R, per frame
    prior = slowvae_prior_terms(mu, logvar, rate=6.0)
    assert float(got["recon"]) == pytest.approx(2 * float(nll), rel=1e-12)
    want = 2 * nll + 1.5 * prior["kl_normal"] + 10.0 * prior["kl_laplace"]
    assert float(got["loss"]) == pytest.approx(float(want), rel=1e-12)
    # the same prior terms as the image loss (one assembly for both decoders)
    img = slowvae_loss(torch.zeros(2, 6, 1, 2, 2, dtype=torch.float64), torch.zeros(2, 6, 1, 2, 2, dtype=torch.float64), mu, logvar, **hyper)
    assert float(img["kl_laplace"]) == float(got["kl_laplace"])
    assert float(img["kl_normal"]) == float(got["kl_normal"])


def test_models_share_network_and_differ_by_the_laplace_term():
    torch.manual_seed(0)
    slow = build_vector_model("slowvae", obs_dim=4, z_dim=3, hidden=16, layers=2)
    torch.manual_seed(0)
    beta = build_vector_model("betavae", obs_dim=4, z_dim=3, hidden=16, layers=2)
    x = torch.randn(2, 8, 4)
    a = slow(x, torch.Generator().manual_seed(1))
    b = beta(x, torch.Generator().manual_seed(1))
    assert set(a) == set(b) == {"loss", "recon", "kl_normal", "kl_laplace"}
    assert a["recon"].item() == b["recon"].item()
    assert (a["loss"] - b["loss"]).item() == pytest.approx(10.0 * a["kl_laplace"].item(), rel=1e-5)
    assert slow.encode(x[0]).shape == (8, 3)
    # the posterior std starts at the decoder's std
    _, logvar = slow.posterior(x[0])
    assert torch.allclose(logvar, torch.full_like(logvar, 2 * math.log(0.1)))


def test_registry_and_bad_hyperparameters():
    assert {"slowvae", "betavae"} <= set(VECTOR_MODELS)
    with pytest.raises(SlowVAEError, match="no hyperparameter"):
        build_vector_model("betavae", obs_dim=3, z_dim=3, gamma=1.0)
    with pytest.raises(SlowVAEError, match="unknown model"):
        build_vector_model("nope", obs_dim=3, z_dim=3)
    with pytest.raises(ValueError):
        build_vector_model("slowvae", obs_dim=3, z_dim=3)(torch.zeros(2, 4, 5))
