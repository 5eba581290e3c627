"""PCL and InfoNCE-L1: losses at analytic values and against numpy on fixed codes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from slowvae.models import build_model
from slowvae.models.infonce import infonce_l1
from slowvae.models.pcl import pcl_logits, pcl_loss, shuffled_partners


@pytest.mark.parametrize("self_negative, extra", [(True, 1), (False, 0)])
def test_infonce_identical_codes_give_log_of_the_candidate_count(self_negative, extra):
    codes = torch.full((6, 4), 0.3, dtype=torch.float64)
    assert infonce_l1(codes, codes, 1.0, self_negative).item() == pytest.approx(math.log(6 + extra), rel=1e-12)


@pytest.mark.parametrize("self_negative, extra", [(True, 1), (False, 0)])
@pytest.mark.parametrize("a, tau", [(1.0, 1.0), (2.5, 1.0), (1.0, 0.5)])
def test_infonce_orthogonal_codes(self_negative, extra, a, tau):
    b = 5
    codes = a * torch.eye(b, 8, dtype=torch.float64)  # positives identical, any two anchors 2a apart in L1
    want = math.log(1 + extra + (b - 1) * math.exp(-2 * a / tau))
    assert infonce_l1(codes, codes.clone(), tau, self_negative).item() == pytest.approx(want, rel=1e-12)


def test_infonce_matches_numpy():
    rng = np.random.default_rng(0)
    a, p = rng.normal(size=(2, 5, 3))
    total = 0.0
    for i in range(5):
        pos = np.abs(a[i] - p[i]).sum()
        cands = [np.exp(-np.abs(a[i] - a[k]).sum() / 0.7) for k in range(5)] + [np.exp(-pos / 0.7)]
        total += -np.log(np.exp(-pos / 0.7) / np.sum(cands)) / 5
    assert infonce_l1(torch.tensor(a), torch.tensor(p), 0.7).item() == pytest.approx(total, rel=1e-12)


def test_pcl_partners_are_never_the_true_partner():
    g = torch.Generator().manual_seed(0)
    for b in (2, 3, 8):
        for _ in range(20):
            idx = shuffled_partners(b, g)
            assert sorted(idx.tolist()) == list(range(b)) and all(idx[i] != i for i in range(b))


def test_pcl_logits_and_loss_match_numpy():
    rng = np.random.default_rng(1)
    h1, h2, hn = rng.normal(size=(3, 4, 3))
    u, v, q = rng.normal(size=(3, 3))
    c = 0.3
    r = lambda a, b: (-np.abs(u * a + v * b) + q * (a**2 + b**2)).sum(1) + c  # noqa: E731
    t = [torch.tensor(a) for a in (u, v, q)] + [torch.tensor(c, dtype=torch.float64)]
    lt, ln = pcl_logits(torch.tensor(h1), torch.tensor(h2), *t), pcl_logits(torch.tensor(h1), torch.tensor(hn), *t)
    assert np.allclose(lt.numpy(), r(h1, h2)) and np.allclose(ln.numpy(), r(h1, hn))
    sig = lambda s: 1 / (1 + np.exp(-s))  # noqa: E731
    want = -0.5 * (np.log(sig(r(h1, h2))).mean() + np.log(1 - sig(r(h1, hn))).mean())
    assert pcl_loss(lt, ln).item() == pytest.approx(want, rel=1e-12)


def test_pcl_chance_and_separation():
    model = build_model("pcl", channels=1, z_dim=3).double()
    codes = torch.tensor(np.random.default_rng(2).normal(size=(2, 6, 3)))
    with torch.no_grad():
        for p in (model.u, model.v, model.q, model.c):
            p.zero_()
        assert model.code_loss(codes, None)["loss"].item() == pytest.approx(math.log(2), rel=1e-12)  # r = 0: chance
        # slow codes (pairs identical, pairs far apart), a sharp Laplace score and a bias: near-perfect
        slow = torch.stack([torch.arange(6.0)[:, None].repeat(1, 3)] * 2).double() * 10
        model.u.fill_(1.0), model.v.fill_(-1.0), model.c.fill_(5.0)
        out = model.code_loss(slow, torch.Generator().manual_seed(0))
        assert out["loss"].item() < 0.01 and out["accuracy"].item() == 1.0
