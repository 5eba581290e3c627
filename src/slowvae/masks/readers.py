"""Readers that turn annotation files into object tracks (each float (T, 3) of x, y, area).

Formats (docs/datasets.md §6, §7):

- KITTI MOTS / MOTSChallenge: ``instances/<seq>/<frame>.png`` (uint16 id maps, id =
  class * 1000 + instance, 0 background, 10000 ignore) or ``instances_txt/<seq>.txt`` (lines
  ``time_frame id class_id img_height img_width rle``, COCO compressed RLE).
- Natural Sprites CSV (``downscale_keepaspect.csv``): header ``id,cat_id,t_0,...``, one row per
  object track; a cell is empty (no mask) or a Python-literal list with one entry per 64-px
  window, ``(com_y, com_x, area)`` or ``None``. Each (row, window) is a track, so consecutive
  non-empty cells of one window give the reference's pairs (``load_csv``, ``sequence=2``).
- KITTI Masks pickle (``kitti_peds_v2.pickle``): ``{'pedestrians': [bool (T_i, 64, 64)],
  'pedestrians_latents': [float32 (T_i, 3) of (y, x, area)]}``; each sequence is a track.
- A folder of per-frame PNG id maps (one object per id, 0 background; palette images by
  index, RGB by colour).
- A ``.npy`` of binary masks (T, H, W) of one object.
"""

from __future__ import annotations

import ast
import csv
import pickle
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from slowvae.errors import SlowVAEError
from slowvae.masks.rle import rle_decode
from slowvae.masks.tracks import mask_latents, tracks_from_id_maps

#: the MOTS ignore-region id and the class codes (id // 1000)
MOTS_IGNORE = 10000
MOTS_CLASSES = {"car": 1, "pedestrian": 2}


# ---------------------------------------------------------------- PNG id maps


def read_id_png(path: str | Path) -> np.ndarray:
    """An id map (H, W) int64 from a mask PNG: 16-bit and 8-bit grey values and palette indices
    are ids; RGB colours become ids ``r << 16 | g << 8 | b`` (black is background)."""
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - Pillow comes with matplotlib
        raise SlowVAEError("reading PNG masks needs Pillow: pip install pillow") from err
    try:
        with Image.open(path) as img:
            mode = img.mode
            if mode in ("LA", "PA"):
                img = img.getchannel(0)
            arr = np.array(img)
    except (OSError, ValueError) as err:
        raise SlowVAEError(f"cannot read mask image {path}: {err}") from None
    if arr.ndim == 3:
        if mode not in ("RGB", "RGBA"):
            raise SlowVAEError(f"{path}: unsupported image mode {mode} for an id map")
        rgb = arr[..., :3].astype(np.int64)
        return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return arr.astype(np.int64)


def _frame_numbers(paths: list[Path]) -> list[int]:
    """Frame index of each sorted file: its numeric stem where all stems are numbers, else its
    position."""
    stems = [p.stem for p in paths]
    if all(s.isdigit() for s in stems):
        return [int(s) for s in stems]
    return list(range(len(paths)))


def png_id_maps(folder: Path) -> Iterator[tuple[int, np.ndarray]]:
    """(frame, id map (H, W)) of a folder of MOTS instance PNGs (or any per-frame id PNGs), in frame order."""
    paths = sorted(folder.glob("*.png"))
    for t, p in zip(_frame_numbers(paths), paths):
        yield t, read_id_png(p)


