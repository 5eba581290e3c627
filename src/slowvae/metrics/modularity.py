"""Modularity and Explicitness (Ridgeway & Mozer, NeurIPS 2018, "Learning Deep Disentangled Embeddings
with the F-Statistic Loss", §3)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from slowvae.errors import SlowVAEError
from slowvae.metrics.utils import (
    as_generator,
    check_pair,
    check_test_pair,
    discrete_mutual_info,
    histogram_discretize,
    seed_from,
)


def modularity_from_mi(mi: np.ndarray) -> np.ndarray:
    """Per-latent modularity (D,) of an MI matrix (D, K).

    delta_i = (sum_k m_ik^2 - theta_i) / (theta_i (K - 1)), theta_i = max_k m_ik^2, modularity_i =
    1 - delta_i (Ridgeway & Mozer 2018, Eq. 2); 0 where theta_i = 0 (as dlib), 1 when K = 1.
    """
    sq = mi**2
    theta = sq.max(axis=1)
    k = mi.shape[1]
    out = np.zeros(mi.shape[0])
    pos = theta > 0
    if k == 1:
        out[pos] = 1.0
        return out
    delta = (sq.sum(axis=1)[pos] - theta[pos]) / (theta[pos] * (k - 1))
    out[pos] = 1.0 - delta
    return out


def modularity(codes: np.ndarray, factors: np.ndarray, *, num_bins: int = 20) -> dict[str, Any]:
    """Modularity of codes (N, D) against factors (N, K): mean over all D latents of
    :func:`modularity_from_mi` on the 20-bin plug-in MI matrix (the one MIG uses).

    Returns ``modularity``, ``modularity_per_latent`` (D,) and ``modularity_mutual_info`` (D, K).
    """
    codes, factors = check_pair(codes, factors)
    mi = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)
    per = modularity_from_mi(mi)
    return {"modularity": float(np.mean(per)), "modularity_per_latent": per, "modularity_mutual_info": mi}


def _macro_auc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray, binarizer: str) -> float:
    """Macro one-vs-rest ROC-AUC of class probabilities (M, C) against labels (M,).

    ``binarizer="classes"`` (the fix): one-hot columns follow the classifier's ``classes``; columns
    whose class is absent (or the only one present) in ``y`` are skipped. ``binarizer="refit"``
    (dlib): one-hot columns of the classes present in ``y``, which misalign with ``proba`` when a
    class is missing.
    """
    if binarizer == "refit":
        present = np.unique(y)
        onehot = (y[:, None] == present[None, :]).astype(int)
        if onehot.shape[1] != proba.shape[1]:
            raise SlowVAEError(
                f"dlib's label binariser found {onehot.shape[1]} classes in the labels but the classifier "
                f"has {proba.shape[1]}: columns misalign (use the fixed binariser)"
            )
        return float(roc_auc_score(onehot, proba, average="macro"))
    onehot = (y[:, None] == classes[None, :]).astype(int)
    pos = onehot.sum(axis=0)
    keep = (pos > 0) & (pos < len(y))
    if not keep.any():
        raise SlowVAEError("explicitness ROC-AUC is undefined: the labels hold fewer than two known classes")
    return float(roc_auc_score(onehot[:, keep], proba[:, keep], average="macro"))


def explicitness(
    codes: np.ndarray,
    factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    *,
    lr_C: float = 1.0,
    lr_solver: str = "lbfgs",
    lr_max_iter: int = 100,
    lr_tol: float = 1e-4,
    zero_std: str = "one",
    binarizer: str = "classes",
    rng: np.random.Generator | int | None = None,
) -> dict[str, Any]:
    """Explicitness of codes (N, D) / test codes (M, D) against factors (N, K) / (M, K).

    Codes are standardised by the train mean and std (ddof 0); per factor a multinomial
    ``LogisticRegression(C, lbfgs, max_iter)`` predicts the factor and explicitness is the macro
    one-vs-rest ROC-AUC of its probabilities (Ridgeway & Mozer 2018, §3), averaged over factors.

    ``zero_std="error"`` reproduces dlib (a constant latent makes the standardised codes NaN and the
    metric fails); ``"one"`` divides such latents by 1. ``binarizer``: see :func:`_macro_auc`.

    Returns ``explicitness_train``, ``explicitness_test``, per-factor arrays (K,) of each and
    ``explicitness_num_not_converged``.
    """
    codes, factors = check_pair(codes, factors)
    test_codes, test_factors = check_test_pair(codes, factors, test_codes, test_factors)
    gen = as_generator(rng) if rng is not None else None
    mean = codes.mean(axis=0)
    std = codes.std(axis=0)
    if np.any(std == 0):
        if zero_std == "error":
            raise SlowVAEError(
                f"latent(s) {np.nonzero(std == 0)[0].tolist()} are constant: dlib's standardisation divides by "
                "zero std (Input X contains NaN)"
            )
        std = np.where(std == 0, 1.0, std)
    x_tr = (codes - mean) / std
    x_te = (test_codes - mean) / std
    k = factors.shape[1]
    per_tr, per_te = np.zeros(k), np.zeros(k)
    not_converged = 0
    for j in range(k):
        y_tr, y_te = factors[:, j], test_factors[:, j]
        classes = np.unique(y_tr)
        if len(classes) < 2:
            raise SlowVAEError(f"explicitness is undefined: factor {j} takes a single value in the train rows")
        clf = LogisticRegression(
            C=lr_C,
            solver=lr_solver,
            max_iter=lr_max_iter,
            tol=lr_tol,
            fit_intercept=True,
            random_state=seed_from(gen) if gen is not None else 0,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            clf.fit(x_tr, y_tr)
        not_converged += any(issubclass(w.category, ConvergenceWarning) for w in caught)
        per_tr[j] = _macro_auc(y_tr, clf.predict_proba(x_tr), clf.classes_, binarizer)
        per_te[j] = _macro_auc(y_te, clf.predict_proba(x_te), clf.classes_, binarizer)
    return {
        "explicitness_train": float(per_tr.mean()),
        "explicitness_test": float(per_te.mean()),
        "explicitness_per_factor_train": per_tr,
        "explicitness_per_factor_test": per_te,
        "explicitness_num_not_converged": not_converged,
    }


def modularity_explicitness(
    codes: np.ndarray,
    factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    *,
    num_bins: int = 20,
    lr_C: float = 1.0,
    lr_solver: str = "lbfgs",
    lr_max_iter: int = 100,
    lr_tol: float = 1e-4,
    zero_std: str = "one",
    binarizer: str = "classes",
    rng: np.random.Generator | int | None = None,
) -> dict[str, Any]:
    """Modularity (train rows) and Explicitness (train and test rows) together, as dlib reports them.

    Shapes: codes (N, D), factors (N, K), test codes (M, D), test factors (M, K).
    """
    out = modularity(codes, factors, num_bins=num_bins)
    out.update(
        explicitness(
            codes,
            factors,
            test_codes,
            test_factors,
            lr_C=lr_C,
            lr_solver=lr_solver,
            lr_max_iter=lr_max_iter,
            lr_tol=lr_tol,
            zero_std=zero_std,
            binarizer=binarizer,
            rng=rng,
        )
    )
    return out
