"""Transition rules between time steps on a factor grid (placeholder interface; see issue 2)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from slowvae.data.base import FactorSpace


class Transitions(Protocol):
    """A rule drawing the next frame's factor indices from the current ones."""

    def sample(self, space: FactorSpace, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Next factor indices (N, K) int64 for current ones (N, K), drawn from ``rng``."""
