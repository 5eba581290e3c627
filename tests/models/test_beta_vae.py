"""beta-VAE and the shared loss helpers against independent numpy computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slowvae.models import build_model, losses


def test_gaussian_kl_helpers_match_torch_distributions():
    rng = np.random.default_rng(1)
    mu1, mu2 = torch.tensor(rng.normal(size=(2, 7)))
    lv1, lv2 = torch.tensor(rng.normal(size=(2, 7)))
    n = torch.distributions.Normal
    want = torch.distributions.kl_divergence(n(mu1, (0.5 * lv1).exp()), n(mu2, (0.5 * lv2).exp()))
    assert torch.allclose(losses.gaussian_kl_between(mu1, lv1, mu2, lv2), want, rtol=1e-12)
    want0 = torch.distributions.kl_divergence(n(mu1, (0.5 * lv1).exp()), n(torch.zeros(7), torch.ones(7)))
    assert torch.allclose(losses.gaussian_kl(mu1, lv1), want0.double(), rtol=1e-12)
    z = torch.tensor(rng.normal(size=7))
    assert torch.allclose(losses.gaussian_log_density(z, mu1, lv1), n(mu1, (0.5 * lv1).exp()).log_prob(z), rtol=1e-12)


def test_beta_vae_loss_is_recon_plus_beta_kl_over_all_frames(stub, fixed, helpers):
    x, logits, mu, logvar = fixed
    model = stub(build_model("beta-vae", channels=1, beta=8.0), mu, logvar, logits)
    out = model(torch.tensor(x), torch.Generator().manual_seed(0))
    images = x.reshape(-1, *x.shape[2:])
    recon, kl = helpers.bce(images, logits), helpers.kl(mu, logvar)
    assert out["recon"].item() == pytest.approx(recon, rel=1e-12)
    assert out["kl"].item() == pytest.approx(kl, rel=1e-12)
    assert out["loss"].item() == pytest.approx(recon + 8.0 * kl, rel=1e-12)
