"""Models: each maps a pair batch (2, B, C, H, W) to a dict of scalar losses."""

from __future__ import annotations

from typing import Any

from slowvae.errors import SlowVAEError
from slowvae.models.ada_gvae import AdaGVAE, AdaMLVAE
from slowvae.models.annealed_vae import AnnealedVAE
from slowvae.models.base import ContrastivePairModel, PairModel
from slowvae.models.beta_tcvae import BetaTCVAE
from slowvae.models.beta_vae import BetaVAE
from slowvae.models.dip_vae import DIPVAEI, DIPVAEII
from slowvae.models.factor_vae import FactorVAE
from slowvae.models.infonce import InfoNCE
from slowvae.models.pcl import PCL
from slowvae.models.slowvae import SlowVAE
from slowvae.models.slowvae_gl import SlowVAEGL

#: model name -> class, in the order `slowvae models` lists them
MODELS: dict[str, type[PairModel]] = {
    cls.name: cls
    for cls in (
        SlowVAE, SlowVAEGL, BetaVAE, AnnealedVAE, FactorVAE, DIPVAEI, DIPVAEII, BetaTCVAE, AdaGVAE, AdaMLVAE, PCL, InfoNCE
    )
}


def build_model(name: str, *, channels: int, z_dim: int = 10, **hyper: Any) -> PairModel:
    """The model registered as ``name`` for images with ``channels`` channels."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise SlowVAEError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None
    return cls(channels=channels, z_dim=z_dim, **hyper)


__all__ = [
    "MODELS", "AdaGVAE", "AdaMLVAE", "AnnealedVAE", "BetaTCVAE", "BetaVAE", "ContrastivePairModel", "DIPVAEI",
    "DIPVAEII", "FactorVAE", "InfoNCE", "PCL", "PairModel", "SlowVAE", "SlowVAEGL", "build_model",
]
