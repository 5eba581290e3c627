"""dSprites rendered procedurally: the real file's factor grid, drawn on demand.

Each sprite (shape, scale, orientation) is a closed outline in pixel units; a pixel is on when its
centre lies inside the outline placed at ``16 + 32 * pos`` px (pixel ``i`` spans ``[i, i + 1)``,
x along the columns, y down the rows, positive orientation counter-clockwise on screen). The
geometry was fitted to real dSprites images (see the constants below); no real image is shipped.

Rendering is vectorised: at start-up every sprite's horizontal spans are tabulated for each of the
32 sub-pixel row phases (720 sprites x 32 phases x 32 rows, about 12 MB); an image is then a
gather of those spans, shifted by its column offset, and a lookup of the 64-pixel row patterns.
"""

from __future__ import annotations

import numpy as np

from slowvae.data.base import GroundTruthData, check_grid_factors
from slowvae.errors import SlowVAEError

SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2.0 * np.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)

#: square side at scale 1, px (fitted: grid squares' area is 368.7*scale^2 px; best IoU on a 0.002 px grid)
SQUARE_SIDE = 19.2
#: ellipse semi-axes at scale 1, px, x then y (fitted: conic fit in sprite coordinates; best IoU, 0.005 px steps)
ELLIPSE_AXES = (12.765, 7.215)
#: downward shift of the axis-aligned square (orientation 0), px: real dSprites leave off a top row
#: whose centre is 0.0019 px inside the edge yet keep a left column at the same margin; every
#: axis-aligned grid square is pixel-exact for shifts in (0.0019, 0.0058) px and 16 are not at 0
SQUARE_AXIS_ALIGNED_SHIFT = 0.004

#: right half of the heart outline at scale 1, px, (x, y) with y down, from the top notch to the
#: bottom tip; mirrored about x = 0 for the left half. Fitted: every grid-fixture heart mapped back
#: to sprite coordinates (unrotated, unscaled, centred) and averaged on a 0.025 px grid, made
#: left-right symmetric, smoothed (0.025 px Gaussian), outlined at level 0.5 and simplified
#: (Douglas-Peucker, 0.01 px tolerance) to these vertices.
HEART_HALF = (
    (0.00, -4.94),
    (0.01, -4.95),
    (0.11, -5.41),
    (0.24, -5.84),
    (0.34, -6.11),
    (0.48, -6.44),
    (0.68, -6.81),
    (0.97, -7.26),
    (1.27, -7.66),
    (1.64, -8.05),
    (1.94, -8.32),
    (2.29, -8.58),
    (2.69, -8.82),
    (3.07, -9.01),
    (3.46, -9.14),
    (3.94, -9.27),
    (4.39, -9.32),
    (4.85, -9.33),
    (5.32, -9.29),
    (5.71, -9.21),
    (6.24, -9.05),
    (6.72, -8.84),
    (7.09, -8.64),
    (7.53, -8.32),
    (7.91, -8.00),
    (8.30, -7.59),
    (8.57, -7.26),
    (8.91, -6.72),
    (9.10, -6.36),
    (9.29, -5.88),
    (9.45, -5.38),
    (9.55, -4.84),
    (9.59, -4.37),
    (9.60, -4.06),
    (9.59, -3.86),
    (9.55, -3.32),
    (9.47, -2.89),
    (9.30, -2.26),
    (9.12, -1.77),
    (8.87, -1.21),
    (8.61, -0.73),
    (8.26, -0.19),
    (7.99, 0.19),
    (7.59, 0.71),
    (7.21, 1.16),
    (6.79, 1.64),
    (6.23, 2.21),
    (5.29, 3.13),
    (3.34, 4.97),
    (2.73, 5.57),
    (1.93, 6.44),
    (1.43, 7.04),
    (1.11, 7.45),
    (0.67, 8.11),
    (0.43, 8.54),
    (0.24, 8.96),
    (0.06, 9.44),
    (0.03, 9.61),
    (0.00, 9.64),
)

_RADIUS = 16  # rows tabulated either side of the centre row (every outline fits in 16 px)
_SIZE = 64  # image height and width, px


def _heart_outline() -> np.ndarray:
    """The heart outline at scale 1: vertices (V, 2) in px, (x, y) with y pointing down."""
    right = np.asarray(HEART_HALF)
    left = right[-2:0:-1] * np.array([-1.0, 1.0])
    return np.concatenate([right, left])


