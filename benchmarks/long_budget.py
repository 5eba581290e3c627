"""Why SlowVAE's score moves with the training budget: trajectories of the long-budget studies.

Reads one or more study directories (the long-budget study, its ablation, the 20,000-step budget
study) and, for every table row (model, setting) and every scored step (``results_step_N.json``
and the final ``results.json``), gives over the seeds scored at that step (mean, std, n; std
``null`` for one seed; a seed that trains on adds steps the others have not reached):

- every headline score, MCC per factor, the active latents (``factor_vae_num_active_dims``) and
  ``dci_informativeness_test`` (a booster that reads *all* latents: information kept, or lost);
- the hours of training logged up to that step (``train_hours``: the machine time to reach it);
- the loss terms of the training log around that step (mean of the logged intervals in the last
  1,000 steps): reconstruction, the N(0, I) term and the Laplace transition term for SlowVAE;
- from the factor x latent |Spearman| matrix where a result holds it (``mcc_abs_corr``): per factor
  the latents that carry it (|rho| >= 0.3: a factor *split* over several latents) and per latent the
  factors it carries (a latent *merging* several factors).

and answers the questions of the long-budget write-up with numbers: which factors gain and lose
between the first and last step that every seed has scored, whether MCC and informativeness move
together, and, for rows that differ only in gamma or rate, how the fall depends on the prior's pull
and sparsity.

    python benchmarks/long_budget.py --study benchmarks/results/long-budget-ablation \\
        --study benchmarks/results/paper-protocol-budget --out benchmarks/results/long-budget/ablation.json

writes the JSON and a Markdown summary beside it (``.md``); with ``--figures`` also each run's
factor x latent correlation matrices stacked by step (``correlation-<row>-seed<k>.png``) and each VAE
run's loss terms above its MCC (``loss-<row>-seed<k>.png``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SCORES = [
    "mcc",
    "mig",
    "sap",
    "modularity",
    "dci_disentanglement",
    "dci_informativeness_test",
    "beta_vae_eval",
    "factor_vae_eval",
    "factor_vae_num_active_dims",
]
LOSSES = ["recon", "kl_normal", "kl_laplace", "kl", "loss"]
#: the VAE loss terms drawn by ``--figures``, with their axis names
VAE_TERMS = ["recon", "kl_normal", "kl_laplace", "kl"]
TERM_NAMES = {
    "recon": "reconstruction",
    "kl_normal": "N(0, I) KL",
    "kl_laplace": "Laplace transition KL",
    "kl": "KL",
}
#: |Spearman| at or above which a latent counts as carrying a factor
CARRIES = 0.3
#: steps before a scored step whose logged loss intervals are averaged
LOSS_WINDOW = 1000
_STEP_FILE = re.compile(r"results_step_(\d+)\.json$")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _scores(results: dict[str, Any]) -> dict[str, Any]:
    """The scores of one results file (the record's ``scores`` table where the file has one)."""
    return results.get("scores", results)


def run_points(run: Path) -> dict[int, dict[str, Any]]:
    """Step -> scores of one run directory: every ``results_step_N.json`` and the final results."""
    points: dict[int, dict[str, Any]] = {}
    for path in run.glob("results_step_*.json"):
        data = _read(path)
        if data is not None:
            points[int(_STEP_FILE.search(path.name).group(1))] = _scores(data)
    final = _read(run / "results.json")
    if final is not None and "step" in _scores(final):
        points[int(_scores(final)["step"])] = _scores(final)
    return points


def loss_at(log: list[dict[str, Any]], step: int) -> dict[str, float]:
    """Mean of each loss term over the logged intervals in (step - LOSS_WINDOW, step]."""
    rows = [r for r in log if step - LOSS_WINDOW < r["step"] <= step]
    return {k: float(np.mean([r[k] for r in rows])) for k in LOSSES if rows and all(k in r for r in rows)}


def train_hours(log: list[dict[str, Any]], step: int) -> float | None:
    """Hours of training logged up to ``step`` (the ``seconds`` of each interval; None where the log
    lacks them): the machine time a run spent to reach that budget, on whichever machines trained it."""
    rows = [r for r in log if r["step"] <= step]
    if not rows or not all("seconds" in r for r in rows):
        return None
    return float(sum(r["seconds"] for r in rows)) / 3600


def structure(abs_corr: list[list[float]], factors: list[str]) -> dict[str, Any]:
    """From a (D, K) |corr| matrix: the latents carrying each factor, and latents carrying several."""
    matrix = np.asarray(abs_corr)
    carriers = {f: [int(d) for d in np.flatnonzero(matrix[:, k] >= CARRIES)] for k, f in enumerate(factors)}
    merged = {
        int(d): [factors[k] for k in np.flatnonzero(matrix[d] >= CARRIES)]
        for d in range(matrix.shape[0])
        if np.count_nonzero(matrix[d] >= CARRIES) > 1
    }
    return {"latents_per_factor": carriers, "latents_with_several_factors": merged}


def load_runs(study: Path) -> list[dict[str, Any]]:
    """The runs of one study directory with their scored steps, loss log and precision."""
    runs = []
    for run in sorted((study / "runs").glob("*/")):
        record = _read(run / "study-run.json")
        config = _read(run / "config.json") or {}
        if record is None:
            continue
        log_path = run / "metrics.jsonl"
        log = (
            [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
            if log_path.exists()
            else []
        )
        runs.append(
            {
                "study": study.name,
                "model": record["model"],
                "setting": record["setting"],
                "seed": record["seed"],
                "precision": config.get("config", {}).get("precision"),
                "points": run_points(run),
                "log": log,
            }
        )
    return runs


def _spread(values: list[float]) -> dict[str, Any]:
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
        "n": len(values),
    }


def _label(model: str, setting: dict[str, float]) -> str:
    return model + "".join(f" {k} {v:.4g}" for k, v in sorted(setting.items()) if k != "beta")


def row_trajectory(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per step any seed has scored: the spread over the seeds scored there (``n``) of every score,
    per-factor MCC, loss term and structure. Seeds that train on (or further) add steps of their own."""
    steps = sorted(set.union(*(set(r["points"]) for r in runs)))
    out = {}
    for step in steps:
        present = [r for r in runs if step in r["points"]]
        points = [r["points"][step] for r in present]
        entry: dict[str, Any] = {"n": len(present), "seeds": [r["seed"] for r in present]}
        entry |= {k: _spread([p[k] for p in points]) for k in SCORES if all(k in p for p in points)}
        factors = list(points[0].get("mcc_per_factor", {}))
        entry["mcc_per_factor"] = {f: _spread([p["mcc_per_factor"][f] for p in points]) for f in factors}
        losses = [loss_at(r["log"], step) for r in present]
        entry["loss"] = {k: _spread([x[k] for x in losses]) for k in LOSSES if all(k in x for x in losses)}
        hours = [train_hours(r["log"], step) for r in present]
        entry["train_hours"] = _spread(hours) if None not in hours else None
        entry["structure"] = [
            {"seed": r["seed"], **structure(p["mcc_abs_corr"], factors)}
            for r, p in zip(present, points)
            if "mcc_abs_corr" in p
        ]
        out[str(step)] = entry
    return out


def rows(all_runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows (model, setting) over the runs of every study, each with its seeds and trajectory."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in all_runs:
        key = (run["model"], json.dumps(run["setting"], sort_keys=True))
        groups.setdefault(key, []).append(run)
    out = []
    for (model, _), runs in sorted(groups.items()):
        scored = [r for r in runs if r["points"]]
        if not scored:
            continue
        out.append(
            {
                "label": _label(model, scored[0]["setting"]),
                "model": model,
                "setting": scored[0]["setting"],
                "seeds": sorted(r["seed"] for r in scored),
                "studies": sorted({r["study"] for r in scored}),
                "precisions": sorted({str(r["precision"]) for r in scored}),
                "trajectory": row_trajectory(scored),
            }
        )
    return out


def _change(trajectory: dict[str, Any], pick: Any) -> dict[str, float] | None:
    steps = list(trajectory)
    if len(steps) < 2:
        return None
    first, last = pick(trajectory[steps[0]]), pick(trajectory[steps[-1]])
    if first is None or last is None:
        return None
    return {"from_step": int(steps[0]), "to_step": int(steps[-1]), "from": first, "to": last, "change": last - first}


def _mean(entry: dict[str, Any], *keys: str) -> float | None:
    for key in keys:
        entry = entry.get(key) if isinstance(entry, dict) else None
    return None if entry is None else entry["mean"]


def why(row: dict[str, Any]) -> dict[str, Any]:
    """The row's first-to-last changes over the steps every seed has scored (like with like): MCC,
    each factor, active latents, informativeness, loss terms."""
    t = {step: e for step, e in row["trajectory"].items() if e["n"] == len(row["seeds"])}
    factors = list(next(iter(t.values()))["mcc_per_factor"]) if t else []
    return {
        "mcc": _change(t, lambda e: _mean(e, "mcc")),
        "per_factor": {f: _change(t, lambda e, f=f: _mean(e, "mcc_per_factor", f)) for f in factors},
        "active_latents": _change(t, lambda e: _mean(e, "factor_vae_num_active_dims")),
        "dci_informativeness_test": _change(t, lambda e: _mean(e, "dci_informativeness_test")),
        "loss": {k: _change(t, lambda e, k=k: _mean(e, "loss", k)) for k in LOSSES},
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# Long-budget trajectories ({', '.join(result['studies'])})", ""]
    for row in result["rows"]:
        lines += [
            f"## {row['label']} (seeds {', '.join(map(str, row['seeds']))}; {', '.join(row['precisions'])})",
            "",
        ]
        t = row["trajectory"]
        factors = list(next(iter(t.values()))["mcc_per_factor"]) if t else []
        head = ["step", "n", "MCC", *factors, "active", "DCI info (test)", "recon", "KL N", "KL Laplace", "train h"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for step, e in t.items():
            seeds = "" if e["n"] == len(row["seeds"]) else f" (seed {', '.join(map(str, e['seeds']))})"
            cells = [f"{int(step):,}", f"{e['n']}{seeds}", _fmt(e.get("mcc"))]
            cells += [_fmt(e["mcc_per_factor"].get(f)) for f in factors]
            cells += [_fmt(e.get("factor_vae_num_active_dims"), 1), _fmt(e.get("dci_informativeness_test"))]
            cells += [_fmt(e["loss"].get(k), 1) for k in ("recon", "kl_normal", "kl_laplace")]
            cells.append(_fmt(e.get("train_hours"), 2))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _fmt(item: dict[str, Any] | None, digits: int = 3) -> str:
    if item is None:
        return "–"
    std = "" if item["std"] is None else f" ± {item['std']:.{digits}f}"
    return f"{item['mean']:.{digits}f}{std}"


def _figure_name(kind: str, run: dict[str, Any]) -> str:
    """``<kind>-<row label>-seed<k>.png`` for one run."""
    slug = re.sub(r"[^a-z0-9.]+", "-", _label(run["model"], run["setting"]).lower())
    return f"{kind}-{slug}-seed{run['seed']}.png"


def save_loss_figures(all_runs: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Per run with a VAE loss log and two or more scored steps: its loss terms (moving means over
    ``LOSS_WINDOW`` steps) above its MCC at the scored steps (``loss-<row label>-seed<k>.png`` in
    ``out_dir``), to see how the terms move against each other and against the score."""
    from slowvae import viz

    paths = []
    for run in all_runs:
        log, scored = run["log"], {s: p["mcc"] for s, p in sorted(run["points"].items()) if "mcc" in p}
        terms = [k for k in VAE_TERMS if log and all(k in r for r in log)]
        if not terms or len(scored) < 2:
            continue
        every = log[1]["step"] - log[0]["step"] if len(log) > 1 else LOSS_WINDOW
        path = out_dir / _figure_name("loss", run)
        viz.save_loss_terms(
            np.array([r["step"] for r in log]),
            {TERM_NAMES[k]: np.array([r[k] for r in log]) for k in terms},
            scored,
            path,
            window=max(1, LOSS_WINDOW // every),
        )
        paths.append(path)
    return paths


def save_correlation_figures(all_runs: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Per run with two or more scored steps: its factor x latent |Spearman| matrices stacked by step
    (``correlation-<row label>-seed<k>.png`` in ``out_dir``), to see factors split and merge."""
    from slowvae import viz

    paths = []
    for run in all_runs:
        steps = [s for s in sorted(run["points"]) if "mcc_abs_corr" in run["points"][s]]
        if len(steps) < 2:
            continue
        points = [run["points"][s] for s in steps]
        factors = list(points[0]["mcc_per_factor"])
        path = out_dir / _figure_name("correlation", run)
        viz.save_correlation_steps(
            [np.asarray(p["mcc_abs_corr"]) for p in points],
            [f"step {s:,}: MCC {p['mcc']:.3f}" for s, p in zip(steps, points)],
            factors,
            path,
            matched=[
                [p["latent_for_factor"][f] for f in factors] if "latent_for_factor" in p else None for p in points
            ],
        )
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", type=Path, action="append", required=True, help="study directory (repeatable)")
    parser.add_argument("--out", type=Path, required=True, help="JSON to write (a Markdown summary goes beside it)")
    parser.add_argument(
        "--figures",
        action="store_true",
        help="also draw each run's correlation matrices by step and loss terms beside --out",
    )
    args = parser.parse_args(argv)
    missing = [s for s in args.study if not (s / "runs").is_dir()]
    if missing:
        print(f"not a study directory (no runs/): {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    all_runs = [run for study in args.study for run in load_runs(study)]  # read once: rows and figures
    table = rows(all_runs)
    result = {
        "command": "python benchmarks/long_budget.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": time.strftime("%Y-%m-%d"),
        "studies": [str(s) for s in args.study],
        "carries_threshold": CARRIES,
        "loss_window_steps": LOSS_WINDOW,
        "rows": table,
        "why": {row["label"]: why(row) for row in table},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result) + "\n")
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}", file=sys.stderr)
    if args.figures:
        for path in save_correlation_figures(all_runs, args.out.parent) + save_loss_figures(all_runs, args.out.parent):
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
