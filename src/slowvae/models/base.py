"""The model interface: every model maps a batch of pairs to a dict of scalar losses.

A batch is a float tensor (2, B, C, H, W) with the frame axis first (x_t, x_t'), values in
[0, 1]. ``forward(x, generator)`` returns a dict of scalar tensors whose ``"loss"`` is
minimised; ``encode(x)`` gives the representation used for evaluation (posterior means).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from slowvae.errors import SlowVAEError
from slowvae.models.networks import Decoder, Encoder


class PairModel(nn.Module):
    """Base for the VAE family: the reference encoder/decoder plus the pair loss of a subclass.

    Subclasses set ``name``, ``paper`` and ``defaults`` (hyperparameter -> default value) and
    implement :meth:`pair_loss`.
    """

    name: ClassVar[str]
    paper: ClassVar[str]
    defaults: ClassVar[dict[str, float]]

    def __init__(self, channels: int = 1, z_dim: int = 10, **hyper: float) -> None:
        super().__init__()
        unknown = set(hyper) - set(self.defaults)
        if unknown:
            raise SlowVAEError(
                f"model {self.name!r} has no hyperparameter {', '.join(sorted(unknown))}; "
                f"it takes {', '.join(sorted(self.defaults)) or 'none'}"
            )
        self.hyper = {**self.defaults, **{k: float(v) for k, v in hyper.items()}}
        self.channels, self.z_dim = channels, z_dim
        self.encoder = Encoder(channels, z_dim)
        self.decoder = Decoder(channels, z_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior means (N, z_dim) of images (N, C, 64, 64) in [0, 1]."""
        return self.encoder(x)[0]

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Bernoulli means (N, C, 64, 64) decoded from the posterior means of ``x``."""
        return torch.sigmoid(self.decoder(self.encode(x)))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Loss terms for a pair batch ``x`` (2, B, C, H, W); reparametrisation noise from ``generator``."""
        two, b = x.shape[:2]
        flat = x.reshape(two * b, *x.shape[2:])
        mu, logvar = self.encoder(flat)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps  # reparametrisation (Kingma & Welling 2014, eq. 10)
        logits = self.decoder(z)
        return self.pair_loss(
            x,
            logits.reshape(x.shape),
            mu.reshape(two, b, -1),
            logvar.reshape(two, b, -1),
        )

    def pair_loss(
        self, x: torch.Tensor, x_logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Loss dict from targets and logits (2, B, C, H, W) and posteriors (2, B, D)."""
        raise NotImplementedError
