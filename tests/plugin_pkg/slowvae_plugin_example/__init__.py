"""An example slowvae plugin: a model class and a dataset, written against slowvae's public
interfaces only (the model interface of ``slowvae.models.PairModel`` and the PairSource protocol)."""

from __future__ import annotations

import numpy as np
import torch

from slowvae.models import PairModel, losses


class TinyVAE(PairModel):
    """A beta-VAE with a one-hidden-layer encoder: loss = Bernoulli reconstruction + beta KL."""

    name = "tiny-vae"
    paper = "slowvae test plugin (no paper)"
    defaults = {"beta": 1.0}
    hyper_help = {"beta": "weight of the KL to N(0, I)"}

    def build_networks(self) -> None:
        pixels = self.channels * 64 * 64
        self.encoder = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(pixels, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2 * self.z_dim)
        )
        self.decoder = torch.nn.Sequential(
            torch.nn.Linear(self.z_dim, pixels), torch.nn.Unflatten(1, (self.channels, 64, 64))
        )

    @classmethod
    def check_hyper(cls, hyper: dict[str, float]) -> None:
        if hyper["beta"] < 0:
            from slowvae.errors import SlowVAEError

            raise SlowVAEError(f"beta must be non-negative, got {hyper['beta']}")

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        images = losses.flatten_pairs(x)
        mu, logvar = self.posterior(images)
        z = losses.reparametrize(mu, logvar, generator)
        recon = losses.bernoulli_recon(images, self.decoder(z))
        kl = losses.gaussian_kl(mu, logvar).sum(-1).mean()
        return {"loss": recon + self.hyper["beta"] * kl, "recon": recon, "kl": kl}


class MovingSquare:
    """A white square of side ``size`` on black whose (x, y) move by -1, 0 or +1 pixel per step."""

    channels = 1
    binary = True
    latent_names = ("x", "y")

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.positions = 64 - size + 1

    def _draw(self, xy: np.ndarray) -> np.ndarray:
        images = np.zeros((len(xy), 1, 64, 64), np.uint8)
        for image, (x, y) in zip(images, xy):
            image[0, y : y + self.size, x : x + self.size] = 1
        return images

    def sample_pairs(self, n: int, rng: np.random.Generator):
        xy = rng.integers(0, self.positions, size=(n, 2))
        nxt = np.clip(xy + rng.integers(-1, 2, size=(n, 2)), 0, self.positions - 1)
        return self._draw(xy), self._draw(nxt), xy, nxt

    def sample_eval(self, n: int, rng: np.random.Generator):
        xy = rng.integers(0, self.positions, size=(n, 2))
        return self._draw(xy), xy


def moving_square(transitions=None, *, size: int = 8) -> MovingSquare:
    """The ``moving-square`` dataset: its own transitions, so ``transitions`` is ignored."""
    return MovingSquare(size)
