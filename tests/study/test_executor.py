"""The study core knows executors only through the Executor interface."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from slowvae.study import parse_study, prepare, runner, study_status, to_run
from slowvae.study.core import run_dir
from slowvae.study.executor import Executor, executor_for
from slowvae.study.local import LocalExecutor
from slowvae.study.slurm import SlurmExecutor

STUDY = """
name = "x"
steps = 4
seeds = [1, 2, 3]
datasets = ["dsprites-procedural"]

[[models]]
name = "slowvae"
"""
SRC = Path(__file__).resolve().parents[2] / "src" / "slowvae" / "study"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_core_imports_no_executor():
    for module in ("core.py", "executor.py"):
        imported = _imports(SRC / module)
        assert not {m for m in imported if m.endswith(("slurm", "local"))}, module


class _Fake:
    """An executor that reports the first run running and the second lost."""

    def __init__(self, running: str, lost: str) -> None:
        self.running, self.lost, self.asked = running, lost, []

    def active_runs(self, study_dir):
        return {"RUNNING": {self.running}, "PENDING": set()}

    def record_failures(self, study_dir, pending):
        self.asked.append(sorted(pending))
        if self.lost not in pending:
            return {}
        runner.write_error(run_dir(study_dir, self.lost), "lost")  # as an executor records a death
        return {self.lost: "lost"}

    def run(self, study_dir, run_ids):
        return {}


def test_status_and_to_run_ask_the_executor_they_are_given(tmp_path):
    study = parse_study(STUDY)
    prepare(study, tmp_path)
    first, second, third = (r.id for r in study.runs)
    fake = _Fake(first, second)
    assert (
        isinstance(fake, Executor) and isinstance(LocalExecutor(), Executor) and isinstance(SlurmExecutor(), Executor)
    )
    # the running run has logged 3 of its 4 steps: a slow first interval, then 2 s per step
    log = [{"step": 1, "seconds": 9.0}, {"step": 2, "seconds": 2.0}, {"step": 3, "seconds": 2.0}]
    (run_dir(tmp_path, first) / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    status = study_status(tmp_path, fake)
    assert [r["state"] for r in status["runs"]] == ["running", "failed", "pending"]
    assert status["runs"][0]["seconds_per_step"] == 2.0 and status["runs"][0]["train_seconds_left"] == 2.0
    assert status["runs"][2]["seconds_per_step"] is None  # pending: no pace
    assert fake.asked == [sorted([second, third])]  # a running run is never taken for lost
    todo, failed = to_run(study, tmp_path, executor=fake)
    assert [s.id for s in todo] == [first, third] and [f.spec.id for f in failed] == [second]


def test_the_executor_of_a_study_directory(tmp_path):
    assert isinstance(executor_for(tmp_path), LocalExecutor)
    (tmp_path / "slurm").mkdir()
    (tmp_path / "slurm" / "jobs.json").write_text(json.dumps({"run": "12_0"}))
    assert isinstance(executor_for(tmp_path), SlurmExecutor)
