"""DIP-VAE-I and DIP-VAE-II (Kumar et al., ICLR 2018): a penalty that pushes a covariance of the
inferred codes towards the identity, with disentanglement_lib's estimators (batch covariances,
biased: divided by N)."""

from __future__ import annotations

import torch

from slowvae.errors import SlowVAEError
from slowvae.models.beta_vae import IIDVAE

_LAMBDA_SWEEP = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)


def covariance(x: torch.Tensor) -> torch.Tensor:
    """Biased covariance (D, D) of rows ``x`` (N, D): E[x x^T] - E[x] E[x]^T."""
    centred = x - x.mean(0, keepdim=True)
    return centred.T @ centred / x.shape[0]


def dip_covariance(mu: torch.Tensor, logvar: torch.Tensor, dip_type: str) -> torch.Tensor:
    """The covariance DIP-VAE regularises, from posteriors (N, D): type "i" Cov[mu]
    (Kumar et al. 2018, eq. 6); type "ii" Cov[mu] + E[diag exp(logvar)], the covariance of the
    aggregate posterior (eq. 7)."""
    cov = covariance(mu)
    if dip_type == "i":
        return cov
    if dip_type == "ii":
        return cov + torch.diag(logvar.exp().mean(0))
    raise ValueError(f"dip_type must be 'i' or 'ii', got {dip_type!r}")


def dip_penalty(cov: torch.Tensor, lambda_od: float, lambda_d: float) -> torch.Tensor:
    """lambda_od sum_{i != j} Cov_ij^2 + lambda_d sum_i (Cov_ii - 1)^2 (Kumar et al. 2018, eqs. 6-7)."""
    diag = torch.diagonal(cov)
    off = cov - torch.diag(diag)
    return lambda_od * off.pow(2).sum() + lambda_d * (diag - 1).pow(2).sum()


class DIPVAEI(IIDVAE):
    """R + KL + DIP penalty on Cov[mu]; lambda_d = lambda_d_factor * lambda_od."""

    name = "dip-vae-i"
    paper = "Kumar et al., Variational Inference of Disentangled Latent Concepts from Unlabeled Observations, ICLR 2018"
    dip_type = "i"
    defaults = {"lambda_od": 5.0, "lambda_d_factor": 10.0}
    sweeps = {"lambda_od": _LAMBDA_SWEEP, "lambda_d_factor": "fixed 10"}
    hyper_help = {
        "lambda_od": "weight of the squared off-diagonal covariances",
        "lambda_d_factor": "lambda_d / lambda_od, the weight of the squared diagonal deviations from 1",
    }

    @classmethod
    def check_hyper(cls, hyper: dict[str, float]) -> None:
        if hyper["lambda_od"] < 0 or hyper["lambda_d_factor"] < 0:
            raise SlowVAEError("lambda_od and lambda_d_factor must be non-negative")

    def regularizer(
        self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor, kl: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        lambda_od = self.hyper["lambda_od"]
        dip = dip_penalty(
            dip_covariance(mu, logvar, self.dip_type), lambda_od, self.hyper["lambda_d_factor"] * lambda_od
        )
        return {"regularizer": kl + dip, "dip": dip}


class DIPVAEII(DIPVAEI):
    """R + KL + DIP penalty on Cov[mu] + E[diag sigma^2]; lambda_d = lambda_d_factor * lambda_od."""

    name = "dip-vae-ii"
    dip_type = "ii"
    defaults = {"lambda_od": 5.0, "lambda_d_factor": 1.0}
    sweeps = {"lambda_od": _LAMBDA_SWEEP, "lambda_d_factor": "fixed 1"}
