"""KITTI Masks: the pickle loader (pairs d ~ U{1..max_delta_t} apart) and the builder from MOTS
annotations in both forms (16-bit PNG id maps and instances_txt RLE lines)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from slowvae.data import get_pair_source
from slowvae.data.kitti_masks import KittiMasks, build_kitti_masks, window_ids
from slowvae.data.transitions import make_transitions
from slowvae.errors import SlowVAEError
from slowvae.masks.rle import rle_encode


def blob(cy: float, cx: float, r: float, shape=(64, 64)) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def write_pickle(path: Path, lengths=(3, 6, 1, 4)) -> list[np.ndarray]:
    """The released structure: bool (T, 64, 64) masks and float32 (T, 3) (y, x, area) latents."""
    masks, lats = [], []
    for s, t in enumerate(lengths):
        m = np.stack([blob(10 + 2 * i + s, 20 + i, 5 + s) for i in range(t)])
        masks.append(m)
        ys, xs = zip(*[np.argwhere(f).mean(0) for f in m])
        lats.append(np.stack([ys, xs, m.sum((1, 2))], 1).astype(np.float32))
    with open(path, "wb") as fh:
        pickle.dump({"pedestrians": masks, "pedestrians_latents": lats}, fh)
    return masks


def test_loader_pairs_and_delta_t(tmp_path, monkeypatch):
    (tmp_path / "kitti").mkdir()
    masks = write_pickle(tmp_path / "kitti" / "kitti_peds_v2.pickle")
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))
    src = get_pair_source("kitti-masks", make_transitions("laplace"))
    assert isinstance(src, KittiMasks) and src.num_transitions == 2 + 5 + 0 + 3
    assert (src.channels, src.binary, src.latent_names, src.evaluation) == (1, True, ("y", "x", "area"), ("mcc",))
    x0, x1, l0, l1 = src.sample_pairs(4000, np.random.default_rng(0))
    assert x0.dtype == np.uint8 and x0.shape == (4000, 1, 64, 64) and set(np.unique(x0)) == {0, 1}
    np.testing.assert_array_equal(x0[:, 0].sum((1, 2)), l0[:, 2])  # latents belong to their masks
    # recover (sequence, frame) of each frame from its area + position; check d = end - start
    flat = np.concatenate(masks)
    seq_of = np.repeat(np.arange(4), [3, 6, 1, 4])
    frame_of = np.concatenate([np.arange(t) for t in (3, 6, 1, 4)])

    def locate(x):
        hit = (flat[None] == x[:, 0, None].astype(bool)).all((2, 3))
        return hit.argmax(1)

    i0, i1 = locate(x0[:300]), locate(x1[:300])
    assert (seq_of[i0] == seq_of[i1]).all() and (seq_of[i0] != 2).all()  # never the 1-frame sequence
    d = frame_of[i1] - frame_of[i0]
    assert d.min() >= 1 and d.max() <= 5
    last = frame_of[i1] == np.array([3, 6, 1, 4])[seq_of[i1]] - 1
    assert (d[~last] <= 5).all() and len(set(d)) > 2
    src1 = KittiMasks(tmp_path / "kitti" / "kitti_peds_v2.pickle", max_delta_t=1)
    a, b, _, _ = src1.sample_pairs(200, np.random.default_rng(1))
    j0, j1 = locate(a), locate(b)
    assert (frame_of[j1] - frame_of[j0] == 1).all()
    imgs, lat = src.sample_eval(10, np.random.default_rng(2))
    assert imgs.shape == (10, 1, 64, 64) and lat.shape == (10, 3)


def _id_maps(n_frames: int, h: int = 375, w: int = 1242) -> list[np.ndarray]:
    """KITTI-sized id maps: pedestrian 2001 walking, pedestrian 2002 vanishing for one frame at
    t=3, a car 1001 and an ignore region 10000."""
    maps = []
    for t in range(n_frames):
        m = np.zeros((h, w), dtype=np.uint16)
        m[100:300, 200 + 10 * t : 260 + 10 * t] = 2001
        if t != 3:
            m[120:320, 700:760] = 2002
        m[200:300, 1000:1150] = 1001
        m[0:40, 0:100] = 10000
        maps.append(m)
    return maps


def write_mots_png(root: Path, maps: list[np.ndarray]) -> None:
    from PIL import Image

    folder = root / "instances" / "0000"
    folder.mkdir(parents=True)
    for t, m in enumerate(maps):
        Image.fromarray(m.astype(np.uint16)).save(folder / f"{t:06d}.png")
    assert np.array(Image.open(folder / "000000.png")).dtype == np.uint16  # 16-bit PNG


def write_mots_txt(root: Path, maps: list[np.ndarray]) -> None:
    (root / "instances_txt").mkdir(parents=True)
    lines = []
    for t, m in enumerate(maps):
        for obj in np.unique(m)[1:]:
            lines.append(f"{t} {obj} {obj // 1000} {m.shape[0]} {m.shape[1]} {rle_encode(m == obj)}")
    (root / "instances_txt" / "0000.txt").write_text("\n".join(lines) + "\n")


def test_builder_png_and_txt_agree_and_split_tracks(tmp_path):
    maps = _id_maps(8)
    write_mots_png(tmp_path / "png", maps)
    write_mots_txt(tmp_path / "txt", maps)
    c1 = build_kitti_masks([tmp_path / "png"], tmp_path / "a.pickle")
    c2 = build_kitti_masks([tmp_path / "txt"], tmp_path / "b.pickle")
    assert c1 == c2
    a = pickle.load(open(tmp_path / "a.pickle", "rb"))
    b = pickle.load(open(tmp_path / "b.pickle", "rb"))
    assert len(a["pedestrians"]) == len(b["pedestrians"])
    for ma, mb in zip(a["pedestrians"], b["pedestrians"]):
        assert ma.dtype == bool and ma.shape[1:] == (64, 64)
        np.testing.assert_array_equal(ma, mb)
    for m, lat in zip(a["pedestrians"], a["pedestrians_latents"]):
        assert lat.dtype == np.float32
        np.testing.assert_allclose(lat[:, 2], m.sum((1, 2)))
        np.testing.assert_allclose(lat[:, 0], [np.argwhere(f)[:, 0].mean() for f in m], rtol=1e-5)
    lengths = sorted(len(m) for m in a["pedestrians"])
    # 2002 vanishes at t=3: runs t0-2 (3 frames, kept: > 2) and t4-7 (4 frames, at the end)
    assert 3 in lengths and 4 in lengths and max(lengths) <= 8
    # the pickle loads as the dataset
    src = KittiMasks(tmp_path / "a.pickle")
    assert src.num_transitions == c1["transitions"]


def test_reference_quirk_drops_the_highest_id_without_ignore_region():
    win = np.zeros((64, 64), dtype=np.int64)
    win[0:10, 0:10], win[20:30, 20:30] = 2001, 2002
    assert window_ids(win, reference_quirk=False) == [2001, 2002]
    assert window_ids(win, reference_quirk=True) == [2001]  # [1:-1] dropped 2002
    win[50:60, 50:60] = 10000
    assert window_ids(win, reference_quirk=True) == [2001, 2002]
    win[40:45, 40:45] = 1003  # cars are skipped either way
    assert 1003 not in window_ids(win, True) and 1003 not in window_ids(win, False)


def test_cli_build_and_bad_input(tmp_path, capsys):
    from slowvae.cli import main

    write_mots_txt(tmp_path / "mots", _id_maps(5))
    out = tmp_path / "root" / "kitti" / "kitti_peds_v2.pickle"
    assert (
        main(["data", "--root", str(tmp_path / "root"), "build", "kitti-masks", "--mots", str(tmp_path / "mots")]) == 0
    )
    assert out.is_file() and "transitions" in capsys.readouterr().out
    assert (
        main(["data", "--root", str(tmp_path / "root"), "build", "kitti-masks", "--mots", str(tmp_path / "mots")]) == 2
    )
    assert "--force" in capsys.readouterr().err
    (tmp_path / "bad.pickle").write_bytes(pickle.dumps({"other": 1}))
    with pytest.raises(SlowVAEError, match="pedestrians"):
        KittiMasks(tmp_path / "bad.pickle")


def test_short_training_run(tmp_path, monkeypatch):
    from slowvae.config import TrainConfig
    from slowvae.rundir import init_run_dir
    from slowvae.train import train

    (tmp_path / "kitti").mkdir()
    write_pickle(tmp_path / "kitti" / "kitti_peds_v2.pickle")
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))
    init_run_dir(tmp_path / "run", TrainConfig(dataset="kitti-masks", steps=1, batch_pairs=4, checkpoint_every=1))
    train(tmp_path / "run")
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
    from slowvae.evaluate import evaluate_run

    results = evaluate_run(tmp_path / "run", num_samples=200, figures=False)  # MCC on continuous latents
    assert 0 <= results["mcc"] <= 1 and 0 <= results["mcc_untrained"] <= 1
    assert tuple(results["mcc_per_factor"]) == ("y", "x", "area")
