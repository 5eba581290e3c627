"""UDR over a study: score each run against the other seeds of its setting, select settings.

Within each group of finished runs that share every setting but the seed, every model encodes
the same 10,000 frames (drawn with seed 0 from the group's dataset); their posterior means and
mean per-latent KLs go to :func:`slowvae.metrics.udr`, and each run's score is written into its
results.json as ``udr`` (with ``udr_settings``). Contrastive models have no posterior and no KL:
they are left out with a note.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from slowvae import rundir
from slowvae.errors import SlowVAEError
from slowvae.results import FINISHED, Results, read_results, write_results
from slowvae.study.core import open_study, run_dir, run_state

UDR_FRAMES = 10_000
UDR_SEED = 0


def _posterior(model: Any, images: np.ndarray, binary: bool, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means (N, D) and the mean KL of each latent to N(0, I) (D,) over the uint8 images
    (N, C, 64, 64), encoded in float32 where the model is (:func:`slowvae.codes.encode`)."""
    from slowvae.codes import encode

    mu, logvar = encode(model, images, binary=binary, batch_size=batch_size, posterior=True)
    mu, logvar = mu.astype(np.float64), logvar.astype(np.float64)
    kl = 0.5 * (mu**2 + np.exp(logvar) - logvar - 1)  # KL(N(mu, s^2) || N(0, 1)) per frame and latent
    return mu, kl.mean(0)


def compute_study_udr(
    study_dir: Path | str,
    *,
    force: bool = False,
    correlation: str = "lasso",
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Compute UDR for every group of finished runs lacking it (all with ``force``).

    Returns ``{"scored": {run id: udr}, "notes": [...]}``; a note says which groups were left
    out (contrastive models, fewer than two finished seeds).
    """
    from slowvae.metrics import udr
    from slowvae.models import model_class
    from slowvae.models.base import ContrastivePairModel
    from slowvae.rundir import load_model

    say = progress or (lambda _msg: None)
    study_dir = Path(study_dir)
    study = open_study(study_dir)
    groups: dict[tuple[str, str, str], list[Any]] = {}
    for spec in study.runs:
        groups.setdefault(spec.group, []).append(spec)
    scored: dict[str, float] = {}
    notes: list[str] = []
    for (model, dataset, _), specs in groups.items():
        name = f"{model} on {dataset} ({', '.join(f'{k} {v:.4g}' for k, v in sorted(specs[0].setting.items())) or 'defaults'})"
        if issubclass(model_class(specs[0].config["model"]), ContrastivePairModel):
            notes.append(f"{name}: left out, a contrastive model has no posterior and no KL")
            continue
        finished = [s for s in specs if run_state(study_dir, s).state == "finished"]
        if len(finished) < 2:
            notes.append(f"{name}: left out, UDR needs two finished seeds ({len(finished)} so far)")
            continue
        records = {s.id: read_results(run_dir(study_dir, s.id)) or Results(status=FINISHED) for s in finished}
        if not force and all(
            r.udr is not None and (r.udr_settings or {}).get("runs") == sorted(records) for r in records.values()
        ):
            continue
        say(f"UDR of {name}: encoding {UDR_FRAMES} frames with {len(finished)} models")
        codes, kls, source = [], [], None
        for spec in finished:
            model_obj, _, _, source = load_model(run_dir(study_dir, spec.id))
            if source is None or not hasattr(model_obj, "encoder"):
                raise SlowVAEError(f"{spec.id}: cannot read the model's posterior")
            if not codes:
                images, _ = source.sample_eval(UDR_FRAMES, np.random.default_rng(UDR_SEED))
            mu, kl = _posterior(model_obj, images, source.binary)
            codes.append(mu)
            kls.append(kl)
        out = udr(codes, kls, correlation=correlation, rng=UDR_SEED)
        settings = {
            "frames": UDR_FRAMES,
            "seed": UDR_SEED,
            "correlation": correlation,
            "filter_low_kl": True,
            "kl_threshold": 0.01,
            "runs": sorted(records),
        }
        for spec, score in zip(finished, out["model_scores"]):
            record = records[spec.id]
            record.udr, record.udr_settings = float(score), settings
            write_results(run_dir(study_dir, spec.id) / rundir.RESULTS_FILE, record)
            scored[spec.id] = float(score)
    return {"scored": scored, "notes": notes}


def select_by_udr(study_dir: Path | str, *, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Per (model, dataset), the setting with the highest median UDR over its finished seeds.

    A (model, dataset) with a single setting keeps it whatever its UDR (baselines at their
    published settings; contrastive models). Returns ``{"method": "udr", "chosen": [{"model",
    "dataset", "setting", "udr_median", "candidates"}], "notes": [...]}``.
    """
    study_dir = Path(study_dir)
    notes = compute_study_udr(study_dir, progress=progress)["notes"]
    study = open_study(study_dir)
    candidates: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for spec in study.runs:
        options = candidates.setdefault((spec.model, spec.dataset), {})
        entry = options.setdefault(spec.group[2], {"setting": dict(spec.setting), "udr": []})
        record = read_results(run_dir(study_dir, spec.id))
        if run_state(study_dir, spec).state == "finished" and record is not None and record.udr is not None:
            entry["udr"].append(float(record.udr))
    chosen = []
    for (model, dataset), options in candidates.items():
        scored = {k: statistics.median(v["udr"]) for k, v in options.items() if v["udr"]}
        if len(options) == 1:
            key = next(iter(options))
        elif scored:
            key = max(scored, key=lambda k: scored[k])
            if len(scored) < len(options):
                notes.append(
                    f"{model} on {dataset}: {len(options) - len(scored)} of {len(options)} settings "
                    "had no UDR yet and could not be chosen"
                )
        else:
            notes.append(f"{model} on {dataset}: no setting has a UDR yet; nothing selected")
            continue
        chosen.append(
            {
                "model": model,
                "dataset": dataset,
                "setting": options[key]["setting"],
                "udr_median": scored.get(key),
                "candidates": len(options),
            }
        )
    return {"method": "udr", "chosen": chosen, "notes": notes}
