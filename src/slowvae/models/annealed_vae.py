"""AnnealedVAE (Burgess et al. 2018): the KL is pulled towards a capacity C that grows linearly
with the training step, as disentanglement_lib's unsupervised study runs it."""

from __future__ import annotations

import torch

from slowvae.errors import SlowVAEError
from slowvae.models.beta_vae import IIDVAE


def capacity(step: int, c_max: float, iteration_threshold: float) -> float:
    """C = min(C_max, C_max * step / iteration_threshold) nats after ``step`` optimizer steps
    (Burgess et al. 2018, sec. 5: C increased linearly from 0)."""
    return min(c_max, c_max * step / iteration_threshold)


class AnnealedVAE(IIDVAE):
    """R + gamma |KL - C(step)| (Burgess et al. 2018, eq. 8), C from :func:`capacity`.

    The capacity reads ``self.step``, which the training loop sets before each forward.
    """

    name = "annealed-vae"
    paper = "Burgess et al., Understanding disentangling in beta-VAE, NeurIPS 2017 workshop (arXiv:1804.03599, 2018)"
    defaults = {"c_max": 25.0, "gamma": 1000.0, "iteration_threshold": 100_000.0}
    sweeps = {
        "c_max": (5.0, 10.0, 25.0, 50.0, 75.0, 100.0),
        "gamma": "fixed 1000",
        "iteration_threshold": "fixed 100000",
    }
    hyper_help = {
        "c_max": "final KL capacity C_max in nats",
        "gamma": "weight of |KL - C|",
        "iteration_threshold": "steps over which C grows linearly from 0 to C_max",
    }

    @classmethod
    def check_hyper(cls, hyper: dict[str, float]) -> None:
        if not hyper["iteration_threshold"] > 0:
            raise SlowVAEError(f"iteration_threshold must be positive, got {hyper['iteration_threshold']}")

    def regularizer(
        self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor, kl: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        c = capacity(self.step, self.hyper["c_max"], self.hyper["iteration_threshold"])
        return {"regularizer": self.hyper["gamma"] * (kl - c).abs(), "capacity": kl.new_tensor(c)}
