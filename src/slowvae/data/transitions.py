"""Transition rules between time steps on a factor grid: the reference's LAP and LOC priors.

A transition rule draws the second frame's factor indices ``f'`` from the first frame's ``f``
(both int (N, K) arrays of indices into a :class:`~slowvae.data.base.FactorSpace`). Two rules
follow the public SlowVAE code (``scripts/dataset.py``; see docs/samplers.md):

* :class:`LaplaceTransitions` ("LAP", ``--data-distribution laplace``): every factor ``j`` jumps
  independently with ``P(f'_j = v) ∝ exp(-|v - f_j| / b_j)`` on the integer grid
  ``v ∈ {0..K_j-1}`` (truncated and renormalised, no periodic wrap), ``b_j = ln(K_j) / rate``.
  Categorical factors are then reset to their start. If nothing changed, one non-categorical
  factor is chosen uniformly and redrawn once from the same law with its current value removed,
  so such a pair differs in exactly one factor. ``rate=None`` draws ``rate ~ U(1, 10)`` per pair
  (the reference's ``--rate-data -1``), shared by all factors of that pair and its redraw.
* :class:`UniformKTransitions` ("LOC", ``--data-distribution uniform``): exactly ``k`` distinct
  factors chosen uniformly (categorical ones included) are each resampled uniformly among their
  *other* ``K_j - 1`` values; ``k=None`` draws ``k ~ U{1..K-1}`` per pair. ``variant="dlib"`` is
  disentanglement_lib's weak-pair rule instead (docs/samplers.md).

Both are vectorised over the batch and draw everything from the ``numpy.random.Generator`` they
are given, so a seed fixes the pairs. Both have ``probabilities(space, start)``: the exact
distribution of the next factor vector over the whole grid, for tests and docs.

Decisions where the reference is silent or would fail (documented deviations):

* The random stream differs from the reference's global ``np.random`` (same laws, other draws).
* LAP, a non-categorical factor with a single value: it stays (its only value) and is never
  picked for the forced redraw (the reference would divide by ``ln 1 = 0``). A space with no
  non-categorical factor of size >= 2 cannot change at all: :class:`SlowVAEError`.
* LAP, ``rate`` must be a finite number > 0; pass ``None`` for the reference's ``-1``.
* LOC strict needs every factor to have >= 2 values (any factor may be chosen and must move).
* LOC dlib draws the new values from the given generator; dlib itself uses the unseeded global
  ``np.random`` there. Values may equal the old ones and a factor of size 1 is allowed.
"""

from __future__ import annotations

import math
from itertools import combinations
from numbers import Integral, Real
from typing import Any, Protocol

import numpy as np

from slowvae.data.base import FactorSpace, check_grid_factors
from slowvae.errors import SlowVAEError

#: ``rate=None`` draws the per-pair rate uniformly from this interval (reference: ``-1``)
RANDOM_RATE_RANGE = (1.0, 10.0)

#: kinds understood by :func:`make_transitions`
TRANSITION_KINDS = ("laplace", "uniform")

_UNIFORM_VARIANTS = ("strict", "dlib")
_MAX_GRID_CELLS = 10_000_000  # probabilities() builds a dense array over the grid
_RATE_QUADRATURE_NODES = 64  # Gauss-Legendre nodes for the rate ~ U(1, 10) mixture


