"""DIP-VAE-I/II: the covariance penalty against numpy, and zero exactly at the identity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import hadamard

from slowvae.models import build_model
from slowvae.models.dip_vae import dip_covariance, dip_penalty


def np_penalty(cov: np.ndarray, lambda_od: float, lambda_d: float) -> float:
    off = cov[~np.eye(len(cov), dtype=bool)]
    return float(lambda_od * (off**2).sum() + lambda_d * ((np.diag(cov) - 1) ** 2).sum())


def decorrelated_unit_means() -> np.ndarray:
    """8 codes in 4 dimensions with zero mean, uncorrelated columns and unit (biased) variance."""
    return hadamard(8)[:, 1:5].astype(np.float64)


def test_penalty_vanishes_for_decorrelated_unit_variance_means():
    mu = torch.tensor(decorrelated_unit_means())
    logvar = torch.full_like(mu, -30.0)
    cov = dip_covariance(mu, logvar, "i")
    assert torch.equal(cov, torch.eye(4, dtype=torch.float64))
    assert float(dip_penalty(cov, 5.0, 50.0)) == 0.0
    # type ii: Cov[mu] + E[sigma^2] = 0.75 I + 0.25 I
    mu2, logvar2 = mu * np.sqrt(0.75), torch.full_like(mu, np.log(0.25))
    assert float(dip_penalty(dip_covariance(mu2, logvar2, "ii"), 5.0, 5.0)) == pytest.approx(0.0, abs=1e-24)
    # ... and type ii is not satisfied by type i's solution, nor i by ii's
    assert float(dip_penalty(dip_covariance(mu, torch.zeros_like(mu), "ii"), 5.0, 5.0)) == pytest.approx(5.0 * 4)
    assert float(dip_penalty(dip_covariance(mu2, logvar2, "i"), 5.0, 50.0)) == pytest.approx(50.0 * 4 * 0.25**2)


@pytest.mark.parametrize("name, lambda_d_factor, dip_type", [("dip-vae-i", 10.0, "i"), ("dip-vae-ii", 1.0, "ii")])
def test_loss_matches_numpy(stub, fixed, helpers, name, lambda_d_factor, dip_type):
    x, logits, mu, logvar = fixed
    mu = mu + mu[:, :1]  # correlated columns: a clearly nonzero penalty
    model = stub(build_model(name, channels=1, lambda_od=3.0), mu, logvar, logits)
    assert model.hyper["lambda_d_factor"] == lambda_d_factor
    out = model(torch.tensor(x), torch.Generator().manual_seed(0))
    cov = np.cov(mu, rowvar=False, bias=True)
    if dip_type == "ii":
        cov = cov + np.diag(np.exp(logvar).mean(0))
    dip = np_penalty(cov, 3.0, 3.0 * lambda_d_factor)
    assert dip > 1
    assert out["dip"].item() == pytest.approx(dip, rel=1e-10)
    want = helpers.bce(x.reshape(-1, 1, 6, 6), logits) + helpers.kl(mu, logvar) + dip
    assert out["loss"].item() == pytest.approx(want, rel=1e-10)
