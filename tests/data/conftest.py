"""Helpers shared by the dataset tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def rss_mb() -> Callable[[], dict[str, float]]:
    """A function reading this process's resident memory by kind, MB; skips off Linux."""

    def rss_mb() -> dict[str, float]:
        """Resident memory of this process by kind, MB (Linux /proc)."""
        status = Path("/proc/self/status")
        if not status.is_file():
            pytest.skip("needs /proc/self/status (Linux)")
        out = {}
        for line in status.read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) / 1024
        return out

    return rss_mb
