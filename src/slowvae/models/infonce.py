"""InfoNCE with a Laplace (L1) similarity (Zimmermann et al., ICML 2021), as cl-ica's KITTI Masks
code trains it: the positive of a first frame is its own second frame, the candidates are the
positive and the first frames of all B pairs of the batch (the anchor itself included, a constant
e^0 term; ``self_negative = 0`` leaves it out), similarity -||f(x) - f(x')||_1 / tau.
"""

from __future__ import annotations

import torch
from torch import nn

from slowvae.errors import SlowVAEError
from slowvae.models.base import ContrastivePairModel


def infonce_l1(
    anchor: torch.Tensor, positive: torch.Tensor, tau: float = 1.0, self_negative: bool = True
) -> torch.Tensor:
    """Mean over anchors (B, D) of -log( e^{-d(a_i, p_i)/tau} / (e^{-d(a_i, p_i)/tau} + sum_k e^{-d(a_i, a_k)/tau}) ),
    d the L1 distance, k over all anchors (k = i too when ``self_negative``) (Zimmermann et al.
    2021, eq. 2 with an L1 metric; cl-ica ``LpSimCLRLoss(p=1, simclr_compatibility_mode=True)``)."""
    pos = (anchor - positive).abs().sum(-1)  # (B,)
    neg = (anchor[:, None, :] - anchor[None, :, :]).abs().sum(-1)  # (B, B)
    if not self_negative:
        neg = neg.masked_fill(torch.eye(len(anchor), dtype=torch.bool, device=anchor.device), float("inf"))
    logits = torch.cat([-neg, -pos[:, None]], dim=1) / tau
    return (pos / tau + torch.logsumexp(logits, dim=1)).mean()


def infonce_terms(codes: torch.Tensor, hyper: dict[str, float]) -> dict[str, torch.Tensor]:
    """The InfoNCE-L1 loss of codes (2, B, D) (first frames anchors, second frames positives) and
    the mean L1 distance of the positive pairs (logged), with hyperparameters ``tau`` and
    ``self_negative``."""
    loss = infonce_l1(codes[0], codes[1], hyper["tau"], bool(hyper["self_negative"]))
    return {"loss": loss, "l1_positive": (codes[0] - codes[1]).abs().sum(-1).mean().detach()}


def check_infonce_hyper(hyper: dict[str, float]) -> None:
    """Raise :class:`SlowVAEError` unless ``tau`` > 0 and the switches present (``self_negative``,
    ``box_norm``) are 0 or 1."""
    if not hyper["tau"] > 0:
        raise SlowVAEError(f"tau must be positive, got {hyper['tau']}")
    for key in ("self_negative", "box_norm"):
        if key in hyper and hyper[key] not in (0.0, 1.0):
            raise SlowVAEError(f"{key} must be 0 or 1, got {hyper[key]}")


class InfoNCE(ContrastivePairModel):
    """InfoNCE-L1 on the conv encoder's deterministic head; representation f(x)."""

    name = "infonce"
    paper = "Zimmermann et al., Contrastive Learning Inverts the Data Generating Process, ICML 2021"
    defaults = {"tau": 1.0, "self_negative": 1.0, "box_norm": 0.0}
    sweeps = {"tau": "fixed 1", "self_negative": "1 (cl-ica as coded)", "box_norm": "0 (cl-ica KITTI default)"}
    hyper_help = {
        "tau": "temperature of the similarity -||f(x) - f(x')||_1 / tau",
        "self_negative": "1: the anchor is among its own negatives, as cl-ica codes it; 0: left out",
        "box_norm": "1: outputs sigmoid(h) * b with a learned bound b per latent (cl-ica's --box-norm); 0: none",
    }

    @classmethod
    def check_hyper(cls, hyper: dict[str, float]) -> None:
        check_infonce_hyper(hyper)

    def build_networks(self) -> None:
        super().build_networks()
        if self.hyper["box_norm"]:
            self.box_bound = nn.Parameter(torch.ones(self.z_dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes (N, z_dim) of images (N, C, 64, 64) in [0, 1], in the box when ``box_norm``."""
        h = self.encoder(x)
        return torch.sigmoid(h) * self.box_bound if self.hyper["box_norm"] else h

    def code_loss(self, codes: torch.Tensor, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        return infonce_terms(codes, self.hyper)
