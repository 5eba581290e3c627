import warnings

import numpy as np
import pytest
from scipy import stats

from slowvae.errors import SlowVAEError
from slowvae.metrics import udr
from slowvae.metrics.udr import relative_strength


def test_identity_matrix_scores_one():
    assert relative_strength(np.eye(5)) == pytest.approx(1.0)


def test_all_ones_matrix_scores_a_third():
    score = relative_strength(np.ones((3, 3)))
    assert 0.3 < score < 0.4
    assert score == pytest.approx(1 / 3)


def _factors(n=2000, d=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


@pytest.mark.parametrize("correlation", ["lasso", "spearman"])
def test_permuted_and_sign_flipped_codes_score_high(correlation):
    z = _factors()
    rng = np.random.default_rng(1)
    codes, kls = [], []
    for m in range(3):
        perm = rng.permutation(4)
        signs = rng.choice([-1.0, 1.0], size=4)
        codes.append(z[:, perm] * signs * (m + 1) + 0.05 * rng.standard_normal(z.shape))
        kls.append(np.ones(4))
    out = udr(codes, kls, correlation=correlation, rng=0)
    assert out["model_scores"].shape == (3,)
    assert out["pairwise_scores"].shape == (3, 3)
    assert np.all(out["model_scores"] > 0.8)
    # mixed codes (random rotations) score clearly lower
    mixed = [z @ np.linalg.qr(rng.standard_normal((4, 4)))[0] for _ in range(3)]
    low = udr(mixed, kls, correlation=correlation, rng=0)["model_scores"]
    assert np.all(low < out["model_scores"].min() - 0.2)


def test_filtering_low_kl_latents_raises_the_score():
    # two informative latents (permuted between models) and ten collapsed ones with KL below 0.01
    z = _factors(d=2)
    rng = np.random.default_rng(3)
    codes, kls = [], []
    for m in range(3):
        noise = 0.01 * rng.standard_normal((len(z), 10))
        informative = z[:, ::-1] if m % 2 else z
        codes.append(np.concatenate([noise, informative], axis=1)[:, rng.permutation(12)])
        kls.append(np.where(np.abs(codes[-1]).std(axis=0) > 0.1, 2.0, 0.001))
    unfiltered = udr(codes, kls, filter_low_kl=False)["model_scores"]
    filtered = udr(codes, kls, filter_low_kl=True)["model_scores"]
    assert np.all(unfiltered < 0.2)
    assert np.all(filtered > 0.8)


def test_small_case_by_hand():
    # a = ranks (1, 2, 3, 4) and (2, 1, 4, 3): Spearman rho(a0, a1) = 1 - 6 * 4 / (4 * 15) = 0.6.
    # b = (a1, -a0): R(a -> b) = [[0.6, 1], [1, 0.6]]; each column and row gives 1 / 1.6 = 0.625.
    a = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 4.0], [4.0, 3.0]])
    b = np.stack([a[:, 1], -a[:, 0]], axis=1)
    out = udr([a, b], [np.ones(2), np.ones(2)], correlation="spearman")
    np.testing.assert_allclose(out["pairwise_scores"], [[0.0, 0.625], [0.625, 0.0]])
    np.testing.assert_allclose(out["model_scores"], [0.625, 0.625])
    # lasso, one latent each: on standardised x and y = x (from -3 a), Lasso's soft threshold gives
    # |w| = x.y / N - alpha = 1 - 0.1 = 0.9, and R = [[0.9]] scores 0.9**2 / 0.9 = 0.9
    x = a[:, :1]
    out = udr([x, -3 * x + 7], [np.ones(1), np.ones(1)])
    np.testing.assert_allclose(out["pairwise_scores"], [[0.0, 0.9], [0.9, 0.0]], atol=1e-9)


def test_model_score_is_the_median_of_its_column():
    z = _factors(d=3)
    rng = np.random.default_rng(5)
    codes = [z, z[:, [2, 0, 1]], z @ np.linalg.qr(rng.standard_normal((3, 3)))[0]]
    out = udr(codes, [np.ones(3)] * 3)
    s = out["pairwise_scores"]
    for i in range(3):
        assert out["model_scores"][i] == pytest.approx(np.median([s[j, i] for j in range(3) if j != i]))


def test_bad_input_is_a_clear_error():
    with pytest.raises(SlowVAEError, match="at least two"):
        udr([np.zeros((5, 2))], [np.ones(2)])
    with pytest.raises(SlowVAEError, match="rows"):
        udr([np.zeros((5, 2)), np.zeros((4, 2))], [np.ones(2)] * 2)
    with pytest.raises(SlowVAEError, match="correlation"):
        udr([np.zeros((5, 2))] * 2, [np.ones(2)] * 2, correlation="pearson")


def _direct_spearman_pairwise(codes, kls, filter_low_kl):
    """S[i, j] from an independent per-pair computation: |spearmanr(x, y)| of each 1-D column pair of the
    standardised, KL-masked codes, NaN (a constant column) taken as 0."""
    scaled = []
    for c, k in zip(codes, kls):
        std = c.std(axis=0)
        std[std == 0] = 1.0
        scaled.append((c - c.mean(axis=0)) / std * (k > 0.01))
    m = len(codes)
    out = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            if i == j:
                continue
            r = np.zeros((codes[i].shape[1], codes[j].shape[1]))
            for a in range(r.shape[0]):
                for b in range(r.shape[1]):
                    with np.errstate(all="ignore"), warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        rho = stats.spearmanr(scaled[i][:, a], scaled[j][:, b])[0]
                    r[a, b] = 0.0 if np.isnan(rho) else abs(rho)
            if filter_low_kl:
                r = r[kls[i] > 0.01][:, kls[j] > 0.01]
            out[i, j] = relative_strength(r)
    return out


@pytest.mark.parametrize("dead", [[0], [1], [0, 1], [3], [1, 4]])
def test_spearman_with_dead_latents_matches_a_per_pair_computation(dead):
    # a dead latent (KL <= 0.01) is zeroed; 2-D spearmanr then gave one NaN and UDR an IndexError
    z = _factors(n=300, d=5, seed=7)
    rng = np.random.default_rng(8)
    codes, kls = [], []
    for m in range(3):
        c = z[:, rng.permutation(5)] + 0.3 * rng.standard_normal(z.shape)
        kl = np.full(5, 2.0)
        kl[dead if m != 1 else [4]] = 0.001  # model 1 has its own dead latent
        codes.append(c)
        kls.append(kl)
    for filter_low_kl in (False, True):
        out = udr(codes, kls, correlation="spearman", filter_low_kl=filter_low_kl)
        expected = _direct_spearman_pairwise(codes, kls, filter_low_kl)
        assert np.all(expected[~np.eye(3, dtype=bool)] > 0.1)  # the direct scores are real, not zeros
        np.testing.assert_allclose(out["pairwise_scores"], expected, atol=1e-12)
        assert np.all(np.isfinite(out["model_scores"]))
