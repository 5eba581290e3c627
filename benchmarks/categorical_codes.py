"""How a categorical factor (dSprites' shape) is coded, and what the Spearman MCC sees of it.

MCC correlates the *ranks* of each latent with the factor's *labels*. dSprites numbers its shapes
square 0, ellipse 1, heart 2, an order with no meaning. A latent that separates the three shapes
perfectly but puts them in another order (heart between square and ellipse, say) has a Spearman
|rho| of only about 0.45 with the labels, however clean its code. This script encodes a run's
evaluation frames (the scoring's own: ``num_samples`` frames drawn with seed 0) with one checkpoint
and reports, for the factor and every latent:

- the code's mean and standard deviation within each class, and the between-class spread;
- ``spearman``: |rho| with the labels as numbered (the number MCC uses);
- ``spearman_own_order``: |rho| with the classes renumbered in the order of the latent's class
  means (the best any numbering of the classes gives a latent whose classes do not overlap);
- ``accuracy``: held-out accuracy of the nearest class mean on that latent alone (fit on half the
  frames, tested on the other half; chance is the largest class's share);

and the MCC of the whole code as scored (``mcc_as_numbered``, equal to the run's recorded MCC at
that step) and with the factor's column replaced by each latent's own-order |rho|
(``mcc_own_order``): the score if the numbering of the classes were free.

    python benchmarks/categorical_codes.py --run RUN_DIR --checkpoint FILE --factor shape --out JSON

``--git-commit C`` reads the run's ``checkpoints/last.pt`` as committed in ``C`` instead (the long
study commits it at every multiple of 50,000 steps, so its history holds the scored steps).
``--figure PNG`` draws the four latents with the highest own-order |rho|, their codes by class.
``--table DIR`` gathers every JSON in ``DIR`` into ``DIR/categorical.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata


def _spearman(codes: np.ndarray, labels: np.ndarray) -> float:
    """|Spearman| of codes (N,) with labels (N,), average-tie ranks."""
    corr = np.corrcoef(rankdata(codes), rankdata(labels))[0, 1]
    return float(abs(corr)) if np.isfinite(corr) else 0.0


def latent_report(codes: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """One latent's codes (N,) against class labels (N,): class means and stds, |Spearman| as
    numbered and in the latent's own order of class means, and held-out nearest-mean accuracy."""
    classes = np.unique(labels)
    means = np.array([codes[labels == c].mean() for c in classes])
    stds = np.array([codes[labels == c].std() for c in classes])
    own_rank = np.argsort(np.argsort(means))  # class c -> its place in the latent's order
    relabelled = own_rank[np.searchsorted(classes, labels)]
    half = rng.permutation(len(codes)) < len(codes) // 2
    fit_means = np.array([codes[half & (labels == c)].mean() for c in classes])
    guess = classes[np.argmin(np.abs(codes[~half, None] - fit_means[None, :]), axis=1)]
    return {
        "class_means": means.round(4).tolist(),
        "class_stds": stds.round(4).tolist(),
        "between_class_std": round(float(means.std()), 4),
        "spearman": round(_spearman(codes, labels), 4),
        "spearman_own_order": round(_spearman(codes, relabelled), 4),
        "accuracy": round(float(np.mean(guess == labels[~half])), 4),
    }


def matched_mcc(
    codes: np.ndarray, factors: np.ndarray, column: int | None = None, own: np.ndarray | None = None
) -> dict[str, Any]:
    """Spearman MCC of codes (N, D) against factors (N, K), as scored; with ``column`` and ``own``
    (D,), that factor's |Spearman| per latent is replaced by ``own``: the Hungarian match and
    per-factor scores when that factor's classes may be numbered in each latent's own order."""
    ranks_c, ranks_f = rankdata(codes, axis=0), rankdata(factors, axis=0)
    abs_corr = np.abs(np.nan_to_num(np.corrcoef(ranks_c.T, ranks_f.T)[: codes.shape[1], codes.shape[1] :]))
    if column is not None:
        abs_corr[:, column] = own
    rows, cols = linear_sum_assignment(-abs_corr)
    latent = {int(c): int(r) for r, c in zip(rows, cols)}
    per_factor = [float(abs_corr[latent[k], k]) for k in range(factors.shape[1])]
    return {"mcc": round(float(np.mean(per_factor)), 4), "per_factor": np.round(per_factor, 4).tolist()}


def encode(
    run: Path, checkpoint: str | None, factor: str, num_samples: int
) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """The run's evaluation frames encoded with ``checkpoint``: codes (N, D), factors (N, K), the
    factor names and the checkpoint's step."""
    from slowvae.codes import encode as encode_codes
    from slowvae.rundir import load_model

    model, _config, step, source = load_model(run, checkpoint, "cpu")
    names = list(source.latent_names)
    if factor not in names:
        raise SystemExit(f"{run}: no factor {factor!r}; the run's factors are {', '.join(names)}")
    images, factors = source.sample_eval(num_samples, np.random.default_rng(0))
    codes = encode_codes(model, images, binary=source.binary, precision="fp32").astype(np.float64)
    return codes, factors, names, step


