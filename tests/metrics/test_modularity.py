import numpy as np
import pytest
from metric_testutils import make_factors, standardise

from slowvae.errors import SlowVAEError
from slowvae.metrics import explicitness, modularity, modularity_explicitness
from slowvae.metrics.modularity import modularity_from_mi

SMALL = (3, 6, 10, 8, 8)


@pytest.mark.parametrize("case", ["identity_noise", "random"])
def test_modularity_explicitness_parity(case, expected, parity_case):
    data = parity_case(case)
    ref = expected["array_cases"][case]
    out = modularity_explicitness(data["codes_train"], data["factors_train"], data["codes_test"], data["factors_test"])
    assert out["modularity"] == pytest.approx(ref["modularity"], abs=1e-6)
    assert out["explicitness_train"] == pytest.approx(ref["explicitness_train"], abs=1e-4)
    assert out["explicitness_test"] == pytest.approx(ref["explicitness_test"], abs=1e-4)
    np.testing.assert_allclose(out["explicitness_per_factor_test"], ref["explicitness_per_factor_test"], atol=1e-4)


def test_modularity_formula():
    mi = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [2.0, 1.0, 1.0]])
    # delta = (sum m^2 - max m^2) / (max m^2 (K - 1))
    np.testing.assert_allclose(modularity_from_mi(mi), [1.0, 0.5, 0.0, 1 - 2 / 8])


def test_modularity_identity_one_rotated_lower():
    f = make_factors(4000, SMALL)
    z = standardise(f, SMALL)
    assert modularity(z, f)["modularity"] > 0.99
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((5, 5)))
    assert modularity(z @ q, f)["modularity"] < 0.9


def test_explicitness_binariser_is_fitted_on_train_classes():
    """dlib re-fits MultiLabelBinarizer on the test labels: a class absent from the test rows
    misaligns the one-hot columns with predict_proba (roc_auc_score error)."""
    f = make_factors(3000, (4, 5), seed=3)
    z = f + 0.3 * np.random.default_rng(1).standard_normal(f.shape)
    test = f[:, 0] != 3  # factor 0 never takes value 3 in the test rows
    tr, te = slice(0, 2000), np.nonzero(test[2000:])[0] + 2000
    with pytest.raises(SlowVAEError, match="misalign"):
        explicitness(z[tr], f[tr], z[te], f[te], binarizer="refit")
    fixed = explicitness(z[tr], f[tr], z[te], f[te])
    assert 0.9 < fixed["explicitness_test"] <= 1.0
    # with every class present, both binarisers agree exactly
    a = explicitness(z[tr], f[tr], z[2000:], f[2000:])
    b = explicitness(z[tr], f[tr], z[2000:], f[2000:], binarizer="refit")
    assert a["explicitness_test"] == b["explicitness_test"]


def test_explicitness_constant_latent():
    f = make_factors(1500, (4, 5), seed=4)
    z = np.concatenate([f + 0.3 * np.random.default_rng(2).standard_normal(f.shape), np.zeros((1500, 1))], axis=1)
    with pytest.raises(SlowVAEError, match="constant"):
        explicitness(z[:1000], f[:1000], z[1000:], f[1000:], zero_std="error")
    out = explicitness(z[:1000], f[:1000], z[1000:], f[1000:], zero_std="one")
    ref = explicitness(z[:1000, :2], f[:1000], z[1000:, :2], f[1000:])
    assert out["explicitness_test"] == pytest.approx(ref["explicitness_test"], abs=1e-3)
