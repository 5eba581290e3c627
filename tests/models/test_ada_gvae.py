"""Ada-GVAE / Ada-ML-VAE: the adaptive threshold, the averaging rules and the loss, against
hand-built pairs and numpy (docs/baselines.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slowvae.errors import SlowVAEError
from slowvae.models import build_model
from slowvae.models.ada_gvae import average_posteriors, changed_dims, pair_divergence


def np_delta(mu1, lv1, mu2, lv2):
    """2 KL(q1 || q2) per dimension, disentanglement_lib's compute_kl written out."""
    v1, v2 = np.exp(lv1), np.exp(lv2)
    return v1 / v2 + (mu2 - mu1) ** 2 / v2 - 1 + lv2 - lv1


def test_threshold_picks_the_changed_dimensions_of_a_constructed_pair():
    rng = np.random.default_rng(0)
    mu1 = rng.normal(size=(3, 6))
    logvar = np.full((2, 3, 6), np.log(0.1))
    mu2 = mu1 + 0.01 * rng.normal(size=(3, 6))
    changed = [[1], [0, 4], [2, 3, 5]]
    for i, dims in enumerate(changed):
        mu2[i, dims] += [2.0 + 0.2 * k for k in range(len(dims))]  # clearly moved, by comparable amounts
    mu = torch.tensor(np.stack([mu1, mu2]))
    got = changed_dims(pair_divergence(mu, torch.tensor(logvar)))
    want = np.zeros((3, 6), dtype=bool)
    for i, dims in enumerate(changed):
        want[i, dims] = True
    assert np.array_equal(got.numpy(), want)


def test_threshold_is_the_midpoint_of_2kl_in_the_q1_q2_direction():
    # dimension 0: q1 wide, q2 narrow -> KL(q1||q2) large, KL(q2||q1) small; dimension 1 the reverse
    mu = torch.zeros(2, 1, 3, dtype=torch.float64)
    logvar = torch.tensor([[[np.log(4.0), np.log(0.25), 0.0]], [[np.log(0.25), np.log(4.0), 0.0]]])
    delta = pair_divergence(mu, logvar)
    assert np.allclose(delta.numpy(), np_delta(*(a.numpy() for a in (mu[0], logvar[0], mu[1], logvar[1]))))
    # delta = [16 - 1 - log 16, 1/16 - 1 + log 16, 0] = [12.23, 1.83, 0]: midpoint 6.1 -> only dim 0
    assert changed_dims(delta).tolist() == [[True, False, False]]
    # an exact tie with the midpoint counts as changed (upper bin); a constant delta keeps everything
    assert changed_dims(torch.tensor([[0.0, 1.0, 2.0]])).tolist() == [[False, True, True]]
    assert changed_dims(torch.tensor([[0.5, 0.5]])).tolist() == [[True, True]]


def test_average_rules():
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(2, 4, 3))
    logvar = rng.normal(size=(2, 4, 3))
    v1, v2 = np.exp(logvar)
    m, lv = (a.numpy() for a in average_posteriors(torch.tensor(mu), torch.tensor(logvar), "gvae"))
    assert np.allclose(m, (mu[0] + mu[1]) / 2) and np.allclose(np.exp(lv), (v1 + v2) / 2)
    poe_var = 1 / (1 / v1 + 1 / v2)  # product of experts
    poe_mean = poe_var * (mu[0] / v1 + mu[1] / v2)
    m, lv = (a.numpy() for a in average_posteriors(torch.tensor(mu), torch.tensor(logvar), "mlvae"))
    assert np.allclose(m, poe_mean) and np.allclose(np.exp(lv), 2 * poe_var)  # dlib as coded: twice the PoE variance
    m, lv = (a.numpy() for a in average_posteriors(torch.tensor(mu), torch.tensor(logvar), "poe"))
    assert np.allclose(m, poe_mean) and np.allclose(np.exp(lv), poe_var)


@pytest.mark.parametrize(
    "name, hyper, rule",
    [("ada-gvae", {}, "gvae"), ("ada-mlvae", {}, "mlvae"), ("ada-mlvae", {"poe_variance": 1.0}, "poe")],
)
def test_loss_matches_numpy(stub, fixed, helpers, name, hyper, rule):
    x, logits, mu, logvar = fixed
    b = x.shape[1]
    mu[b:, 1:] = mu[:b, 1:] + 0.05  # frame 2 differs from frame 1 mostly in latent 0
    model = stub(build_model(name, channels=1, beta=3.0, **hyper), mu, logvar, logits)
    out = model(torch.tensor(x), torch.Generator().manual_seed(0))
    m1, m2, l1, l2 = mu[:b], mu[b:], logvar[:b], logvar[b:]
    delta = np_delta(m1, l1, m2, l2)
    lo, hi = delta.min(1, keepdims=True), delta.max(1, keepdims=True)
    changed = (delta - lo) / (hi - lo) >= 0.5
    v1, v2 = np.exp(l1), np.exp(l2)
    if rule == "gvae":
        am, av = (m1 + m2) / 2, (v1 + v2) / 2
    else:
        av = (2 if rule == "mlvae" else 1) * v1 * v2 / (v1 + v2)
        am = (m1 * v2 + m2 * v1) / (v1 + v2)
    q1 = np.where(changed, m1, am), np.where(changed, l1, np.log(av))
    q2 = np.where(changed, m2, am), np.where(changed, l2, np.log(av))
    kl = 0.5 * (helpers.kl(*q1) + helpers.kl(*q2))
    recon = helpers.bce(x.reshape(-1, 1, 6, 6), logits)
    assert out["kl"].item() == pytest.approx(kl, rel=1e-10)
    assert out["loss"].item() == pytest.approx(recon + 3.0 * kl, rel=1e-10)
    assert out["shared_dims"].item() == pytest.approx((~changed).sum(1).mean())


def test_bad_variance_code_is_refused():
    with pytest.raises(SlowVAEError, match="poe_variance must be 0 or 1"):
        build_model("ada-mlvae", channels=1, poe_variance=2)
