"""The real dSprites file (Matthey et al. 2017), memory-mapped as bit-packed images.

Formats read (docs/datasets.md §1):

- ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` (compressed): ``imgs`` (737280, 64, 64)
  uint8 0/1, ``latents_classes`` (737280, 6) int64, ``latents_values`` (737280, 6) float64 and
  ``metadata``, a dict pickled by Python 2 (read with ``encoding="latin1"``) holding
  ``latents_sizes`` and ``latents_names``.
- the ``.hdf5`` copy: datasets ``imgs``, ``latents/classes``, ``latents/values`` (needs h5py).

The compressed npz cannot be mapped, so it is converted once (:func:`prepare_dsprites`, run by
``slowvae data download dsprites`` or on first use) into ``dsprites_imgs_packed.npy``, the
images bit-packed along rows (N, 64, 8) uint8: 377 MB for the whole set, mapped read-only, so
training stays under about 500 MB resident. The factors are the file's, without the size-1
``color``: (shape 3, scale 6, orientation 40, posX 32, posY 32), row-major with posY fastest;
shape (square, ellipse, heart) is categorical.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from slowvae.data.arrays import (
    gather_rows,
    iter_npz_rows,
    load_npy,
    npz_member_info,
    pack_binary,
    save_npy,
    unpack_binary,
    write_npy_stream,
)
from slowvae.data.base import GroundTruthData, check_grid_factors
from slowvae.data.paths import MissingDataError, data_root
from slowvae.errors import SlowVAEError

FOLDER = "dsprites"
NPZ = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
HDF5 = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.hdf5"
PACKED = "dsprites_imgs_packed.npy"
META = "dsprites_factors.json"
FILE_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")


def _check_order(classes: np.ndarray, sizes: tuple[int, ...], path: Path) -> None:
    if int(np.prod(sizes)) != len(classes):
        raise SlowVAEError(f"{path}: {len(classes)} images, but the factor sizes {sizes} make {int(np.prod(sizes))}")
    expected = np.stack(np.unravel_index(np.arange(len(classes)), sizes), axis=1)
    if not np.array_equal(classes, expected):
        raise SlowVAEError(f"{path}: latents_classes are not in row-major order of {sizes}; not a dSprites file")


def _read_npz_meta(path: Path) -> tuple[np.ndarray, tuple[int, ...], tuple[str, ...]]:
    with np.load(path, allow_pickle=True, encoding="latin1") as z:
        if "latents_classes" not in z.files:
            raise SlowVAEError(f"{path} has no latents_classes; not a dSprites npz")
        classes = np.asarray(z["latents_classes"], dtype=np.int64)
        meta = z["metadata"][()] if "metadata" in z.files else {}
    sizes = tuple(int(s) for s in meta.get("latents_sizes", classes.max(axis=0) + 1))
    names = tuple(meta.get("latents_names", FILE_NAMES))
    return classes, sizes, names


def prepare_dsprites(folder: Path) -> Path:
    """Convert the downloaded npz (or hdf5) in ``folder`` into the bit-packed ``.npy`` and the
    factor description; streamed in blocks, so it needs no more than ~100 MB of memory."""
    folder = Path(folder)
    npz, h5 = folder / NPZ, folder / HDF5
    if npz.is_file():
        classes, sizes, names = _read_npz_meta(npz)
        _check_order(classes, sizes, npz)
        _, shape, dtype, _ = npz_member_info(npz, "imgs")
        blocks = iter_npz_rows(npz, "imgs")
        source = npz
    elif h5.is_file():
        from slowvae.data.shapes3d import open_h5

        f = open_h5(h5)
        classes = np.asarray(f["latents/classes"], dtype=np.int64)
        sizes = tuple(int(s) for s in classes.max(axis=0) + 1)
        names = FILE_NAMES
        _check_order(classes, sizes, h5)
        dset = f["imgs"]
        shape = dset.shape
        step = 8192
        blocks = (dset[i : i + step] for i in range(0, shape[0], step))
        source = h5
    else:
        raise MissingDataError("dsprites", folder, f"neither {NPZ} nor {HDF5}")
    if len(shape) != 3 or shape[1:] != (64, 64):
        raise SlowVAEError(f"{source}: imgs have shape {shape}, expected (N, 64, 64)")
    write_npy_stream(folder / PACKED, (shape[0], 64, 8), np.uint8, blocks, pack_binary)
    meta = {"factor_sizes": list(sizes), "factor_names": [str(n) for n in names], "source": source.name}
    save_npy(folder / "dsprites_latents_classes.npy", classes)
    (folder / META).write_text(json.dumps(meta))
    return folder / PACKED


class DSpritesFile(GroundTruthData):
    """The real dSprites images (1 channel, 0/1), factors (shape, scale, orientation, posX, posY)."""

    name = "dsprites"
    channels = 1
    binary = True

    def __init__(self, root: str | Path | None = None) -> None:
        folder = Path(root) / FOLDER if root is not None else data_root() / FOLDER
        if not (folder / PACKED).is_file() or not (folder / META).is_file():
            if not ((folder / NPZ).is_file() or (folder / HDF5).is_file()):
                raise MissingDataError("dsprites", folder)
            prepare_dsprites(folder)
        meta = json.loads((folder / META).read_text())
        sizes, names = meta["factor_sizes"], meta["factor_names"]
        # drop constant factors (color): SlowVAE uses the 5 others
        keep = [i for i, s in enumerate(sizes) if s > 1]
        self._file_sizes = tuple(sizes)
        self._keep = keep
        self.factor_sizes = tuple(sizes[i] for i in keep)
        self.factor_names = tuple(names[i] for i in keep)
        self.categorical = tuple(n == "shape" for n in self.factor_names)
        self.folder = folder
        self._packed = load_npy(folder / PACKED)
        if self._packed.shape != (int(np.prod(sizes)), 64, 8):
            raise SlowVAEError(f"{folder / PACKED} has shape {self._packed.shape}; delete it to convert again")

    def images(self, factors: np.ndarray) -> np.ndarray:
        """uint8 0/1 images (N, 1, 64, 64) for factor indices (N, 5)."""
        factors = check_grid_factors(factors, self.factor_sizes)
        full = np.zeros((len(factors), len(self._file_sizes)), dtype=np.int64)
        full[:, self._keep] = factors
        index = np.ravel_multi_index(tuple(full.T), self._file_sizes)
        return unpack_binary(gather_rows(self._packed, index))[:, None]
