"""The identifiability experiment: a real learning check of the model code, the MCC, the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from slowvae.cli import main
from slowvae.errors import SlowVAEError
from slowvae.identifiability import (
    RECORD_KEYS,
    IdentifiabilityConfig,
    continuous_mcc,
    markdown_table,
    plot_mcc,
    read_record,
    run_experiment,
    summarise,
)

#: a few seconds per run: 3 latents, sparse (alpha = 0.5) steps, a random rotation as the mixing
FAST = dict(alphas=(0.5,), dim=3, mixing="linear", steps=500, lr=1e-2, hidden=32, layers=1, eval_samples=3000, seeds=2)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_slowvae_recovers_sparse_latents_and_the_gamma0_control_does_not():
    """Fails when the Laplace transition term is removed or broken: without it the model is
    rotation invariant (the beta-VAE control) and lands on a rotated, mixed solution."""
    records = run_experiment(IdentifiabilityConfig(models=("slowvae", "betavae"), **FAST))
    mcc = {(r["model"], r["seed"]): r["mcc_pearson"] for r in records}
    assert min(mcc["slowvae", s] for s in (1, 2)) > 0.95, mcc
    assert max(mcc["betavae", s] for s in (1, 2)) < 0.93, mcc
    for s in (1, 2):
        assert mcc["slowvae", s] - mcc["betavae", s] > 0.05, mcc


def test_the_learning_check_fails_when_the_laplace_term_is_broken(monkeypatch):
    """The same check with the Laplace cross-entropy swapped for a Gaussian one (a broken
    transition term, rotation invariant like the data's alpha = 2 case) no longer identifies."""
    import slowvae.models.slowvae as slowvae_module

    def gaussian_cross_entropy(m, s, rate):
        return 0.5 * rate**2 * (m * m + s * s) - math.log(rate / math.sqrt(2 * math.pi))

    monkeypatch.setattr(slowvae_module, "laplace_cross_entropy", gaussian_cross_entropy)
    records = run_experiment(IdentifiabilityConfig(models=("slowvae",), **FAST))
    assert max(r["mcc_pearson"] for r in records) < 0.93, records


def test_contrastive_baselines_join_through_the_same_interface():
    """PCL and InfoNCE-L1 train in the same loop, on the same MLP encoder, and recover the latents."""
    records = run_experiment(IdentifiabilityConfig(models=("pcl", "infonce"), **{**FAST, "seeds": 1}))
    assert [r["model"] for r in records] == ["pcl", "infonce"]
    for r in records:
        assert r["mcc_pearson"] > 0.95, r
        assert r["posterior"] is None and "loss" in r["final"]


def test_continuous_mcc_is_invariant_to_permutation_sign_and_monotone_maps():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4000, 4))
    codes = np.c_[-2 * z[:, 2], np.exp(z[:, 0]), z[:, 3] + 1, -z[:, 1], rng.standard_normal(4000)]
    m = continuous_mcc(codes, z)
    assert set(m) == {"mcc", "mcc_pearson"} and m["mcc"] == pytest.approx(1.0)
    assert 0.8 < m["mcc_pearson"] < 0.99  # exp is monotone but not linear
    c = np.sqrt(0.5)  # 45 degrees in the (z0, z1) plane: |corr| 0.707 there, 1 elsewhere
    rot = np.c_[c * (z[:, 0] + z[:, 1]), c * (z[:, 0] - z[:, 1]), z[:, 2:]]
    assert continuous_mcc(rot, z)["mcc_pearson"] == pytest.approx((2 * c + 2) / 4, abs=0.02)
    with pytest.raises(SlowVAEError):
        continuous_mcc(codes[:, :2], z)


