"""Helpers for the metric tests: the dlib parity fixtures and small synthetic codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def parity_dir(fixtures_dir: Path) -> Path:
    """tests/fixtures/metrics_parity: two array cases and disentanglement_lib's values on them."""
    return fixtures_dir / "metrics_parity"


@pytest.fixture(scope="session")
def expected(parity_dir: Path) -> dict:
    return json.loads((parity_dir / "expected.json").read_text())


@pytest.fixture(scope="session")
def parity_case(parity_dir: Path):
    cache: dict[str, dict[str, np.ndarray]] = {}

    def load(name: str) -> dict[str, np.ndarray]:
        if name not in cache:
            with np.load(parity_dir / f"{name}.npz") as z:
                cache[name] = {key: z[key] for key in z.files}
        return cache[name]

    return load
