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

from slowvae import results, rundir
from slowvae.errors import SlowVAEError
from slowvae.metrics.registry import headline_key as headline
from slowvae.results import Results
from slowvae.study import runner
from slowvae.study.executor import Executor, executor_for
from slowvae.study.spec import RunSpec, Study, compared, load_study

STUDY_FILE = "study.toml"
RUNS_DIR = "runs"
#: whole-machine training throughput (images/s, 2 cores) used for estimates before a study has
#: finished runs of its own (docs/benchmarks/speed.md, "Training speed")
_DEFAULT_RATE = {"fp32": 700.0, "bf16": 1300.0, "auto": 1000.0}
#: encoder throughput during evaluation (images/s)
_ENCODE_RATE = 4000.0


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
    """One line per run on disk whose saved settings the study would change.

    Raising ``steps`` is no change but an extension (the run resumes to the new count), and
    ``at_steps`` may change, save for an added step the run has passed without scoring it or
    keeping its checkpoint. A run linked in through ``reuse`` is never extended here."""
    lines = []
    for spec in study.runs:
        path = run_dir(study_dir, spec.id)
        saved = runner.read_json(path / runner.RECORD_FILE)
        if saved is None:
            continue
        old, new = compared(saved), compared(spec.record())
        diffs = [
            f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
            for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k) and not _allowed(k, old.get(k), new.get(k), path)
        ]
        if path.is_symlink() and new["config.steps"] > old["config.steps"]:
            diffs.append(f"config.steps raised for a run linked from {path.resolve()}; extend it in its own study")
        if diffs:
            lines.append(f"{spec.id} ({'; '.join(diffs)})")
    return lines


def _allowed(key: str, old: Any, new: Any, path: Path) -> bool:
    """Whether a changed setting leaves the run's results valid (more steps; other at_steps)."""
    if key == "config.steps":
        return isinstance(old, int) and isinstance(new, int) and new > old
    if key == "evaluate.at_steps":
        return not _unscorable(path, sorted(set(new or []) - set(old or [])))
    return False


def _unscorable(path: Path, added: list[int]) -> list[int]:
    """Of the ``added`` at_steps entries, those the run has passed with neither scores nor a checkpoint kept."""
    trained = _steps_done(path)
    final = results.read_results(path)
    return [
        s
        for s in added
        if s < trained
        and not results.step_path(path, s).exists()
        and not (path / rundir.CHECKPOINT_DIR / f"step_{s}.pt").exists()
        and not (final is not None and final.step == s)
    ]


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
        saved = runner.read_json(path)
        if saved is None or compared(saved) != compared(spec.record()):  # new, or extended
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
            finished = results.is_finished(path, spec.config["steps"])
            if saved is not None and compared(saved) == compared(spec.record()) and finished:
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
    #: failed because its files cannot be read (:func:`damage`): running it again cannot mend that
    damaged: bool = False


def run_state(study_dir: Path | str, spec: RunSpec, active: set[str] | None = None) -> RunState:
    """The state of one run; ``active`` holds run ids a scheduler reports as running."""
    path = run_dir(study_dir, spec.id)
    broken = damage(path)
    if broken is not None:
        return RunState(spec, "failed", broken, _steps_done(path), damaged=True)
    if results.is_finished(path, spec.config["steps"]):
        return RunState(spec, "finished", steps_done=spec.config["steps"])
    steps = _steps_done(path)
    if runner.is_locked(path) or (active is not None and spec.id in active):
        return RunState(spec, "running", steps_done=steps)
    error = runner.read_json(path / runner.ERROR_FILE)
    if error is not None:
        return RunState(spec, "failed", error.get("error", "unknown error"), steps)
    return RunState(spec, "pending", steps_done=steps)


