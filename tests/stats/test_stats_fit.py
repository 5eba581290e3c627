"""Maximum-likelihood fits: known shapes recovered, parity with scipy, the bootstrap, atoms."""

import math

import numpy as np
import pytest
from scipy import stats

from slowvae.errors import SlowVAEError
from slowvae.stats.fit import (
    _Profile,
    excess_kurtosis,
    fit_all,
    fit_gaussian,
    fit_gennorm,
    fit_laplace,
    fit_transitions,
    ks_statistic,
)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_recovers_alpha_from_100k_samples(alpha):
    x = stats.gennorm.rvs(alpha, loc=0.7, scale=1.3, size=100_000, random_state=np.random.default_rng(1))
    fit = fit_gennorm(x, n_boot=0)
    assert abs(fit["alpha"] - alpha) < 0.05
    assert abs(fit["scale"] - 1.3) < 0.05
    assert abs(fit["loc"] - 0.7) < 0.02
    assert fit["alpha_ci"] is None and not fit["unbounded"] and not fit["alpha_at_bound"]
    # the reported log-likelihood is the gennorm log-density summed at the reported parameters
    ll = stats.gennorm.logpdf(x, fit["alpha"], fit["loc"], fit["scale"]).sum()
    assert fit["loglik"] == pytest.approx(ll, rel=1e-9)


def test_gennorm_is_at_least_as_likely_as_scipy_fit():
    x = stats.gennorm.rvs(0.6, scale=0.3, size=5000, random_state=np.random.default_rng(2))
    ours = fit_gennorm(x, n_boot=0)["loglik"]
    beta, loc, scale = stats.gennorm.fit(x)
    assert ours >= stats.gennorm.logpdf(x, beta, loc, scale).sum() - 1e-3


def test_profile_derivatives_are_exact():
    x = stats.laplace.rvs(size=2000, random_state=np.random.default_rng(3))
    prof = _Profile(x, 0.1)
    for a in (0.4, 1.0, 2.5):
        ll, g, h, _ = prof.value(a)
        e = 1e-5
        assert g == pytest.approx((prof.value(a + e)[0] - prof.value(a - e)[0]) / (2 * e), rel=1e-5)
        assert h == pytest.approx((prof.value(a + e)[1] - prof.value(a - e)[1]) / (2 * e), rel=1e-5)


def test_gaussian_and_laplace_match_scipy():
    x = stats.t.rvs(4, size=3000, random_state=np.random.default_rng(4))
    g, lap = fit_gaussian(x), fit_laplace(x)
    assert (g["loc"], g["scale"]) == pytest.approx(stats.norm.fit(x))
    assert g["loglik"] == pytest.approx(stats.norm.logpdf(x, g["loc"], g["scale"]).sum())
    assert (lap["loc"], lap["scale"]) == pytest.approx(stats.laplace.fit(x))
    assert lap["loglik"] == pytest.approx(stats.laplace.logpdf(x, lap["loc"], lap["scale"]).sum())
    n = x.size
    assert g["aic"] == pytest.approx(4 - 2 * g["loglik"])
    assert lap["bic"] == pytest.approx(2 * math.log(n) - 2 * lap["loglik"])
    assert g["ks"] == pytest.approx(stats.kstest(x, "norm", args=(g["loc"], g["scale"])).statistic)
    assert excess_kurtosis(x) == pytest.approx(stats.kurtosis(x))


def test_ks_statistic_with_ties():
    x = np.array([0.0, 0.0, 1.0, 1.0, 2.0])
    cdf = lambda v: stats.norm.cdf(v, 0.8, 1.0)  # noqa: E731
    assert ks_statistic(x, cdf) == pytest.approx(stats.kstest(x, cdf).statistic)


def test_fit_all_ranks_sparse_data_and_bootstrap_is_seeded():
    x = stats.gennorm.rvs(0.5, size=20_000, random_state=np.random.default_rng(5))
    a = fit_all(x, n_boot=30, rng=np.random.default_rng(7))
    b = fit_all(x, n_boot=30, rng=np.random.default_rng(7))
    assert a == b
    assert a["best"] == "gennorm"
    assert a["gennorm"]["loglik"] > a["laplace"]["loglik"] > a["gaussian"]["loglik"]
    lo, hi = a["gennorm"]["alpha_ci"]
    assert lo < a["gennorm"]["alpha"] < hi and lo < 0.5 < hi and hi - lo < 0.05
    assert a["kurtosis"] > 10


def test_atom_at_the_location_is_flagged():
    x = stats.gennorm.rvs(0.5, size=20_000, random_state=np.random.default_rng(6))
    x[:1000] = 0.0  # 5% of objects did not move
    fit = fit_gennorm(x, n_boot=0)
    assert fit["unbounded"] and fit["atom"] == pytest.approx(0.05)
    # the interior maximum (pulled down by the atom), not the degenerate alpha -> 0
    assert 0.2 < fit["alpha"] < 0.6 and not fit["alpha_at_bound"]


def test_bad_samples_raise():
    with pytest.raises(SlowVAEError, match="at least 3"):
        fit_all(np.array([1.0, 2.0]))
    with pytest.raises(SlowVAEError, match="all 10 transitions equal"):
        fit_all(np.zeros(10))
    with pytest.raises(SlowVAEError, match="NaN"):
        fit_all(np.array([1.0, np.nan, 2.0, 3.0]))


def test_fit_transitions_keys_and_constant_columns():
    rng = np.random.default_rng(8)
    d = np.stack([rng.laplace(size=500), np.zeros(500), rng.normal(size=500)], axis=1)
    res = fit_transitions(d, ["x", "y", "area"], n_boot=5)
    assert list(res) == ["x", "y", "area"]
    assert res["y"] == {"n": 500, "skipped": "all transitions equal 0"}
    assert set(res["x"]["gennorm"]) >= {"alpha", "loc", "scale", "loglik", "alpha_ci", "aic", "bic", "ks"}
    with pytest.raises(SlowVAEError, match="shape"):
        fit_transitions(d, ["x", "y"])
