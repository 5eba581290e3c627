"""KITTI Masks (Klindt et al., ICLR 2021, §5): pedestrian masks from KITTI MOTS and MOTSChallenge.

**Loader** (:class:`KittiMasks`, a PairSource). The released ``kitti_peds_v2.pickle`` (Zenodo
record 3931823) is ``{'pedestrians': [bool (T_i, 64, 64)], 'pedestrians_latents': [float32
(T_i, 3)]}`` with latents (com_y, com_x, area) in pixels of the 64-px window. On first use it is
converted into bit-packed masks (``.masks.npy``, 43 MB for the 84,626 released masks), latents
and sequence lengths beside it, which are then mapped. As the reference's ``KittiMasks``
(docs/datasets.md §7): a pair starts at a uniform (sequence, frame) with a next frame in the
sequence, and its partner is ``min(start + d, T - 1)`` with ``d ~ U{1..max_delta_t}`` (default
5). Masks are one channel of 0/1 (``binary``); the latents (y, x, area) are continuous, so
evaluation is MCC only. Evaluation frames are the first frames of random pairs.

**Builder** (:func:`build_kitti_masks`, ``slowvae data build kitti-masks --mots DIR``): the
reference's ``gen_kitti_masks.py`` on KITTI MOTS / MOTSChallenge annotations, in either form
(``instances/<seq>/*.png`` 16-bit id maps or ``instances_txt/<seq>.txt`` COCO RLE lines, decoded
with :mod:`slowvae.masks.rle`; pycocotools is not needed). Each id map is resized (nearest) to
height 64 and cut into 6 overlapping 64x64 windows (:func:`slowvae.masks.tracks.reference_resize`,
``reference_window_offsets``); in each window every pedestrian id is followed over the dense
range of frames where it appears, split into runs of frames with at least 30 pixels, and runs
longer than 2 frames (or 1 at the end) are kept (``reference_runs``). Objects are chosen by
value: pedestrians (``id // 1000 == 2``), never the background 0 or the ignore region 10000.
``reference_quirk=True`` reproduces the reference instead: the ids of a window are
``np.where(bincount != 0)[0][1:-1]`` (drops the smallest and the largest id present, which is the
highest pedestrian when a window has no ignore region) and every id but cars is kept.
"""

from __future__ import annotations

import json
import os
import pickle
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from slowvae.data.arrays import load_npy, pack_binary, save_npy, unpack_binary
from slowvae.data.paths import MissingDataError, data_root
from slowvae.errors import SlowVAEError
from slowvae.masks.readers import mots_sequences, mots_txt_id_maps, png_id_maps
from slowvae.masks.tracks import WINDOW, reference_resize, reference_runs, reference_window_offsets

FOLDER = "kitti"
PICKLE = "kitti_peds_v2.pickle"
LATENT_NAMES = ("y", "x", "area")
MAX_DELTA_T = 5
MIN_AREA = 30
IGNORE_ID = 10000


# ---------------------------------------------------------------- loader


def _converted_paths(path: Path) -> dict[str, Path]:
    return {k: path.with_name(f"{path.stem}.{k}.npy") for k in ("masks", "latents", "lengths")} | {
        "meta": path.with_name(f"{path.stem}.converted.json")
    }


