"""beta-TCVAE (Chen et al., NeurIPS 2018): the total correlation of the aggregate posterior,
estimated by minibatch-weighted sampling, gets an extra weight beta - 1, as in
disentanglement_lib (loss = R + KL + (beta - 1) TC)."""

from __future__ import annotations

import math

import torch

from slowvae.models import losses
from slowvae.models.beta_vae import IIDVAE


def kl_decomposition(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> dict[str, torch.Tensor]:
    """Index-code MI, total correlation and dimension-wise KL of a batch (Chen et al. 2018, eq. 2),
    with log q(z) and log q(z_j) by minibatch-weighted sampling over the batch (eq. S5 with the
    batch as the data set: log q(z_i) ~ log mean_n q(z_i | x_n)).

    Args:
        z: one sample per posterior (N, D); mu, logvar: the posteriors (N, D).

    Returns:
        Scalars ``mi``, ``tc``, ``dwkl`` (batch means). Their sum is the Monte Carlo KL
        E[log q(z|x) - log p(z)] at the same samples. (disentanglement_lib drops the log N of
        the mean; that shifts TC by the constant (D - 1) log N, with the same gradients.)
    """
    n = z.shape[0]
    log_qz_given_x = losses.gaussian_log_density(z, mu, logvar).sum(-1)  # (N,)
    pairwise = losses.gaussian_log_density(z[:, None, :], mu[None, :, :], logvar[None, :, :])  # (N, N, D)
    log_qz = torch.logsumexp(pairwise.sum(-1), dim=1) - math.log(n)  # (N,)
    log_qz_marginals = (torch.logsumexp(pairwise, dim=1) - math.log(n)).sum(-1)  # (N,)
    log_pz = losses.gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(-1)
    return {
        "mi": (log_qz_given_x - log_qz).mean(),
        "tc": (log_qz - log_qz_marginals).mean(),
        "dwkl": (log_qz_marginals - log_pz).mean(),
    }


class BetaTCVAE(IIDVAE):
    """R + KL + (beta - 1) TC (Chen et al. 2018, eq. 4 with alpha = gamma = 1, as disentanglement_lib)."""

    name = "beta-tcvae"
    paper = "Chen et al., Isolating Sources of Disentanglement in Variational Autoencoders, NeurIPS 2018"
    defaults = {"beta": 6.0}
    sweeps = {"beta": (1.0, 2.0, 4.0, 6.0, 8.0, 10.0)}
    hyper_help = {"beta": "weight of the total correlation (minibatch-weighted sampling estimate)"}

    def regularizer(
        self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor, kl: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        terms = kl_decomposition(z, mu, logvar)
        return {"regularizer": kl + (self.hyper["beta"] - 1) * terms["tc"], **terms}
