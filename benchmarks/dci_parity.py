"""DCI against disentanglement_lib's own values on the two parity cases in tests/fixtures.

Usage: python benchmarks/dci_parity.py [--backends sklearn lightgbm hist] [--seeds 0]
       [--out benchmarks/results/metrics-parity/dci_parity.json]

Each case is scored as dlib scored it: the first 5,000 training rows and all 5,000 test rows. The
``sklearn`` backend is the exact path (minutes per case); the others are the fast histogram
boosters. The file records every value, dlib's reference (its mean where it made several runs) and
the absolute and relative differences.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from slowvae.metrics import dci

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "metrics_parity"
KEYS = ("disentanglement", "completeness", "informativeness_train", "informativeness_test")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["sklearn"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/metrics-parity/dci_parity.json"))
    args = parser.parse_args()
    expected = json.loads((FIXTURES / "expected.json").read_text())["array_cases"]
    records: list[dict] = []
    for case in ("random", "identity_noise"):
        with np.load(FIXTURES / f"{case}.npz") as z:
            arrays = z["codes_train"][:5000], z["factors_train"][:5000], z["codes_test"], z["factors_test"]
        for backend in args.backends:
            for seed in args.seeds:
                out = dci(*arrays, rng=seed, backend=backend, n_jobs=args.n_jobs)
                for key in KEYS:
                    ref = expected[case]["dci"][key]["mean"]
                    got = float(out[f"dci_{key}"])
                    records.append(
                        {
                            "case": case,
                            "backend": backend,
                            "seed": seed,
                            "key": key,
                            "value": got,
                            "dlib": ref,
                            "abs_diff": abs(got - ref),
                            "rel_diff": abs(got - ref) / abs(ref),
                        }
                    )
                    print(json.dumps(records[-1]), file=sys.stderr, flush=True)
                write(args.out, records)


def write(path: Path, records: list[dict]) -> None:
    """Write the records so far with each backend's largest differences (after every scored case)."""
    result: dict = {"command": "python " + " ".join(sys.argv)}
    for backend in dict.fromkeys(r["backend"] for r in records):
        rows = [r for r in records if r["backend"] == backend]
        result[f"cases_{backend}"] = sorted({r["case"] for r in rows})
        result[f"max_abs_diff_{backend}"] = max(r["abs_diff"] for r in rows)
        result[f"max_rel_diff_{backend}"] = max(r["rel_diff"] for r in rows)
    result["records"] = records
    path.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
