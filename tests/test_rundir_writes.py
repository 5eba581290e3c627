"""Atomic writers of slowvae.rundir: modes honour the umask."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from slowvae.rundir import atomic_torch_save, atomic_write_bytes, atomic_write_json


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_honour_the_umask(tmp_path: Path, umask, mask: int, mode: int):
    umask(mask)
    atomic_write_bytes(tmp_path / "a.bin", b"abc")
    atomic_write_json(tmp_path / "sub" / "b.json", {"x": 1})
    atomic_torch_save(tmp_path / "c.pt", {"w": torch.zeros(2)})
    for name in ("a.bin", "sub/b.json", "c.pt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name
    assert (tmp_path / "a.bin").read_bytes() == b"abc"
    assert torch.load(tmp_path / "c.pt")["w"].tolist() == [0.0, 0.0]
    # nothing temporary is left behind, also after an overwrite
    atomic_write_bytes(tmp_path / "a.bin", b"de")
    assert (tmp_path / "a.bin").read_bytes() == b"de"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "c.pt", "sub"]
