"""Every registered model trains a few steps through the real loop and evaluates (smoke test only:
the properties of each loss are tested in its own file)."""

from __future__ import annotations

import json

import pytest

from slowvae.config import TrainConfig
from slowvae.evaluate import evaluate_run
from slowvae.models import MODELS
from slowvae.rundir import init_run_dir
from slowvae.train import train

#: trained through the loop by their own tests already (test_annealed_vae.py, test_factor_vae.py)
_ELSEWHERE = {"annealed-vae", "factor-vae"}


@pytest.mark.parametrize("name", [m for m in MODELS if m not in _ELSEWHERE])
def test_model_trains_and_evaluates(tmp_path, name):
    run = tmp_path / name
    init_run_dir(run, TrainConfig(model=name, steps=2, batch_pairs=4, log_every=1, checkpoint_every=2, seed=1))
    train(run)
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [1, 2] and all(abs(r["loss"]) < 1e7 for r in logged)
    results = evaluate_run(run, num_samples=200, figures=name == "infonce")
    assert 0 <= results["mcc"] <= 1
    if name == "infonce":  # no decoder: only the correlation figure
        assert results["figures"] == ["figures/correlation.png"]
        assert results["settings"]["representation"] == "encoder output"
