"""SlowVAE (Klindt et al., ICLR 2021): a Gaussian prior on the first frame and a Laplace
transition prior centred on the other frame's posterior mean, exactly as the reference assembles it
(docs/model.md §4)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from slowvae.models import losses
from slowvae.models.base import PairModel
from slowvae.models.losses import LOG_2PI

#: floor on the posterior standard deviation inside the Laplace cross-entropy (avoids 0/0)
_MIN_STD = 1e-12
#: a transition prior's cross-entropy E_{z~N(m, std^2)}[-log p(z)] per latent, (m, std) (..., D) -> (..., D)
TransitionCrossEntropy = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def laplace_cross_entropy(m: torch.Tensor, s: torch.Tensor, rate: float) -> torch.Tensor:
    """E_{z~N(m, s^2)}[-log Laplace(z; 0, 1/rate)], elementwise (any shape).

    Closed form (reference ``compute_cross_ent_laplace``): -log(rate/2) + rate * E|z| with the
    folded-normal mean E|z| = s*sqrt(2/pi)*exp(-m^2/(2 s^2)) + m*erf(m/(s*sqrt(2))).
    """
    s = s.clamp_min(_MIN_STD)
    t = m / s
    folded_mean = s * math.sqrt(2 / math.pi) * torch.exp(-0.5 * t * t) + m * torch.special.erf(t / math.sqrt(2))
    return -math.log(rate / 2) + rate * folded_mean


def slowvae_loss(
    x: torch.Tensor,
    x_logits: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    beta: float,
    gamma: float,
    rate: float | None = None,
    transition: TransitionCrossEntropy | None = None,
    entropies: int = 1,
) -> dict[str, torch.Tensor]:
    """The reference SlowVAE loss: 2R + beta (CE_N - H) + gamma (CE_L - H).

    Args:
        x: targets in [0, 1], (2, B, C, H, W), frame axis first.
        x_logits: Bernoulli decoder logits, same shape.
        mu, logvar: Gaussian posteriors (2, B, D).
        beta: weight of the N(0, I) prior term; gamma: weight of the Laplace transition term;
        rate: the Laplace rate lambda (scale 1/lambda).
        transition: another transition prior's cross-entropy in place of the Laplace one (give
            ``rate`` or ``transition``).
        entropies: posterior entropies subtracted from the two transition cross-entropies (1 as
            the reference; 2 for a KL in each direction).

    Returns:
        Scalars ``loss``, ``recon`` (2R: summed reconstruction of both frames per pair),
        ``kl_normal`` (CE_N - H: mean per-image KL to N(0, I)) and ``kl_laplace`` (CE_L - H:
        two directional Laplace cross-entropies per pair minus one mean entropy).
    """
    two, b = mu.shape[:2]
    if two != 2 or x.shape[:2] != (2, b) or x_logits.shape != x.shape or logvar.shape != mu.shape:
        raise ValueError(
            f"expected x, x_logits (2, B, ...) and mu, logvar (2, B, D); got {tuple(x.shape)}, "
            f"{tuple(x_logits.shape)}, {tuple(mu.shape)}, {tuple(logvar.shape)}"
        )
    # R: Bernoulli NLL summed over pixels and images, divided by the number of images
    recon = losses.bernoulli_recon(losses.flatten_pairs(x), losses.flatten_pairs(x_logits))
    return slowvae_objective(
        recon, mu, logvar, beta=beta, gamma=gamma, rate=rate, transition=transition, entropies=entropies
    )


def slowvae_prior_terms(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    rate: float | None = None,
    logdet: torch.Tensor | None = None,
    transition: TransitionCrossEntropy | None = None,
    entropies: int = 1,
) -> dict[str, torch.Tensor]:
    """The two prior terms of the reference SlowVAE loss for posteriors ``mu``, ``logvar`` (2, B, D).

    Both prior cross-entropies factorise over latents, so they need only each latent's marginal
    log-variance ``logvar``; the entropy needs the log-determinant of the whole covariance.
    ``logdet`` (2, B) gives it for full-covariance posteriors; by default the posterior is
    diagonal and ``logdet = logvar.sum(-1)``.

    Returns ``kl_normal`` = CE_N - H (mean per-image KL to N(0, I), both frames) and
    ``kl_laplace`` = CE_L - H (the Laplace prior of each frame centred on the other frame's
    posterior mean, both directions, summed per pair, minus one mean entropy; docs/model.md §4).
    The Laplace prior has rate ``rate``; ``transition`` replaces it by another prior's
    cross-entropy (the generalized Laplace of :mod:`slowvae.models.gl_prior`). ``entropies`` = 2
    subtracts one mean entropy per direction instead (a KL each way; the reference has 1).
    """
    if (rate is None) == (transition is None):
        raise ValueError("give the Laplace rate or a transition cross-entropy, not both or neither")
    if transition is None:

        def transition(m: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
            return laplace_cross_entropy(m, std, rate)

    if logdet is None:
        logdet = logvar.sum(-1)
    # mean per-image Gaussian entropy H and cross-entropy to N(0, I) CE_N (sums over latents)
    entropy = 0.5 * (logdet + mu.shape[-1] * (LOG_2PI + 1)).mean()
    ce_normal = (0.5 * (mu.pow(2) + logvar.exp()) + 0.5 * LOG_2PI).sum(-1).mean()
    # transition prior of each frame centred on the other frame's posterior mean, both directions
    std = torch.exp(0.5 * logvar)
    ce_laplace = (transition(mu[0] - mu[1], std[0]) + transition(mu[1] - mu[0], std[1])).sum(-1).mean()
    return {"kl_normal": ce_normal - entropy, "kl_laplace": ce_laplace - entropies * entropy}


def slowvae_objective(
    recon: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    beta: float,
    gamma: float,
    rate: float | None = None,
    logdet: torch.Tensor | None = None,
    transition: TransitionCrossEntropy | None = None,
    entropies: int = 1,
) -> dict[str, torch.Tensor]:
    """The reference assembly 2R + beta (CE_N - H) + gamma (CE_L - H) (Klindt et al. 2021, reference
    ``solver.py`` L152-159; docs/model.md §4), for any decoder: the image loss and the vector loss
    of :mod:`slowvae.models.mlp` both end here.

    Args:
        recon: R, the decoder's negative log-likelihood per image (summed over the observation,
            averaged over the 2B images); a scalar tensor.
        mu, logvar: Gaussian posteriors (2, B, D), frame axis first (``logvar``: marginal
            log-variances).
        logdet: log-determinants (2, B) of full posterior covariances; None for diagonal ones.
        rate, transition: the Laplace rate, or another transition prior's cross-entropy (see
            :func:`slowvae_prior_terms`).
        entropies: posterior entropies subtracted from the two transition cross-entropies (1 as
            the reference; 2 for a KL in each direction).

    Returns:
        Scalars ``loss``, ``recon`` (2R), ``kl_normal`` and ``kl_laplace`` (see
        :func:`slowvae_prior_terms`; for another transition prior ``kl_laplace`` is its term).
    """
    terms = slowvae_prior_terms(mu, logvar, rate=rate, logdet=logdet, transition=transition, entropies=entropies)
    kl_normal, kl_laplace = terms["kl_normal"], terms["kl_laplace"]
    loss = 2 * recon + beta * kl_normal + gamma * kl_laplace
    return {"loss": loss, "recon": 2 * recon, "kl_normal": kl_normal, "kl_laplace": kl_laplace}


class SlowVAE(PairModel):
    """SlowVAE with the reference's UDR-selected defaults beta = 1, gamma = 10, rate = 6.

    gamma = 0 gives the reference's own beta-VAE mode (2R + beta * KL per pair).
    """

    name = "slowvae"
    paper = "Klindt et al., Towards Nonlinear Disentanglement in Natural Data with Temporal Sparse Coding, ICLR 2021"
    defaults = {"beta": 1.0, "gamma": 10.0, "rate": 6.0}
    # the reference's random search (docs/model.md §5); the defaults are its UDR choice
    sweeps = {
        "beta": '1 (or U(1, 16): search = { beta = "U(1, 16)" } in a study)',
        "gamma": "U(1, 16)",
        "rate": "U(1, 10)",
    }

    def pair_loss(
        self, x: torch.Tensor, x_logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        return slowvae_loss(x, x_logits, mu, logvar, **self.hyper)
