"""The metric suite: presets of every setting, and one call that scores codes with all metrics.

``compute_suite`` returns flat keys (``mcc``, ``mig``, ``dci_disentanglement``, ...) plus a
``settings`` object holding every setting, the row counts used and the seed, so that a number in a
results file can be reproduced. A metric that cannot be computed on the input gives ``None`` and a
``<metric>_error`` message; the others are still reported.
"""

from __future__ import annotations

import copy
import os
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from slowvae.errors import SlowVAEError
from slowvae.metrics.beta_vae import beta_vae_score
from slowvae.metrics.dci import dci, resolve_backend
from slowvae.metrics.factor_vae import factor_vae_score
from slowvae.metrics.irs import irs
from slowvae.metrics.mcc import mcc
from slowvae.metrics.mig import mig
from slowvae.metrics.modularity import explicitness, modularity
from slowvae.metrics.sap import sap
from slowvae.metrics.unsupervised import unsupervised
from slowvae.metrics.utils import check_pair, check_test_pair

#: every metric name, in report order; the index of a name also keys its random stream
METRICS = ("mcc", "mig", "sap", "dci", "modularity", "explicitness", "unsupervised", "irs", "beta_vae", "factor_vae")
#: metrics that sample images from a dataset through ``encode``
SAMPLING_METRICS = ("beta_vae", "factor_vae")
#: array metrics that need a test set
TEST_METRICS = ("sap", "dci", "explicitness")

#: the flat result keys of each metric
RESULT_KEYS: dict[str, tuple[str, ...]] = {
    "mcc": ("mcc", "mcc_pearson"),
    "mig": ("mig",),
    "sap": ("sap",),
    "dci": ("dci_disentanglement", "dci_completeness", "dci_informativeness_train", "dci_informativeness_test"),
    "modularity": ("modularity",),
    "explicitness": ("explicitness_train", "explicitness_test"),
    "unsupervised": ("gaussian_total_correlation", "gaussian_wasserstein_correlation",
                     "gaussian_wasserstein_correlation_norm", "mutual_info_score"),
    "irs": ("irs",),
    "beta_vae": ("beta_vae_train", "beta_vae_eval"),
    "factor_vae": ("factor_vae_train", "factor_vae_eval", "factor_vae_num_active_dims"),
}

_DLIB: dict[str, dict[str, Any]] = {
    # SlowVAE reference (not in dlib): Spearman on 10 000 points, unpadded matching here
    "mcc": {"num_train": 10000, "correlation": "both", "pad": False},
    "mig": {"num_train": 10000, "num_bins": 20},
    "sap": {"num_train": 10000, "num_test": 5000, "continuous": False, "svm_C": 0.01,
            "svm_class_weight": "balanced", "svm_max_iter": 1000, "svm_tol": 1e-4},
    "dci": {"num_train": 10000, "num_test": 5000, "backend": "sklearn", "n_estimators": 100, "max_depth": 3,
            "learning_rate": 0.1, "n_jobs": 1},
    "modularity": {"num_train": 10000, "num_bins": 20},
    "explicitness": {"num_train": 10000, "num_test": 5000, "lr_C": 1.0, "lr_solver": "lbfgs", "lr_max_iter": 100,
                     "lr_tol": 1e-4, "zero_std": "error", "binarizer": "classes"},
    "unsupervised": {"num_train": 10000, "num_bins": 20},
    "irs": {"num_train": 10000, "diff_quantile": 0.99, "factor_bins": None},
    "beta_vae": {"batch_size": 64, "num_train": 10000, "num_eval": 5000, "lr_C": 1.0, "lr_solver": "lbfgs",
                 "lr_max_iter": 100, "lr_tol": 1e-4},
    "factor_vae": {"batch_size": 64, "num_train": 10000, "num_eval": 5000, "num_variance_estimate": 10000,
                   "prune_threshold": 0.05},
}


