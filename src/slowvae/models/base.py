"""The model interface: every model maps a batch of pairs to a dict of scalar losses.

A batch is a float tensor (2, B, C, H, W) with the frame axis first (x_t, x_t'), values in
[0, 1]. ``forward(x, generator)`` returns a dict of scalar tensors whose ``"loss"`` is
minimised; ``encode(x)`` gives the representation used for evaluation (posterior means, or the
deterministic output of a contrastive encoder).

Two optional hooks carry training state, and the loop in :mod:`slowvae.train` honours both:

- ``step``: the loop sets ``model.step`` to the number of optimizer steps already taken before
  each ``forward`` (AnnealedVAE's capacity schedule reads it). It is derived from the
  checkpointed step, so it needs no state of its own.
- ``auxiliary_optimizer()`` / ``auxiliary_loss(batch, generator, auxiliary_input)``: a model
  with a second network trained by its own objective (FactorVAE's discriminator) returns that
  network's optimizer. Its parameters are left out of the main optimizer. Its ``forward`` returns,
  under the key ``"auxiliary_input"`` (:data:`AUXILIARY_INPUT`), the tensor the auxiliary step
  needs from the main step (FactorVAE: the detached samples z); the loop takes it out of the
  logged terms, and after each main step draws a fresh, independent pair batch and minimises
  ``auxiliary_loss(batch, generator, auxiliary_input)["loss"]`` with that optimizer. The
  optimizer's state is checkpointed beside the main one. Nothing passes between the two calls
  except through these arguments.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from slowvae.errors import SlowVAEError
from slowvae.models import losses
from slowvae.models.networks import Decoder, DeterministicEncoder, Encoder

#: the key under which ``forward`` hands the auxiliary step its input (see the module docstring)
AUXILIARY_INPUT = "auxiliary_input"


def resolve_hyper(model: str, defaults: dict[str, float], hyper: dict[str, float]) -> dict[str, float]:
    """``defaults`` updated with ``hyper`` as floats; an unknown name is a :class:`SlowVAEError`."""
    unknown = set(hyper) - set(defaults)
    if unknown:
        raise SlowVAEError(
            f"model {model!r} has no hyperparameter {', '.join(sorted(unknown))}; "
            f"it takes {', '.join(sorted(defaults)) or 'none'}"
        )
    return {**defaults, **{k: float(v) for k, v in hyper.items()}}


class PairModel(nn.Module):
    """Base for the VAE family: the reference encoder/decoder plus the pair loss of a subclass.

    Subclasses set ``name``, ``paper`` and ``defaults`` (hyperparameter -> default value) and
    implement :meth:`pair_loss` (or override ``forward``). Optional: ``sweeps`` (hyperparameter
    -> the published sweep, a tuple of values or a text such as ``"U(1, 16)"``), ``hyper_help``
    (hyperparameter -> one line), :meth:`check_hyper` for value checks, and the training hooks
    described in the module docstring.
    """

    name: ClassVar[str]
    paper: ClassVar[str]
    defaults: ClassVar[dict[str, float]]
    sweeps: ClassVar[dict[str, tuple[float, ...] | str]] = {}
    hyper_help: ClassVar[dict[str, str]] = {}
    #: optimizer steps already taken; set by the training loop before each forward
    step: int = 0

    def __init__(self, channels: int = 1, z_dim: int = 10, **hyper: float) -> None:
        super().__init__()
        self.hyper = resolve_hyper(self.name, self.defaults, hyper)
        self.check_hyper(self.hyper)
        self.channels, self.z_dim = channels, z_dim
        self.build_networks()

    @classmethod
    def check_hyper(cls, hyper: dict[str, float]) -> None:
        """Raise :class:`SlowVAEError` for hyperparameter values the model cannot use (default: none)."""

    def build_networks(self) -> None:
        """Create the networks: the reference Gaussian encoder and Bernoulli decoder by default."""
        self.encoder = Encoder(self.channels, self.z_dim)
        self.decoder = Decoder(self.channels, self.z_dim)

    def auxiliary_optimizer(self) -> torch.optim.Optimizer | None:
        """The optimizer of an auxiliary network trained by :meth:`auxiliary_loss`, or None."""
        return None

    def auxiliary_loss(
        self, batch: torch.Tensor, generator: torch.Generator | None, auxiliary_input: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Scalars whose ``"loss"`` the auxiliary optimizer minimises, on a fresh batch (2, B, C, H, W)
        and the ``auxiliary_input`` the main step's forward returned."""
        raise NotImplementedError(f"model {self.name!r} has no auxiliary network")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior means (N, z_dim) of images (N, C, 64, 64) in [0, 1]."""
        return self.encoder(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli means (N, C, 64, 64) in [0, 1] of codes ``z`` (N, z_dim)."""
        return torch.sigmoid(self.decoder(z))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Bernoulli means (N, C, 64, 64) decoded from the posterior means of ``x``."""
        return self.decode(self.encode(x))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Loss terms for a pair batch ``x`` (2, B, C, H, W); reparametrisation noise from ``generator``."""
        two, b = x.shape[:2]
        mu, logvar = self.encoder(losses.flatten_pairs(x))
        logits = self.decoder(losses.reparametrize(mu, logvar, generator))
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


class ContrastivePairModel(PairModel):
    """Base of the contrastive models: the reference conv encoder with a deterministic head
    (:class:`DeterministicEncoder`) and no decoder. ``encode`` is the encoder's output."""

    def build_networks(self) -> None:
        self.encoder = DeterministicEncoder(self.channels, self.z_dim)
        self.decoder = None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes (N, z_dim) of images (N, C, 64, 64) in [0, 1]."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise SlowVAEError(f"model {self.name!r} has no decoder, so it cannot decode codes")

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        raise SlowVAEError(f"model {self.name!r} has no decoder, so it cannot reconstruct images")

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Loss terms for a pair batch ``x`` (2, B, C, H, W) from the codes of both frames."""
        two, b = x.shape[:2]
        codes = self.encode(losses.flatten_pairs(x)).reshape(two, b, -1)
        return self.code_loss(codes, generator)

    def code_loss(self, codes: torch.Tensor, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """Loss dict from the codes (2, B, D) of the two frames."""
        raise NotImplementedError
