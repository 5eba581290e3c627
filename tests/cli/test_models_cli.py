"""`slowvae models` and `slowvae train --hyper KEY=VALUE`."""

from __future__ import annotations

import contextlib
import json

import pytest

from slowvae.cli import main

NAMES = [
    "slowvae",
    "slowvae-gl",
    "beta-vae",
    "annealed-vae",
    "factor-vae",
    "dip-vae-i",
    "dip-vae-ii",
    "beta-tcvae",
    "ada-gvae",
    "ada-mlvae",
    "pcl",
    "infonce",
]


def test_models_lists_every_model_with_defaults_and_sweeps(capsys):
    assert main(["models", "--json"]) == 0
    records = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert list(records) == NAMES
    defaults = {n: {k: h["default"] for k, h in r["hyperparameters"].items()} for n, r in records.items()}
    assert defaults["beta-vae"]["beta"] == 8 and defaults["annealed-vae"]["c_max"] == 25
    assert defaults["factor-vae"]["gamma"] == 30 and defaults["beta-tcvae"]["beta"] == 6
    assert defaults["dip-vae-i"]["lambda_od"] == defaults["dip-vae-ii"]["lambda_od"] == 5
    for name, r in records.items():
        assert r["paper"]
        for key, h in r["hyperparameters"].items():
            if isinstance(h["sweep"], list):
                assert h["default"] in h["sweep"], (name, key)  # every default inside its published sweep
    assert records["factor-vae"]["hyperparameters"]["gamma"]["sweep"] == [10, 20, 30, 40, 50, 100]
    assert main(["models", "dip-vae-ii"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("dip-vae-ii") and "lambda_od" in text and "1, 2, 5, 10, 20, 50" in text


def test_train_hyper_flag_merges_with_beta_and_is_fixed_on_resume(tmp_path, capsys):
    run = tmp_path / "run"
    argv = [
        "train",
        "--model",
        "annealed-vae",
        "--hyper",
        "c_max=50",
        "--hyper",
        "iteration_threshold=10",
        "--gamma",
        "100",
        "--steps",
        "1",
        "--batch-pairs",
        "2",
        "--no-eval",
        "--out",
        str(run),
    ]
    assert main(argv) == 0
    hyper = json.loads((run / "config.json").read_text())["config"]["hyper"]
    assert hyper == {"c_max": 50.0, "gamma": 100.0, "iteration_threshold": 10.0}
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--hyper", "c_max=5"]) == 2
    assert "--hyper cannot change when resuming" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--model", "pcl", "--beta", "2"], "model 'pcl' has no hyperparameter beta"),
        (["--model", "annealed-vae", "--hyper", "cmax=3"], "has no hyperparameter cmax"),
        (["--model", "ada-mlvae", "--hyper", "poe_variance=0.5"], "poe_variance must be 0 or 1"),
        (["--model", "beta-vae", "--beta", "2", "--hyper", "beta=3"], "beta is given twice"),
        (["--hyper", "beta"], "expected KEY=VALUE"),
        (["--hyper", "beta=high"], "hyperparameter beta must be a number"),
        (["--model", "slowvae-gl", "--hyper", "alpha=lots"], "alpha must be 'learn' or a number in [0.2, 2]"),
    ],
)
def test_bad_hyperparameters_are_one_line_errors(extra, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argparse_error = "KEY=VALUE" in message  # argparse exits with status 2
    with pytest.raises(SystemExit) if argparse_error else contextlib.nullcontext():
        code = main(["train", "--steps", "1", *extra])
        assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # nothing created


def test_slowvae_gl_takes_words_and_reports_what_it_learned(tmp_path, capsys):
    """Words reach the config as words; the learned alpha and scale per latent reach the training
    log (every log line), results.json and the printed summary; `slowvae models` shows the words."""
    run = tmp_path / "gl"
    argv = [
        "train",
        "--model",
        "slowvae-gl",
        "--hyper",
        "alpha=learn",
        "--hyper",
        "share=all",
        "--z-dim",
        "5",
        "--steps",
        "4",
        "--log-every",
        "2",
        "--batch-pairs",
        "2",
        "--eval-samples",
        "200",
        "--out",
        str(run),
    ]
    assert main(argv) == 0
    assert "learned transition prior" in capsys.readouterr().out
    hyper = json.loads((run / "config.json").read_text())["config"]["hyper"]
    assert hyper["alpha"] == "learn" and hyper["scale"] == "learn" and hyper["share"] == "all" and hyper["rate"] == 6.0
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [2, 4]
    assert all({"learned_alpha_4", "learned_scale_4"} <= set(line) for line in lines)
    results = json.loads((run / "results.json").read_text())
    assert len(results["learned_alpha"]) == len(results["learned_scale"]) == 5
    assert len(set(results["learned_alpha"])) == 1  # share=all: one alpha for every latent
    assert results["learned_alpha"][0] == pytest.approx(lines[-1]["learned_alpha_0"], abs=1e-3)
    assert main(["models", "slowvae-gl"]) == 0
    text = capsys.readouterr().out
    assert "alpha" in text and "default learn" in text and "default latent" in text


def _all_flags(parser) -> set[str]:
    import argparse

    flags = set()
    for action in parser._actions:
        flags.update(s for s in action.option_strings if s.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flags |= _all_flags(sub)
    return flags


def test_models_text_cites_only_flags_that_exist(capsys):
    import re

    from slowvae.cli import build_parser

    assert main(["models"]) == 0
    text = capsys.readouterr().out
    cited = set(re.findall(r"--[a-z][a-z-]*", text))
    assert "--hyper" in _all_flags(build_parser())
    assert cited - _all_flags(build_parser()) == {"--box-norm"}  # cl-ica's own flag, cited as such
    assert 'search = { beta = "U(1, 16)" }' in text  # the study key that does what --search-beta claimed
