"""Unsupervised Disentanglement Ranking (Duan et al., ICLR 2020, "Unsupervised Model Selection for
Variational Disentangled Representation Learning", Sec. 3), as disentanglement_lib's
``compute_udr_sklearn`` computes it.

UDR compares models trained with the same hyperparameters but different seeds: a disentangled
model's latents should map one-to-one onto another disentangled model's latents. It needs the
posterior means of the same N inputs under every model and each model's mean per-latent KL.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from slowvae.errors import SlowVAEError
from slowvae.metrics.utils import check_codes

CORRELATIONS = ("lasso", "spearman")
#: latents with mean KL at or below this are multiplied by zero before the pairwise fits (dlib's constant)
_ZERO_KL = 0.01


def relative_strength(matrix: np.ndarray) -> float:
    """The relative-strength score of a non-negative similarity matrix R (D_i, D_j) (Duan et al.
    2020, Eq. 3): the mean over columns of max² / sum, the same over rows (0/0 counts as 0), averaged.
    A permutation matrix scores 1; a constant 3 x 3 matrix scores 1/3."""
    r = np.asarray(matrix, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        cols = np.nan_to_num(r.max(axis=0) ** 2 / r.sum(axis=0), nan=0.0)
        rows = np.nan_to_num(r.max(axis=1) ** 2 / r.sum(axis=1), nan=0.0)
    return float((np.nanmean(cols) + np.nanmean(rows)) / 2)


def _lasso_matrix(codes_i: np.ndarray, codes_j: np.ndarray, random_state: int | None) -> np.ndarray:
    from sklearn.linear_model import Lasso

    model = Lasso(alpha=0.1, random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings on all-zero columns
        model.fit(codes_i, codes_j)
    return np.abs(np.atleast_2d(model.coef_)).T  # coef_ is (D_j, D_i)


def _spearman_matrix(codes_i: np.ndarray, codes_j: np.ndarray) -> np.ndarray:
    """|Spearman rho| between every column of ``codes_i`` (N, D_i) and of ``codes_j`` (N, D_j), as a
    (D_i, D_j) matrix: the Pearson correlation of the column ranks, 0 wherever a column is constant
    (a zeroed latent), where scipy's 2-D ``spearmanr`` would return a single NaN."""
    ranks_i = _standardised_ranks(codes_i)
    ranks_j = _standardised_ranks(codes_j)
    return np.abs(ranks_i.T @ ranks_j) / codes_i.shape[0]


def _standardised_ranks(codes: np.ndarray) -> np.ndarray:
    """Column ranks of ``codes`` (N, D) (ties averaged), centred and divided by their population std;
    a constant column becomes all zeros."""
    ranks = stats.rankdata(codes, axis=0)
    ranks -= ranks.mean(axis=0)
    std = ranks.std(axis=0)
    constant = np.ptp(codes, axis=0) == 0
    std[constant] = 1.0
    ranks[:, constant] = 0.0  # a constant column correlates with nothing
    return ranks / std


def udr(
    codes: Sequence[np.ndarray],
    kls: Sequence[np.ndarray],
    *,
    correlation: str = "lasso",
    filter_low_kl: bool = True,
    kl_threshold: float = 0.01,
    rng: np.random.Generator | int | None = None,
) -> dict[str, Any]:
    """UDR of M models from their posterior means of the same N inputs.

    ``codes``: M arrays (N, D_m); ``kls``: M arrays (D_m,), each latent's mean KL to N(0, I).
    Following dlib's ``compute_udr_sklearn`` in float64: each model's codes are standardised
    (population std, as ``StandardScaler``), latents with KL <= 0.01 are multiplied by zero; for
    every ordered pair (i, j), i != j, the similarity R (D_i, D_j) is |coef|ᵀ of ``Lasso(alpha=0.1)``
    regressing j's codes on i's (``"lasso"``) or the absolute Spearman correlation (``"spearman"``);
    with ``filter_low_kl`` only the rows of i's and columns of j's latents with KL above
    ``kl_threshold`` are kept; S[i, j] is :func:`relative_strength` of R. ``rng`` seeds the Lasso's
    ``random_state`` (unused by its default cyclic solver).

    Returns ``model_scores`` (M,): model i's median of S[j, i] over j != i, and
    ``pairwise_scores`` (M, M) with zeros on the diagonal.
    """
    if correlation not in CORRELATIONS:
        raise SlowVAEError(f"correlation must be one of {', '.join(CORRELATIONS)}, got {correlation!r}")
    if len(codes) != len(kls):
        raise SlowVAEError(f"got {len(codes)} code arrays but {len(kls)} KL vectors")
    if len(codes) < 2:
        raise SlowVAEError("UDR compares models: give the codes of at least two")
    arrays = [check_codes(c, f"codes[{m}]") for m, c in enumerate(codes)]
    kl_vecs = [np.asarray(k, dtype=np.float64).reshape(-1) for k in kls]
    n = arrays[0].shape[0]
    for m, (c, k) in enumerate(zip(arrays, kl_vecs)):
        if c.shape[0] != n:
            raise SlowVAEError(f"codes[{m}] has {c.shape[0]} rows but codes[0] has {n}: encode the same inputs")
        if k.shape != (c.shape[1],):
            raise SlowVAEError(f"kls[{m}] must have one entry per latent ({c.shape[1]}), got shape {k.shape}")
    if n < 2:
        raise SlowVAEError("UDR needs at least two inputs")
    if isinstance(rng, np.random.Generator):
        random_state: int | None = int(rng.integers(0, 2**31 - 1))
    else:
        random_state = None if rng is None else int(rng)

    scaled, masks = [], []
    for c, k in zip(arrays, kl_vecs):
        std = c.std(axis=0)
        std[std == 0] = 1.0  # as StandardScaler: constant latents become zeros
        scaled.append((c - c.mean(axis=0)) / std * (k > _ZERO_KL))
        masks.append(k > kl_threshold)

    m_models = len(arrays)
    pairwise = np.zeros((m_models, m_models))
    for i in range(m_models):
        for j in range(m_models):
            if i == j:
                continue
            if correlation == "lasso":
                r = _lasso_matrix(scaled[i], scaled[j], random_state)
            else:
                r = _spearman_matrix(scaled[i], scaled[j])
            if filter_low_kl:
                r = r[masks[i]][:, masks[j]]
            pairwise[i, j] = relative_strength(r) if r.size else 0.0
    scores = np.array([np.median(np.delete(pairwise[:, i], i)) for i in range(m_models)])
    return {"model_scores": scores, "pairwise_scores": pairwise}
