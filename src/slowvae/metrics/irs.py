"""Interventional Robustness Score (Suter et al., ICML 2019, "Robustly Disentangled Causal
Mechanisms: Validating Deep Representations for Interventional Robustness"), in
disentanglement_lib's observational estimate."""

from __future__ import annotations

from typing import Any

import numpy as np

from slowvae.errors import SlowVAEError
from slowvae.metrics.utils import check_pair, histogram_discretize


def irs(
    codes: np.ndarray,
    factors: np.ndarray,
    *,
    diff_quantile: float = 0.99,
    factor_bins: int | None = None,
) -> dict[str, Any]:
    """IRS of codes (N, D) float against factors (N, K) int.

    For factor k and each of its values v: the ``diff_quantile`` quantile over the rows with
    v_k = v of |z - E[z | v_k = v]| (per latent), averaged over v; divided by each latent's maximal
    deviation from its mean, IRS_ik = 1 - that ratio (Suter et al. 2019, Eq. 7 with the max replaced
    by a quantile, as dlib). Per latent the best factor counts; the score is the average of those
    weighted by the latents' maximal deviations. Constant latents are dropped first.
    ``factor_bins`` re-bins the factors into equal-width bins (None: factor indices as given).

    Returns ``irs``, ``irs_matrix`` (D_active, K), ``irs_per_latent`` (D_active,),
    ``irs_parent_factor`` (D_active,) and ``irs_num_active_dims``.
    """
    codes, factors = check_pair(codes, factors)
    if not 0.0 <= diff_quantile <= 1.0:
        raise SlowVAEError(f"diff_quantile must lie in [0, 1], got {diff_quantile}")
    if factor_bins is not None:
        factors = histogram_discretize(factors.astype(np.float64), factor_bins)
    active = codes.var(axis=0) > 0
    z = codes[:, active]
    d, k = z.shape[1], factors.shape[1]
    if d == 0:
        return {
            "irs": 0.0,
            "irs_matrix": np.zeros((0, k)),
            "irs_per_latent": np.zeros(0),
            "irs_parent_factor": np.zeros(0, dtype=np.int64),
            "irs_num_active_dims": 0,
        }
    max_dev = np.max(np.abs(z - z.mean(axis=0)), axis=0)
    mean_dev = np.zeros((d, k))
    for j in range(k):
        values, inverse = np.unique(factors[:, j], return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(values) + 1))
        zs = z[order]
        for v in range(len(values)):
            group = zs[bounds[v] : bounds[v + 1]]
            dev = np.abs(group - group.mean(axis=0))
            mean_dev[:, j] += np.percentile(dev, 100.0 * diff_quantile, axis=0)
        mean_dev[:, j] /= len(values)
    matrix = 1.0 - mean_dev / max_dev[:, None]
    per_latent = matrix.max(axis=1)
    score = float(np.average(per_latent, weights=max_dev)) if max_dev.sum() > 0 else float(per_latent.mean())
    return {
        "irs": score,
        "irs_matrix": matrix,
        "irs_per_latent": per_latent,
        "irs_parent_factor": matrix.argmax(axis=1),
        "irs_num_active_dims": d,
    }
