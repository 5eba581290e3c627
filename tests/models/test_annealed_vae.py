"""AnnealedVAE: the capacity schedule and R + gamma |KL - C|, with the step set by the loop."""

from __future__ import annotations

import json

import pytest
import torch

from slowvae.config import TrainConfig
from slowvae.models import build_model
from slowvae.models.annealed_vae import capacity
from slowvae.rundir import init_run_dir
from slowvae.train import train


def test_capacity_grows_linearly_then_stays():
    assert capacity(0, 25.0, 100_000) == 0.0
    assert capacity(50_000, 25.0, 100_000) == pytest.approx(12.5)
    assert capacity(100_000, 25.0, 100_000) == 25.0
    assert capacity(300_000, 25.0, 100_000) == 25.0


@pytest.mark.parametrize("step", [0, 3, 10])
def test_loss_pulls_kl_towards_the_capacity(stub, fixed, helpers, step):
    x, logits, mu, logvar = fixed
    model = stub(
        build_model("annealed-vae", channels=1, c_max=4.0, gamma=7.0, iteration_threshold=6), mu, logvar, logits
    )
    model.step = step
    out = model(torch.tensor(x), torch.Generator().manual_seed(0))
    c = min(4.0, 4.0 * step / 6)
    kl = helpers.kl(mu, logvar)
    assert out["capacity"].item() == pytest.approx(c)
    assert out["loss"].item() == pytest.approx(
        helpers.bce(x.reshape(-1, 1, 6, 6), logits) + 7.0 * abs(kl - c), rel=1e-12
    )


def test_training_loop_sets_the_step_before_each_forward(tmp_path):
    run = tmp_path / "annealed"
    hyper = {"c_max": 4.0, "iteration_threshold": 2.0}
    init_run_dir(run, TrainConfig(model="annealed-vae", hyper=hyper, steps=3, batch_pairs=2, log_every=1, seed=1))
    train(run)
    logged = [json.loads(line)["capacity"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert logged == [0.0, 2.0, 4.0]  # C after 0, 1 and 2 steps taken
