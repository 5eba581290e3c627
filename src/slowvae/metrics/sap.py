"""Separated Attribute Predictability (Kumar et al., ICLR 2018, "Variational Inference of Disentangled
Latent Concepts from Unlabeled Observations", §3)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from slowvae.metrics.utils import check_pair, check_test_pair


def _top_two_gap(score: np.ndarray) -> np.ndarray:
    """Per column of a (D, K) score matrix: largest minus second largest entry (K,)."""
    s = np.sort(score, axis=0)[::-1]
    return s[0] - (s[1] if s.shape[0] > 1 else 0.0)


def sap_score_matrix(
    codes: np.ndarray,
    factors: np.ndarray,
    test_codes: np.ndarray | None = None,
    test_factors: np.ndarray | None = None,
    *,
    continuous: bool = False,
    svm_C: float = 0.01,
    svm_class_weight: str | None = "balanced",
    svm_max_iter: int = 1000,
    svm_tol: float = 1e-4,
) -> tuple[np.ndarray, int]:
    """SAP score matrix (D, K) and the number of SVM fits that did not converge.

    Discrete: ``S[i, k]`` is the test accuracy of ``LinearSVC(C, class_weight, primal solver)`` that
    predicts factor k from latent i alone (a factor with one training value is predicted as that
    value). Continuous: ``S[i, k] = cov(z_i, v_k)^2 / (var z_i var v_k)`` on the train rows (0 when
    var z_i <= 1e-12), as disentanglement_lib.
    """
    d, k = codes.shape[1], factors.shape[1]
    score = np.zeros((d, k))
    not_converged = 0
    if continuous:
        for i in range(d):
            for j in range(k):
                cov = np.cov(codes[:, i], factors[:, j])
                if cov[0, 0] > 1e-12 and cov[1, 1] > 0:
                    score[i, j] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1])
        return score, 0
    for j in range(k):
        y, y_test = factors[:, j], test_factors[:, j]
        classes = np.unique(y)
        for i in range(d):
            if len(classes) < 2:
                score[i, j] = np.mean(y_test == classes[0])
                continue
            clf = LinearSVC(
                C=svm_C,
                class_weight=svm_class_weight,
                dual=False,
                loss="squared_hinge",
                penalty="l2",
                tol=svm_tol,
                max_iter=svm_max_iter,
                fit_intercept=True,
                intercept_scaling=1.0,
            )
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                clf.fit(codes[:, i : i + 1], y)
            not_converged += any(issubclass(w.category, ConvergenceWarning) for w in caught)
            score[i, j] = np.mean(clf.predict(test_codes[:, i : i + 1]) == y_test)
    return score, not_converged


def sap(
    codes: np.ndarray,
    factors: np.ndarray,
    test_codes: np.ndarray | None = None,
    test_factors: np.ndarray | None = None,
    *,
    continuous: bool = False,
    svm_C: float = 0.01,
    svm_class_weight: str | None = "balanced",
    svm_max_iter: int = 1000,
    svm_tol: float = 1e-4,
) -> dict[str, Any]:
    """SAP of codes (N, D) and factors (N, K); test arrays (M, D), (M, K) are required when discrete.

    SAP = (1/K) sum_k (S_(1)k - S_(2)k), the gap between the two most predictive latents of each
    factor (Kumar et al. 2018, §3). The SVM arguments pin scikit-learn 1.9's ``LinearSVC(C=0.01,
    class_weight="balanced")`` with ``dual="auto"`` resolved to the primal solver, as dlib ran it.

    Returns ``sap``, ``sap_per_factor`` (K,), ``sap_score_matrix`` (D, K) and
    ``sap_num_not_converged``.
    """
    codes, factors = check_pair(codes, factors)
    if not continuous:
        if test_codes is None or test_factors is None:
            from slowvae.errors import SlowVAEError

            raise SlowVAEError("discrete SAP needs test_codes and test_factors")
        test_codes, test_factors = check_test_pair(codes, factors, test_codes, test_factors)
    score, nc = sap_score_matrix(
        codes,
        factors,
        test_codes,
        test_factors,
        continuous=continuous,
        svm_C=svm_C,
        svm_class_weight=svm_class_weight,
        svm_max_iter=svm_max_iter,
        svm_tol=svm_tol,
    )
    gap = _top_two_gap(score)
    return {"sap": float(np.mean(gap)), "sap_per_factor": gap, "sap_score_matrix": score, "sap_num_not_converged": nc}
