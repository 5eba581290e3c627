"""Helpers for the model tests: fixed posteriors and logits in place of the networks, and numpy
reference pieces written independently of slowvae.models.losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One intra-op thread: on a small, busy machine a second thread makes these tiny steps many times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class _FixedEncoder(nn.Module):
    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor) -> None:
        super().__init__()
        self.mu, self.logvar = mu, logvar
        self.anchor = nn.Parameter(torch.zeros(()))  # a parameter, so gradients have somewhere to go

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert x.shape[0] == self.mu.shape[0]
        return self.mu + self.anchor, self.logvar + self.anchor


class _FixedDecoder(nn.Module):
    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.logits + 0 * z.sum()


@pytest.fixture
def stub():
    """stub(model, mu (N, D), logvar (N, D), logits (N, C, H, W)): the model's encoder returns the
    given posteriors and its decoder the given logits, whatever their input."""

    def apply(model, mu, logvar, logits):
        model.encoder = _FixedEncoder(torch.as_tensor(mu), torch.as_tensor(logvar))
        model.decoder = _FixedDecoder(torch.as_tensor(logits))
        return model

    return apply


@pytest.fixture
def fixed():
    """Fixed float64 tensors: x (2, B, 1, 6, 6) binary, logits like x, mu and logvar (2B, D)."""
    rng = np.random.default_rng(0)
    b, d = 4, 5
    x = (rng.random((2, b, 1, 6, 6)) > 0.5).astype(np.float64)
    logits = rng.normal(size=(2 * b, 1, 6, 6))
    mu = rng.normal(size=(2 * b, d))
    logvar = rng.normal(-1, 0.5, size=(2 * b, d))
    return x, logits, mu, logvar


def np_bce(x: np.ndarray, logits: np.ndarray) -> float:
    """Bernoulli NLL summed over pixels, averaged over images (the first axis)."""
    p = 1 / (1 + np.exp(-logits))
    return float(-(x * np.log(p) + (1 - x) * np.log(1 - p)).sum() / x.shape[0])


def np_kl(mu: np.ndarray, logvar: np.ndarray) -> float:
    """KL(N(mu, e^logvar) || N(0, 1)) summed over latents, averaged over rows."""
    return float((0.5 * (mu**2 + np.exp(logvar) - logvar - 1)).sum() / mu.shape[0])


def np_eps(shape, seed: int) -> np.ndarray:
    """The reparametrisation noise a model draws first from torch.Generator().manual_seed(seed)."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).numpy()


@pytest.fixture
def helpers():
    return type("Helpers", (), {"bce": staticmethod(np_bce), "kl": staticmethod(np_kl), "eps": staticmethod(np_eps)})