def convert_pickle(path: Path) -> dict[str, Path]:
    """Convert the pickle into mapped arrays (packed masks, latents, lengths) beside it.

    The pickle is trusted input (it is unpickled): load only files you fetched yourself.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = pickle.load(fh)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is bad input
        raise SlowVAEError(f"cannot unpickle {path}: {err}") from None
    if not isinstance(data, dict) or not {"pedestrians", "pedestrians_latents"} <= set(data):
        raise SlowVAEError(f"{path}: expected a dict with 'pedestrians' and 'pedestrians_latents'")
    masks, lats = data["pedestrians"], data["pedestrians_latents"]
    if len(masks) != len(lats) or not masks:
        raise SlowVAEError(f"{path}: {len(masks)} mask sequences but {len(lats)} latent sequences")
    lengths = []
    for i, (m, lat) in enumerate(zip(masks, lats)):
        m, lat = np.asarray(m), np.asarray(lat)
        if m.ndim != 3 or m.shape[1:] != (64, 64) or lat.shape != (len(m), 3):
            raise SlowVAEError(
                f"{path}: sequence {i} has masks {m.shape} and latents {lat.shape}; expected (T, 64, 64) and (T, 3)"
            )
        lengths.append(len(m))
    out = _converted_paths(path)
    save_npy(out["masks"], np.concatenate([pack_binary(np.asarray(m)) for m in masks]))
    save_npy(out["latents"], np.concatenate([np.asarray(lat, dtype=np.float32) for lat in lats]))
    save_npy(out["lengths"], np.asarray(lengths, dtype=np.int64))
    st = path.stat()
    out["meta"].write_text(json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    return out


class KittiMasks:
    """PairSource of KITTI pedestrian masks (1 channel, 0/1) with latents (y, x, area)."""

    name = "kitti-masks"
    channels = 1
    binary = True
    latent_names = LATENT_NAMES
    evaluation = ("mcc",)
    transition_rule = "natural (KITTI MOTS pedestrians, frames d ~ U{1..max_delta_t} apart)"

    def __init__(self, path: str | Path | None = None, max_delta_t: int = MAX_DELTA_T) -> None:
        if path is None:
            folder = data_root() / FOLDER
            path = folder / PICKLE
            if not path.is_file():
                raise MissingDataError(
                    "kitti-masks",
                    folder,
                    f"no {PICKLE}",
                    how="fetch it with `slowvae data download kitti-masks` (needs internet) or build it "
                    "with `slowvae data build kitti-masks --mots DIR`",
                )
        path = Path(path)
        if not path.is_file():
            raise SlowVAEError(f"{path} does not exist")
        if int(max_delta_t) < 1:
            raise SlowVAEError(f"max_delta_t must be at least 1, got {max_delta_t}")
        self.max_delta_t = int(max_delta_t)
        conv = _converted_paths(path)
        st = path.stat()
        fresh = conv["meta"].is_file() and json.loads(conv["meta"].read_text()) == {
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
        }
        if not fresh:
            conv = convert_pickle(path)
        self._masks = load_npy(conv["masks"])
        self._latents = load_npy(conv["latents"])
        self.lengths = np.asarray(load_npy(conv["lengths"]))
        self._first = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])  # first frame of each sequence
        transitions = np.maximum(self.lengths - 1, 0)
        self._cum = np.concatenate([[0], np.cumsum(transitions)])
        if self._cum[-1] == 0:
            raise SlowVAEError(f"{path}: no sequence has two frames")

    @property
    def num_transitions(self) -> int:
        """Consecutive-frame transitions (the reference dataset's length; 82,506 for the release)."""
        return int(self._cum[-1])

    def _starts(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        g = rng.integers(0, self._cum[-1], size=n)
        seq = np.searchsorted(self._cum, g, side="right") - 1
        return seq, g - self._cum[seq]

    def _frames(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(frame, kind="stable")
        packed = np.empty((len(frame), 64, 8), dtype=np.uint8)
        packed[order] = self._masks[frame[order]]
        return unpack_binary(packed)[:, None], np.asarray(self._latents[frame], dtype=np.float64)

    def sample_pairs(self, n: int, rng: np.random.Generator):
        """x_t, x_t' uint8 0/1 (n, 1, 64, 64) and latents (n, 3) (y, x, area) of both frames."""
        seq, start = self._starts(n, rng)
        delta = rng.integers(1, self.max_delta_t + 1, size=n)
        end = np.minimum(start + delta, self.lengths[seq] - 1)
        x0, l0 = self._frames(self._first[seq] + start)
        x1, l1 = self._frames(self._first[seq] + end)
        return x0, x1, l0, l1

    def sample_eval(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """First frames of random pairs: masks (n, 1, 64, 64) and latents (n, 3)."""
        seq, start = self._starts(n, rng)
        return self._frames(self._first[seq] + start)


# ---------------------------------------------------------------- builder


def window_ids(window: np.ndarray, reference_quirk: bool) -> list[int]:
    """Pedestrian ids to follow in one 64x64 window of an id map (module docstring)."""
    if reference_quirk:
        present = np.flatnonzero(np.bincount(window.ravel()))[1:-1]
        return [int(i) for i in present if i // 1000 != 1]
    present = np.unique(window)
    return [int(i) for i in present if i != 0 and i != IGNORE_ID and i // 1000 == 2]


def mask_latents_yx(masks: np.ndarray) -> np.ndarray:
    """(com_y, com_x, area) float32 (T, 3) of binary masks (T, 64, 64) (scipy's center_of_mass)."""
    area = masks.sum(axis=(1, 2)).astype(np.float64)
    ys = (masks.sum(axis=2) * np.arange(masks.shape[1])).sum(axis=1) / np.maximum(area, 1)
    xs = (masks.sum(axis=1) * np.arange(masks.shape[2])).sum(axis=1) / np.maximum(area, 1)
    return np.stack([ys, xs, area], axis=1).astype(np.float32)


def sequence_tracks(
    frames: Iterable[tuple[int, np.ndarray]], *, reference_quirk: bool = False, min_area: int = MIN_AREA
) -> list[np.ndarray]:
    """Mask runs (each bool (T_i, 64, 64)) of one sequence's id maps, in (window, id, start) order."""
    records: dict[tuple[int, int], dict[int, np.ndarray]] = defaultdict(dict)
    for t, id_map in frames:
        small = reference_resize(np.asarray(id_map))
        for k, off in enumerate(reference_window_offsets(small.shape[1])):
            win = small[:, off : off + WINDOW]
            for i in window_ids(win, reference_quirk):
                records[(k, i)][t] = win == i
    tracks = []
    for key in sorted(records):
        by_t = records[key]
        t0, t1 = min(by_t), max(by_t)
        masks = np.zeros((t1 - t0 + 1, WINDOW, WINDOW), dtype=bool)
        for t, m in by_t.items():
            masks[t - t0] = m
        for start, end in reference_runs(masks.sum(axis=(1, 2)) >= min_area):
            tracks.append(masks[start:end])
    return tracks


def build_kitti_masks(
    mots_dirs: Iterable[str | Path],
    out: str | Path,
    *,
    reference_quirk: bool = False,
    min_area: int = MIN_AREA,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Build a KITTI Masks pickle from MOTS annotation folders; returns counts (sequences, masks,
    transitions). The pickle is written atomically in the released format."""
    say = progress or (lambda _m: None)
    masks: list[np.ndarray] = []
    for root in mots_dirs:
        for kind, path in mots_sequences(Path(root)):
            frames = png_id_maps(path) if kind == "png" else mots_txt_id_maps(path)
            found = sequence_tracks(frames, reference_quirk=reference_quirk, min_area=min_area)
            say(f"{path}: {len(found)} pedestrian tracks")
            masks += found
    if not masks:
        raise SlowVAEError("no pedestrian track of at least 2 frames in the given annotations")
    data = {"pedestrians": masks, "pedestrians_latents": [mask_latents_yx(m) for m in masks]}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, out)
    n = sum(len(m) for m in masks)
    return {"sequences": len(masks), "masks": n, "transitions": n - len(masks)}
