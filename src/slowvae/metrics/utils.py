"""Shared machinery of the metric suite: input checks, histogram discretisation, plug-in MI.

Everything here takes plain numpy arrays: ``codes`` (N, D) float, one row per observation, and
``factors`` (N, K) integer factor indices. (disentanglement_lib stores them transposed, (D, N).)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from slowvae.errors import SlowVAEError


def check_codes(codes: Any, name: str = "codes") -> np.ndarray:
    """Validate a code matrix (N, D): 2-D, numeric, at least one row, all finite. Returns float64."""
    arr = np.asarray(codes)
    if arr.ndim != 2:
        raise SlowVAEError(f"{name} must be a 2-D array (N, D), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise SlowVAEError(f"{name} must have at least one row and one column, got shape {arr.shape}")
    if arr.dtype.kind not in "fiub":
        raise SlowVAEError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise SlowVAEError(f"{name} contains {bad} NaN or infinite values")
    return arr


def check_factors(factors: Any, n: int | None = None, name: str = "factors") -> np.ndarray:
    """Validate factor indices (N, K): 2-D, integer valued, N rows when ``n`` is given. Returns int64."""
    arr = np.asarray(factors)
    if arr.ndim != 2:
        raise SlowVAEError(f"{name} must be a 2-D array (N, K), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise SlowVAEError(f"{name} must have at least one row and one column, got shape {arr.shape}")
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise SlowVAEError(f"{name} must be integer factor indices, got dtype {arr.dtype} with non-integer values")
    if n is not None and arr.shape[0] != n:
        raise SlowVAEError(f"{name} has {arr.shape[0]} rows but the codes have {n}: N must match")
    return arr.astype(np.int64, copy=False)


def check_pair(codes: Any, factors: Any, prefix: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Validate codes (N, D) and factors (N, K) together (same N)."""
    c = check_codes(codes, f"{prefix}codes")
    f = check_factors(factors, c.shape[0], f"{prefix}factors")
    return c, f


