"""DCI: Disentanglement, Completeness, Informativeness (Eastwood & Williams, ICLR 2018, "A Framework
for the Quantitative Evaluation of Disentangled Representations"), in disentanglement_lib's variant:
gradient-boosted classifiers, impurity importances, informativeness as accuracy.

Two paths. ``backend="sklearn"`` is the exact one: scikit-learn's ``GradientBoostingClassifier`` with
its 1.9 defaults pinned (100 trees, depth 3, learning rate 0.1), one multi-class model per factor,
each seeded from the run's generator. ``backend="lightgbm"`` (optional extra) and ``"hist"``
(scikit-learn's ``HistGradientBoostingClassifier``) are the fast histogram boosters; every backend
can run the factors in parallel (``n_jobs``).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import scipy.stats

from slowvae.errors import SlowVAEError
from slowvae.metrics.utils import as_generator, check_pair, check_test_pair, seed_from

BACKENDS = ("sklearn", "lightgbm", "hist", "auto")


def lightgbm_available() -> bool:
    """Whether the optional ``lightgbm`` package can be imported."""
    return importlib.util.find_spec("lightgbm") is not None


def resolve_backend(backend: str) -> str:
    """``"auto"`` -> ``"lightgbm"`` where installed, else ``"hist"``; others are checked and returned."""
    if backend not in BACKENDS:
        raise SlowVAEError(f"DCI backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "auto":
        return "lightgbm" if lightgbm_available() else "hist"
    if backend == "lightgbm" and not lightgbm_available():
        raise SlowVAEError("DCI backend 'lightgbm' needs the optional package: pip install lightgbm")
    return backend


def _hist_importances(model: Any, d: int) -> np.ndarray:
    """Total split gain per feature (D,) of a fitted ``HistGradientBoostingClassifier``."""
    imp = np.zeros(d)
    for stage in model._predictors:  # one list of trees per boosting iteration
        for predictor in stage:
            nodes = predictor.nodes
            split = nodes["is_leaf"] == 0
            np.add.at(imp, nodes["feature_idx"][split], nodes["gain"][split])
    return imp


def _fit_sklearn(
    x: np.ndarray, y: np.ndarray, seed: int, n_estimators: int, max_depth: int, learning_rate: float
) -> tuple[Any, np.ndarray]:
    """scikit-learn's ``GradientBoostingClassifier`` with its 1.9 defaults pinned: (model, |importance| (D,))."""
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(
        loss="log_loss",
        learning_rate=learning_rate,
        n_estimators=n_estimators,
        subsample=1.0,
        min_samples_split=2,
        min_samples_leaf=1,
        min_weight_fraction_leaf=0.0,
        max_depth=max_depth,
        min_impurity_decrease=0.0,
        max_features=None,
        max_leaf_nodes=None,
        random_state=seed,
    )
    model.fit(x, y)
    return model, np.abs(model.feature_importances_)


def _fit_lightgbm(
    x: np.ndarray, y: np.ndarray, seed: int, n_estimators: int, max_depth: int, learning_rate: float
) -> tuple[Any, np.ndarray]:
    """LightGBM's ``LGBMClassifier``, single-threaded and deterministic: (model, |gain importance| (D,))."""
    import lightgbm

    model = lightgbm.LGBMClassifier(
        n_estimators=n_estimators,
        max_depth=max_depth,
        num_leaves=2**max_depth,
        learning_rate=learning_rate,
        min_child_samples=1,
        min_child_weight=1e-3,
        min_split_gain=0.0,
        reg_lambda=0.0,
        subsample=1.0,
        colsample_bytree=1.0,
        max_bin=255,
        importance_type="gain",
        random_state=seed,
        n_jobs=1,
        deterministic=True,
        force_row_wise=True,
        verbose=-1,
    )
    model.fit(x, y)
    return model, np.abs(np.asarray(model.booster_.feature_importance(importance_type="gain"), dtype=np.float64))


