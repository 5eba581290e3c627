"""Models for vector observations: MLP encoder/decoder, SlowVAE with a Gaussian decoder, and its
gamma = 0 control (a beta-VAE).

The interface mirrors :class:`slowvae.models.base.PairModel` with vectors in place of images:
``forward(x (2, B, obs_dim), generator) -> dict`` of scalar tensors whose ``"loss"`` is minimised,
and ``encode(x (N, obs_dim)) -> (N, z_dim)`` the representation that is scored. Any model with
that interface and a constructor ``cls(obs_dim=..., z_dim=..., **hyper)`` joins the
identifiability experiment by being added to :data:`VECTOR_MODELS`; the contrastive baselines
PCL and InfoNCE-L1 join this way (an MLP encoder plus the image models' pair losses).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from slowvae.errors import SlowVAEError
from slowvae.models import losses
from slowvae.models.base import resolve_hyper
from slowvae.models.gl_prior import GL_DEFAULTS, GeneralizedLaplacePrior, check_gl_hyper
from slowvae.models.infonce import check_infonce_hyper, infonce_terms
from slowvae.models.losses import LOG_2PI
from slowvae.models.pcl import PCLRegression
from slowvae.models.slowvae import TransitionCrossEntropy, slowvae_objective

#: posterior families of the vector models: mean-field (the reference) or full covariance
POSTERIORS = ("diagonal", "full")


class MLP(nn.Sequential):
    """(N, n_in) -> (N, n_out): ``layers`` hidden layers of width ``hidden`` with leaky ReLU (0.2),
    then a linear output. Kaiming-normal weights, zero biases."""

    def __init__(self, n_in: int, n_out: int, hidden: int = 128, layers: int = 3) -> None:
        mods: list[nn.Module] = []
        width = n_in
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        mods.append(nn.Linear(width, n_out))
        super().__init__(*mods)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, a=0.2)
                nn.init.zeros_(m.bias)


class VectorPairModel(nn.Module):
    """Base of the vector-observation models: hyperparameter checking against ``defaults``.

    Subclasses set ``name``, ``paper``, ``defaults`` and implement ``forward`` and ``encode``.
    """

    name: ClassVar[str]
    paper: ClassVar[str]
    defaults: ClassVar[dict[str, float | str]]
    #: whether the constructor takes ``posterior`` (the VAEs) or not (the contrastive models)
    has_posterior: ClassVar[bool] = True

    def __init__(self, obs_dim: int, z_dim: int, **hyper: float) -> None:
        super().__init__()
        if obs_dim < 1 or z_dim < 1:
            raise SlowVAEError(f"obs_dim and z_dim must be positive, got {obs_dim}, {z_dim}")
        self.hyper = resolve_hyper(self.name, self.defaults, hyper)
        self.obs_dim, self.z_dim = int(obs_dim), int(z_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The representation (N, z_dim) of observations (N, obs_dim)."""
        raise NotImplementedError

    def learned_values(self) -> dict[str, list[float]]:
        """Values the model learns besides its networks, one per latent, for the records (default: none)."""
        return {}


def gaussian_slowvae_loss(
    x: torch.Tensor,
    x_mean: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    obs_std: float,
    beta: float,
    gamma: float,
    rate: float | None = None,
    logdet: torch.Tensor | None = None,
    transition: TransitionCrossEntropy | None = None,
    entropies: int = 1,
) -> dict[str, torch.Tensor]:
    """The SlowVAE loss for vector observations: the reference assembly with a Gaussian decoder.

    R is the Gaussian NLL -log N(x; x_mean, obs_std^2 I), summed over the observation and averaged
    over the 2B frames; then 2R + beta (CE_N - H) + gamma (CE_L - H) exactly as for images
    (:func:`slowvae.models.slowvae.slowvae_objective`).

    Args:
        x, x_mean: observations and decoder means (2, B, obs_dim).
        mu, logvar: Gaussian posteriors (2, B, D) (``logvar``: each latent's marginal log-variance).
        obs_std: the decoder's fixed standard deviation.
        logdet: log-determinants (2, B) of full posterior covariances; None for diagonal ones.
        rate, transition: the Laplace rate, or another transition prior's cross-entropy.
        entropies: posterior entropies subtracted from the two transition cross-entropies (1 as
            the reference, 2 for a KL each way; see :func:`slowvae.models.slowvae.slowvae_prior_terms`).
    """
    if (
        x.ndim != 3
        or x.shape[0] != 2
        or x_mean.shape != x.shape
        or mu.shape[:2] != x.shape[:2]
        or logvar.shape != mu.shape
    ):
        raise ValueError(
            f"expected x, x_mean (2, B, obs_dim) and mu, logvar (2, B, D); got {tuple(x.shape)}, "
            f"{tuple(x_mean.shape)}, {tuple(mu.shape)}, {tuple(logvar.shape)}"
        )
    if not obs_std > 0:
        raise ValueError(f"obs_std must be positive, got {obs_std}")
    n_obs = x.shape[-1]
    sq = ((x - x_mean) / obs_std).pow(2).sum(-1).mean()
    recon = 0.5 * sq + n_obs * (math.log(obs_std) + 0.5 * LOG_2PI)
    return slowvae_objective(
        recon, mu, logvar, beta=beta, gamma=gamma, rate=rate, logdet=logdet, transition=transition, entropies=entropies
    )


