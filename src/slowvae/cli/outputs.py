"""Where commands write: a check made before any work, and the one line an unwritable place becomes.

A read-only folder, a full disk or an ``--out`` that is an existing file raise :class:`OSError`
deep in the code; :func:`write_error_line` turns such an error into one line that names the path
and what to do, and ``slowvae.cli.main`` prints it instead of a traceback.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

from slowvae.errors import SlowVAEError

_ELSEWHERE = "write elsewhere (another --out)"
#: errno -> (what is wrong, what to do), for errors that writing somewhere else fixes
_ADVICE = {
    errno.EROFS: ("is on a read-only file system", _ELSEWHERE),
    errno.EACCES: ("cannot be written (permission denied)", f"{_ELSEWHERE} or change its permissions"),
    errno.EPERM: ("cannot be written (operation not permitted)", f"{_ELSEWHERE} or change its permissions"),
    errno.ENOSPC: ("cannot be written: the disk is full", f"free some space or {_ELSEWHERE}"),
    errno.EDQUOT: ("cannot be written: the disk quota is exceeded", f"free some space or {_ELSEWHERE}"),
    errno.EEXIST: ("exists and is not a folder", _ELSEWHERE),
    errno.ENOTDIR: ("cannot be made: part of it is a file, not a folder", _ELSEWHERE),
    errno.EISDIR: ("is a folder, not a file", "give a file name"),
}


def write_error_line(err: OSError, todo: str | None = None) -> str | None:
    """One line for an error of writing (read-only, permission, full disk, a file in the way), or
    None when ``err`` is another kind of error (which then stays a traceback: a bug to report).
    ``todo`` replaces the usual advice (write elsewhere, free space)."""
    if err.errno not in _ADVICE:
        return None
    what, usual = _ADVICE[err.errno]
    todo = todo or usual
    where = err.filename if err.filename is not None else "an output file"
    return f"{where} {what}; {todo}"


def check_writable_folder(folder: Path, todo: str | None = None) -> None:
    """Make ``folder`` (and its parents) if needed and create and remove a probe file in it, so that a
    command fails before its work, not after. Raises :class:`SlowVAEError` with one line otherwise,
    ending in ``todo`` when given."""
    folder = Path(folder)
    probe = folder / f".slowvae-probe-{secrets.token_hex(4)}"
    try:
        if folder.exists() and not folder.is_dir():
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(folder))
        folder.mkdir(parents=True, exist_ok=True)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        probe.unlink()
    except OSError as err:
        if err.filename is None or Path(err.filename) == probe:  # name the folder, not the probe
            err = OSError(err.errno, err.strerror, str(folder))
        line = write_error_line(err, todo)
        if line is None:
            raise
        raise SlowVAEError(line) from None


__all__ = ["check_writable_folder", "write_error_line"]
