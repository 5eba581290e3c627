"""Figures: latent traversals, reconstructions, factor-latent correlation matrices, score
trajectories and loss terms against scores (PNG).

Drawing only: every function takes the arrays to draw (the model runs in :mod:`slowvae.evaluate`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from slowvae.rundir import atomic_write_bytes  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> None:
    """Save ``fig`` atomically as PNG and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _show(ax: plt.Axes, image: np.ndarray) -> None:
    """Draw one image (C, H, W) in [0, 1]."""
    ax.imshow(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_correlation(
    ax: plt.Axes, abs_corr: np.ndarray, factor_names: Sequence[str], matched: Sequence[int] | None
) -> Any:
    """Draw |corr| (D, K) on ``ax``: factors as rows, latents as columns, values written in the
    cells, matched cells outlined in red; returns the image (for a colour bar)."""
    d, k = abs_corr.shape
    im = ax.imshow(abs_corr.T, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(d), [f"z{i}" for i in range(d)])
    ax.set_yticks(range(k), list(factor_names))
    for j in range(k):
        for i in range(d):
            color = "black" if abs_corr[i, j] > 0.6 else "white"
            ax.text(i, j, f"{abs_corr[i, j]:.2f}", ha="center", va="center", fontsize=7, color=color)
    for j, i in enumerate(matched or []):
        ax.add_patch(plt.Rectangle((i - 0.5, j - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    return im


def save_correlation_matrix(
    abs_corr: np.ndarray, factor_names: Sequence[str], path: Path, matched: Sequence[int] | None = None
) -> None:
    """Heatmap of |corr| (D, K) between latents and factors; matched cells are outlined."""
    d, k = abs_corr.shape
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * d, 1.0 + 0.5 * k))
    im = _draw_correlation(ax, abs_corr, factor_names, matched)
    ax.set_title("|Spearman correlation| (red: Hungarian matching)")
    fig.colorbar(im, ax=ax, fraction=0.03)
    _save(fig, path)


def save_correlation_steps(
    abs_corrs: Sequence[np.ndarray],
    titles: Sequence[str],
    factor_names: Sequence[str],
    path: Path,
    matched: Sequence[Sequence[int] | None] | None = None,
) -> None:
    """One |corr| heatmap (D, K) per scored step, stacked top to bottom with its title (e.g. the
    step and MCC): how factors split over latents or merge into one as training goes on.
    ``matched`` gives per step the latent matched to each factor (K indices), or None."""
    d, k = np.asarray(abs_corrs[0]).shape
    size = (1.6 + 0.6 * d, 0.5 + (0.8 + 0.45 * k) * len(abs_corrs))
    fig, axes = plt.subplots(len(abs_corrs), 1, figsize=size, layout="constrained")
    axes = np.atleast_1d(axes)
    for n, (ax, abs_corr, title) in enumerate(zip(axes, abs_corrs, titles)):
        im = _draw_correlation(ax, np.asarray(abs_corr), factor_names, (matched or [None] * len(axes))[n])
        ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=list(axes), shrink=0.5, aspect=30)
    fig.suptitle("|Spearman correlation| (red: Hungarian matching)", fontsize=10)
    _save(fig, path)


def save_reconstructions(images: np.ndarray, reconstructions: np.ndarray, path: Path) -> None:
    """Originals (top row) and their reconstructions (bottom row): both float (N, C, H, W) in [0, 1]."""
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.2 * n, 2.6), squeeze=False)
    for i in range(n):
        _show(axes[0, i], images[i])
        _show(axes[1, i], reconstructions[i])
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("recon")
    _save(fig, path)


def save_traversals(rows: np.ndarray, stds: Sequence[float], path: Path) -> None:
    """Latent traversals: ``rows`` float (D, S, C, H, W) in [0, 1], row i the images decoded with
    latent i swept over S values; ``stds`` (D,) the spread of each latent, written beside its row."""
    d, steps = rows.shape[:2]
    fig, axes = plt.subplots(d, steps, figsize=(1.0 * steps, 1.0 * d), squeeze=False)
    for i in range(d):
        for j in range(steps):
            _show(axes[i, j], rows[i, j])
        axes[i, 0].set_ylabel(f"z{i}\nsd {stds[i]:.2f}", fontsize=7)
    fig.suptitle("latent traversals (5%-95% of each latent)")
    _save(fig, path)


