"""Fidelity of the procedural dSprites renderer to real dSprites images.

Usage: python benchmarks/dsprites_fidelity.py [--out benchmarks/results/dsprites-fidelity/dsprites_fidelity.json]

Compares ``ProceduralDSprites.images`` with the real images in ``tests/fixtures``: the 46,080-image
grid the geometry was fitted to (every shape and scale, every 4th orientation, every 2nd position)
and the calibration frames whose orientation or position is off that grid (never used in the fit).
Per shape: mean and worst per-image IoU, the share of pixel-identical images, and the most pixels
by which one image differs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from slowvae.data.dsprites import ProceduralDSprites

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
SHAPES = ("square", "ellipse", "heart")


def compare(ours: np.ndarray, real: np.ndarray, shape: np.ndarray) -> dict[str, dict[str, float]]:
    """Per-shape fidelity of binary images ours and real (N, 64, 64) with shape ids (N,)."""
    ours, real = ours.astype(bool), real.astype(bool)
    iou = (ours & real).sum((1, 2)) / np.maximum((ours | real).sum((1, 2)), 1)
    diff = (ours ^ real).sum((1, 2))
    out = {}
    for s, name in enumerate(SHAPES):
        sel = shape == s
        out[name] = {
            "images": int(sel.sum()),
            "mean_iou": round(float(iou[sel].mean()), 5),
            "min_iou": round(float(iou[sel].min()), 4),
            "identical_share": round(float((diff[sel] == 0).mean()), 4),
            "max_differing_pixels": int(diff[sel].max()),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/dsprites-fidelity/dsprites_fidelity.json"))
    args = parser.parse_args()
    data = ProceduralDSprites()
    with np.load(FIXTURES / "dsprites_real_grid.npz") as z:
        real, factors = z["imgs"], z["latents_classes"]
    grid = compare(data.images(factors)[:, 0], real, factors[:, 0])
    axis_aligned = (factors[:, 0] == 0) & (factors[:, 2] == 0)
    aligned_diff = (data.images(factors[axis_aligned])[:, 0] != real[axis_aligned]).sum((1, 2))
    with np.load(FIXTURES / "dsprites_real_calibration.npz") as z:
        real, factors = z["imgs"], z["latents_classes"]
    off_grid = (factors[:, 2] % 4 != 0) | (factors[:, 3] % 2 != 0) | (factors[:, 4] % 2 != 0)
    held_out = compare(data.images(factors[off_grid])[:, 0], real[off_grid], factors[off_grid, 0])
    result = {
        "command": "python benchmarks/dsprites_fidelity.py",
        "grid": grid,
        "grid_axis_aligned_squares": {
            "images": int(axis_aligned.sum()),
            "identical": int((aligned_diff == 0).sum()),
        },
        "held_out_calibration_frames": held_out,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
