"""The SLURM executor against a real SLURM (`.ci/slurm.sh start` brings up a single-node cluster).

Skipped with the reason when sbatch is missing or no cluster answers, so that developers without
SLURM still pass; `.ci/run` starts the cluster, so CI runs them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from slowvae import rundir
from slowvae.cli import main
from slowvae.results import is_finished
from slowvae.study import runner, slurm, study_status
from slowvae.study.core import run_dir

pytest.importorskip("submitit", reason="the SLURM executor needs submitit (pip install 'slowvae[slurm]')")


def _cluster_up() -> str | None:
    if shutil.which("sbatch") is None:
        return "SLURM is not installed (no sbatch on PATH); .ci/run starts a single-node cluster with .ci/slurm.sh"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as err:
        return f"no SLURM cluster answers ({err}); start one with .ci/slurm.sh start"
    if out.returncode != 0 or not any(s.startswith(("idle", "mix", "alloc")) for s in out.stdout.split()):
        return f"no SLURM cluster is up (sinfo: {(out.stderr or out.stdout).strip()[:200]!r}); start one with .ci/slurm.sh start"
    return None


reason = _cluster_up()
pytestmark = pytest.mark.skipif(reason is not None, reason=reason or "")

STUDY = """
name = "slurm"
steps = {steps}
seeds = {seeds}
datasets = ["dsprites-procedural"]
batch_pairs = 4
precision = "fp32"
log_every = 1

[evaluate]
samples = 200

{models}
"""
SUBMIT = ["--executor", "slurm", "--cpus-per-run", "1", "--mem", "2G", "--time", "30", "--max-parallel", "4"]


def _wait(predicate, timeout: float, what: str, out: Path) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(1)
    logs = sorted((out / "slurm" / "logs").rglob("*.err"))
    tail = logs[-1].read_text()[-1500:] if logs else "(no job logs)"
    pytest.fail(f"timed out waiting for {what}; status {study_status(out)['counts']}; last job log:\n{tail}")


def test_a_study_of_four_runs_finishes_through_sbatch(tmp_path, capsys):
    study = tmp_path / "s.toml"
    study.write_text(
        STUDY.format(steps=4, seeds="[1, 2]", models='[[models]]\nname = "slowvae"\n\n[[models]]\nname = "beta-vae"\n')
    )
    out = tmp_path / "out"
    start = time.time()
    assert main(["study", "run", str(study), "--out", str(out), *SUBMIT]) == 0
    assert "submitted 4 run(s) as SLURM job array" in capsys.readouterr().err
    assert time.time() - start < 60  # returns after submitting
    jobs = slurm.read_jobs(out)
    assert len(jobs) == 4 and len({j.split("_")[0] for j in jobs.values()}) == 1  # one array
    _wait(lambda: study_status(out)["counts"]["finished"] == 4, 600, "four finished runs", out)
    assert main(["study", "status", str(out)]) == 0
    assert "4 finished, 0 running, 0 failed, 0 pending" in capsys.readouterr().out
    for run_id in jobs:
        results = json.loads((run_dir(out, run_id) / "results.json").read_text())
        assert results["step"] == 4 and "study_evaluate" in results
    # nothing is submitted again once every run is finished
    assert main(["study", "run", str(study), "--out", str(out), *SUBMIT]) == 0
    assert "nothing to run" in capsys.readouterr().err


def test_a_run_cancelled_with_scancel_completes_when_the_study_is_run_again(tmp_path, capsys):
    study = tmp_path / "s.toml"
    study.write_text(STUDY.format(steps=1500, seeds="[1]", models='[[models]]\nname = "slowvae"\n'))
    out = tmp_path / "out"
    assert main(["study", "run", str(study), "--out", str(out), *SUBMIT]) == 0
    ((run_id, job),) = slurm.read_jobs(out).items()
    path = run_dir(out, run_id)
    log = path / "metrics.jsonl"
    _wait(lambda: log.exists() and len(log.read_text().splitlines()) >= 30, 300, "training to start", out)
    assert study_status(out)["counts"]["running"] == 1
    subprocess.run(["scancel", job], check=True)
    _wait(lambda: not slurm.active_runs(out).get("RUNNING") and not runner.is_locked(path), 120, "the job to end", out)
    cancelled_at = runner.trained_steps(path)
    assert 30 <= cancelled_at < 1500  # SIGTERM made the loop write a checkpoint
    assert study_status(out)["counts"]["pending"] == 1
    assert main(["study", "run", str(study), "--out", str(out), *SUBMIT]) == 0
    assert "submitted 1 run(s)" in capsys.readouterr().err
    assert slurm.read_jobs(out)[run_id] != job
    _wait(lambda: is_finished(path), 600, "the resumed run to finish", out)
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == list(range(1, 1501))  # resumed from the checkpoint: every step once, in order
    assert json.loads((path / "results.json").read_text())["step"] == 1500


def test_study_cancel_cancels_the_jobs(tmp_path, capsys):
    study = tmp_path / "s.toml"
    study.write_text(STUDY.format(steps=100000, seeds="[1]", models='[[models]]\nname = "slowvae"\n'))
    out = tmp_path / "out"
    assert main(["study", "run", str(study), "--out", str(out), *SUBMIT]) == 0
    ((run_id, job),) = slurm.read_jobs(out).items()
    _wait(lambda: bool(slurm.active_runs(out).get("RUNNING")), 300, "the job to run", out)
    assert main(["study", "cancel", str(out)]) == 0
    assert f"cancelled 1 SLURM job(s): {job}" in capsys.readouterr().out
    _wait(lambda: not any(slurm.active_runs(out).values()), 120, "the job to end", out)
    assert study_status(out)["counts"]["running"] == 0


def test_a_two_process_ddp_run_is_cancelled_and_completes_through_sbatch(tmp_path, capsys):
    study = tmp_path / "s.toml"
    study.write_text(STUDY.format(steps=600, seeds="[1]", models='[[models]]\nname = "slowvae"\n'))
    out = tmp_path / "out"
    ddp = ["--executor", "slurm", "--cpus-per-run", "2", "--processes-per-run", "2", "--mem", "2G", "--time", "30"]
    assert main(["study", "run", str(study), "--out", str(out), *ddp]) == 0
    ((run_id, job),) = slurm.read_jobs(out).items()
    path = run_dir(out, run_id)
    log = path / "metrics.jsonl"
    _wait(lambda: log.exists() and len(log.read_text().splitlines()) >= 30, 300, "training to start", out)
    subprocess.run(["scancel", job], check=True)
    _wait(lambda: not slurm.active_runs(out).get("RUNNING") and not runner.is_locked(path), 120, "the job to end", out)
    ckpt = rundir.load_checkpoint(path / "checkpoints" / "last.pt")
    assert 30 <= ckpt["step"] < 600 and len(ckpt["rng"]) == 2  # both ranks stopped at one step and saved
    assert main(["study", "run", str(study), "--out", str(out), *ddp]) == 0
    _wait(lambda: is_finished(path), 600, "the resumed two-process run to finish", out)
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == list(range(1, 601))
    config = json.loads((path / "config.json").read_text())
    assert config["trained_on"]["processes"] == 2
    assert json.loads((path / "results.json").read_text())["step"] == 600
    assert study_status(out)["counts"]["finished"] == 1
