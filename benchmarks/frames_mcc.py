"""SlowVAE on your own videos: MCC against training steps on a synthetic sprite video.

Writes ``--sequences`` mp4 files of a disc whose x and y follow a Laplace random walk
(``tests/data/sprite_video.py``; 96 x 128 frames, cropped and resized to 64 x 64 by the frames
dataset), with their ground truth as a CSV; trains SlowVAE on ``frames:FOLDER`` exactly as
``slowvae train --dataset frames:FOLDER --truth truth.csv`` does; and scores the checkpoints at
every ``--eval-every`` steps (step 0 is the untrained network) with MCC on the ground truth.
Resumable: run the same command again and a finished run is scored, an unfinished one continued.

    nice -n 10 python benchmarks/frames_mcc.py --steps 4000 --out benchmarks/results/frames/frames_mcc.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "data"))

from sprite_video import sprite_walk, write_mp4, write_truth  # noqa: E402


def make_video(folder: Path, sequences: int, length: int, seed: int) -> Path:
    """The sprite videos (one mp4 per sequence) and truth.csv in ``folder``; returns the CSV."""
    truth = folder / "truth.csv"
    if truth.is_file():
        return truth
    rng = np.random.default_rng(seed)
    (folder / "videos").mkdir(parents=True, exist_ok=True)
    positions = {}
    for s in range(sequences):
        frames, xy = sprite_walk(length, rng)
        write_mp4(folder / "videos" / f"walk{s}.mp4", frames)
        positions[f"walk{s}"] = xy
    write_truth(truth, positions)
    return truth


def train_to(run_dir: Path, config) -> float:
    """Train ``run_dir`` to ``config.steps``: a new run, or the saved run continued from its last
    checkpoint (exact resume) with more steps; the seconds this took."""
    from slowvae import rundir
    from slowvae.config import make_pair_source
    from slowvae.rundir import init_run_dir, load_run_config, update_run_config
    from slowvae.train import train

    start = time.perf_counter()
    ckpt = run_dir / rundir.CHECKPOINT_DIR / rundir.LAST_CHECKPOINT
    if not (run_dir / rundir.CONFIG_FILE).exists():
        init_run_dir(run_dir, config, make_pair_source(config))
        train(run_dir)
    elif (rundir.load_checkpoint(ckpt)["step"] if ckpt.exists() else 0) < config.steps:
        update_run_config(run_dir, dataclasses.replace(load_run_config(run_dir), steps=config.steps))
        if not ckpt.exists():  # stopped before its first checkpoint: start again with a clean log
            (run_dir / rundir.LOG_FILE).unlink(missing_ok=True)
        train(run_dir, resume=ckpt.exists())
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=10)
    parser.add_argument("--length", type=int, default=1000, help="frames per sequence")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--max-dt", type=int, default=1)
    parser.add_argument("--batch-pairs", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--samples", type=int, default=10_000, help="frames MCC is computed on")
    parser.add_argument("--work", type=Path, default=HERE / "runs" / "frames_mcc")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "frames" / "frames_mcc.json")
    args = parser.parse_args()

    from slowvae.config import TrainConfig
    from slowvae.evaluate import evaluate_run

    truth = make_video(args.work, args.sequences, args.length, args.seed)
    run_dir = args.work / f"slowvae-seed{args.seed}"
    config = TrainConfig(
        dataset=f"frames:{args.work / 'videos'}",
        dataset_options={"max_dt": args.max_dt},
        steps=args.steps,
        seed=args.seed,
        batch_pairs=args.batch_pairs,
        checkpoint_every=args.eval_every,
        keep_checkpoints=True,
        log_every=100,
    )
    train_s = train_to(run_dir, config)
    curve = {}
    for step in range(0, args.steps + 1, args.eval_every):
        result = evaluate_run(
            run_dir,
            checkpoint=f"step_{step}.pt",
            num_samples=args.samples,
            seed=0,
            figures=step == args.steps,
            truth=truth,
            out=run_dir / f"results_step_{step}.json",
        )
        curve[step] = {"mcc": result["mcc"], "mcc_per_factor": result["mcc_per_factor"]}
        print(f"step {step}: MCC {result['mcc']:.3f} (untrained network {result['mcc_untrained']:.3f})", flush=True)
    record = {
        "command": " ".join(["python", *sys.argv]),
        "machine": f"{platform.machine()}, shared with other processes (timings are not speed measurements)",
        "date": time.strftime("%Y-%m-%d"),
        "data": {
            "sequences": args.sequences,
            "frames_per_sequence": args.length,
            "video": "mp4 (H.264, crf 10), 96x128",
            "latents": ["x", "y"],
            "walk": "Laplace steps, scale 4 px of the 96 px square",
            "max_dt": args.max_dt,
        },
        "config": config.to_dict(),
        "mcc_untrained": result["mcc_untrained"],
        "mcc": curve,
        "gain_over_untrained": curve[args.steps]["mcc"] - result["mcc_untrained"],
        "train_seconds_this_call": round(train_s, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"final MCC {curve[args.steps]['mcc']:.3f}, untrained {result['mcc_untrained']:.3f} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