class MLPSlowVAE(VectorPairModel):
    """SlowVAE on vectors: MLP encoder -> Gaussian posterior, MLP decoder -> Gaussian mean with fixed
    ``obs_std``; the loss is :func:`gaussian_slowvae_loss`. ``hidden`` and ``layers`` size both MLPs.

    ``posterior="diagonal"`` is the reference's mean-field posterior N(mu, diag(sigma^2)).
    ``posterior="full"`` gives each input a full covariance L L^T (L lower triangular with a
    positive diagonal, D (D + 1) / 2 more encoder outputs). The prior terms are unchanged (they
    factorise over latents, so they see only the marginal variances); only the entropy uses the
    whole covariance. In the low-noise limit the true posterior is N(g(x), obs_std^2 (J^T J)^-1)
    with J the mixing's Jacobian: a diagonal family cannot represent it, and its ELBO then
    rewards decoders whose Jacobian columns are orthogonal (Rolinek et al., CVPR 2019), a bias
    that competes with the Laplace prior on non-orthogonal mixings; the full family removes it.

    Defaults: the reference's beta = 1, gamma = 10, rate = 6 (docs/model.md §5) and obs_std = 0.1.
    """

    name = "slowvae"
    paper = "Klindt et al., Towards Nonlinear Disentanglement in Natural Data with Temporal Sparse Coding, ICLR 2021"
    defaults: ClassVar[dict[str, float]] = {"beta": 1.0, "gamma": 10.0, "rate": 6.0, "obs_std": 0.1}

    def __init__(
        self,
        obs_dim: int,
        z_dim: int,
        *,
        hidden: int = 128,
        layers: int = 3,
        posterior: str = "diagonal",
        **hyper: float,
    ) -> None:
        super().__init__(obs_dim, z_dim, **hyper)
        self._build(hidden, layers, posterior)

    def _build(self, hidden: int, layers: int, posterior: str) -> None:
        if posterior not in POSTERIORS:
            raise SlowVAEError(f"posterior must be one of {', '.join(POSTERIORS)}, got {posterior!r}")
        self.posterior_kind = posterior
        d = self.z_dim
        n_offdiag = d * (d - 1) // 2 if posterior == "full" else 0
        self.register_buffer("_tril", torch.tril_indices(d, d, -1), persistent=False)
        self.encoder = MLP(self.obs_dim, 2 * d + n_offdiag, hidden, layers)
        self.decoder = MLP(d, self.obs_dim, hidden, layers)
        # start the posterior at N(mu, obs_std^2 I) (its scale when the decoder's Jacobian is ~1)
        # for every input, rather than at std 1: Adam would otherwise spend thousands of steps
        # walking the log-std down
        with torch.no_grad():
            self.encoder[-1].weight[d:].zero_()
            self.encoder[-1].bias[d : 2 * d].fill_(math.log(self.hyper["obs_std"]))
            self.encoder[-1].bias[2 * d :].zero_()

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu (N, z_dim), scale_tril (N, z_dim, z_dim)) of observations (N, obs_dim): the
        posterior is N(mu, scale_tril scale_tril^T); scale_tril is diagonal for a diagonal posterior."""
        h = self.encoder(x)
        d = self.z_dim
        scale = torch.diag_embed(torch.exp(h[:, d : 2 * d]))
        if self.posterior_kind == "full":
            rows, cols = self._tril
            scale[:, rows, cols] = h[:, 2 * d :]
        return h[:, :d], scale

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior means (N, z_dim) of observations (N, obs_dim)."""
        return self.encoder(x)[:, : self.z_dim]

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None, *, obs_std: float | None = None
    ) -> dict[str, torch.Tensor]:
        """Loss terms for a pair batch ``x`` (2, B, obs_dim); reparametrisation noise from ``generator``.
        ``obs_std`` replaces the decoder std of ``hyper`` for this call (a schedule's value)."""
        if x.ndim != 3 or x.shape[0] != 2 or x.shape[2] != self.obs_dim:
            raise ValueError(f"expected a pair batch (2, B, {self.obs_dim}), got {tuple(x.shape)}")
        two, b = x.shape[:2]
        mu, scale = self.posterior(losses.flatten_pairs(x))
        x_mean = self.decoder(losses.reparametrize_tril(mu, scale, generator)).reshape(x.shape)
        logvar = torch.log(scale.pow(2).sum(-1))  # marginal variances: squared row norms of L
        logdet = 2 * torch.log(torch.diagonal(scale, dim1=-2, dim2=-1)).sum(-1)
        hyper = self.hyper if obs_std is None else {**self.hyper, "obs_std": obs_std}
        return self.loss_terms(
            x, x_mean, mu.reshape(two, b, -1), logvar.reshape(two, b, -1), logdet.reshape(two, b), hyper
        )

    def loss_terms(
        self,
        x: torch.Tensor,
        x_mean: torch.Tensor,
        mu: torch.Tensor,
        logvar: torch.Tensor,
        logdet: torch.Tensor,
        hyper: dict[str, float],
    ) -> dict[str, torch.Tensor]:
        """:func:`gaussian_slowvae_loss` of a pair batch with hyperparameters ``hyper`` (shapes as there)."""
        return gaussian_slowvae_loss(x, x_mean, mu, logvar, logdet=logdet, **hyper)


