"""Readers of the user's own frame sequences: image folders, ``.npy`` / ``.npz`` arrays, videos.

:func:`find_sequences` turns an input path into named sequences, each of which yields its frames
as uint8 blocks (B, H, W, C) with C = 1 (grey), 3 (RGB) or 4 (RGBA). What a path holds:

- a folder of image files (PNG, JPEG, ...): one sequence, named ``0``;
- a folder of sub-folders of images: one sequence per sub-folder, named by it;
- a folder of video files: one sequence per file, named by the file name without extension;
- a ``.npy`` array (T, H, W), (S, T, H, W), (T, H, W, C) or (S, T, H, W, C) with C in 1, 3, 4
  (a 4-axis array whose last axis is 1, 3 or 4 long is read as (T, H, W, C)); the S sequences
  are named ``0`` .. ``S-1``, a single one ``0``;
- a ``.npz`` file: one sequence per array, named by its key, each (T, H, W) or (T, H, W, C);
- a video file (mp4, avi, gif, ...): one sequence named ``0``, decoded as RGB by ``imageio``
  (``imageio-ffmpeg`` for everything but GIF; ``pip install "slowvae[video]"``).

Folders and files inside folders are in natural sort order (``f2`` before ``f10``); hidden files
and files of other types (a ``truth.csv`` beside the frames, say) are skipped. Values become
uint8: bool and 0/1 data scale to 0/255, floats in [0, 1] scale by 255, uint16 by 1/257.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from slowvae.data.arrays import iter_npz_rows, npz_member_info, npz_memmap
from slowvae.errors import SlowVAEError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".gif", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
_BLOCK = 256  # frames per block read from an array


def natural_key(name: str) -> tuple:
    """Sort key putting ``f2`` before ``f10``: digit runs compare as numbers, the rest case-folded."""
    return tuple(
        (0, int(part), part) if part.isdigit() else (1, 0, part.casefold()) for part in re.split(r"(\d+)", name) if part
    )


@dataclass
class Sequence:
    """One named sequence: ``blocks()`` yields its frames as uint8 (B, H, W, C) in order;
    ``length`` is its frame count where known without decoding (None for videos), ``estimate``
    a guess for progress bars; ``files`` are the files whose size and time key the cache."""

    name: str
    blocks: Callable[[], Iterator[np.ndarray]]
    files: tuple[Path, ...]
    length: int | None
    estimate: int | None = None


def _visible(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: natural_key(p.name))


def find_sequences(path: str | Path) -> list[Sequence]:
    """The named sequences of an input path (module docstring); raises on a path it cannot read."""
    path = Path(path).expanduser()
    if not path.exists():
        raise SlowVAEError(f"{path} does not exist")
    if path.is_dir():
        return _folder(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _npy(path)
    if suffix == ".npz":
        return _npz(path)
    if suffix in VIDEO_SUFFIXES:
        return [_video("0", path)]
    raise SlowVAEError(
        f"{path}: cannot read {suffix or 'files without a suffix'} as frames; give a folder of images, "
        f"a .npy or .npz array, or a video ({', '.join(sorted(VIDEO_SUFFIXES))})"
    )


def _folder(folder: Path) -> list[Sequence]:
    entries = _visible(folder)
    images = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    subfolders = [p for p in entries if p.is_dir() and _images_in(p)]
    videos = [p for p in entries if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
    kinds = [
        k
        for k, found in (("image files", images), ("sub-folders of images", subfolders), ("video files", videos))
        if found
    ]
    if len(kinds) > 1:
        raise SlowVAEError(
            f"{folder} holds both {kinds[0]} and {kinds[1]}; put one kind of input in a folder "
            "(images of one sequence, sub-folders of images, or videos)"
        )
    if images:
        return [_image_sequence("0", images)]
    if subfolders:
        return [_image_sequence(p.name, _images_in(p)) for p in subfolders]
    if videos:
        names = [p.stem for p in videos]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise SlowVAEError(f"{folder}: several videos are named {twice[0]!r} (sequence names must differ)")
        return [_video(p.stem, p) for p in videos]
    raise SlowVAEError(f"{folder} holds no image files, sub-folders of images or video files")


def _images_in(folder: Path) -> list[Path]:
    return [p for p in _visible(folder) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]


# ---------------------------------------------------------------- images


def read_image(path: Path) -> np.ndarray:
    """One image file as uint8 (H, W, C), C = 1 or 3 (palette and CMYK become RGB, alpha is
    dropped, 16-bit grey is scaled by 1/257); an unreadable file raises SlowVAEError."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                data = np.asarray(im, dtype=np.float64)
                return np.clip(np.rint(data / 257), 0, 255).astype(np.uint8)[..., None]
            if mode in ("1", "L", "LA"):
                return np.asarray(im.convert("L"), dtype=np.uint8)[..., None]
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as err:
        raise SlowVAEError(f"cannot read frame {path}: {err}") from None


