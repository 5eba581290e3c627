"""The results record of a run: one dataclass, one writer, one reader (which also reads the old form).

A run directory keeps its scores in ``results.json`` (the scores at the run's last checkpoint)
and, for a study's ``[evaluate] at_steps``, in ``results_step_N.json`` (the same record at step N).
Every such file is written by :func:`write_results` alone; evaluation, the study runner and
``study udr`` build or change a :class:`Results` and hand it over. :func:`is_finished` decides
what a finished run is.

``status`` says how far a record got:

- ``"evaluated"``: a checkpoint was scored (``slowvae evaluate``, the end of ``slowvae train``,
  and every ``results_step_N.json``);
- ``"finished"``: a study run trained to its steps and scored with its study's evaluation settings
  (``study_evaluate``) at the end and at every ``at_steps`` entry (summarised in ``at_steps``).

Files written before ``status`` existed read as ``"finished"`` when they hold ``study_evaluate``
(that key's presence was the old test) and as ``"evaluated"`` otherwise.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slowvae import rundir

RESULTS_FILE = rundir.RESULTS_FILE
EVALUATED, FINISHED = "evaluated", "finished"
STATUSES = (EVALUATED, FINISHED)
_STEP_FILE = re.compile(r"^results_step_(\d+)\.json$")
#: keys of the file that are fields of the record; every other key is a score
_FIELDS = ("status", "step", "checkpoint", "settings", "figures", "timing", "seconds", "at_steps", "study_evaluate")
_FIELDS_LAST = ("udr", "udr_settings")


@dataclass
class Results:
    """What one scoring of a run's checkpoint found.

    ``scores`` holds the flat result keys in the order they were computed (``mcc``,
    ``mcc_per_factor`` {factor: value}, ``latent_for_factor``, the suite's keys such as ``mig`` or
    ``dci_disentanglement``, a model's learned values, ``mcc_note`` where there is no ground
    truth); ``settings`` every setting that made them; ``timing`` the seconds of each phase and
    ``seconds`` the total. A study adds ``study_evaluate`` (its evaluation settings) and
    ``at_steps`` (step -> the numeric scores at that step), ``study udr`` adds ``udr`` and
    ``udr_settings``.
    """

    status: str = EVALUATED
    step: int | None = None
    checkpoint: str | None = None
    scores: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    figures: list[str] | None = None
    timing: dict[str, Any] | None = None
    seconds: float | None = None
    at_steps: dict[str, dict[str, Any]] | None = None
    study_evaluate: dict[str, Any] | None = None
    udr: float | None = None
    udr_settings: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the record's fields with the scores as top-level keys (what the file holds)."""
        out: dict[str, Any] = {"status": self.status}
        out.update(self.scores)
        for key in _FIELDS[1:] + _FIELDS_LAST:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Results:
        """A record from its JSON form; the old form (no ``status``) reads as described in the module."""
        status = data.get("status") or (FINISHED if "study_evaluate" in data else EVALUATED)
        known = {k: data[k] for k in (*_FIELDS[1:], *_FIELDS_LAST) if k in data}
        scores = {k: v for k, v in data.items() if k != "status" and k not in known}
        return cls(status=status, scores=scores, **known)

    def numeric(self) -> dict[str, float]:
        """The top-level numeric scores (what ``at_steps`` keeps of a step)."""
        return {k: v for k, v in self.scores.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    def value(self, path: str) -> Any:
        """A score by dotted path (``mcc``, ``mcc_per_factor.scale``); ``udr`` too; None where absent."""
        value: Any = {**self.scores, "udr": self.udr}
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        return value


def write_results(path: Path | str, results: Results) -> None:
    """Write ``results`` to ``path`` atomically: the one writer of ``results.json`` and ``results_step_N.json``."""
    rundir.atomic_write_json(Path(path), results.to_dict())


def read_results(path: Path | str) -> Results | None:
    """The record at ``path`` (a results file, or a run directory for its ``results.json``);
    None when it is missing or cut short."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return Results.from_dict(data) if isinstance(data, dict) else None


def step_path(run_dir: Path | str, step: int) -> Path:
    """``RUN_DIR/results_step_<step>.json``: the scores at step ``step``."""
    return Path(run_dir) / f"results_step_{int(step)}.json"


def read_step(run_dir: Path | str, step: int) -> Results | None:
    """The scores at step ``step`` (None where that step was not scored)."""
    return read_results(step_path(run_dir, step))


def scored_steps(run_dir: Path | str) -> list[int]:
    """The steps with a ``results_step_N.json`` in ``run_dir``, ascending."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    return sorted(int(m.group(1)) for p in run_dir.iterdir() if (m := _STEP_FILE.match(p.name)))


def same_evaluation(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two study evaluation settings score alike (``at_steps``, which says only *when*, aside)."""
    if a is None or b is None:
        return False
    return {k: v for k, v in a.items() if k != "at_steps"} == {k: v for k, v in b.items() if k != "at_steps"}


def is_finished(run_dir: Path | str, steps: int | None = None) -> bool:
    """Whether the run's ``results.json`` has status ``finished`` and, with ``steps``, was scored
    at ``steps`` or later (a study extended to more steps makes its finished runs unfinished)."""
    results = read_results(run_dir)
    if results is None or results.status != FINISHED:
        return False
    return steps is None or results.step is None or results.step >= steps


__all__ = [
    "EVALUATED",
    "FINISHED",
    "RESULTS_FILE",
    "STATUSES",
    "Results",
    "is_finished",
    "read_results",
    "read_step",
    "same_evaluation",
    "scored_steps",
    "step_path",
    "write_results",
]
