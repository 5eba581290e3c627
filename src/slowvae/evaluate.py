"""Evaluation: checkpoint -> posterior means -> metrics -> results.json + figures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from slowvae import rundir
from slowvae.data.pairs import PairSource
from slowvae.errors import SlowVAEError
from slowvae.metrics import compute_suite, mcc, samples_needed
from slowvae.models import PairModel
from slowvae.train import TrainConfig, load_run_config, make_pair_source, new_model, resolve_device


def run_truth(run_dir: Path | str, truth: Path | str | None = None) -> Path | None:
    """The ground-truth CSV to score a ``frames:`` run with: ``truth`` if given, else the
    ``truth.csv`` saved in the run by ``train --truth``, else None."""
    saved = Path(run_dir) / rundir.TRUTH_FILE
    return Path(truth) if truth is not None else saved if saved.is_file() else None


def load_model(
    run_dir: Path | str, checkpoint: str | None = None, device: str = "cpu", truth: Path | str | None = None
) -> tuple[PairModel, TrainConfig, int, PairSource]:
    """The trained model of a run (``checkpoints/last.pt`` or the named checkpoint file), its
    config, the step it was saved at and the run's PairSource (with ground truth ``truth`` for
    ``frames:`` data, see :func:`run_truth`). The model is in eval mode."""
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    source = make_pair_source(config, truth=run_truth(run_dir, truth))
    path = run_dir / rundir.CHECKPOINT_DIR / (checkpoint or rundir.LAST_CHECKPOINT)
    if checkpoint and Path(checkpoint).is_file():
        path = Path(checkpoint)
    ckpt = rundir.load_checkpoint(path)
    model = new_model(config, source.channels)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise SlowVAEError(f"{path} does not fit the run's model {config.model!r}: {err}") from None
    return model.to(resolve_device(device)).eval(), config, int(ckpt.get("step", -1)), source


def encode_images(
    model: PairModel, images: np.ndarray, binary: bool, *, batch_size: int = 1024
) -> np.ndarray:
    """Posterior means (N, D) float64 of uint8 images (N, C, 64, 64), in batches under inference mode."""
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(images[start : start + batch_size]).to(device).float()
            if not binary:
                x = x / 255
            out.append(model.encode(x).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.z_dim))


def _suite(
    model: PairModel, source: PairSource, *, preset: str, metrics: list[str] | None, fast: bool, seed: int,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """The metric suite on fresh train and test frames (and the dataset for the sampling metrics)."""
    dataset = getattr(source, "dataset", None)  # ground-truth sources have a factor grid
    num_train, num_test = samples_needed(preset, metrics)
    rng = np.random.default_rng([seed, 1])
    say(f"encoding {num_train} + {num_test} frames for the {preset} suite")
    images, factors = source.sample_eval(num_train, rng)
    test_images, test_factors = source.sample_eval(num_test, rng) if num_test else (None, None)

    def encode(x: np.ndarray) -> np.ndarray:
        return encode_images(model, x, source.binary)

    say("computing the metric suite")
    suite = compute_suite(
        encode(images), factors,
        test_codes=None if test_images is None else encode(test_images), test_factors=test_factors,
        dataset=dataset, encode=encode if dataset is not None else None,
        metrics=metrics, preset=preset, fast=fast, rng=rng,
    )
    suite["settings_suite"] = suite.pop("settings")
    for key in ("mcc", "mcc_pearson"):  # the MCC of the main evaluation frames stays the headline
        suite.pop(key, None)
    return suite


def encode_pairs(run_dir: Path | str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means (n, D) of the first and second frames of ``n`` held-out pairs.

    Held out: the pairs come from a generator seeded independently of the training stream.
    """
    model, _, _, source = load_model(run_dir)
    rng = np.random.default_rng([seed, 0x5EED])
    x_t, x_next, _, _ = source.sample_pairs(n, rng)
    return encode_images(model, x_t, source.binary), encode_images(model, x_next, source.binary)


