"""Readers on tiny files written in the exact real formats."""

import csv
import pickle

import numpy as np
import pytest
from PIL import Image

from slowvae.errors import SlowVAEError
from slowvae.masks.readers import (
    read_id_png,
    read_kitti_pickle,
    read_mask_array,
    read_mask_dir,
    read_mots,
    read_natural_sprites_csv,
)
from slowvae.masks.rle import rle_encode
from slowvae.stats.differences import transitions


def mots_frames(n=4, h=40, w=120):
    """uint16 id maps: pedestrian 2001 moving right 2 px/frame, car 1003 still, an ignore region."""
    out = []
    for t in range(n):
        m = np.zeros((h, w), dtype=np.uint16)
        m[5:15, 10 + 2 * t : 16 + 2 * t] = 2001
        m[20:30, 60:80] = 1003
        m[35:40, 0:10] = 10000
        out.append(m)
    return out


def write_mots(root, frames, seq="0002"):
    png_dir = root / "instances" / seq
    png_dir.mkdir(parents=True)
    txt_dir = root / "instances_txt"
    txt_dir.mkdir()
    lines = []
    for t, m in enumerate(frames):
        Image.fromarray(m).save(png_dir / f"{t:06d}.png")  # 16-bit grey PNG, as MOTS
        for obj in np.unique(m):
            if obj:
                h, w = m.shape
                lines.append(f"{t} {obj} {obj // 1000} {h} {w} {rle_encode(m == obj)}")
    (txt_dir / f"{seq}.txt").write_text("\n".join(lines) + "\n")


def test_mots_png_and_txt_agree(tmp_path):
    write_mots(tmp_path, mots_frames())
    png = read_mots(tmp_path / "instances")
    txt = read_mots(tmp_path / "instances_txt")
    assert read_id_png(tmp_path / "instances" / "0002" / "000000.png").max() == 10000
    assert len(png) == len(txt) == 2  # the ignore region is never an object
    for a, b in zip(png, txt):
        np.testing.assert_allclose(a, b)
    d = transitions(png)
    assert sorted(d[:, 0].tolist()) == [0, 0, 0, 2, 2, 2]
    peds = read_mots(tmp_path, classes={2})  # the root: instances/ is used
    assert len(peds) == 1 and np.allclose(transitions(peds)[:, 0], 2)


def test_mots_reference_windows_keep_pedestrians_in_64px_windows(tmp_path):
    frames = []
    for t in range(5):
        m = np.zeros((128, 384), dtype=np.uint16)
        m[20:60, 40 + 4 * t : 60 + 4 * t] = 2001  # 40 x 20 px -> 20 x 10 = 200 px at 64 px height
        m[80:120, 200:260] = 1002
        frames.append(m)
    write_mots(tmp_path, frames)
    tracks = read_mots(tmp_path, reference=True)
    assert tracks and all(np.isfinite(t).all() for t in tracks)
    d = transitions(tracks)
    # resized to 64 x 192 (windows at x = 0, 25, ..., 125): the pedestrian moves 2 px per frame
    # where a window holds all of it (window 0: 4 transitions), less where a window cuts it; the
    # car is dropped; areas are in pixels of the window (at most 20 x 10)
    assert ((d[:, 0] > 0) & (d[:, 0] <= 2)).all() and (d[:, 0] == 2).sum() >= 4
    assert (d[:, 1] == 0).all() and max(t[:, 2].max() for t in tracks) == 200


def test_mots_errors(tmp_path):
    with pytest.raises(SlowVAEError, match="no annotations"):
        read_mots(tmp_path)
    bad = tmp_path / "bad.txt"
    bad.write_text("0 2001 2 10 10 ab\n1 2001 2 10 12 ab\n")
    with pytest.raises(SlowVAEError, match="mixed shapes"):
        read_mots(bad)
    bad.write_text("0 2001 2 10 10\n")
    with pytest.raises(SlowVAEError, match="expected 'time_frame"):
        read_mots(bad)
    bad.write_text("0 2001 2 10 10 P\n1 2001 2 10 10 P\n")
    with pytest.raises(SlowVAEError, match="frame 0, object 2001"):
        read_mots(bad)


def write_natural_csv(path, rows):
    """rows: list of (ann_id, cat_id, [cell, ...]) with cell None or a list of window entries,
    written as gen_youtube_csv.py does (pandas-style quoting of Python-literal lists)."""
    max_len = max(len(r[2]) for r in rows)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "cat_id"] + [f"t_{i}" for i in range(max_len)])
        for ann, cat, cells in rows:
            cells = cells + [None] * (max_len - len(cells))
            w.writerow([ann, cat] + ["" if c is None else str(c) for c in cells])


