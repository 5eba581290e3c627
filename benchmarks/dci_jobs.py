"""Wall time of the exact DCI (scikit-learn gradient boosting, dlib's 10 000 / 5 000 codes) with the
factors fitted in 1 and in 2 processes, alternating in one process, and a check that the scores are
identical. The exact DCI is most of a study's scoring (292 s of the 300 s array suite in
`metrics_speed.json`).

    python benchmarks/dci_jobs.py --run RUN_DIR --jobs 1 2 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from metrics_speed import identity_codes
from slowvae.metrics.dci import dci


def run_codes(run: str, seed: int) -> tuple[np.ndarray, ...]:
    """Posterior means (10 000 / 5 000, D) of a trained run and their factors, as evaluate draws them."""
    from slowvae.codes import encode
    from slowvae.rundir import load_model

    model, _, _, pairs = load_model(run)
    rng = np.random.default_rng(seed)
    (images, factors), (test_images, tf) = pairs.sample_eval(10000, rng), pairs.sample_eval(5000, rng)
    return encode(model, images, binary=pairs.binary), factors, encode(model, test_images, binary=pairs.binary), tf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a trained procedural-dSprites run (default: identity-like codes)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/speed/dci_jobs.json")
    args = parser.parse_args()
    if args.run:
        codes, factors, tc, tf = run_codes(args.run, args.seed)
    else:
        rng = np.random.default_rng(args.seed)
        (codes, factors), (tc, tf) = identity_codes(10000, rng), identity_codes(5000, rng)
    seconds: dict[int, list[float]] = {j: [] for j in args.jobs}
    scores: dict[int, dict[str, float]] = {}
    for _ in range(args.rounds):
        for jobs in args.jobs:
            t = time.perf_counter()
            out = dci(codes, factors, tc, tf, rng=args.seed, backend="sklearn", n_jobs=jobs)
            seconds[jobs].append(round(time.perf_counter() - t, 2))
            scores[jobs] = {k: v for k, v in out.items() if isinstance(v, float)}
            print(json.dumps({"n_jobs": jobs, "seconds": seconds[jobs][-1]}), flush=True)
    base = args.jobs[0]
    result = {
        "command": "python benchmarks/dci_jobs.py "
        + (f"--run {args.run} " if args.run else "")
        + f"--jobs {' '.join(map(str, args.jobs))} --rounds {args.rounds}",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "seconds": seconds,
        "median_seconds": {j: statistics.median(s) for j, s in seconds.items()},
        "speedup": {j: round(statistics.median(seconds[base]) / statistics.median(s), 2) for j, s in seconds.items()},
        "identical_scores": all(scores[j] == scores[base] for j in args.jobs),
        "scores": scores[base],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
