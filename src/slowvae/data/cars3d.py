"""Cars3D (Reed et al. 2015): 183 car meshes x 24 azimuths x 4 elevations, resized to 64x64.

Format (docs/datasets.md §4): ``nips2015-analogy-data.tar.gz`` holds ``data/cars/list.txt`` and
``data/cars/car_XXX_mesh.mat`` (MATLAB v5), each with ``im`` (128, 128, 3, 24, 4) uint8
indexed (row, col, rgb, azimuth, elevation). Factors (elevation 4, azimuth 24, car 183),
row-major with the car fastest, as disentanglement_lib's ``cars3d.py``; the car is categorical.
Cars are numbered in ``list.txt`` order (disent), not ``os.listdir`` order (disentanglement_lib
and the SlowVAE reference, which depends on the file system). Each view is resized with
LANCZOS (Pillow's ``ANTIALIAS``, removed in Pillow 10). :func:`prepare_cars3d` writes the
result once as ``cars3d_64.npy`` (17,568 x 64 x 64 x 3, 216 MB), which is then mapped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from slowvae.data.arrays import atomic_path, gather_rows, load_npy
from slowvae.data.base import GroundTruthData
from slowvae.data.paths import MissingDataError, data_root
from slowvae.errors import SlowVAEError

FOLDER = "cars"
ARCHIVE = "nips2015-analogy-data.tar.gz"
RAW = Path("data") / "cars"
PREPARED = "cars3d_64.npy"
META = "cars3d.json"
FACTOR_NAMES = ("elevation", "azimuth", "car")


def car_files(raw: Path) -> list[Path]:
    """The .mat files in ``list.txt`` order (every .mat, sorted, where there is no list.txt)."""
    listing = raw / "list.txt"
    if not listing.is_file():
        return sorted(raw.glob("*.mat"))
    files = []
    for line in listing.read_text().split():
        name = line.strip()
        if not name:
            continue
        path = raw / (name if name.endswith(".mat") else f"{name}.mat")
        if not path.is_file():
            raise SlowVAEError(f"{listing} lists {name}, but {path} is missing")
        files.append(path)
    return files


def _resize(view: np.ndarray) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(view).resize((64, 64), Image.Resampling.LANCZOS))


def prepare_cars3d(folder: Path) -> Path:
    """Resize every view of the extracted .mat files into ``cars3d_64.npy`` (one car in memory at a time)."""
    from scipy.io import loadmat

    folder = Path(folder)
    raw = folder / RAW
    files = car_files(raw) if raw.is_dir() else []
    if not files:
        raise MissingDataError("cars3d", folder, f"no {RAW}/*.mat")
    first = loadmat(files[0])["im"]
    if first.ndim != 5 or first.shape[:3] != (128, 128, 3):
        raise SlowVAEError(f"{files[0]}: 'im' has shape {first.shape}, expected (128, 128, 3, azimuths, elevations)")
    n_az, n_el = first.shape[3], first.shape[4]
    n_car = len(files)
    out_path = folder / PREPARED

    with atomic_path(out_path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n_el * n_az * n_car, 64, 64, 3))
        grid = out.reshape(n_el, n_az, n_car, 64, 64, 3)
        for c, path in enumerate(files):
            im = loadmat(path)["im"] if c else first
            if im.shape != first.shape or im.dtype != np.uint8:
                raise SlowVAEError(f"{path}: 'im' is {im.dtype} {im.shape}, expected uint8 {first.shape}")
            for e in range(n_el):
                for a in range(n_az):
                    grid[e, a, c] = _resize(np.ascontiguousarray(im[:, :, :, a, e]))
        out.flush()
        del grid, out
    (folder / META).write_text(json.dumps({"factor_sizes": [n_el, n_az, n_car], "cars": [f.stem for f in files]}))
    return out_path


class Cars3D(GroundTruthData):
    """Cars3D images (3 channels, 0..255), factors (elevation, azimuth, car)."""

    name = "cars3d"
    channels = 3
    factor_names = FACTOR_NAMES
    categorical = (False, False, True)

    def __init__(self, root: str | Path | None = None) -> None:
        folder = (Path(root) if root is not None else data_root()) / FOLDER
        if not (folder / PREPARED).is_file() or not (folder / META).is_file():
            if not (folder / RAW).is_dir():
                raise MissingDataError("cars3d", folder)
            prepare_cars3d(folder)
        meta = json.loads((folder / META).read_text())
        self.factor_sizes = tuple(meta["factor_sizes"])
        self.car_names = tuple(meta["cars"])
        self._images = load_npy(folder / PREPARED)
        if len(self._images) != int(np.prod(self.factor_sizes)):
            raise SlowVAEError(f"{folder / PREPARED} does not match {META}; delete both to convert again")

    def images(self, factors: np.ndarray) -> np.ndarray:
        """uint8 images (N, 3, 64, 64) for factor indices (N, 3)."""
        index = self.factors_to_index(factors)
        return np.ascontiguousarray(gather_rows(self._images, index).transpose(0, 3, 1, 2))