def test_natural_sprites_csv_pairs(tmp_path):
    path = tmp_path / "downscale_keepaspect.csv"
    rows = [
        (
            1,
            5,
            [
                [(30.0, 10.0, 100), None, None],
                [(31.0, 12.5, 110), (31.0, 3.0, 20), None],
                None,
                [(33.0, 14.0, 90), (33.0, 2.0, 25), None],
                [(34.0, 15.0, 95), (34.0, 1.0, 30), None],
            ],
        ),
        (2, 7, [[None, None, (40.5, 50.0, 300)], [None, None, (41.5, 49.0, 310)]]),
    ]
    write_natural_csv(path, rows)
    assert '"[(30.0, 10.0, 100), None, None]"' in path.read_text()
    tracks = read_natural_sprites_csv(path)
    assert len(tracks) == 3  # (row 1, window 0), (row 1, window 1), (row 2, window 2)
    d = transitions(tracks)
    # consecutive frames where the same window is non-empty in both: 2 + 1 + 1
    expected = {(2.5, 1.0, 10.0), (1.0, 1.0, 5.0), (-1.0, 1.0, 5.0), (-1.0, 1.0, 10.0)}
    assert {tuple(r) for r in d.tolist()} == expected  # columns (dx, dy, darea)
    assert len(transitions(tracks, dt=3)) == 3  # window 0: 0 -> 3, 1 -> 4; window 1: 1 -> 4


def test_natural_sprites_csv_errors(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text('id,cat_id,t_0,t_1\n1,2,"[(1.0, 2.0)]",\n')
    with pytest.raises(SlowVAEError, match="row 2, frame 0"):
        read_natural_sprites_csv(path)
    path.write_text('id,cat_id,t_0,t_1\n1,2,"[(1.0, 2.0, 3)]","[(1.0, 2.0, 3), None]"\n')
    with pytest.raises(SlowVAEError, match="other frames have 2"):
        read_natural_sprites_csv(path)
    path.write_text("id,cat_id,t_0\n1,2,\n")
    with pytest.raises(SlowVAEError, match="no object"):
        read_natural_sprites_csv(path)


def test_kitti_pickle_latents_are_reordered(tmp_path):
    rng = np.random.default_rng(0)
    lats = [rng.random((t, 3)).astype(np.float32) * 60 for t in (3, 5, 2)]
    masks = [np.zeros((len(lat), 64, 64), dtype=bool) for lat in lats]
    path = tmp_path / "kitti_peds_v2.pickle"
    with open(path, "wb") as fh:
        pickle.dump({"pedestrians": masks, "pedestrians_latents": lats}, fh)
    tracks = read_kitti_pickle(path)
    np.testing.assert_allclose(tracks[0][:, 0], lats[0][:, 1])  # x is the column (second)
    d = transitions(tracks)
    assert len(d) == (3 - 1) + (5 - 1) + (2 - 1)  # masks - sequences, as the reference's 82,506
    with open(path, "wb") as fh:
        pickle.dump({"cars": masks}, fh)
    with pytest.raises(SlowVAEError, match="pedestrians"):
        read_kitti_pickle(path)


def test_mask_dir_grey_palette_and_errors(tmp_path):
    for t in range(3):
        m = np.zeros((30, 40), dtype=np.uint8)
        m[5:10, 5 + t : 10 + t] = 1
        m[15:25, 20 : 30 + t] = 255
        if t == 1:  # a palette image, as DAVIS / YouTube-VOS annotations: ids are the indices
            img = Image.new("P", (40, 30))
            img.putpalette([0, 0, 0, 200, 0, 0] + [0, 255, 0] * 254)
            img.putdata(m.ravel().tolist())
        else:
            img = Image.fromarray(m, mode="L")
        img.save(tmp_path / f"frame_{t:03d}.png")
    tracks = read_mask_dir(tmp_path)
    d = transitions(tracks)
    assert sorted(d[:, 2].tolist()) == [0, 0, 10, 10]
    Image.fromarray(np.zeros((31, 40), dtype=np.uint8)).save(tmp_path / "frame_999.png")
    with pytest.raises(SlowVAEError, match="mixed shapes"):
        read_mask_dir(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SlowVAEError, match="no .png"):
        read_mask_dir(empty)
    for t in range(2):
        Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(empty / f"{t}.png")
    with pytest.raises(SlowVAEError, match="empty"):
        read_mask_dir(empty)


def test_mask_array_and_errors(tmp_path):
    masks = np.zeros((4, 16, 16), dtype=np.uint8)
    for t in range(4):
        masks[t, 2:6, t : t + 3] = 1
    np.save(tmp_path / "m.npy", masks)
    (track,) = read_mask_array(tmp_path / "m.npy")
    np.testing.assert_allclose(np.diff(track[:, 0]), 1.0)
    with pytest.raises(SlowVAEError, match="empty"):
        read_mask_array(np.zeros((3, 8, 8)))
    with pytest.raises(SlowVAEError, match="single frame"):
        read_mask_array(np.ones((1, 8, 8)))
    with pytest.raises(SlowVAEError, match=r"\(T, H, W\)"):
        read_mask_array(np.ones((2, 2, 8, 8)))
    (tmp_path / "x.npy").write_text("not numpy")
    with pytest.raises(SlowVAEError, match="cannot read"):
        read_mask_array(tmp_path / "x.npy")
