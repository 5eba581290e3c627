"""A synthetic video for the frames tests and benchmark: a bright disc whose x and y follow a
Laplace random walk (reflected at the borders), on a dark 96 x 128 frame, with its ground truth."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HEIGHT, WIDTH, RADIUS = 96, 128, 9


def sprite_walk(length: int, rng: np.random.Generator, *, step: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Frames uint8 (T, 96, 128) and the disc's centre (T, 2) as (x, y) in pixels of the central
    96 x 96 square (what the 64 x 64 crop sees); steps are Laplace with scale ``step`` pixels."""
    lo, hi = RADIUS + 1.0, HEIGHT - RADIUS - 2.0
    xy = np.empty((length, 2))
    xy[0] = rng.uniform(lo, hi, size=2)
    for t in range(1, length):
        p = xy[t - 1] + rng.laplace(0.0, step, size=2)
        p = np.where(p < lo, 2 * lo - p, p)
        xy[t] = np.clip(np.where(p > hi, 2 * hi - p, p), lo, hi)
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    left = (WIDTH - HEIGHT) // 2
    frames = np.zeros((length, HEIGHT, WIDTH), dtype=np.uint8)
    for t, (x, y) in enumerate(xy):
        frames[t][(xx - left - x) ** 2 + (yy - y) ** 2 <= RADIUS**2] = 230
    return frames + 10, xy


def write_mp4(path: Path, frames: np.ndarray, fps: int = 25) -> None:
    """Grey frames (T, H, W) as an H.264 mp4 (near-lossless) with imageio-ffmpeg's own ffmpeg."""
    import imageio.v3 as iio

    iio.imwrite(
        path,
        np.repeat(frames[..., None], 3, axis=-1),
        fps=fps,
        codec="libx264",
        plugin="FFMPEG",
        output_params=["-crf", "10"],
        macro_block_size=16,
    )


def write_png_folder(folder: Path, frames: np.ndarray) -> None:
    """Frames (T, H, W) as f0.png, f1.png, ... (unpadded numbers: natural order matters)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"f{t}.png")


def write_truth(path: Path, positions: dict[str, np.ndarray]) -> None:
    """Ground truth CSV: sequence, frame, x, y for each named sequence's positions (T, 2)."""
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["sequence", "frame", "x", "y"])
        for name, xy in positions.items():
            out.writerows([name, t, f"{x:.3f}", f"{y:.3f}"] for t, (x, y) in enumerate(xy))
