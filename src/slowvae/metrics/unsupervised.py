"""Unsupervised scores of a code distribution (disentanglement_lib's ``unsupervised_metrics``):
Gaussian total correlation, Gaussian Wasserstein correlation and mean pairwise mutual information."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg

from slowvae.errors import SlowVAEError
from slowvae.metrics.utils import check_codes, discrete_mutual_info, histogram_discretize


def gaussian_total_correlation(cov: np.ndarray) -> float:
    """TC of N(0, cov) for a (D, D) covariance: 1/2 (sum_i log cov_ii - log det cov) (Watanabe 1960)."""
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return float("inf")
    return float(0.5 * (np.sum(np.log(np.diag(cov))) - logdet))


def gaussian_wasserstein_correlation(cov: np.ndarray) -> float:
    """Squared 2-Wasserstein distance between N(0, cov) and N(0, diag cov) (D, D):
    2 tr cov - 2 tr (diag(cov) cov)^(1/2) (Dowson & Landau 1982, with commuting square roots)."""
    root = scipy.linalg.sqrtm(np.diag(np.diag(cov)) @ cov)
    return float(2.0 * np.trace(cov) - 2.0 * np.real(np.trace(root)))


def unsupervised(codes: np.ndarray, *, num_bins: int = 20, factors: np.ndarray | None = None) -> dict[str, Any]:
    """Unsupervised scores of codes (N, D); ``factors`` is accepted for a uniform call and ignored.

    Sigma = cov(codes) (ddof 1). Latents with zero variance carry no Gaussian information and are
    left out of the Gaussian scores (dlib gives -inf / NaN there); their count is reported. When
    every latent is constant there is nothing to score: :class:`SlowVAEError` (the suite reports
    ``null`` and ``unsupervised_error``).
    ``unsupervised_mutual_info`` = sum_{i != j} I(z_i; z_j) / (D^2 - D) on ``num_bins``-bin codes.

    Returns ``gaussian_total_correlation``, ``gaussian_wasserstein_correlation``,
    ``gaussian_wasserstein_correlation_norm`` (divided by tr Sigma), ``mutual_info_score``,
    ``unsupervised_covariance`` (D, D) and ``unsupervised_num_constant_latents``.
    """
    codes = check_codes(codes)
    d = codes.shape[1]
    cov = np.atleast_2d(np.cov(codes, rowvar=False)) if codes.shape[0] > 1 else np.zeros((d, d))
    active = np.diag(cov) > 0
    if not active.any():
        raise SlowVAEError(f"unsupervised scores are undefined: all {d} latents are constant in the given rows")
    sub = cov[np.ix_(active, active)]
    tc = gaussian_total_correlation(sub)
    wc = gaussian_wasserstein_correlation(sub)
    wc_norm = wc / float(np.trace(sub))
    disc = histogram_discretize(codes, num_bins)
    mi = discrete_mutual_info(disc, disc)
    np.fill_diagonal(mi, 0.0)
    mi_score = float(mi.sum() / (d * d - d)) if d > 1 else 0.0
    return {
        "gaussian_total_correlation": tc,
        "gaussian_wasserstein_correlation": wc,
        "gaussian_wasserstein_correlation_norm": wc_norm,
        "mutual_info_score": mi_score,
        "unsupervised_covariance": cov,
        "unsupervised_num_constant_latents": int(np.count_nonzero(~active)),
    }
