"""Figures: latent traversals, reconstructions and factor-latent correlation matrices (PNG)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from slowvae.models import PairModel  # noqa: E402
from slowvae.rundir import atomic_write_bytes  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> None:
    """Save ``fig`` atomically as PNG and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _as_float(images: np.ndarray, binary: bool) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images)).float()
    return x if binary else x / 255


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


def save_reconstructions(model: PairModel, images: np.ndarray, binary: bool, path: Path) -> None:
    """Originals (top row) and reconstructions from posterior means (bottom row) of uint8 images (N, C, 64, 64)."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        x = _as_float(images, binary).to(device)
        recon = model.reconstruct(x).cpu().numpy()
    x = x.cpu().numpy()
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.2 * n, 2.6), squeeze=False)
    for i in range(n):
        _show(axes[0, i], x[i])
        _show(axes[1, i], recon[i])
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("recon")
    _save(fig, path)


def save_traversals(
    model: PairModel, codes: np.ndarray, image: np.ndarray, binary: bool, path: Path, steps: int = 9
) -> None:
    """One row per latent: decode the code of ``image`` (1, C, 64, 64) with that latent swept between
    the 5% and 95% quantiles of a Gaussian fitted to its values in ``codes`` (N, D), as the
    reference's traversals do."""
    device = next(model.parameters()).device
    d = codes.shape[1]
    mean, std = codes.mean(0), codes.std(0)
    lo, hi = mean - 1.645 * std, mean + 1.645 * std
    with torch.inference_mode():
        base = model.encode(_as_float(image, binary).to(device))[0]
        rows = []
        for i in range(d):
            z = base.repeat(steps, 1)
            z[:, i] = torch.linspace(float(lo[i]), float(hi[i]), steps, device=device)
            rows.append(torch.sigmoid(model.decoder(z)).cpu().numpy())
    fig, axes = plt.subplots(d, steps, figsize=(1.0 * steps, 1.0 * d), squeeze=False)
    for i in range(d):
        for j in range(steps):
            _show(axes[i, j], rows[i][j])
        axes[i, 0].set_ylabel(f"z{i}\nsd {std[i]:.2f}", fontsize=7)
    fig.suptitle("latent traversals (5%-95% of each latent)")
    _save(fig, path)


def traversal_frames(
    model: PairModel, codes: np.ndarray, images: np.ndarray, binary: bool, steps: int = 10, batch_size: int = 512
) -> np.ndarray:
    """Frames of a traversal of every latent: uint8 (D, 2 * steps - 2, H, W, C).

    Each of ``images`` (B, C, 64, 64) is encoded and decoded with latent k swept from the 5% to
    the 95% quantile of a Gaussian fitted to its values in ``codes`` (N, D) and back (the range of
    :func:`save_traversals`). A frame shows the B decodings side by side (2 px grey gaps) above a
    3 px bar that marks the position in the sweep.
    """
    device = next(model.parameters()).device
    d, b = codes.shape[1], len(images)
    mean, std = codes.mean(0), codes.std(0)
    ramp = np.linspace(-1.645, 1.645, steps)
    ramp = np.concatenate([ramp, ramp[-2:0:-1]])  # there and back: the loop has no jump
    t = len(ramp)
    with torch.inference_mode():
        base = model.encode(_as_float(images, binary).to(device))  # (B, D)
        z = base.repeat(d * t, 1).reshape(d, t, b, d)
        for k in range(d):
            z[k, :, :, k] = torch.from_numpy(mean[k] + ramp * std[k]).to(z)[:, None]
        flat = z.reshape(-1, d)
        decoded = torch.cat([torch.sigmoid(model.decoder(flat[i : i + batch_size])).float().cpu()
                             for i in range(0, len(flat), batch_size)]).numpy()  # (D * T * B, C, 64, 64)
    c, h, w = decoded.shape[1:]
    pixels = (decoded.reshape(d, t, b, c, h, w).transpose(0, 1, 2, 4, 5, 3) * 255).round().astype(np.uint8)
    gap, bar = 2, 3
    width = b * w + (b - 1) * gap
    frames = np.full((d, t, h + gap + bar, width, c), 96, dtype=np.uint8)
    for i in range(b):
        frames[:, :, :h, i * (w + gap) : i * (w + gap) + w] = pixels[:, :, i]
    frames[:, :, h + gap :] = 40
    position = (ramp - ramp[0]) / (ramp[steps - 1] - ramp[0])  # 0 -> 1 -> 0
    for j, p in enumerate(position):
        frames[:, j, h + gap :, : max(1, int(round(p * width)))] = 230
    return frames


def save_traversal_gifs(
    model: PairModel, codes: np.ndarray, images: np.ndarray, binary: bool, out_dir: Path,
    steps: int = 10, frame_ms: int = 120,
) -> list[Path]:
    """Write ``out_dir/z<k>.gif`` for every latent k: an animated, looping traversal of that latent
    over ``images`` (B, C, 64, 64) (see :func:`traversal_frames`). Returns the paths in latent order."""
    from PIL import Image

    paths = []
    for k, frames in enumerate(traversal_frames(model, codes, images, binary, steps)):
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
