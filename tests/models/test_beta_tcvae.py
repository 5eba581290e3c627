"""beta-TCVAE: the minibatch-weighted-sampling decomposition against a numpy loop, its terms
adding up to the KL, and the TC vanishing where it must."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from slowvae.models import build_model
from slowvae.models.beta_tcvae import kl_decomposition


def np_decomposition(z, mu, logvar):
    """MI, TC, dimension-wise KL by MWS, written as explicit loops over samples."""
    n, d = z.shape
    sd = np.exp(0.5 * logvar)
    mi = tc = dwkl = 0.0
    for i in range(n):
        log_cond = norm.logpdf(z[i], mu[i], sd[i]).sum()
        per_dim = np.array([[norm.logpdf(z[i, j], mu[k, j], sd[k, j]) for j in range(d)] for k in range(n)])  # (n, d)
        log_qz = logsumexp(per_dim.sum(1)) - np.log(n)
        log_marg = sum(logsumexp(per_dim[:, j]) - np.log(n) for j in range(d))
        log_p = norm.logpdf(z[i]).sum()
        mi += (log_cond - log_qz) / n
        tc += (log_qz - log_marg) / n
        dwkl += (log_marg - log_p) / n
    return mi, tc, dwkl


@pytest.fixture
def posteriors():
    rng = np.random.default_rng(3)
    mu = rng.normal(size=(6, 3))
    mu[:, 1] = mu[:, 0] + 0.1 * mu[:, 1]  # correlated codes: a clearly positive TC
    logvar = rng.normal(-2, 0.3, size=(6, 3))
    z = mu + np.exp(0.5 * logvar) * rng.normal(size=mu.shape)
    return z, mu, logvar


def test_decomposition_matches_numpy_loop(posteriors):
    got = kl_decomposition(*(torch.tensor(a) for a in posteriors))
    mi, tc, dwkl = np_decomposition(*posteriors)
    assert float(got["mi"]) == pytest.approx(mi, rel=1e-10)
    assert float(got["tc"]) == pytest.approx(tc, rel=1e-10)
    assert float(got["dwkl"]) == pytest.approx(dwkl, rel=1e-10)
    assert tc > 0.5


def test_three_terms_add_up_to_the_monte_carlo_kl(posteriors):
    z, mu, logvar = posteriors
    got = kl_decomposition(*(torch.tensor(a) for a in posteriors))
    mc_kl = np.mean(norm.logpdf(z, mu, np.exp(0.5 * logvar)).sum(1) - norm.logpdf(z).sum(1))
    assert float(got["mi"] + got["tc"] + got["dwkl"]) == pytest.approx(mc_kl, rel=1e-12)


def test_identical_posteriors_have_no_mutual_information_and_no_total_correlation():
    rng = np.random.default_rng(4)
    mu = np.tile(rng.normal(size=(1, 4)), (5, 1))
    logvar = np.tile(rng.normal(size=(1, 4)), (5, 1))
    z = mu + np.exp(0.5 * logvar) * rng.normal(size=mu.shape)
    got = kl_decomposition(*(torch.tensor(a) for a in (z, mu, logvar)))
    assert float(got["mi"]) == pytest.approx(0.0, abs=1e-12)
    assert float(got["tc"]) == pytest.approx(0.0, abs=1e-12)


def test_loss_is_kl_plus_beta_minus_one_tc_and_beta_one_is_a_vae(stub, fixed, helpers):
    x, logits, mu, logvar = fixed
    eps = helpers.eps(mu.shape, 0)
    z = mu + np.exp(0.5 * logvar) * eps
    _, tc, _ = np_decomposition(z, mu, logvar)
    base = helpers.bce(x.reshape(-1, 1, 6, 6), logits) + helpers.kl(mu, logvar)
    for beta in (6.0, 1.0):
        model = stub(build_model("beta-tcvae", channels=1, beta=beta), mu, logvar, logits)
        out = model(torch.tensor(x), torch.Generator().manual_seed(0))
        assert out["loss"].item() == pytest.approx(base + (beta - 1) * tc, rel=1e-10)
