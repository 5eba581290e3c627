"""A model and a dataset from another package (tests/plugin_pkg) through the command line:
`slowvae models` lists the model, `slowvae train` trains it on the plugin dataset, evaluates it,
and resumes exactly."""

from __future__ import annotations

import json

import numpy as np
import torch

import slowvae
from slowvae.cli import main

TRAIN = [
    "train",
    "--batch-pairs",
    "4",
    "--checkpoint-every",
    "2",
    "--seed",
    "2",
    "--eval-samples",
    "200",
    "--device",
    "cpu",
    "--precision",
    "fp32",
]


def _weights(run) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=False)["model"]


def test_entry_point_model_is_listed(plugin_package, capsys):
    assert main(["models", "--json"]) == 0
    records = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["tiny-vae"]["hyperparameters"]["beta"]["default"] == 1.0
    assert list(records)[-1] == "tiny-vae"  # after the built-in models
    assert main(["models", f"{plugin_package}:TinyVAE"]) == 0
    assert "slowvae test plugin" in capsys.readouterr().out


def test_plugin_model_and_dataset_train_evaluate_and_resume_exactly(plugin_package, tmp_path, capsys):
    full, split = tmp_path / "full", tmp_path / "split"
    model = f"{plugin_package}:TinyVAE"
    assert (
        main(
            [
                *TRAIN,
                "--model",
                model,
                "--dataset",
                "moving-square",
                "--beta",
                "0.5",
                "--steps",
                "6",
                "--out",
                str(full),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                *TRAIN,
                "--model",
                model,
                "--dataset",
                "moving-square",
                "--beta",
                "0.5",
                "--steps",
                "3",
                "--no-eval",
                "--out",
                str(split),
            ]
        )
        == 0
    )
    assert main(["train", "--resume", str(split), "--steps", "6", "--no-eval"]) == 0
    a, b = _weights(full), _weights(split)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    config = json.loads((full / "config.json").read_text())
    assert config["config"]["model"] == model and config["config"]["hyper"] == {"beta": 0.5}
    results = json.loads((full / "results.json").read_text())
    assert results["step"] == 6 and set(results["mcc_per_factor"]) == {"x", "y"} and 0 <= results["mcc"] <= 1
    assert (full / "figures" / "reconstructions.png").stat().st_size > 1000
    # the trained plugin model loads from Python like any run
    run = slowvae.load_run(full)
    images = np.zeros((3, 64, 64), np.uint8)
    images[:, 10:18, 20:28] = 1
    assert run.encode(images).shape == (3, 10) and run.decode(run.encode(images)).shape == (3, 1, 64, 64)


def test_entry_point_model_by_name(plugin_package, tmp_path):
    assert (
        main(
            [
                *TRAIN,
                "--model",
                "tiny-vae",
                "--dataset",
                "moving-square",
                "--steps",
                "2",
                "--no-eval",
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "r" / "config.json").read_text())["config"]["model"] == "tiny-vae"


def test_unknown_model_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--model", "nope", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope'" in err and "package.module:ClassName" in err and "Traceback" not in err
