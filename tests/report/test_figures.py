"""The report's training curves: a one-record log is a point with its own step and value as ticks."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from slowvae.report.figures import draw_curve  # noqa: E402


def test_a_one_point_curve_has_its_own_step_and_value_as_ticks():
    fig, ax = plt.subplots()
    draw_curve(ax, np.array([3000.0]), np.array([123.456789]))
    fig.canvas.draw()
    assert ax.get_xticks().tolist() == [3000.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3,000"]
    assert ax.get_yticks().tolist() == [123.456789]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["123.5"]
    plt.close(fig)


def test_a_longer_curve_keeps_automatic_ticks_and_a_log_axis_for_a_steep_fall():
    fig, ax = plt.subplots()
    draw_curve(ax, np.arange(1.0, 11.0) * 100, np.geomspace(1e4, 1.0, 10))
    assert ax.get_yscale() == "log" and len(ax.get_xticks()) > 2
    plt.close(fig)
