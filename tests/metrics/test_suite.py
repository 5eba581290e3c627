import json

import numpy as np
import pytest
from metric_testutils import FactorImages, make_factors, representation, standardise

from slowvae.errors import SlowVAEError
from slowvae.metrics import METRICS, PRESETS, compute_suite, samples_needed

SIZES = (3, 6, 8, 5)
FAST_OVERRIDES = {"dci": {"n_estimators": 10}}


def _arrays(n=1200, seed=0):
    f = make_factors(n, SIZES, seed=seed)
    rng = np.random.default_rng(seed + 1)
    z = np.concatenate([standardise(f, SIZES) + 0.1 * rng.standard_normal((n, 4)), rng.standard_normal((n, 2))], axis=1)
    return z, f


def test_flat_keys_settings_and_json():
    z, f = _arrays()
    out = compute_suite(z, f, preset="fast", fast=True, rng=3, overrides=FAST_OVERRIDES)
    for metric in ("mcc", "mig", "sap", "dci", "modularity", "explicitness", "unsupervised", "irs"):
        for key in METRICS[metric].result_keys:
            assert isinstance(out[key], float), key
    assert "beta_vae_train" not in out
    assert out["mcc"] > 0.95 and out["mig"] > 0.5
    s = out["settings"]
    assert s["seed"] == 3 and s["preset"] == "fast" and s["fast"] is True
    assert s["metric_settings"]["dci"]["backend"] in ("lightgbm", "hist")
    assert s["test_split"]["source"].startswith("seeded split")
    assert s["rows_used"]["mig"]["num_train"] == 1200  # train-only metrics use every given row (up to the count)
    json.dumps(out)  # JSON-ready


def test_same_seed_same_numbers_and_metric_streams_independent():
    z, f = _arrays()
    a = compute_suite(z, f, preset="fast", fast=True, rng=np.random.default_rng(7), overrides=FAST_OVERRIDES)
    b = compute_suite(z, f, preset="fast", fast=True, rng=np.random.default_rng(7), overrides=FAST_OVERRIDES)
    only = compute_suite(
        z, f, metrics=["dci"], preset="fast", fast=True, rng=np.random.default_rng(7), overrides=FAST_OVERRIDES
    )
    assert {k: v for k, v in a.items() if k != "settings"} == {k: v for k, v in b.items() if k != "settings"}
    assert only["dci_disentanglement"] == a["dci_disentanglement"]
    assert a["settings"]["seed"] == 7


def test_dlib_explicitness_on_constant_latent_is_null_with_error():
    z, f = _arrays(900)
    z[:, 4] = 0.0
    out = compute_suite(z, f, metrics="mig,explicitness", rng=0)
    assert out["explicitness_train"] is None and out["explicitness_test"] is None
    assert "constant" in out["explicitness_error"]
    assert isinstance(out["mig"], float)
    fixed = compute_suite(z, f, metrics=["explicitness"], preset="slowvae-paper", rng=0)
    assert fixed["explicitness_test"] > 0.9


def test_given_test_arrays_are_used_and_truncated_to_preset():
    z, f = _arrays(3000)
    out = compute_suite(
        z[:2000], f[:2000], test_codes=z[2000:], test_factors=f[2000:], metrics=["sap"], preset="fast", rng=0
    )
    assert out["settings"]["rows_used"]["sap"] == {"num_train": 2000, "num_test": 1000}
    assert out["settings"]["test_split"]["source"] == "given test arrays"


def test_sampling_metrics_through_suite():
    out = compute_suite(
        None, None, dataset=FactorImages(), encode=representation("identity_noise", 0), preset="fast", rng=0
    )
    assert out["settings"]["metrics"] == ["beta_vae", "factor_vae"]
    assert out["beta_vae_eval"] >= 0.99 and out["factor_vae_eval"] >= 0.99
    assert out["factor_vae_num_active_dims"] == 10


def test_samples_needed():
    assert samples_needed("dlib") == (10000, 5000)
    assert samples_needed("slowvae-paper") == (100000, 5000)
    assert samples_needed("slowvae-paper", ["mcc", "sap"]) == (10000, 5000)
    assert samples_needed("fast", "mig,mcc") == (2000, 0)
    assert samples_needed("dlib", ["beta_vae"]) == (0, 0)
    assert set(PRESETS) == {"dlib", "slowvae-paper", "fast"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(metrics=["beta_vae"]), "needs a dataset"),
        (dict(metrics=["nope"]), "unknown metric"),
        (dict(preset="nope"), "unknown preset"),
        (dict(metrics=["mcc"], codes=np.zeros((50, 2))), "D = 2 < K = 4"),
        (dict(test_codes=np.zeros((5, 6))), "both test"),
        (dict(test_codes=np.zeros((5, 3)), test_factors=np.zeros((5, 4), int)), "D = 3"),
        (dict(codes=np.full((50, 6), np.inf)), "NaN or infinite"),
        (dict(factors=np.full((50, 4), 0.5)), "integer"),
        (dict(factors=np.zeros((49, 4), int)), "N must match"),
        (dict(overrides={"dci": {"trees": 3}}), "unknown setting"),
    ],
)
def test_bad_input(kwargs, message):
    z, f = _arrays(50)
    args = {"codes": z, "factors": f, "rng": 0, **kwargs}
    with pytest.raises(SlowVAEError, match=message):
        compute_suite(args.pop("codes"), args.pop("factors"), **args)


def test_default_metrics_with_too_few_latents_report_mcc_error():
    z, f = _arrays(300)
    out = compute_suite(z[:, :2], f, metrics=None, preset="fast", fast=True, rng=0, overrides=FAST_OVERRIDES)
    assert out["mcc"] is None and "D = 2 < K = 4" in out["mcc_error"]
    assert isinstance(out["mig"], float)
