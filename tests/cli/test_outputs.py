"""slowvae.cli.outputs: the one line an unwritable place becomes, and the check made before work."""

from __future__ import annotations

import errno

import pytest

from slowvae.cli.outputs import check_writable_folder, write_error_line
from slowvae.errors import SlowVAEError


def test_write_errors_name_the_path_and_what_to_do():
    assert write_error_line(OSError(errno.EROFS, "x", "/a/b")) == (
        "/a/b is on a read-only file system; write elsewhere (another --out)"
    )
    assert write_error_line(OSError(errno.ENOSPC, "x", "/a/b")) == (
        "/a/b cannot be written: the disk is full; free some space or write elsewhere (another --out)"
    )
    assert write_error_line(OSError(errno.EACCES, "x"), "do Y") == (
        "an output file cannot be written (permission denied); do Y"
    )
    # errors that are not about writing stay tracebacks (bugs)
    assert write_error_line(OSError(errno.ENOENT, "x", "/a")) is None
    assert write_error_line(OSError(errno.EBADF, "x")) is None


def test_check_writable_folder_makes_the_folder_and_leaves_nothing_else(tmp_path, fail_writes):
    check_writable_folder(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir() and not list((tmp_path / "a" / "b").iterdir())
    (tmp_path / "f").write_text("")
    with pytest.raises(SlowVAEError, match=f"^{tmp_path / 'f'} exists and is not a folder"):
        check_writable_folder(tmp_path / "f")
    fail_writes(tmp_path / "a", errno.EACCES)  # the folder exists: the probe file names the folder
    with pytest.raises(SlowVAEError, match=f"^{tmp_path / 'a' / 'b'} cannot be written .*; do Y$"):
        check_writable_folder(tmp_path / "a" / "b", "do Y")
