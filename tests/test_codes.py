"""Images -> codes, the one way: the encode function against the model by hand (means, posterior,
precision, batching, float inputs), and `slowvae encode` giving evaluation's codes for one run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from slowvae import evaluate, hardware
from slowvae.cli import main
from slowvae.codes import encode
from slowvae.config import TrainConfig, make_pair_source
from slowvae.rundir import init_run_dir, load_model
from slowvae.train import train

SMALL = dict(steps=4, batch_pairs=4, checkpoint_every=4, log_every=4, seed=3, device="cpu", precision="fp32", lr=1e-3)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("codes") / "run"
    config = TrainConfig(**SMALL)
    init_run_dir(run, config, make_pair_source(config))
    train(run)
    return run


@pytest.fixture(scope="module")
def trained(run_dir):
    model, _, _, source = load_model(run_dir, device="cpu")
    images, _ = source.sample_eval(40, np.random.default_rng(0))  # uint8 0/1 (binary dSprites)
    return model, images


def test_codes_are_the_posterior_means_in_batches(trained):
    model, images = trained
    with torch.inference_mode():
        mu, logvar = model.encoder(torch.from_numpy(images).float())
    codes = encode(model, images, binary=True, precision="fp32", batch_size=7)
    assert codes.shape == (40, 10) and codes.dtype == np.float32
    # batches of 7 against one of 40: oneDNN picks its kernels by batch shape, so the sums run in
    # another order (an AMX Xeon at 1 thread: 1 of 400 codes off by 1.4e-6, i.e. 7e-7 relative)
    np.testing.assert_allclose(codes, mu.numpy(), rtol=1e-6, atol=1e-6)
    means, logvars = encode(model, images, binary=True, precision="fp32", posterior=True)
    np.testing.assert_allclose(means, mu.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(logvars, logvar.numpy(), rtol=1e-6, atol=1e-6)
    # 0..255 images are divided by 255; floats in [0, 1] are taken as they are
    np.testing.assert_allclose(encode(model, images * np.uint8(255), binary=False), codes, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(encode(model, images.astype(np.float32), binary=False), codes, rtol=1e-6, atol=1e-6)
    assert encode(model, images[:0], binary=True).shape == (0, 10)


def test_bf16_precision_rounds_the_codes(trained):
    model, images = trained
    fp32 = encode(model, images, binary=True, precision="fp32")
    bf16 = encode(model, images, binary=True, precision="bf16")
    assert not np.array_equal(fp32, bf16)  # bf16 autocast really ran
    np.testing.assert_allclose(bf16, fp32, atol=0.05 * float(np.abs(fp32).max()))


def test_slowvae_encode_gives_the_codes_evaluate_scores(run_dir, tmp_path, monkeypatch):
    """`slowvae encode` on the frames evaluate scored gives evaluate's codes exactly; "auto" is made
    bf16 so that a command encoding in another precision than evaluation's fails here on any CPU."""
    monkeypatch.setattr(hardware, "native_bf16", lambda device: True)
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path / "data-root"))
    seen = []

    def recording(model, images, **kwargs):
        codes = encode(model, images, **kwargs)
        seen.append((np.array(images), codes))
        return codes

    monkeypatch.setattr(evaluate, "encode", recording)
    results = evaluate.evaluate_run(run_dir, num_samples=200, figures=False, out=tmp_path / "results.json")
    assert results["settings"]["eval_precision"] == "bf16"
    images, scored = seen[0]  # the trained model's codes of the MCC frames (the untrained network's follow)
    np.save(tmp_path / "frames.npy", images[:, 0] * np.uint8(255))  # binary 0/1 -> grey 0/255 frames, in order
    out = tmp_path / "codes.npy"
    assert main(["encode", str(run_dir), str(tmp_path / "frames.npy"), "--out", str(out)]) == 0
    np.testing.assert_array_equal(np.load(out), scored)
