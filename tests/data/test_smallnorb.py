"""SmallNORB on tiny files with the real binary headers (magic, ndim, max(3, ndim) dims), both
splits, gzip'ed as downloaded; left camera only; instance a nuisance in evaluation."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from slowvae.data import get_dataset, get_pair_source
from slowvae.data.paths import MissingDataError
from slowvae.data.smallnorb import CHUNKS, SmallNORBPairs, read_header
from slowvae.data.transitions import make_transitions

INSTANCES = {CHUNKS[0]: (4, 6), CHUNKS[1]: (0, 1)}  # real: training 4,6,7,8,9; testing 0,1,2,3,5


def norb_matrix(arr: np.ndarray, magic: int) -> bytes:
    dims = list(arr.shape) + [1] * max(0, 3 - arr.ndim)
    return np.array([magic, arr.ndim, *dims], dtype="<i4").tobytes() + arr.astype(arr.dtype.newbyteorder("<")).tobytes()


def write_norb(folder: Path) -> None:
    folder.mkdir(parents=True)
    for chunk, insts in INSTANCES.items():
        rows = [(c, i, e, a, lt) for c in range(2) for i in insts for e in range(2) for a in (0, 2) for lt in range(2)]
        rows = np.array(rows[::-1])  # file order is not the grid order
        n = len(rows)
        dat = np.full((n, 2, 96, 96), 250, dtype=np.uint8)  # right camera: 250
        code = rows[:, 0] * 100 + rows[:, 1] * 10 + rows[:, 2] * 4 + rows[:, 3] + rows[:, 4]
        dat[:, 0] = code[:, None, None].astype(np.uint8)
        for kind, arr, magic in (
            ("dat", dat, 0x1E3D4C55),
            ("cat", rows[:, 0].astype(np.int32), 0x1E3D4C54),
            ("info", rows[:, 1:].astype(np.int32), 0x1E3D4C54),
        ):
            with gzip.open(folder / f"smallnorb-{chunk}-{kind}.mat.gz", "wb") as fh:
                fh.write(norb_matrix(arr, magic))


def test_header_parser(tmp_path):
    path = tmp_path / "cat.mat"
    path.write_bytes(norb_matrix(np.arange(5, dtype=np.int32), 0x1E3D4C54))
    with open(path, "rb") as fh:
        dtype, shape = read_header(fh, path)
        assert dtype == np.dtype("<i4") and shape == (5,) and fh.tell() == 20  # 1-d: 3 dims stored


def test_grid_left_camera_and_nuisance(tmp_path, monkeypatch):
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))
    with pytest.raises(MissingDataError, match="slowvae data download smallnorb"):
        get_dataset("smallnorb")
    write_norb(tmp_path / "small_norb")
    data = get_dataset("smallnorb")
    assert data.factor_sizes == (2, 4, 2, 2, 2) and data.channels == 1
    assert data.categorical == (True, True, False, False, False)
    assert list(data.factor_values[1]) == [0, 1, 4, 6] and list(data.factor_values[3]) == [0, 2]
    f = np.stack(np.unravel_index(np.arange(32), data.factor_sizes), 1)
    out = data.images(f)
    vals = [np.asarray(v) for v in data.factor_values]
    code = vals[0][f[:, 0]] * 100 + vals[1][f[:, 1]] * 10 + vals[2][f[:, 2]] * 4 + vals[3][f[:, 3]] + vals[4][f[:, 4]]
    np.testing.assert_array_equal(out[:, 0, 32, 32], code)  # left camera, lexsorted grid, 64x64
    assert out.shape == (32, 1, 64, 64)
    src = get_pair_source("smallnorb", make_transitions("laplace", rate=1.0))
    assert isinstance(src, SmallNORBPairs)
    assert src.latent_names == ("category", "elevation", "azimuth", "lighting") and src.factor_sizes == (2, 2, 2, 2)
    imgs, lat = src.sample_eval(400, np.random.default_rng(0))
    assert lat.shape == (400, 4)
    inst = (imgs[:, 0, 32, 32].astype(int) % 100) // 10  # the instance drawn as a nuisance
    assert set(inst) == {0, 1, 4, 6}
    again, _ = src.sample_eval(400, np.random.default_rng(0))
    np.testing.assert_array_equal(imgs, again)  # the nuisance comes from the seeded generator
    x0, x1, l0, l1 = src.sample_pairs(100, np.random.default_rng(1))
    assert l0.shape == (100, 4) and (l0[:, 0] == l1[:, 0]).all()
    i0, i1 = (x0[:, 0, 32, 32].astype(int) % 100) // 10, (x1[:, 0, 32, 32].astype(int) % 100) // 10
    assert (i0 == i1).all()  # the instance is fixed within a pair (categorical)
    view = src.eval_dataset(np.random.default_rng(3))
    assert view.factor_sizes == (2, 2, 2, 2) and view.images(np.zeros((3, 4), int)).shape == (3, 1, 64, 64)


def test_short_training_run(tmp_path, monkeypatch):
    from slowvae.config import TrainConfig
    from slowvae.rundir import init_run_dir
    from slowvae.train import train

    write_norb(tmp_path / "small_norb")
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))
    _, _, f0, f1 = get_pair_source("smallnorb", make_transitions("uniform", k=2)).sample_pairs(
        20, np.random.default_rng(0)
    )
    assert ((f0 != f1).sum(1) <= 2).all()
    init_run_dir(tmp_path / "run", TrainConfig(dataset="smallnorb", steps=1, batch_pairs=4, checkpoint_every=1))
    train(tmp_path / "run")
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
