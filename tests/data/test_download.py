"""Downloads against a local HTTP server on 127.0.0.1 (with Range support): checksums, resume,
first-download records, no network, safe extraction, the data root and `slowvae data list/download`."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import os
import socket
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from slowvae.cli import main as cli_main
from slowvae.data import registry
from slowvae.data.download import (
    ChecksumError,
    ChecksumRecord,
    DownloadError,
    NoNetworkError,
    Remote,
    UnsafeArchiveError,
    fetch,
    safe_extract,
)
from slowvae.data.paths import data_root

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    log: list[tuple[str, str | None]] = []
    cut_once: set[str] = set()  # paths whose first full response is cut in the middle

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        rng = self.headers.get("Range")
        self.log.append((self.path, rng))
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in self.cut_once and not rng:
            self.cut_once.discard(self.path)
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def server():
    _Handler.files, _Handler.log, _Handler.cut_once = {}, [], set()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield base, _Handler
    httpd.shutdown()
    httpd.server_close()


def closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}/file.bin"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_download_checks_md5_and_sha256_and_records(server, tmp_path):
    base, h = server
    h.files["/a.bin"] = PAYLOAD
    remote = Remote("a.bin", (f"{base}/a.bin",), md5=md5(PAYLOAD), sha256=hashlib.sha256(PAYLOAD).hexdigest())
    seen = []
    path = fetch(remote, tmp_path / "ds", ChecksumRecord(tmp_path), progress=lambda d, t, n: seen.append((d, t)))
    assert path.read_bytes() == PAYLOAD and not (tmp_path / "ds" / "a.bin.part").exists()
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert ChecksumRecord(tmp_path).get(path)["origin"] == "published"
    # present and verified: no second request
    fetch(remote, tmp_path / "ds", ChecksumRecord(tmp_path))
    assert len(h.log) == 1


def test_interrupted_download_resumes_with_range(server, tmp_path):
    base, h = server
    h.files["/big.bin"] = PAYLOAD
    h.cut_once.add("/big.bin")
    remote = Remote("big.bin", (f"{base}/big.bin",), md5=md5(PAYLOAD))
    with pytest.raises(DownloadError, match="resume"):
        fetch(remote, tmp_path, ChecksumRecord(tmp_path), timeout=5)
    part = tmp_path / "big.bin.part"
    have = part.stat().st_size
    assert 0 < have < len(PAYLOAD) and not (tmp_path / "big.bin").exists()
    fetch(remote, tmp_path, ChecksumRecord(tmp_path), timeout=5)
    assert (tmp_path / "big.bin").read_bytes() == PAYLOAD
    assert h.log[-1] == ("/big.bin", f"bytes={have}-")  # only the rest was requested


def test_checksum_mismatch_fails_and_removes_the_part(server, tmp_path):
    base, h = server
    h.files["/x.bin"] = PAYLOAD
    remote = Remote("x.bin", (f"{base}/x.bin",), md5="0" * 32)
    with pytest.raises(ChecksumError, match="fails its checksum"):
        fetch(remote, tmp_path, ChecksumRecord(tmp_path))
    assert not any(tmp_path.glob("x.bin*"))


def test_mirrors_are_tried_in_order(server, tmp_path):
    base, h = server
    h.files["/good.bin"] = PAYLOAD
    remote = Remote("m.bin", (f"{base}/missing.bin", f"{base}/good.bin"), md5=md5(PAYLOAD))
    assert fetch(remote, tmp_path, ChecksumRecord(tmp_path)).read_bytes() == PAYLOAD
    assert [p for p, _ in h.log] == ["/missing.bin", "/good.bin"]


def test_unpublished_checksum_is_recorded_then_warns_on_change(server, tmp_path):
    base, h = server
    h.files["/z.csv"] = b"first version\n"
    remote = Remote("z.csv", (f"{base}/z.csv",))
    warnings: list[str] = []
    fetch(remote, tmp_path / "d", ChecksumRecord(tmp_path), warn=warnings.append)
    entry = ChecksumRecord(tmp_path).get(tmp_path / "d" / "z.csv")
    assert (
        entry["origin"] == "first-download" and entry["first_sha256"] == hashlib.sha256(b"first version\n").hexdigest()
    )
    assert "recorded" in warnings[-1]
    # upstream replaced the file: re-download gives a warning, not an error
    (tmp_path / "d" / "z.csv").unlink()
    h.files["/z.csv"] = b"second version\n"
    fetch(remote, tmp_path / "d", ChecksumRecord(tmp_path), warn=warnings.append)
    assert (tmp_path / "d" / "z.csv").read_bytes() == b"second version\n"
    assert "differs from the first download" in warnings[-1]


def test_no_network_is_one_clear_error(tmp_path):
    remote = Remote("f.bin", (closed_port_url(),), md5="0" * 32)
    with pytest.raises(NoNetworkError, match="^no network: cannot reach any mirror of f.bin"):
        fetch(remote, tmp_path, ChecksumRecord(tmp_path), timeout=2)
    assert not (tmp_path / "f.bin").exists()


# ---------------------------------------------------------------- extraction


def _tar(path: Path, members: list[tuple[str, bytes | None, str | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    "members",
    [
        [("ok.txt", b"a", None), ("../evil.txt", b"x", None)],
        [("/tmp/evil_abs.txt", b"x", None)],
        [("data/link", None, "../../outside")],
        [("data/abs_link", None, "/etc/passwd")],
    ],
    ids=["dotdot", "absolute", "symlink-out", "symlink-absolute"],
)
def test_unsafe_tar_is_refused_whole(tmp_path, members):
    archive = _tar(tmp_path / "a.tar.gz", members)
    target = tmp_path / "target"
    with pytest.raises(UnsafeArchiveError):
        safe_extract(archive, target)
    assert not (tmp_path / "evil.txt").exists()
    assert not target.exists() or not any(target.rglob("*"))  # nothing extracted, not even ok.txt


def test_safe_tar_and_zip_extract(tmp_path):
    archive = _tar(
        tmp_path / "a.tar.gz", [("data/cars/list.txt", b"car_001_mesh\n", None), ("data/l", None, "cars/list.txt")]
    )
    files = safe_extract(archive, tmp_path / "t")
    assert (tmp_path / "t" / "data" / "cars" / "list.txt").read_bytes() == b"car_001_mesh\n"
    assert len(files) == 1
    zpath = tmp_path / "z.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("../up.txt", "x")
    with pytest.raises(UnsafeArchiveError):
        safe_extract(zpath, tmp_path / "zt")
    assert not (tmp_path / "up.txt").exists()


# ---------------------------------------------------------------- data root and CLI


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path / "a"))
    monkeypatch.setenv("DISENTANGLEMENT_LIB_DATA", str(tmp_path / "b"))
    assert data_root() == tmp_path / "a"
    monkeypatch.delenv("SLOWVAE_DATA")
    assert data_root() == tmp_path / "b"
    monkeypatch.delenv("DISENTANGLEMENT_LIB_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    if os.name == "posix" and not os.uname().sysname == "Darwin":
        assert data_root() == tmp_path / "c" / "slowvae"


def _fake_info(monkeypatch, name: str, url: str, md5_: str | None) -> None:
    entry = registry.DATASETS[name]
    fake = dataclasses.replace(entry, remotes=(Remote(entry.remotes[0].filename, (url,), md5=md5_),), prepare=None)
    monkeypatch.setitem(registry.DATASETS, name, fake)


def test_cli_download_without_network_says_so_in_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))
    _fake_info(monkeypatch, "shapes3d", closed_port_url(), "0" * 32)
    assert cli_main(["data", "download", "shapes3d"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no network" in err[0]


def test_cli_list_and_download(server, monkeypatch, tmp_path, capsys):
    base, h = server
    h.files["/3dshapes.h5"] = PAYLOAD
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path))
    _fake_info(monkeypatch, "shapes3d", f"{base}/3dshapes.h5", md5(PAYLOAD))
    assert cli_main(["data", "list"]) == 0
    rows = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()[2:]}
    assert (
        rows["shapes3d"] == "missing"
        and rows["dsprites-procedural"] == "built-in"
        and rows["natural-like"] == "built-in"
    )
    assert cli_main(["data", "download", "shapes3d"]) == 0
    assert "ready in" in capsys.readouterr().out
    assert cli_main(["data", "list"]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith("shapes3d"))
    assert line.split()[1] == "present" and str(tmp_path / "3dshapes") in line and "1.0 MB" in line
    # a corrupted file is reported as failing its checksum
    (tmp_path / "3dshapes" / "3dshapes.h5").write_bytes(b"corrupt")
    cli_main(["data", "list"])
    line = next(row for row in capsys.readouterr().out.splitlines() if row.startswith("shapes3d"))
    assert "checksum mismatch" in line
