"""The metric suite: presets of every setting, and one call that scores codes with all metrics.

``compute_suite`` returns flat keys (``mcc``, ``mig``, ``dci_disentanglement``, ...) plus a
``settings`` object holding every setting, the row counts used and the seed, so that a number in a
results file can be reproduced. A metric that cannot be computed on the input gives ``None`` and a
``<metric>_error`` message; the others are still reported.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from slowvae.errors import SlowVAEError
from slowvae.metrics.registry import METRICS, PRESETS, MetricData
from slowvae.metrics.utils import check_pair, check_test_pair, split_train_test

#: the random stream of the seeded train/test split; metric i of METRICS uses stream i (i + 1 from here on)
_SPLIT_STREAM = 10


def _stream_key(name: str) -> int:
    if name == "split":
        return _SPLIT_STREAM
    index = list(METRICS).index(name)
    return index if index < _SPLIT_STREAM else index + 1


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
    order = list(METRICS)
    return sorted(set(names), key=order.index)


def resolve_settings(
    preset: str = "dlib", fast: bool = False, overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Every setting of every metric for ``preset``, with ``fast`` (fast DCI path) and per-metric
    ``overrides`` applied, e.g. ``{"dci": {"num_train": 5000}}``."""
    settings = copy.deepcopy(_preset(preset))
    if fast:
        for metric, entry in METRICS.items():
            settings[metric].update(copy.deepcopy(entry.fast))
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
    names = _check_metrics(metrics) or _array_metrics()
    arrays = [m for m in names if METRICS[m].needs != "images"]
    num_train = max((settings[m]["num_train"] for m in arrays), default=0)
    num_test = max((settings[m]["num_test"] for m in arrays if METRICS[m].needs == "test"), default=0)
    return int(num_train), int(num_test)


def _array_metrics() -> list[str]:
    return [m for m, entry in METRICS.items() if entry.needs != "images"]


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


