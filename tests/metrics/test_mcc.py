import numpy as np
import pytest
from metric_testutils import make_factors, standardise

from slowvae.errors import SlowVAEError
from slowvae.metrics import mcc

SIZES = (3, 6, 10, 8, 8)


@pytest.mark.parametrize("case", ["identity_noise", "random"])
def test_mcc_parity(case, expected, parity_case):
    data = parity_case(case)
    ref = expected["array_cases"][case]
    out = mcc(data["codes_train"], data["factors_train"])
    assert out["mcc"] == pytest.approx(ref["mcc_spearman"], abs=1e-6)
    assert out["mcc_pearson"] == pytest.approx(ref["mcc_pearson"], abs=1e-6)
    assert out["mcc_dim_for_factor"].tolist() == ref["mcc_spearman_assignment_dim_for_factor"]
    assert out["mcc_pearson_dim_for_factor"].tolist() == ref["mcc_pearson_assignment_dim_for_factor"]
    np.testing.assert_allclose(out["mcc_abs_corr"], ref["mcc_spearman_abs_corr_matrix_DxK"], atol=1e-9)
    np.testing.assert_allclose(out["mcc_pearson_abs_corr"], ref["mcc_pearson_abs_corr_matrix_DxK"], atol=1e-9)


def test_permuted_signflipped_identity_scores_one():
    f = make_factors(2000, SIZES)
    z = standardise(f, SIZES)[:, [3, 0, 4, 1, 2]] * np.array([1, -1, 1, -1, 2.0])
    z = np.concatenate([z, np.random.default_rng(1).standard_normal((2000, 3))], axis=1)
    out = mcc(z, f)
    assert out["mcc"] == pytest.approx(1.0, abs=1e-12)
    assert out["mcc_pearson"] == pytest.approx(1.0, abs=1e-12)
    assert out["mcc_dim_for_factor"].tolist() == [1, 3, 4, 0, 2]
    # Spearman is invariant to a monotone transform, Pearson is not
    out2 = mcc(np.exp(3 * z), f)
    assert out2["mcc"] == pytest.approx(1.0, abs=1e-12)
    assert out2["mcc_pearson"] < 0.95


def test_random_near_zero_rotated_between():
    f = make_factors(4000, SIZES, seed=3)
    rng = np.random.default_rng(4)
    assert mcc(rng.standard_normal((4000, 5)), f)["mcc"] < 0.06
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    rotated = mcc(standardise(f, SIZES) @ q, f)["mcc"]
    assert 0.2 < rotated < 0.95


def test_padded_form_matches_unpadded_on_clear_case_and_is_seeded():
    f = make_factors(3000, SIZES, seed=5)
    rng = np.random.default_rng(6)
    z = np.concatenate(
        [standardise(f, SIZES) + 0.1 * rng.standard_normal((3000, 5)), rng.standard_normal((3000, 5))], axis=1
    )
    a = mcc(z, f)
    b = mcc(z, f, pad=True, rng=np.random.default_rng(0))
    c = mcc(z, f, pad=True, rng=np.random.default_rng(0))
    assert b["mcc"] == c["mcc"]
    assert b["mcc_dim_for_factor"].tolist() == a["mcc_dim_for_factor"].tolist()
    assert b["mcc"] == pytest.approx(a["mcc"], abs=1e-12)
    with pytest.raises(SlowVAEError, match="Generator"):
        mcc(z, f, pad=True)


def test_constant_latent_counts_as_zero_correlation():
    f = make_factors(500, (4, 5))
    z = np.stack([f[:, 0] + 0.0, np.zeros(500), f[:, 1] * 2.0], axis=1)
    out = mcc(z, f)
    assert out["mcc"] == pytest.approx(1.0)
    assert out["mcc_num_nan_set_to_0"] == 2


def test_only_requested_correlation():
    f = make_factors(300, (4, 5))
    out = mcc(f * 1.0, f, correlation="pearson")
    assert "mcc" not in out and out["mcc_pearson"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "codes, factors, message",
    [
        (np.zeros((10, 2)), np.zeros((10, 3), int), "D = 2 < K = 3"),
        (np.zeros((10, 3)), np.zeros((9, 3), int), "N = 10 rows but factors have 9"),
        (np.full((10, 3), np.nan), np.zeros((10, 3), int), "NaN"),
        (np.zeros(10), np.zeros((10, 3), int), "2-D"),
        (np.zeros((10, 3)), np.full((10, 3), np.inf), "factors contains 30 NaN or infinite"),
    ],
)
def test_bad_input(codes, factors, message):
    with pytest.raises(SlowVAEError, match=message):
        mcc(codes, factors)


def test_continuous_latents_are_accepted():
    rng = np.random.default_rng(0)
    latents = rng.normal(size=(500, 3))  # KITTI Masks-style continuous ground truth
    codes = np.concatenate([-(latents[:, [2, 0, 1]] ** 3), rng.normal(size=(500, 2))], axis=1)
    out = mcc(codes, latents)
    assert out["mcc"] == pytest.approx(1.0)  # Spearman: invariant to the monotone cube and the sign
    assert list(out["mcc_dim_for_factor"]) == [1, 2, 0]
    assert out["mcc_pearson"] < 0.95


@pytest.mark.parametrize(
    ("order", "expected"),
    [((0, 1, 2), 0.9427), ((2, 1, 0), 0.9427), ((0, 2, 1), 0.4472), ((1, 0, 2), 0.4816)],
)
def test_spearman_reads_a_categorical_code_only_in_the_labels_order(order, expected):
    """A latent that separates three shapes perfectly scores 0.943 (the tie-rank cap) when it
    keeps the labels' order, and 0.447 with the middle class moved to one end: the class sizes
    of the 10,000 evaluation frames of the long-budget study (benchmarks/categorical_codes.py)."""
    labels = np.repeat([0.0, 1.0, 2.0], [3222, 3397, 3381])
    code = np.asarray(order, dtype=float)[labels.astype(int)] + np.linspace(0.0, 1e-3, labels.size)
    out = mcc(np.stack([code, np.zeros_like(code)], axis=1), labels[:, None], correlation="spearman")
    assert out["mcc_per_factor"][0] == pytest.approx(expected, abs=1e-4)
