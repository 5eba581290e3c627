"""The ground-truth dataset interface: a factor grid and images rendered or read per factor vector."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from slowvae.errors import SlowVAEError


class FactorSpace(Protocol):
    """Anything with a factor grid: what transition rules need (a dataset is one)."""

    factor_sizes: tuple[int, ...]
    categorical: tuple[bool, ...]


class GroundTruthData(ABC):
    """A dataset whose images are indexed by a cartesian grid of discrete factors.

    Subclasses set ``name``, ``factor_names``, ``factor_sizes``, ``categorical`` and ``channels``
    and implement :meth:`images`; ``binary`` datasets hold 0/1 pixels, others 0..255. Factor
    vectors are int arrays (N, K) of indices into the grid, in the dataset's row-major order
    (the last factor fastest).
    """

    name: str
    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    categorical: tuple[bool, ...]
    channels: int
    binary: bool = False

    @abstractmethod
    def images(self, factors: np.ndarray) -> np.ndarray:
        """Images for factor indices (N, K) int: uint8 (N, C, 64, 64)."""

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def __len__(self) -> int:
        return int(np.prod(self.factor_sizes))

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Uniform factor indices (n, K) int64 drawn from ``rng``."""
        sizes = np.asarray(self.factor_sizes)
        return (rng.random((n, len(sizes))) * sizes).astype(np.int64)

    def factors_to_index(self, factors: np.ndarray) -> np.ndarray:
        """Flat row-major indices (N,) of factor vectors (N, K)."""
        factors = check_grid_factors(factors, self.factor_sizes)
        return np.ravel_multi_index(tuple(factors.T), self.factor_sizes)

    def index_to_factors(self, index: np.ndarray) -> np.ndarray:
        """Factor vectors (N, K) int64 of flat row-major indices (N,)."""
        return np.stack(np.unravel_index(np.asarray(index), self.factor_sizes), axis=1).astype(np.int64)


def check_grid_factors(factors: np.ndarray, factor_sizes: Sequence[int]) -> np.ndarray:
    """Validate factor indices (N, K) against the grid; returns them as int64.

    Raises :class:`SlowVAEError` with a message naming the problem (wrong rank, wrong K, non-integer
    values, an index outside its factor's range).
    """
    arr = np.asarray(factors)
    k = len(factor_sizes)
    if arr.ndim != 2 or arr.shape[1] != k:
        raise SlowVAEError(f"factors must have shape (N, {k}), got {arr.shape}")
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise SlowVAEError(f"factors must be integer indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    sizes = np.asarray(factor_sizes)
    bad = (arr < 0) | (arr >= sizes)
    if bad.any():
        col = int(np.nonzero(bad.any(axis=0))[0][0])
        raise SlowVAEError(
            f"factor {col} has indices outside [0, {sizes[col] - 1}]: min {arr[:, col].min()}, max {arr[:, col].max()}"
        )
    return arr
