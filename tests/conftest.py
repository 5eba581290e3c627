"""Test helpers shared by every test room: the path of the real-data fixtures in tests/fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Path of tests/fixtures (real dSprites images, dlib metric parity cases)."""
    return FIXTURES


PLUGIN_PKG = Path(__file__).resolve().parent / "plugin_pkg"


def _plugin_entry_points() -> str:
    """The ``[project.entry-points."GROUP"]`` tables of tests/plugin_pkg/pyproject.toml, written in
    the ``entry_points.txt`` format of an installed distribution."""
    out, group = [], None
    for line in (PLUGIN_PKG / "pyproject.toml").read_text().splitlines():
        if line.startswith("["):
            group = line.split('"')[1] if line.startswith("[project.entry-points.") else None
            if group:
                out.append(f"[{group}]")
        elif group and "=" in line:
            out.append(line.replace('"', "").strip())
    return "\n".join(out) + "\n"


@pytest.fixture
def plugin_package(tmp_path, monkeypatch) -> str:
    """tests/plugin_pkg as if installed: its package importable, and a ``*.dist-info`` with its
    entry points on sys.path (what ``pip install tests/plugin_pkg`` makes; no network, no pip).
    Returns the package's module name."""
    site = tmp_path / "site"
    info = site / "slowvae_plugin_example-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: slowvae-plugin-example\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(_plugin_entry_points())
    monkeypatch.syspath_prepend(str(PLUGIN_PKG))
    monkeypatch.syspath_prepend(str(site))
    yield "slowvae_plugin_example"
    import sys

    sys.modules.pop("slowvae_plugin_example", None)
