"""A study directory: prepare its runs, refuse changed settings, say where every run stands.

Layout::

    DIR/study.toml          a copy of the study file (what `status`, `table`, `udr` read)
    DIR/runs/<id>/          one ordinary run directory per run (see :mod:`slowvae.study.runner`)
    DIR/slurm/              the SLURM executor's job records and logs
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slowvae import rundir
from slowvae.errors import SlowVAEError
from slowvae.study import runner
from slowvae.study.spec import RunSpec, Study, compared, load_study

STUDY_FILE = "study.toml"
RUNS_DIR = "runs"
#: whole-machine training throughput (images/s, 2 cores) used for estimates before a study has
#: finished runs of its own (docs/benchmarks/speed.md, "Training speed")
_DEFAULT_RATE = {"fp32": 700.0, "bf16": 1300.0, "auto": 1000.0}
#: encoder throughput during evaluation (images/s) and the exact DCI's seconds at 10,000 rows
_ENCODE_RATE = 4000.0
_EXACT_DCI_S = 300.0


def run_dir(study_dir: Path | str, run_id: str) -> Path:
    return Path(study_dir) / RUNS_DIR / run_id


def open_study(study_dir: Path | str) -> Study:
    """The study kept in ``study_dir`` (its ``study.toml``)."""
    path = Path(study_dir) / STUDY_FILE
    if not path.is_file():
        raise SlowVAEError(
            f"{study_dir} is not a study directory (no {STUDY_FILE}); start one with "
            f"`slowvae study run STUDY.toml --out {study_dir}`"
        )
    return load_study(path)


def conflicts(study: Study, study_dir: Path | str) -> list[str]:
    """One line per run on disk whose saved settings the study would change."""
    lines = []
    for spec in study.runs:
        saved = runner.read_json(run_dir(study_dir, spec.id) / runner.RECORD_FILE)
        if saved is None:
            continue
        old, new = compared(saved), compared(spec.record())
        diffs = [
            f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)
        ]
        if diffs:
            lines.append(f"{spec.id} ({'; '.join(diffs)})")
    return lines


def prepare(study: Study, study_dir: Path | str) -> None:
    """Create ``study_dir`` with the study file's copy and a record per new run; refuse a study
    that would change a run already on disk (naming the runs and settings)."""
    study_dir = Path(study_dir)
    bad = conflicts(study, study_dir)
    if bad:
        shown = "\n  ".join(bad[:10]) + (f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise SlowVAEError(
            f"the study file would change {len(bad)} run(s) already in {study_dir}; results are never mixed:\n  {shown}\n"
            "Write the study to another --out, or move those runs away."
        )
    (study_dir / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    rundir.atomic_write_bytes(study_dir / STUDY_FILE, study.text.encode())
    linked = reusable(study, study_dir)
    for spec in study.runs:
        target = run_dir(study_dir, spec.id)
        if spec.id in linked:  # a finished run with the same settings elsewhere: link it, do not redo it
            target.symlink_to(linked[spec.id], target_is_directory=True)
        path = target / runner.RECORD_FILE
        if not path.exists():
            rundir.atomic_write_json(path, spec.record())


def reusable(study: Study, study_dir: Path | str) -> dict[str, Path]:
    """Run id -> the finished run with the same settings in one of the study's ``reuse``
    directories, for each run not yet in ``study_dir``."""
    found: dict[str, Path] = {}
    for spec in study.runs:
        target = run_dir(study_dir, spec.id)
        if target.exists() or target.is_symlink():
            continue
        for other in study.reuse_dirs():
            path = run_dir(other, spec.id)
            saved = runner.read_json(path / runner.RECORD_FILE)
            if saved is not None and compared(saved) == compared(spec.record()) and runner.is_finished(path):
                found[spec.id] = path.resolve()
                break
    return found


@dataclass
class RunState:
    """Where a run stands: ``finished``, ``running``, ``failed`` or ``pending``; ``error`` for failures."""

    spec: RunSpec
    state: str
    error: str | None = None
    steps_done: int = 0


def run_state(study_dir: Path | str, spec: RunSpec, active: set[str] | None = None) -> RunState:
    """The state of one run; ``active`` holds run ids a scheduler reports as running."""
    path = run_dir(study_dir, spec.id)
    if runner.is_finished(path):
        return RunState(spec, "finished", steps_done=spec.config["steps"])
    steps = _steps_done(path)
    if runner.is_locked(path) or (active is not None and spec.id in active):
        return RunState(spec, "running", steps_done=steps)
    error = runner.read_json(path / runner.ERROR_FILE)
    if error is not None:
        return RunState(spec, "failed", error.get("error", "unknown error"), steps)
    return RunState(spec, "pending", steps_done=steps)


def _steps_done(path: Path) -> int:
    """The last logged step (cheap: no checkpoint is loaded)."""
    log = path / rundir.LOG_FILE
    if not log.exists():
        return 0
    for line in reversed(log.read_text().splitlines()):
        try:
            return int(json.loads(line)["step"])
        except (json.JSONDecodeError, KeyError, ValueError):
            continue
    return 0


def _machine_seconds(path: Path) -> tuple[float, float]:
    """(training, scoring) seconds spent on one run: the ``seconds`` of its logged intervals
    (steps redone after a resume count once) and of its results files."""
    train = 0.0
    log = path / rundir.LOG_FILE
    if log.exists():
        for line in log.read_text().splitlines():
            try:
                train += float(json.loads(line).get("seconds", 0.0))
            except (json.JSONDecodeError, TypeError, ValueError, AttributeError):
                continue
    score = 0.0
    for results in [path / rundir.RESULTS_FILE, *path.glob("results_step_*.json")]:
        seconds = (runner.read_json(results) or {}).get("seconds")
        score += float(seconds) if isinstance(seconds, (int, float)) else 0.0
    return train, score


def study_status(study_dir: Path | str) -> dict[str, Any]:
    """Counts of finished, running, failed and pending runs, each failure's error, and the machine
    time spent so far.

    Returns ``{"name", "counts": {state: n}, "runs": [{"id", "state", "steps_done", "steps",
    "error", "train_seconds", "score_seconds"}], "machine": {"train_seconds", "score_seconds"},
    "not_in_study": [ids of run directories the study file no longer lists]}``. Runs with a live
    SLURM job count as running (queued ones as pending). Runs linked through ``reuse`` count too.
    """
    from slowvae.study import slurm

    study = open_study(study_dir)
    active = slurm.active_runs(study_dir)
    states = [run_state(study_dir, spec, active.get("RUNNING", set())) for spec in study.runs]
    alive = set().union(*active.values()) if active else set()
    lost = slurm.record_failures(
        study_dir, [r.spec.id for r in states if r.state == "pending" and r.spec.id not in alive]
    )
    states = [RunState(r.spec, "failed", lost[r.spec.id], r.steps_done) if r.spec.id in lost else r for r in states]
    counts = {s: sum(r.state == s for r in states) for s in ("finished", "running", "failed", "pending")}
    known = {spec.id for spec in study.runs}
    on_disk = (
        sorted(p.name for p in (Path(study_dir) / RUNS_DIR).iterdir() if p.is_dir())
        if (Path(study_dir) / RUNS_DIR).is_dir()
        else []
    )
    runs = []
    for r in states:
        train, score = _machine_seconds(run_dir(study_dir, r.spec.id))
        runs.append(
            {
                "id": r.spec.id,
                "state": r.state,
                "steps_done": r.steps_done,
                "steps": r.spec.config["steps"],
                "error": r.error,
                "train_seconds": round(train, 1),
                "score_seconds": round(score, 1),
            }
        )
    return {
        "name": study.name,
        "counts": counts,
        "queued": sorted(active.get("PENDING", set()) & known),
        "runs": runs,
        "machine": {key: round(sum(r[key] for r in runs), 1) for key in ("train_seconds", "score_seconds")},
        "not_in_study": [i for i in on_disk if i not in known],
    }


def to_run(study: Study, study_dir: Path | str, *, retry_failed: bool = False) -> tuple[list[RunSpec], list[RunState]]:
    """The runs an executor should work on (unfinished, not running, not reusable from another
    study; failed ones only with ``retry_failed``) and the failed runs left alone. SLURM tasks that died without recording
    an error (sacct: out of memory, node failure) count as failed."""
    from slowvae.study import slurm

    states = {spec.id: run_state(study_dir, spec) for spec in study.runs}
    if slurm.read_jobs(study_dir):
        active = slurm.active_runs(study_dir)
        alive = set().union(*active.values()) if active else set()
        slurm.record_failures(study_dir, [i for i, s in states.items() if s.state == "pending" and i not in alive])
    todo, failed = [], []
    linked = reusable(study, study_dir)
    for spec in study.runs:
        if spec.id in linked:
            continue
        state = run_state(study_dir, spec)
        if state.state == "pending" or (state.state == "failed" and retry_failed):
            todo.append(spec)
        elif state.state == "failed":
            failed.append(state)
    return breadth_first(todo), failed


def breadth_first(runs: list[RunSpec]) -> list[RunSpec]:
    """``runs`` with every group's first seed before any group's second (expansion order within a
    round), so a study stopped part-way already has a row for as many settings as possible."""
    rank: dict[tuple[str, str, str], int] = {}
    keyed = []
    for index, spec in enumerate(runs):
        rank[spec.group] = rank.get(spec.group, -1) + 1
        keyed.append((rank[spec.group], index, spec))
    return [spec for _, _, spec in sorted(keyed, key=lambda k: k[:2])]


def estimate_seconds(runs: list[RunSpec], study_dir: Path | str) -> float:
    """Rough whole-machine seconds to train and evaluate ``runs``: the image throughput of this
    study's finished runs where there are any (else a default for 2 CPU cores), plus encoding."""
    rates = []
    for path in sorted((Path(study_dir) / RUNS_DIR).glob("*/" + rundir.LOG_FILE))[:20]:
        values = [json.loads(line).get("images_per_s") for line in path.read_text().splitlines()[1:] if line.strip()]
        values = [v for v in values if v]
        if values:
            rates.append(statistics.median(values))
    total = 0.0
    for spec in runs:
        rate = statistics.median(rates) if rates else _DEFAULT_RATE.get(spec.config["precision"], 1000.0)
        remaining = spec.config["steps"] - _steps_done(run_dir(study_dir, spec.id))
        total += max(remaining, 0) * 2 * spec.config["batch_pairs"] / rate
        ev = spec.evaluate
        frames = 2 * ev["samples"] * (1 + len(ev["at_steps"]))
        if len(ev["metrics"]) > 1:
            frames += 20_000 + (100_000 if {"beta_vae", "factor_vae"} & set(ev["metrics"]) else 0)
        total += frames / _ENCODE_RATE
        if "dci" in ev["metrics"] and ev["settings"].get("dci", {}).get("backend") == "sklearn":
            total += _EXACT_DCI_S * (10_000 if ev["preset"] != "fast" else 1_000) / 10_000
    return total


__all__ = [
    "RunState",
    "breadth_first",
    "conflicts",
    "estimate_seconds",
    "open_study",
    "prepare",
    "run_dir",
    "run_state",
    "study_status",
    "to_run",
]
