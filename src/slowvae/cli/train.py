"""`slowvae train`: train a model on temporal pairs, then evaluate it."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from slowvae import rundir
from slowvae.cli.bars import Bars
from slowvae.errors import SlowVAEError

#: TrainConfig fields set by flags of the same name that cannot change on --resume
_CONFIG_FLAGS = (
    "dataset",
    "model",
    "transitions",
    "data_rate",
    "k",
    "z_dim",
    "batch_pairs",
    "lr",
    "warmup_steps",
    "seed",
    "precision",
)
#: model hyperparameter flags (TrainConfig.hyper); fixed on --resume too
_HYPER_FLAGS = ("beta", "gamma", "rate")
#: dataset option flags (TrainConfig.dataset_options; frames:PATH data); fixed on --resume too
_DATASET_FLAGS = ("max_dt", "binary")
#: fields that --resume may adjust (and --lr, recorded as a change from the step resumed from)
_ADJUSTABLE = ("steps", "device", "checkpoint_every", "log_every", "compile")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model on temporal pairs (default: SlowVAE on procedural dSprites)",
        description="Train a model on temporal pairs and evaluate it at the end. Defaults follow the "
        "SlowVAE reference (batch 32 pairs, Adam lr 1e-4, beta 1, gamma 10, rate 6).",
    )
    _add_data_options(p)
    _add_model_options(p)
    _add_optimisation_options(p)
    _add_run_dir_options(p)
    _add_evaluation_options(p)
    p.set_defaults(func=run)


def _add_data_options(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data")
    d.add_argument(
        "--dataset",
        help="dataset name (default dsprites-procedural), or frames:PATH for your own "
        "image folders, .npy/.npz arrays or videos",
    )
    d.add_argument("--max-dt", type=int, help="frames:PATH: pairs are dt ~ U{1..MAX_DT} frames apart (default 1)")
    d.add_argument(
        "--binary",
        action="store_true",
        default=None,
        help="frames:PATH: make frames 0/1 masks (default: only when the input already is)",
    )
    d.add_argument(
        "--truth",
        type=Path,
        metavar="FILE.csv",
        help="frames:PATH: ground truth (columns sequence, frame, one per latent), saved with the run for evaluation",
    )
    d.add_argument("--transitions", choices=["laplace", "uniform"], help="LAP (default) or LOC pairs")
    d.add_argument(
        "--data-rate", type=_rate, help="LAP rate of the data transitions (default 1; 'random' or -1: U(1,10) per pair)"
    )
    d.add_argument("--k", type=_k, help="LOC: factors changed per pair (default: U{1..K-1} per pair)")


def _add_model_options(p: argparse.ArgumentParser) -> None:
    m = p.add_argument_group("model")
    m.add_argument(
        "--model",
        metavar="NAME",
        help="model (default slowvae): a name `slowvae models` lists, "
        "or package.module:ClassName of your own model class",
    )
    m.add_argument("--beta", type=float, help="weight of the N(0, I) prior term (slowvae default 1)")
    m.add_argument("--gamma", type=float, help="weight of the Laplace transition term (slowvae default 10)")
    m.add_argument("--rate", type=float, help="rate lambda of the Laplace transition prior (slowvae default 6)")
    m.add_argument(
        "--hyper",
        action="append",
        type=_key_value,
        metavar="KEY=VALUE",
        help="any model hyperparameter, repeatable (`slowvae models` lists them): a number, or a word where the "
        "model takes one, e.g. --hyper c_max=50 or --hyper alpha=learn",
    )
    m.add_argument("--z-dim", type=int, help="number of latents (default 10)")


def _add_optimisation_options(p: argparse.ArgumentParser) -> None:
    o = p.add_argument_group("optimisation")
    o.add_argument("--steps", type=int, help="total optimizer steps (reference: 300000; default 300000)")
    o.add_argument("--batch-pairs", type=int, help="pairs per step and process (default 32 = 64 images)")
    o.add_argument("--lr", type=float, help="Adam learning rate (default 1e-4)")
    o.add_argument(
        "--warmup-steps", type=int, help="linear learning-rate warm-up over this many steps (default 0: none)"
    )
    o.add_argument("--seed", type=int, help="seed of every random stream of the run (default 1)")
    o.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    o.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        help="auto (default: bf16 where the hardware has native bf16, else fp32), fp32, or bf16 autocast "
        "of the networks (losses stay float32)",
    )
    o.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="compile the training step with torch.compile (inductor; the first step compiles; on a CPU it needs a "
        "C++ compiler); --no-compile turns it off when resuming (default off)",
    )


def _add_run_dir_options(p: argparse.ArgumentParser) -> None:
    r = p.add_argument_group("run directory")
    r.add_argument("--out", type=Path, help="run directory (default runs/<model>-<dataset>-seed<seed>)")
    r.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue RUN_DIR from its last checkpoint; --steps extends it, --lr sets a new learning rate",
    )
    r.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (default 10000)")
    r.add_argument(
        "--keep-checkpoints", action="store_true", help="also keep checkpoints/step_N.pt at every checkpoint"
    )
    r.add_argument("--log-every", type=int, help="steps between log lines (default 100)")
    r.add_argument(
        "--tensorboard", action="store_true", help="also log scalars for TensorBoard (needs slowvae[tensorboard])"
    )


def _add_evaluation_options(p: argparse.ArgumentParser) -> None:
    e = p.add_argument_group("evaluation")
    e.add_argument("--no-eval", action="store_true", help="skip the evaluation after training")
    e.add_argument("--eval-samples", type=int, default=10_000, help="frames for the final MCC (default 10000)")
    e.add_argument(
        "--eval-precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="precision of the final evaluation's encoding (default auto: bf16 where native, else fp32)",
    )
    e.add_argument("--no-report", action="store_true", help="skip the run page RUN_DIR/report.html")


def _rate(text: str) -> float | str:
    if text in ("random", "-1", "-1.0"):
        return "random"
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("the data rate must be positive, or 'random'")
    return value


def _key_value(text: str) -> tuple[str, float | str]:
    """KEY=VALUE with VALUE a number, or a word (the model's hyperparameter check decides)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), float(value)
    except ValueError:
        return key.strip(), value.strip()


def _merge_hyper(args: argparse.Namespace) -> dict[str, float | str]:
    """--beta/--gamma/--rate and every --hyper KEY=VALUE as one dict; a key given twice must agree."""
    pairs = [(h, getattr(args, h)) for h in _HYPER_FLAGS if getattr(args, h) is not None] + list(args.hyper or [])
    hyper: dict[str, float | str] = {}
    for key, value in pairs:
        if key in hyper and hyper[key] != value:
            raise SlowVAEError(
                f"hyperparameter {key} is given twice with different values ({hyper[key]:g} and {value:g})"
                if isinstance(value, float) and isinstance(hyper[key], float)
                else f"hyperparameter {key} is given twice with different values ({hyper[key]} and {value})"
            )
        hyper[key] = value
    return hyper


def _k(text: str) -> int | None:
    return None if text in ("random", "-1") else int(text)


def _default_out(model: str, dataset: str, seed: int) -> Path:
    prefix, sep, argument = dataset.partition(":")
    data = f"{prefix}-{Path(argument).name}" if sep else dataset  # frames:/a/b/walk.mp4 -> frames-walk.mp4
    name = f"{model}-{data}-seed{seed}"
    base = Path("runs") / "".join(c if c.isalnum() or c in "-_." else "-" for c in name)
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


def run(args: argparse.Namespace) -> int:
    from slowvae import train as training
    from slowvae.cli.outputs import check_writable_folder
    from slowvae.config import TrainConfig, change_lr, make_pair_source
    from slowvae.hardware import resolve_device
    from slowvae.rundir import init_run_dir, load_run_config, update_run_config

    if args.resume is not None:
        run_dir = args.resume
        if Path(run_dir).is_dir():
            check_writable_folder(run_dir, "copy the run directory somewhere writable and resume the copy")
        fixed = (*(f for f in _CONFIG_FLAGS if f != "lr"), *_HYPER_FLAGS, *_DATASET_FLAGS, "hyper", "truth")
        given = [f"--{f.replace('_', '-')}" for f in fixed if getattr(args, f) is not None]
        if args.out is not None:
            given.append("--out")
        if given:
            raise SlowVAEError(
                f"{', '.join(given)} cannot change when resuming; only "
                f"{', '.join('--' + n.replace('_', '-') for n in (*_ADJUSTABLE, 'lr'))} adjust a run"
            )
        changes = {n: getattr(args, n) for n in _ADJUSTABLE if getattr(args, n) is not None}
        config = dataclasses.replace(load_run_config(run_dir), **changes)
        if args.lr is not None:  # from the step resumed from on: config.json's lr_changes
            config = change_lr(config, training.resume_step(run_dir), args.lr)
        ddp = training.Distributed(resolve_device(config.device))
        if ddp.is_main:
            update_run_config(run_dir, config)
    else:
        values = {f: getattr(args, f) for f in (*_CONFIG_FLAGS, *_ADJUSTABLE) if getattr(args, f) is not None}
        if values.get("data_rate") == "random":
            values["data_rate"] = None
        hyper = _merge_hyper(args)
        options = {f: getattr(args, f) for f in _DATASET_FLAGS if getattr(args, f) is not None}
        config = TrainConfig(
            **values,
            hyper=hyper,
            dataset_options=options,
            keep_checkpoints=args.keep_checkpoints,
            tensorboard=args.tensorboard,
        )
        run_dir = args.out or _default_out(config.model, config.dataset, config.seed)
        ddp = training.Distributed(resolve_device(config.device))
        with Bars(disable=not ddp.is_main) as decoding:  # fail on bad data before creating the directory
            source = make_pair_source(config, truth=args.truth, progress=decoding)
        if ddp.is_main:
            init_run_dir(run_dir, config, source)
            if args.truth is not None:
                rundir.atomic_write_bytes(Path(run_dir) / rundir.TRUTH_FILE, args.truth.read_bytes())
    ddp.barrier()

    main_process = ddp.is_main
    if main_process:
        print(f"run directory: {run_dir}", file=sys.stderr)
    _train_with_progress(run_dir, resume=args.resume is not None, show=main_process)
    if not main_process:
        return 0
    if not args.no_eval:
        from slowvae.cli.evaluate import print_results
        from slowvae.evaluate import evaluate_run

        results = evaluate_run(
            run_dir,
            num_samples=args.eval_samples,
            device=str(resolve_device(config.device)),  # the training device
            eval_precision=args.eval_precision,
            progress=lambda msg: print(msg, file=sys.stderr),
        )
        print_results(run_dir, results)
    if not args.no_report:
        from slowvae.cli.report import write_run_page

        write_run_page(run_dir)
    return 0


def _train_with_progress(run_dir: Path, *, resume: bool, show: bool) -> None:
    from tqdm import tqdm

    from slowvae import train as training

    bar = None

    def report(r: training.StepReport) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=r.steps, initial=r.step - 1, desc="train", unit="step", dynamic_ncols=True, file=sys.stderr
            )
        bar.update(1)
        if r.scalars:  # per-latent values (slowvae-gl's learned_alpha_j, ...) stay in the log only
            shown = {k: f"{v:.3g}" for k, v in r.scalars.items() if not k.startswith("learned_")}
            bar.set_postfix(shown, refresh=False)

    try:
        training.train(run_dir, resume=resume, callback=report if show else None)
    finally:
        if bar is not None:
            bar.close()
        training.leave_process_group()