def _derive(base: Mapping[str, dict[str, Any]], changes: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = copy.deepcopy(dict(base))
    for metric, values in changes.items():
        out[metric].update(values)
    return out


#: preset name -> metric -> settings. ``dlib``: disentanglement_lib's study defaults
#: (unsupervised_study_v1 metric configs). ``slowvae-paper``: as dlib, with MIG and
#: Modularity/Explicitness on 100 000 points as the SlowVAE reference evaluated. ``fast``: reduced
#: counts (disent's ``compute_fast``) and the fast DCI path, for a quick look.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "dlib": _DLIB,
    "slowvae-paper": _derive(_DLIB, {
        "mig": {"num_train": 100000},
        "modularity": {"num_train": 100000},
        "explicitness": {"num_train": 100000, "zero_std": "one"},
    }),
    "fast": _derive(_DLIB, {
        "mcc": {"num_train": 2000},
        "mig": {"num_train": 2000},
        "sap": {"num_train": 2000, "num_test": 1000},
        "dci": {"num_train": 1000, "num_test": 500, "backend": "auto", "n_jobs": -1},
        "modularity": {"num_train": 2000},
        "explicitness": {"num_train": 2000, "num_test": 1000, "zero_std": "one"},
        "unsupervised": {"num_train": 2000},
        "irs": {"num_train": 2000},
        "beta_vae": {"num_train": 1000, "num_eval": 500},
        "factor_vae": {"num_train": 700, "num_eval": 350, "num_variance_estimate": 1000},
    }),
}


def _preset(preset: str) -> dict[str, dict[str, Any]]:
    if preset not in PRESETS:
        raise SlowVAEError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[preset]


def _check_metrics(metrics: Iterable[str] | None) -> list[str] | None:
    if metrics is None:
        return None
    if isinstance(metrics, str):
        metrics = [m for m in metrics.split(",") if m.strip()]
    names = [m.strip() for m in metrics]
    bad = [m for m in names if m not in METRICS]
    if bad:
        raise SlowVAEError(f"unknown metric(s) {', '.join(bad)}; choose from {', '.join(METRICS)}")
    if not names:
        raise SlowVAEError("no metric selected")
    return sorted(set(names), key=METRICS.index)


