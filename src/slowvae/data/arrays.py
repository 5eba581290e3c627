"""Large arrays without loading them: memory-mapped ``.npy`` files and npz members, streamed
conversion of compressed members, bit-packed binary images, atomic writes.

An npz is a zip of ``.npy`` files. A member stored without compression (``np.savez``, as the
MPI3D files are) is mapped in place: its bytes are contiguous in the zip at a fixed offset. A
compressed member (``np.savez_compressed``, as the real dSprites file is) cannot be mapped; it
is streamed once, in blocks of rows, into a ``.npy`` that can.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from slowvae.errors import SlowVAEError

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")  # zip local file header (30 bytes)
_BLOCK_BYTES = 64 << 20  # rows per block in streamed conversions: about 64 MB


def _read_npy_header(fh) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fh)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fh)
    return np.lib.format._read_array_header(fh, version)  # pragma: no cover - npy 3.0


def npz_member_info(path: str | Path, key: str) -> tuple[zipfile.ZipInfo, tuple[int, ...], np.dtype, bool]:
    """The zip entry of ``key`` in an npz, with the array's shape, dtype and Fortran flag."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            try:
                info = zf.getinfo(f"{key}.npy")
            except KeyError:
                names = ", ".join(n.removesuffix(".npy") for n in zf.namelist())
                raise SlowVAEError(f"{path} has no array {key!r} (it holds {names})") from None
            with zf.open(info) as fh:
                shape, fortran, dtype = _read_npy_header(fh)
    except (zipfile.BadZipFile, OSError) as err:
        raise SlowVAEError(f"{path} is not a readable npz file: {err}") from None
    return info, shape, dtype, fortran


def npz_member_location(path: str | Path, key: str) -> tuple[int, tuple[int, ...], np.dtype] | None:
    """(byte offset, shape, dtype) of array ``key``'s data inside an npz, or None when the member
    is compressed (or Fortran-ordered, or of objects) and so cannot be read in place."""
    path = Path(path)
    info, shape, dtype, fortran = npz_member_info(path, key)
    if info.compress_type != zipfile.ZIP_STORED or fortran or dtype.hasobject:
        return None
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        fields = _LOCAL_HEADER.unpack(fh.read(_LOCAL_HEADER.size))
        if fields[0] != b"PK\x03\x04":
            raise SlowVAEError(f"{path}: corrupt zip entry for {key!r}")
        start = info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10]
        fh.seek(start)
        _read_npy_header(fh)
        offset = fh.tell()
    count = int(np.prod(shape, dtype=np.int64))
    if offset + count * dtype.itemsize > path.stat().st_size:
        raise SlowVAEError(f"{path} is truncated: {key!r} needs {count * dtype.itemsize} bytes")
    return offset, tuple(shape), dtype


def npz_memmap(path: str | Path, key: str) -> np.ndarray | None:
    """A read-only memory map of array ``key`` of an npz, or None when the member is compressed."""
    loc = npz_member_location(path, key)
    if loc is None:
        return None
    offset, shape, dtype = loc
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


