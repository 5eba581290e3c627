"""slowvae-gl on images: parity with the SlowVAE at alpha = 1, the learned values, registration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slowvae.errors import SlowVAEError
from slowvae.models import MODELS, build_model


@pytest.fixture
def pair(stub, fixed):
    """pair(name, **hyper): the model with the fixed float64 posteriors (8 images, 5 latents) and logits
    of conftest in place of its networks; the batch x (2, 4, 1, 6, 6) to call it with."""
    x, logits, mu, logvar = fixed

    def make(name: str, **hyper):
        # parameters made in float64, so the learned prior starts at alpha = 1 and s = 1/6 to 1e-16
        # (made in float32 and then converted, they start 1e-8 away)
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            model = stub(build_model(name, channels=1, z_dim=5, **hyper), mu, logvar, logits)
        finally:
            torch.set_default_dtype(previous)
        return model, torch.tensor(x)

    return make


@pytest.mark.parametrize("hyper", [{}, {"alpha": 1.0, "scale": 1 / 6}, {"share": "all"}])
def test_loss_at_alpha_one_equals_the_slowvae_loss(pair, hyper):
    """The whole loss, with the same posteriors, logits and noise: learned prior at its start
    (alpha 1, s = 1/6), or alpha and scale fixed there; float64, within 1e-10 relative."""
    model, x = pair("slowvae")
    reference = model(x, torch.Generator().manual_seed(2))
    model, x = pair("slowvae-gl", **hyper)
    got = model(x, torch.Generator().manual_seed(2))
    for key in ("loss", "recon", "kl_normal", "kl_laplace"):
        assert float(got[key].detach()) == pytest.approx(float(reference[key].detach()), rel=1e-10, abs=0), key
    assert float(got["learned_alpha_3"]) == pytest.approx(1.0) and float(got["learned_scale_0"]) == pytest.approx(1 / 6)


def test_loss_differs_away_from_alpha_one_and_gradients_reach_the_prior(pair):
    model, x = pair("slowvae")
    reference = model(x, torch.Generator().manual_seed(2))
    model, x = pair("slowvae-gl", alpha=0.5)
    out = model(x, torch.Generator().manual_seed(2))
    assert abs(float(out["kl_laplace"].detach()) - float(reference["kl_laplace"].detach())) > 1e-3
    learned, x = pair("slowvae-gl")
    learned(x, torch.Generator().manual_seed(2))["loss"].backward()
    assert learned.prior.alpha_logit.grad.abs().min() > 0 and learned.prior.scale_raw.grad.abs().min() > 0


def test_two_entropies_subtract_the_mean_posterior_entropy_once_more(pair, fixed):
    """entropies = 2: the transition term is CE_L - 2H (a KL each way) instead of the reference's
    CE_L - H; H is the mean Gaussian entropy of the 8 posteriors (numpy, float64)."""
    _, _, _, logvar = fixed
    entropy = float((0.5 * (logvar + np.log(2 * np.pi) + 1)).sum(-1).mean())
    one, x = pair("slowvae-gl")
    two, _ = pair("slowvae-gl", entropies=2)
    a, b = one(x, torch.Generator().manual_seed(2)), two(x, torch.Generator().manual_seed(2))
    a, b = {k: float(v.detach()) for k, v in a.items()}, {k: float(v.detach()) for k, v in b.items()}
    assert b["kl_laplace"] == pytest.approx(a["kl_laplace"] - entropy, rel=1e-12)
    assert b["loss"] == pytest.approx(a["loss"] - 10 * entropy, rel=1e-12)  # gamma 10
    assert b["kl_normal"] == a["kl_normal"]


def test_learn_from_holds_the_prior_until_that_step(pair):
    model, x = pair("slowvae-gl", learn_from=5)
    model.step = 4
    model(x, torch.Generator().manual_seed(2))["loss"].backward()
    assert model.prior.alpha_logit.grad is None and model.encoder.anchor.grad is not None
    model.step = 5
    model(x, torch.Generator().manual_seed(2))["loss"].backward()
    assert model.prior.alpha_logit.grad is not None


def test_learned_values_and_registration():
    assert "slowvae-gl" in MODELS
    model = build_model("slowvae-gl", channels=3, z_dim=6, share="all", scale=0.25)
    assert model.learned_values() == {"learned_alpha": [1.0] * 6, "learned_scale": [0.25] * 6}
    assert build_model("slowvae", channels=1).learned_values() == {}
    assert set(build_model("slowvae-gl", channels=1).state_dict()) >= {"prior.alpha_logit", "prior.scale_raw"}


@pytest.mark.parametrize(
    "hyper, message",
    [
        ({"alpha": "learned"}, "alpha must be"),
        ({"share": "latents"}, "share must be"),
        ({"alpha": 3}, "alpha must be"),
        ({"entropies": 3}, "entropies must be 1 or 2"),
    ],
)
def test_bad_hyperparameters_are_clear_errors(hyper, message):
    with pytest.raises(SlowVAEError, match=message):
        build_model("slowvae-gl", channels=1, **hyper)


def test_words_only_where_the_default_is_a_word():
    with pytest.raises(SlowVAEError, match="gamma must be a number"):
        build_model("slowvae-gl", channels=1, gamma="learn")
    with pytest.raises(SlowVAEError, match="rate must be a number"):
        build_model("slowvae", channels=1, rate="learn")
