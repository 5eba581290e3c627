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


@pytest.fixture
def fail_writes(monkeypatch):
    """``fail_writes(folder, errno.EROFS)``: from then on, creating or writing a file or folder under
    ``folder`` raises ``OSError(errno)``, as a read-only mount or a full disk would (tests run as root,
    where a chmod'ed folder stays writable). Reading is untouched."""
    import builtins
    import os

    real_open, real_builtin_open, real_mkdir = os.open, builtins.open, os.mkdir
    folders: dict[str, int] = {}

    def check(path) -> None:
        if not isinstance(path, (str, bytes, os.PathLike)):
            return
        full = os.path.abspath(os.fsdecode(path))
        for folder, code in folders.items():
            if full == folder or full.startswith(folder + os.sep):
                raise OSError(code, os.strerror(code), os.fsdecode(path))

    def fake_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            check(path)
        return real_open(path, flags, *args, **kwargs)

    def fake_builtin_open(path, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            check(path)
        return real_builtin_open(path, mode, *args, **kwargs)

    def fake_mkdir(path, *args, **kwargs):
        check(path)
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(builtins, "open", fake_builtin_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)

    def fail(folder: Path, code: int) -> None:
        folders[os.path.abspath(folder)] = code

    return fail
