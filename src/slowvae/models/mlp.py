"""Models for vector observations: MLP encoder/decoder, SlowVAE with a Gaussian decoder, and its
gamma = 0 control (a beta-VAE).

The interface mirrors :class:`slowvae.models.base.PairModel` with vectors in place of images:
``forward(x (2, B, obs_dim), generator) -> dict`` of scalar tensors whose ``"loss"`` is minimised,
and ``encode(x (N, obs_dim)) -> (N, z_dim)`` the representation that is scored. Any model with
that interface and a constructor ``cls(obs_dim=..., z_dim=..., **hyper)`` joins the
identifiability experiment by being added to :data:`VECTOR_MODELS` (the contrastive baselines,
PCL and InfoNCE-L1, are meant to join this way: an MLP encoder plus their pair loss).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from slowvae.errors import SlowVAEError
from slowvae.models.base import resolve_hyper
from slowvae.models.slowvae import slowvae_objective

_LOG_2PI = math.log(2 * math.pi)


class MLP(nn.Sequential):
    """(N, n_in) -> (N, n_out): ``layers`` hidden layers of width ``hidden`` with leaky ReLU (0.2),
    then a linear output. Kaiming-normal weights, zero biases."""

    def __init__(self, n_in: int, n_out: int, hidden: int = 128, layers: int = 3) -> None:
        mods: list[nn.Module] = []
        width = n_in
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        mods.append(nn.Linear(width, n_out))
        super().__init__(*mods)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, a=0.2)
                nn.init.zeros_(m.bias)


class VectorPairModel(nn.Module):
    """Base of the vector-observation models: hyperparameter checking against ``defaults``.

    Subclasses set ``name``, ``paper``, ``defaults`` and implement ``forward`` and ``encode``.
    """

    name: ClassVar[str]
    paper: ClassVar[str]
    defaults: ClassVar[dict[str, float]]

    def __init__(self, obs_dim: int, z_dim: int, **hyper: float) -> None:
        super().__init__()
        if obs_dim < 1 or z_dim < 1:
            raise SlowVAEError(f"obs_dim and z_dim must be positive, got {obs_dim}, {z_dim}")
        self.hyper = resolve_hyper(self.name, self.defaults, hyper)
        self.obs_dim, self.z_dim = int(obs_dim), int(z_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The representation (N, z_dim) of observations (N, obs_dim)."""
        raise NotImplementedError


def gaussian_slowvae_loss(
    x: torch.Tensor,
    x_mean: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    obs_std: float,
    beta: float,
    gamma: float,
    rate: float,
) -> dict[str, torch.Tensor]:
    """The SlowVAE loss for vector observations: the reference assembly with a Gaussian decoder.

    R is the Gaussian NLL -log N(x; x_mean, obs_std^2 I), summed over the observation and averaged
    over the 2B frames; then 2R + beta (CE_N - H) + gamma (CE_L - H) exactly as for images
    (:func:`slowvae.models.slowvae.slowvae_objective`).

    Args:
        x, x_mean: observations and decoder means (2, B, obs_dim).
        mu, logvar: Gaussian posteriors (2, B, D).
        obs_std: the decoder's fixed standard deviation.
    """
    if x.ndim != 3 or x.shape[0] != 2 or x_mean.shape != x.shape or mu.shape[:2] != x.shape[:2] or logvar.shape != mu.shape:
        raise ValueError(
            f"expected x, x_mean (2, B, obs_dim) and mu, logvar (2, B, D); got {tuple(x.shape)}, "
            f"{tuple(x_mean.shape)}, {tuple(mu.shape)}, {tuple(logvar.shape)}"
        )
    if not obs_std > 0:
        raise ValueError(f"obs_std must be positive, got {obs_std}")
    n_obs = x.shape[-1]
    sq = ((x - x_mean) / obs_std).pow(2).sum(-1).mean()
    recon = 0.5 * sq + n_obs * (math.log(obs_std) + 0.5 * _LOG_2PI)
    return slowvae_objective(recon, mu, logvar, beta=beta, gamma=gamma, rate=rate)


