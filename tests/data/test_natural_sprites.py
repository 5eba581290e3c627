"""Natural Sprites: renderer, the CSV parsed as the reference, the binned grid, natural-like."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slowvae.data import get_dataset, get_pair_source
from slowvae.data.natural_sprites import (
    ANGLES,
    SHAPES,
    CsvTransitions,
    csv_pairs,
    render,
    shape_outline,
)
from slowvae.data.paths import MissingDataError
from slowvae.data.transitions import make_transitions
from slowvae.errors import SlowVAEError


def write_csv(path: Path, n_rows: int = 40, seed: int = 0) -> None:
    """The released layout: header id,cat_id,t_0..; cells empty or a list of 3 windows, each
    ``(com_y, com_x, area)`` or None (numpy-free literals, as gen_youtube_csv.py writes them)."""
    rng = np.random.default_rng(seed)
    lines = ["id,cat_id," + ",".join(f"t_{j}" for j in range(8))]
    for r in range(n_rows):
        cells = []
        y, x, a = rng.uniform(16, 48), rng.uniform(16, 48), rng.uniform(100, 600)
        for _ in range(8):
            if rng.random() < 0.15:
                cells.append("")
                continue
            y, x, a = y + rng.laplace(0, 1), x + rng.laplace(0, 1), max(a + rng.laplace(0, 20), 30)
            wins = [f"({y:.3f}, {x:.3f}, {a:.1f})" if rng.random() < 0.7 else "None" for _ in range(3)]
            cells.append('"[' + ", ".join(wins) + ']"')
        lines.append(f"{1000 + r},{r % 40 + 1}," + ",".join(cells))
    path.write_text("\n".join(lines) + "\n")


def test_shapes_have_unit_area_and_render_with_that_area():
    for name in SHAPES:
        v = shape_outline(name)
        area = 0.5 * abs(np.dot(v[:, 0], np.roll(v[:, 1], -1)) - np.dot(v[:, 1], np.roll(v[:, 0], -1)))
        assert area == pytest.approx(1.0)
    area_px = 400.0
    imgs = render(np.full(4, 0.5), np.full(4, 0.5), np.full(4, np.sqrt(area_px) / 64), np.zeros(4), np.arange(4))
    assert imgs.dtype == np.uint8 and imgs.shape == (4, 3, 64, 64)
    assert (imgs[:, 0] == imgs[:, 1]).all() and (imgs[:, 0] == imgs[:, 2]).all()  # white
    assert imgs.max() == 255 and imgs[:, :, 0, 0].max() == 0  # on black
    np.testing.assert_allclose(imgs[:, 0].astype(float).sum((1, 2)) / 255, area_px, rtol=0.03)


def test_position_is_flipped_vertically_like_spriteworld():
    img = render([0.25], [0.25], [0.1], [0], [0])[0, 0].astype(float)
    rows, cols = np.nonzero(img > 128)
    assert cols.mean() == pytest.approx(16, abs=1) and rows.mean() == pytest.approx(48, abs=1)  # y up
    rot = render([0.5], [0.5], [0.3], [45.0], [0])[0, 0]
    tri = render([0.5], [0.5], [0.3], [0.0], [1])[0, 0].astype(float)
    assert rot.sum() / 255 == pytest.approx((0.3 * 64) ** 2, rel=0.03)
    r, _ = np.nonzero(tri > 128)
    assert r.min() < 64 - r.max()  # the triangle's apex (theta0 = 90 deg, y up) points to the top


def test_csv_pairs_follow_the_reference(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(
        "id,cat_id,t_0,t_1,t_2,t_3\n"
        '7,3,"[(10.0, 20.0, 100.0), None, (5.0, 6.0, 50.0)]","[(11.0, 21.0, 110.0), (1.0, 2.0, 30.0), None]",,'
        '"[(12.0, 22.0, 120.0), None, None]"\n'
    )
    p0, p1 = csv_pairs(path)
    # window 0: t0->t1 only (t2 empty); window 1: present once; window 2: no consecutive frames
    np.testing.assert_array_equal(p0, [[20.0, 10.0, 100.0]])  # (x, y, area) from (com_y, com_x, area)
    np.testing.assert_array_equal(p1, [[21.0, 11.0, 110.0]])


def test_area_filter_and_sources(tmp_path, monkeypatch):
    folder = tmp_path / "natural_sprites"
    folder.mkdir()
    write_csv(folder / "downscale_keepaspect.csv")
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))
    tr = CsvTransitions()
    a0, a1 = tr.all_pairs
    lo, hi = np.quantile(np.concatenate([a0[:, 2], a1[:, 2]]), [0.05, 0.95])
    assert 0 < len(tr) < len(a0)
    assert (tr.p0[:, 2] >= lo).all() and (tr.p1[:, 2] <= hi).all()
    assert list(folder.glob("*.pairs-*.npy"))  # parsed once, cached
    src = get_pair_source("natural-sprites", make_transitions("laplace", rate=1.0))
    assert (src.channels, src.binary, src.latent_names, src.evaluation) == (
        3,
        False,
        ("x", "y", "scale", "angle", "shape"),
        ("mcc",),
    )
    x0, x1, l0, l1 = src.sample_pairs(16, np.random.default_rng(0))
    assert x0.shape == (16, 3, 64, 64) and x0.dtype == np.uint8
    assert (l0[:, 3:] == l1[:, 3:]).all() and set(l0[:, 3]) <= set(ANGLES)  # angle, shape shared
    # the latents come from CSV pairs: the unscaled values are pairs of the filtered list
    pairs = {tuple(np.round(p, 6)) for p in tr.p0}
    assert all(tuple(np.round([v[0] * 64, v[1] * 64, (v[2] * 64) ** 2], 6)) in pairs for v in l0)
    with pytest.raises(SlowVAEError, match="no factor grid"):
        get_dataset("natural-sprites")


def test_binned_grid(tmp_path, monkeypatch):
    folder = tmp_path / "natural_sprites"
    folder.mkdir()
    write_csv(folder / "downscale_keepaspect.csv", n_rows=80)
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))
    data = get_dataset("natural-sprites-binned")
    assert data.factor_sizes == (32, 32, 6, 40, 4) and data.categorical == (False, False, False, False, True)
    f = data.sample_factors(10, np.random.default_rng(0))
    np.testing.assert_array_equal(data.index_to_factors(data.factors_to_index(f)), f)
    assert data.images(f).shape == (10, 3, 64, 64)
    # bin centres map back to their own bins
    vals = data.factor_values(f)
    p = np.stack([vals[:, 0] * 64, vals[:, 1] * 64, (vals[:, 2] * 64) ** 2], axis=1)
    np.testing.assert_array_equal(data.bin_index(p), f[:, :3])
    src = get_pair_source("natural-sprites-binned", make_transitions("uniform"))
    _, _, f0, f1 = src.sample_pairs(20, np.random.default_rng(1))
    assert f0.dtype == np.int64 and (f0[:, 3:] == f1[:, 3:]).all() and src.factor_sizes == data.factor_sizes


def test_natural_like_is_offline_and_sparse(monkeypatch, tmp_path):
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))  # empty: no CSV needed
    with pytest.raises(MissingDataError, match="slowvae data download natural-sprites"):
        get_pair_source("natural-sprites", make_transitions("laplace"))
    src = get_pair_source("natural-like", make_transitions("laplace"))
    tr = src.source
    p0, p1 = tr.sample(20000, np.random.default_rng(0))
    dx = p1[:, 0] - p0[:, 0]
    from scipy import stats

    assert stats.kurtosis(dx) > 10  # heavy-tailed
    # the steps follow the YouTube-VOS fit gennorm(0.515, 0, 0.257) (docs/datasets.md §6)
    assert stats.kstest(dx, stats.gennorm(0.515, 0, 0.257).cdf).statistic < 0.02
    x0, _, l0, _ = src.sample_pairs(4, np.random.default_rng(1))
    assert x0.shape == (4, 3, 64, 64) and src.evaluation == ("mcc",)


@pytest.mark.parametrize("name", ["natural-like", "natural-sprites"])
def test_short_training_run(tmp_path, monkeypatch, name):
    from slowvae.config import TrainConfig
    from slowvae.rundir import init_run_dir
    from slowvae.train import train

    folder = tmp_path / "natural_sprites"
    folder.mkdir()
    write_csv(folder / "downscale_keepaspect.csv")
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))
    init_run_dir(tmp_path / "run", TrainConfig(dataset=name, steps=1, batch_pairs=4, checkpoint_every=1))
    train(tmp_path / "run")
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
    from slowvae.evaluate import evaluate_run

    results = evaluate_run(tmp_path / "run", num_samples=200, figures=False)  # MCC on continuous latents
    assert 0 <= results["mcc"] <= 1 and 0 <= results["mcc_untrained"] <= 1
