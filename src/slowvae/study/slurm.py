"""The SLURM executor: the same runs as a `submitit` job array (optional extra ``slowvae[slurm]``).

Each array task calls :func:`slowvae.study.runner.execute_run` on one run directory. On timeout
or preemption submitit requeues the task (``checkpoint``); SLURM's SIGTERM makes the training
loop save a checkpoint first, and the requeued task resumes from it. Job ids are kept in
``DIR/slurm/jobs.json`` (run id -> job id) so that `slowvae study status` can follow them and
`slowvae study cancel` can cancel them; submitit's logs go to ``DIR/slurm/logs/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slowvae import rundir
from slowvae.errors import SlowVAEError
from slowvae.study import runner
from slowvae.study.core import run_dir

JOBS_FILE = Path("slurm") / "jobs.json"
LOG_DIR = Path("slurm") / "logs"


@dataclass
class SlurmResources:
    """Per-run resources. The defaults fit a 2-CPU, 22 GB node: 2 CPUs, 20 GB, no GPU, 4 h
    (a run that needs longer is requeued and resumes from its checkpoint)."""

    partition: str | None = None
    time_min: int = 240
    cpus_per_run: int = 2
    gpus_per_run: int = 0
    mem_gb: int = 20
    max_parallel: int = 8
    processes_per_run: int | None = None  # DDP processes (SLURM tasks) per run; default one per GPU, else 1

    @property
    def processes(self) -> int:
        """The DDP processes of one run: ``processes_per_run``, else one per GPU (at least one)."""
        return self.processes_per_run or max(1, self.gpus_per_run)

    @property
    def cpus_per_process(self) -> int:
        """CPUs (torch threads) of each of the run's processes."""
        return self.cpus_per_run // self.processes

    def check(self) -> None:
        """Refuse resources that cannot make a run (a SlowVAEError naming the flag)."""
        if self.processes < 1:
            raise SlowVAEError(f"--processes-per-run must be at least 1, got {self.processes}")
        if self.gpus_per_run and self.processes != self.gpus_per_run:
            raise SlowVAEError(
                f"a multi-GPU run has one process per GPU: --processes-per-run {self.processes} "
                f"with --gpus-per-run {self.gpus_per_run}; leave --processes-per-run out"
            )
        if self.cpus_per_run < self.processes:
            raise SlowVAEError(f"--cpus-per-run {self.cpus_per_run} is fewer than the run's {self.processes} processes")


def parse_time(text: str) -> int:
    """Minutes from ``MINUTES``, ``HH:MM:SS`` or ``D-HH:MM:SS`` (seconds round up)."""
    match = re.fullmatch(r"(\d+)|(?:(\d+)-)?(\d+):(\d+):(\d+)", text.strip())
    if not match:
        raise SlowVAEError(f"--time {text!r}: give minutes or [D-]HH:MM:SS")
    if match.group(1):
        minutes = int(match.group(1))
    else:
        days, hours, mins, secs = (int(x or 0) for x in match.groups()[1:])
        minutes = (days * 24 + hours) * 60 + mins + (1 if secs else 0)
    if minutes < 1:
        raise SlowVAEError(f"--time {text!r} is less than a minute")
    return minutes


