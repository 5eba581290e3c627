"""Mean correlation coefficient (MCC) between matched latents and factors.

The SlowVAE paper (Klindt et al., ICLR 2021, §6) reports MCC with Spearman correlation, following
Hyvärinen & Morioka's TCL evaluation: correlate every latent with every factor, match latents to
factors by the Hungarian algorithm on |corr|, and average the matched |corr| over the factors.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata

from slowvae.errors import SlowVAEError
from slowvae.metrics.utils import as_generator, check_codes

Correlation = Literal["spearman", "pearson", "both"]


def abs_correlation(codes: np.ndarray, factors: np.ndarray, method: str = "pearson") -> tuple[np.ndarray, int]:
    """|corr(code_i, factor_k)| as a (D, K) matrix for codes (N, D) and factors (N, K).

    Pearson is ``np.corrcoef``; Spearman is Pearson on average-tie ranks (``scipy.stats.rankdata``),
    equal to ``scipy.stats.spearmanr`` whenever no column is constant. A constant column gives
    NaN, which is set to 0; the second return value counts those entries.
    """
    x = np.asarray(codes, dtype=np.float64)
    y = np.asarray(factors, dtype=np.float64)
    if method == "spearman":
        x = rankdata(x, axis=0)
        y = rankdata(y, axis=0)
    elif method != "pearson":
        raise SlowVAEError(f"correlation must be 'spearman' or 'pearson', got {method!r}")
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    sx = np.sqrt(np.sum(x * x, axis=0))
    sy = np.sqrt(np.sum(y * y, axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = (x.T @ y) / np.outer(sx, sy)
    bad = ~np.isfinite(corr) | (np.outer(sx, sy) == 0)
    corr[bad] = 0.0
    return np.clip(np.abs(corr), 0.0, 1.0), int(np.count_nonzero(bad))


def _match(abs_corr: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Hungarian matching on -|corr| (D, K'): returns (dim matched to each of the first k factors, its |corr|)."""
    rows, cols = linear_sum_assignment(-abs_corr)  # maximise the summed |corr| (Kuhn 1955)
    dim_for_factor = np.full(abs_corr.shape[1], -1, dtype=np.int64)
    dim_for_factor[cols] = rows
    dim_for_factor = dim_for_factor[:k]
    return dim_for_factor, abs_corr[dim_for_factor, np.arange(k)]


def mcc(
    codes: np.ndarray,
    factors: np.ndarray,
    *,
    correlation: Correlation = "both",
    pad: bool = False,
    rng: np.random.Generator | int | None = None,
) -> dict[str, Any]:
    """MCC of codes (N, D) float against factors (N, K): factor indices or continuous latents
    (KITTI Masks, Natural Sprites); needs D >= K.

    MCC = (1/K) sum_k |corr(z_{pi(k)}, v_k)|, pi the Hungarian matching maximising the sum
    (Klindt et al. 2021, §6; Hyvärinen & Morioka 2016, TCL evaluation).

    ``pad=False`` (default) solves the rectangular K x D assignment: deterministic. ``pad=True``
    reproduces the SlowVAE reference: the factor matrix is padded with D - K N(0, 1) noise columns
    drawn from ``rng`` (required) and a square D x D assignment is solved; the score is still the
    mean over the K real factors.

    Returns ``mcc`` (Spearman) and ``mcc_pearson`` (for ``correlation="both"``; only the requested
    one otherwise), plus for each computed kind ``<key>_per_factor`` (K,) matched |corr|,
    ``<key>_dim_for_factor`` (K,) the latent matched to each factor, ``<key>_abs_corr`` (D, K)
    and ``<key>_num_nan_set_to_0``.
    """
    codes = check_codes(codes)
    factors = check_codes(factors, "factors")  # a correlation: continuous ground truth is fine
    if factors.shape[0] != codes.shape[0]:
        raise SlowVAEError(f"codes have N = {codes.shape[0]} rows but factors have {factors.shape[0]}")
    n, d = codes.shape
    k = factors.shape[1]
    if d < k:
        raise SlowVAEError(f"MCC needs at least as many latents as factors: D = {d} < K = {k}")
    if correlation not in ("spearman", "pearson", "both"):
        raise SlowVAEError(f"correlation must be 'spearman', 'pearson' or 'both', got {correlation!r}")
    kinds = ["spearman", "pearson"] if correlation == "both" else [correlation]
    target = factors.astype(np.float64)
    if pad and d > k:
        gen = as_generator(rng)
        target = np.concatenate([target, gen.standard_normal((n, d - k))], axis=1)
    out: dict[str, Any] = {}
    for kind in kinds:
        key = "mcc" if kind == "spearman" else "mcc_pearson"
        abs_corr, num_nan = abs_correlation(codes, target, kind)
        dims, per_factor = _match(abs_corr, k)
        out[key] = float(np.mean(per_factor))
        out[f"{key}_per_factor"] = per_factor
        out[f"{key}_dim_for_factor"] = dims
        out[f"{key}_abs_corr"] = abs_corr[:, :k]
        out[f"{key}_num_nan_set_to_0"] = num_nan
    return out
