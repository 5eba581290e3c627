"""The metric registry: one entry per metric, carrying its function, result keys, settings of
every preset and what it needs as input. :func:`slowvae.metrics.suite.compute_suite` runs
entries; adding a metric is one :class:`MetricEntry` passed to :func:`register_metric`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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

#: what a metric scores: codes and factors ("train"); also test arrays ("test"); or images it
#: samples from a dataset through ``encode`` ("images")
NEEDS = ("train", "test", "images")
#: the presets every entry gives settings for. ``dlib``: disentanglement_lib's study defaults
#: (unsupervised_study_v1 metric configs). ``slowvae-paper``: as dlib, with MIG and
#: Modularity/Explicitness on 100 000 points as the SlowVAE reference evaluated. ``fast``: reduced
#: counts (disent's ``compute_fast``) and the fast DCI path, for a quick look.
PRESET_NAMES = ("dlib", "slowvae-paper", "fast")


@dataclass
class MetricData:
    """The inputs of one metric call: train rows ``codes`` (N, D) and ``factors`` (N, K), test rows
    (M, D) and (M, K) for "test" metrics, or a ``dataset`` and ``encode(images) -> codes`` for
    "images" metrics (the fields a metric does not need are None)."""

    codes: np.ndarray | None = None
    factors: np.ndarray | None = None
    test_codes: np.ndarray | None = None
    test_factors: np.ndarray | None = None
    dataset: Any = None
    encode: Callable[[np.ndarray], np.ndarray] | None = None


@dataclass(frozen=True)
class MetricEntry:
    """One metric.

    ``function(data, rng, **settings)`` returns the metric's full output (a dict);
    ``result_keys`` maps each flat result key to the key of that output it reports. ``defaults``
    are its settings in the ``dlib`` preset, ``presets`` the changes in the other presets, ``fast``
    the changes the suite's ``fast`` flag makes. For
    "train"/"test" metrics the settings ``num_train`` (and ``num_test``) are row counts the suite
    consumes. Optional hooks: ``check(codes, factors)`` raises for input the metric cannot use
    when it is asked for by name; ``resolve(settings, k)`` fills settings that depend on the
    machine or on K factors; ``versions(settings)`` names extra packages whose versions the
    results record. ``headline`` is the result key a table column named after the metric shows
    (default: the first of ``result_keys``). ``cost(settings)`` gives, for estimates of machine
    time, the images the metric samples and encodes itself and the seconds of its own fitting
    (on 2 CPU cores) beyond the rows the suite encodes for it. ``always`` marks a metric that every
    evaluation computes itself (MCC), so that studies, the suite and reports leave it out of the suite.
    """

    name: str
    function: Callable[..., dict[str, Any]]
    result_keys: dict[str, str]
    defaults: dict[str, Any]
    needs: str = "train"
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    fast: dict[str, Any] = field(default_factory=dict)
    headline: str | None = None
    cost: Callable[[dict[str, Any]], tuple[int, float]] | None = None
    check: Callable[[np.ndarray, np.ndarray], None] | None = None
    resolve: Callable[[dict[str, Any], int], None] | None = None
    versions: Callable[[dict[str, Any]], dict[str, str]] | None = None
    always: bool = False  # scored by every evaluation on its own frames (with an untrained floor), not by the suite

    def __post_init__(self) -> None:
        if self.needs not in NEEDS:
            raise SlowVAEError(f"metric {self.name!r}: needs must be one of {', '.join(NEEDS)}, got {self.needs!r}")
        unknown = set(self.presets) - set(PRESET_NAMES)
        if unknown:
            raise SlowVAEError(f"metric {self.name!r}: unknown preset(s) {', '.join(sorted(unknown))}")

    @property
    def headline_key(self) -> str:
        """The result key that stands for this metric in a table."""
        return self.headline or next(iter(self.result_keys))

    def settings(self, preset: str) -> dict[str, Any]:
        """This metric's settings in ``preset`` (a fresh copy)."""
        return {**copy.deepcopy(self.defaults), **copy.deepcopy(self.presets.get(preset, {}))}


#: metric name -> entry, in report order
METRICS: dict[str, MetricEntry] = {}
#: preset name -> metric -> settings (a view of the entries, kept up to date by register_metric)
PRESETS: dict[str, dict[str, dict[str, Any]]] = {preset: {} for preset in PRESET_NAMES}


def register_metric(entry: MetricEntry) -> MetricEntry:
    """Add ``entry`` to :data:`METRICS` (and its settings to :data:`PRESETS`)."""
    if entry.name in METRICS:
        raise SlowVAEError(f"a metric named {entry.name!r} is already registered")
    METRICS[entry.name] = entry
    for preset in PRESET_NAMES:
        PRESETS[preset][entry.name] = entry.settings(preset)
    return entry


def suite_metrics(names: list[str] | None = None) -> list[str]:
    """The metrics of ``names`` (default: every registered one, in registry order) that the suite
    computes: all but those every evaluation scores itself (``always``)."""
    chosen = list(METRICS) if names is None else names
    return [m for m in chosen if not METRICS[m].always]


def headline_key(name: str) -> str:
    """The result key a column named ``name`` shows: a metric's headline key, any other name itself."""
    return METRICS[name].headline_key if name in METRICS else name


def _same(*keys: str) -> dict[str, str]:
    return {key: key for key in keys}


def _need_latents(codes: np.ndarray, factors: np.ndarray) -> None:
    if codes.shape[1] < factors.shape[1]:
        d, k = codes.shape[1], factors.shape[1]
        raise SlowVAEError(f"MCC needs at least as many latents as factors: D = {d} < K = {k}")


