"""BetaVAE and FactorVAE scores on the parity README's stand-in dataset (images = factors)."""

import numpy as np
import pytest
from metric_testutils import FactorImages, representation

from slowvae.errors import SlowVAEError
from slowvae.metrics import beta_vae_score, factor_vae_score

FNS = {"beta_vae_sklearn": beta_vae_score, "factor_vae": factor_vae_score}


def _parity(kind, metric, expected):
    ref = expected["sampling_metrics"]["results"][kind][metric]["summary"]
    runs = [FNS[metric](FactorImages(), representation(kind, s), np.random.default_rng(s)) for s in range(5)]
    for key in ("train_accuracy", "eval_accuracy"):
        new = np.array([r[key] for r in runs])
        if ref[key]["mean"] == 1.0 and ref[key]["std_ddof1"] == 0.0:
            assert new.mean() >= 0.999
        else:  # the README's rule for means over 5 seeds
            tol = 3 * np.sqrt(ref[key]["std_ddof1"] ** 2 / 5 + new.std(ddof=1) ** 2 / 5) + 0.002
            assert abs(new.mean() - ref[key]["mean"]) <= tol, (key, new.mean(), ref[key]["mean"], tol)


@pytest.mark.parametrize("metric", list(FNS))
def test_sampling_parity_identity(metric, expected):
    _parity("identity_noise", metric, expected)


@pytest.mark.parametrize("metric", list(FNS))
def test_sampling_parity_random(metric, expected):
    _parity("random", metric, expected)


@pytest.mark.parametrize("fn", [beta_vae_score, factor_vae_score])
def test_random_code_near_chance_small_counts(fn):
    out = fn(FactorImages(), representation("random", 0), np.random.default_rng(0), num_train=1500, num_eval=1000)
    assert 0.1 < out["eval_accuracy"] < 0.3  # chance is 1/5


def test_seeded():
    a = beta_vae_score(
        FactorImages(), representation("identity_noise", 0), np.random.default_rng(3), num_train=200, num_eval=100
    )
    b = beta_vae_score(
        FactorImages(), representation("identity_noise", 0), np.random.default_rng(3), num_train=200, num_eval=100
    )
    assert a == b


def test_factor_vae_constant_latent_with_zero_threshold():
    """disent hard-codes prune threshold 0: a constant latent gives 0/0 = NaN and argmin picks it for
    every vote (perfect code -> 0.28). Zero-variance latents are always inactive here."""
    out = factor_vae_score(
        FactorImages(),
        representation("constant_dim", 0),
        np.random.default_rng(0),
        num_train=1000,
        num_eval=500,
        num_variance_estimate=2000,
        prune_threshold=0.0,
    )
    assert out["train_accuracy"] == pytest.approx(1.0)
    assert out["eval_accuracy"] == pytest.approx(1.0)
    assert out["num_active_dims"] == 9


def test_factor_vae_votes_name_real_latents():
    """dlib indexes the vote matrix by position among the active latents (and reports
    num_active_dims = D); here each column is the real latent index."""
    out = factor_vae_score(
        FactorImages(),
        representation("constant_dim", 1),
        np.random.default_rng(1),
        num_train=1000,
        num_eval=500,
        num_variance_estimate=2000,
    )
    votes = out["votes_train"]
    assert votes[:, 1].sum() == 0  # the constant latent never wins
    # factor k lives in latent k for k = 0 and in latent k + 1 for k >= 1 (latent 1 is the constant)
    assert np.argmax(votes, axis=1).tolist() == [0, 2, 3, 4, 5]
    assert out["num_active_dims"] == 9
    assert votes.sum() == 1000 and out["votes_eval"].sum() == 500


def test_factor_vae_no_active_latent_scores_zero():
    out = factor_vae_score(
        FactorImages(),
        lambda x: np.zeros((len(x), 3)),
        np.random.default_rng(0),
        num_train=50,
        num_eval=20,
        num_variance_estimate=100,
    )
    assert out["train_accuracy"] == 0.0 and out["num_active_dims"] == 0


def test_bad_dataset_and_encoder():
    with pytest.raises(SlowVAEError, match="dataset"):
        beta_vae_score(object(), lambda x: x, np.random.default_rng(0))
    with pytest.raises(SlowVAEError, match="NaN"):
        beta_vae_score(
            FactorImages(), lambda x: np.full((len(x), 2), np.nan), np.random.default_rng(0), num_train=5, num_eval=5
        )
    with pytest.raises(SlowVAEError, match="shape"):
        factor_vae_score(FactorImages(), lambda x: np.zeros(len(x)), np.random.default_rng(0), num_train=5, num_eval=5)
