"""``slowvae stats``: how sparse are natural transitions (or a trained model's latent ones)?

Reads object masks or their statistics, takes the transitions of (x, y, area) at a time step,
fits a Gaussian, a Laplace and a generalized Laplace by maximum likelihood and reports them as
a table, JSON or CSV, with one log-density figure per variable.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

from slowvae.errors import SlowVAEError

FITS = ("gaussian", "laplace", "gennorm")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "stats",
        help="fit Gaussian / Laplace / generalized Laplace to the transitions of masks or latents",
        description=(
            "Transitions of object (x, y, area) between frames dt apart, fitted by maximum "
            "likelihood with a Gaussian, a Laplace and a generalized Laplace (alpha free), as in "
            "Klindt et al. (ICLR 2021), Fig. 1. Inputs may be repeated and are pooled."
        ),
    )
    _add_inputs(p)
    _add_transition_options(p)
    _add_fit_options(p)
    _add_output_options(p)
    p.set_defaults(func=run)


def _add_inputs(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("inputs (any number, pooled)")
    src.add_argument(
        "--mots",
        action="append",
        default=[],
        metavar="DIR",
        help="KITTI MOTS / MOTSChallenge annotations: instances/<seq>/*.png or instances_txt/<seq>.txt",
    )
    src.add_argument(
        "--csv", action="append", default=[], metavar="FILE", help="the Natural Sprites CSV (downscale_keepaspect.csv)"
    )
    src.add_argument(
        "--kitti-pickle",
        action="append",
        default=[],
        metavar="FILE",
        help="the KITTI Masks pickle (kitti_peds_v2.pickle); load only trusted files",
    )
    src.add_argument(
        "--mask-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of per-frame mask PNGs, one object per id (0 = background)",
    )
    src.add_argument(
        "--masks", action="append", default=[], metavar="FILE.npy", help="binary masks (T, H, W) of one object"
    )
    src.add_argument(
        "--run",
        metavar="RUN_DIR",
        help="a trained run: transitions of its posterior means on distinct pairs drawn apart from training, "
        "per latent (a video's pairs were all trained on: the output says how many)",
    )


def _add_transition_options(p: argparse.ArgumentParser) -> None:
    opt = p.add_argument_group("transitions")
    opt.add_argument("--dt", type=int, default=None, help="frames between the two of a transition (default 1)")
    opt.add_argument(
        "--reference-windows",
        action="store_true",
        help="mask inputs: the reference's 64-px windowing (6 windows, >=30 px runs; MOTS pedestrians only)",
    )
    opt.add_argument(
        "--classes",
        default=None,
        help="MOTS classes to keep, e.g. 'pedestrian' or '1,2' (default: all; pedestrian with --reference-windows)",
    )
    opt.add_argument(
        "--min-area",
        type=float,
        default=None,
        help="pixels below which an object counts as absent in a frame (default 1; 30 with --reference-windows)",
    )
    opt.add_argument(
        "--n-pairs", type=int, default=10000, help="--run: the most distinct pairs to encode (default 10000)"
    )
    opt.add_argument(
        "--jitter",
        type=float,
        default=0.0,
        metavar="Q",
        help="add uniform noise of width Q to every transition before fitting (dequantises "
        "pixel-lattice data, e.g. Q=1; default 0)",
    )


def _add_fit_options(p: argparse.ArgumentParser) -> None:
    fit = p.add_argument_group("fits")
    fit.add_argument(
        "--bootstrap",
        type=int,
        default=100,
        metavar="B",
        help="bootstrap resamples for the alpha interval; 0 skips it (default 100)",
    )
    fit.add_argument("--ci", type=float, default=0.95, help="bootstrap interval coverage (default 0.95)")
    fit.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and of --run's pairs (default 0)")


def _add_output_options(p: argparse.ArgumentParser) -> None:
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print only JSON on standard output")
    out.add_argument("--csv-out", metavar="FILE", help="also write one CSV row per variable and fit")
    out.add_argument(
        "--out",
        default="slowvae-stats",
        metavar="DIR",
        help="folder for the figures and stats.json (default ./slowvae-stats)",
    )
    out.add_argument("--no-plots", action="store_true", help="write no figures")
    out.add_argument("--quiet", action="store_true", help="no progress messages on standard error")


def _parse_classes(text: str | None) -> set[int] | None:
    from slowvae.masks.readers import MOTS_CLASSES

    if text is None:
        return None
    out = set()
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        if part.isdigit():
            out.add(int(part))
        elif part.rstrip("s") in MOTS_CLASSES:
            out.add(MOTS_CLASSES[part.rstrip("s")])
        else:
            raise SlowVAEError(f"--classes: unknown class {part!r}; use car, pedestrian or class numbers")
    return out


def _data_transitions(args: argparse.Namespace, log) -> tuple[np.ndarray, list[str], dict[str, str], None]:
    from slowvae.masks import readers
    from slowvae.stats.differences import UNITS, VARIABLES, transitions

    dt = 1 if args.dt is None else args.dt
    if dt < 1:
        raise SlowVAEError(f"--dt must be at least 1, got {dt}")
    classes = _parse_classes(args.classes)
    kw = {"reference": args.reference_windows, "min_area": args.min_area}
    jobs = [(f"--mots {d}", lambda d=d: readers.read_mots(d, classes=classes, **kw)) for d in args.mots]
    jobs += [(f"--csv {f}", lambda f=f: readers.read_natural_sprites_csv(f)) for f in args.csv]
    jobs += [(f"--kitti-pickle {f}", lambda f=f: readers.read_kitti_pickle(f)) for f in args.kitti_pickle]
    jobs += [(f"--mask-dir {d}", lambda d=d: readers.read_mask_dir(d, **kw)) for d in args.mask_dir]
    jobs += [(f"--masks {f}", lambda f=f: readers.read_mask_array(f, **kw)) for f in args.masks]
    tracks: list[np.ndarray] = []
    for label, read in jobs:
        log(f"reading {label}")
        got = read()
        log(f"  {len(got):,} tracks")
        tracks += got
    deltas = transitions(tracks, dt)
    log(f"{len(deltas):,} transitions at dt={dt} from {len(tracks):,} tracks")
    return deltas, list(VARIABLES), dict(UNITS), None


def _run_transitions(args: argparse.Namespace, log) -> tuple[np.ndarray, list[str], dict[str, str], dict]:
    if args.dt not in (None, 1):
        raise SlowVAEError("--dt does not apply to --run (pairs come from the run's dataset)")
    if args.n_pairs < 3:
        raise SlowVAEError(f"--n-pairs must be at least 3, got {args.n_pairs}")
    try:
        from slowvae.evaluate import encode_pairs
    except ImportError as err:
        if err.name != "slowvae.evaluate":
            raise
        raise SlowVAEError("--run needs slowvae.evaluate.encode_pairs, which this installation lacks") from None
    log(f"encoding up to {args.n_pairs:,} distinct pairs of {args.run}")
    pairs = encode_pairs(args.run, args.n_pairs, args.seed)
    z0, z1 = (np.asarray(z, dtype=np.float64) for z in pairs)
    if z0.shape != z1.shape or z0.ndim != 2:
        raise SlowVAEError(f"encode_pairs returned shapes {z0.shape} and {z1.shape}; expected two (n, D)")
    provenance = _pair_provenance(args.run, len(z0), getattr(pairs, "total", None))
    log(provenance["text"])
    names = [f"z{j}" for j in range(z0.shape[1])]
    return z1 - z0, names, {n: "" for n in names}, provenance


def _pair_provenance(run: str, encoded: int, total: int | None) -> dict:
    """What the encoded pairs are: how many, how many distinct pairs the data has (None: too many to
    count), and how many of them training drew (steps x pairs per step x processes), as a sentence too."""
    if total is None:
        text = f"{encoded:,} distinct pairs, drawn independently of training from the data it trained on"
        return {"distinct": encoded, "total": None, "seen_in_training": None, "text": text}
    from slowvae.rundir import read_config

    meta = read_config(Path(run))
    config, processes = meta.get("config", {}), (meta.get("trained_on") or {}).get("processes", 1)
    drawn = int(config.get("steps", 0)) * int(config.get("batch_pairs", 0)) * int(processes)
    seen = 1.0 - float(np.exp(-drawn / total)) if total else 0.0  # pairs drawn uniformly: P(seen at least once)
    text = (
        f"{encoded:,} distinct pairs ({'all' if encoded == total else 'of'} {total:,} the data has); "
        f"training drew {drawn:,} pairs from the same {total:,}, so about {100 * seen:.0f}% of them were seen in "
        "training: these pairs are not held out"
        if seen > 0.005
        else f"{encoded:,} distinct pairs of the {total:,} the data has"
    )
    return {"distinct": encoded, "total": total, "seen_in_training": seen, "text": text}


def _table(results: dict, header: str) -> str:
    cols = f"{'var':<6} {'n':>9} {'kurt':>8}  {'fit':<9} {'alpha':>22} {'loc':>10} {'scale':>10} {'loglik':>12} {'AIC':>12} {'BIC':>12} {'KS':>7}"
    lines = [header, cols, "-" * len(cols)]
    for name, r in results.items():
        if "skipped" in r:
            lines.append(f"{name:<6} {r['n']:>9,} {'':>8}  skipped: {r['skipped']}")
            continue
        for i, fit in enumerate(FITS):
            f = r[fit]
            alpha = {"gaussian": "(2)", "laplace": "(1)"}.get(fit, f"{f.get('alpha', 0):.3f}")
            if fit == "gennorm" and f.get("alpha_ci"):
                lo, hi = f["alpha_ci"]
                alpha += f" [{lo:.3f}, {hi:.3f}]"
            best = " *" if r["best"] == fit else ""
            lead = f"{name:<6} {r['n']:>9,} {r['kurtosis']:>8.2f}" if i == 0 else " " * 25
            lines.append(
                f"{lead}  {fit:<9} {alpha:>22} {f['loc']:>10.4g} {f['scale']:>10.4g} "
                f"{f['loglik']:>12.5g} {f['aic']:>12.5g} {f['bic']:>12.5g} {f['ks']:>7.4f}{best}"
            )
        if "learned_alpha" in r:
            lines.append(f"{'':>25}  {'learned':<9} {r['learned_alpha']:>22.3f} {'':>10} {r['learned_scale']:>10.4g}")
    lines.append(
        "kurt = excess kurtosis; alpha in brackets: bootstrap interval; * lowest AIC"
        + (
            "; learned: the model's own transition prior (slowvae-gl)"
            if any("learned_alpha" in r for r in results.values())
            else ""
        )
    )
    for name, r in results.items():
        g = r.get("gennorm")
        if g and (g["unbounded"] or g["alpha_at_bound"]):
            lines.append(
                f"warning: {name}: {100 * g['atom']:.0f}% of the transitions share one value, so the "
                "generalized-Laplace likelihood grows without bound as alpha -> 0"
                + (" (fit at the alpha bound)" if g["alpha_at_bound"] else "; shown is its interior maximum")
                + "; dequantise with --jitter (e.g. 1 for pixel data)"
            )
    return "\n".join(lines)


def _write_csv(results: dict, path: Path) -> None:
    fields = [
        "variable",
        "unit",
        "n",
        "kurtosis",
        "fit",
        "alpha",
        "alpha_ci_low",
        "alpha_ci_high",
        "loc",
        "scale",
        "loglik",
        "aic",
        "bic",
        "ks",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for name, r in results.items():
            for fit in FITS if "skipped" not in r else ():
                f = r[fit]
                alpha = {"gaussian": 2.0, "laplace": 1.0}.get(fit, f.get("alpha"))
                ci = f.get("alpha_ci") or [None, None]
                w.writerow(
                    {
                        "variable": name,
                        "unit": r.get("unit", ""),
                        "n": r["n"],
                        "kurtosis": r["kurtosis"],
                        "fit": fit,
                        "alpha": alpha,
                        "alpha_ci_low": ci[0],
                        "alpha_ci_high": ci[1],
                        **{k: f[k] for k in ("loc", "scale", "loglik", "aic", "bic", "ks")},
                    }
                )
            if "learned_alpha" in r:
                w.writerow(
                    {
                        "variable": name,
                        "unit": r.get("unit", ""),
                        "n": r["n"],
                        "kurtosis": r.get("kurtosis"),
                        "fit": "learned",
                        "alpha": r["learned_alpha"],
                        "scale": r["learned_scale"],
                        "loc": 0.0,
                    }
                )


def _write_outputs(
    args: argparse.Namespace, results: dict, deltas: np.ndarray, names: list[str], units: dict, settings: dict
) -> list[Path]:
    """Write the figures (unless ``--no-plots``), stats.json (always) and the ``--csv-out`` file; returns
    the paths written. ``deltas`` is (n, len(names))."""
    from slowvae.rundir import atomic_write_json

    written = []
    out = Path(args.out)
    if not args.no_plots:
        from slowvae.stats.plot import plot_fits

        for j, name in enumerate(names):
            if "skipped" in results[name]:
                continue
            written.append(
                plot_fits(deltas[:, j], results[name], out / f"transitions_{name}.png", name=name, unit=units[name])
            )
    settings = {
        **settings,
        "reference_windows": args.reference_windows,
        "classes": args.classes,
        "min_area": args.min_area,
        "jitter": args.jitter,
        "bootstrap": args.bootstrap,
        "ci": args.ci,
        "seed": args.seed,
    }
    atomic_write_json(out / "stats.json", {"settings": settings, "results": results})
    written.append(out / "stats.json")
    if args.csv_out:
        _write_csv(results, Path(args.csv_out))
        written.append(Path(args.csv_out))
    return written


def run(args: argparse.Namespace) -> int:
    from slowvae.stats.fit import fit_transitions

    def log(msg: str) -> None:
        if not args.quiet:
            print(f"slowvae stats: {msg}", file=sys.stderr, flush=True)

    inputs = args.mots + args.csv + args.kitti_pickle + args.mask_dir + args.masks
    if args.run and inputs:
        raise SlowVAEError("--run measures a model's latents; give it without data inputs")
    if not args.run and not inputs:
        raise SlowVAEError("no input: give --mots, --csv, --kitti-pickle, --mask-dir, --masks or --run")
    if args.bootstrap < 0:
        raise SlowVAEError(f"--bootstrap must be 0 or more, got {args.bootstrap}")
    if not 0 < args.ci < 1:
        raise SlowVAEError(f"--ci must lie strictly between 0 and 1, got {args.ci}")

    deltas, names, units, pairs = (_run_transitions if args.run else _data_transitions)(args, log)

    if args.jitter < 0:
        raise SlowVAEError(f"--jitter must be 0 or more, got {args.jitter}")
    if args.jitter:
        jitter_rng = np.random.default_rng([args.seed, 1])
        deltas = deltas + jitter_rng.uniform(-args.jitter / 2, args.jitter / 2, size=deltas.shape)

    def progress(stage: str, done: int, total: int) -> None:
        if stage.endswith(": fit"):
            log(f"fitting {stage[:-5]}" + (f" (+{args.bootstrap} bootstrap resamples)" if args.bootstrap else ""))

    results = fit_transitions(deltas, names, n_boot=args.bootstrap, ci=args.ci, seed=args.seed, progress=progress)
    for name in names:
        results[name] = {"unit": units[name], **results[name]}
    if args.run:  # beside the fits: the transition prior the model learned itself (slowvae-gl)
        from slowvae.evaluate import learned_values

        learned = learned_values(args.run)
        for j, name in enumerate(names):
            if learned:
                results[name]["learned_alpha"] = learned["learned_alpha"][j]
                results[name]["learned_scale"] = learned["learned_scale"][j]
    dt = None if args.run else (args.dt or 1)

    settings = {"inputs": inputs, "run": args.run, "dt": dt}
    if args.run:  # which pairs these are: distinct, how many exist, seen in training or not
        settings["pairs"] = {k: v for k, v in pairs.items() if k != "text"}
    written = _write_outputs(args, results, deltas, names, units, settings)
    if args.json:
        print(json.dumps(results, indent=2))
        for p in written:
            log(f"wrote {p}")
    else:
        head = (
            f"latent transitions of {args.run}: {pairs['text']}"
            if args.run
            else f"transitions at dt={dt}: {len(deltas):,} (x, y in px; area in px^2)"
        )
        print(_table(results, head))
        for p in written:
            print(f"wrote {p}")
    return 0
