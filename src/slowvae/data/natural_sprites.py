"""Natural Sprites (Klindt et al., ICLR 2021, §5): sprites moved by real object-mask transitions.

A pair is one white sprite on black, rendered twice: position and size follow a pair of
consecutive YouTube-VIS object masks (``(x, y, area)`` in pixels of a 64-px window), while the
shape (square, triangle, star_4, spoke_4) and the angle (40 values, 0°, 9°, ..., 351°) are drawn
uniformly and shared by both frames (docs/datasets.md §6).

Three sources:

- ``natural-sprites`` (:class:`NaturalSprites` with :class:`CsvTransitions`): the pairs of the
  released ``downscale_keepaspect.csv`` (Zenodo record 3948069), parsed as the reference's
  ``load_csv`` (three windows per frame, consecutive-frame pairs within a window), then the
  pairs whose area at either step lies outside the 5%-95% quantiles (of both steps' areas
  pooled) are dropped. Latents are continuous: evaluation is MCC only, as in the reference.
- ``natural-sprites-binned`` (:class:`NaturalSpritesBinned` + :class:`NaturalSpritesBinnedPairs`):
  x, y and area binned into 32, 32 and 6 equal-width bins fitted on both frames of all pairs and
  snapped to bin centres; the grid (x 32, y 32, scale 6, angle 40, shape 4) makes the discrete
  metrics computable (the reference's three size-1 colour factors are left out: zero entropy).
- ``natural-like`` (:class:`NaturalSprites` with :class:`GennormTransitions`): offline and
  labelled as synthetic: start positions uniform in [0.2, 0.8] x 64 px, scale uniform in
  [0.1, 0.5] (area = (64 scale)^2), and steps Δx, Δy, Δarea drawn from the generalized-Laplace
  fits to YouTube-VOS transitions (Klindt et al. 2021, §6; docs/datasets.md §6), clipped to the
  window. Not Natural Sprites.

The renderer is this package's own: the four spriteworld outlines normalised to unit area,
scaled by ``sqrt(area) / 64``, rotated counter-clockwise by the angle, drawn filled on a 5x
canvas and downsampled with LANCZOS, then flipped vertically (spriteworld's y points up), as
spriteworld's ``PILRenderer(anti_aliasing=5)``; the sprite's pixel area equals the mask area.
Images are RGB uint8 (0..255), white on black. Pair sources ignore the transition rule they
are given: the transitions are the data's own.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from slowvae.data.arrays import save_npy
from slowvae.data.base import GroundTruthData, check_grid_factors
from slowvae.data.paths import MissingDataError, data_root
from slowvae.data.synthetic import sample_gennorm
from slowvae.errors import SlowVAEError
from slowvae.masks.readers import read_natural_sprites_csv

FOLDER = "natural_sprites"
CSV = "downscale_keepaspect.csv"
SIZE = 64
ANTI_ALIASING = 5
SHAPES = ("square", "triangle", "star_4", "spoke_4")
ANGLES = np.linspace(0.0, 360.0, 40, endpoint=False)  # degrees: 0, 9, ..., 351
LATENT_NAMES = ("x", "y", "scale", "angle", "shape")
BINS = (32, 32, 6)  # x, y, area
AREA_QUANTILES = (0.05, 0.95)
#: generalized-Laplace fits (beta, loc, scale) of YouTube-VOS transitions, px (Klindt et al. 2021, §6)
YOUTUBE_GENNORM = {"x": (0.515, 0.0, 0.257), "y": (0.548, 0.0, 0.308), "area": (0.444, 0.0, 5.04)}


# ---------------------------------------------------------------- shapes and renderer


def _shoelace(v: np.ndarray) -> float:
    x, y = v[:, 0], v[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _unit_area(v: np.ndarray) -> np.ndarray:
    return v / np.sqrt(_shoelace(v))


def _polar(r: float, theta: float) -> np.ndarray:
    return np.array([r * np.cos(theta), r * np.sin(theta)])


def shape_outline(name: str) -> np.ndarray:
    """Vertices (V, 2) of a unit-area outline centred at 0 (spriteworld's regular polygon, star
    with point height 1 and spokes with spoke height 1, with the same start angles)."""
    if name == "square":
        n, t0 = 4, np.pi / 4
        v = np.array([_polar(1, i * 2 * np.pi / n + t0) for i in range(n)])
    elif name == "triangle":
        n, t0 = 3, np.pi / 2
        v = np.array([_polar(1, i * 2 * np.pi / n + t0) for i in range(n)])
    elif name == "star_4":
        n, t0, step = 4, np.pi / 4, 2 * np.pi / 4
        v = np.array([p for i in range(n) for p in (_polar(1, i * step + t0), _polar(2, (i + 0.5) * step + t0))])
    elif name == "spoke_4":
        n, t0, step = 4, np.pi / 4, 2 * np.pi / 4
        pts = []
        spoke = _polar(1, -0.5 * step + t0)
        for i in range(n):
            vertex = _polar(1, i * step + t0)
            pts += [spoke + vertex, vertex]
            spoke = _polar(1, (i + 0.5) * step + t0)
            pts.append(spoke + vertex)
        v = np.array(pts)
    else:
        raise SlowVAEError(f"unknown shape {name!r}; known: {', '.join(SHAPES)}")
    return _unit_area(v)


_OUTLINES = [shape_outline(s) for s in SHAPES]


def render(x: np.ndarray, y: np.ndarray, scale: np.ndarray, angle: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """White sprites on black: uint8 (N, 3, 64, 64).

    x, y (N,) are positions in [0, 1] (spriteworld units: x along the columns, y up after the
    final flip), scale (N,) the side of the unit-area outline in image widths, angle (N,)
    degrees counter-clockwise, shape (N,) indices into :data:`SHAPES`.
    """
    from PIL import Image, ImageDraw

    x, y, scale, angle = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (x, y, scale, angle))
    shape = np.asarray(shape, dtype=np.int64).reshape(-1)
    n = len(x)
    canvas_size = SIZE * ANTI_ALIASING
    out = np.empty((n, 3, SIZE, SIZE), dtype=np.uint8)
    for i in range(n):
        t = np.deg2rad(angle[i])
        rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        verts = (_OUTLINES[shape[i]] * scale[i]) @ rot.T + (x[i], y[i])
        canvas = Image.new("L", (canvas_size, canvas_size), 0)
        ImageDraw.Draw(canvas).polygon([tuple(p) for p in verts * canvas_size], fill=255)
        img = np.asarray(canvas.resize((SIZE, SIZE), Image.Resampling.LANCZOS))[::-1]
        out[i] = img[None]
    return out


def render_latents(latents: np.ndarray) -> np.ndarray:
    """Render latent rows (N, 5) of (x, y, scale, angle, shape) as returned by the sources."""
    latents = np.asarray(latents, dtype=np.float64)
    return render(latents[:, 0], latents[:, 1], latents[:, 2], latents[:, 3], latents[:, 4].astype(np.int64))


# ---------------------------------------------------------------- transitions of (x, y, area)


def csv_pairs(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """All consecutive-frame pairs of one window of the Natural Sprites CSV: (N, 3) and (N, 3)
    of (x, y, area) in pixels, in file order (row, window, frame), before the area filter."""
    p0, p1 = [], []
    for track in read_natural_sprites_csv(path):
        ok = np.isfinite(track).all(axis=1)
        both = ok[:-1] & ok[1:]
        p0.append(track[:-1][both])
        p1.append(track[1:][both])
    if not p0 or not sum(len(p) for p in p0):
        raise SlowVAEError(f"{path}: no pair of consecutive frames with the object in the same window")
    return np.concatenate(p0), np.concatenate(p1)


def area_filter(p0: np.ndarray, p1: np.ndarray, quantiles: tuple[float, float] = AREA_QUANTILES) -> np.ndarray:
    """Mask (N,) of pairs whose area at both steps lies within the quantiles of all areas."""
    lo, hi = np.quantile(np.concatenate([p0[:, 2], p1[:, 2]]), quantiles)
    return (p0[:, 2] >= lo) & (p0[:, 2] <= hi) & (p1[:, 2] >= lo) & (p1[:, 2] <= hi)


class CsvTransitions:
    """Transition pairs of the released CSV, area-filtered; parsed once and cached as a ``.npy``
    beside the CSV (keyed by the CSV's sha256)."""

    label = "natural (YouTube-VIS masks, downscale_keepaspect.csv)"

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            folder = data_root() / FOLDER
            path = folder / CSV
            if not path.is_file():
                raise MissingDataError("natural-sprites", folder, f"no {CSV}")
        path = Path(path)
        if not path.is_file():
            raise SlowVAEError(f"{path} does not exist")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        cache = path.with_name(f"{path.stem}.pairs-{digest}.npy")
        if cache.is_file():
            both = np.load(cache)
        else:
            p0, p1 = csv_pairs(path)
            both = np.stack([p0, p1])
            try:
                save_npy(cache, both)
            except OSError:  # a read-only data folder: parse again next time
                pass
        self.all_pairs = (both[0], both[1])
        keep = area_filter(both[0], both[1])
        self.p0, self.p1 = both[0][keep], both[1][keep]
        if len(self.p0) == 0:
            raise SlowVAEError(f"{path}: no pair is left after the 5-95% area filter")

    def __len__(self) -> int:
        return len(self.p0)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n random pairs (n, 3), (n, 3) of (x, y, area) px."""
        idx = rng.integers(0, len(self.p0), size=n)
        return self.p0[idx], self.p1[idx]


class GennormTransitions:
    """Synthetic natural-like pairs: uniform starts, generalized-Laplace steps (module docstring)."""

    label = "synthetic natural-like (generalized-Laplace fits to YouTube-VOS, docs/datasets.md §6)"

    def __init__(self, fits: dict[str, tuple[float, float, float]] | None = None) -> None:
        self.fits = dict(fits or YOUTUBE_GENNORM)

    def _step(self, name: str, n: int, rng: np.random.Generator) -> np.ndarray:
        beta, loc, scale = self.fits[name]
        return loc + sample_gennorm((n,), beta, 1.0 / scale, rng)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x = rng.uniform(0.2, 0.8, n) * SIZE
        y = rng.uniform(0.2, 0.8, n) * SIZE
        area = (rng.uniform(0.1, 0.5, n) * SIZE) ** 2
        p0 = np.stack([x, y, area], axis=1)
        x1 = np.clip(x + self._step("x", n, rng), 0.0, SIZE)
        y1 = np.clip(y + self._step("y", n, rng), 0.0, SIZE)
        a1 = np.clip(area + self._step("area", n, rng), 1.0, (0.5 * SIZE) ** 2 * 1.5)
        return p0, np.stack([x1, y1, a1], axis=1)


def to_latents(p: np.ndarray, angle: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """(x, y, area) px (N, 3) + angle (N,) degrees + shape (N,) -> latents (N, 5) of
    (x, y, scale, angle, shape) with x = x_px / 64, y = y_px / 64, scale = sqrt(area) / 64."""
    return np.stack([p[:, 0] / SIZE, p[:, 1] / SIZE, np.sqrt(np.maximum(p[:, 2], 0)) / SIZE, angle, shape], axis=1)


class NaturalSprites:
    """A PairSource of natural-sprite pairs with continuous latents (x, y, scale, angle, shape);
    evaluate with MCC only (``evaluation == ("mcc",)``)."""

    channels = 3
    binary = False
    latent_names = LATENT_NAMES
    evaluation = ("mcc",)

    def __init__(self, transitions: CsvTransitions | GennormTransitions, name: str = "natural-sprites") -> None:
        self.name = name
        self.source = transitions
        self.transition_rule = transitions.label

    def _attributes(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return ANGLES[rng.integers(0, len(ANGLES), n)], rng.integers(0, len(SHAPES), n).astype(np.float64)

    def sample_pairs(self, n: int, rng: np.random.Generator):
        """x_t, x_t' uint8 (n, 3, 64, 64) and latents (n, 5) float64 of both frames."""
        p0, p1 = self.source.sample(n, rng)
        angle, shape = self._attributes(n, rng)
        l0, l1 = to_latents(p0, angle, shape), to_latents(p1, angle, shape)
        return render_latents(l0), render_latents(l1), l0, l1

    def sample_eval(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """First frames of random pairs: images (n, 3, 64, 64) and latents (n, 5)."""
        p0, _ = self.source.sample(n, rng)
        angle, shape = self._attributes(n, rng)
        lat = to_latents(p0, angle, shape)
        return render_latents(lat), lat


class NaturalSpritesBinned(GroundTruthData):
    """The binned grid (x 32, y 32, scale 6, angle 40, shape 4) with bins fitted on the CSV pairs;
    ``images(factors)`` renders the bin centres. Shape is categorical."""

    name = "natural-sprites-binned"
    channels = 3
    factor_names = LATENT_NAMES
    factor_sizes = (*BINS, len(ANGLES), len(SHAPES))
    categorical = (False, False, False, False, True)

    def __init__(self, transitions: CsvTransitions | None = None) -> None:
        self.transitions = transitions or CsvTransitions()
        p0, p1 = self.transitions.p0, self.transitions.p1
        both = np.concatenate([p0, p1])
        self.edges = [np.histogram_bin_edges(both[:, j], bins=BINS[j]) for j in range(3)]
        self.centres = [(e[:-1] + e[1:]) / 2 for e in self.edges]

    def bin_index(self, p: np.ndarray) -> np.ndarray:
        """Bin indices (N, 3) of (x, y, area) px (N, 3) (the values' histogram bins)."""
        return np.stack(
            [np.clip(np.digitize(p[:, j], self.edges[j][1:-1]), 0, BINS[j] - 1) for j in range(3)], axis=1
        ).astype(np.int64)

    def factor_values(self, factors: np.ndarray) -> np.ndarray:
        """Latent values (N, 5) (x, y, scale, angle, shape) of grid indices (N, 5)."""
        f = check_grid_factors(factors, self.factor_sizes)
        p = np.stack([self.centres[j][f[:, j]] for j in range(3)], axis=1)
        return to_latents(p, ANGLES[f[:, 3]], f[:, 4].astype(np.float64))

    def images(self, factors: np.ndarray) -> np.ndarray:
        """uint8 images (N, 3, 64, 64) of grid indices (N, 5), rendered at the bin centres."""
        return render_latents(self.factor_values(factors))


class NaturalSpritesBinnedPairs:
    """PairSource of binned natural pairs: CSV pairs snapped to their bins (the transition rule is
    the data's); latents are grid indices (N, 5); ``sample_eval`` is uniform on the grid."""

    channels = 3
    binary = False
    latent_names = LATENT_NAMES
    evaluation = ("all",)

    def __init__(self, dataset: NaturalSpritesBinned) -> None:
        self.dataset = dataset
        self.name = dataset.name
        self.factor_sizes = dataset.factor_sizes
        self.categorical = dataset.categorical
        self.transition_rule = dataset.transitions.label + ", binned"

    def sample_pairs(self, n: int, rng: np.random.Generator):
        p0, p1 = self.dataset.transitions.sample(n, rng)
        angle = rng.integers(0, len(ANGLES), n)
        shape = rng.integers(0, len(SHAPES), n)
        f0 = np.concatenate([self.dataset.bin_index(p0), angle[:, None], shape[:, None]], axis=1)
        f1 = np.concatenate([self.dataset.bin_index(p1), angle[:, None], shape[:, None]], axis=1)
        both = self.dataset.images(np.concatenate([f0, f1]))
        return both[:n], both[n:], f0, f1

    def sample_eval(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        f = self.dataset.sample_factors(n, rng)
        return self.dataset.images(f), f