def traversal_frames(decoded: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Frames of a traversal of every latent: uint8 (D, T, H + 5, B * W + 2 * (B - 1), C).

    ``decoded`` (D, T, B, C, H, W) holds decodings in [0, 1] with latent k swept over T steps (as
    :func:`slowvae.evaluate.traversal_sweep` makes them); ``positions`` (T,) in [0, 1] is the place of
    each step in the sweep. A frame shows the B decodings side by side (2 px grey gaps) above a 3 px
    bar whose filled width marks the position.
    """
    d, t, b, c, h, w = decoded.shape
    pixels = (decoded.transpose(0, 1, 2, 4, 5, 3) * 255).round().astype(np.uint8)
    gap, bar = 2, 3
    width = b * w + (b - 1) * gap
    frames = np.full((d, t, h + gap + bar, width, c), 96, dtype=np.uint8)
    for i in range(b):
        frames[:, :, :h, i * (w + gap) : i * (w + gap) + w] = pixels[:, :, i]
    frames[:, :, h + gap :] = 40
    for j, p in enumerate(positions):
        frames[:, j, h + gap :, : max(1, int(round(float(p) * width)))] = 230
    return frames


def save_traversal_gifs(decoded: np.ndarray, positions: np.ndarray, out_dir: Path, frame_ms: int = 120) -> list[Path]:
    """Write ``out_dir/z<k>.gif`` for every latent k: an animated, looping traversal drawn from
    ``decoded`` (D, T, B, C, H, W) and ``positions`` (T,) (see :func:`traversal_frames`). Returns the
    paths in latent order."""
    from PIL import Image

    paths = []
    for k, frames in enumerate(traversal_frames(decoded, positions)):
        gray = frames.shape[-1] == 1
        pictures = [Image.fromarray(f[..., 0] if gray else f) for f in frames]
        if not gray:
            pictures = [p.quantize(colors=255, method=Image.Quantize.MEDIANCUT) for p in pictures]
        buffer = io.BytesIO()
        pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=frame_ms, loop=0)
        path = Path(out_dir) / f"z{k}.gif"
        atomic_write_bytes(path, buffer.getvalue())
        paths.append(path)
    return paths


def trajectory_figure(metric: str, labels: Sequence[str], lines: Sequence[dict[str, Any]]) -> plt.Figure:
    """``metric`` against the step, one line per entry of ``lines`` (``{"steps", "mean", "std"}``,
    lists of equal length; std None for one seed) labelled by ``labels``: the mean with a ± std band.
    A line with ``"n"`` (seeds per step) and ``"seeds"`` (``{"seed", "steps", "values"}`` per run)
    where the seed count changes along it also shows each seed's own line, thin, and its mean at
    steps with fewer seeds as hollow points: there the mean moves partly because a seed is missing."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    uneven = False
    for i, (label, line) in enumerate(zip(labels, lines)):
        if not line["steps"]:
            continue
        steps = np.asarray(line["steps"], dtype=float)
        mean = np.asarray(line["mean"], dtype=float)
        std = np.asarray([np.nan if v is None else v for v in line["std"]], dtype=float)
        color = f"C{i % 10}"
        ax.plot(steps, mean, color=color, label=label)
        ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.18, linewidth=0)
        n = np.asarray(line.get("n") or [1] * len(steps))
        full = n == n.max()
        ax.plot(steps[full], mean[full], "o", markersize=3, color=color)
        if not full.all():
            uneven = True
            ax.plot(steps[~full], mean[~full], "o", markersize=4, color=color, markerfacecolor="white")
            for seed in line.get("seeds", []):
                ax.plot(seed["steps"], seed["values"], color=color, linewidth=0.7, linestyle=":", alpha=0.8)
    if uneven:
        ax.set_title("thin dotted: single seeds; hollow: fewer seeds than the row has", fontsize=7)
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    _step_scale(ax, [s for line in lines for s in line["steps"]])
    ax.grid(alpha=0.3)
    if any(line["steps"] for line in lines):
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


#: span (largest / smallest scored step above 0) from which the step axis is logarithmic
LOG_STEPS_FROM = 20


def _step_scale(ax: plt.Axes, steps: Sequence[float]) -> None:
    """A logarithmic step axis, ticked at the scored steps, when they span ``LOG_STEPS_FROM`` times or
    more (5k to 300k would crowd the early steps together); symlog when step 0 (the untrained
    network) is among them."""
    positive = [s for s in steps if s > 0]
    if not positive or max(positive) < LOG_STEPS_FROM * min(positive):
        return
    if len(positive) < len(steps):
        ax.set_xscale("symlog", linthresh=min(positive))
    else:
        ax.set_xscale("log")
    ticks = sorted(set(steps))  # the scored steps themselves, as 5k, 100k
    labels = ["" if t is None else f"{t / 1000:g}k" if t >= 1000 else f"{t:g}" for t in _spaced(ticks)]
    ax.set_xticks(ticks, labels)
    ax.minorticks_off()


#: labelled step ticks lie at least this share of the log axis apart (about a label's width)
LABEL_GAP = 1 / 12


