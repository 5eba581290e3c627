"""The figure arrays evaluation computes with the model (viz.py only draws them)."""

from __future__ import annotations

import numpy as np
import torch

from slowvae.evaluate import reconstructions, traversals
from slowvae.models import build_model


def test_traversals_sweep_one_latent_per_row_between_gaussian_quantiles():
    torch.manual_seed(0)
    model = build_model("slowvae", channels=1, z_dim=3).eval()
    rng = np.random.default_rng(0)
    image = (rng.random((1, 1, 64, 64)) > 0.5).astype(np.uint8)
    codes = rng.normal([0.0, 1.0, -2.0], [1.0, 0.5, 2.0], size=(500, 3))
    rows = traversals(model, codes, image, binary=True, steps=5)
    assert rows.shape == (3, 5, 1, 64, 64)
    with torch.no_grad():
        base = model.encoder(torch.from_numpy(image).float())[0][0]
        for i in range(3):
            lo, hi = codes[:, i].mean() - 1.645 * codes[:, i].std(), codes[:, i].mean() + 1.645 * codes[:, i].std()
            for j, value in enumerate(np.linspace(lo, hi, 5)):
                z = base.clone()
                z[i] = float(value)
                want = torch.sigmoid(model.decoder(z[None]))[0].numpy()
                np.testing.assert_allclose(rows[i, j], want, atol=1e-5)


def test_reconstructions_scale_uint8_once():
    torch.manual_seed(0)
    model = build_model("beta-vae", channels=3, z_dim=4).eval()
    images = np.random.default_rng(1).integers(0, 256, size=(2, 3, 64, 64), dtype=np.uint8)
    originals, recon = reconstructions(model, images, binary=False)
    np.testing.assert_allclose(originals, images / 255, atol=1e-7)
    with torch.no_grad():
        want = model.reconstruct(torch.from_numpy(images).float() / 255).numpy()
    np.testing.assert_allclose(recon, want, atol=1e-6)
