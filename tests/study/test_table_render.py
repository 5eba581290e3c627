"""`study table` text: setting labels with 4 significant digits, every format ending in a newline."""

from __future__ import annotations

import json

import pytest

from slowvae.study import render

TABLE = {
    "rows": [
        {
            "model": "slowvae",
            "dataset": "dsprites-procedural",
            "setting": {"gamma": 11.97, "rate": 6.0, "beta": 1.234567},
            "n": 2,
            "n_failed": 0,
            "n_missing": 0,
            "mcc": {"mean": 0.5, "std": 0.01},
        }
    ],
    "selection": None,
}


def test_setting_labels_show_four_significant_digits():
    text = render(TABLE, "md")
    assert "| beta 1.235, gamma 11.97, rate 6 |" in text
    assert "gamma 12," not in text


@pytest.mark.parametrize("fmt", ["md", "csv", "json", "tex"])
def test_every_format_ends_with_one_newline(fmt):
    text = render(TABLE, fmt)
    assert text.endswith("\n") and not text.endswith("\n\n")
    if fmt == "json":
        assert json.loads(text) == TABLE
