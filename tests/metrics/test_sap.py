import numpy as np
import pytest
from metric_testutils import make_factors, standardise

from slowvae.errors import SlowVAEError
from slowvae.metrics import sap

SMALL = (3, 6, 10, 8, 8)


@pytest.mark.parametrize("case", ["identity_noise", "random"])
def test_sap_parity(case, expected, parity_case):
    data = parity_case(case)
    ref = expected["array_cases"][case]
    out = sap(data["codes_train"], data["factors_train"], data["codes_test"], data["factors_test"])
    assert out["sap"] == pytest.approx(ref["sap"], abs=1e-6)
    np.testing.assert_allclose(out["sap_score_matrix"], ref["sap_score_matrix_DxK"], atol=1e-9)


def test_continuous_identity_random_and_duplicate():
    f = make_factors(3000, SMALL)
    z = standardise(f, SMALL)
    rng = np.random.default_rng(0)
    assert sap(z, f, continuous=True)["sap"] == pytest.approx(1.0, abs=2e-3)
    assert sap(rng.standard_normal((3000, 5)), f, continuous=True)["sap"] < 0.01
    # a duplicated latent leaves no gap for its factor
    dup = sap(np.concatenate([z, z[:, :1]], axis=1), f, continuous=True)
    assert dup["sap_per_factor"][0] == pytest.approx(0.0, abs=1e-9)


def test_discrete_single_valued_factor_and_needs_test():
    f = make_factors(600, (3, 4), seed=1)
    f[:, 1] = 2
    z = f + 0.01 * np.random.default_rng(0).standard_normal(f.shape)
    out = sap(z[:400], f[:400], z[400:], f[400:])
    assert out["sap_per_factor"][1] == 0.0
    assert out["sap_per_factor"][0] > 0.2  # 1-D one-vs-rest SVMs cannot isolate a middle class
    with pytest.raises(SlowVAEError, match="test_codes"):
        sap(z, f)
