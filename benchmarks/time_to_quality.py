"""Time to quality: MCC against training steps and CPU-seconds per recipe of a study.

Reads a finished study whose model entries are recipes of the same model and dataset (for example
``benchmarks/studies/time-to-quality.toml``) and records, per recipe, the mean ± std MCC over
seeds at every scored checkpoint, and the first checkpoint where the recipe's mean MCC reaches the
reference recipe's mean MCC at its last step. Every recipe there has the same step cost, so
CPU-seconds are steps × ``--step-ms`` (the default: the fp32 channels_last step measured on the idle
2-core machine, docs/benchmarks/speed.md "Whole-run cost") × the 2 cores.

    python benchmarks/time_to_quality.py --study benchmarks/results/time-to-quality --reference reference
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> int:
    from slowvae.rundir import atomic_write_json
    from slowvae.study import parse_study
    from slowvae.study.table import seed_values, study_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, required=True, help="the study directory")
    parser.add_argument("--reference", default="reference", help="label of the reference recipe")
    parser.add_argument("--step-ms", type=float, default=97.7, help="milliseconds per step on 2 threads")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "time-to-quality" / "time_to_quality.json")
    args = parser.parse_args()

    run = parse_study((args.study / "study.toml").read_text()).runs[0]
    checkpoints = sorted(run.evaluate["at_steps"]) + [run.config["steps"]]
    metrics = [f"mcc@{s}" for s in checkpoints[:-1]] + ["mcc"]
    table = study_table(args.study, metrics=metrics)
    per_metric = {metric: seed_values(args.study, table, metric) for metric in metrics}  # per row, its seeds
    recipes = {}
    for i, row in enumerate(table["rows"]):
        curve = {}
        for step, metric in zip(checkpoints, metrics):
            values = per_metric[metric][i]
            curve[str(step)] = {
                "mean": float(np.mean(values)) if values else None,
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
                "seeds": [round(v, 4) for v in values],
            }
        recipes[row["model"]] = {
            "n": row["n"],
            "n_failed": row["n_failed"],
            "n_missing": row["n_missing"],
            "mcc": curve,
        }
    if args.reference not in recipes:
        raise SystemExit(f"no recipe labelled {args.reference!r} in {args.study} (have {', '.join(recipes)})")
    target = recipes[args.reference]["mcc"][str(checkpoints[-1])]["mean"]
    for recipe in recipes.values():
        reached = [s for s in checkpoints if (m := recipe["mcc"][str(s)]["mean"]) is not None and m >= target]
        recipe["first_step_at_reference_final_mcc"] = reached[0] if reached else None
        recipe["cpu_seconds_to_it"] = round(reached[0] * args.step_ms / 1000 * 2, 1) if reached else None
    record = {
        "command": "python " + " ".join([sys.argv[0].replace(str(HERE.parent) + "/", ""), *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d"),
        "study": str(args.study),
        "step_ms": args.step_ms,
        "reference": args.reference,
        "reference_final_mcc": target,
        "recipes": recipes,
    }
    atomic_write_json(args.out, record)
    plot(record, checkpoints, args.out.with_suffix(".png"))
    print(json.dumps(record, indent=2))
    return 0


def plot(record: dict, checkpoints: list[int], path: Path) -> None:
    """MCC against CPU-seconds: each seed a point, each recipe's mean a line with a ±std band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    seconds = np.array(checkpoints) * record["step_ms"] / 1000 * 2
    for i, (label, recipe) in enumerate(record["recipes"].items()):
        color = f"C{i}"
        stats = [recipe["mcc"][str(s)] for s in checkpoints]
        mean = np.array([st["mean"] if st["mean"] is not None else np.nan for st in stats])
        std = np.array([st["std"] or 0.0 for st in stats])
        ax.plot(seconds, mean, "-o", color=color, label=f"{label} (n={recipe['n']})")
        ax.fill_between(seconds, mean - std, mean + std, color=color, alpha=0.15)
        for x, st in zip(seconds, stats):
            ax.scatter([x] * len(st["seeds"]), st["seeds"], color=color, s=8, alpha=0.6)
    ax.axhline(record["reference_final_mcc"], color="grey", lw=0.8, ls="--", label="reference at its last step")
    ax.set_xlabel(f"CPU-seconds (2 cores × {record['step_ms']:g} ms per step)")
    ax.set_ylabel("MCC (10,000 frames)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
