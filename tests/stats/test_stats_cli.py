"""`slowvae stats` end to end: JSON on stdout, CSV, figures, errors, and --run through a stub."""

import csv
import json
import sys
import types

import numpy as np
import pytest
from scipy import stats

from slowvae.cli import main


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Run each test in its own folder: the default --out (./slowvae-stats) is relative."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture()
def sparse_masks(tmp_path):
    """One object whose integer position makes sparse jumps; its size changes by one row now and then."""
    rng = np.random.default_rng(0)
    t = 400
    masks = np.zeros((t, 48, 96), dtype=bool)
    x, y, h = 40, 20, 6
    for i in range(t):
        x = int(np.clip(x + np.round(rng.laplace(0, 1.0)), 5, 80))
        y = int(np.clip(y + np.round(rng.laplace(0, 0.7)), 5, 35))
        h = int(np.clip(h + rng.integers(-1, 2), 3, 9))
        masks[i, y : y + h, x : x + 8] = True
    path = tmp_path / "m.npy"
    np.save(path, masks)
    return path


def test_json_csv_and_figures(sparse_masks, tmp_path, capsys):
    out = tmp_path / "figs"
    rc = main(
        [
            "stats",
            "--masks",
            str(sparse_masks),
            "--json",
            "--bootstrap",
            "20",
            "--jitter",
            "1",
            "--out",
            str(out),
            "--csv-out",
            str(tmp_path / "s.csv"),
        ]
    )
    assert rc == 0
    res = json.loads(capsys.readouterr().out)  # stdout is only JSON
    assert list(res) == ["x", "y", "area"]
    for v in res.values():
        assert v["n"] == 399 and np.isfinite(v["kurtosis"])
        assert set(v["gaussian"]) >= {"loc", "scale", "loglik", "aic", "bic", "ks"}
        assert set(v["laplace"]) >= {"loc", "scale", "loglik", "aic", "bic", "ks"}
        assert set(v["gennorm"]) >= {"alpha", "loc", "scale", "loglik", "alpha_ci", "aic", "bic", "ks"}
        assert len(v["gennorm"]["alpha_ci"]) == 2
    # sparse jumps are heavier-tailed than Gaussian; the area steps of +-8 px are not
    assert res["x"]["kurtosis"] > 1 and res["x"]["gennorm"]["alpha"] < 1.5
    assert res["area"]["kurtosis"] < 0
    for name in ("x", "y", "area"):
        assert (out / f"transitions_{name}.png").stat().st_size > 1000
    assert json.loads((out / "stats.json").read_text())["results"] == res
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert len(rows) == 9 and {r["fit"] for r in rows} == {"gaussian", "laplace", "gennorm"}


def test_table_and_dt(sparse_masks, tmp_path, capsys):
    rc = main(["stats", "--masks", str(sparse_masks), "--dt", "3", "--bootstrap", "0", "--no-plots", "--quiet"])
    text = capsys.readouterr().out
    assert rc == 0 and "transitions at dt=3: 397" in text and "gennorm" in text
    # --no-plots drops the figures only: stats.json is still written
    out = tmp_path / "slowvae-stats"
    assert sorted(p.name for p in out.iterdir()) == ["stats.json"]
    saved = json.loads((out / "stats.json").read_text())
    assert saved["settings"]["dt"] == 3 and saved["results"]["x"]["n"] == 397
    assert f"wrote {out.relative_to(tmp_path) / 'stats.json'}" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "no input"),
        (["--masks", "MISSING.npy"], "cannot read"),
        (["--masks", "EMPTY"], "empty"),
        (["--masks", "ONE"], "single frame"),
        (["--masks", "OK", "--dt", "0"], "--dt must be at least 1"),
        (["--masks", "OK", "--run", "r"], "without data inputs"),
        (["--mots", "OK", "--classes", "bicycle"], "unknown class"),
    ],
)
def test_errors_are_one_line(argv, message, tmp_path, capsys, sparse_masks):
    np.save(tmp_path / "EMPTY.npy", np.zeros((3, 8, 8), bool))
    np.save(tmp_path / "ONE.npy", np.ones((1, 8, 8), bool))
    names = {
        "MISSING.npy": str(tmp_path / "missing.npy"),
        "EMPTY": str(tmp_path / "EMPTY.npy"),
        "ONE": str(tmp_path / "ONE.npy"),
        "OK": str(sparse_masks),
    }
    rc = main(["stats", "--no-plots", "--quiet"] + [names.get(a, a) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_run_mode_uses_encode_pairs(monkeypatch, tmp_path, capsys):
    calls = []

    def encode_pairs(run_dir, n, seed):
        calls.append((str(run_dir), n, seed))
        rng = np.random.default_rng(seed)
        z0 = rng.normal(size=(n, 3))
        step = np.stack([stats.gennorm.rvs(0.5, size=n, random_state=rng), rng.normal(size=n), np.zeros(n)], axis=1)
        return z0, z0 + step

    def learned_values(run_dir):
        return {"learned_alpha": [0.55, 1.9, 1.0], "learned_scale": [0.2, 0.9, 0.5]}

    monkeypatch.setitem(
        sys.modules, "slowvae.evaluate", types.SimpleNamespace(encode_pairs=encode_pairs, learned_values=learned_values)
    )
    rc = main(
        [
            "stats",
            "--run",
            str(tmp_path / "run"),
            "--n-pairs",
            "20000",
            "--seed",
            "3",
            "--json",
            "--bootstrap",
            "10",
            "--no-plots",
            "--quiet",
        ]
    )
    res = json.loads(capsys.readouterr().out)
    assert rc == 0 and calls == [(str(tmp_path / "run"), 20000, 3)]
    assert list(res) == ["z0", "z1", "z2"]
    assert abs(res["z0"]["gennorm"]["alpha"] - 0.5) < 0.05
    assert abs(res["z1"]["gennorm"]["alpha"] - 2.0) < 0.3
    assert res["z2"]["skipped"]  # a latent that never moves has nothing to fit
    # the model's own learned prior beside the fit (slowvae-gl)
    assert res["z0"]["learned_alpha"] == 0.55 and res["z1"]["learned_scale"] == 0.9
    rc = main(
        ["stats", "--run", str(tmp_path / "run"), "--n-pairs", "2000", "--bootstrap", "0", "--no-plots", "--quiet"]
    )
    table = capsys.readouterr().out
    assert rc == 0 and "learned" in table and "0.550" in table and "1.900" in table