def evaluate_run(
    run_dir: Path | str,
    *,
    checkpoint: str | None = None,
    num_samples: int = 10_000,
    seed: int = 0,
    device: str = "cpu",
    figures: bool = True,
    preset: str | None = None,
    metrics: list[str] | None = None,
    fast: bool = False,
    out: Path | str | None = None,
    progress: Callable[[str], None] | None = None,
    truth: Path | str | None = None,
) -> dict[str, Any]:
    """Score a run's posterior means and write ``results.json`` and figures.

    MCC is the mean absolute Spearman correlation after Hungarian matching (slowvae.md §4),
    computed on ``num_samples`` frames drawn with ``seed``; the same frames are also encoded by
    the run's untrained network (``mcc_untrained``) as the floor to compare with. With ``preset``
    (``dlib``, ``slowvae-paper``, ``fast``) the metric suite runs too, on as many train and test
    frames as the preset needs (``metrics`` selects; ``fast`` picks the fast DCI path); its
    flat keys join the results. Results go to ``out`` (default ``RUN_DIR/results.json``).

    A ``frames:`` run is scored against ``truth`` (a CSV; default: the run's saved
    ``truth.csv``); without ground truth ``mcc`` is None, ``mcc_note`` says why, and only the
    reconstructions and traversals are drawn.
    """
    say = progress or (lambda _msg: None)
    run_dir = Path(run_dir)
    start = time.perf_counter()
    model, config, step, source = load_model(run_dir, checkpoint, device, truth)
    has_truth = len(source.latent_names) > 0
    if preset is not None and not has_truth:
        raise SlowVAEError("the metric suite (--preset) needs ground truth: pass --truth FILE.csv")
    rng = np.random.default_rng(seed)
    say(f"encoding {num_samples} frames")
    images, latents = source.sample_eval(num_samples, rng)
    codes = encode_images(model, images, source.binary)
    if not np.all(np.isfinite(codes)):
        raise SlowVAEError("the model produced NaN or infinite codes; the checkpoint is broken")
    results: dict[str, Any] = {
        "step": step,
        "checkpoint": str(checkpoint or rundir.LAST_CHECKPOINT),
        "settings": {
            "dataset": config.dataset,
            "num_samples": num_samples,
            "seed": seed,
            "representation": "posterior mean" if model.decoder is not None else "encoder output",
        },
    }
    names = list(source.latent_names)
    if has_truth:
        untrained = new_model(config, source.channels).to(next(model.parameters()).device).eval()
        codes_untrained = encode_images(untrained, images, source.binary)
        say("computing MCC")
        scores = mcc(codes, latents)
        floor = mcc(codes_untrained, latents)
        results = {
            "mcc": scores["mcc"],
            "mcc_pearson": scores["mcc_pearson"],
            "mcc_untrained": floor["mcc"],
            "mcc_per_factor": dict(zip(names, map(float, scores["mcc_per_factor"]))),
            "latent_for_factor": dict(zip(names, map(int, scores["mcc_dim_for_factor"]))),
            **results,
        }
        results["settings"]["mcc"] = {"correlation": "spearman", "matching": "rectangular Hungarian, no padding"}
    else:
        results = {"mcc": None, "mcc_note": "MCC needs ground truth: pass --truth FILE.csv (columns sequence, "
                   "frame, then one per latent)", **results}
    if figures:
        say("drawing figures")
        from slowvae import viz

        fig_dir = run_dir / "figures"
        if has_truth:
            viz.save_correlation_matrix(
                np.asarray(scores["mcc_abs_corr"]), names, fig_dir / "correlation.png", matched=scores["mcc_dim_for_factor"]
            )
        if model.decoder is not None:  # contrastive models have no decoder to draw with
            viz.save_reconstructions(model, images[:8], source.binary, fig_dir / "reconstructions.png")
            viz.save_traversals(model, codes, images[:1], source.binary, fig_dir / "traversals.png")
        results["figures"] = sorted(str(p.relative_to(run_dir)) for p in fig_dir.glob("*.png"))
    if preset is not None:
        results.update(_suite(model, source, preset=preset, metrics=metrics, fast=fast, seed=seed, say=say))
        results["settings"]["suite"] = results.pop("settings_suite")
    results["seconds"] = round(time.perf_counter() - start, 2)
    rundir.atomic_write_json(Path(out) if out else run_dir / rundir.RESULTS_FILE, results)
    return results
