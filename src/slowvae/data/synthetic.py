"""A synthetic source for the identifiability experiment: sparse latent transitions seen through an
injective mixing.

The generative model of Klindt et al. (ICLR 2021, §3; docs/model.md §1):

    z_{t-1} ~ N(0, I_d),    z_t = z_{t-1} + eps,    eps_i ~ p(eps) ∝ exp(-(rate |eps|)^alpha) iid,
    x = f(z)

``eps`` is the generalized Laplace (``scipy.stats.gennorm(alpha, scale=1/rate)``): alpha = 1 is the
Laplace SlowVAE assumes, alpha = 2 a Gaussian (rotation invariant, not identifiable), alpha < 2
the identifiable sparse regime. ``f`` is a random orthogonal matrix (``"linear"``) or a random
L-layer leaky-ReLU MLP with square orthogonal weights (``"mlp"``; Hyvärinen & Morioka 2017, PCL,
§5.1), followed by a fixed per-dimension standardisation. Everything random comes from a numpy
Generator: the mixing from the one given to the constructor, the data from the one given to each
sampling call.

Observations are float vectors, not images: this source has the shape of a :class:`PairSource`
with ``(n, obs_dim)`` float32 arrays in place of uint8 images.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import special_ortho_group

from slowvae.errors import SlowVAEError

MIXINGS = ("linear", "mlp")
#: negative slope of the mixing's leaky ReLUs (as in PCL / TCL's simulations)
LEAKY_SLOPE = 0.2


def sample_gennorm(shape: tuple[int, ...], alpha: float, rate: float, rng: np.random.Generator) -> np.ndarray:
    """iid draws (``shape``) from the generalized Laplace with density ∝ exp(-(rate |e|)^alpha).

    Exact: (rate |e|)^alpha ~ Gamma(1/alpha, 1) and the sign is symmetric (the same law as
    ``scipy.stats.gennorm(alpha, scale=1/rate)``; Nadarajah 2005, §2).
    """
    if not (alpha > 0 and rate > 0):
        raise SlowVAEError(f"alpha and rate must be positive, got alpha={alpha}, rate={rate}")
    magnitude = rng.gamma(1.0 / alpha, 1.0, size=shape) ** (1.0 / alpha) / rate
    sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return sign * magnitude


def gennorm_std(alpha: float, rate: float) -> float:
    """Standard deviation of the generalized Laplace (alpha, scale 1/rate): sqrt(Γ(3/α)/Γ(1/α)) / rate."""
    return math.exp(0.5 * (math.lgamma(3 / alpha) - math.lgamma(1 / alpha))) / rate


class Mixing:
    """A random injective map f: R^d -> R^d, seeded; ``__call__(z (n, d)) -> x (n, d)`` float64.

    ``"linear"``: x = z Q with Q a uniformly random rotation (Haar on SO(d)).
    ``"mlp"``: ``layers`` square layers h <- h W_l with W_l random rotations and a leaky ReLU
    (slope 0.2) between consecutive layers (none after the last): invertible, piecewise linear,
    every layer perfectly conditioned. Either way the output is then standardised per dimension
    with a mean and scale fixed once from 10,000 draws of z ~ N(0, I), so x has about unit scale.
    """

    def __init__(self, dim: int, kind: str = "mlp", layers: int = 3, *, rng: np.random.Generator) -> None:
        if kind not in MIXINGS:
            raise SlowVAEError(f"mixing must be one of {', '.join(MIXINGS)}, got {kind!r}")
        if not 2 <= int(dim) <= 100:
            raise SlowVAEError(f"dim must be between 2 and 100, got {dim}")
        if kind == "mlp" and int(layers) < 1:
            raise SlowVAEError(f"an mlp mixing needs at least one layer, got {layers}")
        self.dim, self.kind = int(dim), kind
        self.layers = 1 if kind == "linear" else int(layers)
        self.weights = [special_ortho_group.rvs(self.dim, random_state=rng) for _ in range(self.layers)]
        self.shift = np.zeros(self.dim)
        self.scale = np.ones(self.dim)
        probe = self(rng.standard_normal((10_000, self.dim)))
        self.shift = probe.mean(axis=0)
        self.scale = probe.std(axis=0)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        h = np.asarray(z, dtype=np.float64)
        for i, w in enumerate(self.weights):
            h = h @ w
            if i < len(self.weights) - 1:
                h = np.where(h > 0, h, LEAKY_SLOPE * h)
        return (h - self.shift) / self.scale


class SyntheticPairs:
    """Pairs (x_{t-1}, x_t) of the generative model above, with their true latents.

    Args:
        dim: number of latents d (= observation dimension).
        alpha: shape of the transition's generalized Laplace (alpha < 2: identifiable).
        rate: its rate lambda (scale 1/rate).
        mixing: ``"linear"`` or ``"mlp"``; layers: MLP depth.
        rng: draws the mixing (the data come from the generators passed to the samplers).
    """

    def __init__(
        self,
        dim: int = 5,
        alpha: float = 1.0,
        rate: float = 6.0,
        mixing: str = "mlp",
        layers: int = 3,
        *,
        rng: np.random.Generator,
    ) -> None:
        if not (alpha > 0 and rate > 0):
            raise SlowVAEError(f"alpha and rate must be positive, got alpha={alpha}, rate={rate}")
        self.alpha, self.rate = float(alpha), float(rate)
        self.mixing = Mixing(dim, mixing, layers, rng=rng)
        self.dim = self.obs_dim = self.mixing.dim
        self.latent_names = tuple(f"z{i}" for i in range(self.dim))

    @property
    def transition_std(self) -> float:
        """Standard deviation of one latent's step z_t - z_{t-1}."""
        return gennorm_std(self.alpha, self.rate)

    def sample_latent_pairs(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n latent pairs: z_{t-1} ~ N(0, I) and z_t = z_{t-1} + eps, each (n, d) float64."""
        z0 = rng.standard_normal((n, self.dim))
        return z0, z0 + sample_gennorm((n, self.dim), self.alpha, self.rate, rng)

    def sample_pairs(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """n pairs: x_{t-1}, x_t float32 (n, obs_dim) and z_{t-1}, z_t float64 (n, d)."""
        z0, z1 = self.sample_latent_pairs(n, rng)
        x = self.mixing(np.concatenate([z0, z1])).astype(np.float32)
        return x[:n], x[n:], z0, z1

    def sample_eval(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n evaluation frames z ~ N(0, I): observations float32 (n, obs_dim) and latents (n, d)."""
        z = rng.standard_normal((n, self.dim))
        return self.mixing(z).astype(np.float32), z
