"""Tracks and transitions from mask videos: exact known motion, gaps, dt, reference windowing."""

import numpy as np
import pytest
import torch

from slowvae.errors import SlowVAEError
from slowvae.masks.tracks import mask_latents, reference_resize, reference_window_offsets, tracks_from_id_maps
from slowvae.stats.differences import transitions


def moving_square_video(steps_x, steps_y, size=(60, 90), side=8, start=(20, 30)):
    """A side x side square whose top-left corner moves by the given integer steps."""
    t = len(steps_x) + 1
    ys = start[0] + np.concatenate([[0], np.cumsum(steps_y)])
    xs = start[1] + np.concatenate([[0], np.cumsum(steps_x)])
    masks = np.zeros((t,) + size, dtype=bool)
    for i, (y, x) in enumerate(zip(ys, xs)):
        masks[i, y : y + side, x : x + side] = True
    return masks, xs + (side - 1) / 2, ys + (side - 1) / 2


def test_generated_video_has_the_known_motion_statistics():
    rng = np.random.default_rng(0)
    # sparse motion: mostly still, occasional jumps (a discrete Laplace)
    sx = np.clip(np.round(rng.laplace(0, 1.5, 400)), -3, 3).astype(int)
    sy = np.clip(np.round(rng.laplace(0, 1.0, 400)), -2, 2).astype(int)
    pos_x = 30 + np.cumsum(sx)
    pos_y = 20 + np.cumsum(sy)
    sx[(pos_x < 0) | (pos_x > 200)] = 0
    sy[(pos_y < 0) | (pos_y > 100)] = 0
    masks, cx, cy = moving_square_video(sx, sy, size=(140, 260))
    lat = mask_latents(masks)
    np.testing.assert_allclose(lat[:, 0], cx)
    np.testing.assert_allclose(lat[:, 1], cy)
    assert (lat[:, 2] == 64).all()
    d = transitions([lat], dt=1)
    np.testing.assert_array_equal(d[:, 0], sx)
    np.testing.assert_array_equal(d[:, 1], sy)
    assert (d[:, 2] == 0).all()
    d3 = transitions([lat], dt=3)
    np.testing.assert_array_equal(d3[:, 0], sx[:-2] + sx[1:-1] + sx[2:])


def test_gaps_break_pairs_and_id_maps_give_one_track_per_object():
    frames = []
    for t in range(5):
        m = np.zeros((20, 30), dtype=np.int64)
        m[2:6, t : t + 4] = 7  # object 7 moves right by 1 px per frame
        if t != 2:
            m[10:12, 10 : 12 + t] = 3  # object 3 grows by 2 px per frame, absent at t = 2
        frames.append((t, m))
    tracks = tracks_from_id_maps(frames)
    assert len(tracks) == 2
    d = transitions(tracks, dt=1)
    # object 3: pairs (0,1), (3,4); object 7: four pairs
    assert len(d) == 6
    assert sorted(d[:, 2].tolist()) == [0, 0, 0, 0, 2, 2]
    assert len(transitions(tracks, dt=2)) == 3 + 1  # object 7: 3, object 3: (1,3)


def test_malformed_videos_raise():
    empty = [(t, np.zeros((8, 8), dtype=int)) for t in range(3)]
    with pytest.raises(SlowVAEError, match="empty"):
        tracks_from_id_maps(empty)
    with pytest.raises(SlowVAEError, match="single frame"):
        tracks_from_id_maps([(0, np.ones((8, 8), dtype=int))])
    with pytest.raises(SlowVAEError, match="mixed shapes"):
        tracks_from_id_maps([(0, np.ones((8, 8), dtype=int)), (1, np.ones((8, 9), dtype=int))])
    with pytest.raises(SlowVAEError, match="no transitions at dt=5"):
        transitions([np.zeros((3, 3))], dt=5)
    with pytest.raises(SlowVAEError, match="no object tracks"):
        transitions([], dt=1)


@pytest.mark.parametrize("shape", [(375, 1242), (1080, 1920), (480, 640)])
def test_reference_resize_matches_torch_nearest(shape):
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 50, shape)
    ours = reference_resize(ids)
    h, w = shape
    size = (64, int(w // (h / 64)))
    ref = torch.nn.functional.interpolate(torch.from_numpy(ids)[None, None].double(), size=size, mode="nearest")
    np.testing.assert_array_equal(ours, ref[0, 0].numpy().astype(np.int64))


def test_reference_windows_and_runs():
    assert reference_window_offsets(211) == [0, 29, 58, 87, 116, 145]
    # a 64 x 64 frame: one window; object 2005 (a pedestrian) above and below 30 px
    areas = [40, 40, 0, 40, 40, 40, 10, 40, 40]  # runs: [0,1] closed by a hole (dropped),
    frames = []  # [3,4,5] (kept, 3 frames), [7,8] (kept: it reaches the last frame)
    for t, a in enumerate(areas):
        m = np.zeros((64, 64), dtype=np.int64)
        m[10 : 10 + a // 10, 5 + t : 15 + t] = 2005 if a else 0
        frames.append((t, m))
    tracks = tracks_from_id_maps(frames, reference=True, drop=(0, 10000))
    # six identical windows (stride 0), each with the two kept runs
    assert len(tracks) == 12
    assert sorted({len(t) for t in tracks}) == [2, 3]
    d = transitions(tracks)
    assert len(d) == 6 * (2 + 1)
    np.testing.assert_allclose(d[:, 0], 1.0)
