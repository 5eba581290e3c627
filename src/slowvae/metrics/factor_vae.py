"""FactorVAE score (Kim & Mnih, ICML 2018, "Disentangling by Factorising", §4), as
disentanglement_lib computes it, with its latent bookkeeping fixed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from slowvae.errors import SlowVAEError
from slowvae.metrics.utils import as_generator, check_dataset, encode_factors, sample_factor_grid


def _global_variances(dataset: Any, encode: Callable, rng: np.random.Generator, n: int, chunk: int) -> np.ndarray:
    """Per-latent variance (D,), ddof 1, of the codes of ``n`` uniformly drawn images."""
    sizes = check_dataset(dataset)
    parts, dim = [], None
    for start in range(0, n, chunk):
        f = sample_factor_grid(sizes, (min(chunk, n - start),), rng)
        parts.append(encode_factors(dataset, encode, f, dim))
        dim = parts[-1].shape[1]
    return np.var(np.concatenate(parts), axis=0, ddof=1)


def factor_vae_votes(
    dataset: Any,
    encode: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    num_points: int,
    global_var: np.ndarray,
    active: np.ndarray,
    *,
    batch_size: int = 64,
    images_per_call: int = 8192,
) -> np.ndarray:
    """Vote matrix (K, D) int: ``votes[k, j]`` counts points with fixed factor k won by latent j.

    Per point: k ~ U{0..K-1}; ``batch_size`` factor vectors sharing factor k's value; the winner is
    argmin_j Var_b(z_j) / Var(z_j) over the active latents (Kim & Mnih 2018, §4). Columns are real
    latent indices (dlib indexes them by position among the active latents).
    """
    sizes = check_dataset(dataset)
    k = len(sizes)
    d = global_var.shape[0]
    active_idx = np.nonzero(active)[0]
    votes = np.zeros((k, d), dtype=np.int64)
    per_chunk = max(1, images_per_call // batch_size)
    for start in range(0, num_points, per_chunk):
        p = min(per_chunk, num_points - start)
        lab = rng.integers(0, k, size=p)
        f = sample_factor_grid(sizes, (p, batch_size), rng)
        rows = np.arange(p)
        f[rows, :, lab] = f[rows, :1, lab]
        codes = encode_factors(dataset, encode, f.reshape(-1, k), d).reshape(p, batch_size, d)
        local = np.var(codes[:, :, active_idx], axis=1, ddof=1)
        winner = active_idx[np.argmin(local / global_var[active_idx], axis=1)]
        np.add.at(votes, (lab, winner), 1)
    return votes


def factor_vae_score(
    dataset: Any,
    encode: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator | int,
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
    images_per_call: int = 8192,
) -> dict[str, Any]:
    """FactorVAE score of ``encode`` (images (n, C, H, W) -> codes (n, D)) on ``dataset``.

    Latents whose standard deviation over ``num_variance_estimate`` images is below
    ``prune_threshold``, and latents with zero variance whatever the threshold, are inactive
    (a constant latent would give 0/0). The majority-vote classifier c(j) = argmax_k votes[k, j] is
    fitted on ``num_train`` votes; accuracy = sum_j votes[c(j), j] / sum votes, on the training
    votes and on ``num_eval`` fresh ones. With no active latent every score is 0.

    Returns ``train_accuracy``, ``eval_accuracy``, ``num_active_dims`` (the real count; dlib reports
    D), ``votes_train`` (K, D) and ``votes_eval`` (K, D).
    """
    for name, value in (
        ("batch_size", batch_size),
        ("num_train", num_train),
        ("num_eval", num_eval),
        ("num_variance_estimate", num_variance_estimate),
    ):
        if int(value) < (2 if name in ("batch_size", "num_variance_estimate") else 1):
            raise SlowVAEError(f"{name} is too small: {value}")
    if prune_threshold < 0:
        raise SlowVAEError(f"prune_threshold must be >= 0, got {prune_threshold}")
    gen = as_generator(rng)
    sizes = check_dataset(dataset)
    global_var = _global_variances(dataset, encode, gen, num_variance_estimate, images_per_call)
    active = (np.sqrt(global_var) >= prune_threshold) & (global_var > 0)
    d = global_var.shape[0]
    if not active.any():
        zero = np.zeros((len(sizes), d), dtype=np.int64)
        return {
            "train_accuracy": 0.0,
            "eval_accuracy": 0.0,
            "num_active_dims": 0,
            "votes_train": zero,
            "votes_eval": zero.copy(),
        }
    kw = dict(batch_size=batch_size, images_per_call=images_per_call)
    votes_tr = factor_vae_votes(dataset, encode, gen, num_train, global_var, active, **kw)
    votes_ev = factor_vae_votes(dataset, encode, gen, num_eval, global_var, active, **kw)
    classifier = np.argmax(votes_tr, axis=0)  # c(j): the factor latent j votes for most
    cols = np.arange(d)
    return {
        "train_accuracy": float(votes_tr[classifier, cols].sum() / votes_tr.sum()),
        "eval_accuracy": float(votes_ev[classifier, cols].sum() / votes_ev.sum()),
        "num_active_dims": int(active.sum()),
        "votes_train": votes_tr,
        "votes_eval": votes_ev,
    }
