"""Transition rules: sampled laws against exact probabilities, the reference table, edge cases."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pytest
from scipy import integrate, stats

from slowvae.data import LaplaceTransitions, UniformKTransitions
from slowvae.data.transitions import laplace_jump_probabilities, make_transitions
from slowvae.errors import SlowVAEError

N_DRAWS = 100_000
DSPRITES = (3, 6, 40, 32, 32)


@dataclass
class Space:
    factor_sizes: tuple[int, ...]
    categorical: tuple[bool, ...] | None = None

    def __post_init__(self) -> None:
        if self.categorical is None:
            self.categorical = (False,) * len(self.factor_sizes)


DSPRITES_SPACE = Space(DSPRITES, (True, False, False, False, False))


def assert_distribution(samples: np.ndarray, probs: np.ndarray, p_min: float = 1e-4) -> None:
    """Flat outcome indices ``samples`` follow ``probs``: impossible outcomes never occur, a
    chi-square test (cells with expected count < 5 pooled) passes at ``p_min``, and every cell
    is within 5 standard errors. Seeds are fixed; p_min = 1e-4 keeps the chance of a false alarm
    over the ~30 chi-square tests here near 0.3 % should a seed ever change."""
    probs = np.asarray(probs, dtype=np.float64).ravel()
    n = samples.size
    counts = np.bincount(samples, minlength=probs.size)
    assert counts.size == probs.size
    assert counts[probs == 0].sum() == 0, "an impossible outcome was drawn"
    expected = probs * n
    big = expected >= 5
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    if exp[-1] < 1e-9:
        obs, exp = obs[:-1], exp[:-1]
    if exp.size > 1:
        pvalue = stats.chisquare(obs, exp * (n / exp.sum())).pvalue
        assert pvalue > p_min, f"chi-square p = {pvalue:.2e}"
    se = np.sqrt(probs * (1 - probs) / n)
    worst = np.max(np.abs(counts / n - probs) - 5 * se)
    assert worst <= 1.0 / n, f"a cell is {worst:.2e} beyond 5 standard errors"


def sample_from(rule, space: Space, start, n: int = N_DRAWS, seed: int = 0) -> np.ndarray:
    """Flat grid indices of ``n`` next vectors from one fixed ``start``."""
    starts = np.tile(np.asarray(start, dtype=np.int64), (n, 1))
    out = rule.sample(space, starts, np.random.default_rng(seed))
    return np.ravel_multi_index(tuple(out.T), space.factor_sizes)


# ---------------------------------------------------------------------------------------------
# LAP: the per-factor law


@pytest.mark.parametrize("size", [2, 6, 32, 40, 183])
@pytest.mark.parametrize("rate", [0.5, 1.0, 3.7])
def test_jump_probabilities_match_scipy_laplace(size: int, rate: float) -> None:
    x = np.arange(size)
    for start in {0, size // 2, size - 1}:
        p = stats.laplace.pdf(x, loc=start, scale=np.log(size) / rate)
        p /= p.sum()
        np.testing.assert_allclose(laplace_jump_probabilities(size, rate, start), p, rtol=1e-12)
        p[start] = 0
        p /= p.sum()
        forced = laplace_jump_probabilities(size, rate, start, exclude_start=True)
        np.testing.assert_allclose(forced, p, rtol=1e-12, atol=1e-300)
        assert forced[start] == 0


@pytest.mark.parametrize(
    "size, p_stay, mean_jump, tol",
    [(6, 0.38, 1.05, 0.005), (32, 0.16, 2.97, 0.005), (40, 0.15, 3.24, 0.005), (183, 0.10, 5.0, 0.05)],
)
def test_reference_table_over_uniform_starts(size, p_stay, mean_jump, tol) -> None:
    """docs/samplers.md (LAP): P(no change) and mean |jump| of the raw truncated Laplace, rate 1."""
    x = np.arange(size)
    table = np.stack([laplace_jump_probabilities(size, 1.0, s) for s in range(size)])
    assert abs(np.mean(np.diag(table)) - p_stay) < 0.005
    assert abs(np.mean((table * np.abs(x[None, :] - x[:, None])).sum(1)) - mean_jump) < tol


def test_single_factor_space_is_the_forced_law() -> None:
    """With one factor the raw draw plus the forced redraw is the start-excluded law."""
    for size, start in [(6, 0), (6, 3), (32, 31)]:
        p = LaplaceTransitions(1.0).probabilities(Space((size,)), [start])
        np.testing.assert_allclose(p, laplace_jump_probabilities(size, 1.0, start, exclude_start=True))


def test_exact_vector_law_includes_the_forced_redraw() -> None:
    """probabilities() by hand for a 2-factor grid: raw product, start removed, and its mass
    P0 moved to single-factor lines with weight 1/2 each."""
    space, start = Space((6, 32)), (2, 31)
    p = LaplaceTransitions(1.0).probabilities(space, start)
    a, b = (laplace_jump_probabilities(k, 1.0, s) for k, s in zip(space.factor_sizes, start))
    qa, qb = (laplace_jump_probabilities(k, 1.0, s, exclude_start=True) for k, s in zip(space.factor_sizes, start))
    p0 = a[2] * b[31]
    assert p[start] == 0
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert p[4, 31] == pytest.approx(a[4] * b[31] + p0 / 2 * qa[4], rel=1e-12)
    assert p[2, 20] == pytest.approx(a[2] * b[20] + p0 / 2 * qb[20], rel=1e-12)
    assert p[0, 0] == pytest.approx(a[0] * b[0], rel=1e-12)


# ---------------------------------------------------------------------------------------------
# LAP: the sampler against the exact law


@pytest.mark.parametrize(
    "space, start",
    [
        (Space((6, 32)), (3, 16)),  # middle
        (Space((6, 32)), (0, 0)),  # lower boundary
        (Space((6, 32)), (5, 31)),  # upper boundary
        (Space((6, 32)), (0, 31)),
        (Space((6,)), (0,)),  # one factor: every pair is a forced redraw or a raw move
        (Space((32,)), (16,)),
        (Space((3, 6, 4), (True, False, False)), (1, 0, 3)),  # categorical factor
        (Space((6, 1, 4)), (5, 0, 0)),  # a size-1 factor stays and is never forced
    ],
)
def test_laplace_sampler_matches_exact_law(space: Space, start) -> None:
    rule = LaplaceTransitions(1.0)
    assert_distribution(sample_from(rule, space, start), rule.probabilities(space, start))


def _reference_truncated_laplace(start, sizes, categorical, rate, rng, tables):
    """scripts/dataset.py ``truncated_laplace`` (L141-165) line by line, np.random -> rng and the
    scipy pdf rows precomputed per (factor, start)."""
    end = []
    for j, (mean, upper) in enumerate(zip(start, sizes)):
        x = np.arange(upper)
        end.append(rng.choice(x, 1, p=tables[j, mean, False])[0])
    end = np.array(end).astype(int)
    end[categorical] = start[categorical]
    if np.sum(abs(start - end)) == 0:
        ind = rng.choice(np.arange(len(sizes))[~categorical], 1)[0]
        x = np.arange(sizes[ind])
        end[ind] = rng.choice(x, 1, p=tables[ind, start[ind], True])[0]
    assert np.sum(abs(start - end)) > 0
    return end


def test_literal_port_of_the_reference_matches_exact_law() -> None:
    """An independent check of probabilities() (and so of the sampler): the reference algorithm."""
    sizes, categorical, rate = (3, 5, 4), np.array([True, False, False]), 2.5
    start = np.array([2, 1, 3])
    tables = {}
    for j, k in enumerate(sizes):
        for s in range(k):
            p = stats.laplace.pdf(np.arange(k), loc=s, scale=np.log(k) / rate)
            tables[j, s, False] = p / p.sum()
            p[s] = 0
            tables[j, s, True] = p / p.sum()
    rng = np.random.default_rng(5)
    draws = np.array(
        [_reference_truncated_laplace(start, sizes, categorical, rate, rng, tables) for _ in range(20_000)]
    )
    space = Space(sizes, tuple(categorical))
    exact = LaplaceTransitions(rate).probabilities(space, start)
    assert_distribution(np.ravel_multi_index(tuple(draws.T), sizes), exact)
    assert_distribution(sample_from(LaplaceTransitions(rate), space, start), exact)


def test_rate_none_is_a_per_pair_mixture() -> None:
    rule = LaplaceTransitions(None)
    # the quadrature over U(1, 10) against scipy's adaptive integration, one cell
    space = Space((32,))
    exact = rule.probabilities(space, [5])
    quad = integrate.quad(
        lambda r: laplace_jump_probabilities(32, r, 5, exclude_start=True)[9] / 9.0, 1.0, 10.0, epsabs=1e-13
    )[0]
    assert exact[9] == pytest.approx(quad, rel=1e-10)
    for start in [(2, 16), (0, 31)]:
        space = Space((6, 32))
        exact = rule.probabilities(space, start)
        samples = sample_from(rule, space, start, seed=3)
        assert_distribution(samples, exact)
        # one rate per pair, shared by its factors: a product of per-factor mixtures is rejected
        product = np.multiply.outer(exact.sum(1), exact.sum(0))
        counts = np.bincount(samples, minlength=exact.size)
        keep = product.ravel() * N_DRAWS >= 5
        assert (
            stats.chisquare(
                counts[keep], product.ravel()[keep] * counts[keep].sum() / product.ravel()[keep].sum()
            ).pvalue
            < 1e-6
        )


def test_laplace_boundaries_and_range() -> None:
    rng = np.random.default_rng(1)
    for rate in (1.0, None):
        rule = LaplaceTransitions(rate)
        f = np.zeros((20_000, 5), dtype=np.int64)
        out = rule.sample(DSPRITES_SPACE, f, rng)
        assert out.min() >= 0 and (out[:, 2:] > 0).any()  # only upward moves from index 0
        top = np.tile(np.array(DSPRITES) - 1, (20_000, 1))
        out = rule.sample(DSPRITES_SPACE, top, rng)
        assert (out <= top).all() and (out[:, 2:] < top[:, 2:]).any()
        f = rng.integers(0, DSPRITES, size=(50_000, 5))
        out = rule.sample(DSPRITES_SPACE, f, rng)
        assert out.dtype == np.int64 and out.shape == f.shape
        assert ((out >= 0) & (out < np.array(DSPRITES))).all()


@pytest.mark.parametrize("rate", [1.0, None, 0.1])
def test_categorical_fixed_and_at_least_one_change(rate) -> None:
    rng = np.random.default_rng(2)
    f = rng.integers(0, DSPRITES, size=(50_000, 5))
    out = LaplaceTransitions(rate).sample(DSPRITES_SPACE, f, rng)
    assert (out[:, 0] == f[:, 0]).all()
    assert (out != f).any(axis=1).all()


def test_huge_rate_forces_exactly_one_unit_step() -> None:
    """rate 1e6 leaves every raw draw in place: each pair is a forced redraw of one factor,
    chosen uniformly among the non-categorical ones, by one step (no NaN from underflow)."""
    space = Space((6, 6, 6, 3), (False, False, False, True))
    rng = np.random.default_rng(4)
    f = rng.integers(0, space.factor_sizes, size=(30_000, 4))
    out = LaplaceTransitions(1e6).sample(space, f, rng)
    changed = out != f
    assert (changed.sum(axis=1) == 1).all()
    assert_distribution(np.argmax(changed, axis=1), [1 / 3, 1 / 3, 1 / 3, 0])
    assert (np.abs(out - f).sum(axis=1) == 1).all()


# ---------------------------------------------------------------------------------------------
# LOC


SMALL = Space((3, 6, 4, 5), (True, False, False, False))


def test_uniform_strict_exactly_k_changed_to_other_uniform_values() -> None:
    rng = np.random.default_rng(6)
    f = rng.integers(0, SMALL.factor_sizes, size=(N_DRAWS, 4))
    out = UniformKTransitions(2).sample(SMALL, f, rng)
    changed = out != f
    assert (changed.sum(axis=1) == 2).all()  # categorical factor included in the choice
    masks = changed @ (1 << np.arange(4))
    pairs = [sum(1 << j for j in s) for s in combinations(range(4), 2)]
    probs = np.zeros(16)
    probs[pairs] = 1 / 6
    assert_distribution(masks, probs)
    for j, size in enumerate(SMALL.factor_sizes):  # offset to the new value: uniform on 1..K_j-1
        offset = (out[changed[:, j], j] - f[changed[:, j], j]) % size
        assert_distribution(offset, np.r_[0.0, np.full(size - 1, 1 / (size - 1))])


def test_uniform_strict_matches_exact_law_and_hand_values() -> None:
    start = (1, 5, 0, 2)
    for k in (1, 2, 4, None):
        rule = UniformKTransitions(k)
        exact = rule.probabilities(SMALL, start)
        assert exact.sum() == pytest.approx(1.0, abs=1e-12)
        assert_distribution(sample_from(rule, SMALL, start, seed=7), exact)
    p1 = UniformKTransitions(1).probabilities(SMALL, start)
    assert p1[1, 3, 0, 2] == pytest.approx(1 / 4 * 1 / 5)
    assert p1[0, 5, 0, 2] == pytest.approx(1 / 4 * 1 / 2)
    assert p1[0, 3, 0, 2] == 0 and p1[start] == 0


def test_uniform_k_none_is_uniform_over_1_to_k_minus_1() -> None:
    rng = np.random.default_rng(8)
    f = rng.integers(0, SMALL.factor_sizes, size=(N_DRAWS, 4))
    out = UniformKTransitions(None).sample(SMALL, f, rng)
    assert_distribution((out != f).sum(axis=1), [0, 1 / 3, 1 / 3, 1 / 3, 0])


def test_uniform_dlib_number_changed_including_equal_resamples() -> None:
    """Four factors of size 4: n = 1 (p 1/2 + 1/2·1/3) or n = k_obs in {2, 3}; each resampled
    factor keeps its value with p 1/4, so the observed count is Binomial(n, 3/4)."""
    space = Space((4, 4, 4, 4))
    p_n = {1: 2 / 3, 2: 1 / 6, 3: 1 / 6}
    expected = [sum(pn * stats.binom.pmf(m, n, 0.75) for n, pn in p_n.items()) for m in range(5)]
    rng = np.random.default_rng(9)
    f = rng.integers(0, 4, size=(N_DRAWS, 4))
    out = UniformKTransitions(None, "dlib").sample(space, f, rng)
    assert_distribution((out != f).sum(axis=1), expected)
    assert_distribution(
        sample_from(UniformKTransitions(None, "dlib"), space, (0, 1, 2, 3)),
        UniformKTransitions(None, "dlib").probabilities(space, (0, 1, 2, 3)),
    )


def test_uniform_dlib_matches_exact_law_and_dsprites_identical_pairs() -> None:
    for k in (1, 3, None):
        rule = UniformKTransitions(k, "dlib")
        exact = rule.probabilities(SMALL, (1, 5, 0, 2))
        assert exact.sum() == pytest.approx(1.0, abs=1e-12)
        assert_distribution(sample_from(rule, SMALL, (1, 5, 0, 2), seed=10), exact)
    # docs/samplers.md (LOC, dlib variant): k=1 on dSprites gives identical pairs with p = 1/5 · Σ 1/size_i ≈ 0.1175
    rng = np.random.default_rng(11)
    f = rng.integers(0, DSPRITES, size=(N_DRAWS, 5))
    out = UniformKTransitions(1, "dlib").sample(DSPRITES_SPACE, f, rng)
    same = (out == f).all(axis=1).mean()
    p = sum(1 / s for s in DSPRITES) / 5
    assert abs(same - p) < 5 * math.sqrt(p * (1 - p) / N_DRAWS)
    assert ((out != f).sum(axis=1) <= 1).all()


# ---------------------------------------------------------------------------------------------
# determinism, config, errors


RULES = [LaplaceTransitions(1.0), LaplaceTransitions(None), UniformKTransitions(2), UniformKTransitions(None, "dlib")]


@pytest.mark.parametrize("rule", RULES, ids=repr)
def test_deterministic_under_seed_and_input_untouched(rule) -> None:
    f = np.random.default_rng(0).integers(0, DSPRITES, size=(64, 5)).astype(np.int32)
    before = f.copy()
    a = rule.sample(DSPRITES_SPACE, f, np.random.default_rng(42))
    b = rule.sample(DSPRITES_SPACE, f, np.random.default_rng(42))
    c = rule.sample(DSPRITES_SPACE, f, np.random.default_rng(43))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(f, before)
    assert a.dtype == np.int64 and a.shape == (64, 5)
    assert rule.sample(DSPRITES_SPACE, f[:0], np.random.default_rng(0)).shape == (0, 5)


@pytest.mark.parametrize("rule", RULES, ids=repr)
def test_config_round_trip(rule) -> None:
    again = make_transitions(**rule.config())
    assert type(again) is type(rule) and again.config() == rule.config()
    assert repr(again) == repr(rule)


def test_repr_and_config_values() -> None:
    assert repr(LaplaceTransitions()) == "LaplaceTransitions(rate=1.0)"
    assert LaplaceTransitions(None).config() == {"kind": "laplace", "rate": None}
    assert UniformKTransitions(3, "dlib").config() == {"kind": "uniform", "k": 3, "variant": "dlib"}
    assert repr(UniformKTransitions()) == "UniformKTransitions(k=None, variant='strict')"


@pytest.mark.parametrize("rate", [0, -1, -0.5, float("nan"), float("inf"), "1", True])
def test_bad_rate(rate) -> None:
    with pytest.raises(SlowVAEError, match="rate"):
        LaplaceTransitions(rate)


@pytest.mark.parametrize("k, variant", [(0, "strict"), (-1, "strict"), (1.5, "strict"), (True, "dlib"), (2, "paper")])
def test_bad_uniform_options(k, variant) -> None:
    with pytest.raises(SlowVAEError, match="k must|variant"):
        UniformKTransitions(k, variant)


def test_bad_spaces_and_factors() -> None:
    rng = np.random.default_rng(0)
    f = np.zeros((4, 2), dtype=np.int64)
    with pytest.raises(SlowVAEError, match="non-categorical factor with at least 2"):
        LaplaceTransitions().sample(Space((3, 4), (True, True)), f, rng)
    with pytest.raises(SlowVAEError, match="non-categorical factor with at least 2"):
        LaplaceTransitions().sample(Space((3, 1), (True, False)), f, rng)
    with pytest.raises(SlowVAEError, match="larger than the number of factors"):
        UniformKTransitions(3).sample(Space((3, 4)), f, rng)
    with pytest.raises(SlowVAEError, match=r"factor\(s\) \[1\] have a single value"):
        UniformKTransitions(1).sample(Space((3, 1)), f, rng)
    assert UniformKTransitions(2, "dlib").sample(Space((3, 1)), f, rng)[:, 1].max() == 0
    with pytest.raises(SlowVAEError, match="at least 2 factors"):
        UniformKTransitions(None).sample(Space((3,)), f[:, :1], rng)
    with pytest.raises(SlowVAEError, match="categorical has 1 entries"):
        LaplaceTransitions().sample(Space((3, 4), (False,)), f, rng)
    for rule in RULES[:3]:
        with pytest.raises(SlowVAEError, match="outside"):
            rule.sample(Space((3, 4)), np.array([[0, 4]]), rng)
        with pytest.raises(SlowVAEError, match="shape"):
            rule.sample(Space((3, 4)), np.zeros((4, 3), dtype=int), rng)
    with pytest.raises(SlowVAEError, match="shape"):
        LaplaceTransitions().probabilities(Space((3, 4)), [[0, 1]])


def test_make_transitions() -> None:
    assert isinstance(make_transitions("laplace", rate=None), LaplaceTransitions)
    rule = make_transitions("uniform", k=2, variant="dlib")
    assert isinstance(rule, UniformKTransitions) and (rule.k, rule.variant) == (2, "dlib")
    with pytest.raises(SlowVAEError, match="unknown transitions kind 'gauss'"):
        make_transitions("gauss")
    with pytest.raises(SlowVAEError, match="apply to kind 'uniform' only"):
        make_transitions("laplace", k=2)
    with pytest.raises(SlowVAEError, match="applies to kind 'laplace' only"):
        make_transitions("uniform", rate=None)
