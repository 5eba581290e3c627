"""`slowvae study run|status|table|select|udr|cancel`: many runs from one study file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from slowvae.cli.outputs import check_writable_folder
from slowvae.errors import SlowVAEError
from slowvae.text import count


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "study",
        help="run a study (models x datasets x settings x seeds) locally or on SLURM, and tabulate it",
        description="Studies: expand a TOML study file into runs, run them (local pool or SLURM), follow them, "
        "and summarise them as one table with mean ± std over seeds. See the documentation, docs/guide/studies.md.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    _add_run_parser(actions)
    _add_status_parser(actions)
    _add_table_parser(actions)
    _add_select_parser(actions)
    _add_udr_parser(actions)
    _add_cancel_parser(actions)
    p.set_defaults(func=lambda _args: p.print_help() or 2)


def _add_run_parser(actions: argparse._SubParsersAction) -> None:
    r = actions.add_parser(
        "run",
        help="expand STUDY.toml and run its unfinished runs",
        description="Expand STUDY.toml, print the number of runs and an estimated machine time, "
        "and run them. Finished runs are skipped untouched; unfinished runs resume from their "
        "checkpoint; failed runs are retried only with --retry-failed.",
    )
    r.add_argument("study", type=Path, metavar="STUDY.toml")
    r.add_argument("--out", type=Path, required=True, metavar="DIR", help="study directory (runs go to DIR/runs/<id>/)")
    r.add_argument("--dry-run", action="store_true", help="list the runs and stop")
    r.add_argument("--retry-failed", action="store_true", help="also run the runs that failed before")
    r.add_argument(
        "--executor", choices=["local", "slurm"], default="local", help="local process pool (default) or SLURM"
    )
    loc = r.add_argument_group("local executor")
    loc.add_argument(
        "--workers",
        type=int,
        default=2,
        help="runs at once, each with cores/N torch threads (default 2: on 2 cores, 2 x 1 thread)",
    )
    sl = r.add_argument_group("SLURM executor (needs slowvae[slurm])")
    sl.add_argument("--max-parallel", type=int, default=8, help="array tasks running at once (default 8)")
    sl.add_argument("--partition", help="SLURM partition (default: the cluster's default)")
    sl.add_argument(
        "--time",
        default="240",
        help="time limit per run: minutes or [D-]HH:MM:SS (default 240; a run "
        "that needs longer is requeued and resumes)",
    )
    sl.add_argument("--cpus-per-run", type=int, default=2, help="CPUs per run (default 2)")
    sl.add_argument(
        "--gpus-per-run",
        type=int,
        default=0,
        help="GPUs per run (default 0); above 1 the run trains with DDP, one process per GPU",
    )
    sl.add_argument(
        "--processes-per-run",
        type=int,
        default=None,
        help="DDP processes per run, each with its share of --cpus-per-run (default: one per GPU, else 1)",
    )
    sl.add_argument("--mem", default="20G", help="memory per run (default 20G)")
    r.set_defaults(func=run)


def _add_status_parser(actions: argparse._SubParsersAction) -> None:
    s = actions.add_parser("status", help="counts of finished, running, failed and pending runs")
    s.add_argument("study_dir", type=Path, metavar="DIR")
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    s.set_defaults(func=status)


def _add_table_parser(actions: argparse._SubParsersAction) -> None:
    t = actions.add_parser(
        "table",
        help="one row per (model, dataset, setting): mean ± std over seeds",
        description="Print the study's table and draw one figure per metric beside it.",
    )
    t.add_argument("study_dir", type=Path, metavar="DIR")
    t.add_argument(
        "--metrics",
        help="comma-separated columns: suite metrics (dci = dci_disentanglement), results.json "
        "keys, udr, or METRIC@STEP for at_steps checkpoints (default: the study's metrics)",
    )
    t.add_argument("--format", choices=["md", "csv", "json", "tex"], default="md", help="output format (default md)")
    t.add_argument("--select", choices=["udr"], help="keep each model's setting with the highest median UDR")
    t.add_argument("--out", type=Path, metavar="FILE", help="also write the table to FILE (figures beside it)")
    t.add_argument("--no-figures", action="store_true", help="skip the figures")
    t.set_defaults(func=table)


def _add_select_parser(actions: argparse._SubParsersAction) -> None:
    se = actions.add_parser("select", help="write the follow-up study: each model's UDR-selected setting with N seeds")
    se.add_argument("study_dir", type=Path, metavar="DIR")
    se.add_argument(
        "--seeds", type=int, required=True, metavar="N", help="seeds per selected setting (finished ones reused)"
    )
    se.add_argument("--out", type=Path, required=True, metavar="NEXT.toml")
    se.set_defaults(func=select)


def _add_udr_parser(actions: argparse._SubParsersAction) -> None:
    u = actions.add_parser(
        "udr",
        help="compute UDR within each group of seeds and write it into results.json",
        description="UDR (Duan et al. 2020) within each group of runs sharing every setting but the "
        "seed, on 10,000 frames drawn with seed 0; each run's score goes into its results.json.",
    )
    u.add_argument("study_dir", type=Path, metavar="DIR")
    u.add_argument("--force", action="store_true", help="recompute where a score exists")
    u.add_argument("--correlation", choices=["lasso", "spearman"], default="lasso", help="similarity (default lasso)")
    u.set_defaults(func=udr)


def _add_cancel_parser(actions: argparse._SubParsersAction) -> None:
    c = actions.add_parser("cancel", help="cancel the study's SLURM jobs (rerun `study run` to continue)")
    c.add_argument("study_dir", type=Path, metavar="DIR")
    c.set_defaults(func=cancel)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def run(args: argparse.Namespace) -> int:
    from slowvae import study as studies

    study = studies.load_study(args.study)
    todo, failed = studies.to_run(study, args.out, retry_failed=args.retry_failed)
    estimate = studies.estimate_seconds(todo, args.out)
    linked = len(studies.core.reusable(study, args.out))
    print(
        f"study {study.name}: {count(len(study.runs), 'run')}, {len(todo)} to run"
        + (f" ({linked} finished elsewhere, linked through reuse)" if linked else "")
        + f"; estimated machine time {_duration(estimate)} (rough)",
        file=sys.stderr,
    )
    if args.dry_run:
        conflicting = studies.core.conflicts(study, args.out)
        for spec in study.runs:
            print(spec.id)
        if conflicting:
            _say(f"{len(conflicting)} run(s) on disk have other settings; `run` would refuse: {conflicting[0]} ...")
        return 0
    check_writable_folder(args.out)
    studies.prepare(study, args.out)
    for state in failed:
        again = "" if state.damaged else " (--retry-failed runs it again)"
        _say(f"skipping failed run {state.spec.id}{again}: {state.error}")
    if not todo:
        _say("nothing to run: every run is finished" + (" or failed" if failed else ""))
        return 0
    ids = [spec.id for spec in todo]
    if args.executor == "slurm":
        return _submit(args, study.name, ids)
    if args.workers < 1:
        raise SlowVAEError("--workers must be at least 1")
    from tqdm import tqdm

    from slowvae.study import local

    workers, threads = local.pool_split(args.workers, len(ids))
    _say(f"running {len(ids)} run(s) with {workers} worker(s) x {threads} thread(s) (--workers {args.workers})")
    bar = tqdm(total=len(ids), desc="runs", unit="run", dynamic_ncols=True, file=sys.stderr)
    outcome: dict[str, int] = {}

    def done(path: Path, state: str) -> None:
        outcome[state] = outcome.get(state, 0) + 1
        bar.update(1)
        if state == "failed":
            from slowvae.study import runner

            error = runner.read_json(path / runner.ERROR_FILE) or {}
            bar.write(f"failed: {path.name}: {error.get('error', '?')}", file=sys.stderr)

    try:
        local.LocalExecutor(workers=args.workers, on_result=done).run(args.out, ids)
    finally:
        bar.close()
    _say(run_summary(outcome))
    if outcome.get("interrupted"):
        _say("interrupted: running runs were checkpointed; run the same command to continue")
        return 130
    return 1 if outcome.get("failed") else 0


#: what each :func:`slowvae.study.runner.execute_run` status means in ``study run``'s closing line
_MEANING = {
    "busy": "being run by another `slowvae study run` on the same directory",
    "finished elsewhere": "finished by another `slowvae study run` on the same directory; not counted here",
}


def run_summary(outcome: dict[str, int]) -> str:
    """``study run``'s closing line from status -> number of runs, each run counted once, e.g.
    "2 finished; 1 busy (being run by another ...)"."""
    return "; ".join(
        f"{n} {state}" + (f" ({_MEANING[state]})" if state in _MEANING else "") for state, n in sorted(outcome.items())
    )


def _submit(args: argparse.Namespace, name: str, ids: list[str]) -> int:
    """Submit the runs ``ids`` to SLURM with the resources the flags give."""
    from slowvae.study import slurm

    resources = slurm.SlurmResources(
        partition=args.partition,
        time_min=slurm.parse_time(args.time),
        cpus_per_run=args.cpus_per_run,
        gpus_per_run=args.gpus_per_run,
        mem_gb=slurm.parse_mem(args.mem),
        max_parallel=args.max_parallel,
        processes_per_run=args.processes_per_run,
    )
    jobs = slurm.SlurmExecutor(resources, name).run(args.out, ids)
    arrays = sorted({j.split("_")[0] for j in jobs.values()})
    _say(
        f"submitted {len(jobs)} run(s) as SLURM job array {', '.join(arrays) or '-'}"
        + (f" ({len(ids) - len(jobs)} already queued or running)" if len(jobs) < len(ids) else "")
        + f"; follow with `slowvae study status {args.out}`"
    )
    return 0


def status(args: argparse.Namespace) -> int:
    from slowvae.study import study_status

    info = study_status(args.study_dir)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    c = info["counts"]
    queued = f" ({len(info['queued'])} queued on SLURM)" if info["queued"] else ""
    print(
        f"study {info['name']}: {c['finished']} finished, {c['running']} running, {c['failed']} failed, "
        f"{c['pending']} pending{queued}"
    )
    m = info["machine"]
    print(
        f"  machine time so far: {m['train_seconds'] / 3600:.2f} h training + {m['score_seconds'] / 3600:.2f} h "
        "scoring, summed over runs"
    )
    for r in info["runs"]:
        if r["state"] in ("running", "pending") and (r["state"] == "running" or r["at_steps"]):
            print(
                f"  {r['state']:<8} {r['id']}  step {r['steps_done']}/{r['steps']}{_pace(r)}{_step_scores(r['at_steps'])}"
            )
    for r in info["runs"]:
        if r["state"] == "failed":
            print(f"  failed   {r['id']}: {r['error']}")
    if info["not_in_study"]:
        print(
            f"  {count(len(info['not_in_study']), 'run directory', 'run directories')} in {args.study_dir}/runs "
            "not in the study file (left alone)"
        )
    return 0


def _pace(run: dict[str, Any]) -> str:
    """A running run's pace and training time to go, e.g. `` (0.215 s/step, 9.3 h to go)``."""
    if run.get("seconds_per_step") is None:
        return ""
    left = run["train_seconds_left"]
    to_go = f"{left / 3600:.1f} h" if left >= 3600 else f"{left / 60:.0f} min"
    return f" ({run['seconds_per_step']:.3f} s/step, {to_go} to go)"


