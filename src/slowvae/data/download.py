"""Checksummed, atomic, resumable downloads into the data root, and safe archive extraction.

Nothing here runs unless asked: ``slowvae data download NAME`` is the only caller. A file is
fetched into ``NAME.part`` (resumed with an HTTP ``Range`` request when a part exists), hashed,
checked against its published md5/sha256, and only then renamed into place. Mirrors are tried
in order. Where no checksum is published (the two Zenodo files, MPI3D's 2025 re-upload) the
sha256 of the first download is recorded in ``<root>/checksums.json`` and a later mismatch is a
warning, not an error. The same file caches verified hashes (by size and mtime), so
``data list`` does not re-hash gigabytes every time.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import socket
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from slowvae.errors import SlowVAEError

#: progress callback: (bytes done, total bytes or None, file name)
Progress = Callable[[int, "int | None", str], None]
#: warning callback: one line of text
Warn = Callable[[str], None]

CHECKSUMS_FILE = "checksums.json"
_CHUNK = 1 << 20
_USER_AGENT = "slowvae-data/0.1 (+https://pypi.org/project/slowvae)"


class DownloadError(SlowVAEError):
    """A download failed (every mirror), or its checksum does not match."""


class NoNetworkError(DownloadError):
    """No mirror could be reached at all."""


class ChecksumError(DownloadError):
    """A file's md5/sha256 differs from the published one."""


class UnsafeArchiveError(SlowVAEError):
    """An archive member would land outside the target folder or link out of it."""


@dataclass(frozen=True)
class Remote:
    """One file to fetch: its name in the dataset folder, mirrors, and what is known of it."""

    filename: str
    urls: tuple[str, ...]
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None
    #: md5s of known good copies that count as verified, without failing other copies
    #: (MPI3D: the Final_Dataset uploads; the 2025 re-upload may differ)
    known_md5: tuple[str, ...] = ()

    @property
    def published(self) -> bool:
        return bool(self.md5 or self.sha256)


# ---------------------------------------------------------------- hashes


def file_hashes(path: Path) -> dict[str, str]:
    """md5 and sha256 (hex) of a file, read in 1 MB chunks."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            md5.update(chunk)
            sha.update(chunk)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


class ChecksumRecord:
    """``<root>/checksums.json``: per file (relative to the root) its size, mtime, md5, sha256
    and whether they were checked against a published value or recorded at first download."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / CHECKSUMS_FILE
        try:
            self.data: dict[str, dict] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.data = {}

    def _key(self, path: Path) -> str:
        try:
            return Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(Path(path).resolve())

    def get(self, path: Path) -> dict | None:
        return self.data.get(self._key(path))

    def cached_hashes(self, path: Path) -> dict[str, str] | None:
        """The recorded hashes if the file's size and mtime are unchanged since recording."""
        entry = self.get(path)
        st = path.stat()
        if entry and entry.get("size") == st.st_size and entry.get("mtime") == st.st_mtime_ns:
            return {"md5": entry["md5"], "sha256": entry["sha256"]}
        return None

    def put(self, path: Path, hashes: dict[str, str], origin: str) -> None:
        st = path.stat()
        old = self.get(path) or {}
        self.data[self._key(path)] = {
            "size": st.st_size,
            "mtime": st.st_mtime_ns,
            **hashes,
            "origin": origin,
            "first_sha256": old.get("first_sha256", hashes["sha256"]),
        }
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def check_file(path: Path, remote: Remote, record: ChecksumRecord, warn: Warn | None = None) -> str:
    """Check a present file: ``"ok"``, ``"recorded"`` (no published checksum, matches the first
    download or is the first), ``"changed"`` (no published checksum, differs: a warning) or
    ``"mismatch"`` (differs from the published checksum)."""
    hashes = record.cached_hashes(path) or file_hashes(path)
    if remote.published:
        good = (not remote.md5 or hashes["md5"] == remote.md5) and (
            not remote.sha256 or hashes["sha256"] == remote.sha256
        )
        if good:
            record.put(path, hashes, "published")
            return "ok"
        return "mismatch"
    if hashes["md5"] in remote.known_md5:
        record.put(path, hashes, "known")
        return "ok"
    entry = record.get(path)
    first = entry.get("first_sha256") if entry else None
    if first is None:
        record.put(path, hashes, "first-download")
        if warn:
            warn(
                f"{remote.filename}: no published checksum; recorded sha256 {hashes['sha256'][:16]}... "
                f"in {record.path} to check later copies against"
            )
        return "recorded"
    record.put(path, hashes, "first-download")
    if hashes["sha256"] != first:
        if warn:
            warn(
                f"{remote.filename}: sha256 {hashes['sha256'][:16]}... differs from the first download "
                f"({first[:16]}...); the upstream file may have been replaced (no published checksum)"
            )
        return "changed"
    return "recorded"


# ---------------------------------------------------------------- downloading


def _is_network_failure(err: BaseException) -> bool:
    if isinstance(err, urllib.error.HTTPError):
        return False
    if isinstance(err, urllib.error.URLError):
        return True
    return isinstance(err, (socket.timeout, TimeoutError, ConnectionError, OSError))


