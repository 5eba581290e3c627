import numpy as np
import pytest
from metric_testutils import make_factors, standardise

from slowvae.errors import SlowVAEError
from slowvae.metrics import mig
from slowvae.metrics.utils import discrete_mutual_info, histogram_discretize

SMALL = (3, 6, 10, 8, 8)  # every factor fits in 20 bins: a perfect code can reach 1


@pytest.mark.parametrize("case", ["identity_noise", "random"])
def test_mig_parity(case, expected, parity_case):
    data = parity_case(case)
    ref = expected["array_cases"][case]
    out = mig(data["codes_train"], data["factors_train"])
    assert out["mig"] == pytest.approx(ref["mig"], abs=1e-6)
    np.testing.assert_allclose(out["mig_mutual_info"], ref["mig_mutual_info_matrix_DxK_nats"], atol=1e-9)
    np.testing.assert_allclose(out["mig_factor_entropy"], ref["mig_factor_entropy_nats"], atol=1e-9)


def test_mutual_info_matches_sklearn():
    from sklearn.metrics import mutual_info_score

    rng = np.random.default_rng(0)
    z = rng.standard_normal((3000, 3))
    f = make_factors(3000, (4, 7), seed=1)
    z[:, 0] += f[:, 0]
    m = discrete_mutual_info(histogram_discretize(z, 20), f)
    d = histogram_discretize(z, 20)
    for i in range(3):
        for k in range(2):
            assert m[i, k] == pytest.approx(mutual_info_score(f[:, k], d[:, i]), abs=1e-12)


def test_identity_near_one_random_near_zero_rotated_between():
    f = make_factors(5000, SMALL)
    rng = np.random.default_rng(2)
    assert mig(standardise(f, SMALL), f)["mig"] > 0.99
    assert mig(rng.standard_normal((5000, 5)), f)["mig"] < 0.02
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    assert 0.02 < mig(standardise(f, SMALL) @ q, f)["mig"] < 0.6


def test_duplicated_latent_lowers_mig():
    f = make_factors(5000, SMALL)
    z = standardise(f, SMALL)
    base = mig(z, f)["mig"]
    dup = mig(np.concatenate([z, z[:, :1]], axis=1), f)
    assert dup["mig_per_factor"][0] == pytest.approx(0.0, abs=1e-12)
    assert dup["mig"] < base - 0.15


def test_single_valued_factor_gives_no_nan():
    f = make_factors(2000, SMALL)
    f[:, 2] = 4  # dlib: H = 0 -> 0/0 = NaN for the whole score
    out = mig(standardise(f, SMALL), f)
    assert np.isfinite(out["mig"]) and out["mig"] > 0.99
    assert out["mig_num_constant_factors"] == 1
    assert out["mig_per_factor"][2] == 0.0
    with pytest.raises(SlowVAEError, match="single value"):
        mig(np.ones((10, 2)), np.zeros((10, 2), int))


def test_uses_every_row():
    f = make_factors(1000, (4, 5))
    z = f.astype(float)
    assert mig(z, f)["mig_mutual_info"].shape == (2, 2)
    assert mig(z[:999], f[:999])["mig"] > 0.99
