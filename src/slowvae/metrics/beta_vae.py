"""BetaVAE score (Higgins et al., ICLR 2017, "beta-VAE: Learning Basic Visual Concepts with a
Constrained Variational Framework", §3 and appendix A.4), as disentanglement_lib computes it."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from slowvae.errors import SlowVAEError
from slowvae.metrics.utils import as_generator, check_dataset, encode_factors, sample_factor_grid, seed_from


def beta_vae_features(
    dataset: Any,
    encode: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    num_points: int,
    *,
    batch_size: int = 64,
    images_per_call: int = 8192,
) -> tuple[np.ndarray, np.ndarray]:
    """BetaVAE training points: features (num_points, D) and labels (num_points,) int.

    Per point: k ~ U{0..K-1}; two batches of ``batch_size`` factor vectors that agree on factor k;
    feature = mean_b |z(x1_b) - z(x2_b)| (Higgins et al. 2017, appendix A.4). Points are drawn in
    chunks so each ``encode`` call sees up to ``images_per_call`` images.
    """
    sizes = check_dataset(dataset)
    k = len(sizes)
    per_chunk = max(1, images_per_call // (2 * batch_size))
    feats, labels, dim = [], [], None
    for start in range(0, num_points, per_chunk):
        p = min(per_chunk, num_points - start)
        lab = rng.integers(0, k, size=p)
        pair = sample_factor_grid(sizes, (2, p, batch_size), rng)
        rows = np.arange(p)
        pair[1, rows, :, lab] = pair[0, rows, :, lab]
        codes = encode_factors(dataset, encode, pair.reshape(-1, k), dim)
        dim = codes.shape[1]
        codes = codes.reshape(2, p, batch_size, dim)
        feats.append(np.mean(np.abs(codes[0] - codes[1]), axis=1))
        labels.append(lab)
    return np.concatenate(feats), np.concatenate(labels)


def beta_vae_score(
    dataset: Any,
    encode: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator | int,
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    lr_C: float = 1.0,
    lr_solver: str = "lbfgs",
    lr_max_iter: int = 100,
    lr_tol: float = 1e-4,
    images_per_call: int = 8192,
) -> dict[str, Any]:
    """BetaVAE score of ``encode`` (images (n, C, H, W) -> codes (n, D)) on ``dataset``.

    A linear classifier (scikit-learn 1.9's ``LogisticRegression()`` defaults pinned: lbfgs,
    multinomial, C = 1, max_iter = 100, no feature scaling) predicts the fixed factor from
    :func:`beta_vae_features`; ``num_train`` points train it, ``num_eval`` fresh points evaluate it.

    Returns ``train_accuracy``, ``eval_accuracy`` and ``num_not_converged``.
    """
    for name, value in (("batch_size", batch_size), ("num_train", num_train), ("num_eval", num_eval)):
        if int(value) < 1:
            raise SlowVAEError(f"{name} must be >= 1, got {value}")
    if batch_size < 1:
        raise SlowVAEError("batch_size must be >= 1")
    gen = as_generator(rng)
    x_tr, y_tr = beta_vae_features(
        dataset, encode, gen, num_train, batch_size=batch_size, images_per_call=images_per_call
    )
    x_ev, y_ev = beta_vae_features(
        dataset, encode, gen, num_eval, batch_size=batch_size, images_per_call=images_per_call
    )
    if len(np.unique(y_tr)) < 2:
        raise SlowVAEError("BetaVAE score needs at least two factors (and enough training points to see them)")
    clf = LogisticRegression(C=lr_C, solver=lr_solver, max_iter=lr_max_iter, tol=lr_tol, random_state=seed_from(gen))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(x_tr, y_tr)
    not_converged = int(any(issubclass(w.category, ConvergenceWarning) for w in caught))
    return {
        "train_accuracy": float(np.mean(clf.predict(x_tr) == y_tr)),
        "eval_accuracy": float(np.mean(clf.predict(x_ev) == y_ev)),
        "num_not_converged": not_converged,
    }
