"""The generalized-Laplace transition prior: one shape alpha and scale s per latent, fixed or learned.

p(dz) = alpha / (2 s Gamma(1/alpha)) exp(-(|dz| / s)^alpha) (the generalized normal of Subbotin,
1923; Klindt et al., ICLR 2021, eq. 1, with alpha = 1 the SlowVAE's Laplace and alpha = 2 a
Gaussian). Learned, alpha = 0.2 + 1.8 sigmoid(a) stays in (0.2, 2) and s = softplus(b). The
hyperparameters ``alpha``, ``scale`` (each a number or ``"learn"``) and ``share`` (``"latent"``: one
alpha and s per latent; ``"all"``: one for every latent) are those of the models ``slowvae-gl``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from slowvae.errors import SlowVAEError
from slowvae.models.special import gaussian_abs_moment

ALPHA_MIN, ALPHA_MAX = 0.2, 2.0
SHARES = ("latent", "all")
LEARN = "learn"
TIED = "tied"
#: the prior's hyperparameters and their defaults (learn alpha and s, one per latent)
GL_DEFAULTS: dict[str, float | str] = {
    "alpha": LEARN,
    "scale": LEARN,
    "share": "latent",
    "learn_from": 0.0,
    "entropies": 1.0,
}
GL_HELP = {
    "alpha": f"shape of the generalized-Laplace transition prior: '{LEARN}' (default; starts at 1) or a "
    f"number in [{ALPHA_MIN:g}, {ALPHA_MAX:g}] (1 = Laplace, 2 = Gaussian)",
    "scale": f"scale s of the transition prior: '{LEARN}' (default; starts at 1/rate), '{TIED}' (s follows alpha "
    "so that the prior's variance stays 2 / rate^2, that of the Laplace with the rate) or a positive number",
    "share": "'latent' (default): one alpha and scale per latent; 'all': one for every latent",
    "rate": "the transition rate lambda that sets the starting scale 1/lambda when scale is learned",
    "entropies": "posterior entropies subtracted from the two transition cross-entropies: 1 as the reference "
    "(default; with it a learned scale shrinks the codes when gamma > beta), 2 for a KL in each direction",
    "learn_from": "optimizer steps with the prior held at its start (alpha 1, scale 1/rate) before alpha and "
    "scale learn (default 0)",
}
#: floor on the posterior standard deviation inside the cross-entropy (as in the Laplace one)
_MIN_STD = 1e-12


def generalized_laplace_cross_entropy(
    m: torch.Tensor, std: torch.Tensor, alpha: torch.Tensor | float, scale: torch.Tensor | float
) -> torch.Tensor:
    """E_{z~N(m, std^2)}[-log GL(z; alpha, scale)], elementwise with broadcasting (any shape).

    log(2 s Gamma(1/alpha) / alpha) + E|z / s|^alpha, with the absolute moment in closed form
    (:func:`slowvae.models.special.gaussian_abs_moment`). At alpha = 1, s = 1/lambda it is the
    Laplace cross-entropy of the SlowVAE; at alpha = 2 the Gaussian one with variance s^2 / 2.
    Differentiable in m, std, alpha and scale.
    """
    alpha = torch.as_tensor(alpha, dtype=m.dtype, device=m.device)
    scale = torch.as_tensor(scale, dtype=m.dtype, device=m.device)
    std = std.clamp_min(_MIN_STD)
    log_norm = math.log(2.0) + torch.log(scale) + torch.lgamma(1 / alpha) - torch.log(alpha)
    return log_norm + gaussian_abs_moment(m / scale, std / scale, alpha)


def check_gl_hyper(hyper: dict[str, Any]) -> None:
    """Raise :class:`SlowVAEError` unless ``alpha``, ``scale``, ``share`` (and ``rate``) are usable."""
    alpha, scale, share = hyper["alpha"], hyper["scale"], hyper["share"]
    if alpha != LEARN and not (isinstance(alpha, float) and ALPHA_MIN <= alpha <= ALPHA_MAX):
        raise SlowVAEError(f"alpha must be '{LEARN}' or a number in [{ALPHA_MIN:g}, {ALPHA_MAX:g}], got {alpha!r}")
    if scale not in (LEARN, TIED) and not (isinstance(scale, float) and 0 < scale < math.inf):
        raise SlowVAEError(f"scale must be '{LEARN}', '{TIED}' or a positive number, got {scale!r}")
    if share not in SHARES:
        raise SlowVAEError(f"share must be one of {', '.join(SHARES)}, got {share!r}")
    if not (isinstance(hyper["rate"], float) and 0 < hyper["rate"] < math.inf):
        raise SlowVAEError(f"rate must be a positive number, got {hyper['rate']!r}")
    if hyper["entropies"] not in (1.0, 2.0):
        raise SlowVAEError(f"entropies must be 1 or 2, got {hyper['entropies']!r}")
    if not (isinstance(hyper["learn_from"], float) and 0 <= hyper["learn_from"] < math.inf):
        raise SlowVAEError(f"learn_from must be a number of steps (0 or more), got {hyper['learn_from']!r}")


class GeneralizedLaplacePrior(nn.Module):
    """The transition prior of ``z_dim`` latents with fixed or learned alpha and scale.

    Built from a model's resolved hyperparameters (``alpha``, ``scale``, ``share``, ``rate``; see
    :data:`GL_HELP`). A learned alpha starts at 1 and a learned scale at 1/rate, so training starts
    from the SlowVAE's fixed Laplace prior; the models hold them there for ``learn_from`` steps
    (:meth:`transition`).
    """

    def __init__(self, z_dim: int, hyper: dict[str, Any]) -> None:
        super().__init__()
        check_gl_hyper(hyper)
        self.z_dim = z_dim
        n = z_dim if hyper["share"] == "latent" else 1
        if hyper["alpha"] == LEARN:
            # 0.2 + 1.8 sigmoid(a) = 1 at a = log(0.8 / 1.0)
            start = math.log((1 - ALPHA_MIN) / (ALPHA_MAX - 1))
            self.alpha_logit = nn.Parameter(torch.full((n,), start))
        else:
            self.register_buffer("fixed_alpha", torch.full((n,), hyper["alpha"]), persistent=False)
        if hyper["scale"] == LEARN:
            # softplus(b) = 1 / rate at b = log(expm1(1 / rate))
            self.scale_raw = nn.Parameter(torch.full((n,), math.log(math.expm1(1 / hyper["rate"]))))
        elif hyper["scale"] == TIED:
            self.register_buffer("tied_variance", torch.full((n,), 2 / hyper["rate"] ** 2), persistent=False)
        else:
            self.register_buffer("fixed_scale", torch.full((n,), hyper["scale"]), persistent=False)

    def alpha(self, learning: bool = True) -> torch.Tensor:
        """The shape of each latent's prior, (z_dim,); without ``learning`` no gradient reaches it."""
        if hasattr(self, "alpha_logit"):
            logit = self.alpha_logit if learning else self.alpha_logit.detach()
            a = ALPHA_MIN + (ALPHA_MAX - ALPHA_MIN) * torch.sigmoid(logit)
        else:
            a = self.fixed_alpha
        return a.expand(self.z_dim)

    def scale(self, learning: bool = True) -> torch.Tensor:
        """The scale of each latent's prior, (z_dim,); without ``learning`` no gradient reaches it
        (a ``tied`` scale is a function of alpha and takes its gradient through alpha)."""
        if hasattr(self, "scale_raw"):
            s = F.softplus(self.scale_raw if learning else self.scale_raw.detach())
        elif hasattr(self, "tied_variance"):
            # variance s^2 Gamma(3/alpha) / Gamma(1/alpha) held at tied_variance (s = 1/rate at alpha = 1)
            a = self.alpha(learning)[: self.tied_variance.numel()]
            s = torch.exp(0.5 * (torch.log(self.tied_variance) + torch.lgamma(1 / a) - torch.lgamma(3 / a)))
        else:
            s = self.fixed_scale
        return s.expand(self.z_dim)

    def cross_entropy(self, m: torch.Tensor, std: torch.Tensor, learning: bool = True) -> torch.Tensor:
        """E_{z~N(m, std^2)}[-log p(z)] per latent for m, std (..., z_dim); ``learning`` False holds
        alpha and scale (their gradients stay None, so Adam leaves them alone)."""
        alpha, scale = self.alpha(learning).to(m.dtype), self.scale(learning).to(m.dtype)
        return generalized_laplace_cross_entropy(m, std, alpha, scale)

    def transition(self, step: int, learn_from: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """:meth:`cross_entropy` at optimizer step ``step``: learning once ``step >= learn_from``."""
        learning = step >= learn_from

        def cross_entropy(m: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
            return self.cross_entropy(m, std, learning)

        return cross_entropy

    def scalars(self) -> dict[str, torch.Tensor]:
        """``learned_alpha_j`` and ``learned_scale_j`` per latent j, detached (for the training log)."""
        alpha, scale = self.alpha().detach(), self.scale().detach()
        out = {f"learned_alpha_{j}": alpha[j] for j in range(self.z_dim)}
        out.update({f"learned_scale_{j}": scale[j] for j in range(self.z_dim)})
        return out

    def learned_values(self) -> dict[str, list[float]]:
        """``learned_alpha`` and ``learned_scale``: one float per latent (fixed values included)."""
        return {"learned_alpha": self.alpha().detach().tolist(), "learned_scale": self.scale().detach().tolist()}
