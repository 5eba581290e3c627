"""Where SlowVAE stands against every baseline in the paper's protocol, from a
study directory (``benchmarks/results/paper-protocol-final``, or the search while it runs).

Per metric it ranks the table's rows by their mean over seeds and compares each baseline with
SlowVAE: the difference of the means, Welch's t-test on the seeds' values (two-sided; with 2-3
seeds a p-value is a rough guide, nothing more) and whether the two ±std intervals overlap (unknown,
and listed on neither side, while either has a single seed). It
also tabulates MCC per factor, which says *where* a model's MCC comes from, the active latents per
seed (what the FactorVAE score can use), and the machine time
the study took so far (``slowvae study status``).

    python benchmarks/paper_protocol.py --study benchmarks/results/paper-protocol-final --out benchmarks/results/paper-protocol-final/paper-protocol-standing.json

writes the JSON and a Markdown summary beside it (``.md``).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

METRICS = ["mcc", "mig", "sap", "modularity", "dci", "beta_vae", "factor_vae"]
FACTORS = ["shape", "scale", "orientation", "posX", "posY"]
# latents with a posterior-mean std of at least 0.05 (the FactorVAE score's pruning, dlib's threshold)
ACTIVE = "factor_vae_num_active_dims"
REFERENCE = "slowvae"


def _label(row: dict[str, Any]) -> str:
    return (
        row["model"]
        if row["model"] != REFERENCE
        else "SlowVAE (" + ", ".join(f"{k} {v:.3g}" for k, v in sorted(row["setting"].items())) + ")"
    )


def _welch(a: list[float], b: list[float]) -> float | None:
    if len(a) < 2 or len(b) < 2:
        return None
    with (
        warnings.catch_warnings()
    ):  # a sample of equal values (10 active latents every seed) warns; p is then NaN or exact
        warnings.simplefilter("ignore", RuntimeWarning)
        p = stats.ttest_ind(a, b, equal_var=False).pvalue
    return None if np.isnan(p) else float(p)


def standing(study_dir: Path, select: str | None) -> dict[str, Any]:
    """Per metric: the rows ranked by mean, SlowVAE's rank, and each baseline against SlowVAE."""
    from slowvae.study import study_table
    from slowvae.study.table import seed_values

    metrics = METRICS + [f"mcc_per_factor.{f}" for f in FACTORS] + [ACTIVE]
    table = study_table(study_dir, metrics=metrics, select=select)
    rows = [r for r in table["rows"] if r["n"] > 0]
    reference = [i for i, r in enumerate(rows) if r["model"] == REFERENCE]
    out: dict[str, Any] = {
        "rows": len(table["rows"]),
        "scored_rows": len(rows),
        "missing": [
            {"model": r["model"], "setting": r["setting"], "n_missing": r["n_missing"], "n_failed": r["n_failed"]}
            for r in table["rows"]
            if r["n_missing"] or r["n_failed"]
        ],
        "precisions": table["precisions"],
        "metrics": {},
    }
    kept = {"rows": rows, "selection": table["selection"]}
    for metric in metrics:
        values = seed_values(study_dir, kept, metric)
        order = sorted(
            (i for i in range(len(rows)) if rows[i][metric]["mean"] is not None), key=lambda i: -rows[i][metric]["mean"]
        )
        ranking = [
            {
                "model": rows[i]["model"],
                "setting": rows[i]["setting"],
                "label": _label(rows[i]),
                "mean": rows[i][metric]["mean"],
                "std": rows[i][metric]["std"],
                "n": rows[i]["n"],
                "seeds": values[i],
            }
            for i in order
        ]
        entry: dict[str, Any] = {"ranking": ranking}
        if reference:
            ref = reference[0]
            r_mean, r_std = rows[ref][metric]["mean"], rows[ref][metric]["std"]
            entry["slowvae_rank"] = order.index(ref) + 1 if ref in order else None
            entry["of"] = len(order)
            entry["vs_slowvae"] = []
            for i in order:
                if i == ref:
                    continue
                mean, std = rows[i][metric]["mean"], rows[i][metric]["std"]
                entry["vs_slowvae"].append(
                    {
                        "model": rows[i]["model"],
                        "difference": mean - r_mean,
                        "welch_p": _welch(values[i], values[ref]),
                        # a single seed has no spread: whether the intervals overlap is unknown (None)
                        "overlap": None if std is None or r_std is None else bool(abs(mean - r_mean) <= std + r_std),
                    }
                )
        out["metrics"][metric] = entry
    return out