def read_mask_dir(folder: str | Path, *, reference: bool = False, min_area: float | None = None) -> list[np.ndarray]:
    """Tracks from a folder of per-frame PNG id maps (one object per nonzero id), frames in
    file-name order (numeric names give the frame numbers, so missing frames are gaps)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SlowVAEError(f"--mask-dir: {folder} is not a folder")
    if not any(folder.glob("*.png")):
        raise SlowVAEError(f"--mask-dir: no .png files in {folder}")
    return tracks_from_id_maps(png_id_maps(folder), reference=reference, min_area=min_area, name=str(folder))


# ---------------------------------------------------------------- binary masks (.npy)


def read_mask_array(
    masks: str | Path | np.ndarray, *, reference: bool = False, min_area: float | None = None
) -> list[np.ndarray]:
    """One object's track from binary masks (T, H, W) (nonzero = object), or a .npy of them."""
    name = "masks"
    if not isinstance(masks, np.ndarray):
        name = str(masks)
        try:
            masks = np.load(masks, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise SlowVAEError(f"cannot read {name} as a .npy array: {err}") from None
    if masks.ndim != 3:
        raise SlowVAEError(f"{name}: binary masks must be shaped (T, H, W), got {masks.shape}")
    if masks.shape[0] < 2:
        raise SlowVAEError(f"{name}: a single frame; transitions need at least 2 frames")
    if not masks.any():
        raise SlowVAEError(f"{name}: the masks are empty (no object pixels in {masks.shape[0]} frames)")
    if not reference:
        lat = mask_latents(masks, min_area=1 if min_area is None else min_area)
        return [lat]
    frames = ((t, (m != 0).astype(np.int64)) for t, m in enumerate(masks))
    return tracks_from_id_maps(frames, reference=True, min_area=min_area, name=name)


# ---------------------------------------------------------------- KITTI MOTS / MOTSChallenge


def mots_txt_id_maps(
    path: Path, classes: set[int] | None = None, *, drop_ignore: bool = True
) -> Iterator[tuple[int, np.ndarray]]:
    """(frame, id map (H, W) int64) of a MOTS ``instances_txt`` file, frames in order.

    Objects of other ``classes`` (id // 1000) are left out, and with ``drop_ignore`` the ignore
    region (id 10000) too; a frame whose objects are all left out still yields an empty map.
    """
    by_frame: dict[int, list[tuple[int, int, int, str]]] = defaultdict(list)
    size = None
    with open(path, encoding="ascii", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                raise SlowVAEError(
                    f"{path}:{lineno}: expected 'time_frame id class_id img_height img_width rle', "
                    f"got {len(parts)} fields"
                )
            try:
                t, obj, cls, h, w = (int(v) for v in parts[:5])
            except ValueError:
                raise SlowVAEError(f"{path}:{lineno}: the first five fields must be integers") from None
            if size is None:
                size = (h, w)
            elif (h, w) != size:
                raise SlowVAEError(f"{path}:{lineno}: frames have mixed shapes: {size[0]}x{size[1]} and {h}x{w}")
            by_frame[t]  # the frame exists even when all its objects are filtered out
            if obj == 0 or (drop_ignore and obj == MOTS_IGNORE) or (classes is not None and cls not in classes):
                continue
            by_frame[t].append((obj, h, w, parts[5]))
    for t in sorted(by_frame):
        id_map = np.zeros(size, dtype=np.int64)
        for obj, h, w, rle in by_frame[t]:
            try:
                id_map[rle_decode(rle, h, w)] = obj
            except SlowVAEError as err:
                raise SlowVAEError(f"{path}: frame {t}, object {obj}: {err}") from None
        yield t, id_map


def mots_sequences(root: Path) -> list[tuple[str, Path]]:
    """(kind, path) of each MOTS sequence under root: ('png', folder) or ('txt', file)."""
    if root.is_file():
        if root.suffix == ".txt":
            return [("txt", root)]
        raise SlowVAEError(f"--mots: {root} is neither a folder nor an instances_txt .txt file")
    if not root.is_dir():
        raise SlowVAEError(f"--mots: {root} does not exist")
    for sub in ("instances", "instances_txt"):
        if (root / sub).is_dir():
            return mots_sequences(root / sub)
    seqs: list[tuple[str, Path]] = [
        ("png", d) for d in sorted(p for p in root.iterdir() if p.is_dir()) if any(d.glob("*.png"))
    ]
    seqs += [("txt", f) for f in sorted(root.glob("*.txt"))]
    if not seqs and any(root.glob("*.png")):
        seqs = [("png", root)]
    if not seqs:
        raise SlowVAEError(
            f"--mots: no annotations in {root}: expected instances/<seq>/*.png, "
            "instances_txt/<seq>.txt, or a folder of one sequence's PNGs"
        )
    return seqs


def read_mots(
    root: str | Path,
    *,
    classes: Iterable[int] | None = None,
    reference: bool = False,
    min_area: float | None = None,
) -> list[np.ndarray]:
    """Tracks of KITTI MOTS / MOTSChallenge objects from PNG or txt annotations.

    ``classes`` keeps objects whose ``id // 1000`` is listed (1 car, 2 pedestrian); the default
    is every class, or pedestrians only with ``reference`` (as ``gen_kitti_masks.py``). The
    ignore region (id 10000) and the background are never objects.
    """
    root = Path(root)
    if classes is None and reference:
        classes = {MOTS_CLASSES["pedestrian"]}
    cls = None if classes is None else {int(c) for c in classes}
    keep = None if cls is None else (lambda i: i // 1000 in cls)
    tracks: list[np.ndarray] = []
    for kind, path in mots_sequences(root):
        frames = png_id_maps(path) if kind == "png" else mots_txt_id_maps(path, cls)
        # a sequence without objects of these classes adds nothing
        tracks += tracks_from_id_maps(
            frames,
            keep=keep,
            drop=(0, MOTS_IGNORE),
            reference=reference,
            min_area=min_area,
            name=str(path),
            allow_empty=True,
        )
    if not tracks:
        raise SlowVAEError(f"--mots: no object of classes {sorted(cls) if cls else 'any'} in {root}")
    return tracks


# ---------------------------------------------------------------- Natural Sprites CSV

_NUMPY_SCALAR = re.compile(r"(?:np|numpy)\.\w+\(([^()]*)\)")
_NAN = re.compile(r"\bnan\b")


def _parse_cell(cell: str, where: str) -> list | None:
    cell = cell.strip()
    if not cell:
        return None
    text = _NAN.sub("None", _NUMPY_SCALAR.sub(r"\1", cell))
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise SlowVAEError(f"{where}: cannot parse cell {cell[:60]!r} (expected e.g. '[(y, x, area), None]')") from None
    if value is None:
        return None
    if isinstance(value, tuple) and len(value) == 3 and all(v is None or isinstance(v, (int, float)) for v in value):
        value = [value]  # a single window written without the list
    if not isinstance(value, (list, tuple)):
        raise SlowVAEError(f"{where}: cell {cell[:60]!r} is not a list of windows")
    windows = []
    for entry in value:
        if entry is None:
            windows.append(None)
            continue
        if not (isinstance(entry, (list, tuple)) and len(entry) == 3):
            raise SlowVAEError(f"{where}: window entry {entry!r} is not (com_y, com_x, area) or None")
        if any(v is None for v in entry):
            windows.append(None)
            continue
        try:
            y, x, area = (float(v) for v in entry)
        except (TypeError, ValueError):
            raise SlowVAEError(f"{where}: window entry {entry!r} is not numeric") from None
        windows.append((x, y, area))
    return windows


def read_natural_sprites_csv(path: str | Path) -> list[np.ndarray]:
    """One track per (object row, window) of the Natural Sprites CSV, as (x, y, area) in pixels
    of the 64-px window; empty cells and ``None`` windows are NaN rows."""
    path = Path(path)
    if not path.is_file():
        raise SlowVAEError(f"--csv: {path} does not exist")
    tracks: list[np.ndarray] = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        for rowno, row in enumerate(reader, 1):
            if not row or all(not c.strip() for c in row):
                continue
            if rowno == 1 and not row[0].strip().lstrip("-").isdigit():
                continue  # header: id,cat_id,t_0,...
            if len(row) < 3:
                raise SlowVAEError(f"{path}: row {rowno} has {len(row)} columns; expected id, cat_id, t_0, ...")
            cells = [_parse_cell(c, f"{path}: row {rowno}, frame {j}") for j, c in enumerate(row[2:])]
            n_win = max((len(c) for c in cells if c is not None), default=0)
            if n_win == 0:
                continue
            arr = np.full((n_win, len(cells), 3), np.nan)
            for j, c in enumerate(cells):
                if c is None:
                    continue
                if len(c) != n_win:
                    raise SlowVAEError(f"{path}: row {rowno}, frame {j}: {len(c)} windows, other frames have {n_win}")
                for k, v in enumerate(c):
                    if v is not None:
                        arr[k, j] = v
            tracks += [a for a in arr if np.isfinite(a[:, 2]).any()]
    if not tracks:
        raise SlowVAEError(f"--csv: no object in any frame of {path}")
    return tracks


# ---------------------------------------------------------------- KITTI Masks pickle


def read_kitti_pickle(path: str | Path) -> list[np.ndarray]:
    """One track per sequence of the KITTI Masks pickle, from its latents (y, x, area) reordered
    to (x, y, area) in pixels of the 64-px window; from the masks where no latents are stored.

    The file is a pickle: load only files you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise SlowVAEError(f"--kitti-pickle: {path} does not exist")
    try:
        with open(path, "rb") as fh:
            data = pickle.load(fh)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is bad input
        raise SlowVAEError(f"cannot unpickle {path}: {err}") from None
    if not isinstance(data, dict) or not ({"pedestrians", "pedestrians_latents"} & set(data)):
        raise SlowVAEError(
            f"{path}: expected a dict with 'pedestrians' and 'pedestrians_latents' (kitti_peds_v2.pickle)"
        )
    tracks = []
    if "pedestrians_latents" in data:
        for i, lat in enumerate(data["pedestrians_latents"]):
            lat = np.asarray(lat, dtype=np.float64)
            if lat.ndim != 2 or lat.shape[1] != 3:
                raise SlowVAEError(f"{path}: pedestrians_latents[{i}] has shape {lat.shape}, expected (T, 3)")
            tracks.append(lat[:, [1, 0, 2]])
    else:
        for i, masks in enumerate(data["pedestrians"]):
            masks = np.asarray(masks)
            if masks.ndim != 3:
                raise SlowVAEError(f"{path}: pedestrians[{i}] has shape {masks.shape}, expected (T, H, W)")
            tracks.append(mask_latents(masks))
    if not tracks:
        raise SlowVAEError(f"{path}: no sequences")
    return tracks
