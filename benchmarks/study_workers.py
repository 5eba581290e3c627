"""Runs per hour of the local study executor: 1 worker x 2 threads against 2 workers x 1 thread.

Runs the same small study (SlowVAE, ``--runs`` seeds, ``--steps`` steps, MCC only) twice into
fresh directories under ``--root``, once per layout, and records the wall time and runs per hour
of each with the machine's description. Measure on an otherwise idle machine: other processes
change both numbers and their ratio (with one other busy process, 2 threads ran at 375
images/s and 1 thread at 845).

    python benchmarks/study_workers.py --runs 4 --steps 1000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STUDY = """
name = "workers"
steps = {steps}
seeds = {runs}
datasets = ["dsprites-procedural"]
precision = "{precision}"
device = "cpu"

[evaluate]
metrics = ["mcc"]

[[models]]
name = "slowvae"
"""


def measure(root: Path, workers: int, threads: int, args: argparse.Namespace) -> dict:
    from slowvae.study import parse_study, prepare
    from slowvae.study.core import run_dir
    from slowvae.study.local import run_local

    out = root / f"{workers}x{threads}"
    shutil.rmtree(out, ignore_errors=True)
    study = parse_study(STUDY.format(steps=args.steps, runs=args.runs, precision=args.precision))
    prepare(study, out)
    start = time.perf_counter()
    status = run_local([run_dir(out, r.id) for r in study.runs], workers=workers, threads=threads)
    seconds = time.perf_counter() - start
    if set(status.values()) != {"finished"}:
        raise SystemExit(f"{workers} x {threads}: not every run finished: {status}")
    return {
        "workers": workers,
        "threads": threads,
        "runs": args.runs,
        "seconds": round(seconds, 1),
        "runs_per_hour": round(3600 * args.runs / seconds, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4, help="runs per layout (seeds 1..N; default 4)")
    parser.add_argument("--steps", type=int, default=1000, help="steps per run (default 1000)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--root", type=Path, default=HERE / "runs" / "study-workers", help="scratch study directories")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "speed" / "study_workers.json")
    args = parser.parse_args()
    layouts = [measure(args.root, 1, 2, args), measure(args.root, 2, 1, args)]
    faster = max(layouts, key=lambda r: r["runs_per_hour"])
    result = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average_after": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d"),
        "study": {
            "model": "slowvae",
            "steps": args.steps,
            "runs": args.runs,
            "precision": args.precision,
            "metrics": ["mcc"],
        },
        "layouts": layouts,
        "faster": f"{faster['workers']} workers x {faster['threads']} threads",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for r in layouts:
        print(f"{r['workers']} worker(s) x {r['threads']} thread(s): {r['runs_per_hour']} runs/hour ({r['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
