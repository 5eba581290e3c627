"""One run of a study: train it (or continue it from its checkpoint), then evaluate it.

A study's run directory ``DIR/runs/<id>/`` is an ordinary run directory plus three small files:

    study-run.json     the RunSpec record the run was created from (compared on every rerun)
    study-error.json   the last failure, one line (removed when the run later finishes)
    .study.lock        held (flock) by the process working on the run

A run is *finished* when its results.json carries ``study_evaluate``: the evaluation settings of
the study that scored it. Every executor calls :func:`execute_run`; nothing here depends on how
the run was scheduled.
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

from slowvae import rundir
from slowvae.errors import SlowVAEError

RECORD_FILE = "study-run.json"
ERROR_FILE = "study-error.json"
LOCK_FILE = ".study.lock"

#: what :func:`execute_run` returns
FINISHED, FAILED, INTERRUPTED, BUSY = "finished", "failed", "interrupted", "busy"


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's content, or None when it is missing or cut short."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def is_finished(run_dir: Path) -> bool:
    """Whether the run has been trained and scored with its study's settings."""
    results = read_json(Path(run_dir) / rundir.RESULTS_FILE)
    return bool(results) and "study_evaluate" in results


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


def _prepare(run_dir: Path, record: dict[str, Any]) -> bool | None:
    """Make the run directory ready to train: None when it is already fully trained, else
    whether training resumes from a checkpoint."""
    from slowvae.config import TrainConfig, make_pair_source
    from slowvae.rundir import init_run_dir

    if not (run_dir / rundir.CONFIG_FILE).exists():
        config = TrainConfig(**record["config"])
        init_run_dir(run_dir, config, make_pair_source(config))
        return False
    done = trained_steps(run_dir)
    if done >= record["config"]["steps"]:
        return None
    if done == 0:  # stopped before its first checkpoint: start again with a clean log
        (run_dir / rundir.LOG_FILE).unlink(missing_ok=True)
    return done > 0


def _evaluate(run_dir: Path, evaluate: dict[str, Any], say: Callable[[str], None], device: str = "auto") -> None:
    """Score the run (and its ``at_steps`` checkpoints) with the study's ``evaluate`` settings on ``device``."""
    from slowvae.evaluate import evaluate_run

    suite = [m for m in evaluate["metrics"] if m != "mcc"]
    options = dict(
        num_samples=evaluate["samples"],
        preset=evaluate["preset"] if suite else None,
        metrics=suite or None,
        fast=evaluate["fast"],
        overrides=evaluate["settings"] or None,
        progress=say,
        device=device,
    )
    at_steps: dict[str, Any] = {}
    for step in evaluate["at_steps"]:
        out = run_dir / f"results_step_{step}.json"
        scores = read_json(out)
        if scores is None or scores.get("study_evaluate") != evaluate:
            scores = evaluate_run(run_dir, checkpoint=f"step_{step}.pt", figures=False, out=out, **options)
            scores["study_evaluate"] = evaluate
            rundir.atomic_write_json(out, scores)
        at_steps[str(step)] = {
            k: v for k, v in scores.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
    results = evaluate_run(run_dir, **options)
    if at_steps:
        results["at_steps"] = at_steps
    results["study_evaluate"] = evaluate
    rundir.atomic_write_json(run_dir / rundir.RESULTS_FILE, results)


def execute_run(
    run_dir: Path | str,
    *,
    threads: int | None = None,
    callback: Callable[[Any], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> str:
    """Bring one study run to finished: train (resuming from its checkpoint) and evaluate.

    ``run_dir`` must hold ``study-run.json``. With ``threads`` torch uses that many threads.
    Under a distributed launch (``WORLD_SIZE`` > 1: SLURM tasks, torchrun) every rank calls it:
    rank 0 holds the lock, prepares the directory and evaluates; all ranks train together (DDP).
    Returns ``"finished"``, ``"failed"`` (the error is written to ``study-error.json``),
    ``"interrupted"`` (Ctrl-C or SIGTERM: training checkpointed) or ``"busy"`` (another process
    holds the run).
    """
    from slowvae.hardware import resolve_device
    from slowvae.train import Distributed, TrainingStopped, leave_process_group, train

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
            status, resume = None, None
            if ddp.is_main:  # rank 0 decides and prepares; the gather below tells the other ranks
                if not held:
                    status = BUSY
                elif is_finished(run_dir):
                    status = FINISHED
                else:
                    try:
                        resume = _prepare(run_dir, record)
                    except Exception as err:
                        status = _failed(run_dir, err, rank)
            status, resume = ddp.gather((status, resume))[0]
            if status is not None:
                return status
            try:
                if resume is not None:
                    train(run_dir, resume=resume, callback=callback)
                if ddp.is_main:
                    _evaluate(run_dir, record["evaluate"], say or (lambda _msg: None), str(ddp.device))
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
