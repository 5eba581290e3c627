"""`slowvae train` and `slowvae evaluate` from the command line: outputs, figures, clear errors."""

from __future__ import annotations

import errno
import json

import pytest

from slowvae.cli import main


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    code = main(
        [
            "train",
            "--steps",
            "6",
            "--batch-pairs",
            "4",
            "--checkpoint-every",
            "3",
            "--eval-samples",
            "300",
            "--seed",
            "4",
            "--keep-checkpoints",
            "--out",
            str(run),
        ]
    )
    assert code == 0
    return run


def test_train_writes_run_directory_and_results(trained_run, capsys):
    config = json.loads((trained_run / "config.json").read_text())
    assert config["config"]["dataset"] == "dsprites-procedural" and config["config"]["seed"] == 4
    assert config["config"]["hyper"] == {"beta": 1.0, "gamma": 10.0, "rate": 6.0}
    results = json.loads((trained_run / "results.json").read_text())
    assert results["step"] == 6 and 0 <= results["mcc"] <= 1 and 0 <= results["mcc_untrained"] <= 1
    assert set(results["mcc_per_factor"]) == {"shape", "scale", "orientation", "posX", "posY"}
    for name in ("correlation.png", "reconstructions.png", "traversals.png"):
        assert (trained_run / "figures" / name).stat().st_size > 1000