def _cell(item: dict[str, Any]) -> str:
    return f"{item['mean']:.3f}" + (f" ± {item['std']:.3f}" if item["std"] is not None else "") + f" (n={item['n']})"


def markdown(result: dict[str, Any]) -> str:
    """The summary: per metric SlowVAE's place, the best row, and the baselines SlowVAE beats
    beyond their spreads and those that beat it."""
    lines = [
        f"Study `{result['study']}`: {result['scored_rows']} of {result['rows']} rows scored; machine time "
        f"{result['machine']['train_seconds'] / 3600:.1f} h training + {result['machine']['score_seconds'] / 3600:.1f} h "
        "scoring, summed over runs; trained in "
        + ", ".join(f"{p} ({n} runs)" for p, n in result["precisions"].items())
        + ".",
        "",
    ]
    if result["missing"]:
        lines += [
            "Not complete: "
            + "; ".join(f"{m['model']} {m['n_missing']} missing, {m['n_failed']} failed" for m in result["missing"]),
            "",
        ]
    lines += [
        "| metric | SlowVAE | rank | best | baselines above SlowVAE (±std apart) | baselines below (±std apart) |",
        "|---|---|---|---|---|---|",
    ]
    for metric in METRICS:
        entry = result["metrics"][metric]
        if not entry["ranking"]:
            continue
        mine = next((r for r in entry["ranking"] if r["model"] == REFERENCE), None)
        best = entry["ranking"][0]
        above = [v["model"] for v in entry.get("vs_slowvae", []) if v["difference"] > 0 and v["overlap"] is False]
        below = [v["model"] for v in entry.get("vs_slowvae", []) if v["difference"] < 0 and v["overlap"] is False]
        lines.append(
            f"| {metric} | {_cell(mine) if mine else '-'} | {entry.get('slowvae_rank', '-')} of {entry.get('of', '-')} "
            f"| {best['model']} {_cell(best)} | {', '.join(above) or '-'} | {', '.join(below) or '-'} |"
        )
    lines += [
        "",
        "MCC per factor (mean over seeds) and active latents per seed (posterior-mean std >= 0.05, "
        "as the FactorVAE score prunes):",
        "",
        "| model | " + " | ".join(FACTORS) + " | active latents |",
        "|---|" + "---|" * (len(FACTORS) + 1),
    ]
    per_factor = {f: {r["label"]: r for r in result["metrics"][f"mcc_per_factor.{f}"]["ranking"]} for f in FACTORS}
    active = {r["label"]: r for r in result["metrics"][ACTIVE]["ranking"]}
    for r in result["metrics"]["mcc"]["ranking"]:
        cells = [f"{per_factor[f][r['label']]['mean']:.2f}" if r["label"] in per_factor[f] else "-" for f in FACTORS]
        cells.append(", ".join(f"{v:g}" for v in active[r["label"]]["seeds"]) if r["label"] in active else "-")
        lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, required=True, help="study directory")
    parser.add_argument("--select", choices=["udr"], help="keep only each model's UDR-selected setting (the search)")
    parser.add_argument("--out", type=Path, required=True, help="JSON to write; the .md goes beside it")
    args = parser.parse_args(argv)
    from slowvae import rundir
    from slowvae.errors import SlowVAEError
    from slowvae.study import study_status

    try:
        result = {
            "command": "python " + " ".join([sys.argv[0], *sys.argv[1:]]),
            "date": time.strftime("%Y-%m-%d"),
            "study": str(args.study),
            "machine": study_status(args.study)["machine"],
            **standing(args.study, args.select),
        }
    except SlowVAEError as err:
        print(f"paper_protocol: error: {err}", file=sys.stderr)
        return 2
    rundir.atomic_write_json(args.out, result)
    text = markdown(result)
    rundir.atomic_write_bytes(args.out.with_suffix(".md"), text.encode())
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
