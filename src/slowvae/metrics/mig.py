"""Mutual Information Gap (Chen et al., NeurIPS 2018, "Isolating Sources of Disentanglement in VAEs")."""

from __future__ import annotations

from typing import Any

import numpy as np

from slowvae.errors import SlowVAEError
from slowvae.metrics.utils import check_pair, discrete_entropy, discrete_mutual_info, histogram_discretize


def mig(codes: np.ndarray, factors: np.ndarray, *, num_bins: int = 20) -> dict[str, Any]:
    """MIG of codes (N, D) float against factors (N, K) int.

    MIG = (1/K) sum_k (I(z_(1); v_k) - I(z_(2); v_k)) / H(v_k)  (Chen et al. 2018, Eq. 6), with each
    latent discretised into ``num_bins`` equal-width bins and plug-in MI in nats, as in
    disentanglement_lib. A factor with a single value (H = 0) has no gap to normalise: it is left
    out of the mean (dlib gives NaN) and its per-factor entry is 0.

    Returns ``mig``, ``mig_per_factor`` (K,), ``mig_mutual_info`` (D, K) nats,
    ``mig_factor_entropy`` (K,) nats and ``mig_num_constant_factors``.
    """
    codes, factors = check_pair(codes, factors)
    m = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)
    h = discrete_entropy(factors)
    top = np.sort(m, axis=0)[::-1]
    second = top[1] if m.shape[0] > 1 else np.zeros(m.shape[1])
    informative = h > 0
    if not informative.any():
        raise SlowVAEError("MIG is undefined: every factor takes a single value in the given rows")
    gap = np.zeros(m.shape[1])
    gap[informative] = (top[0] - second)[informative] / h[informative]
    return {
        "mig": float(np.mean(gap[informative])),
        "mig_per_factor": gap,
        "mig_mutual_info": m,
        "mig_factor_entropy": h,
        "mig_num_constant_factors": int(np.count_nonzero(~informative)),
    }
