"""Permutation-contrastive learning (Hyvarinen & Morioka, AISTATS 2017): logistic regression
that tells true time pairs (x_t, x_t') from pairs whose second frame comes from another pair,
through a regression function built on the encoder's outputs h.

The regression function is r(x, x') = sum_i psi_i(h_i(x), h_i(x')) + c with
psi_i(a, b) = -|u_i a + v_i b| + q_i (a^2 + b^2) (Hyvarinen & Morioka 2017, eq. 7 with a learned
Laplace-type score): at u = -v it is the log-density ratio of a Laplace transition
-lambda |b - a| against Gaussian marginals. u, v, q and c are learned; u = 1, v = -1, q = c = 0
at the start.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from slowvae.models.base import ContrastivePairModel


def shuffled_partners(
    b: int, generator: torch.Generator | None = None, device: torch.device | None = None
) -> torch.Tensor:
    """Indices (B,) pairing frame i with the second frame of pair (i + k) mod B for one random
    k in 1..B-1: a time-shuffled partner that is never the true one (needs B >= 2)."""
    if b < 2:
        raise ValueError("PCL needs at least two pairs per batch")
    k = int(torch.randint(1, b, (1,), generator=generator))
    return (torch.arange(b, device=device) + k) % b


def pcl_logits(
    h1: torch.Tensor, h2: torch.Tensor, u: torch.Tensor, v: torch.Tensor, q: torch.Tensor, c: torch.Tensor
) -> torch.Tensor:
    """r = sum_i -|u_i a_i + v_i b_i| + q_i (a_i^2 + b_i^2) + c for codes a = ``h1``, b = ``h2`` (N, D) -> (N,)
    (Hyvarinen & Morioka 2017, eq. 7)."""
    return (-(u * h1 + v * h2).abs() + q * (h1.pow(2) + h2.pow(2))).sum(-1) + c


def pcl_loss(logits_true: torch.Tensor, logits_shuffled: torch.Tensor) -> torch.Tensor:
    """Logistic-regression loss, true pairs class 1 and shuffled pairs class 0, each half of the
    data (Hyvarinen & Morioka 2017, eq. 6)."""
    return 0.5 * (F.softplus(-logits_true).mean() + F.softplus(logits_shuffled).mean())


class PCLRegression:
    """The learned part of PCL's regression function (u, v, q, c; see the module docstring) and its
    loss from the codes of a pair batch; shared by the image model and the vector model
    (:class:`slowvae.models.mlp.MLPPCL`). Mix into an ``nn.Module`` and call
    :meth:`init_regression` once the encoder exists."""

    def init_regression(self, z_dim: int) -> None:
        """u = 1, v = -1, q = 0 per latent and c = 0: the Laplace log-density ratio at the start."""
        self.u = nn.Parameter(torch.ones(z_dim))
        self.v = nn.Parameter(-torch.ones(z_dim))
        self.q = nn.Parameter(torch.zeros(z_dim))
        self.c = nn.Parameter(torch.zeros(()))

    def code_loss(self, codes: torch.Tensor, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """``loss`` and ``accuracy`` of telling true pairs from time-shuffled ones, from codes (2, B, D)."""
        h1, h2 = codes[0], codes[1]
        partner = shuffled_partners(h1.shape[0], generator, h1.device)
        logits_true = pcl_logits(h1, h2, self.u, self.v, self.q, self.c)
        logits_shuffled = pcl_logits(h1, h2[partner], self.u, self.v, self.q, self.c)
        accuracy = 0.5 * ((logits_true > 0).float().mean() + (logits_shuffled < 0).float().mean())
        return {"loss": pcl_loss(logits_true, logits_shuffled), "accuracy": accuracy.detach()}


class PCL(PCLRegression, ContrastivePairModel):
    """PCL with the conv encoder's deterministic head as h; representation h(x)."""

    name = "pcl"
    paper = "Hyvarinen & Morioka, Nonlinear ICA of Temporally Dependent Stationary Sources, AISTATS 2017"
    defaults: dict[str, float] = {}
    sweeps: dict[str, tuple[float, ...] | str] = {}

    def build_networks(self) -> None:
        super().build_networks()
        self.init_regression(self.z_dim)
