"""What the study core knows of an executor: the :class:`Executor` interface and where to find one.

An executor brings a study's runs to finished (each through
:func:`slowvae.study.runner.execute_run`) and says which runs it is working on. The local process
pool (:mod:`slowvae.study.local`) and SLURM (:mod:`slowvae.study.slurm`) implement it; the
core (:mod:`slowvae.study.core`) imports neither, only this module. :data:`EXECUTORS` names each
implementation by ``module:Class`` (imported when asked for), so an executor is one class plus
one entry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from slowvae.errors import SlowVAEError


@runtime_checkable
class Executor(Protocol):
    """The executor of a study's runs."""

    def active_runs(self, study_dir: Path | str) -> dict[str, set[str]]:
        """Run ids this executor has working, by state: ``{"RUNNING": {...}, "PENDING": {...}}``
        (queued); empty when it knows of none."""
        ...

    def record_failures(self, study_dir: Path | str, pending: list[str]) -> dict[str, str]:
        """For ``pending`` runs that died under this executor without recording an error (killed
        for memory, node failure), write their ``study-error.json``; returns run id -> error."""
        ...

    def run(self, study_dir: Path | str, run_ids: list[str]) -> dict[str, str]:
        """Work on the prepared runs ``run_ids`` of ``study_dir``; returns run id -> what became of
        it (a :mod:`~slowvae.study.runner` status, or the job id it was submitted as)."""
        ...


#: executor name -> ``module:Class`` of its implementation, in the order :func:`executor_for` asks them
EXECUTORS: dict[str, str] = {
    "slurm": "slowvae.study.slurm:SlurmExecutor",
    "local": "slowvae.study.local:LocalExecutor",
}


def executor_class(name: str) -> type:
    """The class of the executor named ``name``."""
    if name not in EXECUTORS:
        raise SlowVAEError(f"unknown executor {name!r}; choose from {', '.join(EXECUTORS)}")
    module, _, cls = EXECUTORS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def executor_for(study_dir: Path | str) -> Executor:
    """The executor a study directory was run with (the first whose ``used_in(study_dir)`` says so;
    the local pool otherwise), with default options: what ``study status`` asks about live runs."""
    for name in EXECUTORS:
        cls = executor_class(name)
        used_in: Callable[[Path | str], bool] = cls.used_in
        if used_in(study_dir):
            return cls()
    return executor_class("local")()


__all__ = ["EXECUTORS", "Executor", "executor_class", "executor_for"]
