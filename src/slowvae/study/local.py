"""The local executor: up to N runs at once in worker processes, each with its share of the cores.

Workers are spawned with ``OMP_NUM_THREADS`` (and MKL's) set to ``cores // workers`` before
they import torch, and set ``torch.set_num_threads`` to the same: oversubscribed threads cost
more than half the throughput on a 2-core machine (issue 12). Ctrl-C reaches every worker; the
training loop of each running run saves a checkpoint and stops, no new run starts, and the
executor returns the runs that were interrupted.

Workers die with the executor: each watches its parent and, once the parent is gone (SIGKILL of
``slowvae study run``), sends itself SIGTERM, so the training loop checkpoints and stops and no
orphan keeps the cores busy for a later ``study run``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slowvae.study import runner
from slowvae.study.core import run_dir

#: set in a worker once Ctrl-C arrived: the worker then starts no new run
_INTERRUPTED = False
#: whether the worker is inside a run (only then does Ctrl-C interrupt what it is doing)
_BUSY = False
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: seconds between a worker's checks that its parent is alive, and the grace after SIGTERM
PARENT_POLL_SECONDS = 1.0
ORPHAN_GRACE_SECONDS = 120.0


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def threads_per_run(workers: int, available: int | None = None) -> int:
    """Torch threads of each of ``workers`` concurrent runs: an equal share of the cores, at least 1."""
    return max(1, (available or cores()) // max(1, workers))


def pool_split(workers: int, runs: int, threads: int | None = None, available: int | None = None) -> tuple[int, int]:
    """(processes, torch threads each) for ``runs`` runs asked to share the cores among ``workers``:
    at most one process per run, and the threads of ``workers``, even when fewer runs are left."""
    return max(1, min(workers, runs)), threads or threads_per_run(workers, available)


def _init_worker(threads: int, parent: int) -> None:
    import torch

    torch.set_num_threads(threads)
    signal.signal(signal.SIGINT, _interrupt)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()


def _watch_parent(parent: int) -> None:
    """Stop this worker once ``parent`` is no longer its parent (the executor died): SIGTERM makes
    a training loop checkpoint and stop; whatever still runs after the grace period is ended."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(ORPHAN_GRACE_SECONDS)
    os._exit(1)


def _interrupt(signum: int, frame: Any) -> None:
    # outside a training loop (whose own handler checkpoints first): stop the current evaluation
    global _INTERRUPTED
    _INTERRUPTED = True
    if _BUSY:
        raise KeyboardInterrupt


def _work(task: tuple[str, int]) -> tuple[str, str]:
    global _BUSY, _INTERRUPTED
    path, threads = task
    if _INTERRUPTED:
        return path, runner.INTERRUPTED
    _BUSY = True
    try:
        status = runner.execute_run(path, threads=threads)
    except KeyboardInterrupt:
        status = runner.INTERRUPTED
    finally:
        _BUSY = False
    if status == runner.INTERRUPTED:
        _INTERRUPTED = True
    return path, status


@contextmanager
def _thread_environment(threads: int) -> Iterator[None]:
    """Spawned workers inherit these before their first torch import; restored afterwards."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARIABLES}
    os.environ.update({k: str(threads) for k in _THREAD_VARIABLES})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_local(
    run_dirs: list[Path],
    *,
    workers: int = 2,
    threads: int | None = None,
    on_result: Callable[[Path, str], None] | None = None,
) -> dict[str, str]:
    """Execute study runs with ``workers`` processes of ``threads`` torch threads each (default: the
    cores divided by ``workers``). The threads per run stay those of ``workers`` when fewer runs are
    left than workers, so a study keeps one split throughout (a pinned study's last run does not
    switch to more threads). Returns run directory -> status (see :func:`runner.execute_run`)."""
    if not run_dirs:
        return {}
    workers, threads = pool_split(workers, len(run_dirs), threads)
    tasks = [(str(p), threads) for p in run_dirs]
    results: dict[str, str] = {}
    # the workers get Ctrl-C themselves (same process group) and checkpoint; this process waits for them
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with _thread_environment(threads):
            pool = mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(threads, os.getpid()))
        with pool:
            for path, status in pool.imap_unordered(_work, tasks, chunksize=1):
                results[path] = status
                if on_result is not None:
                    on_result(Path(path), status)
    finally:
        signal.signal(signal.SIGINT, previous)
    return results


@dataclass
class LocalExecutor:
    """The :class:`~slowvae.study.executor.Executor` of this machine: :func:`run_local` with
    ``workers`` processes of ``threads`` torch threads (default: an equal share of the cores);
    ``on_result(run directory, status)`` hears of each run as it ends."""

    workers: int = 2
    threads: int | None = None
    on_result: Callable[[Path, str], None] | None = None

    @staticmethod
    def used_in(study_dir: Path | str) -> bool:
        """Any study directory can be run locally."""
        return True

    def active_runs(self, study_dir: Path | str) -> dict[str, set[str]]:
        """None to report: a local run holds its lock, which the core sees itself."""
        return {}

    def record_failures(self, study_dir: Path | str, pending: list[str]) -> dict[str, str]:
        """None to record: a local run writes its own error."""
        return {}

    def run(self, study_dir: Path | str, run_ids: list[str]) -> dict[str, str]:
        """Execute the runs here; returns run id -> status (see :func:`runner.execute_run`)."""
        dirs = [run_dir(study_dir, r) for r in run_ids]
        done = run_local(dirs, workers=self.workers, threads=self.threads, on_result=self.on_result)
        return {Path(path).name: status for path, status in done.items()}
