"""Evaluation: checkpoint -> posterior means -> metrics -> results.json + figures.

Three steps: :func:`score_run` (encode and score, nothing written), :func:`draw_figures` and
:func:`evaluate`, which does both and writes the record through :func:`slowvae.results.write_results`.
:func:`evaluate_run` is its keyword form.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slowvae import rundir
from slowvae.codes import encode
from slowvae.config import make_pair_source, new_model
from slowvae.data.pairs import DistinctPairs, PairSource, sample_distinct_pairs
from slowvae.errors import SlowVAEError
from slowvae.hardware import images_to_tensor, resolve_device, resolve_precision, to_device, use_fast_layout
from slowvae.metrics import compute_suite, mcc, samples_needed
from slowvae.models import PairModel
from slowvae.results import Results, write_results
from slowvae.rundir import load_model, load_run_config, run_device, run_truth


def _codes(model: PairModel, images: np.ndarray, binary: bool, precision: str = "fp32") -> np.ndarray:
    """Codes float64 (N, D) of uint8 images (N, C, 64, 64) (:func:`slowvae.codes.encode` on the
    model's device, in ``precision``), as the metrics take them."""
    return encode(model, images, binary=binary, precision=precision).astype(np.float64)


def _suite(
    model: PairModel, source: PairSource, config: EvaluationConfig, precision: str, say: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, Any], int]:
    """The metric suite on fresh train and test frames (and the dataset for the sampling metrics),
    encoded in ``precision``; returns the suite's scores, its settings and the number of images it encoded."""
    dataset = getattr(source, "dataset", None)  # ground-truth sources have a factor grid
    preset = config.preset or "dlib"
    num_train, num_test = samples_needed(preset, config.metrics, overrides=config.overrides)
    rng = np.random.default_rng([config.seed, 1])
    say(f"encoding {num_train} + {num_test} frames for the {preset} suite")
    images, factors = source.sample_eval(num_train, rng)
    test_images, test_factors = source.sample_eval(num_test, rng) if num_test else (None, None)

    encoded = 0

    def encode_frames(x: np.ndarray) -> np.ndarray:
        nonlocal encoded
        encoded += len(x)
        return _codes(model, x, source.binary, precision)

    say("computing the metric suite")
    suite = compute_suite(
        encode_frames(images),
        factors,
        test_codes=None if test_images is None else encode_frames(test_images),
        test_factors=test_factors,
        dataset=dataset,
        encode=encode_frames if dataset is not None else None,
        metrics=config.metrics,
        preset=preset,
        fast=config.fast,
        rng=rng,
        overrides=config.overrides,
    )
    settings = suite.pop("settings")
    for key in ("mcc", "mcc_pearson"):  # the MCC of the main evaluation frames stays the headline
        suite.pop(key, None)
    return suite, settings, encoded


def learned_values(run_dir: Path | str) -> dict[str, list[float]]:
    """What a run's model learned besides its networks, one value per latent (slowvae-gl:
    ``learned_alpha`` and ``learned_scale``); {} for models without such values."""
    return load_model(run_dir)[0].learned_values()


def reconstructions(model: PairModel, images: np.ndarray, binary: bool) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, C, 64, 64) as float in [0, 1] and their reconstructions from the posterior
    means (Bernoulli means), both float32 (N, C, 64, 64)."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        x = images_to_tensor(images, binary, device)
        return x.cpu().numpy(), model.reconstruct(x).float().cpu().numpy()


def _sweep(model: PairModel, codes: np.ndarray, images: np.ndarray, binary: bool, ramp: np.ndarray) -> np.ndarray:
    """Decodings float32 (D, T, B, C, 64, 64): each of ``images`` (B, C, 64, 64) encoded, latent k
    set to mean_k + ramp_t * std_k of a Gaussian fitted to its values in ``codes`` (N, D), decoded."""
    device = next(model.parameters()).device
    d, t, b = codes.shape[1], len(ramp), len(images)
    mean, std = codes.mean(0), codes.std(0)
    with torch.inference_mode():
        base = to_device(torch.from_numpy(encode(model, images, binary=binary)), device)  # (B, D)
        z = base.repeat(d * t, 1).reshape(d, t, b, d)
        for k in range(d):
            z[k, :, :, k] = torch.from_numpy(mean[k] + ramp * std[k]).to(z)[:, None]
        flat = z.reshape(-1, d)
        decoded = torch.cat([model.decode(flat[i : i + 512]).float().cpu() for i in range(0, len(flat), 512)])
    return decoded.numpy().reshape(d, t, b, *decoded.shape[1:])