def _resolve_dci(settings: dict[str, Any], k: int) -> None:
    """``n_jobs = -1``: one process per factor, at most torch's thread count (a study worker's
    share of the cores), so parallel factors never oversubscribe the CPU; the numbers do not change."""
    import torch

    settings["backend"] = resolve_backend(settings["backend"])
    if settings["n_jobs"] == -1:
        settings["n_jobs"] = max(1, min(k, torch.get_num_threads()))


def _dci_versions(settings: dict[str, Any]) -> dict[str, str]:
    if settings["backend"] != "lightgbm":
        return {}
    import lightgbm

    return {"lightgbm": lightgbm.__version__}


_LR = {"lr_C": 1.0, "lr_solver": "lbfgs", "lr_max_iter": 100, "lr_tol": 1e-4}

for _entry in (
    # SlowVAE reference (not in dlib): Spearman on 10 000 points, unpadded matching here
    MetricEntry(
        "mcc",
        lambda d, rng, **s: mcc(d.codes, d.factors, rng=rng, **s),
        _same("mcc", "mcc_pearson"),
        {"num_train": 10000, "correlation": "both", "pad": False},
        presets={"fast": {"num_train": 2000}},
        check=_need_latents,
        always=True,
    ),
    MetricEntry(
        "mig",
        lambda d, rng, **s: mig(d.codes, d.factors, **s),
        _same("mig"),
        {"num_train": 10000, "num_bins": 20},
        presets={"slowvae-paper": {"num_train": 100000}, "fast": {"num_train": 2000}},
    ),
    MetricEntry(
        "sap",
        lambda d, rng, **s: sap(d.codes, d.factors, d.test_codes, d.test_factors, **s),
        _same("sap"),
        {
            "num_train": 10000,
            "num_test": 5000,
            "continuous": False,
            "svm_C": 0.01,
            "svm_class_weight": "balanced",
            "svm_max_iter": 1000,
            "svm_tol": 1e-4,
        },
        needs="test",
        presets={"fast": {"num_train": 2000, "num_test": 1000}},
    ),
    MetricEntry(
        "dci",
        lambda d, rng, **s: dci(d.codes, d.factors, d.test_codes, d.test_factors, rng=rng, **s),
        _same("dci_disentanglement", "dci_completeness", "dci_informativeness_train", "dci_informativeness_test"),
        {
            "num_train": 10000,
            "num_test": 5000,
            "backend": "sklearn",
            "n_estimators": 100,
            "max_depth": 3,
            "learning_rate": 0.1,
            "n_jobs": -1,
        },
        needs="test",
        presets={"fast": {"num_train": 1000, "num_test": 500, "backend": "auto"}},
        fast={"backend": "auto"},
        resolve=_resolve_dci,
        versions=_dci_versions,
        cost=lambda s: (0, 300.0 * s["num_train"] / 10000 if s["backend"] == "sklearn" else 0.0),
    ),
    MetricEntry(
        "modularity",
        lambda d, rng, **s: modularity(d.codes, d.factors, **s),
        _same("modularity"),
        {"num_train": 10000, "num_bins": 20},
        presets={"slowvae-paper": {"num_train": 100000}, "fast": {"num_train": 2000}},
    ),
    MetricEntry(
        "explicitness",
        lambda d, rng, **s: explicitness(d.codes, d.factors, d.test_codes, d.test_factors, rng=rng, **s),
        _same("explicitness_train", "explicitness_test"),
        {"num_train": 10000, "num_test": 5000, **_LR, "zero_std": "error", "binarizer": "classes"},
        needs="test",
        presets={
            "slowvae-paper": {"num_train": 100000, "zero_std": "one"},
            "fast": {"num_train": 2000, "num_test": 1000, "zero_std": "one"},
        },
        headline="explicitness_test",
    ),
    MetricEntry(
        "unsupervised",
        lambda d, rng, **s: unsupervised(d.codes, **s),
        _same(
            "gaussian_total_correlation",
            "gaussian_wasserstein_correlation",
            "gaussian_wasserstein_correlation_norm",
            "mutual_info_score",
        ),
        {"num_train": 10000, "num_bins": 20},
        presets={"fast": {"num_train": 2000}},
    ),
    MetricEntry(
        "irs",
        lambda d, rng, **s: irs(d.codes, d.factors, **s),
        _same("irs"),
        {"num_train": 10000, "diff_quantile": 0.99, "factor_bins": None},
        presets={"fast": {"num_train": 2000}},
    ),
    MetricEntry(
        "beta_vae",
        lambda d, rng, **s: beta_vae_score(d.dataset, d.encode, rng, **s),
        {"beta_vae_train": "train_accuracy", "beta_vae_eval": "eval_accuracy"},
        {"batch_size": 64, "num_train": 10000, "num_eval": 5000, **_LR},
        needs="images",
        presets={"fast": {"num_train": 1000, "num_eval": 500}},
        headline="beta_vae_eval",
        cost=lambda s: (2 * s["batch_size"] * (s["num_train"] + s["num_eval"]), 0.0),
    ),
    MetricEntry(
        "factor_vae",
        lambda d, rng, **s: factor_vae_score(d.dataset, d.encode, rng, **s),
        {
            "factor_vae_train": "train_accuracy",
            "factor_vae_eval": "eval_accuracy",
            "factor_vae_num_active_dims": "num_active_dims",
        },
        {
            "batch_size": 64,
            "num_train": 10000,
            "num_eval": 5000,
            "num_variance_estimate": 10000,
            "prune_threshold": 0.05,
        },
        needs="images",
        presets={"fast": {"num_train": 700, "num_eval": 350, "num_variance_estimate": 1000}},
        headline="factor_vae_eval",
        cost=lambda s: (s["batch_size"] * (s["num_train"] + s["num_eval"]) + s["num_variance_estimate"], 0.0),
    ),
):
    register_metric(_entry)
