"""The real dSprites file loader on tiny files in the exact formats: the compressed npz with its
Python-2 (latin1) pickled metadata, and the hdf5 copy; bit-packed conversion; memory; training."""

from __future__ import annotations

import io
import json
import pickle
import pickletools
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from slowvae.data import get_dataset, get_pair_source
from slowvae.data.dsprites_file import HDF5, NPZ, PACKED, DSpritesFile
from slowvae.data.paths import MissingDataError
from slowvae.data.transitions import make_transitions
from slowvae.errors import SlowVAEError

SIZES = (1, 3, 2, 4, 4, 4)  # color, shape, scale, orientation, posX, posY (real: 1, 3, 6, 40, 32, 32)
NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")


def py2_pickle(obj: object) -> bytes:
    """A protocol-2 pickle whose text is written as Python 2 ``str`` (BINSTRING opcodes), as the
    real metadata was: loading it needs ``encoding='latin1'``."""
    data = pickle.dumps(obj, protocol=2)
    ops = list(pickletools.genops(data))
    out = bytearray()
    for i, (op, arg, pos) in enumerate(ops):
        end = ops[i + 1][2] if i + 1 < len(ops) else len(data)
        if op.name in ("BINUNICODE", "SHORT_BINUNICODE"):
            raw = arg.encode("latin1")
            out += (b"U" + bytes([len(raw)]) if len(raw) < 256 else b"T" + struct.pack("<i", len(raw))) + raw
        else:
            out += data[pos:end]
    return bytes(out)


def grid_images(sizes=SIZES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images that encode their own index: image i has (i mod 4096) pixels on, so order is checkable."""
    n = int(np.prod(sizes))
    classes = np.stack(np.unravel_index(np.arange(n), sizes), axis=1).astype(np.int64)
    imgs = np.zeros((n, 64 * 64), dtype=np.uint8)
    for i in range(n):
        imgs[i, : (i % 4095) + 1] = 1
    values = classes.astype(np.float64) / np.maximum(np.asarray(sizes) - 1, 1)
    return imgs.reshape(n, 64, 64), classes, values


def write_dsprites_npz(path: Path, sizes=SIZES) -> np.ndarray:
    imgs, classes, values = grid_images(sizes)
    metadata = np.array(
        {
            "latents_sizes": np.array(sizes),
            "latents_names": NAMES,
            "date": "April 2017",
            "description": "Disentanglement test Sprites dataset. caf\xe9",
            "version": 1,
        },
        dtype=object,
    )
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in (("imgs", imgs), ("latents_classes", classes), ("latents_values", values)):
            buf = io.BytesIO()
            np.save(buf, arr)
            zf.writestr(f"{key}.npy", buf.getvalue())
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": ()})
        zf.writestr("metadata.npy", buf.getvalue() + py2_pickle(metadata))
    return imgs


def test_the_synthetic_npz_has_the_real_quirks(tmp_path):
    path = tmp_path / NPZ
    write_dsprites_npz(path)
    with zipfile.ZipFile(path) as zf:
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
    with np.load(path, allow_pickle=True) as z, pytest.raises(UnicodeError):
        z["metadata"]  # default ASCII decoding fails, as with the real file
    with np.load(path, allow_pickle=True, encoding="latin1") as z:
        assert tuple(z["metadata"][()]["latents_sizes"]) == SIZES


def test_npz_loader_factor_order_and_round_trip(tmp_path):
    folder = tmp_path / "dsprites"
    folder.mkdir()
    imgs = write_dsprites_npz(folder / NPZ)
    data = DSpritesFile(tmp_path)
    assert (folder / PACKED).is_file()
    assert data.factor_names == NAMES[1:] and data.factor_sizes == SIZES[1:]
    assert data.categorical == (True, False, False, False, False) and data.binary and data.channels == 1
    rng = np.random.default_rng(0)
    f = data.sample_factors(50, rng)
    index = data.factors_to_index(f)
    np.testing.assert_array_equal(data.index_to_factors(index), f)
    out = data.images(f)
    assert out.dtype == np.uint8 and out.shape == (50, 1, 64, 64)
    np.testing.assert_array_equal(out[:, 0], imgs[index])  # posY fastest, color dropped
    with pytest.raises(SlowVAEError):
        data.images(np.array([[3, 0, 0, 0, 0]]))


def test_hdf5_copy_gives_the_same_images(tmp_path):
    h5py = pytest.importorskip("h5py")
    folder = tmp_path / "dsprites"
    folder.mkdir()
    imgs, classes, values = grid_images()
    with h5py.File(folder / HDF5, "w") as f:
        f.create_dataset("imgs", data=imgs, compression="gzip")
        f.create_dataset("latents/classes", data=classes)
        f.create_dataset("latents/values", data=values)
    data = DSpritesFile(tmp_path)
    f = np.array([[2, 1, 3, 0, 3], [0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(data.images(f)[:, 0], imgs[data.factors_to_index(f)])


def test_missing_file_names_the_download_command(monkeypatch, tmp_path):
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))
    with pytest.raises(MissingDataError, match="slowvae data download dsprites"):
        get_dataset("dsprites")


def test_packed_file_keeps_memory_low(tmp_path, rss_mb):
    """The packed map of a dSprites-sized set (737,280 images, 377 MB) stays off the heap."""
    folder = tmp_path / "dsprites"
    folder.mkdir()
    n = 737_280
    packed = np.lib.format.open_memmap(folder / PACKED, mode="w+", dtype=np.uint8, shape=(n, 64, 8))
    packed[::997] = 0xFF
    del packed
    (folder / "dsprites_factors.json").write_text(
        json.dumps({"factor_sizes": [1, 3, 6, 40, 32, 32], "factor_names": list(NAMES), "source": "x"})
    )
    before = rss_mb()
    data = DSpritesFile(tmp_path)
    rng = np.random.default_rng(1)
    for _ in range(50):
        data.images(data.sample_factors(256, rng))
    after = rss_mb()
    assert after["RssAnon"] - before["RssAnon"] < 50, (before, after)  # nothing copied onto the heap
    assert after["RssFile"] - before["RssFile"] < 400  # at most the 377 MB map itself


def test_pairs_and_short_training_run(monkeypatch, tmp_path):
    from slowvae.config import TrainConfig
    from slowvae.rundir import init_run_dir
    from slowvae.train import train

    folder = tmp_path / "dsprites"
    folder.mkdir()
    write_dsprites_npz(folder / NPZ)
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))
    for kind in ("laplace", "uniform"):
        src = get_pair_source(
            "dsprites", make_transitions(kind) if kind == "uniform" else make_transitions("laplace", rate=1.0)
        )
        x0, x1, f0, f1 = src.sample_pairs(64, np.random.default_rng(2))
        assert (f0[:, 0] == f1[:, 0]).all() or kind == "uniform"  # shape categorical under LAP
        assert ((f0 != f1).any(axis=1)).all()
    run = tmp_path / "run"
    init_run_dir(run, TrainConfig(dataset="dsprites", steps=2, batch_pairs=4, checkpoint_every=2, log_every=1))
    train(run)
    assert (run / "checkpoints" / "last.pt").is_file()