def resolve_settings(
    preset: str = "dlib", fast: bool = False, overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Every setting of every metric for ``preset``, with ``fast`` (fast DCI path) and per-metric
    ``overrides`` applied, e.g. ``{"dci": {"num_train": 5000}}``."""
    settings = copy.deepcopy(_preset(preset))
    if fast:
        settings["dci"].update({"backend": "auto", "n_jobs": -1})
    for metric, values in (overrides or {}).items():
        if metric not in settings:
            raise SlowVAEError(f"settings override for unknown metric {metric!r}")
        unknown = set(values) - set(settings[metric])
        if unknown:
            raise SlowVAEError(f"unknown setting(s) for {metric}: {', '.join(sorted(unknown))}")
        settings[metric].update(values)
    return settings


def samples_needed(
    preset: str = "dlib",
    metrics: Iterable[str] | None = None,
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[int, int]:
    """How many (train, test) code/factor rows the array metrics of ``preset`` use.

    ``metrics`` defaults to every array metric; the sampling metrics draw their own images and need
    no rows. Returns ``(num_train, num_test)``; ``num_test`` is 0 when no selected metric has a test set.
    """
    settings = resolve_settings(preset, overrides=overrides)
    names = _check_metrics(metrics) or [m for m in METRICS if m not in SAMPLING_METRICS]
    arrays = [m for m in names if m not in SAMPLING_METRICS]
    num_train = max((settings[m]["num_train"] for m in arrays), default=0)
    num_test = max((settings[m]["num_test"] for m in arrays if m in TEST_METRICS), default=0)
    return int(num_train), int(num_test)


def _seed_info(rng: Any) -> tuple[np.random.Generator, dict[str, Any]]:
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng)), {"seed": int(rng)}
    if isinstance(rng, np.random.Generator):
        seq = getattr(rng.bit_generator, "seed_seq", None)
        info: dict[str, Any] = {"seed": None}
        if isinstance(seq, np.random.SeedSequence):
            entropy = seq.entropy
            info["seed"] = int(entropy) if isinstance(entropy, (int, np.integer)) else [int(e) for e in entropy]
            if seq.spawn_key:
                info["seed_spawn_key"] = [int(x) for x in seq.spawn_key]
        return rng, info
    raise SlowVAEError("rng must be an int seed or a numpy.random.Generator")


def _scalar(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    return value


def _errors_of(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return f"{type(err).__name__}: {text}" if not isinstance(err, SlowVAEError) else text


def compute_suite(
    codes: np.ndarray | None,
    factors: np.ndarray | None,
    *,
    test_codes: np.ndarray | None = None,
    test_factors: np.ndarray | None = None,
    dataset: Any = None,
    encode: Callable[[np.ndarray], np.ndarray] | None = None,
    metrics: Iterable[str] | None = None,
    preset: str = "dlib",
    fast: bool = False,
    rng: np.random.Generator | int,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    details: bool = False,
) -> dict[str, Any]:
    """Score codes (N, D) against factors (N, K) (and test arrays (M, D), (M, K)) with the suite.

    Each array metric uses the first ``num_train`` rows of ``preset`` (all rows when fewer are
    given) and the first ``num_test`` test rows. Without test arrays, metrics with a test set split
    the given rows with a seeded generator (a third for test, at most ``num_test`` rows).
    ``beta_vae`` / ``factor_vae`` sample images from ``dataset`` and score ``encode`` (images ->
    codes (n, D)). ``metrics=None`` runs every array metric, and the sampling ones when a dataset
    and an encoder are given. ``fast`` selects the fast DCI path (LightGBM where installed, else
    scikit-learn's histogram booster; factors in parallel). Every metric has its own random stream
    derived from ``rng``, so a metric's numbers do not depend on which others run.

    Returns flat keys (see ``RESULT_KEYS``), ``<metric>_error`` for metrics that failed, and
    ``settings``; with ``details=True`` also ``details``: each metric's full output (arrays as lists).
    Raises :class:`SlowVAEError` for bad input (shapes, NaN, non-integer factors, a requested metric
    that needs a dataset, D < K for a requested MCC).
    """
    root, seed_info = _seed_info(rng)
    settings = resolve_settings(preset, fast, overrides)
    explicit = _check_metrics(metrics)
    have_arrays = codes is not None or factors is not None
    if have_arrays:
        if codes is None or factors is None:
            raise SlowVAEError("give both codes and factors")
        codes, factors = check_pair(codes, factors)
        if (test_codes is None) != (test_factors is None):
            raise SlowVAEError("give both test_codes and test_factors, or neither")
        if test_codes is not None:
            test_codes, test_factors = check_test_pair(codes, factors, test_codes, test_factors)
    elif test_codes is not None or test_factors is not None:
        raise SlowVAEError("test arrays were given without train arrays")
    have_sampler = dataset is not None and encode is not None
    if explicit is None:
        selected = [m for m in METRICS if m not in SAMPLING_METRICS] if have_arrays else []
        if have_sampler:
            selected += list(SAMPLING_METRICS)
        if not selected:
            raise SlowVAEError("nothing to score: give codes and factors, or a dataset and an encoder")
    else:
        selected = explicit
        for m in selected:
            if m in SAMPLING_METRICS and not have_sampler:
                raise SlowVAEError(
                    f"metric {m} samples images: it needs a dataset and an encoder (only arrays were given); "
                    "use `slowvae evaluate RUN_DIR` for a trained model"
                )
            if m not in SAMPLING_METRICS and not have_arrays:
                raise SlowVAEError(f"metric {m} needs codes and factors")
        if "mcc" in selected and codes.shape[1] < factors.shape[1]:
            raise SlowVAEError(
                f"MCC needs at least as many latents as factors: D = {codes.shape[1]} < K = {factors.shape[1]}"
            )
    if "dci" in selected:
        settings["dci"]["backend"] = resolve_backend(settings["dci"]["backend"])
        if settings["dci"]["n_jobs"] == -1:
            k = factors.shape[1] if have_arrays else 1
            settings["dci"]["n_jobs"] = max(1, min(k, os.cpu_count() or 1))

    base_entropy = int(root.integers(0, 2**63 - 1))

    def stream(name: str) -> np.random.Generator:
        index = METRICS.index(name) if name in METRICS else len(METRICS)
        return np.random.default_rng(np.random.SeedSequence(base_entropy, spawn_key=(index,)))

    split_info: dict[str, Any] = {"source": "given test arrays" if test_codes is not None else "none"}
    needs_test = [m for m in selected if m in TEST_METRICS]
    if have_arrays and needs_test and test_codes is None:
        max_test = max(settings[m]["num_test"] for m in needs_test)
        n = codes.shape[0]
        if n < 2:
            raise SlowVAEError(f"need at least 2 rows to split off a test set, got {n}")
        n_test = min(max_test, max(1, n // 3))
        perm = stream("split").permutation(n)
        test_codes, test_factors = codes[perm[:n_test]], factors[perm[:n_test]]
        split_codes, split_factors = codes[perm[n_test:]], factors[perm[n_test:]]
        split_info = {"source": "seeded split of the given rows", "num_test": int(n_test),
                      "num_train": int(n - n_test)}
    else:
        split_codes, split_factors = codes, factors

    results: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    used: dict[str, dict[str, Any]] = {}
    for name in selected:
        cfg = dict(settings[name])
        try:
            if name in SAMPLING_METRICS:
                fn = beta_vae_score if name == "beta_vae" else factor_vae_score
                out = fn(dataset, encode, stream(name), **cfg)
                flat = {f"{name}_train": out["train_accuracy"], f"{name}_eval": out["eval_accuracy"]}
                if name == "factor_vae":
                    flat["factor_vae_num_active_dims"] = out["num_active_dims"]
            else:
                tr_c, tr_f = (split_codes, split_factors) if name in TEST_METRICS else (codes, factors)
                n_tr = min(cfg.pop("num_train"), tr_c.shape[0])
                x, y = tr_c[:n_tr], tr_f[:n_tr]
                used[name] = {"num_train": int(n_tr)}
                if name in TEST_METRICS:
                    n_te = min(cfg.pop("num_test"), test_codes.shape[0])
                    xt, yt = test_codes[:n_te], test_factors[:n_te]
                    used[name]["num_test"] = int(n_te)
                if name == "mcc":
                    out = mcc(x, y, correlation=cfg["correlation"], pad=cfg["pad"], rng=stream(name))
                elif name == "mig":
                    out = mig(x, y, **cfg)
                elif name == "sap":
                    out = sap(x, y, xt, yt, **cfg)
                elif name == "dci":
                    out = dci(x, y, xt, yt, rng=stream(name), **cfg)
                elif name == "modularity":
                    out = modularity(x, y, **cfg)
                elif name == "explicitness":
                    out = explicitness(x, y, xt, yt, rng=stream(name), **cfg)
                elif name == "unsupervised":
                    out = unsupervised(x, **cfg)
                else:
                    out = irs(x, y, **cfg)
                flat = {key: out.get(key) for key in RESULT_KEYS[name]}
            bad = [k for k, v in flat.items() if isinstance(v, float) and not np.isfinite(v)]
            for key in bad:
                flat[key] = None
            results.update({k: _scalar(v) for k, v in flat.items()})
            if bad:
                results[f"{name}_error"] = f"not finite on this input: {', '.join(bad)}"
            if details:
                detail[name] = {k: (v.tolist() if isinstance(v, np.ndarray) else _scalar(v)) for k, v in out.items()}
        except SlowVAEError as err:
            if explicit is not None and name == "mcc" and "latents" in str(err):
                raise
            results.update({key: None for key in RESULT_KEYS[name]})
            results[f"{name}_error"] = _errors_of(err)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as err:
            results.update({key: None for key in RESULT_KEYS[name]})
            results[f"{name}_error"] = _errors_of(err)

    import scipy
    import sklearn

    from slowvae import __version__

    results["settings"] = {
        "preset": preset,
        "fast": bool(fast),
        **seed_info,
        "metrics": selected,
        "metric_settings": {m: settings[m] for m in selected},
        "rows_used": used,
        "test_split": split_info,
        "versions": {"slowvae": __version__, "numpy": np.__version__, "scipy": scipy.__version__,
                     "scikit-learn": sklearn.__version__},
    }
    if "dci" in selected and settings["dci"]["backend"] == "lightgbm":
        import lightgbm

        results["settings"]["versions"]["lightgbm"] = lightgbm.__version__
    if details:
        results["details"] = detail
    return results
