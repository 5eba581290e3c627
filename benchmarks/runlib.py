"""What the training benchmarks share: train a run directory to a number of steps (creating it, or
continuing it from its last checkpoint), and score one checkpoint with MCC once (cached beside it).

Used by ``mcc_vs_steps.py`` and ``baselines.py``, which share run directories (same layout and
cache names).
"""

from __future__ import annotations

import dataclasses
import json
import signal
import time
from pathlib import Path
from typing import Any

#: TrainConfig fields a run may change when it is continued
ADJUSTABLE = ("steps", "device", "checkpoint_every", "log_every")


#: set in a worker once Ctrl-C arrived: the worker then starts no new work
INTERRUPTED = False


def init_worker() -> None:
    """One thread per worker process (the benchmarks run one process per core), and Ctrl-C turned
    into :data:`INTERRUPTED` (while a run trains, the loop's own handler checkpoints it first).
    SIGTERM keeps its default outside training, so that the pool can still end its workers."""
    import torch

    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, _interrupt)


def _interrupt(signum: int, frame: Any) -> None:
    global INTERRUPTED
    INTERRUPTED = True


def train_to(run_dir: Path, config: Any) -> float:
    """Bring ``run_dir`` to ``config.steps`` optimizer steps; the seconds this took.

    A new directory is created and trained; an existing one is continued from its last
    checkpoint (exact resume) or left alone when it has the steps already. A directory that holds
    a different run (any setting but those in :data:`ADJUSTABLE`) is refused.
    """
    from slowvae import rundir
    from slowvae.errors import SlowVAEError
    from slowvae.run import init_run_dir, load_run_config, update_run_config
    from slowvae.train import train

    start = time.perf_counter()
    ckpt = run_dir / rundir.CHECKPOINT_DIR / rundir.LAST_CHECKPOINT
    if not (run_dir / rundir.CONFIG_FILE).exists():
        init_run_dir(run_dir, config)
        train(run_dir)
        return time.perf_counter() - start
    saved = load_run_config(run_dir)
    differ = [f.name for f in dataclasses.fields(config)
              if f.name not in ADJUSTABLE and getattr(saved, f.name) != getattr(config, f.name)]
    if differ:
        raise SlowVAEError(f"{run_dir} holds a different run ({', '.join(differ)} differ); move it away or use another --runs")
    done = rundir.load_checkpoint(ckpt)["step"] if ckpt.exists() else 0
    if done < config.steps:
        update_run_config(run_dir, config)
        if not ckpt.exists():  # killed before its first checkpoint: start again with a clean log
            (run_dir / rundir.LOG_FILE).unlink(missing_ok=True)
        train(run_dir, resume=ckpt.exists())
    return time.perf_counter() - start


def trained_steps(run_dir: Path) -> int:
    """Steps in the run's last checkpoint (0 where there is none)."""
    from slowvae import rundir

    ckpt = run_dir / rundir.CHECKPOINT_DIR / rundir.LAST_CHECKPOINT
    return int(rundir.load_checkpoint(ckpt)["step"]) if ckpt.exists() else 0


def mcc_at(run_dir: Path, step: int, num_samples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """``results.json``-style scores of ``checkpoints/step_<step>.pt``, computed once and cached as
    ``eval_step_<step>.json`` in the run directory (the cache ``mcc_vs_steps.py`` writes too)."""
    from slowvae.evaluate import evaluate_run

    cached = run_dir / f"eval_step_{step}.json"
    if cached.exists():
        scores = json.loads(cached.read_text())
        if scores.get("settings", {}).get("num_samples") == num_samples and scores["settings"].get("seed") == seed:
            return scores
    return evaluate_run(run_dir, checkpoint=f"step_{step}.pt", num_samples=num_samples, seed=seed, figures=False, out=cached)
