"""Small synthetic inputs for the metric tests."""

from __future__ import annotations

import numpy as np


def make_factors(n: int, sizes, seed: int = 0) -> np.ndarray:
    """Uniform factor indices (n, K)."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, s, n) for s in sizes], axis=1)


def standardise(factors: np.ndarray, sizes) -> np.ndarray:
    sizes = np.asarray(sizes, dtype=float)
    return (factors - (sizes - 1) / 2) / np.sqrt((sizes**2 - 1) / 12)


class FactorImages:
    """Stand-in dataset (as the parity README's): images are the factor indices as float (N, K)."""

    def __init__(self, factor_sizes=(3, 6, 40, 32, 32)):
        self.factor_sizes = tuple(factor_sizes)
        self.calls = 0

    def images(self, factors):
        self.calls += 1
        return np.asarray(factors, dtype=np.float64)


def representation(kind: str, seed: int, sizes=(3, 6, 40, 32, 32)):
    """The parity README's representation functions: obs (n, 5) -> codes (n, 10), own noise stream."""
    sizes = np.asarray(sizes, dtype=float)
    noise = np.random.default_rng(10000 + seed)

    def encode(obs):
        n = len(obs)
        ft = (obs - (sizes - 1) / 2) / np.sqrt((sizes**2 - 1) / 12)
        if kind == "identity_noise":
            return np.concatenate([ft + 0.1 * noise.standard_normal((n, 5)), noise.standard_normal((n, 5))], axis=1)
        if kind == "constant_dim":
            g = ft + 0.1 * noise.standard_normal((n, 5))
            return np.concatenate([g[:, :1], np.zeros((n, 1)), g[:, 1:], noise.standard_normal((n, 4))], axis=1)
        return noise.standard_normal((n, 10))

    return encode
