"""Wall time of every metric of the suite at disentanglement_lib's default counts, exact and fast.

Array metrics: 10 000 train / 5 000 test codes of a procedural-dSprites representation (factor sizes
3, 6, 40, 32, 32). ``--representation identity`` (default) uses the 5 standardised factors plus
N(0, 0.1^2) noise and 5 pure-noise latents (the parity fixture's construction); ``untrained``
encodes rendered images with an untrained SlowVAE encoder; ``--run RUN_DIR`` encodes them with a
trained run's posterior means; ``--codes/--factors/--test-*`` take saved codes.

Sampling metrics (BetaVAE, FactorVAE): the time of the metric against the time of only rendering
and encoding the images it uses (same chunking), with the same encoder on CPU, at
``--sampling-scale`` times dlib's counts (1.0 = dlib's ~2.9 million encoder passes). With ``--run``,
``--eval-precision bf16`` encodes as ``slowvae evaluate --eval-precision bf16`` does.

    python benchmarks/metrics_speed.py --run benchmarks/results/slowvae-seed1 --exact --sampling-scale 0.05
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from slowvae.metrics import beta_vae_score, factor_vae_score
from slowvae.metrics.suite import compute_suite

SIZES = np.array([3, 6, 40, 32, 32])


def identity_codes(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    f = np.stack([rng.integers(0, s, n) for s in SIZES], axis=1)
    ft = (f - (SIZES - 1) / 2) / np.sqrt((SIZES**2 - 1) / 12)
    return np.concatenate([ft + 0.1 * rng.standard_normal((n, 5)), rng.standard_normal((n, 5))], axis=1), f


def make_encoder(seed: int = 0):
    import torch

    from slowvae.models.networks import Encoder

    torch.manual_seed(seed)
    net = Encoder(channels=1, z_dim=10).eval()

    def encode(images: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
            out = [net(x[i : i + 2048])[0] for i in range(0, len(x), 2048)]
            return torch.cat(out).numpy()

    return encode


def time_suite(codes, factors, tc, tf, fast: bool, seed: int) -> dict:
    per = {}
    for metric in ("mcc", "mig", "sap", "dci", "modularity", "explicitness", "unsupervised", "irs"):
        t = time.perf_counter()
        out = compute_suite(codes, factors, test_codes=tc, test_factors=tf, metrics=[metric], fast=fast, rng=seed)
        per[metric] = {
            "seconds": round(time.perf_counter() - t, 2),
            "values": {k: v for k, v in out.items() if k != "settings"},
        }
        if metric == "dci":
            per[metric]["settings"] = out["settings"]["metric_settings"]["dci"]
    t = time.perf_counter()
    compute_suite(codes, factors, test_codes=tc, test_factors=tf, fast=fast, rng=seed)
    return {"per_metric": per, "whole_suite_seconds": round(time.perf_counter() - t, 2)}


def time_sampling(scale: float, seed: int, encode) -> dict:
    from slowvae.data import get_dataset

    data = get_dataset("dsprites-procedural")
    sizes = np.asarray(data.factor_sizes)
    res = {}
    bv = {"num_train": max(1, int(10000 * scale)), "num_eval": max(1, int(5000 * scale))}
    # the untrained encoder's latents all have std < 0.05, dlib's pruning threshold, which would skip
    # every vote: time FactorVAE with threshold 0 (zero-variance latents are still pruned)
    fv = dict(bv, num_variance_estimate=max(2, int(10000 * scale)), prune_threshold=0.0)
    for name, fn, kw, n_images in (
        ("beta_vae", beta_vae_score, bv, 2 * 64 * (bv["num_train"] + bv["num_eval"])),
        ("factor_vae", factor_vae_score, fv, fv["num_variance_estimate"] + 64 * (fv["num_train"] + fv["num_eval"])),
    ):
        t = time.perf_counter()
        out = fn(data, encode, np.random.default_rng(seed), **kw)
        metric_s = time.perf_counter() - t
        rng = np.random.default_rng(seed + 1)
        t = time.perf_counter()
        for start in range(0, n_images, 8192):  # the same chunking as the metrics
            f = (rng.random((min(8192, n_images - start), len(sizes))) * sizes).astype(np.int64)
            encode(data.images(f))
        pure_s = time.perf_counter() - t
        res[name] = {
            "settings": kw,
            "images": n_images,
            "metric_seconds": round(metric_s, 2),
            "render_and_encode_seconds": round(pure_s, 2),
            "ratio": round(metric_s / pure_s, 3),
            "train_accuracy": out["train_accuracy"],
            "eval_accuracy": out["eval_accuracy"],
        }
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--representation", choices=["identity", "untrained"], default="identity")
    parser.add_argument("--run", help="a trained procedural-dSprites run directory: time on its posterior means")
    parser.add_argument("--codes"), parser.add_argument("--factors")
    parser.add_argument("--test-codes"), parser.add_argument("--test-factors")
    parser.add_argument("--exact", action="store_true", help="also time the exact (sklearn GBT) DCI path: minutes")
    parser.add_argument(
        "--sampling-scale", type=float, default=0.05, help="fraction of dlib's BetaVAE/FactorVAE counts (0 skips)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--eval-precision",
        choices=["auto", "fp32", "bf16"],
        default="fp32",
        help="with --run: precision of the encoder (default fp32)",
    )
    parser.add_argument("--out", default="benchmarks/results/speed/metrics_speed.json")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    encode = make_encoder(args.seed)
    if args.run:
        import torch

        from slowvae.codes import encode as encode_codes
        from slowvae.hardware import use_fast_layout
        from slowvae.rundir import load_model

        model, _, step, pairs = load_model(args.run)
        use_fast_layout(model, torch.device("cpu"))  # as evaluate_run encodes

        def encode(images: np.ndarray) -> np.ndarray:
            return encode_codes(model, images, binary=pairs.binary, precision=args.eval_precision)

        (images, factors), (test_images, tf) = pairs.sample_eval(10000, rng), pairs.sample_eval(5000, rng)
        codes, tc = encode(images), encode(test_images)
        source = f"posterior means of the trained run {args.run} (step {step})"
    elif args.codes:
        codes, factors = np.load(args.codes), np.load(args.factors)
        tc, tf = np.load(args.test_codes), np.load(args.test_factors)
        source = f"saved codes {args.codes}"
    elif args.representation == "identity":
        codes, factors = identity_codes(10000, rng)
        tc, tf = identity_codes(5000, rng)
        source = "identity-like codes of procedural-dSprites factors (no trained model available)"
    else:
        from slowvae.data import get_dataset

        data, enc = get_dataset("dsprites-procedural"), make_encoder(args.seed)
        factors, tf = data.sample_factors(10000, rng), data.sample_factors(5000, rng)
        codes, tc = enc(data.images(factors)), enc(data.images(tf))
        source = "untrained SlowVAE encoder on procedural dSprites (no trained model available)"
    result = {
        "source": source + (f", encoded in {args.eval_precision}" if args.run else ""),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "command": "python benchmarks/metrics_speed.py "
        + " ".join(
            a
            for a in [
                f"--run {args.run}" if args.run else "",
                "--exact" if args.exact else "",
                f"--eval-precision {args.eval_precision}" if args.run else "",
                f"--sampling-scale {args.sampling_scale}",
                "" if args.run else f"--representation {args.representation}",
            ]
            if a
        ),
        "array_metrics_fast": time_suite(codes, factors, tc, tf, True, args.seed),
    }
    print(json.dumps({"fast_whole_suite_s": result["array_metrics_fast"]["whole_suite_seconds"]}), flush=True)
    if args.exact:
        result["array_metrics_exact"] = time_suite(codes, factors, tc, tf, False, args.seed)
    if args.sampling_scale > 0:
        result["sampling_metrics"] = time_sampling(args.sampling_scale, args.seed, encode)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
