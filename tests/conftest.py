"""Shared test helpers: the ../shared fixtures (skipped with a reason where absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """Path of ../shared/fixtures; skips the test where the checkout has no ../shared beside it."""
    path = SHARED / "fixtures"
    if not path.is_dir():
        pytest.skip(f"needs the real-data fixtures at {path} (../shared beside the checkout)")
    return path
