"""The identifiability experiment: does a model recover the true latents of sparse transitions?

Klindt et al. (ICLR 2021, §3) prove that SlowVAE recovers the factors up to permutation and sign
when transitions are factorised generalized Laplace with alpha < 2 and the mixing is injective;
alpha = 2 (Gaussian) is rotation invariant and not identifiable. This module runs the controlled
test the nonlinear-ICA papers use (TCL, PCL, SlowVAE's appendix): for each model, alpha and seed,
draw a mixing (:mod:`slowvae.data.synthetic`), train on fresh pairs with Adam, and score the
posterior means against the true latents with MCC (``mcc``: Spearman, and ``mcc_pearson``, after
Hungarian matching, as everywhere in slowvae). No argument parsing and no printing here: progress
goes to a callback.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing as mp
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slowvae.codes import encode
from slowvae.data.synthetic import MIXINGS, SyntheticPairs, gennorm_std
from slowvae.errors import SlowVAEError
from slowvae.metrics import mcc
from slowvae.models.mlp import POSTERIORS, VECTOR_MODELS, build_vector_model
from slowvae.train import NonFiniteLoss, training_step

#: the keys every record has, in order
RECORD_KEYS = ("model", "alpha", "seed", "mcc_pearson", "mcc")
#: the MCC results a record holds, each summarised over seeds as {"mean", "std"}
MCC_KEYS = ("mcc_pearson", "mcc")
#: hyperparameters this experiment uses in place of the models' defaults (the image defaults are
#: the reference's; docs/benchmarks/identifiability.md records why gamma is 30 here)
EXPERIMENT_HYPER: dict[str, dict[str, float]] = {"slowvae": {"gamma": 30.0}, "slowvae-gl": {"gamma": 30.0}}


@dataclass
class IdentifiabilityConfig:
    """One experiment: every model x alpha x seed.

    Data: ``dim`` latents moved by generalized-Laplace steps of shape alpha, mixed by ``mixing``
    (``linear`` or ``mlp`` with ``layers`` layers). The steps' scale is either the rate
    ``data_rate`` (lambda, the same for every alpha) or ``step_std`` (the steps' standard
    deviation, the same for every alpha; lambda follows from alpha); neither given means
    ``step_std = 1``.
    Models: ``models`` names from :data:`slowvae.models.mlp.VECTOR_MODELS`; ``hyper`` maps a model
    name to hyperparameter overrides (e.g. ``{"slowvae": {"gamma": 1.0}}``); ``match_rate`` sets
    a model's Laplace ``rate`` to that of the Laplace with the data steps' standard deviation,
    sqrt(2) / std (= lambda at alpha = 1), unless ``hyper`` gives one; a learned prior
    (``slowvae-gl``) is held at that Laplace for the first half of training (``learn_from`` =
    steps / 2) unless ``hyper`` says otherwise. The networks have
    ``layers + 1`` hidden layers of width ``hidden`` (one more than the mixing) and a
    ``posterior`` that is ``"full"`` covariance (default) or ``"diagonal"`` (the reference's; see
    :class:`slowvae.models.mlp.MLPSlowVAE` for why the experiment defaults to full). Unless
    ``hyper`` says otherwise, models take :data:`EXPERIMENT_HYPER`.
    Training: ``steps`` Adam steps (``lr``, cosine-annealed to 0 when ``cosine``) on
    ``batch_pairs`` fresh pairs each. A model with a decoder std ``obs_std`` keeps it for the first
    half of training, then lowers it geometrically to ``final_obs_std`` between 50% and 90% of the
    steps (None: constant): the large early noise lets the Laplace term find the axes quickly,
    the small late noise stops it from blurring them (:func:`obs_std_at`). MCC on
    ``eval_samples`` fresh frames z ~ N(0, I). Seeds are ``1 .. seeds``: a seed fixes the mixing,
    the training data, the initialisation and the evaluation data (shared by models and alphas).
    ``restarts`` > 1 trains that many networks per seed on the same data from different
    initialisations (restart 0 is the single run's) and keeps the one with the lowest loss on
    held-out pairs (:func:`heldout_loss`): a choice without labels.
    """

    alphas: Sequence[float] = (0.5, 1.0, 2.0)
    dim: int = 5
    mixing: str = "mlp"
    layers: int = 3
    seeds: int = 3
    models: Sequence[str] = ("slowvae",)
    data_rate: float | None = None
    step_std: float | None = None
    hyper: dict[str, dict[str, float]] = field(default_factory=dict)
    match_rate: bool = True
    steps: int = 16_000
    batch_pairs: int = 256
    lr: float = 3e-3
    cosine: bool = True
    final_obs_std: float | None = 0.01
    hidden: int = 64
    posterior: str = "full"
    eval_samples: int = 10_000
    restarts: int = 1

    def validate(self) -> None:
        """Raise :class:`SlowVAEError` on a setting that cannot run."""
        if not self.alphas:
            raise SlowVAEError("give at least one alpha")
        if any(not a > 0 for a in self.alphas):
            raise SlowVAEError(f"every alpha must be positive, got {list(self.alphas)}")
        if not 2 <= self.dim <= 100:
            raise SlowVAEError(f"dim must be between 2 and 100, got {self.dim}")
        if self.mixing not in MIXINGS:
            raise SlowVAEError(f"mixing must be one of {', '.join(MIXINGS)}, got {self.mixing!r}")
        if min(self.layers, self.seeds, self.steps, self.batch_pairs, self.hidden, self.restarts) < 1:
            raise SlowVAEError("layers, seeds, steps, batch_pairs, hidden and restarts must be at least 1")
        if self.posterior not in POSTERIORS:
            raise SlowVAEError(f"posterior must be one of {', '.join(POSTERIORS)}, got {self.posterior!r}")
        if self.eval_samples < 3:
            raise SlowVAEError(f"eval_samples must be at least 3, got {self.eval_samples}")
        if self.data_rate is not None and self.step_std is not None:
            raise SlowVAEError("give data_rate or step_std, not both")
        for name in ("data_rate", "step_std", "lr", "final_obs_std"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise SlowVAEError(f"{name} must be positive, got {value}")
        unknown = [m for m in self.models if m not in VECTOR_MODELS]
        if unknown or not self.models:
            raise SlowVAEError(
                f"unknown model {', '.join(unknown) or '(none)'}; known: {', '.join(sorted(VECTOR_MODELS))}"
            )
        for name, overrides in self.hyper.items():
            if name not in self.models:
                continue
            bad = set(overrides) - set(VECTOR_MODELS[name].defaults)
            if bad:
                raise SlowVAEError(
                    f"model {name!r} has no hyperparameter {', '.join(sorted(bad))}; "
                    f"it takes {', '.join(sorted(VECTOR_MODELS[name].defaults))}"
                )

    def rate_for(self, alpha: float) -> float:
        """The data's transition rate lambda at ``alpha``."""
        if self.data_rate is not None:
            return float(self.data_rate)
        std = 1.0 if self.step_std is None else float(self.step_std)
        return gennorm_std(alpha, 1.0) / std

    def model_hyper(self, name: str, alpha: float) -> dict[str, float]:
        """The hyperparameter overrides model ``name`` is built with at ``alpha``."""
        out = {**EXPERIMENT_HYPER.get(name, {}), **self.hyper.get(name, {})}
        if self.match_rate and "rate" in VECTOR_MODELS[name].defaults:
            out.setdefault("rate", math.sqrt(2.0) / gennorm_std(alpha, self.rate_for(alpha)))
        if "learn_from" in VECTOR_MODELS[name].defaults:
            out.setdefault("learn_from", float(self.steps // 2))
        return out


def obs_std_at(step: int, steps: int, start: float, final: float | None) -> float:
    """The decoder std at ``step`` (1-based) of ``steps``: ``start`` up to half of training,
    then geometric to ``final`` at 90%, ``final`` after (``start`` throughout when final is None)."""
    if final is None:
        return start
    frac = min(1.0, max(0.0, (step / steps - 0.5) / 0.4))
    return start * (final / start) ** frac


def continuous_mcc(codes: np.ndarray, latents: np.ndarray) -> dict[str, float]:
    """MCC of codes (N, D) against continuous true latents (N, K), D >= K, after Hungarian
    matching (:func:`slowvae.metrics.mcc`): ``mcc`` (Spearman) and ``mcc_pearson``."""
    scores = mcc(codes, latents)
    return {"mcc_pearson": scores["mcc_pearson"], "mcc": scores["mcc"]}


def read_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record as this version writes it: one written before MCC had one name holds
    ``mcc_spearman``, read as ``mcc`` (in its ``restarts`` too)."""
    out = {("mcc" if k == "mcc_spearman" else k): v for k, v in record.items()}
    if "restarts" in out:
        out["restarts"] = [read_record(r) for r in out["restarts"]]
    return out


def _seed_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    """(mixing, training data, evaluation) generators of a seed; independent of model and alpha."""
    root = np.random.SeedSequence([int(seed), 0x51_0E])
    mix, data, evaluation = root.spawn(3)
    return np.random.default_rng(mix), np.random.default_rng(data), np.random.default_rng(evaluation)


#: held-out pairs that score the restarts of one seed (batches x pairs, drawn from the seed's own stream)
HELDOUT_BATCHES, HELDOUT_PAIRS = 8, 1024


def run_one(
    config: IdentifiabilityConfig,
    model_name: str,
    alpha: float,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train ``model_name`` on one alpha and seed; return its record (``RECORD_KEYS`` first).

    The record also holds the setting (dim, mixing, layers, data_rate, steps, ...), the model's
    hyperparameters, what it learned besides its networks (``learned_alpha`` and
    ``learned_scale`` of ``slowvae-gl``), the final loss terms and the wall time in seconds.
    With ``config.restarts`` > 1 it holds the kept restart's scores and ``restarts``: per restart
    its held-out loss and MCC (the MCC is never used to choose).
    """
    start = time.perf_counter()
    trained = [_train(config, model_name, alpha, seed, r, progress) for r in range(config.restarts)]
    source, _, _ = trained[0]
    eval_rng = _seed_streams(seed)[2]
    x, z = source.sample_eval(config.eval_samples, eval_rng)
    scores = [continuous_mcc(_encode(model, x), z) for _, model, _ in trained]
    keep = 0
    restarts = None
    if config.restarts > 1:
        losses = [heldout_loss(model, source, seed, config) for _, model, _ in trained]
        keep = int(np.argmin(losses))
        restarts = [{"restart": r, "heldout_loss": losses[r], **scores[r]} for r in range(config.restarts)]
    _, model, terms = trained[keep]
    hyper = dict(model.hyper)
    record = {"model": model_name, "alpha": float(alpha), "seed": int(seed), **scores[keep]}
    record.update(
        dim=config.dim,
        mixing=config.mixing,
        layers=config.layers,
        data_rate=source.rate,
        transition_std=source.transition_std,
        steps=config.steps,
        batch_pairs=config.batch_pairs,
        lr=config.lr,
        cosine=config.cosine,
        posterior=config.posterior if VECTOR_MODELS[model_name].has_posterior else None,
        final_obs_std=config.final_obs_std if "obs_std" in hyper else None,
        hidden=config.hidden,
        hyper=hyper,
        **model.learned_values(),
        final=terms,
        seconds=round(time.perf_counter() - start, 2),
    )
    if restarts is not None:
        record.update(restarts=restarts, kept_restart=keep)
    if progress:
        progress(
            f"{model_name} alpha={alpha:g} seed={seed}: MCC {record['mcc']:.3f} "
            f"(Pearson {record['mcc_pearson']:.3f}) ({record['seconds']:.0f} s)"
            + (f"; kept restart {keep} of {config.restarts} by held-out loss" if restarts else "")
        )
    return record


def _train(
    config: IdentifiabilityConfig,
    model_name: str,
    alpha: float,
    seed: int,
    restart: int,
    progress: Callable[[str], None] | None,
) -> tuple[SyntheticPairs, torch.nn.Module, dict[str, float]]:
    """(data source, trained model in eval mode, last logged loss terms) of one restart: the
    seed's mixing and training data, an initialisation and noise of its own (restart 0: the seed's)."""
    mix_rng, data_rng, _ = _seed_streams(seed)
    source = SyntheticPairs(config.dim, alpha, config.rate_for(alpha), config.mixing, config.layers, rng=mix_rng)
    init_seed = seed if restart == 0 else int(np.random.SeedSequence([seed, restart]).generate_state(1)[0])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        model = build_vector_model(
            model_name,
            obs_dim=source.obs_dim,
            z_dim=config.dim,
            hidden=config.hidden,
            layers=config.layers + 1,
            **config.model_hyper(model_name, alpha),
            **({"posterior": config.posterior} if VECTOR_MODELS[model_name].has_posterior else {}),
        )
    noise = torch.Generator().manual_seed(init_seed)
    hyper = dict(model.hyper)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps) if config.cosine else None
    every = max(1, config.steps // 10)
    name = f"{model_name} alpha={alpha:g} seed={seed}" + (f" restart {restart}" if config.restarts > 1 else "")
    terms: dict[str, float] = {}
    model.train()
    for step in range(1, config.steps + 1):
        model.step = step - 1  # steps already taken, for models with a schedule (slowvae-gl's learn_from)
        # the decoder std follows its schedule; it is passed to the loss, the model's hyper stays fixed
        scheduled = (
            {"obs_std": obs_std_at(step, config.steps, hyper["obs_std"], config.final_obs_std)}
            if "obs_std" in hyper
            else {}
        )
        x0, x1, _, _ = source.sample_pairs(config.batch_pairs, data_rng)
        try:
            out = training_step(model, opt, torch.from_numpy(np.stack([x0, x1])), noise, **scheduled)
        except NonFiniteLoss:
            raise SlowVAEError(f"{name}: loss is not finite at step {step}; lower the learning rate") from None
        if schedule is not None:
            schedule.step()
        if step % every == 0 or step == config.steps:
            terms = {k: float(v.detach()) for k, v in out.items()}
            if progress:
                progress(f"{name}: step {step}/{config.steps} " + " ".join(f"{k}={v:.4g}" for k, v in terms.items()))
    model.eval()
    return source, model, terms


def _encode(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """Posterior means float32 (N, dim) of observations ``x`` (N, obs_dim), in float32 on the CPU."""
    return encode(model, x, binary=False, device="cpu", precision="fp32", batch_size=4096)


def heldout_loss(model: torch.nn.Module, source: SyntheticPairs, seed: int, config: IdentifiabilityConfig) -> float:
    """The training loss (at the decoder std of the last step) averaged over
    ``HELDOUT_BATCHES`` x ``HELDOUT_PAIRS`` pairs that training never saw, with the posterior
    noise fixed: the same pairs and noise for every restart of ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x51_0E, 1]))
    noise = torch.Generator().manual_seed(int(seed))
    extra = (
        {"obs_std": obs_std_at(config.steps, config.steps, model.hyper["obs_std"], config.final_obs_std)}
        if "obs_std" in model.hyper
        else {}
    )
    total = 0.0
    with torch.inference_mode():
        for _ in range(HELDOUT_BATCHES):
            x0, x1, _, _ = source.sample_pairs(HELDOUT_PAIRS, rng)
            total += float(model(torch.from_numpy(np.stack([x0, x1])), noise, **extra)["loss"])
    return total / HELDOUT_BATCHES


def run_experiment(
    config: IdentifiabilityConfig,
    progress: Callable[[str], None] | None = None,
    workers: int = 1,
    done: Sequence[dict[str, Any]] = (),
    on_record: Callable[[list[dict[str, Any]]], None] | None = None,
) -> list[dict[str, Any]]:
    """Every model x alpha x seed of ``config``, in that order; a list of records (see :func:`run_one`).

    ``done``: records of an earlier, interrupted run of the same config; their settings are not
    trained again. ``on_record`` is called with the records so far (in order) after each
    setting finishes, e.g. to save them. ``workers > 1`` trains that many settings at once, each
    in its own process with one torch thread; the records are the same as in one process (every
    run seeds itself). Workers print their progress to standard error when ``progress`` is
    given, instead of calling it.
    """
    config.validate()
    if workers < 1:
        raise SlowVAEError(f"workers must be at least 1, got {workers}")
    finished = {(r["model"], float(r["alpha"]), int(r["seed"])): read_record(r) for r in done}
    tasks = [
        (name, float(alpha), seed)
        for name in config.models
        for alpha in config.alphas
        for seed in range(1, config.seeds + 1)
    ]
    todo = [task for task in tasks if task not in finished]

    def collect(results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        for record in results:
            finished[record["model"], record["alpha"], record["seed"]] = record
            if on_record is not None:
                on_record([finished[t] for t in tasks if t in finished])
        return [finished[t] for t in tasks]

    if workers == 1 or len(todo) <= 1:
        return collect(run_one(config, *task, progress) for task in todo)
    with mp.get_context("spawn").Pool(min(workers, len(todo))) as pool:
        return collect(pool.imap(_run_in_worker, [(config, *task, progress is not None) for task in todo]))


def _run_in_worker(task: tuple[IdentifiabilityConfig, str, float, int, bool]) -> dict[str, Any]:
    """:func:`run_one` in a worker process of :func:`run_experiment`."""
    config, name, alpha, seed, verbose = task
    torch.set_num_threads(1)
    return run_one(config, name, alpha, seed, _print_to_stderr if verbose else None)


def _print_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def summarise(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (model, alpha) over its seeds: keys model, alpha, n, and for ``mcc`` and ``mcc_pearson``
    ``{"mean", "std"}`` (the sample std; None for one seed). Old records read as :func:`read_record`."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for r in map(read_record, records):
        groups.setdefault((r["model"], float(r["alpha"])), []).append(r)
    out = []
    for (name, alpha), rs in groups.items():
        row: dict[str, Any] = {"model": name, "alpha": alpha, "n": len(rs)}
        for key in MCC_KEYS:
            v = np.array([r[key] for r in rs])
            row[key] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else None}
        out.append(row)
    return out


def _cell(stat: dict[str, float | None]) -> str:
    """``mean ± std``, or the mean alone where there is no spread (one seed)."""
    return f"{stat['mean']:.3f}" if stat["std"] is None else f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def markdown_table(records: Sequence[dict[str, Any]]) -> str:
    """A markdown table of MCC (mean ± std over seeds) per model and alpha."""
    lines = ["| model | alpha | seeds | MCC Pearson | MCC (Spearman) |", "|---|---:|---:|---:|---:|"]
    for row in summarise(records):
        lines.append(
            f"| {row['model']} | {row['alpha']:g} | {row['n']} | {_cell(row['mcc_pearson'])} | {_cell(row['mcc'])} |"
        )
    return "\n".join(lines) + "\n"


def plot_mcc(records: Sequence[dict[str, Any]], path: str | Path, title: str | None = None) -> Path:
    """Write a PNG of MCC against alpha, one line per model (mean ± std, seeds as dots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    rows, records = summarise(records), [read_record(r) for r in records]
    for ax, key, label in zip(axes, ("mcc_pearson", "mcc"), ("Pearson", "Spearman")):
        for i, name in enumerate(dict.fromkeys(r["model"] for r in rows)):
            mine = sorted((r for r in rows if r["model"] == name), key=lambda r: r["alpha"])
            a = np.array([r["alpha"] for r in mine])
            m = np.array([r[key]["mean"] for r in mine])
            s = np.array([r[key]["std"] or 0.0 for r in mine])  # no bar for one seed
            line = ax.errorbar(a, m, yerr=s, marker="o", capsize=3, label=name)[0]
            pts = [(r["alpha"], r[key]) for r in records if r["model"] == name]
            ax.scatter(
                [p[0] + 0.03 * (i + 1) for p in pts], [p[1] for p in pts], s=10, alpha=0.5, color=line.get_color()
            )
        ax.axvline(2.0, color="0.7", ls=":", lw=1)
        ax.set_xlabel("alpha of the transition (2 = Gaussian)")
        ax.set_title(f"MCC ({label})")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("MCC after Hungarian matching")
    axes[0].legend()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def config_dict(config: IdentifiabilityConfig) -> dict[str, Any]:
    """The config as plain JSON-ready values; ``restarts`` only when above 1, so records written
    before restarts existed still match their setting."""
    out = dataclasses.asdict(config)
    out["alphas"] = [float(a) for a in config.alphas]
    out["models"] = list(config.models)
    if config.restarts == 1:
        del out["restarts"]
    return out
