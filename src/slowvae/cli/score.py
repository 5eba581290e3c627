"""``slowvae score``: the metric suite on codes and factors saved as .npy / .npz files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from slowvae.errors import SlowVAEError

#: keys tried, in order, when an .npz file holds several arrays and no ``:key`` is given
NPZ_KEYS = {
    "codes": ("codes", "codes_train"),
    "factors": ("factors", "factors_train"),
    "test codes": ("test_codes", "codes_test"),
    "test factors": ("test_factors", "factors_test"),
}


def load_array(spec: str, role: str) -> np.ndarray:
    """Load an array from ``FILE.npy``, ``FILE.npz`` (its only array, or a conventional key) or
    ``FILE.npz:KEY``; raises :class:`SlowVAEError` with a readable message."""
    path_text, key = spec, None
    if ".npz:" in spec:
        path_text, key = spec.rsplit(":", 1)
    path = Path(path_text)
    if not path.is_file():
        raise SlowVAEError(f"{role} file not found: {path}")
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as err:  # noqa: BLE001 - any unreadable file is a user error here
        raise SlowVAEError(f"cannot read {role} from {path}: {err}") from None
    if isinstance(loaded, np.ndarray):
        if key is not None:
            raise SlowVAEError(f"{path} is an .npy file: it has no key {key!r}")
        return loaded
    with loaded:
        names = list(loaded.files)
        if key is None:
            if len(names) == 1:
                key = names[0]
            else:
                key = next((k for k in NPZ_KEYS.get(role, ()) if k in names), None)
                if key is None:
                    raise SlowVAEError(f"{path} holds {', '.join(names)}: say which is the {role} with {path}:KEY")
        if key not in names:
            raise SlowVAEError(f"{path} has no array {key!r} (it holds {', '.join(names)})")
        return loaded[key]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``score`` subcommand to ``slowvae``'s subparsers."""
    from slowvae.metrics.registry import METRICS, PRESETS

    parser = subparsers.add_parser(
        "score",
        help="score saved codes and factors with the disentanglement metric suite",
        description=(
            "Score codes (N, D) against integer factor indices (N, K), saved as .npy or .npz "
            "(FILE.npz:KEY picks an array). Without test arrays, metrics with a test set split the "
            "given rows with a seeded generator."
        ),
    )
    parser.add_argument("--codes", required=True, help="codes (N, D): .npy, .npz or FILE.npz:KEY")
    parser.add_argument("--factors", required=True, help="factor indices (N, K), integers")
    parser.add_argument("--test-codes", help="held-out codes (M, D) for SAP, DCI and Explicitness")
    parser.add_argument("--test-factors", help="held-out factor indices (M, K)")
    parser.add_argument(
        "--metrics", help=f"comma-separated subset of: {', '.join(METRICS)} (default: every array metric)"
    )
    parser.add_argument("--preset", default="dlib", choices=list(PRESETS), help="settings preset (default: dlib)")
    parser.add_argument("--fast", action="store_true", help="fast DCI path (histogram booster, factors in parallel)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the run's random generator (default: 0)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--output", help="also write the JSON results to this file")
    parser.set_defaults(func=run)
    return parser


def _format(results: dict[str, Any]) -> str:
    lines = []
    for key, value in results.items():
        if key == "settings":
            continue
        if isinstance(value, float):
            text = f"{value:.6f}"
        elif value is None:
            text = "null"
        else:
            text = str(value)
        lines.append(f"{key:<40} {text}")
    s = results["settings"]
    lines.append(f"(preset {s['preset']}, fast {str(s['fast']).lower()}, seed {s['seed']})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Load the arrays, run the suite, print a table or JSON."""
    from slowvae.metrics.suite import compute_suite

    if (args.test_codes is None) != (args.test_factors is None):
        raise SlowVAEError("give both --test-codes and --test-factors, or neither")
    codes = load_array(args.codes, "codes")
    factors = load_array(args.factors, "factors")
    test_codes = load_array(args.test_codes, "test codes") if args.test_codes else None
    test_factors = load_array(args.test_factors, "test factors") if args.test_factors else None
    results = compute_suite(
        codes,
        factors,
        test_codes=test_codes,
        test_factors=test_factors,
        metrics=args.metrics,
        preset=args.preset,
        fast=args.fast,
        rng=args.seed,
    )
    text = json.dumps(results, indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n")
    print(text if args.json else _format(results), file=sys.stdout)
    return 0
