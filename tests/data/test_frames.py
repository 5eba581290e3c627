"""The frames:PATH dataset: readers, 64 x 64 preparation, the cache, pairs, ground truth, bad input."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PIL import Image
from sprite_video import sprite_walk, write_mp4, write_png_folder, write_truth

from slowvae.data import get_pair_source
from slowvae.data.frame_readers import find_sequences, natural_key
from slowvae.data.frames import FramesSource, clean_caches, open_frames, read_truth, square_resize
from slowvae.errors import SlowVAEError


@pytest.fixture(autouse=True)
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "data-root"
    monkeypatch.setenv("SLOWVAE_DATA", str(root))
    return root


def counted(frames_seen: list) -> callable:
    return lambda done, total, name: frames_seen.append((done, total))


def test_natural_sort_puts_f2_before_f10():
    names = ["f10.png", "f2.png", "f1.png", "F3.png", "f10b.png", "a.png"]
    assert sorted(names, key=natural_key) == ["a.png", "f1.png", "f2.png", "F3.png", "f10.png", "f10b.png"]


def test_image_folder_frames_in_natural_order(tmp_path):
    folder = tmp_path / "seq"
    folder.mkdir()
    for t in range(12):  # frame t is filled with the value 20 t
        Image.fromarray(np.full((64, 64), 20 * t, dtype=np.uint8)).save(folder / f"f{t}.png")
    (folder / "notes.txt").write_text("not a frame")
    frames = open_frames(folder)
    assert frames.names == ("0",) and frames.lengths.tolist() == [12] and frames.channels == 1
    np.testing.assert_array_equal(frames.frames[:, 0, 0, 0], 20 * np.arange(12))


def test_folder_of_subfolders_is_one_sequence_each(tmp_path):
    for name, n in (("walk10", 3), ("walk2", 4)):
        write_png_folder(tmp_path / "in" / name, np.zeros((n, 64, 64), dtype=np.uint8))
    frames = open_frames(tmp_path / "in")
    assert frames.names == ("walk2", "walk10") and frames.lengths.tolist() == [4, 3]
    names, positions = frames.index()
    assert list(names) == ["walk2"] * 4 + ["walk10"] * 3 and positions.tolist() == [0, 1, 2, 3, 0, 1, 2]


@pytest.mark.parametrize(
    "shape, sequences, channels",
    [
        ((5, 64, 64), 1, 1),
        ((3, 5, 64, 64), 3, 1),
        ((5, 64, 64, 3), 1, 3),
        ((2, 5, 64, 64, 1), 2, 1),
        ((5, 64, 64, 4), 1, 3),
    ],
)
def test_npy_shapes(tmp_path, shape, sequences, channels):
    array = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    np.save(tmp_path / "x.npy", array)
    frames = open_frames(tmp_path / "x.npy")
    assert frames.names == tuple(str(s) for s in range(sequences))
    assert frames.frames.shape == (5 * sequences, channels, 64, 64) and not frames.binary
    flat = array.reshape(5 * sequences, 64, 64, -1)[..., :3].transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(frames.frames, flat)  # 64 x 64 frames pass unchanged


def test_npy_values_scale_to_uint8(tmp_path):
    floats = np.random.default_rng(0).random((4, 64, 64)).astype(np.float32)
    np.save(tmp_path / "f.npy", floats)
    np.testing.assert_array_equal(open_frames(tmp_path / "f.npy").frames[:, 0], np.rint(floats * 255))
    np.save(tmp_path / "big.npy", np.full((4, 64, 64), 300, dtype=np.int32))
    with pytest.raises(SlowVAEError, match="values up to 300"):
        open_frames(tmp_path / "big.npy")


def test_bad_npy_shape_is_named(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((5, 64), dtype=np.uint8))
    with pytest.raises(SlowVAEError, match=r"shape \(5, 64\); expected \(T, H, W\)"):
        open_frames(tmp_path / "x.npy")


def test_npz_keys_are_sequence_names(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {
        "cam10": rng.integers(0, 256, (3, 64, 64), dtype=np.uint8),
        "cam2": rng.integers(0, 256, (4, 64, 64), dtype=np.uint8),
    }
    np.savez_compressed(tmp_path / "x.npz", **arrays)
    frames = open_frames(tmp_path / "x.npz")
    assert frames.names == ("cam2", "cam10") and frames.lengths.tolist() == [4, 3]
    np.testing.assert_array_equal(frames.frames[4:, 0], arrays["cam10"])


def test_centre_crop_then_area_resize():
    frame = np.zeros((1, 128, 192, 1), dtype=np.uint8)
    frame[:, :, :32] = 255  # outside the centred 128 x 128 square
    frame[:, :, -32:] = 255
    frame[:, 0:2, 32:34] = 200  # one 2 x 2 block inside it -> one pixel of mean 200
    out = square_resize(frame)
    assert out.shape == (1, 1, 64, 64) and out[0, 0, 0, 0] == 200 and out.sum() == 200
    odd = np.random.default_rng(0).integers(0, 256, (1, 100, 100, 3), dtype=np.uint8)
    assert abs(square_resize(odd).mean() - odd.mean()) < 1  # area resize keeps the mean


def test_binary_masks_stay_binary_and_binary_forces(tmp_path):
    masks = np.zeros((4, 96, 96), dtype=np.uint8)
    masks[:, 20:50, 30:70] = 255
    np.save(tmp_path / "m.npy", masks)
    frames = open_frames(tmp_path / "m.npy")
    assert frames.binary and set(np.unique(frames.frames)) == {0, 1}
    assert abs(int(frames.frames[0].sum()) - 30 * 40 * (64 / 96) ** 2) < 40
    colour = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    np.save(tmp_path / "c.npy", colour)
    assert not open_frames(tmp_path / "c.npy").binary
    forced = open_frames(tmp_path / "c.npy", binary=True)
    assert forced.binary and forced.channels == 1 and set(np.unique(forced.frames)) == {0, 1}


def test_cache_is_reused_and_rebuilt_when_input_changes(tmp_path, data_root):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((6, 64, 64), dtype=np.uint8))
    calls: list = []
    first = open_frames(path, progress=counted(calls))
    assert calls and calls[-1] == (6, 6)
    calls.clear()
    assert open_frames(path, progress=counted(calls)).frames.shape == first.frames.shape and not calls
    np.save(path, np.full((6, 64, 64), 7, dtype=np.uint8))  # same size, new time
    os.utime(path, ns=(1, 1))
    again = open_frames(path, progress=counted(calls))
    assert calls and again.frames[0, 0, 0, 0] == 7
    calls.clear()
    np.save(path, np.full((9, 64, 64), 9, dtype=np.uint8))  # new size
    os.utime(path, ns=(1, 1))  # same time as before
    assert open_frames(path, progress=counted(calls)).lengths.tolist() == [9] and calls
    assert len(list((data_root / "frames").glob("*.npy"))) == 1  # rebuilt in place, keyed by path


def test_image_folder_cache_sees_a_changed_frame(tmp_path):
    write_png_folder(tmp_path / "seq", np.zeros((3, 64, 64), dtype=np.uint8))
    assert open_frames(tmp_path / "seq").frames.max() == 0
    Image.fromarray(np.full((64, 64), 99, dtype=np.uint8)).save(tmp_path / "seq" / "f1.png")
    assert open_frames(tmp_path / "seq").frames[1].max() == 99


def test_clean_caches_removes_them(tmp_path, data_root):
    np.save(tmp_path / "x.npy", np.zeros((3, 64, 64), dtype=np.uint8))
    open_frames(tmp_path / "x.npy")
    assert clean_caches()[0] == 1 and not (data_root / "frames").exists()
    assert clean_caches() == (0, 0)


def test_pairs_stay_within_sequences_with_dt_up_to_max(tmp_path):
    arrays = {f"s{i}": np.zeros((n, 64, 64), dtype=np.uint8) for i, n in enumerate((4, 9, 30, 5))}
    np.savez(tmp_path / "x.npz", **arrays)
    source = FramesSource(tmp_path / "x.npz", max_dt=3)
    r0, r1 = source.pair_rows(60_000, np.random.default_rng(0))
    seq0, seq1 = source.frames.sequence_of(r0), source.frames.sequence_of(r1)
    assert np.array_equal(seq0, seq1)
    assert set(np.unique(r1 - r0)) == {1, 2, 3}
    # uniform over every (sequence, start, dt) that fits: 1 + 6 + 27 + 2 starts at dt = 3
    combos = {(int(a), int(b)) for a, b in zip(r0, r1)}
    assert len(combos) == sum(n - d for n in (4, 9, 30, 5) for d in (1, 2, 3))
    counts = np.bincount(r1 - r0)[1:]
    assert np.abs(counts / counts.sum() - 1 / 3).max() < 0.01


def test_distinct_pairs_are_every_pair_once_and_counted(tmp_path):
    lengths = (4, 9, 30, 5)
    arrays = {f"s{i}": np.zeros((n, 64, 64), dtype=np.uint8) for i, n in enumerate(lengths)}
    np.savez(tmp_path / "x.npz", **arrays)
    source = FramesSource(tmp_path / "x.npz", max_dt=3)
    firsts = np.cumsum((0, *lengths[:-1]))
    every = {(a, a + d) for first, n in zip(firsts, lengths) for d in (1, 2, 3) for a in range(first, first + n - d)}
    assert source.pair_count == len(every) == sum(n - d for n in lengths for d in (1, 2, 3)) == 120
    r0, r1 = source.distinct_pair_rows(10_000, np.random.default_rng(0))  # more than exist: each once
    assert len(r0) == 120 and {(int(a), int(b)) for a, b in zip(r0, r1)} == every
    r0, r1 = source.distinct_pair_rows(50, np.random.default_rng(1))
    assert len({(int(a), int(b)) for a, b in zip(r0, r1)}) == 50 and {(int(a), int(b)) for a, b in zip(r0, r1)} <= every
    # the training stream is what it was: pair_rows draws the same pairs as before
    a0, a1 = source.pair_rows(7, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    dt = rng.integers(1, 4, size=7)
    u = rng.integers(0, 48 - 4 * dt)
    assert np.array_equal(a1 - a0, dt) and np.array_equal(source._rows(u, dt)[0], a0)


def test_sample_eval_without_truth_gives_at_most_the_distinct_frames(tmp_path):
    np.save(tmp_path / "x.npy", np.repeat(np.arange(0, 252, 7, dtype=np.uint8), 64 * 64).reshape(36, 64, 64))
    source = FramesSource(tmp_path / "x.npy")
    images, latents = source.sample_eval(10_000, np.random.default_rng(0))
    assert images.shape[0] == 36 and latents.shape == (36, 0)
    assert len({im.tobytes() for im in images}) == 36


def test_sample_distinct_pairs_drops_repeats_of_a_source_that_cannot_count(tmp_path):
    from slowvae.data.pairs import sample_distinct_pairs

    class Repeating:
        def sample_pairs(self, n, rng):
            k = rng.integers(0, 5, size=n)
            x = np.broadcast_to(k[:, None, None, None], (n, 1, 64, 64)).astype(np.uint8)
            return x, x + 1, k[:, None], k[:, None]

    x_t, x_next = pairs = sample_distinct_pairs(Repeating(), 100, np.random.default_rng(0))
    assert pairs.total is None and len(x_t) == len(x_next) == 5
    assert sorted(int(x[0, 0, 0]) for x in x_t) == [0, 1, 2, 3, 4] and np.array_equal(x_next, x_t + 1)
    np.savez(tmp_path / "x.npz", a=np.zeros((6, 64, 64), np.uint8), b=np.ones((4, 64, 64), np.uint8))
    counted_pairs = sample_distinct_pairs(FramesSource(tmp_path / "x.npz"), 100, np.random.default_rng(0))
    assert counted_pairs.total == 8 and len(counted_pairs[0]) == 8


def test_get_pair_source_builds_frames_with_options(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 5, 64, 64), dtype=np.uint8))
    source = get_pair_source(f"frames:{tmp_path / 'x.npy'}", None, max_dt=2)
    x0, x1, l0, l1 = source.sample_pairs(8, np.random.default_rng(0))
    assert x0.shape == x1.shape == (8, 1, 64, 64) and x0.dtype == np.uint8 and l0.shape == (8, 0)
    assert source.max_dt == 2 and source.latent_names == ()
    with pytest.raises(SlowVAEError, match="not rate"):
        get_pair_source(f"frames:{tmp_path / 'x.npy'}", None, rate=2)


def test_truth_latents_follow_the_frames(tmp_path):
    rng = np.random.default_rng(2)
    f0, xy0 = sprite_walk(20, rng)
    f1, xy1 = sprite_walk(15, rng)
    write_png_folder(tmp_path / "in" / "a", f0)
    write_png_folder(tmp_path / "in" / "b", f1)
    write_truth(tmp_path / "truth.csv", {"b": xy1, "a": xy0})  # row order does not matter
    source = FramesSource(tmp_path / "in", truth=tmp_path / "truth.csv", max_dt=2)
    assert source.latent_names == ("x", "y")
    r0, r1 = source.pair_rows(50, np.random.default_rng(0))
    both = np.concatenate([xy0, xy1])
    _, _, l0, l1 = source.sample_pairs(50, np.random.default_rng(0))
    np.testing.assert_allclose(l0, both[r0], atol=1e-3)
    np.testing.assert_allclose(l1, both[r1], atol=1e-3)


@pytest.mark.parametrize(
    "rows, message",
    [
        (lambda r: r[:-1], "1 frames of .* have no row"),
        (lambda r: r + [r[1]], "appears twice"),
        (lambda r: r + [["0", "20", "1", "1"]], "frame 20 of sequence '0' does not exist"),
        (lambda r: [["cam", *x[1:]] for x in r], "sequence 'cam' is not in"),
        (lambda r: r[:1] + [["0", "x", "1", "1"]], "frame must be an integer"),
    ],
)
def test_truth_that_does_not_match_is_refused(tmp_path, rows, message):
    np.save(tmp_path / "x.npy", np.zeros((20, 64, 64), dtype=np.uint8))
    frames = open_frames(tmp_path / "x.npy")
    good = [["0", str(t), "1.5", "2"] for t in range(20)]
    (tmp_path / "t.csv").write_text("sequence,frame,a,b\n" + "\n".join(",".join(r) for r in rows(good)) + "\n")
    with pytest.raises(SlowVAEError, match=message):
        read_truth(tmp_path / "t.csv", frames)
    (tmp_path / "t.csv").write_text("seq,frame,a\n0,0,1\n")
    with pytest.raises(SlowVAEError, match="header must be"):
        read_truth(tmp_path / "t.csv", frames)


# ---------------------------------------------------------------- bad input leaves no cache


def assert_no_cache(data_root):
    folder = data_root / "frames"
    assert not folder.exists() or not [p for p in folder.iterdir() if p.name != ".lock"]


def test_unreadable_frame(tmp_path, data_root):
    write_png_folder(tmp_path / "seq", np.zeros((3, 64, 64), dtype=np.uint8))
    (tmp_path / "seq" / "f1.png").write_bytes(b"not a png")
    with pytest.raises(SlowVAEError, match=r"cannot read frame .*f1\.png"):
        open_frames(tmp_path / "seq")
    assert_no_cache(data_root)


def test_mixed_frame_sizes(tmp_path, data_root):
    write_png_folder(tmp_path / "seq", np.zeros((3, 64, 64), dtype=np.uint8))
    Image.fromarray(np.zeros((70, 64), dtype=np.uint8)).save(tmp_path / "seq" / "f2.png")
    with pytest.raises(SlowVAEError, match="mixed sizes in sequence '0'.*frame 2 is 64x70"):
        open_frames(tmp_path / "seq")
    assert_no_cache(data_root)


def test_sequence_shorter_than_max_dt(tmp_path):
    np.savez(tmp_path / "x.npz", long=np.zeros((9, 64, 64), np.uint8), short=np.zeros((3, 64, 64), np.uint8))
    FramesSource(tmp_path / "x.npz", max_dt=2)
    with pytest.raises(SlowVAEError, match="'short' .* has 3 frame.*--max-dt 3 apart need at least 4"):
        FramesSource(tmp_path / "x.npz", max_dt=3)


def test_mp4_matches_the_png_folder(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    frames, _ = sprite_walk(30, np.random.default_rng(0))
    write_mp4(tmp_path / "v.mp4", frames)
    write_png_folder(tmp_path / "png", frames)
    video, png = open_frames(tmp_path / "v.mp4"), open_frames(tmp_path / "png")
    assert video.names == ("0",) and video.channels == 3 and png.channels == 1 and len(video) == 30
    assert np.abs(video.frames[:, 1].astype(int) - png.frames[:, 0]).mean() < 1  # H.264 at crf 10


def test_video_without_usable_codec(tmp_path, data_root):
    iff = pytest.importorskip("imageio_ffmpeg")
    writer = iff.write_frames(
        str(tmp_path / "m.avi"), (64, 64), codec="mjpeg", fps=10, quality=None, macro_block_size=1
    )
    writer.send(None)
    for _ in range(3):
        writer.send(np.zeros((64, 64, 3), dtype=np.uint8))
    writer.close()
    data = (tmp_path / "m.avi").read_bytes()
    (tmp_path / "m.avi").write_bytes(data.replace(b"MJPG", b"QQQQ"))  # a codec tag no decoder knows
    with pytest.raises(SlowVAEError, match="has no usable codec"):
        open_frames(tmp_path / "m.avi")
    assert_no_cache(data_root)


def test_folder_of_videos_names_sequences_by_file(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    rng = np.random.default_rng(0)
    (tmp_path / "videos").mkdir()
    for name, n in (("clip10", 12), ("clip2", 8)):
        write_mp4(tmp_path / "videos" / f"{name}.mp4", sprite_walk(n, rng)[0])
    shutil.copy(tmp_path / "videos" / "clip2.mp4", tmp_path / "videos" / ".hidden.mp4")
    frames = open_frames(tmp_path / "videos")
    assert frames.names == ("clip2", "clip10") and frames.lengths.tolist() == [8, 12]


def test_unsupported_inputs_are_named(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(SlowVAEError, match="cannot read .txt as frames"):
        find_sequences(tmp_path / "x.txt")
    with pytest.raises(SlowVAEError, match="does not exist"):
        find_sequences(tmp_path / "nope")
    write_png_folder(tmp_path / "mixed" / "sub", np.zeros((2, 64, 64), dtype=np.uint8))
    Image.fromarray(np.zeros((64, 64), dtype=np.uint8)).save(tmp_path / "mixed" / "a.png")
    with pytest.raises(SlowVAEError, match="holds both image files and sub-folders"):
        find_sequences(tmp_path / "mixed")
