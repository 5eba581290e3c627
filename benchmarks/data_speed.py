"""Data speed: microseconds per image for ProceduralDSprites.images and for temporal pairs.

Usage: python benchmarks/data_speed.py [--repeats N] [--out benchmarks/results/speed/data_speed.json]

Single-threaded (thread counts pinned to 1 before numpy loads). Images: batches of 64 uniformly
random factor vectors. Pairs: ``GroundTruthPairs.sample_pairs(32, rng)`` with ``LaplaceTransitions()``
(64 images per call, factor sampling included).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from slowvae.data.dsprites import ProceduralDSprites  # noqa: E402
from slowvae.data.pairs import GroundTruthPairs  # noqa: E402
from slowvae.data.transitions import LaplaceTransitions  # noqa: E402


def best_us_per_image(step: Callable[[], object], images_per_call: int, repeats: int) -> float:
    """Best of 5 timings of ``repeats`` calls, in microseconds per image."""
    step()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        times.append(time.perf_counter() - start)
    return min(times) / (repeats * images_per_call) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/speed/data_speed.json"))
    args = parser.parse_args()

    start = time.perf_counter()
    data = ProceduralDSprites()
    startup_s = time.perf_counter() - start
    rng = np.random.default_rng(0)
    batches = [data.sample_factors(64, rng) for _ in range(args.repeats)]
    it = iter(batches * 10)
    rows = {"images(64 random factors)": best_us_per_image(lambda: data.images(next(it)), 64, args.repeats)}
    pairs = GroundTruthPairs(data, LaplaceTransitions())
    sample = lambda: pairs.sample_pairs(32, rng)  # noqa: E731
    rows["sample_pairs(32) (64 images)"] = best_us_per_image(sample, 64, args.repeats)

    print(f"start-up: {startup_s:.2f} s")
    print(f"{'measurement':32s} {'us/image':>9s}")
    for label, us in rows.items():
        print(f"{label:32s} {us:9.2f}")
    record = {
        "command": "python " + " ".join(sys.argv),
        "threads": 1,
        "startup_s": round(startup_s, 3),
        "us_per_image": {label: round(us, 2) for label, us in rows.items()},
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