def _polygon_spans(vertices: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Spans of a closed polygon (V, 2) on horizontal lines ys (M,): (M, 4) x-bounds [l1, r1, l2, r2].

    Empty spans are (inf, inf); a line meets the outline in at most two spans.
    """
    p0 = vertices
    p1 = np.roll(vertices, -1, axis=0)
    y0, y1 = p0[:, 1], p1[:, 1]
    lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
    crosses = (ys[:, None] >= lo) & (ys[:, None] < hi)  # half-open: each vertex counted once
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (ys[:, None] - y0) / (y1 - y0)
    xs = np.where(crosses, p0[:, 0] + t * (p1[:, 0] - p0[:, 0]), np.inf)
    xs = np.sort(xs, axis=1)
    if xs.shape[1] > 4 and np.isfinite(xs[:, 4]).any():
        raise SlowVAEError("outline meets a row in more than two spans")
    pad = np.full((len(ys), max(0, 4 - xs.shape[1])), np.inf)
    return np.concatenate([xs[:, :4], pad], axis=1)


def _ellipse_spans(a: float, b: float, angle: float, ys: np.ndarray) -> np.ndarray:
    """Spans of an ellipse (semi-axes a, b, rotated by angle) on lines ys (M,): (M, 4) x-bounds."""
    c, s = np.cos(angle), np.sin(angle)
    # template coordinates u = x c - y s, v = x s + y c; inside when u^2/a^2 + v^2/b^2 <= 1
    qa = c * c / a**2 + s * s / b**2
    qb = 2 * ys * (-c * s / a**2 + s * c / b**2)
    qc = ys**2 * (s * s / a**2 + c * c / b**2) - 1
    disc = qb * qb - 4 * qa * qc
    root = np.sqrt(np.maximum(disc, 0.0))
    inside = disc > 0
    spans = np.full((len(ys), 4), np.inf)
    spans[inside, 0] = ((-qb - root) / (2 * qa))[inside]
    spans[inside, 1] = ((-qb + root) / (2 * qa))[inside]
    return spans


def _rotate(vertices: np.ndarray, angle: float) -> np.ndarray:
    """Vertices (V, 2) rotated counter-clockwise on screen (y down) by angle radians."""
    c, s = np.cos(angle), np.sin(angle)
    x, y = vertices[:, 0], vertices[:, 1]
    return np.stack([x * c + y * s, -x * s + y * c], axis=1)


class ProceduralDSprites(GroundTruthData):
    """dSprites drawn on demand: factors shape (square, ellipse, heart), scale (6), orientation (40),
    posX (32), posY (32) in the real file's row-major order (posY fastest), 737,280 images."""

    name = "dsprites-procedural"
    factor_names = ("shape", "scale", "orientation", "posX", "posY")
    factor_sizes = (3, 6, 40, 32, 32)
    categorical = (True, False, False, False, False)
    channels = 1
    binary = True

    def __init__(self) -> None:
        centres = 16.0 + 32.0 * POSITIONS
        self._row0 = np.floor(centres).astype(np.int64) - _RADIUS  # first tabulated row per pos
        self._col_shift = centres - 0.5  # column c is on when l <= c + 0.5 - centre < r
        phase = centres - np.floor(centres)
        ys = (np.arange(-_RADIUS, _RADIUS) + 0.5)[None, :] - phase[:, None]  # (32 pos, 32 rows)
        self._spans = self._tabulate(ys.ravel()).reshape(3, 6, 40, 32, 2 * _RADIUS, 4)
        cols = np.arange(_SIZE)
        bounds = np.arange(_SIZE + 1)
        # _patterns[a, b]: the 64-pixel row that is on for columns a <= c < b
        self._patterns = ((cols >= bounds[:, None, None]) & (cols < bounds[None, :, None])).astype(np.uint8)

    @staticmethod
    def _tabulate(ys: np.ndarray) -> np.ndarray:
        """Spans (3, 6, 40, M, 4) float32 of every sprite on lines ys (M,) relative to its centre."""
        heart = _heart_outline()
        square = SQUARE_SIDE / 2 * np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
        out = np.empty((3, 6, 40, len(ys), 4), dtype=np.float32)
        for k, scale in enumerate(SCALES):
            for o, angle in enumerate(ORIENTATIONS[:39]):
                shift = np.array([0.0, SQUARE_AXIS_ALIGNED_SHIFT if o == 0 else 0.0])
                out[0, k, o] = _polygon_spans(_rotate(square * scale, angle) + shift, ys)
                out[1, k, o] = _ellipse_spans(ELLIPSE_AXES[0] * scale, ELLIPSE_AXES[1] * scale, angle, ys)
                out[2, k, o] = _polygon_spans(_rotate(heart * scale, angle), ys)
        out[:, :, 39] = out[:, :, 0]  # orientation 2*pi is orientation 0
        return out

    def images(self, factors: np.ndarray) -> np.ndarray:
        """Images for factor indices (N, 5) int: uint8 (N, 1, 64, 64) with values 0/1."""
        f = check_grid_factors(factors, self.factor_sizes)
        shape, scale, ori, px, py = f.T
        spans = self._spans[shape, scale, ori, py]  # (N, 32 rows, 4)
        bounds = np.ceil(spans + self._col_shift[px][:, None, None])
        bounds = np.clip(bounds, 0, _SIZE).astype(np.intp)
        rows = self._patterns[bounds[..., 0], bounds[..., 1]] | self._patterns[bounds[..., 2], bounds[..., 3]]
        out = np.zeros((len(f), 1, _SIZE, _SIZE), dtype=np.uint8)
        row_index = self._row0[py][:, None] + np.arange(2 * _RADIUS)
        out[np.arange(len(f))[:, None], 0, row_index] = rows
        return out