def test_evaluate_is_reproducible_and_prints_json(trained_run, capsys):
    assert main(["evaluate", str(trained_run), "--samples", "300", "--json", "--no-figures"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["evaluate", str(trained_run), "--samples", "300", "--json", "--no-figures"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert first["mcc"] == second["mcc"] and first["mcc_per_factor"] == second["mcc_per_factor"]
    assert main(["evaluate", str(trained_run), "--samples", "300", "--seed", "1", "--json", "--no-figures"]) == 0
    assert json.loads(capsys.readouterr().out)["mcc"] != first["mcc"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--dataset", "nope", "--steps", "1"], "unknown dataset 'nope'"),
        (["train", "--k", "9", "--transitions", "uniform", "--steps", "1"], "k"),
        (["evaluate", "/nonexistent/run"], "not a run directory"),
        (["report", "MISSING"], "slowvae report: error: MISSING does not exist; give a run directory or a study"),
        (["train", "--dataset", "clip.mp4"], "unknown dataset 'clip.mp4': for your own frames give frames:clip.mp4"),
    ],
)
def test_bad_input_gives_one_line_error(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_resume_refuses_to_change_the_run(trained_run, capsys):
    assert main(["train", "--resume", str(trained_run), "--gamma", "3"]) == 2
    assert "--gamma cannot change when resuming" in capsys.readouterr().err


def test_existing_run_is_never_overwritten(trained_run, capsys):
    before = (trained_run / "checkpoints" / "last.pt").read_bytes()
    assert main(["train", "--steps", "2", "--out", str(trained_run)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (trained_run / "checkpoints" / "last.pt").read_bytes() == before


def test_corrupt_checkpoint_is_a_clear_error(trained_run, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken)
    ckpt = broken / "checkpoints" / "last.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    assert main(["evaluate", str(broken), "--samples", "100"]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_untrained_mcc_is_the_runs_initial_network(trained_run, tmp_path):
    """mcc_untrained scores the weights the training loop started from (its saved step-0 checkpoint)."""
    from slowvae.evaluate import evaluate_run

    results = evaluate_run(trained_run, num_samples=300, seed=0, figures=False, out=tmp_path / "r.json")
    start = evaluate_run(
        trained_run, checkpoint="step_0.pt", num_samples=300, seed=0, figures=False, out=tmp_path / "s.json"
    )
    assert start["step"] == 0 and results["step"] == 6
    assert start["mcc"] == results["mcc_untrained"] == start["mcc_untrained"]
    assert results["mcc"] != results["mcc_untrained"]
    assert json.loads((tmp_path / "r.json").read_text())["mcc"] == results["mcc"]


def test_stats_on_a_trained_runs_latents(trained_run, capsys, tmp_path, monkeypatch):
    """`slowvae stats --run` end to end: held-out pairs encoded by the real model, one fit per latent."""
    monkeypatch.chdir(tmp_path)  # stats.json goes to ./slowvae-stats
    assert (
        main(["stats", "--run", str(trained_run), "--n-pairs", "300", "--bootstrap", "5", "--json", "--no-plots"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {f"z{i}" for i in range(10)}
    fitted = [v for v in out.values() if isinstance(v, dict) and "gennorm" in v]
    assert fitted and all(v["n"] == 300 and v["gennorm"]["alpha"] > 0 for v in fitted)
    assert json.loads((tmp_path / "slowvae-stats" / "stats.json").read_text())["results"] == out


def test_evaluate_with_a_preset_runs_the_metric_suite(trained_run, tmp_path, capsys):
    assert (
        main(
            [
                "evaluate",
                str(trained_run),
                "--samples",
                "300",
                "--preset",
                "fast",
                "--metrics",
                "mig,sap,dci",
                "--fast",
                "--json",
                "--no-figures",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    for key in ("mcc", "mig", "sap", "dci_disentanglement", "dci_completeness", "dci_informativeness_test"):
        assert out[key] is not None and 0 <= out[key] <= 1, (key, out.get(key.split("_")[0] + "_error"))
    assert not [key for key in out if key.endswith("_error")] and "suite" in out["settings"]
    assert main(["evaluate", str(trained_run), "--metrics", "mig"]) == 2
    assert "give --preset too" in capsys.readouterr().err


def _one_clean_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("code, says", [(errno.EROFS, "read-only"), (errno.ENOSPC, "disk is full")])
def test_train_into_an_unwritable_out_is_one_line(tmp_path, capsys, fail_writes, code, says):
    fail_writes(tmp_path / "ro", code)
    out = tmp_path / "ro" / "run"
    assert main(["train", "--steps", "2", "--batch-pairs", "4", "--no-eval", "--out", str(out)]) == 2
    err = _one_clean_line(capsys)
    assert err.startswith("slowvae train: error: ") and str(out) in err and says in err and "--out" in err


def test_an_out_that_is_a_file_is_one_line(trained_run, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["train", "--steps", "2", "--batch-pairs", "4", "--no-eval", "--out", str(tmp_path / "file")]) == 2
    assert f"{tmp_path / 'file'} exists and is not a folder" in _one_clean_line(capsys)
    assert main(["report", str(trained_run), "--out", str(tmp_path / "file" / "page.html")]) == 2
    assert f"{tmp_path / 'file'} exists and is not a folder" in _one_clean_line(capsys)
    assert (tmp_path / "file").read_text() == "x"


def test_resume_and_report_in_a_read_only_run_are_one_line(trained_run, capsys, fail_writes):
    before = {p: p.read_bytes() for p in trained_run.rglob("*") if p.is_file()}
    fail_writes(trained_run, errno.EROFS)
    assert main(["train", "--resume", str(trained_run), "--steps", "8"]) == 2
    err = _one_clean_line(capsys)
    assert f"{trained_run} is on a read-only file system" in err and "resume the copy" in err
    assert main(["report", str(trained_run)]) == 2
    assert f"{trained_run / 'report.html'} is on a read-only file system" in _one_clean_line(capsys)
    assert {p: p.read_bytes() for p in trained_run.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_last_checkpoint_says_so_and_names_an_intact_one(trained_run, tmp_path, capsys, damage):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken)
    ckpt = broken / "checkpoints" / "last.pt"
    ckpt.write_bytes(b"not a checkpoint\n" if damage == "garbage" else ckpt.read_bytes()[:3000])
    assert main(["train", "--resume", str(broken), "--steps", "8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0] == f"run directory: {broken}"  # one line of error
    assert err[1] == (
        f"slowvae train: error: checkpoint {ckpt} is damaged: it cannot be read (corrupt, truncated or not a "
        "slowvae checkpoint); step_6.pt beside it is the newest numbered checkpoint (step 6): copy it over last.pt"
    )
    assert "weights_only" not in err[1]
