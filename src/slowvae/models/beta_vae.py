"""beta-VAE (Higgins et al., ICLR 2017) and the base of the unsupervised VAE baselines.

The unsupervised baselines ignore the pairing: the 2B frames of a pair batch are 2B images, and
the loss is disentanglement_lib's ``reconstruction + regularizer`` with the reconstruction summed
over pixels and averaged over images, the KL summed over latents and averaged over images.
(The reference SlowVAE code's own beta-VAE mode, ``slowvae`` with gamma = 0, weights the same
terms as 2R + beta KL, so its beta = 8 is this module's beta = 4.)
"""

from __future__ import annotations

import torch

from slowvae.models import losses
from slowvae.models.base import PairModel

#: disentanglement_lib's unsupervised study: beta-VAE sweep (docs/baselines.md)
_BETA_SWEEP = (1.0, 2.0, 4.0, 6.0, 8.0, 16.0)


class IIDVAE(PairModel):
    """A VAE on the 2B frames of a pair batch as independent images: loss = R + regularizer.

    Subclasses implement :meth:`regularizer`.
    """

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Loss terms for a pair batch ``x`` (2, B, C, H, W); reparametrisation noise from ``generator``."""
        images = losses.flatten_pairs(x)
        mu, logvar = self.encoder(images)
        z = losses.reparametrize(mu, logvar, generator)
        recon = losses.bernoulli_recon(images, self.decoder(z))
        kl = losses.gaussian_kl(mu, logvar).sum(-1).mean()
        terms = self.regularizer(mu, logvar, z, kl)
        loss = recon + terms.pop("regularizer")
        return {"loss": loss, "recon": recon, "kl": kl, **terms}

    def regularizer(
        self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor, kl: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``{"regularizer": scalar, **logged terms}`` from the posteriors (N, D), a sample ``z``
        (N, D) and the mean KL to N(0, I) ``kl`` (a scalar)."""
        raise NotImplementedError


class BetaVAE(IIDVAE):
    """beta-VAE: R + beta KL(q(z|x) || N(0, I)) (Higgins et al. 2017, eq. 4)."""

    name = "beta-vae"
    paper = (
        "Higgins et al., beta-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework, ICLR 2017"
    )
    defaults = {"beta": 8.0}
    sweeps = {"beta": _BETA_SWEEP}
    hyper_help = {
        "beta": "weight of the KL to N(0, I); 8 is the value the SlowVAE reference chose by UDR, "
        "there on its 2R + beta KL scale (= beta 4 here; `slowvae --gamma 0 --beta 8` is that model)"
    }

    def regularizer(
        self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor, kl: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        return {"regularizer": self.hyper["beta"] * kl}
