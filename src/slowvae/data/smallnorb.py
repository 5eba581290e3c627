"""SmallNORB (LeCun et al. 2004): both splits, left camera, 48,600 images at 64x64.

Format (docs/datasets.md §5): each ``smallnorb-<chunk>-{dat,cat,info}.mat(.gz)`` file starts with a
little-endian int32 header: magic (``0x1E3D4C55`` uint8 matrix for dat, ``0x1E3D4C54`` int32
matrix for cat and info), the number of dimensions, then ``max(3, ndim)`` int32 sizes. dat is
(24300, 2, 96, 96) uint8 (left, right camera), cat (24300,), info (24300, 4) = instance,
elevation 0-8, azimuth 0, 2, ..., 34, lighting 0-5.

As the SlowVAE reference (docs/datasets.md §5): training and test split together, left images only,
on the grid (category 5, instance 10, elevation 9, azimuth 18, lighting 6), row-major with
lighting fastest (the reference's lexsort), category and instance categorical; images resized
96 -> 64 with bilinear filtering (the reference's ``transforms.Resize`` on PIL images). For
evaluation the instance is a nuisance, as in disentanglement_lib's ``norb.py``:
:class:`SmallNORBPairs` reports the 4 other factors and draws the instance from the run's
generator. :func:`prepare_smallnorb` writes ``smallnorb_64.npy`` once (199 MB, then mapped).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from slowvae.data.arrays import gather_rows, load_npy, save_npy
from slowvae.data.base import GroundTruthData, check_grid_factors
from slowvae.data.pairs import GroundTruthPairs
from slowvae.data.paths import MissingDataError, data_root
from slowvae.data.transitions import Transitions
from slowvae.errors import SlowVAEError

FOLDER = "small_norb"
CHUNKS = ("5x46789x9x18x6x2x96x96-training", "5x01235x9x18x6x2x96x96-testing")
KINDS = ("dat", "cat", "info")
PREPARED = "smallnorb_64.npy"
META = "smallnorb.json"
FACTOR_NAMES = ("category", "instance", "elevation", "azimuth", "lighting")
NUISANCE = ("instance",)
MAGIC = {0x1E3D4C55: np.uint8, 0x1E3D4C54: np.int32, 0x1E3D4C56: np.int16, 0x1E3D4C51: np.float32}


def file_name(chunk: str, kind: str) -> str:
    return f"smallnorb-{chunk}-{kind}.mat"


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_header(fh, path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """dtype and shape from a NORB binary matrix header; leaves ``fh`` at the data."""
    head = np.frombuffer(fh.read(8), dtype="<i4")
    if len(head) != 2 or int(head[0]) & 0xFFFFFFFF not in MAGIC:
        raise SlowVAEError(f"{path}: not a NORB binary matrix (bad magic number)")
    magic, ndim = int(head[0]) & 0xFFFFFFFF, int(head[1])
    if not 1 <= ndim <= 16:
        raise SlowVAEError(f"{path}: bad number of dimensions {ndim}")
    dims = np.frombuffer(fh.read(4 * max(3, ndim)), dtype="<i4")
    return np.dtype(MAGIC[magic]).newbyteorder("<"), tuple(int(d) for d in dims[:ndim])


def read_matrix(path: Path) -> np.ndarray:
    """A whole (small) NORB matrix, e.g. cat or info."""
    with _open(path) as fh:
        dtype, shape = read_header(fh, path)
        count = int(np.prod(shape))
        data = np.frombuffer(fh.read(count * dtype.itemsize), dtype=dtype)
    if data.size != count:
        raise SlowVAEError(f"{path} is truncated: {data.size} of {count} values")
    return data.reshape(shape).astype(np.int64)


def _find(folder: Path, chunk: str, kind: str) -> Path:
    for name in (file_name(chunk, kind), file_name(chunk, kind) + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise MissingDataError("smallnorb", folder, f"no {file_name(chunk, kind)}[.gz]")


def _left_images(path: Path, n: int) -> np.ndarray:
    """The left-camera images (n, 64, 64) of a dat file, resized, read 1,000 at a time."""
    from PIL import Image

    out = np.empty((n, 64, 64), dtype=np.uint8)
    with _open(path) as fh:
        dtype, shape = read_header(fh, path)
        if dtype != np.uint8 or len(shape) != 4 or shape[0] != n or shape[1] != 2:
            raise SlowVAEError(f"{path}: dat has {dtype} shape {shape}, expected uint8 ({n}, 2, H, W)")
        h, w = shape[2], shape[3]
        for start in range(0, n, 1000):
            m = min(1000, n - start)
            buf = fh.read(m * 2 * h * w)
            if len(buf) != m * 2 * h * w:
                raise SlowVAEError(f"{path} is truncated")
            pair = np.frombuffer(buf, dtype=np.uint8).reshape(m, 2, h, w)
            for i in range(m):
                out[start + i] = np.asarray(Image.fromarray(pair[i, 0]).resize((64, 64), Image.Resampling.BILINEAR))
    return out


def prepare_smallnorb(folder: Path) -> Path:
    """Parse both splits (plain or .gz files) into ``smallnorb_64.npy`` on the factor grid."""
    folder = Path(folder)
    factors, images = [], []
    for chunk in CHUNKS:
        cat = read_matrix(_find(folder, chunk, "cat")).reshape(-1)
        info = read_matrix(_find(folder, chunk, "info"))
        if info.ndim != 2 or info.shape != (len(cat), 4):
            raise SlowVAEError(f"{chunk}: info has shape {info.shape}, expected ({len(cat)}, 4)")
        factors.append(np.concatenate([cat[:, None], info], axis=1))
        images.append(_left_images(_find(folder, chunk, "dat"), len(cat)))
    raw = np.concatenate(factors)
    imgs = np.concatenate(images)
    classes, values = [], []
    for col in raw.T:
        u, inv = np.unique(col, return_inverse=True)
        classes.append(inv)
        values.append(u.tolist())
    sizes = tuple(len(v) for v in values)
    if int(np.prod(sizes)) != len(raw):
        raise SlowVAEError(f"{folder}: {len(raw)} images do not fill the factor grid {sizes}")
    index = np.ravel_multi_index(tuple(classes), sizes)
    if len(np.unique(index)) != len(index):
        raise SlowVAEError(f"{folder}: two images share one factor combination")
    grid = np.empty_like(imgs)
    grid[index] = imgs
    save_npy(folder / PREPARED, grid)
    (folder / META).write_text(json.dumps({"factor_sizes": list(sizes), "factor_values": values}))
    return folder / PREPARED


class SmallNORB(GroundTruthData):
    """SmallNORB images (1 channel, 0..255), factors (category, instance, elevation, azimuth, lighting)."""

    name = "smallnorb"
    channels = 1
    factor_names = FACTOR_NAMES
    categorical = (True, True, False, False, False)

    def __init__(self, root: str | Path | None = None) -> None:
        folder = (Path(root) if root is not None else data_root()) / FOLDER
        if not (folder / PREPARED).is_file() or not (folder / META).is_file():
            prepare_smallnorb(folder)
        meta = json.loads((folder / META).read_text())
        self.factor_sizes = tuple(meta["factor_sizes"])
        self.factor_values = [np.asarray(v) for v in meta["factor_values"]]
        self._images = load_npy(folder / PREPARED)
        if len(self._images) != int(np.prod(self.factor_sizes)):
            raise SlowVAEError(f"{folder / PREPARED} does not match {META}; delete both to convert again")

    def images(self, factors: np.ndarray) -> np.ndarray:
        """uint8 images (N, 1, 64, 64) for factor indices (N, 5)."""
        index = self.factors_to_index(factors)
        return gather_rows(self._images, index)[:, None]


class NuisanceView:
    """A dataset seen without its nuisance factors, for the sampling metrics: ``factor_sizes``
    of the others, and ``images(factors)`` filling each nuisance uniformly from ``rng``."""

    def __init__(self, dataset: GroundTruthData, nuisance: tuple[str, ...], rng: np.random.Generator) -> None:
        self.dataset = dataset
        self.rng = rng
        self.keep = [i for i, n in enumerate(dataset.factor_names) if n not in nuisance]
        self.drop = [i for i, n in enumerate(dataset.factor_names) if n in nuisance]
        self.factor_sizes = tuple(dataset.factor_sizes[i] for i in self.keep)
        self.factor_names = tuple(dataset.factor_names[i] for i in self.keep)
        self.categorical = tuple(dataset.categorical[i] for i in self.keep)
        self.channels, self.binary = dataset.channels, dataset.binary

    def full_factors(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        factors = check_grid_factors(factors, self.factor_sizes)
        full = np.empty((len(factors), self.dataset.num_factors), dtype=np.int64)
        full[:, self.keep] = factors
        sizes = np.asarray(self.dataset.factor_sizes)[self.drop]
        full[:, self.drop] = rng.integers(0, sizes, size=(len(factors), len(self.drop)))
        return full

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, np.asarray(self.factor_sizes), size=(n, len(self.factor_sizes)))

    def images(self, factors: np.ndarray) -> np.ndarray:
        return self.dataset.images(self.full_factors(factors, self.rng))


class SmallNORBPairs(GroundTruthPairs):
    """Pairs on the full 5-factor grid (instance fixed within a pair, like the category), whose
    latents leave the instance out: ``latent_names`` (category, elevation, azimuth, lighting).
    ``sample_eval`` draws the 4 factors uniformly and the instance from the same generator."""

    def __init__(self, dataset: GroundTruthData, transitions: Transitions) -> None:
        super().__init__(dataset, transitions)
        self._view = NuisanceView(dataset, NUISANCE, np.random.default_rng(0))
        self.latent_names = self._view.factor_names
        self.categorical = self._view.categorical
        self.factor_sizes = self._view.factor_sizes

    def sample_pairs(self, n: int, rng: np.random.Generator):
        x0, x1, f0, f1 = super().sample_pairs(n, rng)
        return x0, x1, f0[:, self._view.keep], f1[:, self._view.keep]

    def sample_eval(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        factors = self._view.sample_factors(n, rng)
        return self.dataset.images(self._view.full_factors(factors, rng)), factors

    def eval_dataset(self, rng: np.random.Generator) -> NuisanceView:
        """The 4-factor view for the sampling metrics (BetaVAE, FactorVAE), instance from ``rng``."""
        return NuisanceView(self.dataset, NUISANCE, rng)