def parse_mem(text: str) -> int:
    """Whole gigabytes from ``20``, ``20G``, ``20GB`` or ``20000M``."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([GgMm]?)[Bb]?", text.strip())
    if not match:
        raise SlowVAEError(f"--mem {text!r}: give gigabytes, e.g. 20G or 20000M")
    value = float(match.group(1)) / (1024 if match.group(2).lower() == "m" else 1)
    if value < 1:
        raise SlowVAEError(f"--mem {text!r} is below 1 GB")
    return int(value)


class SlurmRun:
    """One array task: execute a study run. submitit calls :meth:`checkpoint` on timeout or
    preemption and requeues the same call, which resumes the run from its checkpoint."""

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def __call__(self, run_dir: str) -> str:
        import submitit

        if submitit.JobEnvironment().num_tasks > 1:  # a multi-process (DDP) run: one task per rank
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
        threads = int(os.environ.get("SLURM_CPUS_PER_TASK", self.threads))
        status = runner.execute_run(run_dir, threads=threads)
        if status == runner.FAILED:
            error = runner.read_json(Path(run_dir) / runner.ERROR_FILE) or {}
            raise SlowVAEError(f"{run_dir}: {error.get('error', 'failed')}")
        return status

    def checkpoint(self, run_dir: str) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(self, run_dir)


def _require_slurm() -> Any:
    try:
        import submitit
    except ImportError:
        raise SlowVAEError('the SLURM executor needs submitit: pip install "slowvae[slurm]"') from None
    if shutil.which("sbatch") is None:
        raise SlowVAEError("the SLURM executor needs SLURM's sbatch on PATH (run it on the cluster's login node)")
    return submitit


def read_jobs(study_dir: Path | str) -> dict[str, str]:
    """Run id -> the SLURM job id of its latest submission."""
    path = Path(study_dir) / JOBS_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def active_runs(study_dir: Path | str) -> dict[str, set[str]]:
    """Run ids whose SLURM job is alive, by state: ``{"RUNNING": {...}, "PENDING": {...}}``.
    Empty when the study has no SLURM jobs or squeue is not reachable."""
    jobs = read_jobs(study_dir)
    if not jobs or shutil.which("squeue") is None:
        return {}
    arrays = sorted({job.split("_")[0] for job in jobs.values()})
    try:
        out = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(arrays)], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    state_of = dict(line.split()[:2] for line in out.splitlines() if len(line.split()) >= 2)
    active: dict[str, set[str]] = {"RUNNING": set(), "PENDING": set()}
    for run_id, job in jobs.items():
        state = state_of.get(job)
        if state is None:
            continue
        active["PENDING" if state in ("PENDING", "REQUEUED", "REQUEUE_HOLD", "CONFIGURING") else "RUNNING"].add(run_id)
    return active


#: final SLURM job states of a task that died without finishing its run (a cancelled or timed-out
#: task is not a failure: running the study again resumes it)
_FAILED_STATES = ("FAILED", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE")


def record_failures(study_dir: Path | str, pending: list[str]) -> dict[str, str]:
    """For ``pending`` runs whose last SLURM job ended in a failed state (per sacct) without the
    run recording an error itself (killed for memory, node failure), write the run's
    study-error.json. Returns run id -> error. Nothing happens where sacct is not available."""
    jobs = {r: j for r, j in read_jobs(study_dir).items() if r in set(pending)}
    if not jobs or shutil.which("sacct") is None:
        return {}
    try:
        out = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(sorted(set(jobs.values())))],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    state_of = {}
    for line in out.splitlines():
        job, _, state = line.partition("|")
        state_of[job.strip()] = state.split()[0] if state.strip() else ""
    found = {}
    for run_id, job in jobs.items():
        if state_of.get(job) in _FAILED_STATES:
            found[run_id] = (
                f"SLURM job {job} ended {state_of[job]} without finishing the run; "
                f"its log is in {Path(study_dir) / LOG_DIR / job}"
            )
            runner.write_error(run_dir(study_dir, run_id), found[run_id])
    return found


def submit(study_dir: Path | str, run_ids: list[str], resources: SlurmResources, name: str) -> dict[str, str]:
    """Submit ``run_ids`` (prepared in ``study_dir``) as one job array; returns run id -> job id.
    Runs whose job is still queued or running are not submitted again."""
    submitit = _require_slurm()
    resources.check()
    study_dir = Path(study_dir).resolve()
    alive = set().union(*active_runs(study_dir).values()) if read_jobs(study_dir) else set()
    run_ids = [r for r in run_ids if r not in alive]
    if not run_ids:
        return {}
    executor = submitit.AutoExecutor(folder=str(study_dir / LOG_DIR / "%j"), cluster="slurm")
    params: dict[str, Any] = {
        "name": f"slowvae-{name}",
        "timeout_min": resources.time_min,
        "cpus_per_task": resources.cpus_per_process,
        "mem_gb": resources.mem_gb,
        "slurm_array_parallelism": resources.max_parallel,
        "tasks_per_node": resources.processes,
        "nodes": 1,
    }
    if resources.partition:
        params["slurm_partition"] = resources.partition
    if resources.gpus_per_run:
        params["gpus_per_node"] = resources.gpus_per_run
    executor.update_parameters(**params)
    try:
        jobs = executor.map_array(SlurmRun(resources.cpus_per_process), [str(run_dir(study_dir, r)) for r in run_ids])
    except Exception as err:  # submitit raises its own types for sbatch failures
        raise SlowVAEError(
            f"sbatch refused the job array: {str(err).strip().splitlines()[-1] if str(err).strip() else err}"
        ) from None
    submitted = {r: str(job.job_id) for r, job in zip(run_ids, jobs)}
    rundir.atomic_write_json(study_dir / JOBS_FILE, {**read_jobs(study_dir), **submitted})
    return submitted


@dataclass
class SlurmExecutor:
    """The :class:`~slowvae.study.executor.Executor` on SLURM: runs are submitted as one job array
    named ``slowvae-<name>`` with ``resources`` each; live jobs are followed with squeue and sacct."""

    resources: SlurmResources = field(default_factory=SlurmResources)
    name: str = "study"

    @staticmethod
    def used_in(study_dir: Path | str) -> bool:
        """Whether the study has SLURM jobs on record."""
        return bool(read_jobs(study_dir))

    def active_runs(self, study_dir: Path | str) -> dict[str, set[str]]:
        """See :func:`active_runs`."""
        return active_runs(study_dir)

    def record_failures(self, study_dir: Path | str, pending: list[str]) -> dict[str, str]:
        """See :func:`record_failures`."""
        return record_failures(study_dir, pending)

    def run(self, study_dir: Path | str, run_ids: list[str]) -> dict[str, str]:
        """Submit the runs (see :func:`submit`); returns run id -> SLURM job id."""
        return submit(study_dir, run_ids, self.resources, self.name)


def cancel(study_dir: Path | str) -> list[str]:
    """Cancel the study's queued and running SLURM jobs; returns the job ids cancelled."""
    if shutil.which("scancel") is None:
        raise SlowVAEError("scancel is not on PATH: run `slowvae study cancel` where SLURM is reachable")
    jobs = read_jobs(study_dir)
    active = active_runs(study_dir)
    ids = sorted(jobs[r] for r in set().union(*active.values())) if active else []
    if ids:
        done = subprocess.run(["scancel", *ids], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise SlowVAEError(f"scancel failed: {done.stderr.strip()}")
    return ids
