"""``slowvae identifiability``: watch the identifiability theorem happen on synthetic data.

Trains each model on latents with generalized-Laplace transitions seen through a random mixing,
for every alpha and seed, and reports MCC against the true latents (Pearson and Spearman after
Hungarian matching) as a table, a figure of MCC against alpha, and JSON records.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from slowvae.cli.train import _key_value
from slowvae.errors import SlowVAEError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "identifiability",
        help="train on synthetic sparse transitions and report MCC against the true latents, per alpha",
        description=(
            "The identifiability experiment of Klindt et al. (ICLR 2021, §3): latents z ~ N(0, I) "
            "move by factorised generalized-Laplace steps, density ∝ exp(-(rate |e|)^alpha), and are "
            "seen through a random invertible mixing. SlowVAE should recover them (MCC near 1) for "
            "alpha < 2 and not for alpha = 2 (Gaussian). Runs on CPU."
        ),
    )
    _add_data_options(p)
    _add_model_options(p)
    _add_optimisation_options(p)
    _add_output_options(p)
    p.set_defaults(func=run)


def _add_data_options(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data")
    d.add_argument(
        "--alpha",
        type=float,
        nargs="+",
        default=[0.5, 1.0, 2.0],
        help="shapes of the transition distribution (default 0.5 1 2; 2 = Gaussian)",
    )
    d.add_argument("--dim", type=int, default=5, help="number of latents, 2 to 20 (default 5)")
    d.add_argument(
        "--mixing",
        choices=["linear", "mlp"],
        default="mlp",
        help="random orthogonal matrix or leaky-ReLU MLP (default mlp)",
    )
    d.add_argument("--layers", type=int, default=3, help="layers of the mlp mixing (default 3)")
    scale = d.add_mutually_exclusive_group()
    scale.add_argument(
        "--data-rate",
        type=float,
        default=None,
        metavar="LAMBDA",
        help="rate lambda of the transitions, the same for every alpha",
    )
    scale.add_argument(
        "--step-std",
        type=float,
        default=None,
        help="standard deviation of a latent's step, the same for every alpha; lambda follows from "
        "alpha (default 1 when --data-rate is not given)",
    )
    d.add_argument(
        "--seeds", type=int, default=3, help="number of seeds, 1..N (default 3); a seed fixes mixing, data and init"
    )


def _add_model_options(p: argparse.ArgumentParser) -> None:
    from slowvae.models.mlp import VECTOR_MODELS

    m = p.add_argument_group("models")
    m.add_argument(
        "--models",
        nargs="+",
        default=["slowvae"],
        choices=sorted(VECTOR_MODELS),
        help="models to train (default slowvae; slowvae-gl learns the transition prior's alpha and scale; "
        "betavae is the gamma = 0 control, pcl and infonce "
        "the contrastive baselines on the same MLP encoder)",
    )
    m.add_argument("--beta", type=float, help="weight of the N(0, I) prior term (default 1)")
    m.add_argument(
        "--gamma",
        type=float,
        help="slowvae: weight of the Laplace transition term (default 30 here; the reference's is 10)",
    )
    m.add_argument(
        "--rate",
        type=float,
        help="slowvae: rate of the model's Laplace prior (default: sqrt(2) / the data steps' std, i.e. matched)",
    )
    m.add_argument(
        "--obs-std",
        type=float,
        help="standard deviation of the Gaussian decoder for the first half of training (default 0.1)",
    )
    m.add_argument(
        "--final-obs-std",
        type=float,
        default=0.01,
        help="the decoder std falls geometrically to this between 50%% and 90%% of training "
        "(default 0.01; give the --obs-std value to keep it constant)",
    )
    m.add_argument(
        "--hyper",
        action="append",
        type=_key_value,
        metavar="KEY=VALUE",
        help="any model hyperparameter, repeatable, for every selected model that has it, e.g. "
        "--hyper alpha=0.5 or --hyper share=all for slowvae-gl (`slowvae models` lists them)",
    )
    m.add_argument("--hidden", type=int, default=None, help="width of the encoder and decoder MLPs (default 64)")
    m.add_argument(
        "--posterior",
        choices=["full", "diagonal"],
        default="full",
        help="covariance of the Gaussian posterior: full (default) or diagonal (the reference's mean field, "
        "biased towards orthogonal decoders)",
    )


def _add_optimisation_options(p: argparse.ArgumentParser) -> None:
    o = p.add_argument_group("optimisation")
    o.add_argument("--steps", type=int, default=None, help="Adam steps per run (default 16000)")
    o.add_argument("--batch-pairs", type=int, default=None, help="fresh pairs per step (default 256)")
    o.add_argument("--lr", type=float, default=None, help="Adam learning rate, cosine-annealed to 0 (default 3e-3)")
    o.add_argument("--eval-samples", type=int, default=10_000, help="frames for the MCC (default 10000)")
    o.add_argument(
        "--restarts",
        type=int,
        default=1,
        help="networks trained per seed from different initialisations; the one with the lowest "
        "held-out loss is kept, without labels (default 1)",
    )
    o.add_argument(
        "--workers",
        type=int,
        default=1,
        help="settings trained at once, one process and one torch thread each (default 1)",
    )


def _add_output_options(p: argparse.ArgumentParser) -> None:
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print only a JSON list of records on standard output")
    out.add_argument(
        "--out",
        type=Path,
        default=Path("slowvae-identifiability"),
        metavar="DIR",
        help="folder for records.json (saved after every setting; a rerun of the same command "
        "resumes from it), table.md and mcc_vs_alpha.png (default ./slowvae-identifiability)",
    )
    out.add_argument("--quiet", action="store_true", help="no progress on standard error")


def config_from_args(args: argparse.Namespace):
    """The :class:`IdentifiabilityConfig` the flags describe."""
    from slowvae.identifiability import IdentifiabilityConfig
    from slowvae.models.mlp import VECTOR_MODELS

    if not 2 <= args.dim <= 20:
        raise SlowVAEError(f"--dim must be between 2 and 20, got {args.dim}")
    values = {k: getattr(args, k) for k in ("steps", "batch_pairs", "lr", "hidden") if getattr(args, k) is not None}
    hyper: dict[str, dict[str, float | str]] = {}
    given = [
        (flag, getattr(args, flag), f"--{flag.replace('_', '-')}") for flag in ("beta", "gamma", "rate", "obs_std")
    ]
    given += [(key, value, f"--hyper {key}") for key, value in args.hyper or []]
    for name in args.models:
        h = {}
        for flag, value, label in given:
            if value is None:
                continue
            if flag not in VECTOR_MODELS[name].defaults:
                if any(flag in VECTOR_MODELS[other].defaults for other in args.models):
                    continue  # applies to the models that have it
                raise SlowVAEError(f"no model among {', '.join(args.models)} has {label}")
            h[flag] = value
        hyper[name] = h
    return IdentifiabilityConfig(
        alphas=tuple(args.alpha),
        dim=args.dim,
        mixing=args.mixing,
        layers=args.layers,
        seeds=args.seeds,
        models=tuple(args.models),
        data_rate=args.data_rate,
        step_std=args.step_std,
        hyper=hyper,
        posterior=args.posterior,
        final_obs_std=args.final_obs_std,
        eval_samples=args.eval_samples,
        restarts=args.restarts,
        **values,
    )


def _earlier_records(path: Path, config: dict) -> list[dict]:
    """The records in ``path`` when it was written for the same ``config``; [] when there is none.
    A file for another setting is an error (rather than overwriting its results)."""
    if not path.exists():
        return []
    try:
        saved = json.loads(path.read_text())
        same, records = saved["config"] == config, list(saved["records"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SlowVAEError(
            f"{path} is not a records file of this command ({exc}); delete it or choose another --out"
        ) from None
    if not same:
        raise SlowVAEError(
            f"{path} holds the records of a different setting; choose another --out, or delete it to start again"
        )
    return records


def run(args: argparse.Namespace) -> int:
    from slowvae.identifiability import config_dict, markdown_table, plot_mcc, run_experiment
    from slowvae.rundir import atomic_write_bytes, atomic_write_json

    config = config_from_args(args)
    config.validate()
    quiet = args.quiet

    def progress(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr, flush=True)

    out = args.out
    done = _earlier_records(out / "records.json", config_dict(config))
    if done:
        progress(f"resuming {out}: {len(done)} setting(s) already done")

    def save(records: list[dict]) -> None:
        atomic_write_json(out / "records.json", {"config": config_dict(config), "records": records})

    out.mkdir(parents=True, exist_ok=True)
    records = run_experiment(config, None if quiet else progress, workers=args.workers, done=done, on_record=save)
    save(records)
    atomic_write_bytes(out / "table.md", markdown_table(records).encode())
    plot_mcc(records, out / "mcc_vs_alpha.png")
    progress(f"wrote {out}/records.json, table.md, mcc_vs_alpha.png")
    if args.json:
        print(json.dumps(records))
    else:
        print(markdown_table(records), end="")
    return 0
