"""The metric registry: a new metric is one entry, and it does not change the others' numbers."""

from __future__ import annotations

import numpy as np
import pytest

from slowvae.errors import SlowVAEError
from slowvae.metrics import METRICS, PRESETS, MetricEntry, compute_suite, register_metric, samples_needed


@pytest.fixture
def extra_metric():
    calls = []

    def mean_abs(data, rng, *, scale):
        calls.append((data.codes.shape, data.test_codes.shape, scale, data.codes, data.test_codes))
        return {"value": float(np.abs(data.codes).mean() * scale), "noise": float(rng.random())}

    entry = register_metric(
        MetricEntry(
            "mean_abs",
            mean_abs,
            {"mean_abs": "value"},
            {"num_train": 50, "num_test": 7, "scale": 2.0},
            needs="test",
            presets={"fast": {"scale": 3.0}},
        )
    )
    yield entry, calls
    del METRICS["mean_abs"]
    for preset in PRESETS.values():
        del preset["mean_abs"]


def test_registered_metric_runs_in_the_suite_without_changing_the_others(extra_metric):
    entry, calls = extra_metric
    rng = np.random.default_rng(0)
    codes, factors = rng.normal(size=(90, 4)), rng.integers(0, 3, size=(90, 2))
    with_extra = compute_suite(codes, factors, rng=3)
    ((train_shape, test_shape, scale, used, held_out),) = calls
    assert (train_shape, test_shape, scale) == ((50, 4), (7, 4), 2.0)
    assert with_extra["mean_abs"] == pytest.approx(2.0 * np.abs(used).mean())
    # the rows come from the suite's seeded split: train and test rows are distinct rows of codes
    rows = {tuple(r) for r in codes}
    assert all(tuple(r) in rows for r in used) and not {tuple(r) for r in used} & {tuple(r) for r in held_out}
    assert with_extra["settings"]["test_split"]["num_train"] == 60
    assert with_extra["settings"]["rows_used"]["mean_abs"] == {"num_train": 50, "num_test": 7}
    fast = compute_suite(codes, factors, rng=3, preset="fast", metrics=["mean_abs"])
    assert calls[-1][2] == 3.0 and fast["settings"]["metrics"] == ["mean_abs"]
    assert samples_needed("dlib", ["mean_abs"]) == (50, 7)
    del METRICS["mean_abs"]
    without = compute_suite(codes, factors, rng=3)
    METRICS["mean_abs"] = entry
    for key in ("mig", "sap", "dci_disentanglement", "explicitness_test", "mcc"):
        assert with_extra[key] == without[key], key  # the random streams of the others are unchanged


def test_mcc_asked_for_by_name_raises_and_otherwise_reports_its_error(extra_metric):
    rng = np.random.default_rng(0)
    codes, factors = rng.normal(size=(30, 2)), rng.integers(0, 3, size=(30, 3))
    with pytest.raises(SlowVAEError, match="at least as many latents"):
        compute_suite(codes, factors, rng=0, metrics=["mcc"])  # asked for by name: the entry's check raises
    out = compute_suite(codes, factors, rng=0)
    assert out["mcc"] is None and "D = 2 < K = 3" in out["mcc_error"]


def test_bad_entries_are_refused():
    with pytest.raises(SlowVAEError, match="needs must be one of"):
        MetricEntry("x", lambda d, rng: {}, {}, {}, needs="pixels")
    with pytest.raises(SlowVAEError, match="already registered"):
        register_metric(METRICS["mig"])


def test_the_suite_leaves_out_only_the_metrics_every_evaluation_scores_itself():
    from slowvae.metrics.registry import METRICS, suite_metrics

    assert [m for m in METRICS if METRICS[m].always] == ["mcc"]
    assert "mcc" not in suite_metrics() and set(suite_metrics()) == set(METRICS) - {"mcc"}
    assert suite_metrics(["dci", "mcc", "mig"]) == ["dci", "mig"]


@pytest.mark.parametrize(("threads", "k", "jobs"), [(1, 3, 1), (2, 3, 2), (2, 1, 1)])
def test_exact_dci_fits_factors_in_as_many_processes_as_torch_threads(threads, k, jobs):
    import torch

    rng = np.random.default_rng(0)
    factors = rng.integers(0, 3, size=(300, k))
    codes = factors + 0.3 * rng.standard_normal((300, k))
    small = {"dci": {"num_train": 200, "num_test": 100, "n_estimators": 5}}
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        out = compute_suite(codes, factors, metrics=["dci"], overrides=small, rng=1)
    finally:
        torch.set_num_threads(before)
    one = compute_suite(codes, factors, metrics=["dci"], overrides={"dci": {**small["dci"], "n_jobs": 1}}, rng=1)
    assert PRESETS["dlib"]["dci"]["n_jobs"] == -1
    assert out["settings"]["metric_settings"]["dci"]["n_jobs"] == jobs
    assert one["settings"]["metric_settings"]["dci"]["n_jobs"] == 1
    assert out["dci_disentanglement"] == one["dci_disentanglement"]
    assert out["dci_informativeness_test"] == one["dci_informativeness_test"]