def traversals(model: PairModel, codes: np.ndarray, image: np.ndarray, binary: bool, steps: int = 9) -> np.ndarray:
    """Decoded traversals float32 (D, steps, C, 64, 64): row i decodes the code of ``image``
    (1, C, 64, 64) with latent i swept between the 5% and 95% quantiles of a Gaussian fitted to its
    values in ``codes`` (N, D), as the reference's traversals do."""
    return _sweep(model, codes, image[:1], binary, np.linspace(-1.645, 1.645, steps))[:, :, 0]


def traversal_sweep(
    model: PairModel, codes: np.ndarray, images: np.ndarray, binary: bool, steps: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """The looping sweep of the animated traversals: decodings float32 (D, 2 * steps - 2, B, C, 64, 64)
    of ``images`` (B, C, 64, 64) with each latent swept from the 5% to the 95% quantile and back (so
    the loop has no jump), and the position (2 * steps - 2,) in [0, 1] of each frame in the sweep."""
    ramp = np.linspace(-1.645, 1.645, steps)
    ramp = np.concatenate([ramp, ramp[-2:0:-1]])
    return _sweep(model, codes, images, binary, ramp), (ramp - ramp[0]) / (ramp[steps - 1] - ramp[0])


def encode_pairs(run_dir: Path | str, n: int, seed: int) -> DistinctPairs:
    """Posterior means (m, D) of the first and second frames of m <= n distinct pairs, drawn by a
    generator seeded independently of the training stream; ``.total``: how many distinct pairs exist
    (None: too many to count; see :func:`~slowvae.data.pairs.sample_distinct_pairs`)."""
    model, _, _, source = load_model(run_dir)
    rng = np.random.default_rng([seed, 0x5EED])
    x_t, x_next = pairs = sample_distinct_pairs(source, n, rng)
    return DistinctPairs(_codes(model, x_t, source.binary), _codes(model, x_next, source.binary), pairs.total)


@dataclass
class EvaluationConfig:
    """How a run's checkpoint is scored (what `slowvae evaluate` and a study's ``[evaluate]`` set).

    ``checkpoint``: a file name in ``RUN_DIR/checkpoints`` or a path (default ``last.pt``);
    ``num_samples`` frames drawn with ``seed`` for MCC; ``preset`` (``dlib``, ``slowvae-paper``,
    ``fast``) also runs the metric suite, ``metrics`` selects its metrics, ``fast`` picks the fast
    DCI path and ``overrides`` changes single settings (``{"dci": {"backend": "sklearn"}}``);
    ``"untrained"`` scores the run's untrained network (step 0: training starts from it, seeded by
    the run's seed). ``eval_precision`` (``auto``, ``fp32``, ``bf16``) is the precision of every encoding; ``truth``
    a ground-truth CSV for a ``frames:`` run; ``figures`` whether :func:`evaluate` draws.
    """

    checkpoint: str | None = None
    num_samples: int = 10_000
    seed: int = 0
    device: str = "auto"
    figures: bool = True
    preset: str | None = None
    metrics: list[str] | None = None
    fast: bool = False
    eval_precision: str = "auto"
    overrides: dict[str, dict[str, Any]] | None = None
    truth: Path | str | None = None


@dataclass
class Scored:
    """A scored checkpoint and what its figures are drawn from: the model, the run's source, the
    evaluation frames ``images`` uint8 (N, C, 64, 64) with their ``codes`` (N, D), the absolute
    correlations (K, D) with the latent matched to each factor (None without ground truth), and
    the ``time.perf_counter()`` at which scoring started."""

    results: Results
    model: PairModel
    source: PairSource
    images: np.ndarray
    codes: np.ndarray
    correlation: np.ndarray | None
    matched: list[int] | None
    started: float


def _mcc_scores(
    model: PairModel,
    untrained: PairModel,
    source: PairSource,
    images: np.ndarray,
    latents: np.ndarray,
    codes: np.ndarray,
    precision: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The MCC keys of the results (codes (N, D) against latents (N, K), and the untrained
    network's floor) and the full output of :func:`slowvae.metrics.mcc`."""
    names = list(source.latent_names)
    codes_untrained = _codes(untrained, images, source.binary, precision)
    scores = mcc(codes, latents)
    floor = mcc(codes_untrained, latents)
    keys = {
        "mcc": scores["mcc"],
        "mcc_pearson": scores["mcc_pearson"],
        "mcc_untrained": floor["mcc"],
        "mcc_per_factor": dict(zip(names, map(float, scores["mcc_per_factor"]))),
        "latent_for_factor": dict(zip(names, map(int, scores["mcc_dim_for_factor"]))),
        # |Spearman| (D, K) of every latent with every factor: the structure at this step, kept
        # because a study keeps no step checkpoints to draw it from later
        "mcc_abs_corr": np.asarray(scores["mcc_abs_corr"], dtype=float).tolist(),
    }
    return keys, scores


#: ``EvaluationConfig.checkpoint`` naming the run's untrained network (step 0), which needs no checkpoint file
UNTRAINED = "untrained"


def _load(run_dir: Path | str, config: EvaluationConfig) -> tuple[PairModel, Any, int, PairSource]:
    """The model to score (the checkpoint's, or the untrained network for :data:`UNTRAINED`), the
    run's TrainConfig, the step and the run's PairSource."""
    if config.checkpoint != UNTRAINED:
        return load_model(run_dir, config.checkpoint, config.device, config.truth)
    train_config = load_run_config(run_dir)
    source = make_pair_source(train_config, truth=run_truth(run_dir, config.truth))
    model = new_model(train_config, source.channels).to(resolve_device(config.device)).eval()
    return model, train_config, 0, source


def score_run(run_dir: Path | str, config: EvaluationConfig, progress: Callable[[str], None] | None = None) -> Scored:
    """Score a run's checkpoint (MCC on ``config.num_samples`` frames, the untrained network's MCC
    as the floor, the suite with ``config.preset``); draws and writes nothing."""
    say = progress or (lambda _msg: None)
    start = time.perf_counter()
    config = dataclasses.replace(config, device=run_device(run_dir, config.device))  # auto: where it trained
    precision = resolve_precision(config.eval_precision, config.device)
    model, train_config, step, source = _load(run_dir, config)
    has_truth = len(source.latent_names) > 0
    if config.preset is not None and not has_truth:
        raise SlowVAEError("the metric suite (--preset) needs ground truth: pass --truth FILE.csv")
    untrained = new_model(train_config, source.channels).to(next(model.parameters()).device).eval()
    for net in (model, untrained):
        use_fast_layout(net, next(model.parameters()).device)
    timing: dict[str, dict[str, Any]] = {"load": {"seconds": time.perf_counter() - start}}
    clock = time.perf_counter()
    images, latents = source.sample_eval(config.num_samples, np.random.default_rng(config.seed))
    num_samples = len(images)  # frames without ground truth: at most their distinct frames
    say(f"encoding {num_samples} frames")
    codes = _codes(model, images, source.binary, precision)
    if not np.all(np.isfinite(codes)):
        raise SlowVAEError("the model produced NaN or infinite codes; the checkpoint is broken")
    settings: dict[str, Any] = {
        "dataset": train_config.dataset,
        "num_samples": num_samples,
        "seed": config.seed,
        "representation": "posterior mean" if model.decoder is not None else "encoder output",
        "eval_precision": precision,
    }
    correlation, matched = None, None
    if has_truth:
        say("computing MCC")
        scores, full = _mcc_scores(model, untrained, source, images, latents, codes, precision)
        correlation, matched = np.asarray(full["mcc_abs_corr"]), list(full["mcc_dim_for_factor"])
        settings["mcc"] = {"correlation": "spearman", "matching": "rectangular Hungarian, no padding"}
    else:
        scores = {"mcc": None, "mcc_note": _NO_TRUTH}
    scores.update(model.learned_values())  # slowvae-gl: learned_alpha, learned_scale (one per latent)
    timing["mcc"] = {"seconds": time.perf_counter() - clock, "images": (2 if has_truth else 1) * num_samples}
    if config.preset is not None:
        clock = time.perf_counter()
        suite, settings["suite"], encoded = _suite(model, source, config, precision, say)
        scores.update(suite)
        timing["suite"] = {"seconds": time.perf_counter() - clock, "images": encoded}
    results = Results(
        step=step,
        checkpoint=str(config.checkpoint or rundir.LAST_CHECKPOINT),
        scores=scores,
        settings=settings,
        timing=timing,
        seconds=round(time.perf_counter() - start, 2),
    )
    return Scored(results, model, source, images, codes, correlation, matched, start)


_NO_TRUTH = "MCC needs ground truth: pass --truth FILE.csv (columns sequence, frame, then one per latent)"


def draw_figures(run_dir: Path | str, scored: Scored) -> list[str]:
    """Draw ``RUN_DIR/figures``: correlation.png (with ground truth), reconstructions.png,
    traversals.png and one animated traversal ``traversals/z<k>.gif`` per latent (models with a
    decoder). Returns every figure's path relative to ``run_dir``, sorted."""
    from slowvae import viz

    run_dir = Path(run_dir)
    model, source, images, codes = scored.model, scored.source, scored.images, scored.codes
    fig_dir = run_dir / "figures"
    if scored.correlation is not None:
        viz.save_correlation_matrix(
            scored.correlation, list(source.latent_names), fig_dir / "correlation.png", matched=scored.matched
        )
    if model.decoder is not None:  # contrastive models have no decoder to draw with
        originals, recon = reconstructions(model, images[:8], source.binary)
        viz.save_reconstructions(originals, recon, fig_dir / "reconstructions.png")
        viz.save_traversals(
            traversals(model, codes, images[:1], source.binary), codes.std(0), fig_dir / "traversals.png"
        )
        viz.save_traversal_gifs(*traversal_sweep(model, codes, images[:3], source.binary), fig_dir / "traversals")
    return sorted(str(p.relative_to(run_dir)) for p in fig_dir.rglob("*") if p.suffix in (".png", ".gif"))


def _rounded(timing: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {phase: {k: round(v, 3) if isinstance(v, float) else v for k, v in t.items()} for phase, t in timing.items()}


def evaluate(
    run_dir: Path | str,
    config: EvaluationConfig,
    *,
    out: Path | str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Results:
    """Score a run (:func:`score_run`), draw its figures (:func:`draw_figures`, with
    ``config.figures``) and write the record to ``out`` (default ``RUN_DIR/results.json``)."""
    run_dir = Path(run_dir)
    scored = score_run(run_dir, config, progress)
    results = scored.results
    if config.figures:
        clock = time.perf_counter()
        (progress or (lambda _msg: None))("drawing figures")
        results.figures = draw_figures(run_dir, scored)
        results.timing = {
            **(results.timing or {}),
            "figures": {"seconds": time.perf_counter() - clock, "files": len(results.figures)},
        }
    results.timing = _rounded(results.timing or {})
    results.seconds = round(time.perf_counter() - scored.started, 2)
    write_results(Path(out) if out else run_dir / rundir.RESULTS_FILE, results)
    return results


def evaluate_run(
    run_dir: Path | str,
    *,
    checkpoint: str | None = None,
    num_samples: int = 10_000,
    seed: int = 0,
    device: str = "auto",
    figures: bool = True,
    preset: str | None = None,
    metrics: list[str] | None = None,
    fast: bool = False,
    eval_precision: str = "auto",
    overrides: dict[str, dict[str, Any]] | None = None,
    out: Path | str | None = None,
    progress: Callable[[str], None] | None = None,
    truth: Path | str | None = None,
) -> dict[str, Any]:
    """Score a run's posterior means and write ``results.json`` and figures; returns the record's JSON form.

    The keyword form of :func:`evaluate` (see :class:`EvaluationConfig` for each keyword). MCC is
    the mean absolute Spearman correlation after Hungarian matching (docs/metrics.md), computed on
    ``num_samples`` frames drawn with ``seed``; the same frames are also encoded by the run's
    untrained network (``mcc_untrained``) as the floor to compare with. The suite's flat keys
    join the results; the resolved precision is saved as ``settings.eval_precision``; ``timing``
    holds the seconds of each phase (``load``, ``mcc``, ``suite``, ``figures``) with the images
    encoded (``figures``: the files drawn). Results go to ``out`` (default ``RUN_DIR/results.json``).

    A ``frames:`` run is scored against ``truth`` (a CSV; default: the run's saved
    ``truth.csv``); without ground truth ``mcc`` is None, ``mcc_note`` says why, and only the
    reconstructions and traversals are drawn.
    """
    config = EvaluationConfig(
        checkpoint=checkpoint,
        num_samples=num_samples,
        seed=seed,
        device=device,
        figures=figures,
        preset=preset,
        metrics=metrics,
        fast=fast,
        eval_precision=eval_precision,
        overrides=overrides,
        truth=truth,
    )
    return evaluate(run_dir, config, out=out, progress=progress).to_dict()
