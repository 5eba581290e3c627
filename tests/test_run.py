"""Run assembly: load_run's encode/decode against the model computed by hand, its input forms,
and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import slowvae
from slowvae.config import TrainConfig, make_pair_source
from slowvae.errors import SlowVAEError
from slowvae.rundir import init_run_dir, load_run
from slowvae.train import train

SMALL = dict(steps=3, batch_pairs=4, checkpoint_every=3, log_every=3, seed=5, device="cpu", precision="fp32")


def _trained(tmp: Path, with_source: bool = True, **changes) -> Path:
    config = TrainConfig(**{**SMALL, **changes})
    init_run_dir(tmp, config, make_pair_source(config) if with_source else None)
    train(tmp)
    return tmp


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory) -> Path:
    return _trained(tmp_path_factory.mktemp("vae") / "run")


def test_encode_gives_posterior_means_of_the_trained_weights(vae_run):
    run = slowvae.load_run(vae_run, precision="fp32")
    assert run.config.model == "slowvae" and run.step == 3 and not run.model.training
    ckpt = torch.load(vae_run / "checkpoints" / "last.pt", weights_only=False)
    assert all(torch.equal(run.model.state_dict()[k], v) for k, v in ckpt["model"].items())
    images, _ = make_pair_source(run.config).sample_eval(20, np.random.default_rng(0))  # uint8 0/1 (binary)
    codes = run.encode(images)
    with torch.inference_mode():
        expected = run.model.encoder(torch.from_numpy(images).float())[0].double().numpy()
    assert codes.shape == (20, 10) and codes.dtype == np.float64
    np.testing.assert_allclose(codes, expected, rtol=1e-6, atol=1e-6)
    # the same images as (N, 64, 64), as float in [0, 1] and as a 0/255 mask give the same codes
    np.testing.assert_allclose(run.encode(images[:, 0]), codes, atol=1e-6)
    np.testing.assert_allclose(run.encode(images.astype(np.float32)), codes, atol=1e-6)
    np.testing.assert_allclose(run.encode(images * np.uint8(255)), codes, atol=1e-6)
    assert run.encode(images[:0]).shape == (0, 10)


def test_decode_gives_bernoulli_means(vae_run):
    run = load_run(vae_run)
    z = np.random.default_rng(1).normal(size=(5, 10))
    out = run.decode(z)
    with torch.inference_mode():
        expected = torch.sigmoid(run.model.decoder(torch.from_numpy(z).float())).numpy()
    assert out.shape == (5, 1, 64, 64)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert 0 <= out.min() and out.max() <= 1


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((2, 3, 64, 64), np.uint8), r"shape \(N, 1, 64, 64\) or \(N, 64, 64\)"),
        (np.zeros((2, 32, 32), np.uint8), "shape"),
        (np.full((2, 64, 64), 2.0), r"in \[0, 1\]"),
        (np.zeros((2, 64, 64), np.int64), "uint8"),
    ],
)
def test_bad_images_are_clear_errors(vae_run, images, message):
    with pytest.raises(SlowVAEError, match=message):
        load_run(vae_run).encode(images)


def test_bad_codes_are_clear_errors(vae_run):
    with pytest.raises(SlowVAEError, match=r"shape \(N, 10\)"):
        load_run(vae_run).decode(np.zeros((3, 4)))


def test_image_format_is_saved_and_old_runs_still_load(vae_run, tmp_path):
    meta = json.loads((vae_run / "config.json").read_text())
    assert meta["images"] == {"channels": 1, "binary": True}
    old = _trained(tmp_path / "old", with_source=False)  # a run directory without the saved format
    assert "images" not in json.loads((old / "config.json").read_text())
    run = load_run(old)
    assert run.channels == 1 and run.binary


def test_contrastive_run_encodes_but_cannot_decode(tmp_path):
    run = load_run(_trained(tmp_path / "pcl", model="pcl"), precision="fp32")
    images, _ = make_pair_source(run.config).sample_eval(4, np.random.default_rng(0))
    with torch.inference_mode():
        expected = run.model.encoder(torch.from_numpy(images).float()).double().numpy()
    np.testing.assert_allclose(run.encode(images), expected, atol=1e-6)
    with pytest.raises(SlowVAEError, match="no decoder"):
        run.decode(np.zeros((1, 10)))


def test_frames_run_keeps_its_options_truth_and_image_format(tmp_path, monkeypatch):
    from sprite_video import sprite_walk, write_truth

    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path / "root"))
    frames, xy = sprite_walk(12, np.random.default_rng(1))
    np.save(tmp_path / "walk.npy", frames)
    write_truth(tmp_path / "truth.csv", {"0": xy})
    config = TrainConfig(
        **SMALL, dataset=f"frames:{tmp_path / 'walk.npy'}", dataset_options={"max_dt": 3, "binary": True}
    )
    calls = []
    source = make_pair_source(config, truth=tmp_path / "truth.csv", progress=lambda done, total, _: calls.append(done))
    assert source.max_dt == 3 and source.binary and source.channels == 1 and source.latent_names == ("x", "y")
    assert calls and calls[-1] == 12  # the one-time decode reported every frame
    _, latents = source.sample_eval(12, np.random.default_rng(0))
    np.testing.assert_allclose(np.sort(latents[:, 0]), np.sort(xy[:, 0]), atol=1e-3)
    init_run_dir(tmp_path / "run", config, source)
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    assert meta["images"] == {"channels": 1, "binary": True}
    assert meta["config"]["dataset_options"] == {"max_dt": 3, "binary": True}
    train(tmp_path / "run")
    (tmp_path / "walk.npy").unlink()  # load_run needs no data: the image format is in config.json
    run = slowvae.load_run(tmp_path / "run")
    assert run.binary and run.channels == 1 and run.config.dataset_options == {"max_dt": 3, "binary": True}
    assert run.encode(np.zeros((2, 64, 64), np.uint8)).shape == (2, run.model.z_dim)


def test_dataset_options_and_truth_only_where_the_dataset_takes_them(tmp_path):
    with pytest.raises(SlowVAEError, match="--max-dt does not apply to dataset 'dsprites-procedural'"):
        TrainConfig(**SMALL, dataset_options={"max_dt": 2})
    with pytest.raises(SlowVAEError, match="--truth gives ground truth to frames:PATH data"):
        make_pair_source(TrainConfig(**SMALL), truth=tmp_path / "truth.csv")
    source = make_pair_source(TrainConfig(**SMALL), progress=lambda *_: None)  # ignored where nothing decodes
    assert source.latent_names
