"""Shapes3D loader on a tiny ``3dshapes.h5`` with the real datasets, dtypes and label values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slowvae.data import get_dataset, get_pair_source
from slowvae.data.transitions import make_transitions

h5py = pytest.importorskip("h5py")

SIZES = (2, 2, 3, 2, 4, 3)  # real: 10, 10, 10, 8, 4, 15


def write_shapes3d(root: Path, chunked: bool = False) -> np.ndarray:
    """Labels with the real value sets (hues 0.0.., scale linspace(0.75, 1.25), shape 0..3,
    orientation linspace(-30, 30)), images whose pixels encode the row index."""
    values = [
        np.arange(SIZES[0]) / 10,
        np.arange(SIZES[1]) / 10,
        np.arange(SIZES[2]) / 10,
        np.linspace(0.75, 1.25, SIZES[3]),
        np.arange(4.0),
        np.linspace(-30, 30, SIZES[5]),
    ]
    grid = np.stack(np.meshgrid(*values, indexing="ij"), axis=-1).reshape(-1, 6)
    n = len(grid)
    images = np.zeros((n, 64, 64, 3), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(n) % 256
    images[:, 0, 0, 1] = np.arange(n) // 256
    images[:, 1:, :, 2] = 7
    (root / "3dshapes").mkdir(parents=True)
    with h5py.File(root / "3dshapes" / "3dshapes.h5", "w") as f:
        f.create_dataset("images", data=images, chunks=(1, 64, 64, 3) if chunked else None)
        f.create_dataset("labels", data=grid.astype(np.float64))
    return images


@pytest.mark.parametrize("chunked", [False, True], ids=["contiguous-mapped", "chunked-h5py"])
def test_factor_order_and_round_trip(tmp_path, chunked, monkeypatch):
    images = write_shapes3d(tmp_path, chunked)
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))
    data = get_dataset("shapes3d")
    assert (data._images is None) == chunked  # the released layout is mapped, not read through h5py
    assert data.factor_sizes == SIZES and data.factor_names[4] == "shape"
    assert data.categorical == (False, False, False, False, True, False) and data.channels == 3
    np.testing.assert_allclose(data.factor_values[5], np.linspace(-30, 30, 3))
    f = data.sample_factors(40, np.random.default_rng(0))
    idx = data.factors_to_index(f)
    np.testing.assert_array_equal(data.index_to_factors(idx), f)
    out = data.images(f)
    assert out.dtype == np.uint8 and out.shape == (40, 3, 64, 64)
    got = out[:, 0, 0, 0].astype(int) + 256 * out[:, 1, 0, 0].astype(int)
    np.testing.assert_array_equal(got, idx)  # orientation fastest
    np.testing.assert_array_equal(out, images[idx].transpose(0, 3, 1, 2))


def test_lap_loc_pairs_and_short_training_run(tmp_path, monkeypatch):
    from slowvae.config import TrainConfig
    from slowvae.rundir import init_run_dir
    from slowvae.train import train

    write_shapes3d(tmp_path)
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))
    for rule in (make_transitions("laplace", rate=1.0), make_transitions("uniform", k=1)):
        _, _, f0, f1 = get_pair_source("shapes3d", rule).sample_pairs(32, np.random.default_rng(1))
        assert ((f0 != f1).any(axis=1)).all()
    init_run_dir(tmp_path / "run", TrainConfig(dataset="shapes3d", steps=1, batch_pairs=4, checkpoint_every=1))
    train(tmp_path / "run")
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
