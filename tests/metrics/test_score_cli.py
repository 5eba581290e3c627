import json

import numpy as np
import pytest
from metric_testutils import make_factors, standardise

from slowvae.cli import main

SIZES = (3, 6, 8, 5)


@pytest.fixture
def files(tmp_path):
    f = make_factors(900, SIZES)
    z = standardise(f, SIZES) + 0.1 * np.random.default_rng(0).standard_normal((900, 4))
    np.save(tmp_path / "codes.npy", z)
    np.save(tmp_path / "factors.npy", f)
    np.savez(
        tmp_path / "both.npz", codes_train=z[:600], factors_train=f[:600], codes_test=z[600:], factors_test=f[600:]
    )
    return tmp_path


def test_score_json(files, capsys):
    rc = main(
        [
            "score",
            "--codes",
            str(files / "codes.npy"),
            "--factors",
            str(files / "factors.npy"),
            "--metrics",
            "mcc,mig,sap",
            "--json",
            "--seed",
            "4",
            "--output",
            str(files / "r.json"),
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mcc"] > 0.95 and out["mig"] > 0.5 and "sap" in out
    assert out["settings"]["seed"] == 4 and out["settings"]["metrics"] == ["mcc", "mig", "sap"]
    assert json.loads((files / "r.json").read_text()) == out


def test_score_npz_with_test_arrays_table(files, capsys):
    rc = main(
        [
            "score",
            "--codes",
            f"{files / 'both.npz'}",
            "--factors",
            f"{files / 'both.npz'}",
            "--test-codes",
            f"{files / 'both.npz'}:codes_test",
            "--test-factors",
            f"{files / 'both.npz'}:factors_test",
            "--metrics",
            "sap,explicitness",
            "--preset",
            "fast",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "explicitness_test" in text and "preset fast" in text


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--metrics", "beta_vae"], "needs a dataset"),
        (["--metrics", "mig,bogus"], "unknown metric"),
        (["--test-codes", "x.npy"], "both --test-codes"),
    ],
)
def test_score_bad_input_one_line_exit_2(files, capsys, extra, message):
    rc = main(["score", "--codes", str(files / "codes.npy"), "--factors", str(files / "factors.npy"), *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_score_bad_files(files, capsys):
    np.save(files / "nan.npy", np.full((900, 4), np.nan))
    np.save(files / "float_factors.npy", np.full((900, 4), 0.5))
    (files / "junk.npy").write_text("not an array")
    cases = [
        (["--codes", str(files / "nan.npy"), "--factors", str(files / "factors.npy")], "NaN"),
        (["--codes", str(files / "codes.npy"), "--factors", str(files / "float_factors.npy")], "integer"),
        (["--codes", str(files / "junk.npy"), "--factors", str(files / "factors.npy")], "cannot read"),
        (["--codes", str(files / "missing.npy"), "--factors", str(files / "factors.npy")], "not found"),
        (["--codes", f"{files / 'both.npz'}:zzz", "--factors", str(files / "factors.npy")], "no array"),
        (["--codes", str(files / "codes.npy")[:-4] + "x.npy", "--factors", str(files / "factors.npy")], "not found"),
    ]
    for args, message in cases:
        rc = main(["score", *args, "--metrics", "mig"])
        err = capsys.readouterr().err
        assert rc == 2 and message in err, (args, err)
