"""The vector-observation SlowVAE: its loss is the image loss's assembly with a Gaussian decoder."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

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


def _numpy_prior_terms(mu: np.ndarray, logvar: np.ndarray, rate: float) -> tuple[float, float]:
    """kl_normal and kl_laplace of diagonal posteriors (2, B, D), written out with scipy: the mean
    per-image KL to N(0, I), and both directional Laplace cross-entropies per pair (folded-normal
    means from scipy) minus the mean per-image entropy."""
    b = mu.shape[1]
    var = np.exp(logvar)
    kl_normal = 0.5 * np.sum(mu**2 + var - 1 - logvar) / (2 * b)
    entropy = 0.5 * np.sum(logvar + np.log(2 * np.pi * np.e)) / (2 * b)
    sd = np.sqrt(var)

    def ce(m, s):
        return -np.log(rate / 2) + rate * stats.foldnorm(np.abs(m) / s, scale=s).mean()

    ce_l = np.sum(ce(mu[0] - mu[1], sd[0]) + ce(mu[1] - mu[0], sd[1])) / b
    return float(kl_normal), float(ce_l - entropy)


def test_gaussian_loss_is_nll_plus_the_reference_prior_terms():
    x, xm, mu, logvar = _tensors()
    hyper = dict(beta=1.5, gamma=10.0, rate=6.0)
    got = gaussian_slowvae_loss(x, xm, mu, logvar, obs_std=0.3, **hyper)
    resid = (x - xm).numpy() / 0.3
    nll = np.sum(0.5 * resid**2 + math.log(0.3) + 0.5 * math.log(2 * math.pi)) / (2 * x.shape[1])  # R per frame
    kl_normal, kl_laplace = _numpy_prior_terms(mu.numpy(), logvar.numpy(), 6.0)
    assert float(got["recon"]) == pytest.approx(2 * nll, rel=1e-12)
    assert float(got["kl_normal"]) == pytest.approx(kl_normal, rel=1e-12)
    assert float(got["kl_laplace"]) == pytest.approx(kl_laplace, rel=1e-10)
    assert float(got["loss"]) == pytest.approx(2 * nll + 1.5 * kl_normal + 10.0 * kl_laplace, rel=1e-10)
    # the same prior terms as the image loss (one assembly for both decoders)
    img = slowvae_loss(
        torch.zeros(2, 6, 1, 2, 2, dtype=torch.float64),
        torch.zeros(2, 6, 1, 2, 2, dtype=torch.float64),
        mu,
        logvar,
        **hyper,
    )
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
    # the posterior starts at N(mu, obs_std^2 I)
    _, scale = slow.posterior(x[0])
    assert torch.allclose(scale, 0.1 * torch.eye(3).expand(8, 3, 3))


def test_full_covariance_prior_terms_are_the_exact_gaussian_kl():
    """With ``logdet``, kl_normal is KL(N(mu, L L^T) || N(0, I)) of the whole covariance, and the
    entropy inside kl_laplace is that of the full Gaussian (checked against torch.distributions)."""
    g = torch.Generator().manual_seed(3)
    mu = torch.randn(2, 5, 3, generator=g, dtype=torch.float64)
    tril = torch.randn(2, 5, 3, 3, generator=g, dtype=torch.float64).tril(-1) * 0.3
    tril = tril + torch.diag_embed(torch.rand(2, 5, 3, generator=g, dtype=torch.float64) + 0.2)
    q = torch.distributions.MultivariateNormal(mu, scale_tril=tril)
    std_normal = torch.distributions.MultivariateNormal(
        torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)
    )
    logvar = torch.log(torch.diagonal(q.covariance_matrix, dim1=-2, dim2=-1))
    logdet = torch.logdet(q.covariance_matrix)
    full = slowvae_prior_terms(mu, logvar, rate=2.0, logdet=logdet)
    want = torch.distributions.kl_divergence(q, std_normal).mean()
    assert float(full["kl_normal"]) == pytest.approx(float(want), rel=1e-10)
    # the Laplace term sees only the marginals: the diagonal posterior with the same marginals
    # differs from it exactly by the entropy gap (the full entropy is smaller)
    _, diag_kl_laplace = _numpy_prior_terms(mu.numpy(), logvar.numpy(), 2.0)
    gap = (0.5 * logvar.sum(-1) - q.entropy() + 0.5 * 3 * (math.log(2 * math.pi) + 1)).mean()
    assert float(full["kl_laplace"]) == pytest.approx(diag_kl_laplace + float(gap), rel=1e-10)
    assert float(gap) > 0


def test_full_posterior_model_samples_and_scores_with_its_covariance():
    torch.manual_seed(0)
    model = build_vector_model("slowvae", obs_dim=4, z_dim=3, hidden=16, layers=2, posterior="full")
    with torch.no_grad():
        model.encoder[-1].bias[6:].copy_(torch.tensor([0.05, -0.02, 0.03]))  # off-diagonals
    x = torch.randn(2, 8, 4)
    mu, scale = model.posterior(x.reshape(16, 4))
    assert (
        scale.shape == (16, 3, 3)
        and torch.all(scale.triu(1) == 0)
        and torch.all(torch.diagonal(scale, dim1=1, dim2=2) > 0)
    )
    assert torch.allclose(scale[:, 1, 0], torch.full((16,), 0.05))
    out = model(x, torch.Generator().manual_seed(4))
    # the same loss computed by hand from the posterior
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(4))
    x_mean = model.decoder(mu + torch.einsum("nij,nj->ni", scale, eps)).reshape(x.shape)
    cov = scale @ scale.transpose(1, 2)
    want = gaussian_slowvae_loss(
        x,
        x_mean,
        mu.reshape(2, 8, 3),
        torch.log(torch.diagonal(cov, dim1=1, dim2=2)).reshape(2, 8, 3),
        logdet=torch.logdet(cov).reshape(2, 8),
        **model.hyper,
    )
    for key in want:
        assert out[key].item() == pytest.approx(want[key].item(), rel=1e-5)
    with pytest.raises(SlowVAEError, match="posterior"):
        build_vector_model("slowvae", obs_dim=4, z_dim=3, posterior="triangular")


def test_registry_and_bad_hyperparameters():
    assert {"slowvae", "betavae"} <= set(VECTOR_MODELS)
    with pytest.raises(SlowVAEError, match="no hyperparameter"):
        build_vector_model("betavae", obs_dim=3, z_dim=3, gamma=1.0)
    with pytest.raises(SlowVAEError, match="unknown model"):
        build_vector_model("nope", obs_dim=3, z_dim=3)
    with pytest.raises(ValueError):
        build_vector_model("slowvae", obs_dim=3, z_dim=3)(torch.zeros(2, 4, 5))


def test_obs_std_argument_replaces_the_decoder_std_for_one_call_only():
    torch.manual_seed(0)
    model = build_vector_model("slowvae", obs_dim=6, z_dim=2, obs_std=0.1)
    x = torch.randn(2, 5, 6)
    scheduled = model(x, torch.Generator().manual_seed(1), obs_std=0.05)
    assert model.hyper["obs_std"] == 0.1  # nothing is stored
    model.hyper["obs_std"] = 0.05
    fixed = model(x, torch.Generator().manual_seed(1))
    assert torch.equal(scheduled["loss"], fixed["loss"])
    model.hyper["obs_std"] = 0.1
    assert not torch.equal(model(x, torch.Generator().manual_seed(1))["loss"], fixed["loss"])


@pytest.mark.parametrize("posterior", ["diagonal", "full"])
def test_slowvae_gl_at_its_start_is_the_slowvae(posterior):
    """The vector slowvae-gl with the same networks and noise: learned alpha and s at their start
    (alpha 1, s = 1/rate) give the SlowVAE's whole loss in float64 within 1e-10 relative."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # parameters made in float64: the prior starts exactly at alpha = 1
    try:
        models = []
        for name in ("slowvae", "slowvae-gl"):
            torch.manual_seed(3)
            models.append(
                build_vector_model(name, obs_dim=6, z_dim=3, hidden=16, layers=2, posterior=posterior, rate=2.5)
            )
    finally:
        torch.set_default_dtype(previous)
    x = torch.randn(2, 10, 6, dtype=torch.float64)
    reference, got = (m(x, torch.Generator().manual_seed(5)) for m in models)
    for key in ("loss", "recon", "kl_normal", "kl_laplace"):
        assert got[key].item() == pytest.approx(reference[key].item(), rel=1e-10, abs=0), key
    assert got["learned_scale_2"].item() == pytest.approx(1 / 2.5)
    assert models[1].learned_values()["learned_alpha"] == pytest.approx([1.0] * 3)
    assert models[0].learned_values() == {}
