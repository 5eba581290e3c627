"""bf16 against fp32 encoding in evaluation: the scores, not the speed.

Trains (or continues) a briefly trained SlowVAE, then scores it twice on the same frames and the same
metric random streams, once with codes encoded in fp32 and once in bf16 (autocast of the encoder,
forced, so this also runs on a CPU without native bf16, where bf16 is slow but rounds the same):

- MCC on ``--samples`` frames; target: within 0.005 of fp32;
- the ``fast`` suite (array metrics on its own frames; BetaVAE and FactorVAE at ``--sampling-scale``
  times the preset's counts); target: every other score within 0.01 of fp32.

Also reports the largest code difference relative to each latent's spread.

    python benchmarks/bf16_eval.py --steps 300                      # the fast suite at its own counts
    nice -n 10 python benchmarks/bf16_eval.py --samples 5000 --sampling-scale 0.03   # a busy CPU without native bf16
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MCC_TOLERANCE = 0.005
SCORE_TOLERANCE = 0.01

import steplib  # noqa: E402  (benchmarks/ is on sys.path when a script runs)


def scaled_sampling(scale: float) -> dict[str, dict[str, int]]:
    """The fast preset's BetaVAE / FactorVAE point counts times ``scale`` (at least 10 each)."""
    from slowvae.metrics import PRESETS

    fast = PRESETS["fast"]
    keys = {"beta_vae": ("num_train", "num_eval"), "factor_vae": ("num_train", "num_eval", "num_variance_estimate")}
    return {m: {k: max(10, round(fast[m][k] * scale)) for k in ks} for m, ks in keys.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps of the scored model (default 300)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--samples", type=int, default=10_000, help="MCC frames (default 10000)")
    parser.add_argument(
        "--sampling-scale", type=float, default=1.0, help="BetaVAE/FactorVAE counts x the fast preset's"
    )
    parser.add_argument("--runs", type=Path, default=HERE / "runs")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "precision" / "bf16_eval.json")
    args = parser.parse_args()

    import torch

    from slowvae import rundir
    from slowvae.codes import encode as encode_codes
    from slowvae.config import TrainConfig
    from slowvae.metrics import compute_suite, mcc, samples_needed
    from slowvae.rundir import init_run_dir, load_model
    from slowvae.train import train

    run_dir = args.runs / f"bf16-eval-slowvae-seed{args.seed}"
    config = TrainConfig(steps=args.steps, seed=args.seed, precision="fp32", checkpoint_every=args.steps, device="cpu")
    if not (run_dir / rundir.CHECKPOINT_DIR / rundir.LAST_CHECKPOINT).exists():
        init_run_dir(run_dir, config)
        train(run_dir)
    model, config, step, source = load_model(run_dir)
    rng = np.random.default_rng(0)
    images, latents = source.sample_eval(args.samples, rng)
    num_train, num_test = samples_needed("fast")
    suite_images, suite_factors = source.sample_eval(num_train, rng)
    test_images, test_factors = source.sample_eval(num_test, rng)
    overrides = scaled_sampling(args.sampling_scale)

    scores, codes, seconds = {}, {}, {}
    for precision in ("fp32", "bf16"):
        start = time.perf_counter()

        def encode(x: np.ndarray, precision: str = precision) -> np.ndarray:
            return encode_codes(model, x, binary=source.binary, precision=precision)

        codes[precision] = encode(images)
        suite = compute_suite(
            encode(suite_images),
            suite_factors,
            test_codes=encode(test_images),
            test_factors=test_factors,
            dataset=source.dataset,
            encode=encode,
            preset="fast",
            rng=0,
            overrides=overrides,
        )
        suite.pop("settings")
        scores[precision] = {
            "mcc": mcc(codes[precision], latents)["mcc"],
            **{f"suite_{k}": v for k, v in suite.items()},
        }
        seconds[precision] = round(time.perf_counter() - start, 1)
        print(precision, json.dumps(scores[precision]), file=sys.stderr)

    diffs = {k: abs(scores["bf16"][k] - v) for k, v in scores["fp32"].items() if isinstance(v, (int, float))}
    spread = codes["fp32"].std(0)
    record = {
        "command": "python " + " ".join([sys.argv[0].replace(str(HERE.parent) + "/", ""), *sys.argv[1:]]),
        "machine": f"{platform.machine()}, torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}",
        "date": time.strftime("%Y-%m-%d"),
        "model": f"SlowVAE (defaults), procedural dSprites, {step} steps fp32, seed {args.seed}",
        "mcc_frames": args.samples,
        "suite": {"preset": "fast", "seed": 0, "sampling_overrides": overrides},
        "scores": scores,
        "abs_difference": diffs,
        "max_abs_code_difference_over_latent_std": float((np.abs(codes["bf16"] - codes["fp32"]) / spread).max()),
        "tolerance": {"mcc": MCC_TOLERANCE, "other scores": SCORE_TOLERANCE},
        "within_tolerance": {k: d <= (MCC_TOLERANCE if k == "mcc" else SCORE_TOLERANCE) for k, d in diffs.items()},
        "seconds_not_a_speed_result": seconds,
    }
    steplib.write_record(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