class RowFile:
    """Rows of a C-ordered array stored at ``offset`` in a file, read with ``pread`` on demand.

    For files far larger than memory (MPI3D, 12.7 GB): unlike a memory map, rows read here never
    count as resident memory of the process (a map of randomly read rows grows the resident set
    by the kernel's read-ahead, 2 MB a row and more, up to the whole file). Safe across fork.
    """

    def __init__(self, path: str | Path, offset: int, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path, self.offset, self.dtype, self.shape = Path(path), int(offset), np.dtype(dtype), tuple(shape)
        self.ndim = len(self.shape)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self._fh = None
        self._pid = -1

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fh": None, "_pid": -1}

    def _file(self):
        if self._fh is None or self._pid != os.getpid():
            self._fh = open(self.path, "rb", buffering=0)
            self._pid = os.getpid()
        return self._fh

    def take(self, index: np.ndarray) -> np.ndarray:
        """Rows ``index`` (M,) as a new array (M, ...), read in file order."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= self.shape[0]):
            raise SlowVAEError(f"row index out of range [0, {self.shape[0]})")
        out = np.empty((len(index), *self.shape[1:]), dtype=self.dtype)
        flat = out.reshape(len(index), -1).view(np.uint8)
        fh = self._file()
        fd = fh.fileno()
        for j in np.argsort(index, kind="stable"):
            pos = self.offset + int(index[j]) * self.row_bytes
            if hasattr(os, "preadv"):
                got = os.preadv(fd, [flat[j]], pos)
            else:  # pragma: no cover - Windows
                fh.seek(pos)
                got = fh.readinto(flat[j])
            if got != self.row_bytes:
                raise SlowVAEError(f"{self.path} is truncated (short read at row {int(index[j])})")
        return out

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def npy_location(path: str | Path) -> tuple[int, tuple[int, ...], np.dtype]:
    """(data offset, shape, dtype) of a C-ordered ``.npy`` file."""
    with open(path, "rb") as fh:
        shape, fortran, dtype = _read_npy_header(fh)
        if fortran:
            raise SlowVAEError(f"{path} is in Fortran order")
        return fh.tell(), tuple(shape), dtype


def iter_npz_rows(path: str | Path, key: str, block_rows: int | None = None) -> Iterator[np.ndarray]:
    """Blocks of rows of array ``key`` of an npz (compressed or not), read as a stream."""
    info, shape, dtype, fortran = npz_member_info(path, key)
    if fortran:
        raise SlowVAEError(f"{path}: {key!r} is stored in Fortran order; cannot stream it")
    row_items = int(np.prod(shape[1:], dtype=np.int64))
    row_bytes = max(row_items * dtype.itemsize, 1)
    block_rows = block_rows or max(1, _BLOCK_BYTES // row_bytes)
    with zipfile.ZipFile(path) as zf, zf.open(info) as fh:
        _read_npy_header(fh)
        done = 0
        while done < shape[0]:
            n = min(block_rows, shape[0] - done)
            buf = _read_exact(fh, n * row_bytes, path)
            yield np.frombuffer(buf, dtype=dtype).reshape((n, *shape[1:]))
            done += n


def _read_exact(fh, size: int, path) -> bytes:
    parts, got = [], 0
    while got < size:
        chunk = fh.read(size - got)
        if not chunk:
            raise SlowVAEError(f"{path} ends early (truncated download?)")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path next to ``path`` that replaces it when the block ends without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        if err.filename is not None and Path(err.filename) == tmp:  # name the file meant, not the temporary one
            err.filename = str(path)
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def write_npy_stream(
    path: str | Path,
    shape: tuple[int, ...],
    dtype: np.dtype | type,
    blocks: Iterator[np.ndarray],
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> None:
    """Write a ``.npy`` of ``shape`` from row blocks (optionally transformed), atomically."""
    with atomic_path(path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        row = 0
        for block in blocks:
            block = transform(block) if transform else block
            out[row : row + len(block)] = block
            row += len(block)
        if row != shape[0]:
            raise SlowVAEError(f"conversion wrote {row} rows, expected {shape[0]}")
        out.flush()
        del out


def save_npy(path: str | Path, array: np.ndarray) -> None:
    """``np.save`` made atomic."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(array))


def load_npy(path: str | Path) -> np.ndarray:
    """A read-only memory map of a ``.npy``."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise SlowVAEError(f"cannot map {path}: {err}") from None


def pack_binary(images: np.ndarray) -> np.ndarray:
    """0/1 images (N, H, W) -> bit-packed rows (N, H, W // 8) uint8 (8 pixels a byte)."""
    return np.packbits(np.asarray(images) != 0, axis=-1)


def unpack_binary(packed: np.ndarray, width: int = 64) -> np.ndarray:
    """Bit-packed rows (N, H, W // 8) -> 0/1 uint8 images (N, H, W)."""
    return np.unpackbits(np.asarray(packed), axis=-1, count=width)


def gather_rows(array: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``array[index]`` for a (memory-mapped) array or a :class:`RowFile`, reading in file order."""
    if isinstance(array, RowFile):
        return array.take(index)
    index = np.asarray(index, dtype=np.int64)
    order = np.argsort(index, kind="stable")
    out = np.empty((len(index), *array.shape[1:]), dtype=array.dtype)
    out[order] = array[index[order]]
    return out
