"""``--compile`` against the eager step: compile time and steady-state ms/step.

In one process: the eager and the compiled training step (``steplib.Step``, same precision, same
initial weights). The compiled step's first call compiles forward and backward with inductor
(the cold compile: the inductor cache starts empty in a fresh folder); then blocks of the two
alternate, and the medians of the per-step times give the steady state. A second process with the
now-filled cache times the compiled first step again (the warm compile a study's later runs pay).
Reports whether compiling pays off within ``--run-steps`` steps, compile time included, and the
break-even step count.

    python benchmarks/compile_speed.py --precision bf16
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def first_step_seconds(precision: str) -> float:
    """Seconds of the first compiled step in this process (compilation included)."""
    from steplib import Step

    step = Step(precision, compiled=True)
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--steps-per-block", type=int, default=20)
    parser.add_argument("--run-steps", type=int, default=5000, help="run length the compile time is weighed against")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "compile" / "compile_speed.json")
    parser.add_argument("--first-step-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_step_only:  # the warm-cache child process
        print(json.dumps({"first_step_seconds": first_step_seconds(args.precision)}))
        return 0

    cache = tempfile.mkdtemp(prefix="inductor-cache-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache  # a cold cache for this process, before inductor loads
    import numpy as np
    import torch

    from steplib import Step, timed_blocks, write_record

    eager, compiled = Step(args.precision, compiled=False), Step(args.precision, compiled=True)
    start = time.perf_counter()
    first_loss = compiled()
    cold_first = time.perf_counter() - start
    start = time.perf_counter()
    eager_loss = eager()
    eager_first = time.perf_counter() - start
    for _ in range(3):  # warm-up: allocator, oneDNN primitive caches, any recompilation
        eager()
        compiled()
    times = timed_blocks({"eager": eager, "compiled": compiled}, args.blocks, args.steps_per_block)
    medians = {name: float(np.median(t)) for name, t in times.items()}

    child = subprocess.run(
        [sys.executable, __file__, "--precision", args.precision, "--first-step-only"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache},
    )
    warm_first = json.loads(child.stdout.strip().splitlines()[-1])["first_step_seconds"]

    saved = medians["eager"] - medians["compiled"]
    compile_cold = cold_first - medians["compiled"]
    compile_warm = warm_first - medians["compiled"]
    record = {
        "command": "python " + " ".join([sys.argv[0].replace(str(HERE.parent) + "/", ""), *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}",
        "date": time.strftime("%Y-%m-%d"),
        "precision": args.precision,
        "batch": "32 pairs = 64 images",
        "steps_timed_per_variant": args.blocks * args.steps_per_block,
        "ms_per_step_median": {k: round(1000 * v, 2) for k, v in medians.items()},
        "ms_per_step_quartiles": {
            k: [round(1000 * float(q), 2) for q in np.percentile(t, [25, 75])] for k, t in times.items()
        },
        "speedup_compiled_vs_eager": round(medians["eager"] / medians["compiled"], 3),
        "first_step_seconds": {
            "eager": round(eager_first, 2),
            "compiled_cold_cache": round(cold_first, 2),
            "compiled_warm_cache": round(warm_first, 2),
        },
        "compile_seconds": {"cold_cache": round(compile_cold, 2), "warm_cache": round(compile_warm, 2)},
        "first_loss": {"eager": eager_loss, "compiled": first_loss},
        "break_even_steps": {
            k: (round(v / saved) if saved > 0 else None)
            for k, v in (("cold_cache", compile_cold), ("warm_cache", compile_warm))
        },
        f"pays_off_within_{args.run_steps}_steps": {
            k: bool(saved > 0 and args.run_steps * saved > v)
            for k, v in (("cold_cache", compile_cold), ("warm_cache", compile_warm))
        },
    }
    write_record(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
