"""Ada-GVAE and Ada-ML-VAE (Locatello et al., ICML 2020): weakly supervised on pairs. Dimensions
whose two posteriors differ little are taken as shared and replaced by an average of the two;
the rules are disentanglement_lib's ``weak_vae.py`` exactly as coded (docs/baselines.md).
"""

from __future__ import annotations

import torch

from slowvae.errors import SlowVAEError
from slowvae.models import losses
from slowvae.models.base import PairModel

_BETA_SWEEP = (1.0, 2.0, 4.0, 6.0, 8.0, 16.0)


def pair_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """delta_j = 2 KL(q1_j || q2_j) per pair and latent (B, D) from posteriors (2, B, D):
    s1^2/s2^2 + (mu2 - mu1)^2/s2^2 - 1 + log s2^2 - log s1^2, no 1/2 and the q1 || q2 direction
    as disentanglement_lib codes it (Locatello et al. 2020, sec. 4)."""
    return 2 * losses.gaussian_kl_between(mu[0], logvar[0], mu[1], logvar[1])


def changed_dims(delta: torch.Tensor) -> torch.Tensor:
    """Boolean (B, D): the dimensions of each pair in the upper of two equal-width bins spanning
    [min_j delta_j, max_j delta_j], i.e. delta_j - min >= (max - min) / 2 (disentanglement_lib's
    ``histogram_fixed_width_bins(delta, [min, max], nbins=2)``; Locatello et al. 2020, eq. 6).
    A pair whose delta is constant over j keeps every dimension as changed (no averaging)."""
    low = delta.min(-1, keepdim=True).values
    high = delta.max(-1, keepdim=True).values
    return (2 * (delta - low) >= high - low) | (high == low)


def average_posteriors(mu: torch.Tensor, logvar: torch.Tensor, rule: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The shared posterior (mean (B, D), log-variance (B, D)) of two posteriors (2, B, D).

    ``"gvae"``: mu = (mu1 + mu2)/2, s^2 = (s1^2 + s2^2)/2 (Locatello et al. 2020, eq. 7).
    ``"mlvae"``: disentanglement_lib's ML-VAE as coded: s^2 = 2 s1^2 s2^2 / (s1^2 + s2^2) (twice the
    product-of-experts variance), mu = (mu1 s2^2 + mu2 s1^2) / (s1^2 + s2^2).
    ``"poe"``: the true product of experts: s^2 = s1^2 s2^2 / (s1^2 + s2^2), the same mean
    (Bouchacourt et al. 2018, ML-VAE).
    """
    var1, var2 = logvar[0].exp(), logvar[1].exp()
    if rule == "gvae":
        return 0.5 * (mu[0] + mu[1]), torch.log(0.5 * (var1 + var2))
    total = var1 + var2
    mean = (mu[0] * var2 + mu[1] * var1) / total
    # log of s1^2 s2^2 / (s1^2 + s2^2), written in log space for stability
    log_poe = logvar[0] + logvar[1] - torch.log(total)
    if rule == "mlvae":
        return mean, log_poe + torch.log(torch.tensor(2.0, dtype=mu.dtype, device=mu.device))
    if rule == "poe":
        return mean, log_poe
    raise ValueError(f"rule must be 'gvae', 'mlvae' or 'poe', got {rule!r}")


class AdaGVAE(PairModel):
    """Ada-GVAE: 1/2 (R(x1) + R(x2)) + beta 1/2 (KL(q~1 || N(0, I)) + KL(q~2 || N(0, I))), where
    q~ keeps each frame's own posterior on the changed dimensions and the average elsewhere
    (Locatello et al. 2020, eq. 5; docs/baselines.md)."""

    name = "ada-gvae"
    paper = "Locatello et al., Weakly-Supervised Disentanglement Without Compromises, ICML 2020"
    defaults = {"beta": 1.0}
    sweeps = {"beta": _BETA_SWEEP}
    hyper_help = {"beta": "weight of the KL of the adapted posteriors to N(0, I)"}

    def average_rule(self) -> str:
        return "gvae"

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Loss terms for a pair batch ``x`` (2, B, C, H, W); reparametrisation noise from ``generator``."""
        two, b = x.shape[:2]
        mu, logvar = (t.reshape(two, b, -1) for t in self.encoder(losses.flatten_pairs(x)))
        changed = changed_dims(pair_divergence(mu, logvar).detach())
        avg_mu, avg_logvar = average_posteriors(mu, logvar, self.average_rule())
        mu_ada = torch.where(changed, mu, avg_mu)  # (2, B, D): own posterior where changed
        logvar_ada = torch.where(changed, logvar, avg_logvar)
        z = losses.reparametrize(mu_ada, logvar_ada, generator)
        images = losses.flatten_pairs(x)
        recon = losses.bernoulli_recon(images, self.decoder(losses.flatten_pairs(z)))  # = 1/2 (R1 + R2)
        kl = losses.gaussian_kl(mu_ada, logvar_ada).sum(-1).mean()  # = 1/2 (KL1 + KL2)
        return {
            "loss": recon + self.hyper["beta"] * kl,
            "recon": recon,
            "kl": kl,
            "shared_dims": (~changed).float().sum(-1).mean(),
        }


class AdaMLVAE(AdaGVAE):
    """Ada-ML-VAE: Ada-GVAE with the ML-VAE average. ``poe_variance`` 0 (default) uses
    disentanglement_lib's variance as coded (twice the product-of-experts variance), 1 the true
    product-of-experts variance."""

    name = "ada-mlvae"
    defaults = {"beta": 1.0, "poe_variance": 0.0}
    sweeps = {"beta": _BETA_SWEEP, "poe_variance": "0 (disentanglement_lib as coded)"}
    hyper_help = {
        "beta": AdaGVAE.hyper_help["beta"],
        "poe_variance": "0: 2 s1^2 s2^2/(s1^2+s2^2) as disentanglement_lib codes it; 1: the true product of experts",
    }

    @classmethod
    def check_hyper(cls, hyper: dict[str, float]) -> None:
        if hyper["poe_variance"] not in (0.0, 1.0):
            raise SlowVAEError(f"poe_variance must be 0 or 1, got {hyper['poe_variance']}")

    def average_rule(self) -> str:
        return "poe" if self.hyper["poe_variance"] else "mlvae"
