"""The identifiability experiment: MCC against alpha for SlowVAE and its gamma = 0 control.

Runs every model x alpha x seed of :class:`slowvae.identifiability.IdentifiabilityConfig`, one
process per worker, one torch thread each, and writes into ``benchmarks/results/identifiability/``:
``identifiability[-TAG].json`` (config, records, wall times, machine), ``identifiability[-TAG].png``
(MCC against alpha) and ``identifiability[-TAG].md`` (the table and the exact command).

    nice -n 10 python benchmarks/identifiability.py --workers 2
    nice -n 10 python benchmarks/identifiability.py --mixing linear --tag linear --workers 2

The JSON file is rewritten after every finished setting (``"complete": false`` until the end);
the same command run again resumes from it. ``--reuse FILE`` takes the records of settings this
command would train from an earlier results file of the same setting (every config field equal
except the alphas, the models, the seeds and the other models' hyperparameters) and marks them
``"reused_from": FILE``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    from slowvae.cli.train import _key_value  # KEY=VALUE as `slowvae identifiability --hyper` reads it
    from slowvae.identifiability import IdentifiabilityConfig, config_dict, markdown_table, plot_mcc, run_experiment

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--alpha", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    p.add_argument("--dim", type=int, default=5)
    p.add_argument("--mixing", default="mlp")
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--models", nargs="+", default=["slowvae", "betavae"])
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--gamma", type=float, default=None)
    p.add_argument("--obs-std", type=float, default=None)
    p.add_argument("--step-std", type=float, default=None)
    p.add_argument("--posterior", choices=["full", "diagonal"], default="full")
    p.add_argument("--final-obs-std", type=float, default=0.01)
    p.add_argument(
        "--hyper",
        action="append",
        default=[],
        type=_key_value,
        metavar="KEY=VALUE",
        help="a model hyperparameter for every model that has it (repeatable), e.g. entropies=2",
    )
    p.add_argument("--restarts", type=int, default=1, help="networks per seed; the lowest held-out loss is kept")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--tag", default="", help="suffix of the result files")
    p.add_argument("--reuse", type=Path, action="append", default=[], help="earlier results file to take records from")
    args = p.parse_args()

    from slowvae.models.mlp import VECTOR_MODELS

    extra = {"steps": args.steps} if args.steps else {}
    given = args.hyper
    hyper = {}
    for name in args.models:
        h = {key: value for key, value in given if key in VECTOR_MODELS[name].defaults}
        if args.obs_std is not None:
            h["obs_std"] = args.obs_std
        if args.gamma is not None and name in ("slowvae", "slowvae-gl"):
            h["gamma"] = args.gamma
        hyper[name] = h
    config = IdentifiabilityConfig(
        alphas=tuple(args.alpha),
        dim=args.dim,
        mixing=args.mixing,
        layers=args.layers,
        seeds=args.seeds,
        models=tuple(args.models),
        hyper=hyper,
        step_std=args.step_std,
        posterior=args.posterior,
        final_obs_std=args.final_obs_std,
        restarts=args.restarts,
        **extra,
    )
    config.validate()
    stem = "identifiability" + (f"-{args.tag}" if args.tag else "")
    out = HERE / "results" / "identifiability"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{stem}.json"
    command = "nice -n 10 python benchmarks/identifiability.py " + shlex.join(sys.argv[1:])
    done = _reusable(path, config_dict(config), only_same=True)
    for earlier in args.reuse:
        done += [
            {**r, "reused_from": str(earlier)}
            for r in _reusable(earlier, config_dict(config))
            if (r["model"], r["alpha"], r["seed"]) not in {(d["model"], d["alpha"], d["seed"]) for d in done}
        ]
    start = time.perf_counter()
    meta = {
        "command": command,
        "workers": args.workers,
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}".strip(),
        "note": f"{args.workers} worker(s) sharing the machine, other jobs possibly too: per-run seconds are upper bounds",
    }

    def save(records: list[dict], complete: bool = False) -> None:
        wall = {"wall_seconds_this_call": round(time.perf_counter() - start, 1), "complete": complete}
        payload = {**meta, **wall, "config": config_dict(config), "records": records}
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(payload, indent=1) + "\n")
        tmp.replace(path)

    records = run_experiment(
        config, lambda m: print(m, file=sys.stderr, flush=True), workers=args.workers, done=done, on_record=save
    )
    wall = time.perf_counter() - start
    save(records, complete=True)
    plot_mcc(
        records,
        out / f"{stem}.png",
        title=f"{config.dim}-d, {config.mixing} mixing"
        + (f" ({config.layers} layers)" if config.mixing == "mlp" else "")
        + f", {config.seeds} seeds",
    )
    runs = sorted(r["seconds"] for r in records if "reused_from" not in r) or [0.0]
    (out / f"{stem}.md").write_text(
        f"# Identifiability: {config.dim}-d, {config.mixing} mixing"
        + (f", {config.layers} layers" if config.mixing == "mlp" else "")
        + "\n\n"
        f"```\n{command}\n```\n\n{markdown_table(records)}\n"
        f"Wall time {wall / 60:.1f} min (last call) with {args.workers} worker(s); one run {runs[0]:.0f}-{runs[-1]:.0f} s "
        f"({config.steps} steps of {config.batch_pairs} pairs).\n"
        + "".join(
            f"\nReused records: {r['model']} alpha={r['alpha']:g} seed={r['seed']} from {r['reused_from']}."
            for r in records
            if "reused_from" in r
        )
        + _learned_table(records)
    )
    print(markdown_table(records))


def _reusable(path: Path, config: dict, only_same: bool = False) -> list[dict]:
    """Records of ``path`` trained with ``config``'s setting: all of them when its config equals
    ``config``; with ``only_same`` False also those of a file whose config differs only in alphas,
    models, seeds and other models' hyperparameters, for the models, alphas and seeds ``config`` has."""
    if not path.exists():
        return []
    saved = json.loads(path.read_text())
    if saved["config"] == config:
        return list(saved["records"])
    if only_same:
        raise SystemExit(f"{path} holds another setting; choose another --tag")
    keys = set(config) - {"alphas", "models", "hyper", "seeds"}
    if any(saved["config"].get(k) != config[k] for k in keys):
        raise SystemExit(f"--reuse {path}: its setting differs from this command's")
    return [
        r
        for r in saved["records"]
        if r["model"] in config["models"]
        and r["alpha"] in config["alphas"]
        and r["seed"] <= config["seeds"]
        and saved["config"]["hyper"].get(r["model"]) == config["hyper"].get(r["model"])
    ]


def _learned_table(records: list[dict]) -> str:
    """Per model and alpha with learned priors: the median over latents of the learned alpha, per seed."""
    rows = [r for r in records if "learned_alpha" in r]
    if not rows:
        return ""
    import numpy as np

    lines = [
        "\n\n| model | data alpha | learned alpha (median over latents), per seed | mean of the medians |",
        "|---|---:|---|---:|",
    ]
    for name, alpha in dict.fromkeys((r["model"], r["alpha"]) for r in rows):
        meds = [float(np.median(r["learned_alpha"])) for r in rows if (r["model"], r["alpha"]) == (name, alpha)]
        lines.append(f"| {name} | {alpha:g} | {', '.join(f'{m:.3f}' for m in meds)} | {np.mean(meds):.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