def _step_scores(at_steps: dict[str, dict[str, float | None]]) -> str:
    """A run's scores at the at_steps entries it has passed, e.g. ``; at 5000: mcc 0.561, mig 0.102``."""
    shown = [
        f"at {step}: " + ", ".join(f"{m} {v:.3f}" for m, v in scores.items() if isinstance(v, (int, float)))
        for step, scores in at_steps.items()
    ]
    return "; " + "; ".join(shown) if shown else ""


def say_damaged(study_dir: Path) -> dict[str, str]:
    """Name each run of the study whose files are damaged, with the reason (such runs count as
    failed); returns run id -> reason."""
    from slowvae.study.core import damaged_runs

    damaged = damaged_runs(study_dir)
    for run_id, reason in damaged.items():
        _say(f"run {run_id} counts as failed: {reason}")
    return damaged


def table(args: argparse.Namespace) -> int:
    from slowvae.study import render, save_figures, study_table
    from slowvae.study.table import save_trajectories

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    say_damaged(args.study_dir)
    result = study_table(args.study_dir, metrics=metrics, select=args.select, progress=_say)
    text = render(result, args.format)
    sys.stdout.write(text)
    if args.out is not None:
        from slowvae import rundir

        rundir.atomic_write_bytes(args.out, text.encode())
    if not args.no_figures and result["rows"]:
        folder = args.out.parent if args.out is not None else Path(args.study_dir) / "figures"
        stem = args.out.stem if args.out is not None else "table"
        try:
            paths = save_figures(args.study_dir, result, folder, stem=stem)
            paths += save_trajectories(args.study_dir, result, folder, stem=stem)
        except OSError as err:  # the table is out already: say so and carry on
            from slowvae.cli.outputs import write_error_line

            where = OSError(err.errno, err.strerror, str(folder))  # the folder, not a temporary figure file
            line = write_error_line(where, "give --out FILE elsewhere, or --no-figures")
            if line is None:
                raise
            _say(f"figures could not be written: {line}")
            return 0
        _say(f"figures: {', '.join(str(p) for p in paths)}")
    return 0


