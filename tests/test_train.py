"""Training loop: exact resume (also after SIGKILL), NaN guard, interrupt, DDP on CPU."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from slowvae import rundir
from slowvae.config import TrainConfig, learning_rate
from slowvae.errors import SlowVAEError
from slowvae.models import slowvae as slowvae_module
from slowvae.rundir import init_run_dir, load_run_config, update_run_config
from slowvae.train import TrainingStopped, train

SMALL = dict(batch_pairs=4, checkpoint_every=5, log_every=2, seed=3)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return rundir.load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def test_resume_with_more_steps_equals_uninterrupted_run(tmp_path):
    full, split = tmp_path / "full", tmp_path / "split"
    init_run_dir(full, TrainConfig(steps=12, **SMALL))
    train(full)
    init_run_dir(split, TrainConfig(steps=7, **SMALL))
    train(split)
    assert rundir.load_checkpoint(split / "checkpoints" / "last.pt")["step"] == 7
    update_run_config(split, TrainConfig(steps=12, **SMALL))
    train(split, resume=True)
    assert_same_weights(full, split)
    steps = [
        int(line.split('"step": ')[1].split(",")[0]) for line in (split / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == sorted(set(steps)) and steps[-1] == 12  # no duplicated log lines after resume
    # training changed the weights: the comparison above is not between two untouched networks
    init = TrainConfig(steps=1, **SMALL)
    assert not torch.equal(weights(full)["encoder.net.0.weight"], _untrained(init)["encoder.net.0.weight"])


def test_warmup_raises_the_learning_rate_linearly_and_resumes_exactly(tmp_path, monkeypatch):
    config = TrainConfig(steps=10, warmup_steps=4, lr=1e-3, **SMALL)
    assert [learning_rate(config, s) for s in range(6)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])
    assert learning_rate(TrainConfig(steps=10, lr=1e-3, **SMALL), 0) == 1e-3  # no warm-up: the lr from the start
    seen: list[float] = []
    real_step = torch.optim.Adam.step

    def record(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", record)
    full, split = tmp_path / "full", tmp_path / "split"
    init_run_dir(full, config)
    train(full)
    assert seen == pytest.approx([2.5e-4, 5e-4, 7.5e-4] + [1e-3] * 7)
    init_run_dir(split, TrainConfig(**{**config.to_dict(), "steps": 2}))
    train(split)
    update_run_config(split, config)
    train(split, resume=True)  # the schedule continues at step 3, not from the start
    assert seen[10:] == seen[:10]
    assert_same_weights(full, split)
    with pytest.raises(SlowVAEError, match="warmup_steps"):
        TrainConfig(warmup_steps=-1)


def _untrained(config: TrainConfig) -> dict[str, torch.Tensor]:
    from slowvae.config import new_model

    return new_model(config, channels=1).state_dict()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "slowvae.cli", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def test_resume_after_sigkill_matches_uninterrupted(tmp_path):
    common = ["train", "--steps", "30", "--batch-pairs", "4", "--checkpoint-every", "4", "--seed", "5", "--no-eval"]
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    subprocess.run(_cli(*common, "--out", str(ref)), check=True, env=_env(), capture_output=True)
    proc = subprocess.Popen(
        _cli(*common, "--out", str(killed)), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    ckpt = killed / "checkpoints" / "last.pt"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and rundir.load_checkpoint(ckpt)["step"] >= 8:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step_at_kill = rundir.load_checkpoint(ckpt)["step"]
    assert 8 <= step_at_kill < 30, "the kill must land mid-run for this test to mean anything"
    done = subprocess.run(
        _cli("train", "--resume", str(killed), "--no-eval"), env=_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert rundir.load_checkpoint(ckpt)["step"] == 30
    assert_same_weights(ref, killed)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    real = slowvae_module.slowvae_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        out = real(*args, **kwargs)
        if calls["n"] == 8:
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(slowvae_module, "slowvae_loss", poisoned)
    run = tmp_path / "nan"
    init_run_dir(run, TrainConfig(steps=20, **SMALL))
    with pytest.raises(TrainingStopped, match="nan at step 8.*last good checkpoint"):
        train(run)
    ckpt = rundir.load_checkpoint(run / "checkpoints" / "last.pt")
    assert ckpt["step"] == 5
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())


@pytest.mark.parametrize("failure", ["enospc", "torch"])
def test_a_full_disk_names_itself_and_the_intact_checkpoint(tmp_path, monkeypatch, failure):
    """The step-10 checkpoint meets a full disk (an OSError, or torch's own RuntimeError with no space
    left); writing timing.json in the clean-up fails too and must not hide the first error."""
    import errno
    from collections import namedtuple

    import slowvae.train as train_module

    real_save, real_json = rundir.atomic_torch_save, rundir.atomic_write_json

    def full_disk_save(path, obj):
        if obj["step"] >= 10:
            if failure == "enospc":
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            raise RuntimeError("[enforce fail at inline_container.cc:626] . PytorchStreamWriter failed writing file")
        real_save(path, obj)

    def full_disk_json(path, obj):
        if Path(path).name == rundir.TIMING_FILE:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_json(path, obj)

    run = tmp_path / "full"
    init_run_dir(run, TrainConfig(steps=20, **SMALL))
    usage = namedtuple("usage", "total used free")  # torch's error names no errno: the free space tells
    monkeypatch.setattr(train_module.shutil, "disk_usage", lambda path: usage(10**9, 10**9, 1000))
    monkeypatch.setattr(rundir, "atomic_torch_save", full_disk_save)
    monkeypatch.setattr(rundir, "atomic_write_json", full_disk_json)
    with pytest.raises(TrainingStopped) as stopped:
        train(run)
    ckpt = run / "checkpoints" / "last.pt"
    assert str(stopped.value) == (
        f"the checkpoint of step 10 could not be written (the disk is full); {ckpt} is intact at step 5: "
        f"free some space, then `slowvae train --resume {run}`"
    )
    assert rundir.load_checkpoint(ckpt)["step"] == 5


def test_a_full_disk_before_any_checkpoint_says_none_exists(tmp_path, monkeypatch):
    import errno

    def full(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    run = tmp_path / "full"
    init_run_dir(run, TrainConfig(steps=8, **SMALL))
    monkeypatch.setattr(rundir, "atomic_torch_save", full)
    with pytest.raises(TrainingStopped, match=r"step 5 could not be written \(the disk is full\); no checkpoint"):
        train(run)
    assert not (run / "checkpoints" / "last.pt").exists()


def test_sigint_checkpoints_at_step_boundary(tmp_path):
    run = tmp_path / "int"
    proc = subprocess.Popen(
        _cli(
            "train",
            "--steps",
            "1000",
            "--batch-pairs",
            "4",
            "--checkpoint-every",
            "500",
            "--no-eval",
            "--out",
            str(run),
        ),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = run / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "interrupted at step" in err and "--resume" in err and "Traceback" not in err
    step = rundir.load_checkpoint(run / "checkpoints" / "last.pt")["step"]
    assert 200 <= step < 500  # saved at the interrupt, not at a scheduled checkpoint


def test_config_round_trip_and_validation(tmp_path):
    config = TrainConfig(hyper={"gamma": 0.0}, **SMALL)
    assert config.hyper == {"beta": 1.0, "gamma": 0.0, "rate": 6.0}
    init_run_dir(tmp_path / "r", config)
    assert load_run_config(tmp_path / "r") == config
    meta = rundir.read_config(tmp_path / "r")
    assert {"slowvae_version", "git_commit", "torch_version"} <= set(meta)
    from slowvae.errors import SlowVAEError

    with pytest.raises(SlowVAEError, match="already holds a run"):
        init_run_dir(tmp_path / "r", config)
    with pytest.raises(SlowVAEError, match="no hyperparameter"):
        TrainConfig(hyper={"alpha": 1})
    with pytest.raises(SlowVAEError, match="unknown model"):
        TrainConfig(model="nope")


def test_ddp_two_processes_on_cpu(tmp_path):
    run = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "slowvae.cli",
        "train",
        "--steps",
        "6",
        "--batch-pairs",
        "4",
        "--checkpoint-every",
        "3",
        "--log-every",
        "3",
        "--device",
        "cpu",
        "--no-eval",
        "--out",
        str(run),
    ]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = rundir.load_checkpoint(run / "checkpoints" / "last.pt")
    assert ckpt["step"] == 6
    states = ckpt["rng"]
    assert len(states) == 2 and states[0]["numpy"] != states[1]["numpy"]  # each rank its own pairs
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2  # rank 0 alone logs


@pytest.mark.slow
def test_ddp_with_compile_on_cpu(tmp_path):
    """torchrun with --compile (a few minutes: both processes compile): plain checkpoint keys, per-rank RNG."""
    run = tmp_path / "ddp-compile"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29518",
        "-m",
        "slowvae.cli",
        "train",
        "--steps",
        "4",
        "--batch-pairs",
        "4",
        "--checkpoint-every",
        "2",
        "--log-every",
        "2",
        "--device",
        "cpu",
        "--no-eval",
        "--compile",
        "--out",
        str(run),
    ]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = rundir.load_checkpoint(run / "checkpoints" / "last.pt")
    assert ckpt["step"] == 4 and len(ckpt["rng"]) == 2
    assert ckpt["model"].keys() == weights_of_fresh_model().keys()
    segment = json.loads((run / "timing.json").read_text())["segments"][0]
    assert segment["compile"] and segment["processes"] == 2 and segment["images"] == 2 * 2 * 4 * 4


def weights_of_fresh_model() -> dict[str, torch.Tensor]:
    from slowvae.models import build_model

    return build_model("slowvae", channels=1).state_dict()


def test_tensorboard_logging_writes_event_files(tmp_path):
    pytest.importorskip("tensorboard", reason="TensorBoard logging is the optional extra slowvae[tensorboard]")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "tb"
    init_run_dir(run, TrainConfig(steps=4, tensorboard=True, **SMALL))
    train(run)
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("loss")] == [2, 4]


def test_bf16_precision_trains_with_float32_losses(tmp_path):
    from slowvae.models import build_model

    torch.manual_seed(0)
    model = build_model("slowvae", channels=1)
    x = (torch.rand(2, 8, 1, 64, 64) > 0.7).float()
    ref = model(x, torch.Generator().manual_seed(1))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x, torch.Generator().manual_seed(1))
    assert all(v.dtype == torch.float32 for v in low.values())
    assert low["loss"].item() == pytest.approx(ref["loss"].item(), rel=0.02)  # bf16 networks, same loss
    run = tmp_path / "bf16"
    init_run_dir(run, TrainConfig(steps=4, precision="bf16", **SMALL))
    train(run)
    ckpt = rundir.load_checkpoint(run / "checkpoints" / "last.pt")
    assert ckpt["config"]["precision"] == "bf16"
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in ckpt["model"].values())


def test_auto_precision_resolves_by_hardware_and_is_saved(tmp_path, monkeypatch):
    from slowvae import hardware

    monkeypatch.setattr(hardware, "native_bf16", lambda device: True)
    assert TrainConfig(**SMALL).precision == "bf16"
    monkeypatch.setattr(hardware, "native_bf16", lambda device: False)
    config = TrainConfig(**SMALL)
    assert config.precision == "fp32" and TrainConfig(precision="bf16", **SMALL).precision == "bf16"
    init_run_dir(tmp_path / "r", config)
    monkeypatch.setattr(hardware, "native_bf16", lambda device: True)  # another machine resumes it
    assert load_run_config(tmp_path / "r").precision == "fp32"
    # a run directory written before the field existed was trained in fp32, on any machine
    meta = json.loads((tmp_path / "r" / "config.json").read_text())
    meta["config"].pop("precision")
    (tmp_path / "r" / "config.json").write_text(json.dumps(meta))
    assert load_run_config(tmp_path / "r").precision == "fp32"
    with pytest.raises(hardware.SlowVAEError, match="precision must be auto or one of"):
        TrainConfig(precision="fp16")


def test_compiled_training_matches_eager_and_its_checkpoints_load_without_compiling(tmp_path):
    """--compile: the losses of eager training within float rounding, checkpoints with the plain
    module's keys, and a resume without compiling that continues as the eager run does."""
    from torch._dynamo.utils import counters

    counters.clear()
    logged = {}
    for name, compiled in (("eager", False), ("compiled", True)):
        run = tmp_path / name
        init_run_dir(run, TrainConfig(steps=3, precision="fp32", compile=compiled, **{**SMALL, "log_every": 1}))
        train(run)
        update_run_config(run, TrainConfig(steps=5, precision="fp32", **{**SMALL, "log_every": 1}))
        train(run, resume=True)  # eager from here on
        logged[name] = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(logged["compiled"]) == 5
    assert logged["compiled"] == pytest.approx(logged["eager"], rel=1e-5)
    assert counters["stats"]["unique_graphs"] >= 1  # the compiled run traced graphs
    assert weights(tmp_path / "compiled").keys() == weights(tmp_path / "eager").keys()
    segments = json.loads((tmp_path / "compiled" / "timing.json").read_text())["segments"]
    assert [(s["from_step"], s["to_step"], s["compile"], s["images"]) for s in segments] == [
        (0, 3, True, 24),
        (3, 5, False, 16),
    ]
    assert all(s["train_seconds"] >= s["first_step_seconds"] > 0 and s["startup_seconds"] > 0 for s in segments)
