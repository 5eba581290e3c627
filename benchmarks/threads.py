"""OpenMP threads and binding for the training step: ms/step for 1 and 2 threads, with and without
``OMP_PROC_BIND=close OMP_PLACES=cores``.

OpenMP reads its environment once per process, so each setting is a child process timing
``--steps`` steps (``steplib.Step``, after 3 warm-up steps); the settings alternate over
``--rounds`` rounds and the record keeps each one's per-round medians and their median.

    python benchmarks/threads.py --precision fp32 --out benchmarks/results/speed/threads-epyc.json
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIND = {"OMP_PROC_BIND": "close", "OMP_PLACES": "cores"}
#: name -> (threads, extra environment)
SETTINGS = {
    "1 thread": (1, {}),
    "1 thread, bound": (1, BIND),
    "2 threads": (2, {}),
    "2 threads, bound": (2, BIND),
}
CHILD = """
import sys, time, statistics, torch
sys.path.insert(0, sys.argv[1])
from steplib import Step
step = Step(sys.argv[2], compiled=False)
for _ in range(3):
    step()
times = []
for _ in range(int(sys.argv[3])):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
print(1000 * statistics.median(times))
"""


def child_ms(threads: int, extra: dict[str, str], precision: str, steps: int) -> float:
    """Median ms/step of ``steps`` steps in a fresh process with ``threads`` OpenMP threads."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_PROC_BIND", "OMP_PLACES")}
    env.update(extra, OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, "-c", CHILD, str(HERE), precision, str(steps)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "speed" / "threads.json")
    args = parser.parse_args()
    rounds: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for _ in range(args.rounds):
        for name, (threads, extra) in SETTINGS.items():
            rounds[name].append(round(child_ms(threads, extra, args.precision, args.steps), 2))
    import steplib

    record = {
        "command": "python " + " ".join([sys.argv[0].replace(str(HERE.parent) + "/", ""), *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "precision": args.precision,
        "bound": BIND,
        "ms_per_step": {name: {"median": statistics.median(v), "rounds": v} for name, v in rounds.items()},
    }
    steplib.write_record(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