def damage(path: Path) -> str | None:
    """Why a run's files cannot be read (results.json cut short or not a results record, config.json
    not a training config), naming the file and what to do; None when they are sound or not written yet."""
    record = path / rundir.RESULTS_FILE
    if record.exists():
        try:
            results.Results.from_dict(json.loads(record.read_text()))
        except (OSError, json.JSONDecodeError, TypeError, ValueError, AttributeError):
            return (
                f"damaged {rundir.RESULTS_FILE} (cut short or not a results record): delete it to score the run again"
            )
    if (path / rundir.CONFIG_FILE).exists():
        try:
            rundir.load_run_config(path)
        except (SlowVAEError, OSError, TypeError, ValueError, KeyError, AttributeError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            return f"damaged {rundir.CONFIG_FILE} ({reason}): restore it, or delete the run directory to run it again"
    return None


def damaged_runs(study_dir: Path | str) -> dict[str, str]:
    """Run id -> why its files cannot be read (see :func:`damage`), for the study's runs that have such files."""
    found = {spec.id: damage(run_dir(study_dir, spec.id)) for spec in open_study(study_dir).runs}
    return {run_id: reason for run_id, reason in found.items() if reason is not None}


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


#: logged intervals over which a running run's pace is measured
PACE_INTERVALS = 20


def _timed_intervals(path: Path) -> list[tuple[int, float]]:
    """(step, seconds) of each logged interval of one run that has both, in log order."""
    log = path / rundir.LOG_FILE
    intervals = []
    for line in log.read_text().splitlines() if log.exists() else []:
        try:
            record = json.loads(line)
            intervals.append((int(record["step"]), float(record["seconds"])))
        except (json.JSONDecodeError, TypeError, ValueError, KeyError):
            continue
    return intervals


def seconds_per_step(intervals: list[tuple[int, float]]) -> float | None:
    """The pace of the last ``PACE_INTERVALS`` logged intervals ((step, seconds), in log order):
    their seconds over the steps they span; None with fewer than two intervals."""
    if len(intervals) < 2:
        return None
    k = min(PACE_INTERVALS, len(intervals) - 1)
    span = intervals[-1][0] - intervals[-k - 1][0]
    return sum(seconds for _, seconds in intervals[-k:]) / span if span > 0 else None


def _score_seconds(path: Path) -> float:
    """Seconds spent scoring one run: the ``seconds`` of its results files."""
    score = 0.0
    for file in [path / rundir.RESULTS_FILE, *path.glob("results_step_*.json")]:
        seconds = getattr(results.read_results(file), "seconds", None)
        score += float(seconds) if isinstance(seconds, (int, float)) else 0.0
    return score


def step_scores(study_dir: Path | str, spec: RunSpec) -> dict[str, Results]:
    """A run's scores at its ``at_steps`` entries scored so far with the study's settings, by step
    (as text): what shows a run's trajectory while it still trains."""
    path = run_dir(study_dir, spec.id)
    found = {}
    for step in spec.evaluate["at_steps"]:
        scored = results.read_step(path, step)
        if scored is not None and scored.step == step and results.same_evaluation(scored.study_evaluate, spec.evaluate):
            found[str(step)] = scored
    return found


def _states(study_dir: Path | str, study: Study, executor: Executor) -> tuple[list[RunState], dict[str, set[str]]]:
    """Every run's state, with the runs ``executor`` reports alive, and runs it lost recorded as failed."""
    active = executor.active_runs(study_dir)
    states = [run_state(study_dir, spec, active.get("RUNNING", set())) for spec in study.runs]
    alive = set().union(*active.values()) if active else set()
    lost = executor.record_failures(
        study_dir, [r.spec.id for r in states if r.state == "pending" and r.spec.id not in alive]
    )
    states = [RunState(r.spec, "failed", lost[r.spec.id], r.steps_done) if r.spec.id in lost else r for r in states]
    return states, active


def _run_summary(study_dir: Path | str, r: RunState) -> dict[str, Any]:
    path = run_dir(study_dir, r.spec.id)
    intervals = _timed_intervals(path)  # read once: machine time and pace
    train = sum(seconds for _, seconds in intervals)  # steps redone after a resume count once
    pace = seconds_per_step(intervals) if r.state == "running" else None
    metrics = r.spec.evaluate["metrics"]
    return {
        "id": r.spec.id,
        "state": r.state,
        "steps_done": r.steps_done,
        "steps": r.spec.config["steps"],
        "error": r.error,
        "train_seconds": round(train, 1),
        "score_seconds": round(_score_seconds(path), 1),
        "seconds_per_step": pace,
        "train_seconds_left": None if pace is None else round(pace * (r.spec.config["steps"] - r.steps_done), 1),
        "at_steps": {
            step: {m: scored.value(headline(m)) for m in metrics}
            for step, scored in step_scores(study_dir, r.spec).items()
        },
    }


def study_status(study_dir: Path | str, executor: Executor | None = None) -> dict[str, Any]:
    """Counts of finished, running, failed and pending runs, each failure's error, the scores at
    each ``at_steps`` entry passed so far, and the machine time spent so far.

    Returns ``{"name", "counts": {state: n}, "runs": [{"id", "state", "steps_done", "steps",
    "error", "train_seconds", "score_seconds", "seconds_per_step", "train_seconds_left", "at_steps":
    {step: {metric: value}}}], "machine":
    {"train_seconds", "score_seconds"}, "not_in_study": [ids of run directories the study file no
    longer lists]}``. Runs that ``executor`` (default: the one the study was run with) reports
    alive count as running (queued ones as pending). Runs linked through ``reuse`` count too.
    A running run's ``seconds_per_step`` is its pace over its last logged intervals, and
    ``train_seconds_left`` that pace times its steps to go (training only; None for other runs).
    """
    study = open_study(study_dir)
    states, active = _states(study_dir, study, executor or executor_for(study_dir))
    counts = {s: sum(r.state == s for r in states) for s in ("finished", "running", "failed", "pending")}
    known = {spec.id for spec in study.runs}
    on_disk = (
        sorted(p.name for p in (Path(study_dir) / RUNS_DIR).iterdir() if p.is_dir())
        if (Path(study_dir) / RUNS_DIR).is_dir()
        else []
    )
    runs = [_run_summary(study_dir, r) for r in states]
    return {
        "name": study.name,
        "counts": counts,
        "queued": sorted(active.get("PENDING", set()) & known),
        "runs": runs,
        "machine": {key: round(sum(r[key] for r in runs), 1) for key in ("train_seconds", "score_seconds")},
        "not_in_study": [i for i in on_disk if i not in known],
    }


def to_run(
    study: Study, study_dir: Path | str, *, retry_failed: bool = False, executor: Executor | None = None
) -> tuple[list[RunSpec], list[RunState]]:
    """The runs an executor should work on (unfinished, not running, not reusable from another
    study; failed ones only with ``retry_failed``, never damaged ones) and the failed runs left
    alone. Runs that died
    under ``executor`` (default: the one the study was run with) without recording an error
    (SLURM: out of memory, node failure) count as failed."""
    _states(study_dir, study, executor or executor_for(study_dir))
    todo, failed = [], []
    linked = reusable(study, study_dir)
    for spec in study.runs:
        if spec.id in linked:
            continue
        state = run_state(study_dir, spec)
        if state.state == "pending" or (state.state == "failed" and retry_failed and not state.damaged):
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


def scoring_seconds(evaluate: dict[str, Any]) -> float:
    """Rough seconds of one scoring with a study's ``evaluate`` settings: the frames encoded (MCC's,
    the suite's rows and what each metric samples itself) plus each metric's own fitting, as the
    metric registry gives them."""
    from slowvae.metrics import METRICS
    from slowvae.metrics.registry import suite_metrics
    from slowvae.metrics.suite import resolve_settings, samples_needed

    frames, seconds = 2.0 * evaluate["samples"], 0.0
    suite = suite_metrics(evaluate["metrics"])
    if suite:
        settings = resolve_settings(evaluate["preset"], evaluate["fast"], evaluate["settings"])
        frames += sum(samples_needed(evaluate["preset"], suite, overrides=evaluate["settings"]))
        for metric in suite:
            cost = METRICS[metric].cost
            images, fit = cost(settings[metric]) if cost is not None else (0, 0.0)
            frames, seconds = frames + images, seconds + fit
    return frames / _ENCODE_RATE + seconds


def estimate_seconds(runs: list[RunSpec], study_dir: Path | str) -> float:
    """Rough whole-machine seconds to train and evaluate ``runs``: the image throughput of this
    study's finished runs where there are any (else a default for 2 CPU cores), plus scoring at
    each ``at_steps`` entry still ahead and at the end."""
    rates = []
    for path in sorted((Path(study_dir) / RUNS_DIR).glob("*/" + rundir.LOG_FILE))[:20]:
        values = [json.loads(line).get("images_per_s") for line in path.read_text().splitlines()[1:] if line.strip()]
        values = [v for v in values if v]
        if values:
            rates.append(statistics.median(values))
    total = 0.0
    for spec in runs:
        rate = statistics.median(rates) if rates else _DEFAULT_RATE.get(spec.config["precision"], 1000.0)
        done = _steps_done(run_dir(study_dir, spec.id))
        total += max(spec.config["steps"] - done, 0) * 2 * spec.config["batch_pairs"] / rate
        scorings = 1 + sum(s >= done for s in spec.evaluate["at_steps"])
        total += scorings * scoring_seconds(spec.evaluate)
    return total


__all__ = [
    "RunState",
    "breadth_first",
    "conflicts",
    "damage",
    "damaged_runs",
    "estimate_seconds",
    "open_study",
    "prepare",
    "run_dir",
    "run_state",
    "study_status",
    "to_run",
]
