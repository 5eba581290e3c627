"""Models: each maps a pair batch (2, B, C, H, W) to a dict of scalar losses."""

from __future__ import annotations

from typing import Any

from slowvae.errors import SlowVAEError
from slowvae.models.base import PairModel
from slowvae.models.slowvae import SlowVAE

#: model name -> class
MODELS: dict[str, type[PairModel]] = {SlowVAE.name: SlowVAE}


def build_model(name: str, *, channels: int, z_dim: int = 10, **hyper: Any) -> PairModel:
    """The model registered as ``name`` for images with ``channels`` channels."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise SlowVAEError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None
    return cls(channels=channels, z_dim=z_dim, **hyper)


__all__ = ["MODELS", "PairModel", "SlowVAE", "build_model"]
