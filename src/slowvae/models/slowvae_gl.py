"""SlowVAE with a generalized-Laplace transition prior whose shape and scale it can learn
(``slowvae-gl``): the reference assembly of :mod:`slowvae.models.slowvae` with the Laplace
cross-entropy replaced by that of :class:`slowvae.models.gl_prior.GeneralizedLaplacePrior`.

Klindt et al. (ICLR 2021) measure alpha ~ 0.5 on natural transitions, prove identifiability for
every alpha < 2 and train with alpha = 1; here alpha and the scale per latent are fitted by the
same ELBO. At alpha = 1 and scale 1/rate it is the SlowVAE, which is where training starts.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from slowvae.models.gl_prior import GL_DEFAULTS, GL_HELP, GeneralizedLaplacePrior, check_gl_hyper
from slowvae.models.slowvae import SlowVAE, slowvae_loss


class SlowVAEGL(SlowVAE):
    """SlowVAE (beta = 1, gamma = 10) whose transition prior per latent is a generalized Laplace with
    ``alpha`` and ``scale`` fixed or learned (default: learned, starting at the Laplace with rate 6).

    Its loss dict adds ``learned_alpha_j`` and ``learned_scale_j`` for every latent j, so they reach
    the training log; :meth:`learned_values` gives them for results.json.
    """

    name = "slowvae-gl"
    paper = (
        "Klindt et al., ICLR 2021, with the generalized-Laplace transition prior (their eq. 1) of learned "
        "shape and scale per latent"
    )
    defaults: ClassVar[dict[str, float | str]] = {**SlowVAE.defaults, **GL_DEFAULTS}
    sweeps: ClassVar[dict[str, tuple[float, ...] | str]] = {}
    hyper_help = GL_HELP

    @classmethod
    def check_hyper(cls, hyper: dict[str, float | str]) -> None:
        check_gl_hyper(hyper)

    def build_networks(self) -> None:
        super().build_networks()
        self.prior = GeneralizedLaplacePrior(self.z_dim, self.hyper)

    def pair_loss(
        self, x: torch.Tensor, x_logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        h = self.hyper
        transition = self.prior.transition(self.step, h["learn_from"])
        out = slowvae_loss(
            x,
            x_logits,
            mu,
            logvar,
            beta=h["beta"],
            gamma=h["gamma"],
            transition=transition,
            entropies=int(h["entropies"]),
        )
        return {**out, **self.prior.scalars()}

    def learned_values(self) -> dict[str, list[float]]:
        return self.prior.learned_values()