def select(args: argparse.Namespace) -> int:
    from slowvae.study import select_next

    result = select_next(args.study_dir, args.seeds, args.out, progress=_say)
    for c in result["chosen"]:
        setting = ", ".join(f"{k} {v:.4g}" for k, v in sorted(c["setting"].items())) or "defaults"
        udr = "" if c["udr_median"] is None else f", median UDR {c['udr_median']:.3f}"
        print(f"{c['model']} on {c['dataset']}: {setting} (of {c['candidates']} setting(s){udr})")
    for note in result["notes"]:
        _say(f"note: {note}")
    print(
        f"wrote {args.out}: {result['reused']} finished run(s) reused, {result['new']} new; "
        f"run it with `slowvae study run {args.out} --out NEXT_DIR`"
    )
    return 0


def udr(args: argparse.Namespace) -> int:
    from slowvae.study import compute_study_udr

    say_damaged(args.study_dir)
    result = compute_study_udr(args.study_dir, force=args.force, correlation=args.correlation, progress=_say)
    for run_id, score in sorted(result["scored"].items()):
        print(f"{run_id}  UDR {score:.3f}")
    for note in result["notes"]:
        print(f"note: {note}")
    if not result["scored"]:
        print("no new UDR scores (every group is scored already, or none can be)")
    return 0


def cancel(args: argparse.Namespace) -> int:
    from slowvae.study import open_study, slurm

    open_study(args.study_dir)
    ids = slurm.cancel(args.study_dir)
    print(
        f"cancelled {len(ids)} SLURM job(s)"
        + (f": {', '.join(ids)}" if ids else "")
        + "; `slowvae study run` with the same file continues the runs from their checkpoints"
    )
    return 0
