"""Object tracks of (x, y, area) from mask videos, and the reference's windowing.

A *track* is a float array (T, 3) with columns (x, y, area) for one object over T consecutive
frames: x the column and y the row of the centre of mass in pixels, area the pixel count, and a
row of NaN where the object is absent (:func:`slowvae.stats.differences.transitions` differences them).

Two conventions:

- plain (default): every object id of the full-resolution frames is one track, in pixels and
  pixels^2 of the input; a frame where an object has fewer than ``min_area`` pixels counts as
  absent (gaps make NaN rows, so a dt > 1 pair may straddle a gap).
- reference (``reference=True``): the windowing of the SlowVAE reference's
  ``gen_kitti_masks.py`` (docs/datasets.md §7): each id map is resized with
  nearest-neighbour sampling to height 64 and width ``int(W // (H / 64))``, cut into 6
  overlapping 64x64 windows with stride ``(w - 64) // 5``; each (window, id) over the frames
  where it appears is split at frames with fewer than ``min_area`` (default 30) pixels into
  runs, and a run is kept if it has more than 2 frames, or more than 1 frame when it reaches
  the last frame of the (window, id). Each kept run is its own track, in pixels of the window.
  Differences from the reference: ids 0 and the ignore id are dropped by value (the reference
  drops the first and the last id of each window, which drops the highest object id when a
  window has no ignore region).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

import numpy as np

from slowvae.errors import SlowVAEError

#: reference windowing (gen_kitti_masks.py): window size, number of windows, pixel threshold
WINDOW = 64
N_WINDOWS = 6
REFERENCE_MIN_AREA = 30


def mask_latents(masks: np.ndarray, min_area: int = 1) -> np.ndarray:
    """(x, y, area) per frame of binary masks (T, H, W): float (T, 3), NaN rows where the mask
    has fewer than min_area pixels. x is the column, y the row of the centre of mass."""
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise SlowVAEError(f"masks must be (T, H, W), got shape {masks.shape}")
    fg = masks != 0
    area = fg.sum(axis=(1, 2)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = (fg.sum(axis=2) * np.arange(masks.shape[1])).sum(axis=1) / area
        x = (fg.sum(axis=1) * np.arange(masks.shape[2])).sum(axis=1) / area
    out = np.stack([x, y, area], axis=1)
    out[area < max(min_area, 1)] = np.nan
    return out


def reference_resize(id_map: np.ndarray) -> np.ndarray:
    """Nearest-neighbour resize of an id map (H, W) to (64, int(W // (H / 64))), sampling like
    ``torch.nn.functional.interpolate(mode="nearest")`` (source index floor(i * in / out), in
    float32)."""
    h, w = id_map.shape
    out_w = int(w // (h / WINDOW))
    if out_w < WINDOW:
        raise SlowVAEError(
            f"reference windowing needs frames at least as wide as high; got {h}x{w}, which resizes to {WINDOW}x{out_w}"
        )
    rows = np.minimum(np.floor(np.arange(WINDOW, dtype=np.float32) * np.float32(h / WINDOW)), h - 1)
    cols = np.minimum(np.floor(np.arange(out_w, dtype=np.float32) * np.float32(w / out_w)), w - 1)
    return id_map[rows.astype(np.intp)[:, None], cols.astype(np.intp)[None, :]]


def reference_window_offsets(width: int) -> list[int]:
    """x offsets of the 6 overlapping 64-px windows of a resized frame of this width."""
    stride = (width - WINDOW) // (N_WINDOWS - 1)
    return [k * stride for k in range(N_WINDOWS)]


def _id_stats(id_map: np.ndarray, drop: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """Ids (M,) present in an id map and their (x, y, area) (M, 3), without the ids in drop."""
    flat = id_map.ravel()
    nz = np.flatnonzero(flat)
    if nz.size == 0:
        return np.empty(0, dtype=np.int64), np.empty((0, 3))
    ids, inv = np.unique(flat[nz], return_inverse=True)
    w = id_map.shape[1]
    area = np.bincount(inv).astype(np.float64)
    y = np.bincount(inv, weights=nz // w) / area
    x = np.bincount(inv, weights=nz % w) / area
    keep = np.array([int(i) not in drop for i in ids], dtype=bool)
    return ids[keep].astype(np.int64), np.stack([x, y, area], axis=1)[keep]


def _assemble(records: dict, min_area: float) -> list[np.ndarray]:
    tracks = []
    for key in sorted(records):
        times, values = zip(*records[key])
        times = np.asarray(times)
        arr = np.full((times.max() - times.min() + 1, 3), np.nan)
        arr[times - times.min()] = values
        arr[arr[:, 2] < min_area] = np.nan
        if np.isfinite(arr[:, 2]).any():
            tracks.append(arr)
    return tracks


def reference_runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """The reference's track splitting (gen_kitti_masks.py): half-open runs [start, end) of
    consecutive True frames of ``valid`` (T,), kept if longer than 2 frames, or longer than 1
    when the run reaches the last frame."""
    runs = []
    t, n = 0, len(valid)
    while t < n:
        if not valid[t]:
            t += 1
            continue
        end = t
        while end < n and valid[end]:
            end += 1
        length = end - t
        if length > 2 or (end == n and length > 1):
            runs.append((t, end))
        t = end
    return runs


def _reference_runs(records: dict, min_area: float) -> list[np.ndarray]:
    tracks = []
    for key in sorted(records):
        times, values = zip(*records[key])
        times = np.asarray(times)
        t0 = times.min()
        arr = np.zeros((times.max() - t0 + 1, 3))
        arr[times - t0] = values
        for start, end in reference_runs(arr[:, 2] >= min_area):
            tracks.append(arr[start:end].copy())
    return tracks


def tracks_from_id_maps(
    frames: Iterable[tuple[int, np.ndarray]],
    *,
    keep: Callable[[int], bool] | None = None,
    drop: Iterable[int] = (0,),
    reference: bool = False,
    min_area: float | None = None,
    name: str = "input",
    allow_empty: bool = False,
) -> list[np.ndarray]:
    """Object tracks (each (T_i, 3) of x, y, area) from a sequence of id maps.

    ``frames`` yields (frame index, id map int (H, W)), every map of one shape; each id not in
    ``drop`` and accepted by ``keep(id)`` is one object. ``reference`` applies the reference
    windowing (module docstring); ``min_area`` defaults to 1 (plain) or 30 (reference).
    Raises :class:`SlowVAEError` for no frames, one frame, mixed shapes, and (unless
    ``allow_empty``, which returns ``[]``) frames without any object.
    """
    drop = set(int(d) for d in drop)
    if min_area is None:
        min_area = REFERENCE_MIN_AREA if reference else 1
    records: dict = defaultdict(list)
    shape = None
    n_frames = 0
    seen = set()
    for t, id_map in frames:
        id_map = np.asarray(id_map)
        if id_map.ndim != 2:
            raise SlowVAEError(f"{name}: frame {t} is not a 2-D id map (shape {id_map.shape})")
        if shape is None:
            shape = id_map.shape
        elif id_map.shape != shape:
            raise SlowVAEError(
                f"{name}: frames have mixed shapes: {shape[0]}x{shape[1]} and "
                f"{id_map.shape[0]}x{id_map.shape[1]} (frame {t})"
            )
        if t in seen:
            raise SlowVAEError(f"{name}: frame {t} appears twice")
        seen.add(t)
        n_frames += 1
        if reference:
            small = reference_resize(id_map)
            for k, off in enumerate(reference_window_offsets(small.shape[1])):
                ids, vals = _id_stats(small[:, off : off + WINDOW], drop)
                for i, v in zip(ids, vals):
                    if keep is None or keep(int(i)):
                        records[(k, int(i))].append((t, v))
        else:
            ids, vals = _id_stats(id_map, drop)
            for i, v in zip(ids, vals):
                if keep is None or keep(int(i)):
                    records[int(i)].append((t, v))
    if n_frames == 0:
        raise SlowVAEError(f"{name}: no frames")
    if n_frames < 2:
        raise SlowVAEError(f"{name}: a single frame; transitions need at least 2 frames")
    if not records:
        if allow_empty:
            return []
        raise SlowVAEError(f"{name}: the masks are empty (no object pixels in {n_frames} frames)")
    return _reference_runs(records, min_area) if reference else _assemble(records, min_area)
