"""FactorVAE: the TC estimate and discriminator loss against numpy, permutations, the
discriminator step leaving the VAE untouched, and exact resume with its optimizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slowvae import rundir
from slowvae.config import TrainConfig
from slowvae.models import build_model
from slowvae.models.factor_vae import discriminator_loss, permute_dims, tc_estimate
from slowvae.rundir import init_run_dir, update_run_config
from slowvae.train import train


def np_log_softmax(logits):
    return logits - np.log(np.exp(logits).sum(1, keepdims=True))


def test_tc_estimate_and_discriminator_loss_match_numpy():
    rng = np.random.default_rng(0)
    lq, lp = rng.normal(size=(2, 6, 2))
    assert tc_estimate(torch.tensor(lq)).item() == pytest.approx(np.mean(lq[:, 0] - lq[:, 1]), rel=1e-12)
    want = -0.5 * (np_log_softmax(lq)[:, 0].mean() + np_log_softmax(lp)[:, 1].mean())
    assert discriminator_loss(torch.tensor(lq), torch.tensor(lp)).item() == pytest.approx(want, rel=1e-12)


def test_permute_dims_shuffles_each_column_independently():
    z = torch.arange(40.0).reshape(20, 2) * torch.tensor([1.0, 100.0])
    p = permute_dims(z, torch.Generator().manual_seed(0))
    for j in range(2):
        assert torch.equal(p[:, j].sort().values, z[:, j])  # a permutation of its own column
    rows = {tuple(r) for r in z.tolist()}
    assert sum(tuple(r) in rows for r in p.tolist()) < 10  # rows mixed: codes from different samples


def test_loss_is_recon_plus_kl_plus_gamma_tc(stub, fixed, helpers):
    x, logits, mu, logvar = fixed
    model = stub(build_model("factor-vae", channels=1, z_dim=5, gamma=30.0).double(), mu, logvar, logits)
    out = model(torch.tensor(x), torch.Generator().manual_seed(0))
    z = torch.tensor(mu + np.exp(0.5 * logvar) * helpers.eps(mu.shape, 0))
    with torch.no_grad():
        d = model.discriminator(z).numpy()
    want = helpers.bce(x.reshape(-1, 1, 6, 6), logits) + helpers.kl(mu, logvar) + 30.0 * np.mean(d[:, 0] - d[:, 1])
    assert out["loss"].item() == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("same_batch", [0.0, 1.0])
def test_discriminator_step_leaves_vae_gradients_and_weights_untouched(same_batch):
    torch.manual_seed(0)
    model = build_model("factor-vae", channels=1, same_batch=same_batch)
    g = torch.Generator().manual_seed(1)
    x, x2 = (torch.rand(2, 3, 1, 64, 64, generator=g).round() for _ in range(2))
    out = model(x, g)
    out["loss"].backward()
    vae = {n: p for n, p in model.named_parameters() if not n.startswith("discriminator.")}
    grads = {n: p.grad.clone() for n, p in vae.items()}
    weights = {n: p.detach().clone() for n, p in vae.items()}
    disc_before = [p.detach().clone() for p in model.discriminator.parameters()]
    opt = model.auxiliary_optimizer()
    assert {id(p) for group in opt.param_groups for p in group["params"]} == {
        id(p) for p in model.discriminator.parameters()
    }
    opt.zero_grad()
    model.auxiliary_loss(x2, g, out["auxiliary_input"])["loss"].backward()
    opt.step()
    for n, p in vae.items():
        assert torch.equal(p.grad, grads[n]), n
        assert torch.equal(p.detach(), weights[n]), n
    assert any(not torch.equal(a, b.detach()) for a, b in zip(disc_before, model.discriminator.parameters()))


def test_training_updates_the_discriminator_only_through_its_optimizer_and_resumes_exactly(tmp_path):
    small = dict(model="factor-vae", batch_pairs=2, checkpoint_every=2, log_every=1, seed=2)
    full, split = tmp_path / "full", tmp_path / "split"
    init_run_dir(full, TrainConfig(steps=3, **small))
    train(full)
    init_run_dir(split, TrainConfig(steps=2, **small))
    train(split)
    update_run_config(split, TrainConfig(steps=3, **small))
    train(split, resume=True)
    a, b = (rundir.load_checkpoint(r / "checkpoints" / "last.pt") for r in (full, split))
    assert a["model"].keys() == b["model"].keys() and any(k.startswith("discriminator.") for k in a["model"])
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    # the main optimizer holds the VAE's parameters only; the discriminator's Adam is checkpointed
    n_vae = sum(1 for k in a["model"] if not k.startswith("discriminator."))
    assert len(a["optimizer"]["param_groups"][0]["params"]) == n_vae
    assert a["auxiliary_optimizer"]["param_groups"][0]["betas"] == (0.5, 0.9)
    assert a["auxiliary_optimizer"]["state"][0]["step"] == 3
    log = (full / "metrics.jsonl").read_text()
    assert '"aux_loss"' in log and '"aux_accuracy"' in log and '"tc"' in log


def test_discriminator_step_scores_the_samples_it_is_given():
    model = build_model("factor-vae", channels=1, z_dim=4, same_batch=1.0)
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(5))
    unused = torch.zeros(2, 3, 1, 64, 64)
    out = model.auxiliary_loss(unused, torch.Generator().manual_seed(3), z)
    perm = permute_dims(z, torch.Generator().manual_seed(3))
    want = discriminator_loss(model.discriminator(z), model.discriminator(perm))
    assert torch.equal(out["loss"], want)
    other = model.auxiliary_loss(unused, torch.Generator().manual_seed(3), z + 1)
    assert not torch.equal(other["loss"], out["loss"])  # the result depends on the argument, not on state
