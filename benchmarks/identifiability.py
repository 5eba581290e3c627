"""The identifiability experiment (issue 4): MCC against alpha for SlowVAE and its gamma = 0 control.

Runs every model x alpha x seed of :class:`slowvae.identifiability.IdentifiabilityConfig`, one
process per worker, one torch thread each, and writes into ``benchmarks/results/``:
``identifiability[-TAG].json`` (config, records, wall times, machine), ``identifiability[-TAG].png``
(MCC against alpha) and ``identifiability[-TAG].md`` (the table and the exact command).

    nice -n 10 python benchmarks/identifiability.py --workers 2
    nice -n 10 python benchmarks/identifiability.py --mixing linear --tag linear --workers 2
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    from slowvae.identifiability import IdentifiabilityConfig, config_dict, markdown_table, plot_mcc, run_experiment

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--alpha", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    p.add_argument("--dim", type=int, default=5)
    p.add_argument("--mixing", default="mlp")
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--models", nargs="+", default=["slowvae", "betavae"])
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--gamma", type=float, default=None)
    p.add_argument("--obs-std", type=float, default=None)
    p.add_argument("--step-std", type=float, default=None)
    p.add_argument("--posterior", choices=["full", "diagonal"], default="full")
    p.add_argument("--final-obs-std", type=float, default=0.01)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--tag", default="", help="suffix of the result files")
    args = p.parse_args()

    extra = {"steps": args.steps} if args.steps else {}
    hyper = {}
    for name in args.models:
        h = {}
        if args.obs_std is not None:
            h["obs_std"] = args.obs_std
        if args.gamma is not None and name == "slowvae":
            h["gamma"] = args.gamma
        hyper[name] = h
    config = IdentifiabilityConfig(
        alphas=tuple(args.alpha), dim=args.dim, mixing=args.mixing, layers=args.layers, seeds=args.seeds,
        models=tuple(args.models), hyper=hyper, step_std=args.step_std, posterior=args.posterior,
        final_obs_std=args.final_obs_std, **extra,
    )
    config.validate()
    start = time.perf_counter()
    records = run_experiment(config, lambda m: print(m, file=sys.stderr, flush=True), workers=args.workers)
    wall = time.perf_counter() - start

    stem = "identifiability" + (f"-{args.tag}" if args.tag else "")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    command = "nice -n 10 python benchmarks/identifiability.py " + shlex.join(sys.argv[1:])
    meta = {
        "command": command, "wall_seconds": round(wall, 1), "workers": args.workers,
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}".strip(),
        "note": f"{args.workers} worker(s) sharing the machine, other jobs possibly too: per-run seconds are upper bounds",
    }
    (out / f"{stem}.json").write_text(json.dumps({**meta, "config": config_dict(config), "records": records}, indent=1) + "\n")
    plot_mcc(records, out / f"{stem}.png", title=f"{config.dim}-d, {config.mixing} mixing"
             + (f" ({config.layers} layers)" if config.mixing == "mlp" else "") + f", {config.seeds} seeds")
    runs = sorted(r["seconds"] for r in records)
    (out / f"{stem}.md").write_text(
        f"# Identifiability: {config.dim}-d, {config.mixing} mixing"
        + (f", {config.layers} layers" if config.mixing == "mlp" else "") + "\n\n"
        f"```\n{command}\n```\n\n{markdown_table(records)}\n"
        f"Wall time {wall / 60:.1f} min with {args.workers} worker(s); one run {runs[0]:.0f}-{runs[-1]:.0f} s "
        f"({config.steps} steps of {config.batch_pairs} pairs).\n"
    )
    print(markdown_table(records))


if __name__ == "__main__":
    main()
