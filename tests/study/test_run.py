"""`slowvae study run|status|table|udr|select` on tiny real runs: skip, resume, retry, refuse, tabulate."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from slowvae.cli import main
from slowvae.errors import SlowVAEError
from slowvae.results import is_finished
from slowvae.study import parse_study, prepare, runner, study_status, study_table
from slowvae.study.core import run_dir
from slowvae.study.local import pool_split, threads_per_run
from slowvae.study.slurm import SlurmResources

STUDY = """
name = "t"
steps = 4
seeds = [1, 2]
datasets = ["dsprites-procedural"]
batch_pairs = 4
precision = "fp32"

[evaluate]
samples = 200

[[models]]
name = "slowvae"
grid = { gamma = [1, 10] }

[[models]]
name = "pcl"
seeds = [1]
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A study of five tiny runs, run to the end with the local executor."""
    root = tmp_path_factory.mktemp("study")
    study_file = _write(root / "study.toml", STUDY)
    out = root / "out"
    assert main(["study", "run", str(study_file), "--out", str(out), "--workers", "2"]) == 0
    return study_file, out


def test_every_run_is_an_ordinary_finished_run_directory(finished, tmp_path, capsys):
    study_file, out = finished
    study = parse_study(study_file.read_text())
    assert (out / "study.toml").read_text() == study_file.read_text()
    for spec in study.runs:
        path = run_dir(out, spec.id)
        config = json.loads((path / "config.json").read_text())["config"]
        assert config["seed"] == spec.seed and config["hyper"] == spec.config["hyper"] and config["steps"] == 4
        results = json.loads((path / "results.json").read_text())
        assert results["step"] == 4 and results["settings"]["num_samples"] == 200
        assert results["study_evaluate"] == spec.evaluate
    # `slowvae evaluate` works on a study run unchanged (on a copy: it rewrites results.json)
    some = run_dir(out, study.runs[0].id)
    copy = tmp_path / "copy"
    shutil.copytree(some, copy)
    assert main(["evaluate", str(copy), "--samples", "200", "--json", "--no-figures", "--seed", "0"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["mcc"] == pytest.approx(json.loads((some / "results.json").read_text())["mcc"])


def test_rerun_skips_finished_runs_without_touching_them(finished, capsys):
    study_file, out = finished
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*") if p.is_file()}
    assert main(["study", "run", str(study_file), "--out", str(out)]) == 0
    assert "nothing to run" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*") if p.is_file()} == stamps


def test_a_changed_study_is_refused_naming_runs_and_settings(finished, tmp_path, capsys):
    _, out = finished
    changed = _write(tmp_path / "changed.toml", STUDY.replace("steps = 4", "steps = 3"))  # raising extends
    assert main(["study", "run", str(changed), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "would change 5 run(s)" in err and "config.steps: 4 -> 3" in err
    assert "slowvae-dsprites-procedural-gamma1-seed1-" in err and "Traceback" not in err
    changed = _write(tmp_path / "metrics.toml", STUDY.replace("samples = 200", "samples = 300"))
    assert main(["study", "run", str(changed), "--out", str(out)]) == 2
    assert "evaluate.samples: 200 -> 300" in capsys.readouterr().err


def test_status_and_table(finished, capsys):
    _, out = finished
    assert main(["study", "status", str(out)]) == 0
    assert "5 finished, 0 running, 0 failed, 0 pending" in capsys.readouterr().out
    runs = sorted((out / "runs").iterdir())
    logged = [sum(json.loads(line)["seconds"] for line in (p / "metrics.jsonl").read_text().splitlines()) for p in runs]
    scored = [json.loads((p / "results.json").read_text())["seconds"] for p in runs]
    machine = study_status(out)["machine"]
    assert all(v > 0 for v in logged + scored)
    assert machine["train_seconds"] == pytest.approx(sum(logged), abs=0.3)
    assert machine["score_seconds"] == pytest.approx(sum(scored), abs=0.3)
    table = study_table(out)
    assert [(r["model"], r["setting"]) for r in table["rows"]] == [
        ("slowvae", {"gamma": 1.0}),
        ("slowvae", {"gamma": 10.0}),
        ("pcl", {}),
    ]
    row = table["rows"][0]
    assert set(row) == {"model", "dataset", "setting", "n", "n_failed", "n_missing", "mcc"}
    assert (row["n"], row["n_failed"], row["n_missing"]) == (2, 0, 0)
    values = [
        json.loads((p / "results.json").read_text())["mcc"] for p in sorted((out / "runs").glob("slowvae-*gamma1-*"))
    ]
    assert row["mcc"]["mean"] == pytest.approx(np.mean(values)) and row["mcc"]["std"] == pytest.approx(
        np.std(values, ddof=1)
    )
    assert table["rows"][2]["mcc"]["std"] is None  # one seed: no spread
    assert table["selection"] is None
    assert main(["study", "table", str(out), "--format", "json", "--no-figures"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(table))
    assert main(["study", "table", str(out), "--format", "csv", "--metrics", "mcc,mcc_untrained"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[0] == "model,dataset,setting,n,n_failed,n_missing,mcc_mean,mcc_std,mcc_untrained_mean,mcc_untrained_std"
    )
    assert len(lines) == 4
    assert (out / "figures" / "table-mcc.png").stat().st_size > 5000
    assert main(["study", "table", str(out), "--format", "tex", "--no-figures"]) == 0
    assert "\\begin{tabular}" in capsys.readouterr().out


def test_table_counts_training_precisions_and_flags_a_mix(finished, tmp_path):
    from slowvae.study import render

    _, out = finished
    assert study_table(out)["precisions"] == {"fp32": 5}
    assert "Training precision: fp32 (5 runs)\n" in render(study_table(out))
    mixed = tmp_path / "mixed"
    shutil.copytree(out, mixed)
    config_path = next((mixed / "runs").glob("pcl-*")) / "config.json"
    config = json.loads(config_path.read_text())
    config["config"]["precision"] = "bf16"  # as `auto` resolves on a machine with native bf16
    config_path.write_text(json.dumps(config))
    table = study_table(mixed)
    assert table["precisions"] == {"bf16": 1, "fp32": 4}
    assert "Training precision: bf16 (1 run), fp32 (4 runs). Mixed:" in render(table)


def test_table_columns_reach_nested_keys_and_refuse_unknown_ones(finished, capsys):
    _, out = finished
    factors = json.loads(next((out / "runs").glob("pcl-*")).joinpath("results.json").read_text())["mcc_per_factor"]
    assert set(factors) == {"shape", "scale", "orientation", "posX", "posY"}
    row = study_table(out, metrics=["mcc_per_factor.shape", "mcc_per_factor.posX"])["rows"][2]
    assert row["n"] == 1 and row["mcc_per_factor.shape"]["mean"] == pytest.approx(factors["shape"])
    assert row["mcc_per_factor.posX"]["mean"] == pytest.approx(factors["posX"])
    with pytest.raises(SlowVAEError, match=r"has mcc_per_factor\.shap\b.*mcc_per_factor\.shape"):
        study_table(out, metrics=["mcc", "mcc_per_factor.shap"])
    assert main(["study", "table", str(out), "--metrics", "mgi", "--no-figures"]) == 2
    assert "no finished run" in capsys.readouterr().err


def test_udr_select_and_the_follow_up_study_reuses_finished_seeds(finished, tmp_path, capsys):
    _, out = finished
    assert main(["study", "udr", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "pcl on dsprites-procedural (defaults): left out, a contrastive model" in printed
    scored = {p.name: json.loads((p / "results.json").read_text()).get("udr") for p in (out / "runs").iterdir()}
    assert all(0 <= v <= 1 for k, v in scored.items() if k.startswith("slowvae"))
    assert all(v is None for k, v in scored.items() if k.startswith("pcl"))
    table = study_table(out, metrics=["mcc", "udr"], select="udr")
    chosen = table["selection"]["chosen"]
    medians = {}
    for gamma in (1, 10):
        medians[gamma] = float(
            np.median([v for k, v in scored.items() if k.startswith(f"slowvae-dsprites-procedural-gamma{gamma}-")])
        )
    best = max(medians, key=medians.get)
    assert [c["setting"] for c in chosen if c["model"] == "slowvae"] == [{"gamma": float(best)}]
    assert [r["setting"] for r in table["rows"]] == [{"gamma": float(best)}, {}]
    nxt = tmp_path / "next.toml"
    assert main(["study", "select", str(out), "--seeds", "2", "--out", str(nxt)]) == 0
    assert "3 finished run(s) reused, 1 new" in capsys.readouterr().out
    follow = parse_study(nxt.read_text())
    assert sorted((r.model, r.seed) for r in follow.runs) == [("pcl", 1), ("pcl", 2), ("slowvae", 1), ("slowvae", 2)]
    reused = {r.id for r in follow.runs} & {p.name for p in (out / "runs").iterdir()}
    assert len(reused) == 3  # same settings, same ids
    assert main(["study", "run", str(nxt), "--out", str(tmp_path / "next"), "--dry-run"]) == 0
    assert "4 runs, 1 to run (3 finished elsewhere, linked through reuse)" in capsys.readouterr().err
    from slowvae.study import load_study

    prepare(load_study(nxt), tmp_path / "next")
    linked = [p for p in (tmp_path / "next" / "runs").iterdir() if p.is_symlink()]
    assert len(linked) == 3 and study_status(tmp_path / "next")["counts"] == {
        "finished": 3,
        "running": 0,
        "failed": 0,
        "pending": 1,
    }


def test_select_lists_a_groups_unfinished_seeds_before_new_ones(finished, tmp_path, capsys):
    _, out = finished
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (next((copy / "runs").glob("pcl-*")) / "results.json").unlink()  # pcl seed 1 not finished
    nxt = tmp_path / "next.toml"
    assert main(["study", "select", str(copy), "--seeds", "2", "--out", str(nxt)]) == 0
    assert "2 finished run(s) reused, 2 new" in capsys.readouterr().out
    follow = parse_study(nxt.read_text())
    assert sorted((r.model, r.seed) for r in follow.runs) == [("pcl", 1), ("pcl", 2), ("slowvae", 1), ("slowvae", 2)]


def test_failed_runs_are_retried_only_when_asked(tmp_path, capsys):
    study_file = _write(
        tmp_path / "s.toml",
        STUDY.replace("grid = { gamma = [1, 10] }", "")
        .replace('[[models]]\nname = "pcl"\nseeds = [1]\n', "")
        .replace("seeds = [1, 2]", "seeds = [1]"),
    )
    out = tmp_path / "out"
    study = parse_study(study_file.read_text())
    prepare(study, out)
    path = run_dir(out, study.runs[0].id)
    runner.write_error(path, "boom: something broke")
    assert main(["study", "run", str(study_file), "--out", str(out)]) == 0
    assert "skipping failed run" in capsys.readouterr().err
    assert not (path / "config.json").exists()
    status = study_status(out)
    assert status["counts"]["failed"] == 1 and status["runs"][0]["error"] == "boom: something broke"
    row = study_table(out)["rows"][0]
    assert (row["n"], row["n_failed"], row["n_missing"]) == (0, 1, 0)
    assert main(["study", "run", str(study_file), "--out", str(out), "--retry-failed", "--workers", "1"]) == 0
    assert is_finished(path) and not (path / runner.ERROR_FILE).exists()


def test_an_exception_marks_the_run_failed(tmp_path, monkeypatch):
    study = parse_study(STUDY.replace("seeds = [1, 2]", "seeds = [1]"))
    prepare(study, tmp_path)
    import slowvae.evaluate

    def broken(*args, **kwargs):
        raise ValueError("no scores today\nsecond line")

    monkeypatch.setattr(slowvae.evaluate, "score_run", broken)
    path = run_dir(tmp_path, study.runs[0].id)
    assert runner.execute_run(path) == runner.FAILED
    error = json.loads((path / runner.ERROR_FILE).read_text())
    assert error["error"] == "ValueError: no scores today" and "Traceback" in error["traceback"]
    assert study_table(tmp_path)["rows"][0]["n_failed"] == 1


def test_interrupted_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    text = STUDY.replace("steps = 4", "steps = 6").replace("seeds = [1, 2]", "seeds = [1]")
    study = parse_study(text)
    spec = study.runs[0]
    prepare(study, tmp_path / "a")
    prepare(study, tmp_path / "b")
    interrupted = run_dir(tmp_path / "a", spec.id)

    def ctrl_c(report):
        if report.step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    assert runner.execute_run(interrupted, callback=ctrl_c) == runner.INTERRUPTED
    assert runner.trained_steps(interrupted) == 4  # the loop sees the flag after the next step
    assert study_status(tmp_path / "a")["runs"][0]["state"] == "pending"
    assert runner.execute_run(interrupted) == runner.FINISHED
    straight = run_dir(tmp_path / "b", spec.id)
    assert runner.execute_run(straight) == runner.FINISHED
    a = torch.load(interrupted / "checkpoints" / "last.pt", weights_only=True)["model"]
    b = torch.load(straight / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_ctrl_c_stops_the_study_with_checkpoints_and_rerun_finishes(tmp_path):
    text = STUDY.replace("steps = 4", "steps = 400\nlog_every = 1").replace(
        '[[models]]\nname = "pcl"\nseeds = [1]\n', ""
    )
    study_file = _write(tmp_path / "s.toml", text.replace("grid = { gamma = [1, 10] }", ""))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "slowvae.cli", "study", "run", str(study_file), "--out", str(out), "--workers", "2"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 240
    logs = []
    while time.time() < deadline:
        logs = list((out / "runs").glob("*/metrics.jsonl")) if (out / "runs").exists() else []
        if len(logs) == 2 and all(len(p.read_text().splitlines()) >= 3 for p in logs):
            break
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("the runs did not start training")
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole process group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()[-2000:]
    assert b"interrupted" in err
    status = study_status(out)
    assert status["counts"]["pending"] == 2
    for run in status["runs"]:
        steps = runner.trained_steps(run_dir(out, run["id"]))
        assert 3 <= steps < 400  # a checkpoint written at the interrupt
    assert main(["study", "run", str(study_file), "--out", str(out)]) == 0
    assert study_status(out)["counts"]["finished"] == 2


def test_threads_are_shared_between_workers():
    assert threads_per_run(1, 2) == 2 and threads_per_run(2, 2) == 1 and threads_per_run(4, 2) == 1
    assert threads_per_run(3, 16) == 5


def test_the_last_run_of_a_study_keeps_the_thread_split():
    # 2 workers on 2 cores: 2 x 1 thread, and the last run left also trains with 1 thread, not 2
    assert pool_split(2, 5, available=2) == (2, 1)
    assert pool_split(2, 1, available=2) == (1, 1)
    assert pool_split(1, 1, available=2) == (1, 2)
    assert pool_split(4, 2, threads=3, available=16) == (2, 3)


def test_a_slurm_task_killed_for_memory_counts_as_failed(tmp_path, monkeypatch):
    # sacct and squeue stand-ins: the task of job 12_0 ended OUT_OF_MEMORY, nothing is queued
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in {"sacct": "echo '12_0|OUT_OF_MEMORY'\necho '12_1|CANCELLED by 0'", "squeue": "true"}.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{text}\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    study = parse_study(
        STUDY.replace('[[models]]\nname = "pcl"\nseeds = [1]\n', "").replace("grid = { gamma = [1, 10] }", "")
    )
    out = tmp_path / "out"
    prepare(study, out)
    ids = [r.id for r in study.runs]
    (out / "slurm").mkdir()
    (out / "slurm" / "jobs.json").write_text(json.dumps({ids[0]: "12_0", ids[1]: "12_1"}))
    status = study_status(out)
    assert status["counts"] == {"finished": 0, "running": 0, "failed": 1, "pending": 1}
    assert "SLURM job 12_0 ended OUT_OF_MEMORY" in status["runs"][0]["error"]
    from slowvae.study import to_run

    todo, failed = to_run(study, out)
    assert [s.id for s in todo] == [ids[1]] and [f.spec.id for f in failed] == [ids[0]]


def test_resources_that_cannot_make_a_run_are_refused():
    with pytest.raises(SlowVAEError, match="one process per GPU"):
        SlurmResources(gpus_per_run=2, processes_per_run=3).check()
    with pytest.raises(SlowVAEError, match="fewer than the run's 4 processes"):
        SlurmResources(gpus_per_run=4, cpus_per_run=2).check()
    assert SlurmResources(gpus_per_run=4, cpus_per_run=8).processes == 4


def test_runs_go_breadth_first_so_a_partial_study_has_a_row_per_setting(tmp_path):
    from slowvae.study import to_run

    study = parse_study(STUDY)  # slowvae gamma 1 and 10 with seeds 1, 2; pcl with seed 1
    out = tmp_path / "out"
    prepare(study, out)
    order = [(s.model, s.setting.get("gamma"), s.seed) for s in to_run(study, out)[0]]
    assert order == [
        ("slowvae", 1.0, 1),
        ("slowvae", 10.0, 1),
        ("pcl", None, 1),
        ("slowvae", 1.0, 2),
        ("slowvae", 10.0, 2),
    ]
    # a finished first seed moves the group's second seed into the first round
    first = study.runs[0]
    (run_dir(out, first.id) / "results.json").write_text(json.dumps({"study_evaluate": first.evaluate}))
    order = [(s.model, s.setting.get("gamma"), s.seed) for s in to_run(study, out)[0]]
    assert order == [("slowvae", 1.0, 2), ("slowvae", 10.0, 1), ("pcl", None, 1), ("slowvae", 10.0, 2)]


def test_unwritable_outs_are_one_line_and_a_read_only_study_still_prints_its_table(
    finished, tmp_path, capsys, fail_writes
):
    study_file, out = finished
    (tmp_path / "file").write_text("x")
    assert main(["study", "run", str(study_file), "--out", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"slowvae study: error: {tmp_path / 'file'} exists and is not a folder; write elsewhere (another --out)"
    )
    fail_writes(tmp_path / "ro", errno.EROFS)
    assert main(["study", "run", str(study_file), "--out", str(tmp_path / "ro" / "s")]) == 2
    assert f"{tmp_path / 'ro' / 's'} is on a read-only file system" in capsys.readouterr().err
    assert not (tmp_path / "ro").exists()
    assert main(["study", "table", str(out), "--out", str(tmp_path / "ro" / "t.md")]) == 2
    got = capsys.readouterr()
    assert "| slowvae |" in got.out and f"{tmp_path / 'ro'} is on a read-only file system" in got.err
    fail_writes(out, errno.EROFS)  # the study itself read-only: the table, then one line about the figures
    assert main(["study", "table", str(out)]) == 0
    got = capsys.readouterr()
    assert "| slowvae |" in got.out and "Traceback" not in got.err
    assert got.err.strip().splitlines()[-1] == (
        f"figures could not be written: {out / 'figures'} is on a read-only file system; "
        "give --out FILE elsewhere, or --no-figures"
    )


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_misspelled_dataset_is_refused_before_anything_is_written(tmp_path, capsys, dry_run):
    study_file = _write(tmp_path / "s.toml", STUDY.replace('"dsprites-procedural"', '"dsprites-procedurl"'))
    out = tmp_path / "out"
    assert main(["study", "run", str(study_file), "--out", str(out), *(["--dry-run"] if dry_run else [])]) == 2
    assert "unknown dataset 'dsprites-procedurl'" in capsys.readouterr().err
    assert not out.exists()


def test_a_one_run_study_says_run_in_the_singular(tmp_path, capsys):
    one = STUDY.replace("seeds = [1, 2]", "seeds = [1]").replace("grid = { gamma = [1, 10] }", "")
    one = one.replace('[[models]]\nname = "pcl"\nseeds = [1]\n', "")
    assert (
        main(["study", "run", str(_write(tmp_path / "one.toml", one)), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    )
    assert capsys.readouterr().err.startswith("study t: 1 run, 1 to run;")


def test_a_running_runs_pace_comes_from_its_last_logged_intervals():
    from slowvae.cli.study import _pace
    from slowvae.study.core import PACE_INTERVALS, seconds_per_step

    # 10 slow intervals (another process was busy), then 29 at 0.2 s per step
    intervals = [(100 * i, 90.0 if i <= 10 else 20.0) for i in range(1, 40)]
    assert PACE_INTERVALS == 20 and seconds_per_step(intervals) == pytest.approx(0.2)  # 20 x 20 s over 2,000 steps
    assert seconds_per_step(intervals[:3]) == pytest.approx(0.9)  # 2 intervals: steps 100 to 300
    assert seconds_per_step(intervals[:1]) is None
    assert _pace({"seconds_per_step": 0.2, "train_seconds_left": 30000.0}) == " (0.200 s/step, 8.3 h to go)"
    assert _pace({"seconds_per_step": 0.2, "train_seconds_left": 600.0}) == " (0.200 s/step, 10 min to go)"
    assert _pace({"seconds_per_step": None, "train_seconds_left": None}) == ""


def test_a_run_finished_or_held_by_another_process_is_not_counted_as_finished_here(finished, tmp_path):
    from slowvae.cli.study import run_summary

    _, out = finished
    ids = sorted(p.name for p in (out / "runs").iterdir())[:2]
    for run_id in ids:  # copies: the fixture's runs stay untouched
        shutil.copytree(out / "runs" / run_id, tmp_path / run_id)
    done, held = tmp_path / ids[0], tmp_path / ids[1]
    before = (done / "results.json").read_bytes()
    assert runner.execute_run(done) == runner.FINISHED_ELSEWHERE
    assert (done / "results.json").read_bytes() == before
    with runner._locked(held) as mine:  # another `study run` working on it
        assert mine and runner.execute_run(held) == runner.BUSY
    # the second of two `study run`s on 4 runs: it finished 2, found 1 finished and 1 held by the first
    outcome = {runner.FINISHED: 2}
    for state in (runner.execute_run(done), runner.BUSY):
        outcome[state] = outcome.get(state, 0) + 1
    summary = run_summary(outcome)
    assert summary.startswith("1 busy (being run by another `slowvae study run` on the same directory); ")
    assert "; 2 finished; 1 finished elsewhere (" in summary and summary.count(" finished") == 2


def test_runs_with_damaged_files_count_as_failed_with_the_reason_and_the_rest_carry_on(finished, tmp_path, capsys):
    study_file, source = finished
    out = tmp_path / "out"
    shutil.copytree(source, out)  # a copy: the fixture's runs stay untouched
    ids = [spec.id for spec in parse_study(study_file.read_text()).runs]
    cut, garbled = run_dir(out, ids[0]), run_dir(out, ids[1])
    text = (cut / "results.json").read_text()
    (cut / "results.json").write_text(text[: len(text) // 2])
    (garbled / "config.json").write_text('{"config": {"precision": "bf17", "steps": "many"')
    states = {r["id"]: r for r in study_status(out)["runs"]}
    assert states[ids[0]]["state"] == "failed" and "damaged results.json" in states[ids[0]]["error"]
    assert states[ids[1]]["state"] == "failed" and "damaged config.json" in states[ids[1]]["error"]
    assert [states[i]["state"] for i in ids[2:]] == ["finished"] * (len(ids) - 2)
    capsys.readouterr()
    assert main(["study", "status", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"{len(ids) - 2} finished, 0 running, 2 failed, 0 pending" in said
    assert f"failed   {ids[0]}: damaged results.json" in said and f"failed   {ids[1]}: damaged config.json" in said
    table = study_table(out)
    assert sum(r["n_failed"] for r in table["rows"]) == 2 and sum(r["n"] for r in table["rows"]) == len(ids) - 2
    assert set(table["precisions"]) == {"fp32"}
    for command in (["study", "table", str(out), "--no-figures"], ["study", "udr", str(out)], ["report", str(out)]):
        assert main(command) == 0, command
        err = capsys.readouterr().err
        assert f"run {ids[0]} counts as failed: damaged results.json" in err, command
        assert f"run {ids[1]} counts as failed: damaged config.json" in err, command
    page = (out / "report.html").read_text()
    assert "damaged results.json" in page and "damaged config.json" in page
    # --retry-failed cannot mend a damaged file: the runs are skipped with the reason, not run
    before = {i: sorted(p.name for p in run_dir(out, i).iterdir()) for i in ids[:2]}
    assert main(["study", "run", str(study_file), "--out", str(out), "--retry-failed"]) == 0
    err = capsys.readouterr().err
    assert f"skipping failed run {ids[0]}: damaged results.json" in err
    assert f"skipping failed run {ids[1]}: damaged config.json" in err
    assert "finished elsewhere" not in err and "nothing to run" in err
    assert {i: sorted(p.name for p in run_dir(out, i).iterdir()) for i in ids[:2]} == before