def _spaced(ticks: Sequence[float]) -> list[float | None]:
    """The sorted ``ticks`` with those that would print over a neighbour's label replaced by None
    (an empty label), walking from the last step, which is always labelled; 0 keeps its label."""
    positive = [t for t in ticks if t > 0]
    gap = LABEL_GAP * np.log10(max(positive) / min(positive))
    kept: list[float | None] = []
    previous = None
    for t in reversed(ticks):
        near = t > 0 and previous is not None and np.log10(previous / t) < gap
        kept.append(None if near else t)
        previous = previous if near else t
    return kept[::-1]


def save_trajectories(
    metric: str, labels: Sequence[str], lines: Sequence[dict[str, Sequence[Any]]], path: Path
) -> None:
    """Save :func:`trajectory_figure` as a PNG at ``path`` (atomically)."""
    _save(trajectory_figure(metric, labels, lines), Path(path))


def moving_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of each run of ``window`` consecutive entries of ``values`` (n,): (n - window + 1,), the
    i-th entry the mean of ``values[i : i + window]`` (all of ``values`` when it is shorter)."""
    values = np.asarray(values, dtype=float)
    window = max(1, min(window, len(values)))
    return np.convolve(values, np.full(window, 1.0 / window), mode="valid")


def loss_terms_figure(
    steps: np.ndarray, terms: dict[str, np.ndarray], scored: dict[int, float], window: int = 10
) -> plt.Figure:
    """Each loss term of a training log (``terms``: name -> values (n,) logged at ``steps`` (n,)) in
    its own panel, as a moving mean over ``window`` log records placed at each window's last step,
    above a panel of MCC at the scored steps (``scored``: step -> MCC); one step axis, dotted lines
    at the scored steps. The terms differ in size by orders, so each has its own y axis, fitted to
    the curve from the first scored step on (the fall of the first few hundred steps runs off it)."""
    steps = np.asarray(steps, dtype=float)
    fig, axes = plt.subplots(len(terms) + 1, 1, figsize=(6.4, 1.7 * (len(terms) + 1)), sharex=True)
    for i, (ax, (name, values)) in enumerate(zip(axes, terms.items())):
        mean = moving_mean(values, window)
        at = steps[len(steps) - len(mean) :]
        ax.plot(at, mean, color=f"C{i}", linewidth=1.2)
        ax.set_ylabel(name)
        shown = mean[at >= min(scored)] if scored else mean  # the y range of the scored span, not the first fall
        if len(shown):
            low, high = float(shown.min()), float(shown.max())
            ax.set_ylim(low - 0.08 * (high - low or 1.0), high + 0.08 * (high - low or 1.0))
    mcc_ax = axes[-1]
    mcc_ax.plot(list(scored), list(scored.values()), marker="o", color="black")
    for step, mcc in scored.items():
        mcc_ax.annotate(f"{mcc:.3f}", (step, mcc), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
    mcc_ax.set_ylabel("MCC")
    mcc_ax.set_xlabel("step")
    for ax in axes:
        for step in scored:
            ax.axvline(step, color="grey", linestyle=":", linewidth=0.8)
        ax.grid(alpha=0.3)
    _step_scale(mcc_ax, list(scored) + [float(steps[0])] if len(steps) else list(scored))
    fig.tight_layout()
    return fig


def save_loss_terms(
    steps: np.ndarray, terms: dict[str, np.ndarray], scored: dict[int, float], path: Path, window: int = 10
) -> None:
    """Save :func:`loss_terms_figure` as a PNG at ``path`` (atomically)."""
    _save(loss_terms_figure(steps, terms, scored, window), Path(path))


def class_codes_figure(
    codes: np.ndarray, labels: np.ndarray, class_names: Sequence[str], titles: Sequence[str]
) -> plt.Figure:
    """One panel per latent of ``codes`` (N, L): the histogram of its code in each class of
    ``labels`` (N,) (class ``c`` named ``class_names[c]``), on the latent's own axis, titled by
    ``titles`` (L,). Shows whether a latent tells the classes apart, and in which order."""
    fig, axes = plt.subplots(1, codes.shape[1], figsize=(2.6 * codes.shape[1], 2.2), squeeze=False)
    for ax, column, title in zip(axes[0], codes.T, titles):
        bins = np.linspace(column.min(), column.max() + 1e-9, 41)
        for c, name in enumerate(class_names):
            ax.hist(column[labels == c], bins=bins, alpha=0.6, color=f"C{c}", label=name)
        ax.set_title(title, fontsize=8)
        ax.set_yticks([])
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def save_class_codes(
    codes: np.ndarray, labels: np.ndarray, class_names: Sequence[str], titles: Sequence[str], path: Path
) -> None:
    """Save :func:`class_codes_figure` as a PNG at ``path`` (atomically)."""
    _save(class_codes_figure(codes, labels, class_names, titles), Path(path))
