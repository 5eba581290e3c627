"""Where datasets live: one data root, and the error raised when a dataset is not there.

The root is ``$SLOWVAE_DATA``, else ``$DISENTANGLEMENT_LIB_DATA`` (so an existing
disentanglement_lib download folder is reused), else the user's cache directory
(``$XDG_CACHE_HOME/slowvae`` or ``~/.cache/slowvae``; ``~/Library/Caches/slowvae`` on macOS,
``%LOCALAPPDATA%\\slowvae`` on Windows). Each dataset has its own sub-folder, named as in
disentanglement_lib where it has one (``dsprites``, ``3dshapes``, ``mpi3d_real``, ``cars``,
``small_norb``; ``natural_sprites`` and ``kitti`` for the two natural datasets).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from slowvae.errors import SlowVAEError

ENV_VARS = ("SLOWVAE_DATA", "DISENTANGLEMENT_LIB_DATA")


def data_root() -> Path:
    """The data root (see the module docstring); it need not exist yet."""
    for var in ENV_VARS:
        value = os.environ.get(var)
        if value:
            return Path(value).expanduser()
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "slowvae"


def root_source() -> str:
    """Which setting chose the data root, for messages (``SLOWVAE_DATA``, ... or ``cache``)."""
    for var in ENV_VARS:
        if os.environ.get(var):
            return f"${var}"
    return "the user cache directory (set SLOWVAE_DATA to choose)"


class MissingDataError(SlowVAEError):
    """A dataset's files are not in the data root; the message names the command that fetches them."""

    def __init__(self, name: str, folder: Path, what: str | None = None, how: str | None = None) -> None:
        how = how or f"fetch it with `slowvae data download {name}` (needs internet)"
        what = f" ({what})" if what else ""
        super().__init__(f"dataset {name!r} is not in {folder}{what}; {how}")
        self.name = name
        self.folder = folder
