"""The local executor's workers die with it: SIGKILL of `slowvae study run` leaves no orphan training."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slowvae.study import runner, study_status
from slowvae.study.core import run_dir

STUDY = """
name = "orphans"
steps = 100000
seeds = [1]
datasets = ["dsprites-procedural"]
batch_pairs = 4
precision = "fp32"
log_every = 1

[evaluate]
samples = 200

[[models]]
name = "slowvae"
"""


def _children(parent: int) -> list[int]:
    """Pids of the live processes whose parent is ``parent`` and that are multiprocessing workers."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # field 4 of /proc/PID/stat (after the parenthesised command name) is the parent pid
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_sigkill_of_study_run_stops_its_workers_with_a_checkpoint(tmp_path):
    study_file = tmp_path / "s.toml"
    study_file.write_text(STUDY)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "slowvae.cli", "study", "run", str(study_file), "--out", str(out), "--workers", "1"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 240
        log = None
        while time.time() < deadline:
            logs = list((out / "runs").glob("*/metrics.jsonl")) if (out / "runs").exists() else []
            if logs and len(logs[0].read_text().splitlines()) >= 3:
                log = logs[0]
                break
            time.sleep(0.5)
        assert log is not None, "the run did not start training"
        workers = _children(proc.pid)
        assert len(workers) == 1
        proc.send_signal(signal.SIGKILL)  # the executor alone, not its process group
        proc.wait(timeout=30)
        deadline = time.time() + 60
        while time.time() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.5)
        assert not any(_alive(pid) for pid in workers), "a worker kept training after its executor was killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
    # the worker stopped through the training loop's SIGTERM path: a checkpoint of the steps it trained
    run = study_status(out)["runs"][0]
    assert 3 <= runner.trained_steps(run_dir(out, run["id"])) < 100000
