"""Cars3D on a tiny ``nips2015-analogy-data.tar.gz`` holding real-layout .mat files and list.txt."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from slowvae.data import get_dataset, get_pair_source
from slowvae.data.cars3d import ARCHIVE
from slowvae.data.paths import MissingDataError
from slowvae.data.registry import DATASETS
from slowvae.data.transitions import make_transitions

CARS = ("car_002_mesh", "car_010_mesh", "car_001_mesh")  # list.txt order differs from sorted order


def write_archive(folder: Path) -> None:
    """data/cars/<name>.mat with im (128, 128, 3, 24, 4) uint8 and mask (128, 128, 24, 4);
    pixel (0, 0) of every view encodes (car in list order, azimuth, elevation)."""
    src = folder / "src"
    (src / "data" / "cars").mkdir(parents=True)
    for c, name in enumerate(CARS):
        im = np.zeros((128, 128, 3, 24, 4), dtype=np.uint8)
        for a in range(24):
            for e in range(4):
                im[:, :, 0, a, e] = 10 * c + 1
                im[:, :, 1, a, e] = a * 10
                im[:, :, 2, a, e] = e * 60
        savemat(src / "data" / "cars" / f"{name}.mat", {"im": im, "mask": np.ones((128, 128, 24, 4), np.uint8)})
    (src / "data" / "cars" / "list.txt").write_text("\n".join(CARS) + "\n")
    with tarfile.open(folder / ARCHIVE, "w:gz") as tf:
        tf.add(src / "data", arcname="data")


def test_prepare_factor_order_and_list_order(tmp_path, monkeypatch):
    folder = tmp_path / "cars"
    folder.mkdir()
    write_archive(folder)
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))
    with pytest.raises(MissingDataError, match="slowvae data download cars3d"):
        get_dataset("cars3d")
    DATASETS["cars3d"].prepare(folder)  # what `data download cars3d` runs after fetching: extract + resize
    data = get_dataset("cars3d")
    assert data.factor_sizes == (4, 24, 3) and data.categorical == (False, False, True) and data.channels == 3
    assert data.car_names == CARS
    f = data.sample_factors(60, np.random.default_rng(0))
    np.testing.assert_array_equal(data.index_to_factors(data.factors_to_index(f)), f)
    out = data.images(f)
    assert out.shape == (60, 3, 64, 64) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, 0, 10, 10], 10 * f[:, 2] + 1)  # car in list.txt order
    np.testing.assert_array_equal(out[:, 1, 10, 10], 10 * f[:, 1])  # azimuth
    np.testing.assert_array_equal(out[:, 2, 10, 10], 60 * f[:, 0])  # elevation


def test_pairs_and_short_training_run(tmp_path, monkeypatch):
    from slowvae.config import TrainConfig
    from slowvae.rundir import init_run_dir
    from slowvae.train import train

    folder = tmp_path / "cars"
    folder.mkdir()
    write_archive(folder)
    DATASETS["cars3d"].prepare(folder)
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))
    _, _, f0, f1 = get_pair_source("cars3d", make_transitions("laplace", rate=1.0)).sample_pairs(
        50, np.random.default_rng(1)
    )
    assert (f0[:, 2] == f1[:, 2]).all() and ((f0 != f1).any(axis=1)).all()  # the car never changes under LAP
    _, _, f0, f1 = get_pair_source("cars3d", make_transitions("uniform", k=1)).sample_pairs(
        50, np.random.default_rng(1)
    )
    assert ((f0 != f1).sum(axis=1) == 1).all()
    init_run_dir(tmp_path / "run", TrainConfig(dataset="cars3d", steps=1, batch_pairs=4, checkpoint_every=1))
    train(tmp_path / "run")
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
