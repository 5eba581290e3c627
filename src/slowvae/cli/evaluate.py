"""`slowvae evaluate RUN_DIR`: score a trained run and draw its figures."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from slowvae.errors import SlowVAEError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a trained run (MCC) and draw traversals, reconstructions and correlations",
        description="Encode posterior means of a run's model, compute MCC, write RUN_DIR/results.json, figures "
        "(with one animated traversal figures/traversals/z<k>.gif per latent) and the run page RUN_DIR/report.html.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--checkpoint", help="checkpoint file name in RUN_DIR/checkpoints or a path (default last.pt)")
    p.add_argument("--samples", type=int, default=10_000, help="frames to encode (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation frames (default 0)")
    p.add_argument(
        "--device",
        default="auto",
        help="auto (default: the device the run trained on where this machine has it, else cpu), cpu, cuda or cuda:N",
    )
    p.add_argument("--preset", help="also run the metric suite with this preset (dlib, slowvae-paper, fast)")
    p.add_argument("--metrics", help="comma-separated suite metrics (default: all the preset's; needs --preset)")
    p.add_argument("--fast", action="store_true", help="fast DCI path (LightGBM where installed)")
    p.add_argument(
        "--truth",
        type=Path,
        metavar="FILE.csv",
        help="ground truth of a frames:PATH run (columns sequence, frame, one per latent); "
        "default: the truth.csv saved by `train --truth`",
    )
    p.add_argument(
        "--eval-precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="precision of every encoding: auto (default: bf16 where the hardware has native bf16, else "
        "fp32), fp32, or bf16 autocast; saved as settings.eval_precision",
    )
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.add_argument("--json", action="store_true", help="print only the results as JSON on standard output")
    p.add_argument("--no-report", action="store_true", help="skip the run page RUN_DIR/report.html")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from slowvae.evaluate import evaluate_run

    if args.metrics and not args.preset:
        raise SlowVAEError("--metrics selects metrics of the suite; give --preset too (for example --preset dlib)")
    progress = None if args.json else (lambda msg: print(msg, file=sys.stderr))
    results = evaluate_run(
        args.run_dir,
        checkpoint=args.checkpoint,
        num_samples=args.samples,
        seed=args.seed,
        device=args.device,
        figures=not args.no_figures,
        progress=progress,
        preset=args.preset,
        metrics=args.metrics.split(",") if args.metrics else None,
        fast=args.fast,
        eval_precision=args.eval_precision,
        truth=args.truth,
    )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_results(args.run_dir, results)
    if not args.no_report:
        from slowvae.cli.report import write_run_page

        write_run_page(args.run_dir, stream=sys.stderr if args.json else sys.stdout)
    return 0


_SUMMARY_KEYS = {"mcc", "mcc_pearson", "mcc_untrained", "step", "seconds"}


def print_results(run_dir: Path, results: dict[str, Any]) -> None:
    """A short human summary of results.json."""
    if results["mcc"] is None:
        print(f"step {results['step']}: no MCC ({results['mcc_note']})")
        print(f"results: {Path(run_dir) / 'results.json'}; figures in {Path(run_dir) / 'figures'}")
        return
    print(
        f"step {results['step']}: MCC {results['mcc']:.3f} (Spearman; Pearson {results['mcc_pearson']:.3f}; "
        f"untrained network {results['mcc_untrained']:.3f})"
    )
    for name, value in results["mcc_per_factor"].items():
        print(f"  {name:>12s}  |rho| {value:.3f}  (z{results['latent_for_factor'][name]})")
    if "learned_alpha" in results:
        print(
            "  learned transition prior (z0, z1, ...): alpha "
            + " ".join(f"{a:.3g}" for a in results["learned_alpha"])
            + "; scale "
            + " ".join(f"{s:.3g}" for s in results["learned_scale"])
        )
    suite = [
        k
        for k in results
        if k not in _SUMMARY_KEYS and not k.endswith("_error") and isinstance(results[k], (int, float))
    ]
    for key in suite:
        print(f"  {key:>32s}  {results[key]:.4f}")
    for key in (k for k in results if k.endswith("_error")):
        print(f"  {key:>32s}  {results[key]}")
    print(f"results: {Path(run_dir) / 'results.json'}; figures in {Path(run_dir) / 'figures'}")