class MLPSlowVAEGL(MLPSlowVAE):
    """:class:`MLPSlowVAE` with the generalized-Laplace transition prior of ``slowvae-gl``
    (:mod:`slowvae.models.gl_prior`): ``alpha``, ``scale`` fixed or learned, ``share`` per latent
    or for all; learned ones start at alpha = 1 and scale 1/rate and learn from step ``learn_from``
    (the loop sets :attr:`step`). Its loss dict adds
    ``learned_alpha_j`` and ``learned_scale_j`` per latent."""

    name = "slowvae-gl"
    paper = "Klindt et al., ICLR 2021, with a generalized-Laplace transition prior of learned shape and scale"
    defaults: ClassVar[dict[str, float | str]] = {**MLPSlowVAE.defaults, **GL_DEFAULTS}
    #: optimizer steps already taken (the training loop sets it; ``learn_from`` reads it)
    step: int = 0

    def __init__(
        self,
        obs_dim: int,
        z_dim: int,
        *,
        hidden: int = 128,
        layers: int = 3,
        posterior: str = "diagonal",
        **hyper: float | str,
    ) -> None:
        super().__init__(obs_dim, z_dim, hidden=hidden, layers=layers, posterior=posterior, **hyper)
        check_gl_hyper(self.hyper)
        self.prior = GeneralizedLaplacePrior(self.z_dim, self.hyper)

    def loss_terms(
        self,
        x: torch.Tensor,
        x_mean: torch.Tensor,
        mu: torch.Tensor,
        logvar: torch.Tensor,
        logdet: torch.Tensor,
        hyper: dict[str, float],
    ) -> dict[str, torch.Tensor]:
        h = hyper
        out = gaussian_slowvae_loss(
            x,
            x_mean,
            mu,
            logvar,
            obs_std=h["obs_std"],
            beta=h["beta"],
            gamma=h["gamma"],
            logdet=logdet,
            transition=self.prior.transition(self.step, h["learn_from"]),
            entropies=int(h["entropies"]),
        )
        return {**out, **self.prior.scalars()}

    def learned_values(self) -> dict[str, list[float]]:
        return self.prior.learned_values()


