"""Loss pieces the VAE baselines share: reparametrisation, Bernoulli reconstruction, Gaussian
KL divergences and log-densities. Shapes are given per function; ``D`` is the latent axis (last).

Scale convention (disentanglement_lib's, docs/baselines.md): reconstruction summed over
pixels, KL summed over latents, both averaged over the images of the batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: log(2 pi), the constant of every Gaussian log-density
LOG_2PI = math.log(2 * math.pi)


def _noise(mu: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise shaped like ``mu``, drawn from ``generator``."""
    return torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)


def reparametrize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A sample z = mu + exp(logvar / 2) * eps of N(mu, exp(logvar)), any shape (Kingma & Welling 2014, eq. 10)."""
    return mu + torch.exp(0.5 * logvar) * _noise(mu, generator)


def reparametrize_tril(
    mu: torch.Tensor, scale_tril: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A sample z = mu + L eps (N, D) of N(mu, L L^T) for means (N, D) and lower-triangular
    scales L (N, D, D) (Kingma & Welling 2014, eq. 10, with a full covariance)."""
    return mu + (scale_tril @ _noise(mu, generator).unsqueeze(-1)).squeeze(-1)


def bernoulli_recon(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Bernoulli negative log-likelihood of targets ``x`` in [0, 1] under ``logits``, both (N, ...),
    summed over everything but the first axis and averaged over it (a scalar)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per latent, same shape as ``mu``
    (Kingma & Welling 2014, appendix B: -1/2 (1 + log s^2 - mu^2 - s^2))."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1)


def gaussian_kl_between(
    mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor
) -> torch.Tensor:
    """KL(N(mu1, exp(logvar1)) || N(mu2, exp(logvar2))) per latent (elementwise, broadcasting):
    1/2 (s1^2/s2^2 + (mu2 - mu1)^2/s2^2 - 1 + log s2^2 - log s1^2)."""
    return 0.5 * ((logvar1 - logvar2).exp() + (mu2 - mu1).pow(2) / logvar2.exp() - 1 + logvar2 - logvar1)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, exp(logvar)) per latent (elementwise, broadcasting)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp())


def flatten_pairs(x: torch.Tensor) -> torch.Tensor:
    """A pair batch (2, B, ...) as 2B single items (2B, ...), first frames first."""
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])
