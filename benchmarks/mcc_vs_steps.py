"""MCC against training steps on procedural dSprites (LAP pairs, data rate 1), issue 2 §8.

Trains SlowVAE (beta 1, gamma 10, rate 6), the same network with gamma 0 and beta 1, and the
reference's beta-VAE (gamma 0, beta 8) for each seed, one process per core, keeping checkpoints
at every ``--eval-every`` steps; then scores the checkpoints at ``--eval-steps`` with MCC on
10,000 frames. Resumable: run the same command again and finished work is skipped, unfinished
runs continue from their last checkpoint.

    python benchmarks/mcc_vs_steps.py --steps 5000 --seeds 1 2 --workers 2
    python benchmarks/mcc_vs_steps.py --models slowvae --seeds 1 2 3 --precisions fp32 bf16 \
        --out benchmarks/results/mcc_precision.json     # mixed-precision quality check (issue 8)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import sys
import time
from pathlib import Path

import runlib

HERE = Path(__file__).resolve().parent
CONFIGS = {
    "slowvae": {"beta": 1.0, "gamma": 10.0, "rate": 6.0},
    "gamma0-beta1": {"beta": 1.0, "gamma": 0.0},
    "betavae-beta8": {"beta": 8.0, "gamma": 0.0},
}


def run_one(task: tuple[str, int, int, int, list[int], str, str]) -> dict:
    name, seed, steps, every, eval_steps, root, precision = task
    from slowvae.run import TrainConfig

    run_dir = Path(root) / (f"{name}-seed{seed}" + ("" if precision == "fp32" else f"-{precision}"))
    config = TrainConfig(
        hyper=CONFIGS[name], steps=steps, seed=seed, checkpoint_every=every, keep_checkpoints=True, log_every=100,
        device="cpu", precision=precision,
    )
    train_s = runlib.train_to(run_dir, config)
    curve = {s: runlib.mcc_at(run_dir, s)["mcc"] for s in eval_steps}
    print(f"{name} seed {seed} {precision}: " + ", ".join(f"{s}: {v:.3f}" for s, v in curve.items()), flush=True)
    return {"model": name, "hyper": CONFIGS[name], "seed": seed, "precision": precision, "mcc": curve, "train_seconds_this_call": round(train_s, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--eval-steps", type=int, nargs="+", default=[0, 1000, 2000, 5000])
    parser.add_argument("--eval-every", type=int, default=1000, help="checkpoint interval (eval steps must be multiples)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=Path, default=HERE / "runs", help="run directories (not checked in)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "mcc_vs_steps.json")
    args = parser.parse_args()
    if any(s % args.eval_every for s in args.eval_steps):
        parser.error("every --eval-steps value must be a multiple of --eval-every")
    tasks = [(m, s, args.steps, args.eval_every, args.eval_steps, str(args.runs), p)
             for p in args.precisions for s in args.seeds for m in args.models]
    with mp.get_context("spawn").Pool(args.workers, initializer=runlib.init_worker) as pool:
        records = pool.map(run_one, tasks, chunksize=1)
    table = ["| model | precision | seed | " + " | ".join(f"MCC @ {s}" for s in args.eval_steps) + " |",
             "|---|---|---|" + "---|" * len(args.eval_steps)]
    for r in records:
        table.append(f"| {r['model']} | {r['precision']} | {r['seed']} | "
                     + " | ".join(f"{r['mcc'][s]:.3f}" for s in args.eval_steps) + " |")
    result = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.processor() or platform.machine()}, {mp.cpu_count()} cores, {args.workers} workers x 1 thread",
        "date": time.strftime("%Y-%m-%d"),
        "records": records,
        "table": table,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