def _fetch_url(url: str, part: Path, progress: Progress | None, name: str, timeout: float) -> None:
    """Download ``url`` into ``part``, resuming from its current size where the server allows."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # range not satisfiable: the part is already complete
            return
        raise
    with resp:
        status = getattr(resp, "status", 200)
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if status == 206 and have:
            content_range = resp.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {have}-"):
                raise DownloadError(f"{url}: the server resumed at the wrong offset ({content_range!r})")
            mode, done = "ab", have
        else:
            mode, done = "wb", 0
        total = done + length if length is not None else None
        with open(part, mode) as fh:
            if progress:
                progress(done, total, name)
            while chunk := resp.read(_CHUNK):
                fh.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total, name)
            fh.flush()
            os.fsync(fh.fileno())
        if total is not None and done < total:
            raise DownloadError(
                f"{url}: connection closed after {done} of {total} bytes; run the command again to resume"
            )


def fetch(
    remote: Remote,
    folder: Path,
    record: ChecksumRecord,
    *,
    progress: Progress | None = None,
    warn: Warn | None = None,
    timeout: float = 30.0,
) -> Path:
    """Make ``folder/remote.filename`` present and checked; download it only when missing.

    Raises :class:`NoNetworkError` when no mirror can be reached, :class:`ChecksumError` when
    the download differs from a published checksum (the partial file is removed), and
    :class:`DownloadError` for other failures (the partial file is kept for resuming).
    """
    folder = Path(folder)
    dest = folder / remote.filename
    if dest.exists():
        state = check_file(dest, remote, record, warn)
        if state != "mismatch":
            return dest
        raise ChecksumError(
            f"{dest} is present but fails its checksum; delete it and run the command again to re-download"
        )
    folder.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    errors: list[str] = []
    offline = True
    for url in remote.urls:
        try:
            _fetch_url(url, part, progress, remote.filename, timeout)
        except urllib.error.HTTPError as err:
            offline = False
            errors.append(f"{url}: HTTP {err.code}")
            continue
        except DownloadError as err:
            offline = False
            errors.append(str(err))
            continue
        except Exception as err:  # noqa: BLE001 - network failures come in many types
            if not _is_network_failure(err):
                raise
            reason = getattr(err, "reason", err)
            errors.append(f"{urllib.request.urlparse(url).netloc}: {reason}")
            continue
        offline = False
        hashes = file_hashes(part)
        if remote.published and not (
            (not remote.md5 or hashes["md5"] == remote.md5) and (not remote.sha256 or hashes["sha256"] == remote.sha256)
        ):
            part.unlink()
            want = remote.md5 or remote.sha256
            got = hashes["md5"] if remote.md5 else hashes["sha256"]
            raise ChecksumError(
                f"{remote.filename} from {url} fails its checksum (expected {want}, got {got}); removed it"
            )
        os.replace(part, dest)
        if remote.published or hashes["md5"] in remote.known_md5:
            record.put(dest, hashes, "published" if remote.published else "known")
        else:
            record.put(dest, hashes, "first-download")
            entry = record.get(dest) or {}
            if entry.get("first_sha256", hashes["sha256"]) != hashes["sha256"]:
                if warn:
                    warn(f"{remote.filename}: sha256 differs from the first download recorded in {record.path}")
            elif warn:
                warn(
                    f"{remote.filename}: no published checksum; recorded sha256 {hashes['sha256'][:16]}... for later checks"
                )
        return dest
    if offline:
        raise NoNetworkError(f"no network: cannot reach any mirror of {remote.filename} ({errors[0]})")
    raise DownloadError(f"could not download {remote.filename}: " + "; ".join(errors))


# ---------------------------------------------------------------- extraction


def _inside(target: Path, name: str) -> bool:
    norm = posixpath.normpath(name.replace("\\", "/"))
    if norm.startswith("/") or norm == ".." or norm.startswith("../") or (len(norm) > 1 and norm[1] == ":"):
        return False
    resolved = (target / norm).resolve()
    return resolved == target or target in resolved.parents


def safe_extract(archive: Path, target: Path) -> list[Path]:
    """Extract a tar (any compression) or zip archive into ``target``, refusing the whole archive
    if any member would land outside it, link out of it, or is a device or fifo. Returns the
    extracted file paths."""
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    target = target.resolve()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if not _inside(target, info.filename):
                    raise UnsafeArchiveError(f"{archive}: member {info.filename!r} would land outside {target}")
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a symbolic link")
            zf.extractall(target)
            return [target / i.filename for i in zf.infolist() if not i.is_dir()]
    try:
        tf = tarfile.open(archive)
    except tarfile.TarError as err:
        raise SlowVAEError(f"{archive} is neither a zip nor a tar archive: {err}") from None
    with tf:
        members = tf.getmembers()
        for m in members:
            if not _inside(target, m.name):
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} would land outside {target}")
            if m.issym() or m.islnk():
                link = m.linkname if m.islnk() else posixpath.join(posixpath.dirname(m.name), m.linkname)
                if m.linkname.startswith("/") or not _inside(target, link):
                    raise UnsafeArchiveError(f"{archive}: link {m.name!r} -> {m.linkname!r} points outside {target}")
            elif not (m.isfile() or m.isdir()):
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a device or fifo")
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tf.extractall(target, members=members, **kwargs)
        return [target / m.name for m in members if m.isfile()]


def human_size(n: float) -> str:
    """Bytes as a short human-readable size (``12.7 GB``)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover


def folder_size(folder: Path) -> int:
    """Total bytes of the files under a folder (0 if it does not exist)."""
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
