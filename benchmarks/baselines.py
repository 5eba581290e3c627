"""Every model on procedural dSprites with LAP pairs (data rate 1), MCC side by side with SlowVAE's.

Each model trains with its defaults (`slowvae models`) in the same harness: the same pairs
(seeded alike), the reference conv network, batch 32 pairs, Adam lr 1e-4, ``--steps`` steps, one
process per core. Then the step-``--steps`` checkpoint is scored with MCC on 10,000 frames.
Resumable: run the same command again and finished work is skipped, unfinished runs continue
from their last checkpoint (exact resume). ``--report-only`` writes the table from what is on
disk, marking runs that have not finished. The ``slowvae`` and reference beta-VAE-mode runs
(``betavae-beta8``) use the same run directories and settings as ``mcc_vs_steps.py``, so runs
that script already finished are reused.

    python benchmarks/baselines.py --steps 5000 --seeds 1 --workers 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import runlib  # noqa: E402

HERE = Path(__file__).resolve().parent
#: label -> (model, hyperparameters beyond the model's defaults, note)
CONFIGS: dict[str, tuple[str, dict[str, float], str]] = {
    "slowvae": ("slowvae", {}, "beta 1, gamma 10, rate 6 (reference UDR choice)"),
    "betavae-beta8": ("slowvae", {"beta": 8.0, "gamma": 0.0}, "the SlowVAE reference's beta-VAE mode: 2R + 8 KL"),
    "beta-vae": ("beta-vae", {}, "beta 8 (dlib scale: R + beta KL)"),
    "annealed-vae": ("annealed-vae", {"iteration_threshold": 1667.0},
                     "C_max 25, gamma 1000; C reaches C_max at step 1667 (the study's 1/3 of training)"),
    "factor-vae": ("factor-vae", {}, "gamma 30, second batch permuted"),
    "dip-vae-i": ("dip-vae-i", {}, "lambda_od 5, lambda_d 50"),
    "dip-vae-ii": ("dip-vae-ii", {}, "lambda_od 5, lambda_d 5"),
    "beta-tcvae": ("beta-tcvae", {}, "beta 6"),
    "ada-gvae": ("ada-gvae", {}, "beta 1"),
    "ada-mlvae": ("ada-mlvae", {}, "beta 1, dlib variance"),
    "pcl": ("pcl", {}, "psi = -abs(u a + v b) + q (a^2 + b^2)"),
    "infonce": ("infonce", {}, "L1 similarity, tau 1"),
}
#: slowest first, so that two workers finish close together
ORDER = ["factor-vae", "beta-tcvae", "ada-gvae", "ada-mlvae", "dip-vae-i", "dip-vae-ii", "annealed-vae", "beta-vae",
         "slowvae", "betavae-beta8", "infonce", "pcl"]


def make_config(label: str, seed: int, steps: int):
    from slowvae.run import TrainConfig

    model, hyper, _ = CONFIGS[label]
    # the settings of mcc_vs_steps.py, so that the runs the two scripts have in common are shared
    return TrainConfig(model=model, hyper=hyper, steps=steps, seed=seed, checkpoint_every=1000,
                       keep_checkpoints=True, log_every=100, device="cpu", precision="fp32")


def run_one(task: tuple[str, int, int, str, int]) -> dict:
    label, seed, steps, root, eval_samples = task
    run_dir = Path(root) / f"{label}-seed{seed}"
    from slowvae.train import TrainingStopped

    if runlib.INTERRUPTED:
        return {"label": label, "seed": seed, "status": "interrupted"}
    try:
        seconds = runlib.train_to(run_dir, make_config(label, seed, steps))
        scores = runlib.mcc_at(run_dir, steps, num_samples=eval_samples)
    except TrainingStopped as err:
        if str(err).startswith("interrupted"):  # Ctrl-C / SIGTERM: the loop saved a checkpoint
            runlib.INTERRUPTED = True
            return {"label": label, "seed": seed, "status": "interrupted"}
        return {"label": label, "seed": seed, "status": f"failed: {err}"}
    except Exception as err:  # one failed run must not stop the others; the table says what failed
        return {"label": label, "seed": seed, "status": f"failed: {type(err).__name__}: {err}"}
    print(f"{label} seed {seed}: MCC {scores['mcc']:.3f}", flush=True)
    return {"label": label, "seed": seed, "status": "finished", "train_seconds_this_call": round(seconds, 1)}


def collect(label: str, seed: int, steps: int, root: Path, eval_samples: int) -> dict:
    """The record of one run from what is on disk: finished and scored, partial, or not started."""
    run_dir = root / f"{label}-seed{seed}"
    model, hyper, note = CONFIGS[label]
    record = {"label": label, "model": model, "hyper": make_config(label, seed, steps).hyper, "note": note, "seed": seed,
              "steps": steps, "run_dir": str(run_dir)}
    cached = run_dir / f"eval_step_{steps}.json"
    if cached.exists():
        scores = json.loads(cached.read_text())
        if scores["settings"]["num_samples"] == eval_samples:
            return {**record, "status": "finished", "mcc": scores["mcc"], "mcc_untrained": scores["mcc_untrained"],
                    "mcc_per_factor": scores["mcc_per_factor"]}
    done = runlib.trained_steps(run_dir) if run_dir.exists() else 0
    return {**record, "status": f"partial: {done} of {steps} steps" if done else "not started"}


def table(records: list[dict]) -> list[str]:
    ref = {r["seed"]: r.get("mcc") for r in records if r["label"] == "slowvae"}
    lines = ["| model | settings | seed | MCC | MCC - SlowVAE | untrained | status |", "|---|---|---|---|---|---|---|"]
    for r in records:
        mcc = f"{r['mcc']:.3f}" if "mcc" in r else "-"
        comparable = r["label"] != "slowvae" and "mcc" in r and ref.get(r["seed"]) is not None
        diff = f"{r['mcc'] - ref[r['seed']]:+.3f}" if comparable else "-"
        floor = f"{r['mcc_untrained']:.3f}" if "mcc_untrained" in r else "-"
        lines.append(f"| {r['label']} | {r['note']} | {r['seed']} | {mcc} | {diff} | {floor} | {r['status']} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--models", nargs="+", default=ORDER, choices=list(CONFIGS), metavar="LABEL",
                        help=f"labels to run (default all: {', '.join(ORDER)})")
    parser.add_argument("--workers", type=int, default=2, help="processes, one per core (default 2)")
    parser.add_argument("--eval-samples", type=int, default=10_000, help="frames for MCC (default 10000)")
    parser.add_argument("--runs", type=Path, default=HERE / "runs", help="run directories (not checked in)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "baselines.json")
    parser.add_argument("--report-only", action="store_true", help="write the table from finished work, train nothing")
    args = parser.parse_args()
    labels = [m for m in ORDER if m in args.models]
    start = time.perf_counter()
    calls: list[dict] = []
    if not args.report_only:
        tasks = [(m, s, args.steps, str(args.runs), args.eval_samples) for s in args.seeds for m in labels]
        # Ctrl-C reaches the workers, which checkpoint and skip the rest; this process waits for them
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            with mp.get_context("spawn").Pool(args.workers, initializer=runlib.init_worker) as pool:
                calls = list(pool.imap_unordered(run_one, tasks, chunksize=1))
        finally:
            signal.signal(signal.SIGINT, previous)
    in_table_order = sorted(labels, key=list(CONFIGS).index)
    records = [collect(m, s, args.steps, args.runs, args.eval_samples) for s in args.seeds for m in in_table_order]
    failed = {(c["label"], c["seed"]): c["status"] for c in calls if c["status"].startswith("failed")}
    for r in records:
        r["status"] = failed.get((r["label"], r["seed"]), r["status"])
    lines = table(records)
    result = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.processor() or platform.machine()}, {mp.cpu_count()} cores, {args.workers} workers x 1 thread",
        "date": time.strftime("%Y-%m-%d"),
        "data": "dsprites-procedural, LAP pairs, data rate 1; batch 32 pairs; Adam lr 1e-4; MCC (Spearman, Hungarian) "
                f"on {args.eval_samples} frames, eval seed 0",
        "wall_seconds_this_call": round(time.perf_counter() - start, 1),
        "finished": sum(r["status"] == "finished" for r in records),
        "not_finished": [f"{r['label']} seed {r['seed']}: {r['status']}" for r in records if r["status"] != "finished"],
        "records": records,
        "table": lines,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(lines))
    if any(c["status"] == "interrupted" for c in calls):
        print("interrupted: running work was checkpointed; run the same command to continue", file=sys.stderr)
        return 130
    return 0 if not result["not_finished"] else 1


if __name__ == "__main__":
    sys.exit(main())
