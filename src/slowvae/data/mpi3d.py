"""MPI3D toy, realistic and real (Gondal et al. 2019): the final 6x6 release, memory-mapped.

Format (docs/datasets.md §3): ``mpi3d_<variant>.npz`` with one array ``images`` (1036800, 64, 64, 3)
uint8, reshaped to the grid (object_color 6, object_shape 6, object_size 2, camera_height 3,
background_color 3, horizontal_axis 40, vertical_axis 40), row-major. As in the SlowVAE
reference (``MPI3DReal``) only object_shape is categorical. The release is ``np.savez``
(uncompressed), so ``images`` is read in place inside the zip, row by row with ``pread``
(:class:`~slowvae.data.arrays.RowFile`): 12.7 GB on disk, a batch's rows in memory, so a 24 GB
machine never holds the file. A compressed copy is converted once into
``mpi3d_<variant>_images.npy``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from slowvae.data.arrays import (
    RowFile,
    gather_rows,
    iter_npz_rows,
    npy_location,
    npz_member_info,
    npz_member_location,
    write_npy_stream,
)
from slowvae.data.base import GroundTruthData
from slowvae.data.paths import MissingDataError, data_root
from slowvae.errors import SlowVAEError

VARIANTS = ("toy", "realistic", "real")
FACTOR_NAMES = (
    "object_color",
    "object_shape",
    "object_size",
    "camera_height",
    "background_color",
    "horizontal_axis",
    "vertical_axis",
)
FACTOR_SIZES = (6, 6, 2, 3, 3, 40, 40)


def folder_name(variant: str) -> str:
    return f"mpi3d_{variant}"


def file_name(variant: str) -> str:
    return f"mpi3d_{variant}.npz"


def open_images(path: Path) -> RowFile:
    """The ``images`` rows of an MPI3D npz, read in place (a compressed member is converted once
    into ``<stem>_images.npy``)."""
    loc = npz_member_location(path, "images")
    if loc is not None:
        return RowFile(path, *loc)
    converted = path.with_name(path.stem + "_images.npy")
    if not converted.is_file():
        _, shape, dtype, _ = npz_member_info(path, "images")
        write_npy_stream(converted, shape, dtype, iter_npz_rows(path, "images"))
    return RowFile(converted, *npy_location(converted))


class MPI3D(GroundTruthData):
    """MPI3D images (3 channels, 0..255); ``factor_sizes`` may be given for smaller test files."""

    channels = 3
    factor_names = FACTOR_NAMES
    categorical = tuple(n == "object_shape" for n in FACTOR_NAMES)

    def __init__(
        self, variant: str = "real", root: str | Path | None = None, factor_sizes: tuple[int, ...] = FACTOR_SIZES
    ) -> None:
        if variant not in VARIANTS:
            raise SlowVAEError(f"MPI3D variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        self.name = f"mpi3d-{variant}"
        folder = (Path(root) if root is not None else data_root()) / folder_name(variant)
        path = folder / file_name(variant)
        if not path.is_file():
            raise MissingDataError(self.name, folder)
        self.factor_sizes = tuple(int(s) for s in factor_sizes)
        if len(self.factor_sizes) != 7:
            raise SlowVAEError(f"MPI3D has 7 factors, got sizes {self.factor_sizes}")
        self._images = open_images(path)
        n = int(np.prod(self.factor_sizes))
        if self._images.ndim != 4 or self._images.shape[1:] != (64, 64, 3) or self._images.dtype != np.uint8:
            raise SlowVAEError(
                f"{path}: images are {self._images.dtype} {self._images.shape}, expected uint8 (N, 64, 64, 3)"
            )
        if len(self._images) != n:
            hint = " (an old toy release has sizes [4,4,2,3,3,40,40]; this loader needs the final 6x6 one)"
            raise SlowVAEError(
                f"{path}: {len(self._images)} images, but factor sizes {self.factor_sizes} make {n}{hint}"
            )

    def images(self, factors: np.ndarray) -> np.ndarray:
        """uint8 images (N, 3, 64, 64) for factor indices (N, 7)."""
        index = self.factors_to_index(factors)
        return np.ascontiguousarray(gather_rows(self._images, index).transpose(0, 3, 1, 2))
