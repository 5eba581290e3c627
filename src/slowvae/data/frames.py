"""The user's own sequences as a dataset: ``frames:PATH``.

PATH is anything :mod:`slowvae.data.frame_readers` reads (image folders, ``.npy`` / ``.npz``
arrays, videos). Its frames are decoded once into a uint8 cache ``<data root>/frames/<key>.npy``
of shape (N, C, 64, 64), memory-mapped for training, with ``<key>.json`` beside it naming the
sequences and their lengths. The key is a hash of the input's absolute path and the ``binary``
option; the JSON records every input file's size and modification time, and a change to any of
them rebuilds the cache (written atomically: an interrupted decode leaves nothing behind).

Each frame is cropped to the centred square and area-resized to 64 x 64 (PIL's box filter, or an
exact block mean when the side is a multiple of 64). Grey stays one channel, RGB three (alpha is
dropped). Binary masks stay binary: when every source frame is grey with only the values 0 and
255 (or 0 and 1, or bool), the resized frames are thresholded at half and stored as 0/1 with
``binary`` set; ``binary=True`` forces this (colour frames are first turned grey by ITU-R 601
luma).

:class:`FramesSource` is the PairSource: a pair is two frames of one sequence Δt apart, with
Δt ~ U{1..max_dt} and the pair uniform over all (sequence, start) that fit, never across
sequences. Ground truth comes from a CSV (:func:`read_truth`): columns ``sequence``, ``frame``,
then one per latent.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from slowvae.data.arrays import atomic_path, gather_rows, load_npy
from slowvae.data.frame_readers import Sequence, find_sequences
from slowvae.data.paths import data_root
from slowvae.errors import SlowVAEError

PREFIX = "frames"
CACHE_FOLDER = "frames"
CACHE_FORMAT = 1
SIZE = 64
#: decode progress: (frames done, total frames or an estimate or None, what is being decoded)
Progress = Callable[[int, "int | None", str], None]
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as PIL's convert("L")
_NPY_HEADER = 128  # bytes reserved for the cache's .npy header, written once the frame count is known


# ---------------------------------------------------------------- frame preprocessing


def square_resize(block: np.ndarray) -> np.ndarray:
    """uint8 frames (B, H, W, C) -> (B, C, 64, 64): centred square crop, then area resize."""
    b, h, w, c = block.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = block[:, top : top + side, left : left + side]
    if side == SIZE:
        out = square
    elif side % SIZE == 0:  # exact area average of k x k blocks
        k = side // SIZE
        out = square.reshape(b, SIZE, k, SIZE, k, c).mean(axis=(2, 4), dtype=np.float32)
        out = np.rint(out).astype(np.uint8)
    else:
        from PIL import Image

        out = np.empty((b, SIZE, SIZE, c), dtype=np.uint8)
        for i in range(b):
            for j in range(c):
                image = Image.fromarray(np.ascontiguousarray(square[i, :, :, j]))
                out[i, :, :, j] = np.asarray(image.resize((SIZE, SIZE), Image.Resampling.BOX))
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def to_grey(block: np.ndarray) -> np.ndarray:
    """uint8 frames (B, H, W, C) -> (B, H, W, 1) by ITU-R 601 luma (grey frames unchanged)."""
    if block.shape[-1] == 1:
        return block
    return np.rint(block[..., :3].astype(np.float32) @ _LUMA).astype(np.uint8)[..., None]


def is_binary(block: np.ndarray) -> bool:
    """Whether uint8 frames (B, H, W, C) are single-channel with only the values 0 and 255."""
    return block.shape[-1] == 1 and not np.any((block != 0) & (block != 255))


# ---------------------------------------------------------------- the cache


def cache_folder(root: Path | None = None) -> Path:
    """Where the frame caches live: ``<data root>/frames``."""
    return (Path(root) if root is not None else data_root()) / CACHE_FOLDER


def _fingerprint(sequences: list[Sequence]) -> dict[str, Any]:
    """Size and modification time of every input file, and their hash (the cache's key)."""
    stats = []
    for seq in sequences:
        for f in seq.files:
            try:
                st = f.stat()
            except OSError as err:
                raise SlowVAEError(f"cannot read {f}: {err.strerror}") from None
            stats.append((str(f), st.st_size, st.st_mtime_ns))
    digest = hashlib.sha256(json.dumps(sorted(set(stats))).encode()).hexdigest()
    return {
        "files": len(set(stats)),
        "bytes": sum(s for _, s, _ in set(stats)),
        "mtime_ns": max(m for _, _, m in stats),
        "hash": digest,
    }


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A version-1 ``.npy`` header of uint8 ``shape``, padded to exactly the reserved size."""
    text = repr({"descr": "|u1", "fortran_order": False, "shape": tuple(shape)})
    body = text.encode("latin1")
    pad = _NPY_HEADER - 10 - len(body) - 1
    if pad < 0:
        raise SlowVAEError(f"cache header too long for shape {shape}")
    body += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body


class FrameSet:
    """Decoded frames of one input: ``frames`` uint8 (N, C, 64, 64) memory-mapped, ordered
    sequence by sequence; ``names`` and ``lengths`` (S,) of the sequences; ``first`` (S,) the
    row of each sequence's first frame; ``binary`` whether pixels are 0/1 (else 0..255)."""

    def __init__(self, frames: np.ndarray, meta: dict[str, Any]) -> None:
        self.frames = frames
        self.meta = meta
        self.input = meta["input"]
        self.names: tuple[str, ...] = tuple(meta["sequences"])
        self.lengths = np.asarray(meta["lengths"], dtype=np.int64)
        self.first = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.binary = bool(meta["binary"])
        self.channels = int(frames.shape[1])

    def __len__(self) -> int:
        return int(self.lengths.sum())

    def sequence_of(self, rows: np.ndarray) -> np.ndarray:
        """Index (M,) into ``names`` of the sequence of each frame row (M,)."""
        return np.searchsorted(self.first, np.asarray(rows), side="right") - 1

    def index(self) -> tuple[np.ndarray, np.ndarray]:
        """(sequence name, frame position) of every row: two arrays (N,), in row order."""
        seq = np.repeat(np.arange(len(self.names)), self.lengths)
        return np.asarray(self.names, dtype=object)[seq], np.arange(len(self)) - self.first[seq]


def _decode(
    sequences: list[Sequence], tmp: Path, binary: bool, progress: Progress | None, label: str
) -> tuple[list[int], bool]:
    """Decode every sequence into ``tmp`` (a ``.npy`` with a reserved header); returns the
    sequence lengths and whether the stored frames are 0/1."""
    total: int | None = 0
    for seq in sequences:
        count = seq.length if seq.length is not None else seq.estimate
        total = None if count is None or total is None else total + count
    lengths: list[int] = []
    channels: int | None = None
    all_binary, done = True, 0
    with open(tmp, "wb") as fh:
        fh.write(b"\0" * _NPY_HEADER)
        for seq in sequences:
            size, n = None, 0
            for block in seq.blocks():
                if block.shape[-1] == 4:
                    block = block[..., :3]
                if size is None:
                    size = block.shape[1:3]
                elif block.shape[1:3] != size:
                    raise SlowVAEError(
                        f"frames of mixed sizes in sequence {seq.name!r} of {label}: frame {n} is "
                        f"{block.shape[2]}x{block.shape[1]}, earlier ones {size[1]}x{size[0]}; give one size per sequence"
                    )
                if binary:
                    block = to_grey(block)
                elif channels is not None and block.shape[-1] != channels:
                    kinds = {1: "grey", 3: "RGB"}
                    raise SlowVAEError(
                        f"frame {n} of sequence {seq.name!r} of {label} is {kinds[block.shape[-1]]}, earlier frames "
                        f"are {kinds[channels]}; convert them to one kind (or pass --binary for masks)"
                    )
                channels = block.shape[-1]
                all_binary = all_binary and is_binary(block)
                small = square_resize(block)
                if binary:
                    small = (small >= 128).astype(np.uint8)
                fh.write(small.tobytes())
                n += len(block)
                done += len(block)
                if progress is not None:
                    progress(done, total, label)
            if n == 0:
                raise SlowVAEError(f"sequence {seq.name!r} of {label} has no frames")
            lengths.append(n)
        stored_binary = binary or all_binary
        shape = (sum(lengths), channels, SIZE, SIZE)
        fh.seek(0)
        fh.write(_npy_header(shape))
    if stored_binary and not binary:  # detected masks: threshold the resized frames in place
        frames = np.load(tmp, mmap_mode="r+")
        for start in range(0, len(frames), 4096):
            frames[start : start + 4096] = frames[start : start + 4096] >= 128
        frames.flush()
        del frames
    return lengths, stored_binary


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (POSIX), so parallel runs decode an input once."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, parallel builds both write atomically
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def open_frames(
    path: str | Path, *, binary: bool = False, root: Path | None = None, progress: Progress | None = None
) -> FrameSet:
    """The decoded frames of input ``path``, decoding them into the cache when absent or stale.

    ``binary`` forces 0/1 frames (module docstring). ``progress`` is called while decoding.
    """
    path = Path(path).expanduser().resolve()
    sequences = find_sequences(path)
    fingerprint = _fingerprint(sequences)
    folder = cache_folder(root)
    key = hashlib.sha256(f"{path}\0binary={bool(binary)}".encode()).hexdigest()[:20]
    npy, meta_path = folder / f"{key}.npy", folder / f"{key}.json"
    folder.mkdir(parents=True, exist_ok=True)
    with _lock(folder / ".lock"):
        meta = _fresh_meta(meta_path, npy, path, fingerprint)
        if meta is None:
            with atomic_path(npy) as tmp:
                lengths, stored_binary = _decode(sequences, tmp, bool(binary), progress, str(path))
            meta = {
                "format": CACHE_FORMAT,
                "input": str(path),
                "fingerprint": fingerprint,
                "binary_forced": bool(binary),
                "binary": stored_binary,
                "sequences": [s.name for s in sequences],
                "lengths": lengths,
            }
            with atomic_path(meta_path) as tmp:
                tmp.write_text(json.dumps(meta, indent=1) + "\n")
    return FrameSet(load_npy(npy), meta)


def _fresh_meta(meta_path: Path, npy: Path, path: Path, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    """The cache's metadata if it describes ``path`` as it is now, else None."""
    if not (meta_path.is_file() and npy.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if meta.get("format") != CACHE_FORMAT or meta.get("input") != str(path) or meta.get("fingerprint") != fingerprint:
        return None
    return meta


def clean_caches(root: Path | None = None) -> tuple[int, int]:
    """Remove every frame cache from the data root; returns (inputs removed, bytes freed)."""
    folder = cache_folder(root)
    if not folder.is_dir():
        return 0, 0
    entries = list(folder.iterdir())
    freed = sum(p.stat().st_size for p in entries if p.is_file())
    count = sum(1 for p in entries if p.suffix == ".json")
    shutil.rmtree(folder)
    return count, freed


# ---------------------------------------------------------------- ground truth


def read_truth(csv_path: str | Path, frames: FrameSet) -> tuple[tuple[str, ...], np.ndarray]:
    """Latent names and values float64 (N, L) of every frame row, from a CSV with columns
    ``sequence``, ``frame`` and one per latent; every frame needs exactly one row."""
    csv_path = Path(csv_path).expanduser()
    try:
        with open(csv_path, newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as err:
        raise SlowVAEError(f"cannot read ground-truth CSV {csv_path}: {err}") from None
    header = [h.strip() for h in rows[0]] if rows else []
    if header[:2] != ["sequence", "frame"] or len(header) < 3:
        raise SlowVAEError(
            f"{csv_path}: the header must be `sequence,frame,` then one column per latent; "
            f"found {','.join(header) or 'nothing'}"
        )
    names = tuple(header[2:])
    seq_index = {name: i for i, name in enumerate(frames.names)}
    values = np.full((len(frames), len(names)), np.nan)
    seen = np.zeros(len(frames), dtype=bool)
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        where = f"{csv_path} line {line}"
        if len(row) != len(header):
            raise SlowVAEError(f"{where}: {len(row)} values, the header has {len(header)}")
        seq = row[0].strip()
        if seq not in seq_index:
            shown = ", ".join(frames.names[:5]) + (", ..." if len(frames.names) > 5 else "")
            raise SlowVAEError(f"{where}: sequence {seq!r} is not in {frames.input} (its sequences: {shown})")
        s = seq_index[seq]
        try:
            t = int(row[1])
            latents = [float(v) for v in row[2:]]
        except ValueError:
            raise SlowVAEError(f"{where}: frame must be an integer and latents numbers; got {row}") from None
        if not 0 <= t < frames.lengths[s]:
            raise SlowVAEError(
                f"{where}: frame {t} of sequence {seq!r} does not exist (it has {frames.lengths[s]} frames, from 0)"
            )
        if not np.all(np.isfinite(latents)):
            raise SlowVAEError(f"{where}: latents must be finite numbers; got {row[2:]}")
        r = frames.first[s] + t
        if seen[r]:
            raise SlowVAEError(f"{where}: sequence {seq!r} frame {t} appears twice")
        seen[r] = True
        values[r] = latents
    if not seen.all():
        missing = int(np.flatnonzero(~seen)[0])
        s = int(frames.sequence_of(np.array([missing]))[0])
        raise SlowVAEError(
            f"{csv_path}: {int((~seen).sum())} frames of {frames.input} have no row "
            f"(first: sequence {frames.names[s]!r} frame {missing - frames.first[s]})"
        )
    return names, values


# ---------------------------------------------------------------- the PairSource


def check_options(*, max_dt: Any = 1, binary: Any = False, **_: Any) -> None:
    """Check the values of ``frames:`` options without reading a frame (a study checks them before it
    writes anything); the other options are checked where they are used."""
    if isinstance(max_dt, bool) or not isinstance(max_dt, (int, float)) or int(max_dt) != max_dt or max_dt < 1:
        raise SlowVAEError(f"max_dt (--max-dt) must be a whole number of frames, at least 1; got {max_dt!r}")
    if not isinstance(binary, bool):
        raise SlowVAEError(f"binary must be true or false, got {binary!r}")


class FramesSource:
    """PairSource of the user's frames (``frames:PATH``): pairs Δt ~ U{1..max_dt} apart within one
    sequence. Latents are the truth CSV's columns, or none (``latent_names == ()``) without it."""

    evaluation = ("mcc",)

    def __init__(
        self,
        path: str | Path,
        *,
        max_dt: int = 1,
        binary: bool = False,
        truth: str | Path | None = None,
        root: Path | None = None,
        progress: Progress | None = None,
    ) -> None:
        check_options(max_dt=max_dt, binary=binary)
        self.max_dt = int(max_dt)
        self.frames = open_frames(path, binary=binary, root=root, progress=progress)
        self.name = f"{PREFIX}:{path}"
        self.transition_rule = f"natural (frames of one sequence, dt ~ U{{1..{self.max_dt}}} apart)"
        self.channels = self.frames.channels
        self.binary = self.frames.binary
        short = self.frames.lengths < self.max_dt + 1
        if short.any():
            s = int(np.flatnonzero(short)[0])
            raise SlowVAEError(
                f"sequence {self.frames.names[s]!r} of {self.frames.input} has {self.frames.lengths[s]} frame(s); "
                f"pairs up to --max-dt {self.max_dt} apart need at least {self.max_dt + 1}"
            )
        if truth is None:
            self.latent_names: tuple[str, ...] = ()
            self._latents = np.zeros((len(self.frames), 0))
        else:
            self.latent_names, self._latents = read_truth(truth, self.frames)

    def pair_rows(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Frame rows (n,) and (n,) of ``n`` pairs: uniform over (sequence, start, Δt) with the
        second frame Δt later in the same sequence."""
        dt = rng.integers(1, self.max_dt + 1, size=n)
        count = len(self.frames.lengths)
        u = rng.integers(0, len(self.frames) - count * dt)  # one of the starts that fit Δt
        return self._rows(u, dt)

    @property
    def pair_count(self) -> int:
        """How many distinct pairs there are: (start, Δt) with Δt in 1..max_dt inside one sequence."""
        return int(sum(self._starts(d) for d in range(1, self.max_dt + 1)))

    def distinct_pair_rows(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Frame rows (m,) and (m,) of m = min(n, :attr:`pair_count`) distinct pairs, drawn uniformly
        without replacement."""
        starts = np.array([self._starts(d) for d in range(1, self.max_dt + 1)])
        offsets = np.concatenate([[0], np.cumsum(starts)])
        pick = rng.choice(int(offsets[-1]), size=min(n, int(offsets[-1])), replace=False)
        dt = np.searchsorted(offsets, pick, side="right")  # block d - 1 holds the pairs Δt = d apart
        return self._rows(pick - offsets[dt - 1], dt)

    def _starts(self, dt: int) -> int:
        """The number of starts that fit pairs ``dt`` apart, over all sequences."""
        return len(self.frames) - len(self.frames.lengths) * dt

    def _rows(self, u: np.ndarray, dt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frame rows of the pairs whose start is the ``u``-th (n,) of those that fit ``dt`` (n,)."""
        n, count = len(u), len(self.frames.lengths)
        seq = np.empty(n, dtype=np.int64)
        for d in np.unique(dt):
            # starts that fit d, counted before each sequence: first - index * d (increasing)
            offsets = self.frames.first - np.arange(count) * d
            pick = dt == d
            seq[pick] = np.searchsorted(offsets, u[pick], side="right") - 1
        start = u + seq * dt  # first[seq] + (u - offsets[seq])
        return start, start + dt

    def sample_pairs(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """x_t, x_t' uint8 (n, C, 64, 64) and their latents (n, L) (L = 0 without ground truth)."""
        r0, r1 = self.pair_rows(n, rng)
        both = gather_rows(self.frames.frames, np.concatenate([r0, r1]))
        return both[:n], both[n:], self._latents[r0], self._latents[r1]

    def sample_distinct_pairs(
        self, n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`sample_pairs`, for m = min(n, :attr:`pair_count`) distinct pairs."""
        r0, r1 = self.distinct_pair_rows(n, rng)
        both = gather_rows(self.frames.frames, np.concatenate([r0, r1]))
        return both[: len(r0)], both[len(r0) :], self._latents[r0], self._latents[r1]

    def sample_eval(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` frames (n, C, 64, 64), distinct while the input has that many, and latents (n, L).
        Without ground truth there is nothing to gain from repeats: at most the input's distinct frames."""
        if not self.latent_names:
            n = min(n, len(self.frames))
        rows = rng.choice(len(self.frames), size=n, replace=n > len(self.frames))
        return gather_rows(self.frames.frames, rows), self._latents[rows]
