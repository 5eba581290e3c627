"""PairSource: the temporal pairs that training and evaluation consume.

A ground-truth dataset plus a transition rule is one PairSource (:class:`GroundTruthPairs`);
data without a factor grid (KITTI Masks, continuous Natural Sprites) implement the protocol
directly.
"""

from __future__ import annotations

import hashlib
from typing import Protocol, runtime_checkable

import numpy as np

from slowvae.data.base import GroundTruthData
from slowvae.data.transitions import Transitions


@runtime_checkable
class PairSource(Protocol):
    """Temporal pairs of frames with their ground-truth latents.

    ``channels`` is the number of image channels; ``binary`` says whether pixels are 0/1
    (otherwise 0..255); ``latent_names`` names the columns of the latents it returns.
    """

    channels: int
    binary: bool
    latent_names: tuple[str, ...]

    def sample_pairs(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """n pairs: x_t, x_t' uint8 (n, C, 64, 64) and latents_t, latents_t' (n, L)."""

    def sample_eval(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n evaluation frames: images uint8 (n, C, 64, 64) and latents (n, L)."""


class DistinctPairs(tuple):
    """``(first, second)``: two arrays (m, ...) of the same m distinct pairs, with ``total``, the number
    of distinct pairs the source has (None where it has too many to count)."""

    total: int | None

    def __new__(cls, first: np.ndarray, second: np.ndarray, total: int | None) -> DistinctPairs:
        pairs = super().__new__(cls, (first, second))
        pairs.total = total
        return pairs


def sample_distinct_pairs(source: PairSource, n: int, rng: np.random.Generator) -> DistinctPairs:
    """x_t, x_t' uint8 (m, C, 64, 64) of m <= n distinct pairs. A source that counts its pairs
    (``pair_count`` and ``sample_distinct_pairs``: ``frames:``) gives min(n, pair_count) of them, drawn
    without replacement; from any other, ``n`` pairs are drawn and repeats dropped (``total`` None)."""
    if hasattr(source, "pair_count") and hasattr(source, "sample_distinct_pairs"):
        x_t, x_next, _, _ = source.sample_distinct_pairs(n, rng)
        return DistinctPairs(x_t, x_next, int(source.pair_count))
    x_t, x_next, _, _ = source.sample_pairs(n, rng)
    keys = [hashlib.blake2b(a.tobytes() + b.tobytes(), digest_size=16).digest() for a, b in zip(x_t, x_next)]
    first = np.sort(np.unique(np.array(keys, dtype=object), return_index=True)[1])
    return DistinctPairs(x_t[first], x_next[first], None)


class GroundTruthPairs:
    """A :class:`GroundTruthData` with a transition rule: first frames uniform on the grid,
    second frames from ``transitions.sample``. Latents are factor indices (int64)."""

    def __init__(self, dataset: GroundTruthData, transitions: Transitions) -> None:
        self.dataset = dataset
        self.transitions = transitions
        self.channels = dataset.channels
        self.binary = dataset.binary
        self.latent_names = tuple(dataset.factor_names)
        self.categorical = tuple(dataset.categorical)
        self.factor_sizes = tuple(dataset.factor_sizes)

    def sample_pairs(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        f0 = self.dataset.sample_factors(n, rng)
        f1 = self.transitions.sample(self.dataset, f0, rng)
        both = self.dataset.images(np.concatenate([f0, f1]))
        return both[:n], both[n:], f0, f1

    def sample_eval(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        factors = self.dataset.sample_factors(n, rng)
        return self.dataset.images(factors), factors
