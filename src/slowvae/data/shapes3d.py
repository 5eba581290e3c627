"""Shapes3D (Burgess & Kim 2018): ``3dshapes.h5``, read lazily.

Format (docs/datasets.md §2): HDF5 with ``images`` (480000, 64, 64, 3) uint8 and ``labels``
(480000, 6) float64; factors (floor_hue 10, wall_hue 10, object_hue 10, scale 8, shape 4,
orientation 15), row-major with orientation fastest; shape is categorical (docs/datasets.md §2).
The factor sizes are read from the labels (the distinct values of each column) and the order
is checked. When ``images`` is stored contiguously and uncompressed (as in the released file)
its rows are read in place with ``pread``; otherwise rows are read through h5py. Needs h5py
(``pip install 'slowvae[hdf5]'``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from slowvae.data.arrays import RowFile, gather_rows
from slowvae.data.base import GroundTruthData
from slowvae.data.paths import MissingDataError, data_root
from slowvae.errors import SlowVAEError

FOLDER = "3dshapes"
FILE = "3dshapes.h5"
FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")


def open_h5(path: Path):
    """An h5py File opened read-only, with a clear message when h5py is missing."""
    try:
        import h5py
    except ImportError:
        raise SlowVAEError(f"reading {Path(path).name} needs h5py: pip install 'slowvae[hdf5]'") from None
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise SlowVAEError(f"cannot read {path} as HDF5: {err}") from None


def h5_rows(path: Path, dset) -> RowFile | None:
    """Rows of an HDF5 dataset stored contiguously and uncompressed, read in place; else None."""
    if dset.chunks is not None or dset.compression is not None:
        return None
    offset = dset.id.get_offset()
    if offset is None:
        return None
    return RowFile(path, offset, dset.shape, dset.dtype)


def grid_from_values(values: np.ndarray, path: Path) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """Factor sizes and per-factor value lists of a row-major label table (N, K); checks the order."""
    uniques, classes = [], []
    for col in values.T:
        u, inv = np.unique(col, return_inverse=True)
        uniques.append(u)
        classes.append(inv)
    sizes = tuple(len(u) for u in uniques)
    if int(np.prod(sizes)) != len(values):
        raise SlowVAEError(f"{path}: {len(values)} labels do not form a full grid of sizes {sizes}")
    index = np.ravel_multi_index(tuple(classes), sizes)
    if not np.array_equal(index, np.arange(len(values))):
        raise SlowVAEError(f"{path}: labels are not in row-major order of {sizes}")
    return sizes, uniques


class Shapes3D(GroundTruthData):
    """Shapes3D images (3 channels, 0..255) with the file's factor grid."""

    name = "shapes3d"
    channels = 3
    factor_names = FACTOR_NAMES

    def __init__(self, root: str | Path | None = None) -> None:
        folder = Path(root) / FOLDER if root is not None else data_root() / FOLDER
        path = folder / FILE
        if not path.is_file():
            raise MissingDataError("shapes3d", folder)
        self._file = open_h5(path)
        if "images" not in self._file or "labels" not in self._file:
            raise SlowVAEError(f"{path}: expected datasets 'images' and 'labels'")
        dset = self._file["images"]
        if len(dset.shape) != 4 or dset.shape[1:] != (64, 64, 3) or dset.dtype != np.uint8:
            raise SlowVAEError(f"{path}: images are {dset.dtype} {dset.shape}, expected uint8 (N, 64, 64, 3)")
        labels = np.asarray(self._file["labels"])
        if labels.shape != (dset.shape[0], 6):
            raise SlowVAEError(f"{path}: labels have shape {labels.shape}, expected ({dset.shape[0]}, 6)")
        self.factor_sizes, self.factor_values = grid_from_values(labels, path)
        self.categorical = tuple(n == "shape" for n in FACTOR_NAMES)
        self._images = h5_rows(path, dset)
        self._dset = dset

    def images(self, factors: np.ndarray) -> np.ndarray:
        """uint8 images (N, 3, 64, 64) for factor indices (N, 6)."""
        index = self.factors_to_index(factors)
        if self._images is not None:
            rows = gather_rows(self._images, index)
        else:
            uniq, inv = np.unique(index, return_inverse=True)
            rows = self._dset[uniq][inv] if len(uniq) else np.zeros((0, 64, 64, 3), np.uint8)
        return np.ascontiguousarray(rows.transpose(0, 3, 1, 2))
