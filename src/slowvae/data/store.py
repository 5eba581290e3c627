"""What of each dataset is in the data root: its status, and its download (the work behind
``slowvae data list`` and ``slowvae data download NAME``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from slowvae.data.download import ChecksumRecord, Progress, Warn, check_file, fetch, folder_size, human_size
from slowvae.data.paths import data_root
from slowvae.data.registry import DATASETS, DatasetEntry, dataset_entry
from slowvae.errors import SlowVAEError


def listed_names() -> list[str]:
    """The datasets ``slowvae data list`` shows: every registered name (prefix entries aside)."""
    return [name for name, entry in DATASETS.items() if not entry.is_prefix]


def _entry(name: str) -> DatasetEntry:
    entry, carried = dataset_entry(name)
    if carried:
        raise SlowVAEError(f"{name!r} names the user's own data, which has nothing to download")
    return entry


def status(name: str, root: Path | None = None, *, verify: bool = True) -> dict[str, str]:
    """``{"name", "status", "where", "size"}`` of a dataset. Status: ``built-in``, ``present``,
    ``missing``, ``incomplete`` (some files, or a resumable ``.part``), ``checksum mismatch``,
    ``changed`` (no published checksum, differs from the first download: a warning),
    ``present (not verified)`` (``verify=False`` and no recorded hash)."""
    d = _entry(name)
    if d.builtin:
        state = "built-in" if d.origin == "built-in" else "plugin"
        return {"name": name, "status": state, "where": "-", "size": "-"}
    root = Path(root) if root is not None else data_root()
    folder = root / d.folder
    present = [r for r in d.remotes if (folder / r.filename).is_file()]
    states = []
    if len(present) == len(d.remotes):
        record = ChecksumRecord(root)
        for r in d.remotes:
            path = folder / r.filename
            if not verify and record.cached_hashes(path) is None:
                states.append("unverified")
            else:
                states.append(check_file(path, r, record))
        if "mismatch" in states:
            state = "checksum mismatch"
        elif "changed" in states:
            state = "changed"
        elif "unverified" in states:
            state = "present (not verified)"
        else:
            state = "present"
    elif present or any((folder / (r.filename + ".part")).is_file() for r in d.remotes):
        state = "incomplete"
    else:
        state = "missing"
    size = (
        human_size(folder_size(folder))
        if state != "missing"
        else f"({d.size} to fetch)"
        if d.size != "unknown"
        else "(size unknown)"
    )
    return {"name": name, "status": state, "where": str(folder), "size": size}


def download_dataset(
    name: str,
    root: Path | None = None,
    *,
    progress: Progress | None = None,
    warn: Warn | None = None,
    say: Callable[[str], None] | None = None,
) -> Path:
    """Fetch (if missing), check and prepare dataset ``name`` in the data root; its folder."""
    d = _entry(name)
    if d.builtin:
        raise SlowVAEError(f"{name} is built in: there is nothing to download")
    root = Path(root) if root is not None else data_root()
    folder = root / d.folder
    record = ChecksumRecord(root)
    for remote in d.remotes:
        fetch(remote, folder, record, progress=progress, warn=warn)
    if d.prepare is not None:
        if say:
            say(f"preparing {name} in {folder}")
        d.prepare(folder)
    return folder