class MLPBetaVAE(MLPSlowVAE):
    """The control: the same network and loss with gamma = 0 (no transition prior), i.e. a
    beta-VAE on single frames (Higgins et al., ICLR 2017), as the reference's ``--betavae`` mode.
    beta defaults to 1 so that it differs from :class:`MLPSlowVAE` only by the Laplace term."""

    name = "betavae"
    paper = (
        "Higgins et al., beta-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework, ICLR 2017"
    )
    defaults: ClassVar[dict[str, float]] = {"beta": 1.0, "obs_std": 0.1}

    def __init__(
        self,
        obs_dim: int,
        z_dim: int,
        *,
        hidden: int = 128,
        layers: int = 3,
        posterior: str = "diagonal",
        **hyper: float,
    ) -> None:
        VectorPairModel.__init__(self, obs_dim, z_dim, **hyper)
        self.hyper = {**self.hyper, "gamma": 0.0, "rate": 1.0}
        self._build(hidden, layers, posterior)


class MLPContrastive(VectorPairModel):
    """Base of the contrastive vector models: a deterministic MLP encoder (``layers`` hidden layers
    of width ``hidden``), no decoder; the loss comes from the codes (2, B, z_dim) of both frames,
    through the same loss functions as the image models (:mod:`slowvae.models.pcl`,
    :mod:`slowvae.models.infonce`)."""

    has_posterior = False

    def __init__(self, obs_dim: int, z_dim: int, *, hidden: int = 128, layers: int = 3, **hyper: float) -> None:
        super().__init__(obs_dim, z_dim, **hyper)
        self.encoder = MLP(self.obs_dim, self.z_dim, hidden, layers)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes (N, z_dim) of observations (N, obs_dim)."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Loss terms for a pair batch ``x`` (2, B, obs_dim)."""
        if x.ndim != 3 or x.shape[0] != 2 or x.shape[1] < 2 or x.shape[2] != self.obs_dim:
            raise ValueError(f"expected a pair batch (2, B >= 2, {self.obs_dim}), got {tuple(x.shape)}")
        two, b = x.shape[:2]
        return self.code_loss(self.encoder(losses.flatten_pairs(x)).reshape(two, b, -1), generator)

    def code_loss(self, codes: torch.Tensor, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """Loss dict from the codes (2, B, z_dim) of the two frames."""
        raise NotImplementedError


class MLPPCL(PCLRegression, MLPContrastive):
    """PCL (Hyvarinen & Morioka, AISTATS 2017) on an MLP encoder: logistic regression of true
    against time-shuffled pairs with the learned Laplace-type score of :mod:`slowvae.models.pcl`."""

    name = "pcl"
    paper = "Hyvarinen & Morioka, Nonlinear ICA of Temporally Dependent Stationary Sources, AISTATS 2017"
    defaults: ClassVar[dict[str, float]] = {}

    def __init__(self, obs_dim: int, z_dim: int, *, hidden: int = 128, layers: int = 3, **hyper: float) -> None:
        super().__init__(obs_dim, z_dim, hidden=hidden, layers=layers, **hyper)
        self.init_regression(self.z_dim)


class MLPInfoNCE(MLPContrastive):
    """InfoNCE with an L1 similarity (Zimmermann et al., ICML 2021) on an MLP encoder: the loss of
    :func:`slowvae.models.infonce.infonce_l1`, the other first frames of the batch as negatives."""

    name = "infonce"
    paper = "Zimmermann et al., Contrastive Learning Inverts the Data Generating Process, ICML 2021"
    defaults: ClassVar[dict[str, float]] = {"tau": 1.0, "self_negative": 1.0}

    def __init__(self, obs_dim: int, z_dim: int, *, hidden: int = 128, layers: int = 3, **hyper: float) -> None:
        super().__init__(obs_dim, z_dim, hidden=hidden, layers=layers, **hyper)
        check_infonce_hyper(self.hyper)

    def code_loss(self, codes: torch.Tensor, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        return infonce_terms(codes, self.hyper)


#: name -> class of the models the identifiability experiment can train
VECTOR_MODELS: dict[str, type[VectorPairModel]] = {
    m.name: m for m in (MLPSlowVAE, MLPSlowVAEGL, MLPBetaVAE, MLPPCL, MLPInfoNCE)
}


def build_vector_model(name: str, *, obs_dim: int, z_dim: int, **options: Any) -> VectorPairModel:
    """The vector model registered as ``name`` (``slowvae``, ``betavae``, ...)."""
    try:
        cls = VECTOR_MODELS[name]
    except KeyError:
        raise SlowVAEError(f"unknown model {name!r}; known: {', '.join(sorted(VECTOR_MODELS))}") from None
    return cls(obs_dim=obs_dim, z_dim=z_dim, **options)