class MLPSlowVAE(VectorPairModel):
    """SlowVAE on vectors: MLP encoder -> (mu, logvar), MLP decoder -> Gaussian mean with fixed
    ``obs_std``; the loss is :func:`gaussian_slowvae_loss`. ``hidden`` and ``layers`` size both MLPs.

    Defaults: the reference's beta = 1, gamma = 10, rate = 6 (slowvae.md §2.4) and obs_std = 0.1.
    """

    name = "slowvae"
    paper = "Klindt et al., Towards Nonlinear Disentanglement in Natural Data with Temporal Sparse Coding, ICLR 2021"
    defaults: ClassVar[dict[str, float]] = {"beta": 1.0, "gamma": 10.0, "rate": 6.0, "obs_std": 0.1}

    def __init__(self, obs_dim: int, z_dim: int, *, hidden: int = 128, layers: int = 3, **hyper: float) -> None:
        super().__init__(obs_dim, z_dim, **hyper)
        self._build(hidden, layers)

    def _build(self, hidden: int, layers: int) -> None:
        self.encoder = MLP(self.obs_dim, 2 * self.z_dim, hidden, layers)
        self.decoder = MLP(self.z_dim, self.obs_dim, hidden, layers)
        # start the posterior std at obs_std (the scale it has when the decoder's Jacobian is ~1)
        # rather than 1: Adam would otherwise spend thousands of steps walking logvar down
        # (weights of the logvar head start at 0 so that every input starts there)
        with torch.no_grad():
            self.encoder[-1].weight[self.z_dim :].zero_()
            self.encoder[-1].bias[self.z_dim :].fill_(2 * math.log(self.hyper["obs_std"]))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar), each (N, z_dim), of observations (N, obs_dim)."""
        h = self.encoder(x)
        return h[:, : self.z_dim], h[:, self.z_dim :]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior means (N, z_dim) of observations (N, obs_dim)."""
        return self.posterior(x)[0]

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Loss terms for a pair batch ``x`` (2, B, obs_dim); reparametrisation noise from ``generator``."""
        if x.ndim != 3 or x.shape[0] != 2 or x.shape[2] != self.obs_dim:
            raise ValueError(f"expected a pair batch (2, B, {self.obs_dim}), got {tuple(x.shape)}")
        two, b = x.shape[:2]
        mu, logvar = self.posterior(x.reshape(two * b, -1))
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps  # reparametrisation (Kingma & Welling 2014, eq. 10)
        x_mean = self.decoder(z).reshape(x.shape)
        return gaussian_slowvae_loss(
            x, x_mean, mu.reshape(two, b, -1), logvar.reshape(two, b, -1), **self.hyper
        )


class MLPBetaVAE(MLPSlowVAE):
    """The control: the same network and loss with gamma = 0 (no transition prior), i.e. a
    beta-VAE on single frames (Higgins et al., ICLR 2017), as the reference's ``--betavae`` mode.
    beta defaults to 1 so that it differs from :class:`MLPSlowVAE` only by the Laplace term."""

    name = "betavae"
    paper = "Higgins et al., beta-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework, ICLR 2017"
    defaults: ClassVar[dict[str, float]] = {"beta": 1.0, "obs_std": 0.1}

    def __init__(self, obs_dim: int, z_dim: int, *, hidden: int = 128, layers: int = 3, **hyper: float) -> None:
        VectorPairModel.__init__(self, obs_dim, z_dim, **hyper)
        self.hyper = {**self.hyper, "gamma": 0.0, "rate": 1.0}
        self._build(hidden, layers)


#: name -> class of the models the identifiability experiment can train
VECTOR_MODELS: dict[str, type[VectorPairModel]] = {m.name: m for m in (MLPSlowVAE, MLPBetaVAE)}


def build_vector_model(name: str, *, obs_dim: int, z_dim: int, **options: Any) -> VectorPairModel:
    """The vector model registered as ``name`` (``slowvae``, ``betavae``, ...)."""
    try:
        cls = VECTOR_MODELS[name]
    except KeyError:
        raise SlowVAEError(f"unknown model {name!r}; known: {', '.join(sorted(VECTOR_MODELS))}") from None
    return cls(obs_dim=obs_dim, z_dim=z_dim, **options)
