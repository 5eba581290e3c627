"""Figures: latent traversals, reconstructions and factor-latent correlation matrices (PNG).

Drawing only: every function takes the arrays to draw (the model runs in :mod:`slowvae.evaluate`).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

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


def save_correlation_matrix(
    abs_corr: np.ndarray, factor_names: Sequence[str], path: Path, matched: Sequence[int] | None = None
) -> None:
    """Heatmap of |corr| (D, K) between latents and factors; matched cells are outlined."""
    d, k = abs_corr.shape
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * d, 1.0 + 0.5 * k))
    im = ax.imshow(abs_corr.T, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(d), [f"z{i}" for i in range(d)])
    ax.set_yticks(range(k), list(factor_names))
    for j in range(k):
        for i in range(d):
            ax.text(i, j, f"{abs_corr[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if abs_corr[i, j] > 0.6 else "white")
    if matched is not None:
        for j, i in enumerate(matched):
            ax.add_patch(plt.Rectangle((i - 0.5, j - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    ax.set_title("|Spearman correlation| (red: Hungarian matching)")
    fig.colorbar(im, ax=ax, fraction=0.03)
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