def _fit_hist(
    x: np.ndarray, y: np.ndarray, seed: int, n_estimators: int, max_depth: int, learning_rate: float
) -> tuple[Any, np.ndarray]:
    """scikit-learn's ``HistGradientBoostingClassifier`` on one thread: (model, split gain (D,))."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        learning_rate=learning_rate,
        max_iter=n_estimators,
        max_depth=max_depth,
        max_leaf_nodes=2**max_depth,
        min_samples_leaf=1,
        l2_regularization=0.0,
        max_bins=255,
        early_stopping=False,
        random_state=seed,
    )
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # OpenMP threads oversubscribe small fits; factors run in parallel instead
        model.fit(x, y)
    return model, _hist_importances(model, x.shape[1])


_FITTERS = {"sklearn": _fit_sklearn, "lightgbm": _fit_lightgbm, "hist": _fit_hist}


def _fit_factor(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    backend: str,
    seed: int,
    n_estimators: int,
    max_depth: int,
    learning_rate: float,
) -> tuple[np.ndarray, float, float]:
    """Fit one booster predicting factor y (N,) from codes x (N, D): (importance (D,), train acc, test acc)."""
    d = x.shape[1]
    classes = np.unique(y)
    if len(classes) < 2:  # nothing to learn: the constant prediction, no importance
        return np.zeros(d), float(np.mean(y == classes[0])), float(np.mean(y_test == classes[0]))
    if backend not in _FITTERS:  # pragma: no cover - resolve_backend guards this
        raise SlowVAEError(f"unknown DCI backend {backend!r}")
    model, imp = _FITTERS[backend](x, y, seed, n_estimators, max_depth, learning_rate)
    total = imp.sum()
    if total > 0:
        imp = imp / total  # each factor's importances sum to 1, as sklearn's do
    return imp, float(np.mean(model.predict(x) == y)), float(np.mean(model.predict(x_test) == y_test))


def dci_from_importance(importance: np.ndarray) -> dict[str, Any]:
    """Disentanglement and completeness of an importance matrix R (D, K), as dlib weights them.

    D_j = 1 - H_K(P_j.), P_jk = R_jk / sum_k R_jk, D = sum_j rho_j D_j with rho_j = sum_k R_jk / sum R;
    C_k = 1 - H_D(R_.k / sum_j R_jk), C = sum_k (sum_j R_jk / sum R) C_k (Eastwood & Williams 2018,
    Eqs. 1-3); entropies take +1e-11 as dlib does, weights fall back to uniform when sum R = 0.
    """
    r = np.abs(np.asarray(importance, dtype=np.float64))
    d, k = r.shape
    total = r.sum()
    if k > 1:
        d_per = 1.0 - scipy.stats.entropy(r.T + 1e-11, base=k)
    else:
        d_per = np.ones(d)
    if d > 1:
        c_per = 1.0 - scipy.stats.entropy(r + 1e-11, base=d)
    else:
        c_per = np.ones(k)
    if total > 0:
        rho_code = r.sum(axis=1) / total
        rho_factor = r.sum(axis=0) / total
    else:
        rho_code = np.full(d, 1.0 / d)
        rho_factor = np.full(k, 1.0 / k)
    return {
        "dci_disentanglement": float(np.sum(rho_code * d_per)),
        "dci_completeness": float(np.sum(rho_factor * c_per)),
        "dci_disentanglement_per_latent": d_per,
        "dci_completeness_per_factor": c_per,
    }


def dci(
    codes: np.ndarray,
    factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    *,
    rng: np.random.Generator | int,
    backend: str = "sklearn",
    n_estimators: int = 100,
    max_depth: int = 3,
    learning_rate: float = 0.1,
    n_jobs: int = 1,
) -> dict[str, Any]:
    """DCI of codes (N, D) / test codes (M, D) against factors (N, K) / (M, K).

    One gradient-boosted classifier per factor on the raw codes gives R[:, k] = |importance| (each
    column sums to 1) and train / test accuracy; see :func:`dci_from_importance`. Informativeness is
    the mean accuracy over factors (dlib's "err" keys hold accuracy). ``rng`` seeds one booster per
    factor, drawn in factor order, so ``n_jobs`` never changes the numbers.

    Returns ``dci_disentanglement``, ``dci_completeness``, ``dci_informativeness_train``,
    ``dci_informativeness_test``, ``dci_importance`` (D, K), per-latent / per-factor arrays and
    ``dci_backend``.
    """
    codes, factors = check_pair(codes, factors)
    test_codes, test_factors = check_test_pair(codes, factors, test_codes, test_factors)
    backend = resolve_backend(backend)
    gen = as_generator(rng)
    k = factors.shape[1]
    seeds = [seed_from(gen) for _ in range(k)]
    args = [
        (
            codes,
            factors[:, j],
            test_codes,
            test_factors[:, j],
            backend,
            seeds[j],
            n_estimators,
            max_depth,
            learning_rate,
        )
        for j in range(k)
    ]
    if n_jobs == 1 or k == 1:
        results = [_fit_factor(*a) for a in args]
    else:
        from joblib import Parallel, delayed

        # largest factors first: they take longest, so the pool finishes together
        order = np.argsort([-len(np.unique(factors[:, j])) for j in range(k)], kind="stable")
        done = Parallel(n_jobs=n_jobs, prefer="processes")(delayed(_fit_factor)(*args[j]) for j in order)
        results = [None] * k
        for j, res in zip(order, done):
            results[j] = res
    importance = np.stack([r[0] for r in results], axis=1)
    acc_tr = np.array([r[1] for r in results])
    acc_te = np.array([r[2] for r in results])
    out = dci_from_importance(importance)
    out.update(
        {
            "dci_informativeness_train": float(acc_tr.mean()),
            "dci_informativeness_test": float(acc_te.mean()),
            "dci_informativeness_train_per_factor": acc_tr,
            "dci_informativeness_test_per_factor": acc_te,
            "dci_importance": importance,
            "dci_backend": backend,
        }
    )
    return out