def report(codes: np.ndarray, factors: np.ndarray, names: list[str], factor: str) -> dict[str, Any]:
    """How ``factor`` is coded by codes (N, D) against factors (N, K) named ``names``."""
    labels = factors[:, names.index(factor)]
    rng = np.random.default_rng(0)
    latents = [latent_report(codes[:, d], labels, rng) for d in range(codes.shape[1])]
    own = np.array([entry["spearman_own_order"] for entry in latents])
    return {
        "factor": factor,
        "factors": names,
        "num_samples": len(codes),
        "class_counts": np.unique(labels, return_counts=True)[1].tolist(),
        "latents": latents,
        "best_accuracy": max(entry["accuracy"] for entry in latents),
        "mcc_as_numbered": matched_mcc(codes, factors),
        "mcc_own_order": matched_mcc(codes, factors, names.index(factor), own),
    }


def save_figure(codes: np.ndarray, labels: np.ndarray, result: dict[str, Any], names: list[str], path: Path) -> None:
    """Histograms of the four latents with the highest own-order |rho|, by class."""
    from slowvae import viz

    top = sorted(range(codes.shape[1]), key=lambda d: -result["latents"][d]["spearman_own_order"])[:4]
    titles = [
        f"step {result['step']:,}, latent {d}: |ρ| {result['latents'][d]['spearman']:.3f}"
        f"\nown order {result['latents'][d]['spearman_own_order']:.3f}, accuracy {result['latents'][d]['accuracy']:.3f}"
        for d in top
    ]
    classes = np.unique(labels)
    viz.save_class_codes(codes[:, top], np.searchsorted(classes, labels), names, titles, path)


def committed_checkpoint(run: Path, commit: str, into: Path) -> Path:
    """Write the run's ``checkpoints/last.pt`` as committed in ``commit`` to ``into``."""
    top = Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True).stdout.strip())
    path = (run.resolve() / "checkpoints" / "last.pt").relative_to(top.resolve()).as_posix()
    with into.open("wb") as out:
        done = subprocess.run(["git", "show", f"{commit}:{path}"], stdout=out, stderr=subprocess.PIPE, cwd=top)
    if done.returncode != 0:
        raise SystemExit(f"git show {commit}:{path} failed: {done.stderr.decode().strip()}")
    return into


def table(folder: Path) -> str:
    """A Markdown table of every report in ``folder``: per run and step, MCC and the factor's matched
    |rho| as scored and with the classes in each latent's own order, and the latents that separate
    the classes."""
    lines = [
        f"# How the categorical factor is coded ({folder})",
        "",
        "| run | step | MCC as scored | factor as scored | MCC, own order | factor, own order "
        "| latents with accuracy ≥ 0.95 | best accuracy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    reports = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    for r in sorted(reports, key=lambda r: (Path(r["run"]).name, r["step"])):
        k = r["factors"].index(r["factor"])
        scored, free = r["mcc_as_numbered"], r["mcc_own_order"]
        clean = [str(d) for d, e in enumerate(r["latents"]) if e["accuracy"] >= 0.95]
        lines.append(
            f"| {Path(r['run']).name} | {r['step']:,} | {scored['mcc']:.3f} | {scored['per_factor'][k]:.3f} "
            f"| {free['mcc']:.3f} | {free['per_factor'][k]:.3f} | {', '.join(clean) or '–'} | {r['best_accuracy']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="run directory")
    parser.add_argument("--checkpoint", help="checkpoint file (default checkpoints/last.pt)")
    parser.add_argument("--factor", default="shape", help="the categorical factor (default shape)")
    parser.add_argument("--num-samples", type=int, default=10_000, help="frames (the scoring's 10,000)")
    parser.add_argument("--git-commit", help="read the run's checkpoints/last.pt as committed in this commit")
    parser.add_argument("--out", type=Path, help="JSON to write")
    parser.add_argument("--figure", type=Path, help="also draw the top four latents' codes by class (PNG)")
    parser.add_argument("--class-names", nargs="+", help="names of the classes in label order (for --figure)")
    parser.add_argument("--table", type=Path, help="write DIR/categorical.md from every JSON in DIR, and stop")
    args = parser.parse_args(argv)
    if args.table is not None:
        (args.table / "categorical.md").write_text(table(args.table))
        print(f"wrote {args.table / 'categorical.md'}", file=sys.stderr)
        return 0
    if args.run is None or args.out is None:
        parser.error("--run and --out are required (or --table DIR alone)")
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint
        if args.git_commit is not None:
            checkpoint = str(committed_checkpoint(args.run, args.git_commit, Path(tmp) / "last.pt"))
        codes, factors, names, step = encode(args.run, checkpoint, args.factor, args.num_samples)
    result = {
        "command": "python benchmarks/categorical_codes.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": time.strftime("%Y-%m-%d"),
        "run": str(args.run),
        "checkpoint": f"{args.git_commit}:checkpoints/last.pt" if args.git_commit else (args.checkpoint or "last.pt"),
        "step": step,
        **report(codes, factors, names, args.factor),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for d, entry in enumerate(result["latents"]):
        print(
            f"latent {d}: |rho| {entry['spearman']:.3f} as numbered, {entry['spearman_own_order']:.3f} in its own order;"
            f" accuracy {entry['accuracy']:.3f}; class means {entry['class_means']} (std {entry['class_stds']})"
        )
    print(f"MCC with the classes in each latent's own order: {result['mcc_own_order']}", file=sys.stderr)
    if args.figure is not None:
        labels = factors[:, names.index(args.factor)]
        class_names = args.class_names or [f"{c:g}" for c in np.unique(labels)]
        save_figure(codes, labels, result, class_names, args.figure)
        print(f"wrote {args.figure}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
