"""The learned transition prior on images: MCC of slowvae-gl against the fixed-Laplace
SlowVAE per dataset, and where each latent's learned alpha goes, from a finished study
(``benchmarks/studies/gl-images.toml``).

Per run it reads results.json: ``mcc``, ``mcc_per_factor``, ``latent_for_factor`` (the latent the
MCC matching gave each factor) and, for slowvae-gl, ``learned_alpha`` and ``learned_scale`` (one
value per latent). It records per dataset and model the MCC over seeds, and for slowvae-gl the
learned alpha of the latent matched to each factor, of the unmatched latents, and the median over
all latents, beside the data's alpha where the dataset has one (natural-like: the
generalized-Laplace fits of YouTube-VOS). A figure shows every latent's learned alpha per run.

    python benchmarks/gl_images.py --study benchmarks/results/gl-images --out benchmarks/results/gl-images/gl-images.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
LEARNED = "slowvae-gl"


def _data_alpha(dataset: str) -> dict[str, float]:
    """The transition shape per factor that generates ``dataset`` (natural-like: its gennorm fits;
    Laplace steps elsewhere, alpha 1 for the factors that move)."""
    from slowvae.data.natural_sprites import YOUTUBE_GENNORM

    if dataset == "natural-like":
        return {"x": YOUTUBE_GENNORM["x"][0], "y": YOUTUBE_GENNORM["y"][0], "scale": YOUTUBE_GENNORM["area"][0]}
    return {}


def _summary(values: list[float]) -> dict[str, float | int | None]:
    return {
        "mean": float(np.mean(values)) if values else None,
        "std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
        "n": len(values),
    }


def collect(study_dir: Path) -> dict:
    """Per dataset and model: the runs' MCC and, for the learned prior, alpha per matched factor."""
    from slowvae.results import is_finished
    from slowvae.study import load_study
    from slowvae.study.core import run_dir
    from slowvae.study.runner import read_json

    study = load_study(study_dir / "study.toml")
    out: dict = {}
    for spec in study.runs:
        path = run_dir(study_dir, spec.id)
        entry = out.setdefault(spec.dataset, {}).setdefault(spec.model, {"runs": []})
        if not is_finished(path, spec.config["steps"]):
            entry["runs"].append({"seed": spec.seed, "finished": False})
            continue
        r = read_json(path / "results.json") or {}
        run = {
            "seed": spec.seed,
            "finished": True,
            "mcc": r["mcc"],
            "mcc_per_factor": r["mcc_per_factor"],
            "latent_for_factor": r["latent_for_factor"],
        }
        if "learned_alpha" in r:
            alpha = r["learned_alpha"]
            matched = {f: alpha[j] for f, j in r["latent_for_factor"].items()}
            run.update(
                learned_alpha=alpha,
                learned_scale=r["learned_scale"],
                alpha_of_factor=matched,
                alpha_unmatched=[a for j, a in enumerate(alpha) if j not in r["latent_for_factor"].values()],
                alpha_median=float(np.median(alpha)),
            )
        entry["runs"].append(run)
    for dataset, models in out.items():
        data_alpha = _data_alpha(dataset)
        for entry in models.values():
            done = [r for r in entry["runs"] if r["finished"]]
            entry["mcc"] = _summary([r["mcc"] for r in done])
            entry["mcc_per_factor"] = {
                f: _summary([r["mcc_per_factor"][f] for r in done]) for f in (done[0]["mcc_per_factor"] if done else {})
            }
            if done and "learned_alpha" in done[0]:
                entry["alpha_of_factor"] = {
                    f: {**_summary([r["alpha_of_factor"][f] for r in done]), "data": data_alpha.get(f)}
                    for f in done[0]["alpha_of_factor"]
                }
                entry["alpha_median"] = _summary([r["alpha_median"] for r in done])
    return out


def _cell(s: dict) -> str:
    """``mean ± std`` (std only over two or more seeds; – when nothing finished)."""
    if s["mean"] is None:
        return "–"
    return f"{s['mean']:.3f}" + (f" ± {s['std']:.3f}" if s["std"] is not None else "")


def markdown(result: dict) -> str:
    lines = ["| dataset | model | n | MCC | per factor (MCC) |", "|---|---|---:|---:|---|"]
    for dataset, models in result.items():
        for model, e in models.items():
            m = e["mcc"]
            cell = _cell(m)
            factors = ", ".join(f"{f} {s['mean']:.2f}" for f, s in e["mcc_per_factor"].items())
            lines.append(f"| {dataset} | {model} | {m['n']} | {cell} | {factors} |")
    lines += [
        "",
        "Learned alpha of the latent the MCC matching gives each factor (mean ± std over seeds; data's alpha):",
        "",
        "| dataset | factor | learned alpha | data alpha | factor MCC |",
        "|---|---|---:|---:|---:|",
    ]
    for dataset, models in result.items():
        e = models.get(LEARNED, {})
        for f, s in e.get("alpha_of_factor", {}).items():
            data = "–" if s["data"] is None else f"{s['data']:.3f}"
            lines.append(f"| {dataset} | {f} | {_cell(s)} | {data} | {e['mcc_per_factor'][f]['mean']:.2f} |")
    return "\n".join(lines) + "\n"


def figure(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = [d for d in result if LEARNED in result[d]]
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        runs = [r for r in result[dataset][LEARNED]["runs"] if r["finished"]]
        factors = list(runs[0]["latent_for_factor"]) if runs else []
        colours = dict(zip(factors, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
        for i, r in enumerate(runs):
            owner = {j: f for f, j in r["latent_for_factor"].items()}
            for j, a in enumerate(r["learned_alpha"]):
                f = owner.get(j)
                ax.scatter(
                    i + (j - 4.5) * 0.05,
                    a,
                    color=colours.get(f, "0.7"),
                    s=28,
                    label=f if f and i == 0 else None,
                    zorder=3,
                )
        for f, a in _data_alpha(dataset).items():
            ax.axhline(a, color=colours.get(f, "0.5"), ls=":", lw=1)
        ax.axhline(1.0, color="k", lw=0.8, label="start (Laplace)")
        ax.set_xticks(range(len(runs)), [f"seed {r['seed']}" for r in runs])
        ax.set_ylim(0, 2.05)
        ax.set_ylabel("learned alpha per latent")
        ax.set_title(f"{dataset}: colour = factor the latent is matched to\n(dotted: the data's alpha)", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    from slowvae.rundir import atomic_write_bytes, atomic_write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, required=True, help="the study directory")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "gl-images" / "gl-images.json")
    args = parser.parse_args()
    if not (args.study / "study.toml").exists():
        raise SystemExit(f"{args.study} is not a study directory (no study.toml); run the study first")
    result = collect(args.study)
    record = {
        "command": "python " + " ".join([sys.argv[0].replace(str(HERE.parent) + "/", ""), *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d"),
        "study": str(args.study),
        "datasets": result,
    }
    atomic_write_json(args.out, record)
    atomic_write_bytes(args.out.with_suffix(".md"), markdown(result).encode())
    figure(result, args.out.with_suffix(".png"))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
