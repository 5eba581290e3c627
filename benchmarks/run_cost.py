"""The cost of one complete run as a study pays it: train, then the ``fast`` suite.

Runs the two commands a run is made of, each in its own process as a study runs them::

    slowvae train --steps N --no-eval --device DEVICE --out DIR
    slowvae evaluate DIR --preset fast        (scores on the training device: --device auto)

and splits their wall time into phases from the timings the code itself records:
``DIR/timing.json`` (written by training: run assembly and loop seconds per invocation) and the
``timing`` object of ``DIR/results.json`` (written by evaluation: seconds and images per phase).

- ``start-up``: everything outside the recorded phases: interpreter start, imports, argument
  parsing, run assembly and loading the checkpoint, in both processes;
- ``training``: the training loop (checkpoints included; with ``--compile``, the compilation in
  the first step too, also reported on its own);
- ``mcc``: sampling and encoding the MCC frames (trained and untrained network) and MCC itself;
- ``suite``: sampling and encoding the suite's frames, the array metrics and the sampling metrics;
- ``figures``: drawing and writing the PNGs.

Each phase reports seconds, the images that went through a network and images/s. Every run
starts from a fresh directory (a temporary one unless ``--keep DIR``).

    python benchmarks/run_cost.py --steps 5000
    python benchmarks/run_cost.py --steps 5000 --compile --out benchmarks/results/compile/run_cost-compile.json
    python benchmarks/run_cost.py --steps 5000 --device cuda --out benchmarks/results/speed/run_cost-cuda.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

import steplib  # noqa: E402  (benchmarks/ is on sys.path when a script runs)


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of ``command``; its output is passed through; a failure stops the benchmark."""
    print("$", " ".join(command), file=sys.stderr)
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def phases(
    train_wall: float, eval_wall: float, train_timing: list[dict[str, Any]], results: dict[str, Any]
) -> dict[str, Any]:
    """Seconds, images and images/s per phase from the two walls and the recorded timings."""
    loop = sum(seg["train_seconds"] for seg in train_timing)
    images = sum(seg["images"] for seg in train_timing)
    evaluation = results["timing"]
    recorded_eval = sum(evaluation[p]["seconds"] for p in ("mcc", "suite", "figures") if p in evaluation)

    def row(seconds: float, n: int | None) -> dict[str, Any]:
        return {
            "seconds": round(seconds, 3),
            "images": n,
            "images_per_s": round(n / seconds, 1) if n and seconds > 0 else None,
        }

    out = {
        "start-up": {
            **row(train_wall - loop + eval_wall - recorded_eval, None),
            "train_process": round(train_wall - loop, 3),
            "train_assembly": round(sum(seg["startup_seconds"] for seg in train_timing), 3),
            "evaluate_process": round(eval_wall - recorded_eval, 3),
            "evaluate_load": round(evaluation.get("load", {}).get("seconds", 0.0), 3),
        },
        "training": {**row(loop, images), "first_step_seconds": round(train_timing[0]["first_step_seconds"], 3)},
    }
    for phase in ("mcc", "suite", "figures"):
        if phase in evaluation:
            out[phase] = row(evaluation[phase]["seconds"], evaluation[phase].get("images"))
    if "figures" in out:
        out["figures"]["files"] = evaluation["figures"].get("files")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000, help="training steps (default 5000)")
    parser.add_argument("--compile", action="store_true", help="train with --compile")
    parser.add_argument(
        "--device", default="cpu", help="cpu (default), cuda or cuda:N: where the run trains and is scored"
    )
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto", help="training precision")
    parser.add_argument(
        "--eval-precision", choices=["auto", "fp32", "bf16"], default="auto", help="evaluation precision"
    )
    parser.add_argument("--metrics", help="only these suite metrics (comma-separated; for a quick check of the script)")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS of both processes (default: torch's default)")
    parser.add_argument("--keep", type=Path, help="run directory to keep (must not exist; default: a temporary one)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "speed" / "run_cost.json")
    args = parser.parse_args()

    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    tmp = None
    if args.keep is None:
        tmp = tempfile.mkdtemp(prefix="run_cost-")
        run_dir = Path(tmp) / "run"
    else:
        run_dir = args.keep
        if run_dir.exists():
            parser.error(f"{run_dir} exists; the benchmark times a fresh run")
    cli = [sys.executable, "-m", "slowvae.cli"]
    train_cmd = [
        "train",
        "--steps",
        str(args.steps),
        "--no-eval",
        "--device",
        args.device,
        "--precision",
        args.precision,
        "--out",
        str(run_dir),
    ] + (["--compile"] if args.compile else [])
    eval_cmd = ["evaluate", str(run_dir), "--preset", "fast", "--eval-precision", args.eval_precision]
    if args.metrics:
        eval_cmd += ["--metrics", args.metrics]
    try:
        train_wall = timed(cli + train_cmd, env)
        eval_wall = timed(cli + eval_cmd, env)
        train_timing = json.loads((run_dir / "timing.json").read_text())["segments"]
        results = json.loads((run_dir / "results.json").read_text())
        config = json.loads((run_dir / "config.json").read_text())["config"]
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    import torch

    wall = train_wall + eval_wall
    split = phases(train_wall, eval_wall, train_timing, results)
    record = {
        "command": "python " + " ".join([sys.argv[0].replace(str(HERE.parent) + "/", ""), *sys.argv[1:]]),
        "runs": ["slowvae " + " ".join(c).replace(str(run_dir), "RUN_DIR") for c in (train_cmd, eval_cmd)],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {env.get('OMP_NUM_THREADS', torch.get_num_threads())}, "
        f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}",
        "date": time.strftime("%Y-%m-%d"),
        "device": args.device,
        "training_precision": config["precision"],
        "compile": bool(config.get("compile", False)),
        "eval_precision": results["settings"].get("eval_precision"),
        "wall_seconds": round(wall, 2),
        "wall_minutes": round(wall / 60, 2),
        "phases": split,
        "share_of_wall": {name: round(p["seconds"] / wall, 3) for name, p in split.items()},
        "mcc": results["mcc"],
        "mcc_untrained": results["mcc_untrained"],
    }
    steplib.write_record(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