def _image_sequence(name: str, files: list[Path]) -> Sequence:
    def blocks() -> Iterator[np.ndarray]:
        for f in files:
            yield read_image(f)[None]

    return Sequence(name, blocks, tuple(files), len(files))


# ---------------------------------------------------------------- arrays


def _frames_layout(shape: tuple[int, ...], where: str, many: bool) -> tuple[int, bool]:
    """(number of sequences or 0 for one, whether the last axis is channels) of an array shape."""
    ndim = len(shape)
    channels_last = ndim >= 4 and shape[-1] in (1, 3, 4)
    if ndim == 3 or (ndim == 4 and channels_last):
        return 0, channels_last
    if many and (ndim == 4 or (ndim == 5 and channels_last)):
        return shape[0], channels_last
    allowed = "(T, H, W), (S, T, H, W), (T, H, W, C) or (S, T, H, W, C)" if many else "(T, H, W) or (T, H, W, C)"
    raise SlowVAEError(f"{where} has shape {shape}; expected {allowed} with C = 1, 3 or 4 channels")


def to_uint8(block: np.ndarray, scale: float) -> np.ndarray:
    """Frames of any numeric dtype -> uint8, multiplied by ``scale`` (see :func:`value_scale`)."""
    if block.dtype == np.uint8:
        return block
    if block.dtype == np.bool_:
        return block.astype(np.uint8) * np.uint8(255)
    return np.clip(np.rint(block.astype(np.float32) * scale), 0, 255).astype(np.uint8)


def value_scale(blocks: Iterator[np.ndarray], dtype: np.dtype, where: str) -> float:
    """The factor that maps an array's values onto 0..255: 1 for uint8 data, 255 for bool, 0/1
    or [0, 1] floats, 1/257 for uint16 beyond 255. Reads the values (not needed for uint8, bool)."""
    if dtype == np.uint8 or dtype == np.bool_:
        return 1.0
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise SlowVAEError(f"{where} holds {dtype} values; frames must be numbers")
    lo, hi = np.inf, -np.inf
    for block in blocks:
        if np.issubdtype(dtype, np.floating) and not np.all(np.isfinite(block)):
            raise SlowVAEError(f"{where} holds NaN or infinite values")
        if block.size:
            lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
    if lo < 0:
        raise SlowVAEError(f"{where} holds negative values ({lo:g}); frames must be 0..255, 0..1 or 0/1 masks")
    if hi <= 1:
        return 255.0
    if hi <= 255:
        return 1.0
    if dtype == np.uint16:
        return 1 / 257
    raise SlowVAEError(f"{where} holds values up to {hi:g}; frames must be 0..255, 0..1 or 0/1 masks")


def _array_sequence(
    name: str,
    rows: Callable[[], Iterator[np.ndarray]],
    length: int,
    dtype: np.dtype,
    channels_last: bool,
    files: tuple[Path, ...],
    where: str,
) -> Sequence:
    def blocks() -> Iterator[np.ndarray]:
        scale = value_scale(rows(), dtype, where)
        for block in rows():
            block = to_uint8(np.asarray(block), scale)
            yield block if channels_last else block[..., None]

    return Sequence(name, blocks, files, length)


