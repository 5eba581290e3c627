"""The paper's figure of natural transitions: a log-density histogram with the three fits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats


def plot_fits(
    x: np.ndarray,
    result: dict,
    path: str | Path,
    *,
    name: str = "x",
    unit: str = "",
    bins: int = 100,
    tail: float = 0.001,
) -> Path:
    """Save the log-density histogram of transitions x (N,) with the Gaussian, Laplace and
    generalized-Laplace fits of ``result`` (from :func:`slowvae.stats.fit.fit_all`) overlaid.

    The axis covers the [tail, 1 - tail] quantiles (widened to be symmetric about 0) with
    ``bins`` bins (100, as the reference notebook); densities are normalised by all N samples.
    Returns the path of the PNG.
    """
    from matplotlib.figure import Figure  # no pyplot: no global backend, no open windows

    x = np.asarray(x, dtype=np.float64)
    lo, hi = np.quantile(x, [tail, 1.0 - tail])
    half = max(abs(lo), abs(hi))
    if half == 0:
        half = float(np.abs(x).max()) or 1.0
    edges = np.linspace(-half, half, bins + 1)
    counts, _ = np.histogram(x, bins=edges)
    density = counts / (x.size * np.diff(edges))
    centres = 0.5 * (edges[1:] + edges[:-1])
    grid = np.linspace(-half, half, 2001)

    g, lap, gn = result["gaussian"], result["laplace"], result["gennorm"]
    fig = Figure(figsize=(5.0, 3.6), dpi=120)
    ax = fig.add_subplot()
    shown = density > 0
    ax.plot(centres[shown], density[shown], "o", ms=3, color="0.25", label=f"data (n={x.size:,})")
    ax.plot(
        grid, stats.norm.pdf(grid, g["loc"], g["scale"]), color="tab:blue", label=f"Gaussian (LL {g['loglik']:.4g})"
    )
    ax.plot(
        grid,
        stats.laplace.pdf(grid, lap["loc"], lap["scale"]),
        color="tab:orange",
        label=f"Laplace (LL {lap['loglik']:.4g})",
    )
    ax.plot(
        grid,
        stats.gennorm.pdf(grid, gn["alpha"], gn["loc"], gn["scale"]),
        color="tab:green",
        label=f"gen. Laplace, α={gn['alpha']:.3f} (LL {gn['loglik']:.4g})",
    )
    ax.set_yscale("log")
    floor = density[shown].min() if shown.any() else 1e-6
    ax.set_ylim(floor / 3, None)
    ax.set_xlim(-half, half)
    ax.set_xlabel(f"Δ{name}" + (f" [{unit}]" if unit else ""))
    ax.set_ylabel("log density")
    ax.set_title(f"Δ{name}: excess kurtosis {result['kurtosis']:.1f}")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