def check_test_pair(
    codes: np.ndarray, factors: np.ndarray, test_codes: Any, test_factors: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Validate test codes (M, D) and test factors (M, K) against the train arrays' D and K."""
    tc, tf = check_pair(test_codes, test_factors, prefix="test_")
    if tc.shape[1] != codes.shape[1]:
        raise SlowVAEError(f"test_codes have D = {tc.shape[1]} but codes have D = {codes.shape[1]}")
    if tf.shape[1] != factors.shape[1]:
        raise SlowVAEError(f"test_factors have K = {tf.shape[1]} but factors have K = {factors.shape[1]}")
    return tc, tf


def histogram_discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Equal-width bins over each latent's observed [min, max]: ids 1..num_bins, shape (N, D) int64.

    Exactly disentanglement_lib's ``np.digitize(x, np.histogram(x, num_bins)[1][:-1])`` per latent
    (a constant latent lands in one bin).
    """
    if int(num_bins) < 1:
        raise SlowVAEError(f"num_bins must be >= 1, got {num_bins}")
    codes = np.asarray(codes, dtype=np.float64)
    out = np.empty(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram(codes[:, j], bins=int(num_bins))[1]
        out[:, j] = np.digitize(codes[:, j], edges[:-1])
    return out


def _labels(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense labels 0..m-1 of a 1-D integer array and the number m of distinct values."""
    uniq, inv = np.unique(x, return_inverse=True)
    return inv.reshape(-1), len(uniq)


def _mi_labels(la: np.ndarray, na: int, lb: np.ndarray, nb: int) -> float:
    n = la.shape[0]
    if na == 1 or nb == 1:
        return 0.0
    joint = np.bincount(la * nb + lb, minlength=na * nb).reshape(na, nb).astype(np.float64)
    pa = joint.sum(axis=1)
    pb = joint.sum(axis=0)
    nz = joint > 0
    nij = joint[nz]
    outer = np.outer(pa, pb)[nz]
    mi = np.sum(nij / n * (np.log(nij) - np.log(outer) + np.log(n)))
    return float(max(mi, 0.0))


def discrete_mutual_info(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """MI matrix (D, K) in nats: ``m[i, k] = I(code_i; factor_k)`` for discretised codes (N, D)."""
    cl = [_labels(discrete_codes[:, i]) for i in range(discrete_codes.shape[1])]
    fl = [_labels(factors[:, k]) for k in range(factors.shape[1])]
    m = np.zeros((len(cl), len(fl)))
    for i, (la, na) in enumerate(cl):
        for k, (lb, nb) in enumerate(fl):
            m[i, k] = _mi_labels(la, na, lb, nb)
    return m


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """Plug-in entropy (K,) in nats of each discrete column of ``factors`` (N, K): H = -sum p log p."""
    h = np.zeros(factors.shape[1])
    n = factors.shape[0]
    for k in range(factors.shape[1]):
        _, counts = np.unique(factors[:, k], return_counts=True)
        p = counts / n
        h[k] = float(-np.sum(p * np.log(p)))
    return h


def split_train_test(
    codes: np.ndarray, factors: np.ndarray, rng: np.random.Generator, max_test: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded random split of (N, D) codes and (N, K) factors into train and test parts.

    The test part has ``N // 3`` rows (at least 1, at most ``max_test``), the train part the rest.
    Returns ``(codes_train, factors_train, codes_test, factors_test)``.
    """
    n = codes.shape[0]
    if n < 2:
        raise SlowVAEError(f"need at least 2 rows to split off a test set, got {n}")
    n_test = max(1, n // 3) if max_test is None else min(max_test, max(1, n // 3))
    perm = rng.permutation(n)
    te, tr = perm[:n_test], perm[n_test:]
    return codes[tr], factors[tr], codes[te], factors[te]


def as_generator(rng: Any) -> np.random.Generator:
    """``rng`` as a numpy Generator: a Generator passes through, an int seeds one; None is an error."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        raise SlowVAEError("this metric needs a seeded numpy.random.Generator (rng=...)")
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(int(rng))
    raise SlowVAEError(f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}")


def seed_from(rng: np.random.Generator) -> int:
    """An int seed (0 .. 2**31-1) drawn from ``rng``, for estimators that take ``random_state``."""
    return int(rng.integers(0, 2**31 - 1))


def sample_factor_grid(factor_sizes: Any, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Uniform factor indices of shape ``shape + (K,)`` int64 for a grid with ``factor_sizes`` (K,)."""
    sizes = np.asarray(factor_sizes, dtype=np.int64)
    return rng.integers(0, sizes, size=tuple(shape) + (len(sizes),), dtype=np.int64)


def check_dataset(dataset: Any) -> tuple[int, ...]:
    """The factor sizes (K,) of anything with ``factor_sizes`` and ``images(factors)``."""
    if dataset is None:
        raise SlowVAEError("this metric samples images: it needs a dataset (only arrays were given)")
    if not hasattr(dataset, "factor_sizes") or not callable(getattr(dataset, "images", None)):
        raise SlowVAEError("dataset must have factor_sizes and images(factors) (as slowvae.data.get_dataset returns)")
    sizes = tuple(int(s) for s in dataset.factor_sizes)
    if not sizes or min(sizes) < 1:
        raise SlowVAEError(f"dataset.factor_sizes must be positive, got {sizes}")
    return sizes


def encode_factors(dataset: Any, encode: Any, factors: np.ndarray, expected_dim: int | None = None) -> np.ndarray:
    """Codes (M, D) float64 of the images of factor indices (M, K): ``encode(dataset.images(factors))``."""
    if not callable(encode):
        raise SlowVAEError("encode must be a callable images -> codes (N, D)")
    codes = np.asarray(encode(dataset.images(factors)))
    if codes.ndim != 2 or codes.shape[0] != factors.shape[0]:
        raise SlowVAEError(f"encode returned shape {codes.shape}; expected ({factors.shape[0]}, D)")
    if expected_dim is not None and codes.shape[1] != expected_dim:
        raise SlowVAEError(f"encode returned D = {codes.shape[1]}, earlier calls gave D = {expected_dim}")
    codes = codes.astype(np.float64, copy=False)
    if not np.all(np.isfinite(codes)):
        raise SlowVAEError("encode returned NaN or infinite codes")
    return codes