def _npy(path: Path) -> list[Sequence]:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise SlowVAEError(f"cannot read {path} as a .npy array: {err}") from None
    count, channels_last = _frames_layout(array.shape, str(path), many=True)
    parts = [(str(s), array[s]) for s in range(count)] if count else [("0", array)]

    def rows_of(part: np.ndarray) -> Callable[[], Iterator[np.ndarray]]:
        return lambda: (part[i : i + _BLOCK] for i in range(0, len(part), _BLOCK))

    where = (lambda name: f"{path} (sequence {name})") if count else (lambda name: str(path))
    return [
        _array_sequence(name, rows_of(part), len(part), array.dtype, channels_last, (path,), where(name))
        for name, part in parts
    ]


def _npz(path: Path) -> list[Sequence]:
    try:
        with zipfile.ZipFile(path) as zf:
            keys = [n.removesuffix(".npy") for n in zf.namelist() if n.endswith(".npy")]
    except (zipfile.BadZipFile, OSError) as err:
        raise SlowVAEError(f"cannot read {path} as a .npz file: {err}") from None
    if not keys:
        raise SlowVAEError(f"{path} holds no arrays")
    out = []
    for key in sorted(keys, key=natural_key):
        _, shape, dtype, _ = npz_member_info(path, key)
        where = f"{path} (array {key!r})"
        _, channels_last = _frames_layout(tuple(shape), where, many=False)
        out.append(_array_sequence(key, _npz_rows(path, key), shape[0], dtype, channels_last, (path,), where))
    return out


def _npz_rows(path: Path, key: str) -> Callable[[], Iterator[np.ndarray]]:
    def rows() -> Iterator[np.ndarray]:
        mapped = npz_memmap(path, key)
        if mapped is None:  # compressed: streamed
            yield from iter_npz_rows(path, key, block_rows=_BLOCK)
        else:
            yield from (mapped[i : i + _BLOCK] for i in range(0, len(mapped), _BLOCK))

    return rows


# ---------------------------------------------------------------- videos


def _video(name: str, path: Path) -> Sequence:
    def blocks() -> Iterator[np.ndarray]:
        for frame in _iter_video(path):
            yield (frame[..., None] if frame.ndim == 2 else frame)[None]

    return Sequence(name, blocks, (path,), None, _estimate_frames(path))


def _imageio_v3():
    try:
        import imageio.v3 as iio
    except ImportError:
        raise SlowVAEError('reading videos needs imageio and imageio-ffmpeg: pip install "slowvae[video]"') from None
    return iio


def _plugin(path: Path) -> str:
    if path.suffix.lower() == ".gif":
        return "pillow"
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        raise SlowVAEError(f'reading {path.suffix} videos needs imageio-ffmpeg: pip install "slowvae[video]"') from None
    return "FFMPEG"


def _video_error(path: Path, err: BaseException) -> SlowVAEError:
    text = str(err)
    lines = [re.sub(r"^\[[^\]]*\]\s*", "", ln.strip()) for ln in text.splitlines() if ln.strip()]
    if any(
        s in text for s in ("unknown codec", "no decoder found", "Decoder not found", "codec not currently supported")
    ):
        return SlowVAEError(
            f"video {path} has no usable codec (ffmpeg found no decoder for its stream); "
            "re-encode it, for example `ffmpeg -i IN -c:v libx264 OUT.mp4`"
        )
    reason = next(
        (ln for ln in lines if "Invalid data" in ln or "moov atom" in ln), lines[-1] if lines else type(err).__name__
    )
    return SlowVAEError(f"cannot read video {path}: {reason}")


def _iter_video(path: Path) -> Iterator[np.ndarray]:
    iio = _imageio_v3()
    plugin = _plugin(path)
    kwargs = {"mode": "RGB"} if plugin == "pillow" else {}
    try:
        for frame in iio.imiter(path, plugin=plugin, **kwargs):
            yield np.asarray(frame, dtype=np.uint8)
    except (OSError, RuntimeError, ValueError, StopIteration) as err:
        raise _video_error(path, err) from None


def _estimate_frames(path: Path) -> int | None:
    """Frame count from the container's duration and rate (for progress bars only), or None."""
    try:
        meta = _imageio_v3().immeta(path, plugin=_plugin(path))
        return int(round(float(meta["duration"]) * float(meta["fps"]))) or None
    except Exception:  # noqa: BLE001 - a guess only; decoding reports the real problem
        return None
