"""FactorVAE (Kim & Mnih, ICML 2018): a discriminator estimates the total correlation of q(z),
and the VAE is penalised by gamma times that estimate.

The discriminator has its own Adam optimizer (disentanglement_lib's: lr 1e-4, betas 0.5, 0.9) and
trains through the loop's auxiliary hook (see :mod:`slowvae.models.base`): after each VAE step it
tells the VAE step's samples z (detached) from dimension-wise permuted codes of a second,
independent batch (Kim & Mnih 2018, Algorithm 1). ``same_batch = 1`` permutes the VAE step's own
codes instead, as disentanglement_lib does (docs/baselines.md, FactorVAE). No gradient of the
discriminator step reaches the encoder or decoder: its inputs are detached and the second batch
is encoded without a graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from slowvae.errors import SlowVAEError
from slowvae.models import losses
from slowvae.models.base import AUXILIARY_INPUT
from slowvae.models.beta_vae import IIDVAE


class Discriminator(nn.Sequential):
    """Codes (N, D) -> 2 logits (class 0: a sample of q(z), class 1: a permuted code); 6 hidden
    layers of 1000 units with leaky ReLU (0.2), as disentanglement_lib's ``fc_discriminator``."""

    def __init__(self, z_dim: int, hidden: int = 1000, layers: int = 6) -> None:
        mods: list[nn.Module] = []
        width = z_dim
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        mods.append(nn.Linear(width, 2))
        super().__init__(*mods)


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each column of ``z`` (N, D) shuffled by its own random permutation: a sample of prod_j q(z_j)
    (Kim & Mnih 2018, Algorithm 1)."""
    noise = torch.rand(z.shape, generator=generator, device=z.device)
    return torch.gather(z, 0, noise.argsort(dim=0))


def tc_estimate(logits: torch.Tensor) -> torch.Tensor:
    """Density-ratio estimate of TC(q(z)): mean of log D(z) / (1 - D(z)) = logit_0 - logit_1 over
    the batch (Kim & Mnih 2018, eq. 3)."""
    return (logits[:, 0] - logits[:, 1]).mean()


def discriminator_loss(logits_q: torch.Tensor, logits_perm: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the discriminator, half on samples of q(z) (class 0) and half on permuted
    codes (class 1) (Kim & Mnih 2018, Algorithm 1)."""
    zeros = torch.zeros(len(logits_q), dtype=torch.long, device=logits_q.device)
    ones = torch.ones(len(logits_perm), dtype=torch.long, device=logits_perm.device)
    return 0.5 * (F.cross_entropy(logits_q, zeros) + F.cross_entropy(logits_perm, ones))


class FactorVAE(IIDVAE):
    """R + KL + gamma TC, TC from the discriminator (Kim & Mnih 2018, eq. 2)."""

    name = "factor-vae"
    paper = "Kim & Mnih, Disentangling by Factorising, ICML 2018"
    defaults = {"gamma": 30.0, "disc_lr": 1e-4, "same_batch": 0.0}
    sweeps = {"gamma": (10.0, 20.0, 30.0, 40.0, 50.0, 100.0), "disc_lr": "fixed 1e-4", "same_batch": "0 (paper)"}
    hyper_help = {
        "gamma": "weight of the discriminator's total-correlation estimate",
        "disc_lr": "Adam learning rate of the discriminator (betas 0.5, 0.9)",
        "same_batch": "0: permute codes of a second batch (Kim & Mnih); 1: of the same batch (disentanglement_lib)",
    }

    @classmethod
    def check_hyper(cls, hyper: dict[str, float]) -> None:
        if hyper["same_batch"] not in (0.0, 1.0):
            raise SlowVAEError(f"same_batch must be 0 or 1, got {hyper['same_batch']}")
        if not hyper["disc_lr"] > 0:
            raise SlowVAEError(f"disc_lr must be positive, got {hyper['disc_lr']}")

    def build_networks(self) -> None:
        super().build_networks()
        self.discriminator = Discriminator(self.z_dim)

    def regularizer(
        self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor, kl: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        tc = tc_estimate(self.discriminator(z))
        return {"regularizer": kl + self.hyper["gamma"] * tc, "tc": tc, AUXILIARY_INPUT: z.detach()}

    def auxiliary_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.discriminator.parameters(), lr=self.hyper["disc_lr"], betas=(0.5, 0.9), eps=1e-8)

    def auxiliary_loss(
        self, batch: torch.Tensor, generator: torch.Generator | None, z: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Discriminator loss on the samples ``z`` (2B, D) of the main step's forward (its
        ``auxiliary_input``) against permuted codes of ``batch`` (2, B, C, H, W), or of ``z``
        itself with ``same_batch``; nothing here carries a gradient to the VAE."""
        if self.hyper["same_batch"]:
            other = z
        else:
            with torch.no_grad():
                mu, logvar = self.encoder(losses.flatten_pairs(batch))
                other = losses.reparametrize(mu, logvar, generator)
        logits_q = self.discriminator(z)
        logits_perm = self.discriminator(permute_dims(other, generator))
        loss = discriminator_loss(logits_q, logits_perm)
        accuracy = 0.5 * ((logits_q.argmax(1) == 0).float().mean() + (logits_perm.argmax(1) == 1).float().mean())
        return {"loss": loss, "accuracy": accuracy.detach()}
