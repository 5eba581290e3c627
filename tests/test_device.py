"""Correct on a GPU, tested without one: "auto" resolves to the device a run trained on where this
machine has it, that device reaches every path that loads or scores a run (load_run, load_model,
evaluate, `slowvae encode`, `slowvae train`'s evaluation, the study runner's scoring), and
host -> device copies are pinned and non-blocking for CUDA only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from slowvae import evaluate, hardware, rundir
from slowvae.cli import main
from slowvae.config import TrainConfig, make_pair_source
from slowvae.hardware import available_device, to_device
from slowvae.study import runner
from slowvae.train import train

SMALL = dict(steps=2, batch_pairs=2, checkpoint_every=2, log_every=2, seed=4, device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("device") / "run"
    config = TrainConfig(**SMALL)
    rundir.init_run_dir(run, config, make_pair_source(config))
    train(run)
    return run


@pytest.fixture
def gpu_run(cpu_run, tmp_path) -> Path:
    """The run, as if it had trained on cuda:1 (config.json's trained_on)."""
    run = Path(shutil.copytree(cpu_run, tmp_path / "gpu-run"))
    meta = json.loads((run / "config.json").read_text())
    meta["trained_on"]["device"] = "cuda:1"
    (run / "config.json").write_text(json.dumps(meta))
    return run


def _gpus(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


@pytest.fixture
def placed(monkeypatch) -> list[str]:
    """The device name every model placement receives (the model itself stays on the CPU), and
    no bf16 question reaches CUDA."""
    seen: list[str] = []

    def resolve(name: str) -> torch.device:
        seen.append(str(name))
        return torch.device("cpu")

    monkeypatch.setattr(rundir, "resolve_device", resolve)
    monkeypatch.setattr(hardware, "native_bf16", lambda device: False)
    return seen


def test_available_device_is_the_named_one_where_this_machine_has_it(monkeypatch):
    _gpus(monkeypatch, 2)
    assert available_device("cuda:1") == torch.device("cuda", 1) and available_device("cuda") == torch.device("cuda")
    assert available_device("cuda:2") == torch.device("cpu")  # a third GPU is not here
    assert available_device("cpu") == torch.device("cpu") and available_device("auto") == torch.device("cpu")
    _gpus(monkeypatch, 0)
    assert available_device("cuda:0") == torch.device("cpu")


def test_run_device_follows_the_training_device(gpu_run, cpu_run, monkeypatch):
    _gpus(monkeypatch, 2)
    assert rundir.run_device(gpu_run) == "cuda:1" and rundir.run_device(cpu_run) == "cpu"
    assert rundir.run_device(gpu_run, "cpu") == "cpu"  # an explicit device wins
    _gpus(monkeypatch, 1)
    assert rundir.run_device(gpu_run) == "cpu"  # trained on a GPU this machine lacks


def test_the_training_device_reaches_load_evaluate_and_encode(gpu_run, placed, monkeypatch, tmp_path):
    _gpus(monkeypatch, 2)
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path / "data-root"))
    rundir.load_run(gpu_run)
    rundir.load_model(gpu_run)
    results = evaluate.evaluate_run(gpu_run, num_samples=50, figures=False, out=tmp_path / "r.json")
    np.save(tmp_path / "frames.npy", np.zeros((3, 64, 64), np.uint8))
    assert main(["encode", str(gpu_run), str(tmp_path / "frames.npy"), "--out", str(tmp_path / "c.npy")]) == 0
    assert placed == ["cuda:1"] * 4
    assert results["settings"]["eval_precision"] == "fp32"
    placed.clear()
    _gpus(monkeypatch, 0)
    rundir.load_run(gpu_run)
    evaluate.evaluate_run(gpu_run, num_samples=50, figures=False, out=tmp_path / "r.json")
    assert placed == ["cpu", "cpu"]


def test_train_scores_on_its_training_device(monkeypatch, tmp_path):
    calls = []

    def fake_evaluate_run(run_dir, **kwargs):
        calls.append(kwargs)
        return {"mcc": None, "mcc_note": "not scored here", "step": 2}

    monkeypatch.setattr(evaluate, "evaluate_run", fake_evaluate_run)
    argv = ["train", "--steps", "2", "--batch-pairs", "2", "--precision", "fp32", "--device", "cpu"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--no-report"]) == 0
    assert [c.get("device") for c in calls] == ["cpu"]


def test_study_runner_scores_on_the_run_device(monkeypatch, tmp_path):
    from slowvae.results import Results

    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    settings = {"metrics": ["mcc"], "samples": 50, "preset": None, "fast": False, "settings": {}, "at_steps": []}
    record = {"config": TrainConfig(**SMALL).to_dict(), "evaluate": settings}
    (run / runner.RECORD_FILE).write_text(json.dumps(record))
    scored, score = [], runner._score
    monkeypatch.setattr("slowvae.train.train", lambda *args, **kwargs: None)
    monkeypatch.setattr(runner, "_score", lambda *args: scored.append(args[4]) or Results())
    assert runner.execute_run(run) == runner.FINISHED
    assert scored == ["cpu"]
    calls = []
    scored_stub = SimpleNamespace(results=Results())
    monkeypatch.setattr(evaluate, "score_run", lambda run_dir, config, say: calls.append(config) or scored_stub)
    score(run, settings, "last.pt", lambda _msg: None, "cuda:1")
    assert [c.device for c in calls] == ["cuda:1"]


class _HostTensor:
    """Records what a host -> device copy does with a tensor."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def pin_memory(self) -> _HostTensor:
        self.calls.append(("pin_memory",))
        return self

    def to(self, device, non_blocking: bool = False) -> _HostTensor:
        self.calls.append(("to", str(device), non_blocking))
        return self


def test_copies_to_cuda_are_pinned_and_non_blocking():
    cuda, cpu = _HostTensor(), _HostTensor()
    to_device(cuda, "cuda:1")
    to_device(cpu, torch.device("cpu"))
    assert cuda.calls == [("pin_memory",), ("to", "cuda:1", True)]
    assert cpu.calls == [("to", "cpu", False)]
    x = torch.arange(6, dtype=torch.uint8)
    assert to_device(x, "cpu") is x  # no copy on the CPU
