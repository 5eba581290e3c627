"""Models: each maps a pair batch (2, B, C, H, W) to a dict of scalar losses."""

from __future__ import annotations

from slowvae.models.ada_gvae import AdaGVAE, AdaMLVAE
from slowvae.models.annealed_vae import AnnealedVAE
from slowvae.models.base import ContrastivePairModel, PairModel
from slowvae.models.beta_tcvae import BetaTCVAE
from slowvae.models.beta_vae import BetaVAE
from slowvae.models.dip_vae import DIPVAEI, DIPVAEII
from slowvae.models.factor_vae import FactorVAE
from slowvae.models.infonce import InfoNCE
from slowvae.models.pcl import PCL
from slowvae.models.registry import MODELS, build_model, model_class, model_names, register_model
from slowvae.models.slowvae import SlowVAE
from slowvae.models.slowvae_gl import SlowVAEGL

__all__ = [
    "MODELS",
    "AdaGVAE",
    "AdaMLVAE",
    "AnnealedVAE",
    "BetaTCVAE",
    "BetaVAE",
    "ContrastivePairModel",
    "DIPVAEI",
    "DIPVAEII",
    "FactorVAE",
    "InfoNCE",
    "PCL",
    "PairModel",
    "SlowVAE",
    "SlowVAEGL",
    "build_model",
    "model_class",
    "model_names",
    "register_model",
]
