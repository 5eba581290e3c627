"""Test helpers shared by every test room: the path of the real-data fixtures in tests/fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Path of tests/fixtures (real dSprites images, dlib metric parity cases)."""
    return FIXTURES