def _checked_arrays(
    codes: np.ndarray | None,
    factors: np.ndarray | None,
    test_codes: np.ndarray | None,
    test_factors: np.ndarray | None,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """The validated codes (N, D), factors (N, K) and test arrays (M, D), (M, K); all None when no
    arrays are given. A SlowVAEError for a half-given pair, a bad shape or a bad value."""
    if codes is None and factors is None:
        if test_codes is not None or test_factors is not None:
            raise SlowVAEError("test arrays were given without train arrays")
        return None, None, None, None
    if codes is None or factors is None:
        raise SlowVAEError("give both codes and factors")
    codes, factors = check_pair(codes, factors)
    if (test_codes is None) != (test_factors is None):
        raise SlowVAEError("give both test_codes and test_factors, or neither")
    if test_codes is not None:
        test_codes, test_factors = check_test_pair(codes, factors, test_codes, test_factors)
    return codes, factors, test_codes, test_factors


def _selected(
    explicit: list[str] | None, codes: np.ndarray | None, factors: np.ndarray | None, have_sampler: bool
) -> list[str]:
    """The metrics to run: ``explicit`` (checked against the input each needs), or every array
    metric given arrays plus the sampling ones given a dataset and an encoder."""
    have_arrays = codes is not None
    if explicit is None:
        selected = _array_metrics() if have_arrays else []
        if have_sampler:
            selected += [m for m, entry in METRICS.items() if entry.needs == "images"]
        if not selected:
            raise SlowVAEError("nothing to score: give codes and factors, or a dataset and an encoder")
        return selected
    for m in explicit:
        if METRICS[m].needs == "images" and not have_sampler:
            raise SlowVAEError(
                f"metric {m} samples images: it needs a dataset and an encoder (only arrays were given); "
                "use `slowvae evaluate RUN_DIR` for a trained model"
            )
        if METRICS[m].needs != "images" and not have_arrays:
            raise SlowVAEError(f"metric {m} needs codes and factors")
    for m in explicit:
        if METRICS[m].check is not None:
            METRICS[m].check(codes, factors)
    return explicit


def _metric_data(name: str, cfg: dict[str, Any], arrays: dict[str, Any], used: dict[str, dict[str, Any]]) -> MetricData:
    """The input of metric ``name``: the dataset and encoder, or its first ``num_train`` (and
    ``num_test``) rows, popped from its settings ``cfg`` and recorded in ``used``."""
    entry = METRICS[name]
    if entry.needs == "images":
        return MetricData(dataset=arrays["dataset"], encode=arrays["encode"])
    split = entry.needs == "test"
    tr_c, tr_f = (arrays["split_codes"], arrays["split_factors"]) if split else (arrays["codes"], arrays["factors"])
    n_tr = min(cfg.pop("num_train"), tr_c.shape[0])
    data = MetricData(tr_c[:n_tr], tr_f[:n_tr])
    used[name] = {"num_train": int(n_tr)}
    if split:
        n_te = min(cfg.pop("num_test"), arrays["test_codes"].shape[0])
        data.test_codes, data.test_factors = arrays["test_codes"][:n_te], arrays["test_factors"][:n_te]
        used[name]["num_test"] = int(n_te)
    return data


def _score(name: str, data: MetricData, rng: np.random.Generator, cfg: dict[str, Any]) -> tuple[dict, dict | None]:
    """Metric ``name``'s flat result keys (None and ``<name>_error`` where it fails or is not
    finite) and its full output (None where it failed)."""
    entry = METRICS[name]
    try:
        out = entry.function(data, rng, **cfg)
    except (SlowVAEError, ValueError, ArithmeticError, np.linalg.LinAlgError) as err:
        return {**{key: None for key in entry.result_keys}, f"{name}_error": _errors_of(err)}, None
    flat = {key: out.get(source) for key, source in entry.result_keys.items()}
    bad = [key for key, v in flat.items() if isinstance(v, float) and not np.isfinite(v)]
    results = {key: None if key in bad else _scalar(v) for key, v in flat.items()}
    if bad:
        results[f"{name}_error"] = f"not finite on this input: {', '.join(bad)}"
    return results, out


def _settings_record(
    preset: str, fast: bool, seed_info: dict[str, Any], selected: list[str], settings: dict, used: dict, split: dict
) -> dict[str, Any]:
    """The ``settings`` object of a suite's results: everything that reproduces its numbers."""
    import scipy
    import sklearn

    from slowvae import __version__

    record = {
        "preset": preset,
        "fast": bool(fast),
        **seed_info,
        "metrics": selected,
        "metric_settings": {m: settings[m] for m in selected},
        "rows_used": used,
        "test_split": split,
        "versions": {
            "slowvae": __version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
        },
    }
    for m in selected:
        if METRICS[m].versions is not None:
            record["versions"].update(METRICS[m].versions(settings[m]))
    return record


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

    Returns flat keys (each entry's ``result_keys``), ``<metric>_error`` for metrics that failed,
    and ``settings``; with ``details=True`` also ``details``: each metric's full output (arrays as
    lists). Raises :class:`SlowVAEError` for bad input (shapes, NaN, non-integer factors, a
    requested metric that needs a dataset, D < K for a requested MCC).
    """
    root, seed_info = _seed_info(rng)
    settings = resolve_settings(preset, fast, overrides)
    explicit = _check_metrics(metrics)
    codes, factors, test_codes, test_factors = _checked_arrays(codes, factors, test_codes, test_factors)
    selected = _selected(explicit, codes, factors, dataset is not None and encode is not None)
    k = factors.shape[1] if factors is not None else 1
    for m in selected:
        if METRICS[m].resolve is not None:
            METRICS[m].resolve(settings[m], k)

    base_entropy = int(root.integers(0, 2**63 - 1))

    def stream(name: str) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(base_entropy, spawn_key=(_stream_key(name),)))

    arrays = dict(codes=codes, factors=factors, split_codes=codes, split_factors=factors, dataset=dataset)
    arrays.update(test_codes=test_codes, test_factors=test_factors, encode=encode)
    split_info: dict[str, Any] = {"source": "given test arrays" if test_codes is not None else "none"}
    needs_test = [m for m in selected if METRICS[m].needs == "test"]
    if codes is not None and needs_test and test_codes is None:
        max_test = max(settings[m]["num_test"] for m in needs_test)
        split = split_train_test(codes, factors, stream("split"), max_test=max_test)
        arrays.update(zip(("split_codes", "split_factors", "test_codes", "test_factors"), split))
        split_info = {
            "source": "seeded split of the given rows",
            "num_test": int(split[2].shape[0]),
            "num_train": int(split[0].shape[0]),
        }

    results: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    used: dict[str, dict[str, Any]] = {}
    for name in selected:
        cfg = dict(settings[name])
        scores, out = _score(name, _metric_data(name, cfg, arrays, used), stream(name), cfg)
        results.update(scores)
        if details and out is not None:
            detail[name] = {key: (v.tolist() if isinstance(v, np.ndarray) else _scalar(v)) for key, v in out.items()}
    results["settings"] = _settings_record(preset, fast, seed_info, selected, settings, used, split_info)
    if details:
        results["details"] = detail
    return results
