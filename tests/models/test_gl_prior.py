"""The generalized-Laplace transition prior: cross-entropy, parametrisation, checks, fitting alpha."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from slowvae.errors import SlowVAEError
from slowvae.models.gl_prior import GL_DEFAULTS, GeneralizedLaplacePrior, generalized_laplace_cross_entropy
from slowvae.models.slowvae import laplace_cross_entropy

F64 = dict(dtype=torch.float64)


def _hyper(**kw):
    return {**GL_DEFAULTS, "rate": 6.0, **kw}


@pytest.mark.parametrize(
    "m, s, alpha, scale", [(0.0, 0.5, 0.4, 0.3), (0.8, 0.2, 1.0, 0.5), (-1.5, 0.7, 1.6, 2.0), (3.0, 0.1, 0.25, 0.05)]
)
def test_cross_entropy_matches_quadrature_against_scipy_gennorm(m, s, alpha, scale):
    """Independent of the closed form: integrate -log gennorm.pdf under N(m, s^2) numerically."""

    def f(z):
        return -stats.gennorm.logpdf(z, alpha, scale=scale) * stats.norm.pdf(z, m, s)

    want = integrate.quad(f, m - 12 * s, m + 12 * s, points=[0.0] if abs(m) < 12 * s else None, limit=400)[0]
    got = generalized_laplace_cross_entropy(torch.tensor(m, **F64), torch.tensor(s, **F64), alpha, scale)
    assert float(got) == pytest.approx(want, rel=1e-7)


def test_alpha_one_is_the_laplace_cross_entropy():
    m = torch.linspace(-80, 80, 321, **F64)
    s = torch.linspace(1e-3, 3, 321, **F64)
    for rate in (0.5, 6.0, 40.0):
        got = generalized_laplace_cross_entropy(m, s, 1.0, 1 / rate)
        torch.testing.assert_close(got, laplace_cross_entropy(m, s, rate), rtol=1e-12, atol=0)


def test_alpha_two_is_the_gaussian_cross_entropy():
    """GL(alpha = 2, s) is N(0, s^2 / 2): CE = 1/2 log(2 pi v) + (m^2 + sigma^2) / (2 v), v = s^2 / 2."""
    m = torch.linspace(-80, 80, 321, **F64)
    s = torch.linspace(1e-3, 3, 321, **F64)
    for scale in (0.1, 1.0, 4.0):
        v = scale**2 / 2
        want = 0.5 * math.log(2 * math.pi * v) + (m**2 + s**2) / (2 * v)
        torch.testing.assert_close(generalized_laplace_cross_entropy(m, s, 2.0, scale), want, rtol=1e-12, atol=0)


def test_learned_prior_starts_at_the_laplace_and_shares_as_asked():
    prior = GeneralizedLaplacePrior(4, _hyper(rate=6.0))
    assert {n for n, _ in prior.named_parameters()} == {"alpha_logit", "scale_raw"}
    torch.testing.assert_close(prior.alpha(), torch.ones(4))
    torch.testing.assert_close(prior.scale(), torch.full((4,), 1 / 6))
    assert prior.alpha_logit.shape == (4,)
    shared = GeneralizedLaplacePrior(4, _hyper(share="all"))
    assert shared.alpha_logit.shape == (1,) and shared.alpha().shape == (4,)
    fixed = GeneralizedLaplacePrior(3, _hyper(alpha=0.5, scale=0.2))
    assert list(fixed.parameters()) == []
    assert fixed.learned_values() == {"learned_alpha": [0.5] * 3, "learned_scale": pytest.approx([0.2] * 3)}
    scalars = prior.scalars()
    assert set(scalars) == {f"learned_{k}_{j}" for k in ("alpha", "scale") for j in range(4)}


@pytest.mark.parametrize("share, n", [("latent", 3), ("all", 1)])
def test_tied_scale_keeps_the_prior_variance_of_the_laplace(share, n):
    """scale = 'tied': only alpha learns; s(alpha) keeps Var = 2 / rate^2 (s = 1/rate at alpha = 1)."""
    prior = GeneralizedLaplacePrior(3, _hyper(scale="tied", rate=4.0, share=share)).double()
    assert {name for name, _ in prior.named_parameters()} == {"alpha_logit"}
    torch.testing.assert_close(prior.scale(), torch.full((3,), 0.25, **F64))
    with torch.no_grad():
        prior.alpha_logit.copy_(torch.linspace(-3.0, 3.0, n, **F64))
    alpha, scale = prior.alpha().detach().numpy(), prior.scale().detach().numpy()
    assert len(set(alpha.tolist())) == n
    np.testing.assert_allclose(stats.gennorm.var(alpha, scale=scale), 2 / 4.0**2, rtol=1e-10)
    prior.cross_entropy(torch.tensor([[0.3, -0.2, 1.0]], **F64), torch.full((1, 3), 0.1, **F64)).sum().backward()
    assert prior.alpha_logit.grad.abs().min() > 0  # the scale's dependence on alpha carries gradient


def test_learned_alpha_stays_inside_its_bounds():
    prior = GeneralizedLaplacePrior(2, _hyper())
    with torch.no_grad():
        prior.alpha_logit.copy_(torch.tensor([-50.0, 50.0]))
    lo, hi = prior.alpha().tolist()
    assert lo == pytest.approx(0.2, abs=1e-6) and hi == pytest.approx(2.0, abs=1e-6)


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(alpha=2.5), "alpha must be"),
        (dict(alpha=0.1), "alpha must be"),
        (dict(alpha="guess"), "alpha must be"),
        (dict(scale=0.0), "scale must be"),
        (dict(scale="fit"), "scale must be 'learn', 'tied' or"),
        (dict(share="pairs"), "share must be"),
        (dict(rate=-1.0), "rate must be"),
    ],
)
def test_bad_settings_are_clear_errors(bad, message):
    with pytest.raises(SlowVAEError, match=message):
        GeneralizedLaplacePrior(3, _hyper(**bad))


@pytest.mark.parametrize("true_alpha", [0.5, 1.5])
def test_minimising_the_cross_entropy_is_the_maximum_likelihood_fit(true_alpha):
    """Transitions drawn from a generalized Laplace, seen with a tiny posterior std: minimising the
    mean cross-entropy from the Laplace start lands on scipy's maximum-likelihood alpha and s."""
    rng = np.random.default_rng(0)
    dz = torch.tensor(stats.gennorm.rvs(true_alpha, scale=0.3, size=2000, random_state=rng)).unsqueeze(-1)
    std = torch.full_like(dz, 1e-3)
    prior = GeneralizedLaplacePrior(1, _hyper(rate=2.0)).double()
    opt = torch.optim.LBFGS(prior.parameters(), max_iter=60, line_search_fn="strong_wolfe", tolerance_grad=1e-9)

    def closure():
        opt.zero_grad()
        loss = prior.cross_entropy(dz, std).mean()
        loss.backward()
        return loss

    opt.step(closure)
    mle_alpha, _, mle_scale = stats.gennorm.fit(dz.numpy().ravel(), floc=0)
    alpha, scale = prior.learned_values()["learned_alpha"][0], prior.learned_values()["learned_scale"][0]
    assert alpha == pytest.approx(mle_alpha, abs=2e-3) and scale == pytest.approx(mle_scale, rel=2e-3)
    assert abs(alpha - true_alpha) < 0.1


def test_transition_holds_the_prior_before_learn_from():
    prior = GeneralizedLaplacePrior(2, _hyper())
    m, std = torch.randn(8, 2, requires_grad=True), torch.full((8, 2), 0.1)
    prior.transition(step=9, learn_from=10)(m, std).sum().backward()
    assert prior.alpha_logit.grad is None and prior.scale_raw.grad is None
    prior.transition(step=10, learn_from=10)(m, std).sum().backward()
    assert prior.alpha_logit.grad.abs().min() > 0 and prior.scale_raw.grad.abs().min() > 0
