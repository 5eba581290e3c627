"""One run of a study: train it (or continue it from its checkpoint), then evaluate it.

A study's run directory ``DIR/runs/<id>/`` is an ordinary run directory plus these files:

    study-run.json     the RunSpec record the run was created from (compared on every rerun)
    study-error.json   the last failure, one line (removed when the run later finishes)
    .study.lock        held (flock) by the process working on the run
    results_step_N.json  the scores at each ``[evaluate] at_steps`` entry N, written as training passes N

A run is *finished* when its results.json has status ``finished`` at the run's steps
(:func:`slowvae.results.is_finished`). A study that raises ``steps`` makes its finished runs
unfinished: they resume to the new count, their earlier scores kept. Every executor calls
:func:`execute_run`; nothing here depends on how the run was scheduled.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from slowvae import results, rundir
from slowvae.errors import SlowVAEError
from slowvae.results import Results

RECORD_FILE = "study-run.json"
ERROR_FILE = "study-error.json"
LOCK_FILE = ".study.lock"

#: what :func:`execute_run` returns; FINISHED_ELSEWHERE: found finished when taken (another process
#: finished it since the run list was made), so not counted as finished by this process
FINISHED, FAILED, INTERRUPTED, BUSY = "finished", "failed", "interrupted", "busy"
FINISHED_ELSEWHERE = "finished elsewhere"


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's content, or None when it is missing or cut short."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def is_locked(run_dir: Path) -> bool:
    """Whether a process (on this machine) holds the run's lock, i.e. is training or scoring it."""
    path = Path(run_dir) / LOCK_FILE
    if not path.exists():
        return False
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[bool]:
    """Hold the run's lock; yields False when another process holds it."""
    with open(Path(run_dir) / LOCK_FILE, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        fh.truncate(0)
        fh.write(f"{socket.gethostname()} {os.getpid()}\n")
        fh.flush()
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def trained_steps(run_dir: Path) -> int:
    """The step of the run's last checkpoint (0 where there is none)."""
    ckpt = Path(run_dir) / rundir.CHECKPOINT_DIR / rundir.LAST_CHECKPOINT
    return int(rundir.load_checkpoint(ckpt)["step"]) if ckpt.exists() else 0


def _prepare(run_dir: Path, record: dict[str, Any]) -> None:
    """Make the run directory ready to train: create it from the record, or (stopped before its
    first step) start its log again."""
    from slowvae.config import TrainConfig, make_pair_source
    from slowvae.rundir import init_run_dir

    if not (run_dir / rundir.CONFIG_FILE).exists():
        config = TrainConfig(**record["config"])
        init_run_dir(run_dir, config, make_pair_source(config))
    elif trained_steps(run_dir) == 0:  # stopped before its first checkpoint: start again with a clean log
        (run_dir / rundir.LOG_FILE).unlink(missing_ok=True)


def _scored(run_dir: Path, step: int, evaluate: dict[str, Any]) -> Results | None:
    """The scores at ``step`` when they were made with ``evaluate``'s settings, else None."""
    found = results.read_step(run_dir, step)
    return (
        found
        if found is not None and found.step == step and results.same_evaluation(found.study_evaluate, evaluate)
        else None
    )


def _keep_earlier_final(run_dir: Path, evaluate: dict[str, Any], steps: int) -> None:
    """A study extended to more steps: the run's final scores (at fewer steps) become its scores at that step."""
    final = results.read_results(run_dir)
    if final is None or final.step is None or final.step >= steps or _scored(run_dir, final.step, evaluate):
        return
    if results.same_evaluation(final.study_evaluate, evaluate):
        final.status, final.at_steps, final.udr, final.udr_settings = results.EVALUATED, None, None, None
        results.write_results(results.step_path(run_dir, final.step), final)


#: one step of a run's plan: ("train", to step), ("score", step, checkpoint), ("skip", step) for an
#: at_steps entry passed without a checkpoint kept, ("finish", steps, checkpoint); under DDP also
#: ("keep", step, file): copy last.pt to checkpoints/<file> (see :func:`trains_first`)
Action = tuple[str, int, str | None]


def plan(run_dir: Path | str, record: dict[str, Any]) -> list[Action]:
    """What bringing the run to finished takes, in order: train segment by segment to each
    ``at_steps`` entry not yet scored, score it from the checkpoint at that step, train on to the
    run's steps and score the end. Steps scored before (``results_step_N.json`` with the study's
    evaluation settings) are not scored again; one already passed is scored from its kept
    ``checkpoints/step_N.pt`` (runs of older versions kept every checkpoint); step 0 is the
    untrained network."""
    from slowvae.evaluate import UNTRAINED

    run_dir = Path(run_dir)
    steps, evaluate = record["config"]["steps"], record["evaluate"]
    last = run_dir / rundir.CHECKPOINT_DIR / rundir.LAST_CHECKPOINT
    trained = trained_steps(run_dir) if last.exists() else None
    actions: list[Action] = []
    for step in (s for s in evaluate["at_steps"] if s < steps and _scored(run_dir, s, evaluate) is None):
        kept = f"step_{step}.pt"
        if trained == step:
            checkpoint = rundir.LAST_CHECKPOINT
        elif (run_dir / rundir.CHECKPOINT_DIR / kept).exists():
            checkpoint = kept
        elif step == 0:  # the untrained network, rebuilt from the run's seed
            checkpoint = UNTRAINED
        elif trained is None or step > trained:
            actions.append(("train", step, None))
            trained, checkpoint = step, rundir.LAST_CHECKPOINT
        else:
            actions.append(("skip", step, None))
            continue
        actions.append(("score", step, checkpoint))
    if trained is None or trained < steps:
        actions.append(("train", steps, None))
    return [*actions, ("finish", steps, rundir.LAST_CHECKPOINT)]


def _train_to(run_dir: Path, step: int, ddp: Any, callback: Callable[[Any], None] | None) -> None:
    """Train the run (every rank) to ``step``, resuming from its checkpoint, exactly as
    ``slowvae train --resume RUN --steps STEP`` would."""
    import dataclasses

    from slowvae.rundir import load_run_config, update_run_config
    from slowvae.train import train

    if ddp.is_main:
        update_run_config(run_dir, dataclasses.replace(load_run_config(run_dir), steps=step))
    ddp.barrier()
    resume = (run_dir / rundir.CHECKPOINT_DIR / rundir.LAST_CHECKPOINT).exists()
    train(run_dir, resume=resume, callback=callback)


def _score(
    run_dir: Path, evaluate: dict[str, Any], checkpoint: str, say: Callable[[str], None], device: str = "auto"
) -> Results:
    """The study's evaluation of one checkpoint on ``device`` (no figures), with ``study_evaluate`` set."""
    from slowvae import evaluate as evaluation
    from slowvae.metrics.registry import suite_metrics

    suite = suite_metrics(evaluate["metrics"])
    config = evaluation.EvaluationConfig(
        checkpoint=checkpoint,
        num_samples=evaluate["samples"],
        device=device,
        figures=False,
        preset=evaluate["preset"] if suite else None,
        metrics=suite or None,
        fast=evaluate["fast"],
        overrides=evaluate["settings"] or None,
    )
    scored = evaluation.score_run(run_dir, config, say).results
    scored.study_evaluate = evaluate
    return scored


def _finish(run_dir: Path, evaluate: dict[str, Any], say: Callable[[str], None], device: str = "auto") -> None:
    """Score the run's end and write results.json with status finished and every at_steps score."""
    final = _score(run_dir, evaluate, rundir.LAST_CHECKPOINT, say, device)
    kept = {str(s): found.numeric() for s in evaluate["at_steps"] if (found := _scored(run_dir, s, evaluate))}
    final.at_steps = kept or None
    final.status = results.FINISHED
    results.write_results(run_dir / rundir.RESULTS_FILE, final)


def trains_first(actions: list[Action]) -> list[Action]:
    """A :func:`plan` for a distributed run: every training segment first, each at_steps entry
    then scored from a copy of its checkpoint (``("keep", step, file)`` after its segment), so
    that no rank waits in a collective while rank 0 scores."""
    trained = [a for a in actions if a[0] == "train"]
    kept, scores = [], []
    for kind, step, checkpoint in actions:
        if kind == "score" and checkpoint == rundir.LAST_CHECKPOINT:
            checkpoint = f"step_{step}.pt"
            kept.append(("keep", step, checkpoint))
        if kind != "train":
            scores.append((kind, step, checkpoint))
    ordered: list[Action] = []
    for action in trained:
        ordered.append(action)
        ordered += [k for k in kept if k[1] == action[1]]
    return ordered + scores


def _advance(
    run_dir: Path,
    record: dict[str, Any],
    actions: list[Action],
    ddp: Any,
    callback: Callable[[Any], None] | None,
    say: Callable[[str], None],
) -> None:
    """Carry out a run's :func:`plan`: every rank trains, rank 0 scores and writes (under DDP
    after all training, see :func:`trains_first`)."""
    from slowvae.hardware import keep_freed_memory

    keep_freed_memory()  # for scoring without training too (train() sets it itself)
    evaluate, device = record["evaluate"], str(ddp.device)  # scored where the run trains
    checkpoints, copies = run_dir / rundir.CHECKPOINT_DIR, set()
    for kind, step, checkpoint in trains_first(actions) if ddp.active else actions:
        if kind == "train":
            _train_to(run_dir, step, ddp, callback)
        elif not ddp.is_main:
            continue
        elif kind == "keep":
            if not (checkpoints / str(checkpoint)).exists():  # (with keep_checkpoints training wrote it)
                rundir.atomic_write_bytes(
                    checkpoints / str(checkpoint), (checkpoints / rundir.LAST_CHECKPOINT).read_bytes()
                )
                copies.add(checkpoint)
        elif kind == "score":
            say(f"scoring step {step}")
            scored = _score(run_dir, evaluate, str(checkpoint), say, device)
            results.write_results(results.step_path(run_dir, step), scored)
            if checkpoint in copies:  # the copy trains_first kept has served
                (checkpoints / str(checkpoint)).unlink()
        elif kind == "skip":
            say(f"step {step} was passed without a checkpoint kept: not scored")
        else:
            _finish(run_dir, evaluate, say, device)


def execute_run(
    run_dir: Path | str,
    *,
    threads: int | None = None,
    callback: Callable[[Any], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> str:
    """Bring one study run to finished: train it segment by segment (resuming from its
    checkpoint), scoring each ``at_steps`` entry as it passes it, then score its end.

    ``run_dir`` must hold ``study-run.json``. With ``threads`` torch uses that many threads.
    Under a distributed launch (``WORLD_SIZE`` > 1: SLURM tasks, torchrun) every rank calls it:
    rank 0 holds the lock, prepares the directory and scores; all ranks train together (DDP).
    Returns ``"finished"``, ``"failed"`` (the error is written to ``study-error.json``),
    ``"interrupted"`` (Ctrl-C or SIGTERM: training checkpointed), ``"busy"`` (another process
    holds the run) or ``"finished elsewhere"`` (already finished when taken: by another process).
    """
    from slowvae.hardware import resolve_device
    from slowvae.train import Distributed, TrainingStopped, leave_process_group

    run_dir = Path(run_dir)
    record = read_json(run_dir / RECORD_FILE)
    if record is None:
        raise SlowVAEError(f"{run_dir} is not a study run (no readable {RECORD_FILE})")
    if threads:
        import torch

        torch.set_num_threads(threads)
    ddp = Distributed(resolve_device(record["config"]["device"]))
    rank = ddp.rank if ddp.active else None  # named in failures under DDP
    lock = _locked(run_dir) if ddp.is_main else contextlib.nullcontext(True)
    try:
        with lock as held:
            status, actions = None, None
            if ddp.is_main:  # rank 0 decides and prepares; the gather below tells the other ranks
                if not held:
                    status = BUSY
                elif results.is_finished(run_dir, record["config"]["steps"]):
                    status = FINISHED_ELSEWHERE
                else:
                    try:
                        _prepare(run_dir, record)
                        _keep_earlier_final(run_dir, record["evaluate"], record["config"]["steps"])
                        actions = plan(run_dir, record)
                    except Exception as err:
                        status = _failed(run_dir, err, rank)
            status, actions = ddp.gather((status, actions))[0]
            if status is not None:
                return status
            try:
                _advance(run_dir, record, actions, ddp, callback, say or (lambda _msg: None))
            except TrainingStopped as err:
                if str(err).startswith("interrupted"):
                    return INTERRUPTED
                write_error(run_dir, str(err))
                return FAILED
            except KeyboardInterrupt:
                return INTERRUPTED
            except Exception as err:  # one failed run must not stop the study; status shows the error
                return _failed(run_dir, err, rank)
            if ddp.is_main:
                (run_dir / ERROR_FILE).unlink(missing_ok=True)
            return FINISHED
    finally:
        leave_process_group()


def _failed(run_dir: Path, err: Exception, rank: int | None = None) -> str:
    """Record ``err`` as the run's failure (naming the rank under DDP); returns ``"failed"``."""
    detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
    text = detail if isinstance(err, SlowVAEError) else f"{type(err).__name__}: {detail}"
    write_error(run_dir, text if rank is None else f"rank {rank}: {text}", traceback.format_exc())
    return FAILED


def write_error(run_dir: Path, message: str, trace: str | None = None) -> None:
    """Record a run's failure (one line for `slowvae study status`, the traceback beside it)."""
    rundir.atomic_write_json(
        Path(run_dir) / ERROR_FILE,
        {
            "error": message,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "host": socket.gethostname(),
            **({"traceback": trace} if trace else {}),
        },
    )
