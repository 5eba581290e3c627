import numpy as np
import pytest

from slowvae.errors import SlowVAEError
from slowvae.metrics import compute_suite, unsupervised
from slowvae.metrics.unsupervised import gaussian_total_correlation, gaussian_wasserstein_correlation


def test_gaussian_formulas_known_values():
    rho = 0.6
    cov = np.array([[1.0, rho], [rho, 1.0]])
    assert gaussian_total_correlation(cov) == pytest.approx(-0.5 * np.log(1 - rho**2))
    assert gaussian_total_correlation(np.diag([2.0, 3.0])) == pytest.approx(0.0)
    # diag(cov) = I: W = 2 tr cov - 2 tr cov^(1/2); eigenvalues 1 +- rho
    expected = 4 - 2 * (np.sqrt(1 + rho) + np.sqrt(1 - rho))
    assert gaussian_wasserstein_correlation(cov) == pytest.approx(expected)


def test_independent_low_correlated_high():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5000, 4))
    ind = unsupervised(z)
    assert ind["gaussian_total_correlation"] < 0.01
    assert ind["mutual_info_score"] < 0.05
    mixed = unsupervised(z @ np.array([[1, 0.8, 0, 0], [0, 1, 0.5, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]]))
    assert mixed["gaussian_total_correlation"] > 0.2
    assert mixed["mutual_info_score"] > ind["mutual_info_score"]


def test_constant_latent_is_left_out():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((2000, 3))
    with_const = unsupervised(np.concatenate([z, np.zeros((2000, 1))], axis=1))
    assert with_const["unsupervised_num_constant_latents"] == 1
    assert with_const["gaussian_total_correlation"] == pytest.approx(unsupervised(z)["gaussian_total_correlation"])


def test_all_constant_latents_give_null_with_an_error():
    codes = np.full((500, 4), 3.0)
    with pytest.raises(SlowVAEError, match="constant"):
        unsupervised(codes)
    factors = np.random.default_rng(0).integers(0, 3, (500, 2))
    out = compute_suite(codes, factors, metrics=["unsupervised"], rng=0)
    assert out["gaussian_total_correlation"] is None and out["mutual_info_score"] is None
    assert "constant" in out["unsupervised_error"]
