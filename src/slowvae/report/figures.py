"""The report's own figures: training curves of a run and one panel per metric of a study."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from slowvae.report.render import figure_uri  # noqa: E402

_STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "axes.edgecolor": "#888",
}
_BLUE, _GREY = "#2563eb", "#9ca3af"


def curves_uri(records: Sequence[dict[str, float]], terms: Sequence[str]) -> str:
    """Small multiples of every term in ``terms`` against ``step``, one panel each, from the log
    records (dicts with ``step``). A positive term that falls by more than a factor of 30 from its
    first to its last value is drawn on a log axis. Returns a PNG data URI."""
    columns = min(3, len(terms))
    rows = math.ceil(len(terms) / columns)
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.3 * rows), squeeze=False)
        for ax, term in zip(axes.flat, terms):
            pairs = [(r["step"], r[term]) for r in records if isinstance(r.get(term), (int, float))]
            steps, values = np.array(pairs, dtype=float).T if pairs else (np.zeros(0), np.zeros(0))
            draw_curve(ax, steps, values)
            ax.set_title(term, loc="left")
        for ax in list(axes.flat)[len(terms) :]:
            ax.set_visible(False)
        fig.tight_layout()
        return figure_uri(fig)


def draw_curve(ax: plt.Axes, steps: np.ndarray, values: np.ndarray) -> None:
    """One term's curve, ``values`` (n,) against ``steps`` (n,), on ``ax``. A positive term that falls by
    more than a factor of 30 gets a log axis; a single record is a point whose own step and value are the
    only ticks (not a span of meaningless decimals around it)."""
    ax.plot(steps, values, color=_BLUE, linewidth=1.4, marker="o" if len(steps) < 12 else None, markersize=3)
    finite = values[np.isfinite(values)]
    if len(finite) > 1 and finite.min() > 0 and finite[0] / finite[-1] > 30:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.ticklabel_format(axis="x", style="plain")
    if len(steps) == 1:
        ax.set_xticks(steps, labels=[f"{int(steps[0]):,}"])
        if np.isfinite(values[0]):
            ax.set_yticks(values, labels=[f"{values[0]:.4g}"])


def metric_panels_uri(
    labels: Sequence[str],
    metric: str,
    means: Sequence[float | None],
    stds: Sequence[float | None],
    points: Sequence[Sequence[float]],
    highlight: Sequence[bool] | None = None,
) -> str:
    """One horizontal panel for ``metric``: a row per table row (``labels``), one dot per seed
    (``points``), the mean as a bar tick with a ±std error bar. Rows in ``highlight`` (the
    selection) are drawn in blue, the others in grey. Returns a PNG data URI."""
    n = len(labels)
    highlight = list(highlight) if highlight is not None else [True] * n
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.2, 0.9 + 0.34 * n))
        y = np.arange(n)[::-1]
        for yi, mean, std, pts, hi in zip(y, means, stds, points, highlight):
            color = _BLUE if hi else _GREY
            if pts:
                jitter = np.linspace(-0.12, 0.12, len(pts)) if len(pts) > 1 else np.zeros(1)
                ax.scatter(pts, yi + jitter, s=14, color=color, alpha=0.55, linewidths=0, zorder=2)
            if mean is not None:
                ax.errorbar(
                    [mean],
                    [yi],
                    xerr=[std or 0.0],
                    fmt="|",
                    markersize=14,
                    markeredgewidth=2.2,
                    color=color,
                    ecolor=color,
                    elinewidth=1.4,
                    capsize=3,
                    zorder=3,
                )
        ax.set_yticks(y, list(labels))
        ax.set_ylim(-0.6, n - 0.4)
        ax.set_title(metric, loc="left")
        ax.grid(axis="y", visible=False)
        fig.tight_layout()
        return figure_uri(fig)