def test_summary_table_and_figure(tmp_path):
    recs = [
        {"model": m, "alpha": a, "seed": s, "mcc_pearson": v, "mcc": v - 0.1}
        for m, a, s, v in [("slowvae", 1.0, 1, 0.9), ("slowvae", 1.0, 2, 1.0), ("betavae", 1.0, 1, 0.5)]
    ]
    rows = {(r["model"], r["alpha"]): r for r in summarise(recs)}
    assert rows["slowvae", 1.0]["mcc_pearson"] == pytest.approx({"mean": 0.95, "std": np.std([0.9, 1.0], ddof=1)})
    assert rows["slowvae", 1.0]["mcc"]["mean"] == pytest.approx(0.85)
    assert rows["betavae", 1.0]["n"] == 1
    assert rows["betavae", 1.0]["mcc"] == pytest.approx({"mean": 0.4, "std": None})  # no spread over one seed
    table = markdown_table(recs)
    assert "| slowvae | 1 | 2 | 0.950 ± 0.071 | 0.850 ± 0.071 |" in table
    assert "| betavae | 1 | 1 | 0.500 | 0.400 |" in table
    png = plot_mcc(recs, tmp_path / "f.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_old_records_with_mcc_spearman_still_read():
    old = {"model": "slowvae", "alpha": 1.0, "seed": 1, "mcc_pearson": 0.9, "mcc_spearman": 0.8}
    old["restarts"] = [{"restart": 0, "heldout_loss": 1.0, "mcc_pearson": 0.9, "mcc_spearman": 0.8}]
    record = read_record(old)
    assert record["mcc"] == 0.8 and "mcc_spearman" not in record and record["restarts"][0]["mcc"] == 0.8
    assert summarise([old])[0]["mcc"] == {"mean": 0.8, "std": None}
    config = IdentifiabilityConfig(models=("slowvae",), alphas=(1.0,), seeds=1)
    assert run_experiment(config, done=[old]) == [record]  # resumed from old records, nothing retrained


def test_obs_std_schedule():
    from slowvae.identifiability import obs_std_at

    assert [obs_std_at(s, 100, 0.1, 0.01) for s in (1, 50)] == [0.1, 0.1]
    assert obs_std_at(70, 100, 0.1, 0.01) == pytest.approx(math.sqrt(0.1 * 0.01))  # geometric midpoint
    assert [obs_std_at(s, 100, 0.1, 0.01) for s in (90, 100)] == pytest.approx([0.01, 0.01])
    assert obs_std_at(80, 100, 0.1, None) == 0.1
    with pytest.raises(SlowVAEError, match="final_obs_std"):
        IdentifiabilityConfig(final_obs_std=0.0).validate()


def test_config_rates_and_validation():
    cfg = IdentifiabilityConfig(step_std=0.5)
    for a in (0.5, 1.0, 2.0):
        from slowvae.data.synthetic import gennorm_std

        assert gennorm_std(a, cfg.rate_for(a)) == pytest.approx(0.5)
    assert cfg.model_hyper("slowvae", 1.0)["rate"] == pytest.approx(cfg.rate_for(1.0))  # matched Laplace
    assert IdentifiabilityConfig(data_rate=6.0).rate_for(0.5) == 6.0
    assert "rate" not in IdentifiabilityConfig().model_hyper("betavae", 1.0)
    for bad in (dict(models=("nope",)), dict(alphas=(0.0,)), dict(data_rate=1.0, step_std=1.0), dict(mixing="spline")):
        with pytest.raises(SlowVAEError):
            IdentifiabilityConfig(**bad).validate()


def test_cli_json_prints_only_records(capsys, tmp_path):
    code = main(
        [
            "identifiability",
            "--alpha",
            "1",
            "2",
            "--dim",
            "2",
            "--mixing",
            "linear",
            "--seeds",
            "1",
            "--steps",
            "5",
            "--hidden",
            "8",
            "--eval-samples",
            "200",
            "--models",
            "slowvae",
            "betavae",
            "--json",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    out, err = capsys.readouterr()
    records = json.loads(out)
    assert [(r["model"], r["alpha"], r["seed"]) for r in records] == [
        ("slowvae", 1.0, 1),
        ("slowvae", 2.0, 1),
        ("betavae", 1.0, 1),
        ("betavae", 2.0, 1),
    ]
    assert all(set(RECORD_KEYS) <= set(r) and 0 <= r["mcc_pearson"] <= 1 for r in records)
    assert all(r["posterior"] == "full" for r in records)  # the experiment's default
    assert records[0]["hyper"]["gamma"] == 30.0  # the experiment's gamma, not the image default
    assert "MCC" in err
    assert (tmp_path / "mcc_vs_alpha.png").exists() and (tmp_path / "table.md").exists()
    assert json.loads((tmp_path / "records.json").read_text())["records"] == records


def test_workers_give_the_same_records_as_one_process(capsys):
    """Every run seeds itself, so training settings in parallel processes changes nothing."""
    config = IdentifiabilityConfig(
        alphas=(1.0, 2.0), dim=2, mixing="linear", seeds=1, steps=20, hidden=8, eval_samples=200
    )
    serial = run_experiment(config)
    parallel = run_experiment(config, progress=print, workers=2)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert strip(parallel) == strip(serial)
    with pytest.raises(SlowVAEError, match="workers"):
        run_experiment(config, workers=0)


def test_cli_saves_after_every_setting_and_resumes(capsys, tmp_path, monkeypatch):
    args = [
        "identifiability",
        "--alpha",
        "1",
        "2",
        "--dim",
        "2",
        "--mixing",
        "linear",
        "--seeds",
        "1",
        "--steps",
        "5",
        "--hidden",
        "8",
        "--eval-samples",
        "200",
        "--json",
        "--out",
        str(tmp_path),
    ]
    import slowvae.identifiability as ident

    calls = []
    real_run_one = ident.run_one

    def interrupted_after_one(*a, **k):
        if calls:
            raise KeyboardInterrupt
        calls.append(a[1:4])
        return real_run_one(*a, **k)

    monkeypatch.setattr(ident, "run_one", interrupted_after_one)
    assert main(args) == 130  # Ctrl-C during the second setting
    saved = json.loads((tmp_path / "records.json").read_text())["records"]
    assert [(r["model"], r["alpha"]) for r in saved] == [("slowvae", 1.0)]  # the finished setting is kept
    capsys.readouterr()
    monkeypatch.setattr(ident, "run_one", real_run_one)
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "1 setting(s) already done" in err
    records = json.loads(out)
    assert [(r["model"], r["alpha"]) for r in records] == [("slowvae", 1.0), ("slowvae", 2.0)]
    assert records[0] == saved[0]
    # another setting in the same folder is refused rather than overwritten
    assert main([*args, "--seeds", "2"]) == 2
    assert "different setting" in capsys.readouterr().err
    (tmp_path / "records.json").write_text("{not json")
    assert main(args) == 2
    assert "not a records file" in capsys.readouterr().err


def test_cli_rejects_bad_settings(capsys):
    assert main(["identifiability", "--dim", "30"]) == 2
    assert "--dim" in capsys.readouterr().err
    assert main(["identifiability", "--models", "betavae", "--gamma", "3", "--steps", "1"]) == 2
    assert "no model among betavae has --gamma" in capsys.readouterr().err
    assert main(["identifiability", "--models", "pcl", "infonce", "--obs-std", "0.1", "--steps", "1"]) == 2
    with pytest.raises(SystemExit) as exit_:  # argparse's own usage error
        main(["identifiability", "--posterior", "spherical"])
    assert exit_.value.code == 2


def test_slowvae_gl_identifies_and_records_its_learned_prior():
    """The learned prior joins the same check: it identifies, starts from the matched Laplace,
    holds it for the first half and then moves alpha and scale (recorded per latent)."""
    config = IdentifiabilityConfig(models=("slowvae-gl",), **{**FAST, "seeds": 1})
    (record,) = run_experiment(config)
    assert record["mcc_pearson"] > 0.95, record
    assert record["hyper"]["alpha"] == "learn" and record["hyper"]["learn_from"] == FAST["steps"] // 2
    assert record["hyper"]["rate"] == pytest.approx(math.sqrt(2) / 1.0)  # the Laplace with the steps' std 1
    alpha, scale = np.array(record["learned_alpha"]), np.array(record["learned_scale"])
    assert alpha.shape == scale.shape == (FAST["dim"],)
    assert np.all((alpha > 0.2) & (alpha < 2)) and np.all(np.abs(alpha - 1) > 0.02)
    assert np.all(np.abs(scale - 1 / math.sqrt(2)) > 0.02)
    assert record["final"]["learned_alpha_0"] == pytest.approx(alpha[0])


def test_identifiability_cli_passes_hyper_to_the_models_that_have_it(tmp_path, capsys):
    out = tmp_path / "gl"
    argv = [
        "identifiability",
        "--models",
        "slowvae-gl",
        "slowvae",
        "--alpha",
        "1",
        "--dim",
        "2",
        "--seeds",
        "1",
        "--steps",
        "3",
        "--eval-samples",
        "50",
        "--hyper",
        "alpha=0.7",
        "--hyper",
        "share=all",
        "--out",
        str(out),
        "--json",
        "--quiet",
    ]
    assert main(argv) == 0
    gl, plain = json.loads(capsys.readouterr().out)
    assert (
        gl["hyper"]["alpha"] == 0.7
        and gl["hyper"]["share"] == "all"
        and gl["learned_alpha"] == pytest.approx([0.7, 0.7])
    )
    assert "alpha" not in plain["hyper"] and "learned_alpha" not in plain
    argv[argv.index("alpha=0.7")] = "nonsense=1"
    assert main(argv[:-4] + ["--out", str(tmp_path / "bad"), "--quiet"]) == 2
    assert "no model among slowvae-gl, slowvae has --hyper nonsense" in capsys.readouterr().err


def test_restarts_keep_the_lowest_heldout_loss_and_restart_0_is_the_single_run():
    from slowvae.identifiability import config_dict

    one = IdentifiabilityConfig(
        alphas=(0.5,), dim=3, mixing="linear", seeds=1, steps=150, hidden=16, layers=1, lr=1e-2, eval_samples=500
    )
    three = IdentifiabilityConfig(**{**config_dict(one), "restarts": 3})
    assert "restarts" not in config_dict(one) and config_dict(three)["restarts"] == 3
    (single,) = run_experiment(one)
    (kept,) = run_experiment(three)
    assert "restarts" not in single
    losses = [r["heldout_loss"] for r in kept["restarts"]]
    assert len(losses) == 3 and len(set(losses)) == 3  # different initialisations, different networks
    assert kept["kept_restart"] == int(np.argmin(losses))
    assert kept["mcc_pearson"] == kept["restarts"][kept["kept_restart"]]["mcc_pearson"]
    assert kept["restarts"][0]["mcc_pearson"] == single["mcc_pearson"]  # restart 0 is the seed's own run
    with pytest.raises(SlowVAEError, match="restarts"):
        IdentifiabilityConfig(restarts=0).validate()
