"""MPI3D loaders on uncompressed (``np.savez``, as released) and compressed npz files; the
``images`` member is mapped inside the zip, so memory stays flat on a large file."""

from __future__ import annotations

import dataclasses
import functools
import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from slowvae.data import DATASETS, get_dataset, get_pair_source
from slowvae.data.arrays import RowFile
from slowvae.data.mpi3d import MPI3D
from slowvae.data.paths import MissingDataError
from slowvae.data.transitions import make_transitions
from slowvae.errors import SlowVAEError

SMALL = (2, 3, 2, 2, 2, 2, 3)  # real: 6, 6, 2, 3, 3, 40, 40


def write_mpi3d(root: Path, variant: str, sizes=SMALL, compressed: bool = False) -> np.ndarray:
    n = int(np.prod(sizes))
    images = np.zeros((n, 64, 64, 3), dtype=np.uint8)
    images[:, 5, 5, 0] = np.arange(n) % 256
    images[:, 5, 5, 1] = np.arange(n) // 256
    folder = root / f"mpi3d_{variant}"
    folder.mkdir(parents=True)
    (np.savez_compressed if compressed else np.savez)(folder / f"mpi3d_{variant}.npz", images=images)
    return images


@pytest.mark.parametrize("variant", ["toy", "realistic", "real"])
@pytest.mark.parametrize("compressed", [False, True], ids=["stored", "compressed"])
def test_variants_factor_order_and_round_trip(tmp_path, variant, compressed):
    images = write_mpi3d(tmp_path, variant, compressed=compressed)
    data = MPI3D(variant, root=tmp_path, factor_sizes=SMALL)
    assert data.name == f"mpi3d-{variant}" and data.channels == 3
    assert data.factor_names[1] == "object_shape" and data.categorical == (
        False,
        True,
        False,
        False,
        False,
        False,
        False,
    )
    assert isinstance(data._images, RowFile)
    f = data.sample_factors(30, np.random.default_rng(0))
    idx = data.factors_to_index(f)
    np.testing.assert_array_equal(data.index_to_factors(idx), f)
    out = data.images(f)
    np.testing.assert_array_equal(out, images[idx].transpose(0, 3, 1, 2))


def test_wrong_size_and_missing_file_are_clear(tmp_path, monkeypatch):
    write_mpi3d(tmp_path, "real")
    with pytest.raises(SlowVAEError, match="final 6x6"):
        MPI3D("real", root=tmp_path)  # the real factor sizes do not fit 288 images
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))
    with pytest.raises(MissingDataError, match="slowvae data download mpi3d-toy"):
        get_dataset("mpi3d-toy")


def write_sparse_stored_npz(path: Path, key: str, shape: tuple[int, ...]) -> None:
    """An npz in ``np.savez``'s layout (one stored zip64 member) whose zero pixels are a hole in
    the file, so a GB-sized test file costs no disk writes. Its CRC is left 0 (never checked)."""
    buf = io.BytesIO()
    header = np.lib.format.header_data_from_array_1_0(np.zeros((0, *shape[1:]), np.uint8))
    header["shape"] = shape
    np.lib.format.write_array_header_1_0(buf, header)
    npy_header = buf.getvalue()
    size = len(npy_header) + int(np.prod(shape))
    name = f"{key}.npy".encode()
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 45, 0, 0, 0, 0x21, 0, 0xFFFFFFFF, 0xFFFFFFFF, len(name), 20)
    local += name + struct.pack("<HHQQ", 1, 16, size, size)
    with open(path, "wb") as fh:
        fh.write(local + npy_header)
        fh.truncate(len(local) + size)
        fh.seek(len(local) + size)
        cd_offset = fh.tell()
        central = struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            45,
            45,
            0,
            0,
            0,
            0x21,
            0,
            0xFFFFFFFF,
            0xFFFFFFFF,
            len(name),
            28,
            0,
            0,
            0,
            0,
            0xFFFFFFFF,
        )
        central += name + struct.pack("<HHQQQ", 1, 24, size, size, 0)
        fh.write(central)
        eocd64_offset = fh.tell()
        fh.write(struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, 1, 1, len(central), cd_offset))
        fh.write(struct.pack("<4sIQI", b"PK\x06\x07", 0, eocd64_offset, 1))
        fh.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))


def test_large_stored_npz_is_read_in_place_not_loaded(tmp_path, rss_mb):
    """A 2.1 GB MPI3D-layout npz (sparse on disk): batches are read in place; the resident set
    grows by no more than a few batches (a plain memory map grew by 2.4 GB on a 1 GB file)."""
    sizes = (6, 6, 2, 3, 3, 40, 20)  # 172,800 images = 2.1 GB of pixels
    n = int(np.prod(sizes))
    folder = tmp_path / "mpi3d_real"
    folder.mkdir()
    path = folder / "mpi3d_real.npz"
    write_sparse_stored_npz(path, "images", (n, 64, 64, 3))
    assert zipfile.ZipFile(path).getinfo("images.npy").file_size > 1_000_000_000
    before = rss_mb()
    data = MPI3D("real", root=tmp_path, factor_sizes=sizes)
    rng = np.random.default_rng(0)
    for _ in range(40):
        data.images(data.sample_factors(64, rng))
    after = rss_mb()
    assert after["RssAnon"] - before["RssAnon"] < 50, (before, after)
    assert after["VmRSS"] - before["VmRSS"] < 50, (before, after)
    np.testing.assert_array_equal(data.images(np.zeros((2, 7), int)), 0)


def test_lap_loc_pairs_and_short_training_run(tmp_path, monkeypatch):
    from slowvae.config import TrainConfig
    from slowvae.rundir import init_run_dir
    from slowvae.train import train

    write_mpi3d(tmp_path, "real")
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))
    small = dataclasses.replace(DATASETS["mpi3d-real"], grid=functools.partial(MPI3D, "real", factor_sizes=SMALL))
    monkeypatch.setitem(DATASETS, "mpi3d-real", small)
    for rule in (make_transitions("laplace", rate=1.0), make_transitions("uniform")):
        _, _, f0, f1 = get_pair_source("mpi3d-real", rule).sample_pairs(32, np.random.default_rng(1))
        assert ((f0 != f1).any(axis=1)).all()
    init_run_dir(tmp_path / "run", TrainConfig(dataset="mpi3d-real", steps=1, batch_pairs=4, checkpoint_every=1))
    train(tmp_path / "run")
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