class Transitions(Protocol):
    """A rule drawing the next frame's factor indices from the current ones."""

    def sample(self, space: FactorSpace, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Next factor indices (N, K) int64 for current ones (N, K), drawn from ``rng``."""

    def config(self) -> dict[str, Any]:
        """The rule's settings as plain values; ``make_transitions(**config())`` rebuilds it."""


# --------------------------------------------------------------------------------------------
# helpers


def _space_arrays(space: FactorSpace) -> tuple[np.ndarray, np.ndarray]:
    """``factor_sizes`` (K,) int64 and ``categorical`` (K,) bool of a factor space, validated."""
    try:
        sizes = tuple(space.factor_sizes)
        categorical = tuple(space.categorical)
    except AttributeError:
        raise SlowVAEError(f"a factor space needs factor_sizes and categorical, got {type(space).__name__}") from None
    if not sizes:
        raise SlowVAEError("the factor space has no factors")
    if len(categorical) != len(sizes):
        raise SlowVAEError(f"categorical has {len(categorical)} entries but there are {len(sizes)} factors")
    if any(not isinstance(s, Integral) or s < 1 for s in sizes):
        raise SlowVAEError(f"factor_sizes must be integers >= 1, got {sizes}")
    return np.asarray(sizes, dtype=np.int64), np.asarray(categorical, dtype=bool)


def _start_vector(start: Any, sizes: np.ndarray) -> np.ndarray:
    arr = np.asarray(start)
    if arr.ndim != 1:
        raise SlowVAEError(f"start must be one factor vector of shape ({len(sizes)},), got {arr.shape}")
    return check_grid_factors(arr[None, :], tuple(int(s) for s in sizes))[0]


def _check_grid(sizes: np.ndarray) -> None:
    cells = math.prod(int(s) for s in sizes)
    if cells > _MAX_GRID_CELLS:
        raise SlowVAEError(f"the grid has {cells} cells; probabilities() handles at most {_MAX_GRID_CELLS}")


def _check_rate(rate: Any) -> float:
    if isinstance(rate, bool) or not isinstance(rate, Real) or not math.isfinite(rate) or rate <= 0:
        raise SlowVAEError(
            f"rate must be a finite number > 0 (or None for rate ~ U(1, 10) per pair, the reference's -1), got {rate!r}"
        )
    return float(rate)


def _laplace_weights(size: int, rate: Any, starts: Any, exclude_start: bool) -> np.ndarray:
    """Unnormalised truncated-Laplace weights over ``v = 0..size-1``: shape (..., size).

    ``starts`` (...) and ``rate`` (scalar or broadcastable to ``starts``). The weights are
    ``exp(-(|v - s| - d0) * rate / ln(size))`` with ``d0`` the smallest allowed distance (0, or 1
    with the start excluded, where its weight is 0), so the largest weight is 1 and no rate
    underflows the whole row. ``size`` must be >= 2.
    """
    v = np.arange(size)
    dist = np.abs(v - np.asarray(starts)[..., None]).astype(np.float64)
    slope = np.asarray(rate, dtype=np.float64)[..., None] / math.log(size)
    if exclude_start:
        w = np.exp(-np.maximum(dist - 1.0, 0.0) * slope)
        w[dist == 0] = 0.0
    else:
        w = np.exp(-dist * slope)
    return w


def _cdf(weights: np.ndarray) -> np.ndarray:
    """Row-wise CDF of non-negative weights (..., K). Zero-weight values keep the CDF flat (exact
    float equality) and the CDF is exactly 1 from the last positive weight on, so
    ``#{v: cdf[v] <= u}`` for ``u`` in [0, 1) never lands on a zero-weight value."""
    c = np.cumsum(weights, axis=-1)
    return c / c[..., -1:]


def _draw(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws: ``cdf`` (N, K) rows, ``u`` (N,) in [0, 1) -> indices (N,) int64."""
    return np.count_nonzero(cdf <= u[:, None], axis=1).astype(np.int64)


def laplace_jump_probabilities(size: int, rate: float, start: int, *, exclude_start: bool = False) -> np.ndarray:
    """The LAP law of one factor: ``P(f'_j = v)`` for ``v = 0..size-1`` from index ``start``.

    ``P(v) ∝ Laplace(v; start, ln(size)/rate)`` on the integer grid, renormalised (truncated at
    0 and ``size-1``, no wrap). With ``exclude_start`` the start gets probability 0 and the rest
    is renormalised: the forced-redraw law. A factor of size 1 has the single value (and cannot be
    redrawn with its start excluded).
    """
    if isinstance(size, bool) or not isinstance(size, Integral) or size < 1:
        raise SlowVAEError(f"size must be an integer >= 1, got {size!r}")
    rate = _check_rate(rate)
    if isinstance(start, bool) or not isinstance(start, Integral) or not 0 <= start < size:
        raise SlowVAEError(f"start must be an integer in [0, {size - 1}], got {start!r}")
    if size == 1:
        if exclude_start:
            raise SlowVAEError("a factor of size 1 has no other value to move to")
        return np.ones(1)
    w = _laplace_weights(int(size), rate, int(start), exclude_start)
    return w / w.sum()


# --------------------------------------------------------------------------------------------
# LAP


class LaplaceTransitions:
    """The reference "LAP" prior (``truncated_laplace``): sparse, Laplace-distributed jumps.

    ``rate`` is λ_data (scale ``b_j = ln(K_j)/rate``; larger = smaller jumps); ``None`` draws
    ``rate ~ U(1, 10)`` per pair. See the module docstring for the full rule.
    """

    def __init__(self, rate: float | None = 1.0) -> None:
        self.rate = None if rate is None else _check_rate(rate)
        # size -> (raw CDF table, start-excluded CDF table), both (size, size) indexed [start, v]
        self._tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __repr__(self) -> str:
        return f"LaplaceTransitions(rate={self.rate!r})"

    def config(self) -> dict[str, Any]:
        return {"kind": "laplace", "rate": self.rate}

    def _table(self, size: int, exclude_start: bool) -> np.ndarray:
        tables = self._tables.get(size)
        if tables is None:
            starts = np.arange(size)
            tables = (
                _cdf(_laplace_weights(size, self.rate, starts, exclude_start=False)),
                _cdf(_laplace_weights(size, self.rate, starts, exclude_start=True)),
            )
            self._tables[size] = tables
        return tables[1] if exclude_start else tables[0]

    def _cdf_rows(self, size: int, starts: np.ndarray, rate: np.ndarray | None, exclude: bool) -> np.ndarray:
        if rate is None:  # fixed rate: look the rows up
            return self._table(size, exclude)[starts]
        return _cdf(_laplace_weights(size, rate, starts, exclude))

    @staticmethod
    def _movable(sizes: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        movable = ~categorical & (sizes >= 2)
        if not movable.any():
            raise SlowVAEError(
                "LaplaceTransitions needs a non-categorical factor with at least 2 values, got "
                f"factor_sizes={tuple(int(s) for s in sizes)}, "
                f"categorical={tuple(bool(c) for c in categorical)}"
            )
        return np.flatnonzero(movable)

    def sample(self, space: FactorSpace, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Next factor indices (N, K) int64: independent truncated-Laplace jumps per factor,
        categorical factors kept, and one forced single-factor redraw where nothing moved."""
        sizes, categorical = _space_arrays(space)
        cols = self._movable(sizes, categorical)
        start = check_grid_factors(factors, tuple(int(s) for s in sizes))
        n, k = start.shape
        rate = None if self.rate is not None else rng.uniform(*RANDOM_RATE_RANGE, size=n)
        u = rng.random((n, k))
        out = start.copy()
        for j in cols:
            out[:, j] = _draw(self._cdf_rows(int(sizes[j]), start[:, j], rate, False), u[:, j])
        # at least one change: redraw one uniformly chosen movable factor, start value excluded
        same = np.flatnonzero((out == start).all(axis=1))
        if same.size:
            pick = rng.integers(0, cols.size, size=same.size)
            u2 = rng.random(same.size)
            for i, j in enumerate(cols):
                sel = pick == i
                if not sel.any():
                    continue
                rows = same[sel]
                cdf = self._cdf_rows(int(sizes[j]), start[rows, j], None if rate is None else rate[rows], True)
                out[rows, j] = _draw(cdf, u2[sel])
        return out

    def _probabilities_at(
        self, sizes: np.ndarray, categorical: np.ndarray, start: np.ndarray, rate: float
    ) -> np.ndarray:
        cols = self._movable(sizes, categorical)
        k = len(sizes)
        joint = np.ones(())
        for j in range(k):
            if j in cols:
                p = laplace_jump_probabilities(int(sizes[j]), rate, int(start[j]))
            else:
                p = np.zeros(int(sizes[j]))
                p[start[j]] = 1.0
            joint = np.multiply.outer(joint, p)
        at_start = tuple(int(s) for s in start)
        p_none = joint[at_start]
        joint[at_start] = 0.0
        for j in cols:
            q = laplace_jump_probabilities(int(sizes[j]), rate, int(start[j]), exclude_start=True)
            line = at_start[:j] + (slice(None),) + at_start[j + 1 :]
            joint[line] += p_none / cols.size * q
        return joint

    def probabilities(self, space: FactorSpace, start: Any) -> np.ndarray:
        """Exact ``P(f' = v | f = start)`` for every grid cell ``v``: float array of shape
        ``factor_sizes`` summing to 1, the forced redraw included. With ``rate=None`` the
        U(1, 10) mixture over the rate is integrated by 64-node Gauss-Legendre quadrature
        (smooth integrand; accurate to ~1e-12)."""
        sizes, categorical = _space_arrays(space)
        s = _start_vector(start, sizes)
        _check_grid(sizes)
        if self.rate is not None:
            return self._probabilities_at(sizes, categorical, s, self.rate)
        x, w = np.polynomial.legendre.leggauss(_RATE_QUADRATURE_NODES)
        lo, hi = RANDOM_RATE_RANGE
        rates = lo + (hi - lo) * (x + 1.0) / 2.0
        total = np.zeros(tuple(int(v) for v in sizes))
        for r, wi in zip(rates, w / 2.0):
            total += wi * self._probabilities_at(sizes, categorical, s, float(r))
        return total


# --------------------------------------------------------------------------------------------
# LOC


class UniformKTransitions:
    """The "LOC" prior (Locatello et al. 2020): ``k`` factors resampled uniformly per pair.

    ``variant="strict"`` (the SlowVAE reference): exactly ``k`` distinct factors, chosen uniformly
    among all K (categorical ones included), each moved to a uniformly drawn *different* value;
    ``k=None`` draws ``k ~ U{1..K-1}`` per pair. ``variant="dlib"`` (disentanglement_lib's weak
    pairs): ``k_observed`` as above, then ``n = 1`` or ``n = k_observed`` with probability 1/2
    each, ``n`` distinct factors resampled uniformly over *all* their values (possibly the old
    one, so fewer than ``n`` may change), drawn from ``rng`` (dlib's own draw is unseeded).
    """

    def __init__(self, k: int | None = None, variant: str = "strict") -> None:
        if variant not in _UNIFORM_VARIANTS:
            raise SlowVAEError(
                f"unknown variant {variant!r} for UniformKTransitions; known: {', '.join(_UNIFORM_VARIANTS)}"
            )
        if k is not None and (isinstance(k, bool) or not isinstance(k, Integral) or k < 1):
            raise SlowVAEError(f"k must be an integer >= 1 (or None for k ~ U{{1..K-1}} per pair), got {k!r}")
        self.k = None if k is None else int(k)
        self.variant = variant

    def __repr__(self) -> str:
        return f"UniformKTransitions(k={self.k!r}, variant={self.variant!r})"

    def config(self) -> dict[str, Any]:
        return {"kind": "uniform", "k": self.k, "variant": self.variant}

    def _check_space(self, sizes: np.ndarray) -> None:
        n_factors = len(sizes)
        if self.k is None and n_factors < 2:
            raise SlowVAEError(
                f"k=None draws k from {{1..K-1}}, which needs at least 2 factors; this space has {n_factors}: pass k=1"
            )
        if self.k is not None and self.k > n_factors:
            raise SlowVAEError(f"k={self.k} is larger than the number of factors ({n_factors})")
        if self.variant == "strict" and (sizes < 2).any():
            bad = [int(j) for j in np.flatnonzero(sizes < 2)]
            raise SlowVAEError(
                f"UniformKTransitions(variant='strict') moves each chosen factor to another value, "
                f"but factor(s) {bad} have a single value"
            )

    def _k_distribution(self, n_factors: int) -> dict[int, float]:
        """P(k) of the number of factors chosen (strict) or ``k_observed`` (dlib)."""
        if self.k is not None:
            return {self.k: 1.0}
        return {kk: 1.0 / (n_factors - 1) for kk in range(1, n_factors)}

    def sample(self, space: FactorSpace, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Next factor indices (N, K) int64 (see the class docstring for the rule)."""
        sizes, _ = _space_arrays(space)
        self._check_space(sizes)
        start = check_grid_factors(factors, tuple(int(s) for s in sizes))
        n, n_factors = start.shape
        if self.k is None:
            k = rng.integers(1, n_factors, size=n)
        else:
            k = np.full(n, self.k, dtype=np.int64)
        if self.variant == "dlib":  # n_changed = rs.choice([1, k_observed])
            k = np.where(rng.random(n) < 0.5, 1, k)
        # k distinct factors uniformly: the k smallest of K iid uniforms per row
        rank = np.argsort(np.argsort(rng.random((n, n_factors)), axis=1), axis=1)
        chosen = rank < k[:, None]
        if self.variant == "strict":  # uniform over the other K_j - 1 values
            new = (start + rng.integers(1, sizes, size=(n, n_factors))) % sizes
        else:  # uniform over all K_j values
            new = rng.integers(0, sizes, size=(n, n_factors))
        return np.where(chosen, new, start).astype(np.int64)

    def probabilities(self, space: FactorSpace, start: Any) -> np.ndarray:
        """Exact ``P(f' = v | f = start)`` for every grid cell ``v``: float array of shape
        ``factor_sizes`` summing to 1. Computed per set of changed factors by enumerating the
        chosen subsets (fine for the usual K <= 7 factors)."""
        sizes, _ = _space_arrays(space)
        self._check_space(sizes)
        s = _start_vector(start, sizes)
        _check_grid(sizes)
        n_factors = len(sizes)
        # P(one given cell whose set of factors differing from the start is D), by bitmask of D
        by_set = np.zeros(2**n_factors)
        k_dist = self._k_distribution(n_factors)
        if self.variant == "strict":
            for kk, pk in k_dist.items():
                for subset in combinations(range(n_factors), kk):
                    mask = sum(1 << j for j in subset)
                    cell = math.prod(1.0 / (int(sizes[j]) - 1) for j in subset)
                    by_set[mask] += pk / math.comb(n_factors, kk) * cell
        else:
            n_dist: dict[int, float] = {}
            for kk, pk in k_dist.items():
                n_dist[1] = n_dist.get(1, 0.0) + pk / 2
                n_dist[kk] = n_dist.get(kk, 0.0) + pk / 2
            for nn, pn in n_dist.items():
                for subset in combinations(range(n_factors), nn):
                    cell = pn / math.comb(n_factors, nn) * math.prod(1.0 / int(sizes[j]) for j in subset)
                    for r in range(nn + 1):  # every changed set D inside the resampled set
                        for changed in combinations(subset, r):
                            by_set[sum(1 << j for j in changed)] += cell
        code = np.zeros((), dtype=np.int64)
        for j in range(n_factors):
            differs = (np.arange(int(sizes[j])) != s[j]).astype(np.int64) << j
            code = np.add.outer(code, differs)
        return by_set[code]


# --------------------------------------------------------------------------------------------


def make_transitions(
    kind: str, *, rate: float | None = 1.0, k: int | None = None, variant: str = "strict"
) -> Transitions:
    """The transition rule ``kind``: ``"laplace"`` (LAP, uses ``rate``) or ``"uniform"`` (LOC,
    uses ``k`` and ``variant``). ``make_transitions(**rule.config())`` rebuilds ``rule``.

    An option of the other kind set away from its default is an error, not silently ignored.
    """
    if kind == "laplace":
        if k is not None or variant != "strict":
            raise SlowVAEError(
                f"k={k!r} and variant={variant!r} apply to kind 'uniform' only; kind 'laplace' takes rate"
            )
        return LaplaceTransitions(rate)
    if kind == "uniform":
        if rate != 1.0:
            raise SlowVAEError(f"rate={rate!r} applies to kind 'laplace' only; kind 'uniform' takes k and variant")
        return UniformKTransitions(k, variant)
    raise SlowVAEError(f"unknown transitions kind {kind!r}; known: {', '.join(TRANSITION_KINDS)}")


__all__ = [
    "LaplaceTransitions",
    "RANDOM_RATE_RANGE",
    "TRANSITION_KINDS",
    "Transitions",
    "UniformKTransitions",
    "laplace_jump_probabilities",
    "make_transitions",
]
