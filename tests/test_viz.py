"""Figures: the animated traversals decode exactly the swept codes and loop without a jump."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from slowvae import viz
from slowvae.evaluate import traversal_sweep
from slowvae.models import build_model


def _model_and_codes():
    torch.manual_seed(0)
    model = build_model("slowvae", channels=1, z_dim=4).eval()
    codes = np.random.default_rng(0).normal(size=(200, 4)) * np.array([0.5, 1.0, 2.0, 0.1])
    images = (np.random.default_rng(1).random((2, 1, 64, 64)) > 0.7).astype(np.uint8)
    return model, codes, images


def test_traversal_frames_decode_the_swept_latent():
    model, codes, images = _model_and_codes()
    frames = viz.traversal_frames(*traversal_sweep(model, codes, images, binary=True, steps=5))
    assert frames.shape == (4, 8, 64 + 2 + 3, 2 * 64 + 2, 1) and frames.dtype == np.uint8
    # frame 4 of latent 2 is the top of the sweep: latent 2 at mean + 1.645 std, the others encoded
    with torch.inference_mode():
        z = model.encode(torch.from_numpy(images).float())
        z[:, 2] = float(codes[:, 2].mean() + 1.645 * codes[:, 2].std())
        expected = (torch.sigmoid(model.decoder(z)).numpy() * 255).round().astype(np.uint8)
    assert np.abs(frames[2, 4, :64, :64, 0].astype(int) - expected[0, 0]).max() <= 1
    assert np.abs(frames[2, 4, :64, 66:, 0].astype(int) - expected[1, 0]).max() <= 1
    # there and back: frame j equals frame 8 - j, so the loop has no jump; the bar grows to full width
    for j in range(1, 4):
        assert np.array_equal(frames[:, j], frames[:, 8 - j])
    bars = [(frames[0, j, -1, :, 0] == 230).sum() for j in range(5)]
    assert bars == sorted(bars) and bars[0] == 1 and bars[-1] == 130


def test_traversal_gifs_are_animated(tmp_path):
    model, codes, images = _model_and_codes()
    paths = viz.save_traversal_gifs(*traversal_sweep(model, codes, images, True, steps=4), tmp_path)
    assert [p.name for p in paths] == ["z0.gif", "z1.gif", "z2.gif", "z3.gif"]
    for path in paths:
        gif = Image.open(path)
        assert gif.n_frames == 6 and gif.info["loop"] == 0


def test_colour_traversal_gifs(tmp_path):
    torch.manual_seed(0)
    model = build_model("slowvae", channels=3, z_dim=2).eval()
    codes = np.random.default_rng(0).normal(size=(50, 2))
    images = np.random.default_rng(1).integers(0, 256, (1, 3, 64, 64), dtype=np.uint8)
    frames = viz.traversal_frames(*traversal_sweep(model, codes, images, binary=False, steps=3))
    assert frames.shape == (2, 4, 69, 64, 3)
    gif = Image.open(viz.save_traversal_gifs(*traversal_sweep(model, codes, images, False, steps=3), tmp_path)[1])
    assert gif.n_frames == 4
    first = np.asarray(gif.convert("RGB"))
    assert np.abs(first[:64].astype(int) - frames[1, 0, :64]).mean() < 8  # palette quantisation only


def test_trajectory_step_axis_turns_logarithmic_only_for_a_wide_span():
    def scale(*steps):
        line = {"steps": list(steps), "mean": [0.5] * len(steps), "std": [None] * len(steps)}
        ax = viz.trajectory_figure("mcc", ["a"], [line]).axes[0]
        if ax.get_xscale() != "linear":  # ticked at the scored steps
            assert [t.get_text() for t in ax.get_xticklabels()] == [f"{s / 1000:g}k" if s else "0" for s in steps]
        return ax.get_xscale()

    assert scale(5000, 10000, 20000) == "linear"
    assert scale(5000, 20000, 100000) == "log"  # 20x: the early steps would crowd
    assert scale(5000, 99999) == "linear"
    assert scale(0, 5000, 300000) == "symlog"  # step 0 (untrained) stays on the axis


def test_correlation_steps_stack_one_matrix_per_step(tmp_path):
    rng = np.random.default_rng(0)
    mats = [rng.random((10, 5)) for _ in range(3)]
    heights = []
    for n in (1, 3):
        path = tmp_path / f"corr{n}.png"
        viz.save_correlation_steps(
            mats[:n], [f"step {i}" for i in range(n)], list("abcde"), path, [[0, 1, 2, 3, 4]] * n
        )
        with Image.open(path) as image:
            assert image.format == "PNG"
            heights.append(image.height)
    assert heights[1] > 2.4 * heights[0]  # three panels stacked at full size (976 against 366 px), not squeezed


def test_moving_mean_averages_each_window():
    np.testing.assert_allclose(viz.moving_mean(np.array([1.0, 2, 3, 4, 5]), 2), [1.5, 2.5, 3.5, 4.5])
    np.testing.assert_allclose(viz.moving_mean(np.array([1.0, 2, 3, 4, 5]), 5), [3.0])
    np.testing.assert_allclose(viz.moving_mean(np.array([2.0, 4]), 10), [3.0])  # window longer than the log


def test_loss_terms_figure_draws_window_means_at_each_windows_last_step():
    steps = np.arange(100, 100_001, 100)
    recon = 1000.0 / np.sqrt(steps)
    laplace = np.where(steps > 50_000, 5.0, 4.0)
    fig = viz.loss_terms_figure(steps, {"reconstruction": recon, "Laplace": laplace}, {5000: 0.55, 100000: 0.67})
    recon_ax, laplace_ax, mcc_ax = fig.axes
    x, y = recon_ax.lines[0].get_data()
    np.testing.assert_allclose(x, steps[9:])  # the window of 10 records ends at step 1,000
    np.testing.assert_allclose(y[0], recon[:10].mean())
    x, y = laplace_ax.lines[0].get_data()
    np.testing.assert_allclose(y[np.searchsorted(x, [50_000, 51_000])], [4.0, 5.0])  # a jump stays sharp
    low, high = recon_ax.get_ylim()  # fitted to the curve from the first scored step (5,000) on
    assert low < recon[-10:].mean() < recon[40:50].mean() < high < recon[:10].mean()  # steps 4,100-5,000 in range
    assert mcc_ax.lines[0].get_ydata().tolist() == [0.55, 0.67]
    assert mcc_ax.get_xscale() == "log"  # 100 to 100,000 steps: the early fall would crowd the axis
    assert {t.get_text() for t in mcc_ax.get_xticklabels()} >= {"5k", "100k"}


def test_step_labels_that_would_overlap_are_left_out_from_the_last_step_back():
    steps = [5000, 10000, 20000, 50000, 100000, 150000, 200000, 250000, 300000]
    line = {"steps": steps, "mean": [0.5] * len(steps), "std": [None] * len(steps)}
    ax = viz.trajectory_figure("mcc", ["a"], [line]).axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert [t for t in ax.get_xticks()] == steps  # every scored step keeps its tick mark
    assert labels == ["5k", "10k", "20k", "50k", "100k", "", "200k", "", "300k"]


def test_class_codes_figure_draws_each_class_of_each_latent(tmp_path):
    labels = np.repeat([0, 1, 2], 50)
    codes = np.stack([np.array([0.0, 2.0, 1.0])[labels], np.random.default_rng(0).normal(size=150)], axis=1)
    fig = viz.class_codes_figure(codes, labels, ["square", "ellipse", "heart"], ["latent 9", "latent 2"])
    first, second = fig.axes
    heights = [sum(p.get_height() for p in container) for container in first.containers]
    assert heights == [50, 50, 50]  # every frame of every class is drawn, in its own colour
    left = [min(p.get_x() for p in container if p.get_height() > 0) for container in first.containers]
    assert left[0] < left[2] < left[1]  # square, heart, ellipse along the latent's axis
    assert [t.get_text() for t in first.get_legend().get_texts()] == ["square", "ellipse", "heart"]
    assert second.get_title() == "latent 2"
    viz.save_class_codes(codes, labels, ["a", "b", "c"], ["x", "y"], tmp_path / "c.png")
    with Image.open(tmp_path / "c.png") as image:
        assert image.format == "PNG" and image.width > image.height


def test_trajectory_shows_single_seeds_where_the_seed_count_changes():
    seeds = [
        {"seed": 1, "steps": [5000, 20000, 100000], "values": [0.60, 0.66, 0.68]},
        {"seed": 2, "steps": [5000, 20000], "values": [0.50, 0.56]},
    ]
    uneven = {"steps": [5000, 20000, 100000], "mean": [0.55, 0.61, 0.68], "std": [0.07, 0.07, None]}
    ax = viz.trajectory_figure("mcc", ["a"], [dict(uneven, n=[2, 2, 1], seeds=seeds)]).axes[0]
    dotted = [line for line in ax.lines if line.get_linestyle() == ":"]
    assert [list(line.get_ydata()) for line in dotted] == [[0.60, 0.66, 0.68], [0.50, 0.56]]
    hollow = [line for line in ax.lines if line.get_markerfacecolor() == "white"]
    assert [list(line.get_xdata()) for line in hollow] == [[100000]]  # the mean of seed 1 alone
    assert "single seeds" in ax.get_title()
    even = {"steps": [5000, 20000], "mean": [0.55, 0.61], "std": [0.07, 0.07], "n": [2, 2], "seeds": seeds}
    ax = viz.trajectory_figure("mcc", ["a"], [even]).axes[0]
    assert not [line for line in ax.lines if line.get_linestyle() == ":"] and not ax.get_title()
