"""Your own videos from the command line: train on frames:PATH (mp4, PNG folder, .npy), evaluate with
and without ground truth, encode, clean the caches, and the one-line errors of bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from sprite_video import sprite_walk, write_mp4, write_png_folder, write_truth

from slowvae.cli import main

STEPS = [
    "--steps",
    "100",
    "--batch-pairs",
    "2",
    "--log-every",
    "50",
    "--eval-samples",
    "200",
    "--z-dim",
    "4",
    "--precision",
    "fp32",
]


@pytest.fixture(autouse=True)
def data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("SLOWVAE_DATA", str(tmp_path / "data-root"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "data-root"


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """One sprite walk of 80 frames as mp4, PNG folder and .npy, with its ground truth."""
    folder = tmp_path_factory.mktemp("video")
    frames, xy = sprite_walk(80, np.random.default_rng(5))
    np.save(folder / "walk.npy", frames)
    write_png_folder(folder / "png", frames)
    write_truth(folder / "truth.csv", {"0": xy})
    try:
        write_mp4(folder / "walk.mp4", frames)
    except ImportError:
        pass
    return folder


@pytest.mark.parametrize("form", ["walk.mp4", "png", "walk.npy"])
def test_train_100_steps_from_each_form(video, form, tmp_path, capsys):
    if not (video / form).exists():
        pytest.skip("writing mp4 needs imageio-ffmpeg")
    run = tmp_path / "run"
    argv = [
        "train",
        "--dataset",
        f"frames:{video / form}",
        "--max-dt",
        "2",
        "--truth",
        str(video / "truth.csv"),
        "--out",
        str(run),
        *STEPS,
    ]
    assert main(argv) == 0
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["dataset_options"] == {"max_dt": 2} and config["steps"] == 100
    assert (run / "truth.csv").read_text() == (video / "truth.csv").read_text()
    results = json.loads((run / "results.json").read_text())
    assert results["step"] == 100 and set(results["mcc_per_factor"]) == {"x", "y"}
    assert 0 <= results["mcc"] <= 1 and 0 <= results["mcc_untrained"] <= 1
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [50, 100]


@pytest.fixture(scope="module")
def untruthful_run(video, tmp_path_factory):
    """A short run on the .npy without ground truth (its own data root)."""
    root = tmp_path_factory.mktemp("root")
    mp = pytest.MonkeyPatch()
    mp.setenv("SLOWVAE_DATA", str(root))
    run = root / "run"
    assert (
        main(
            [
                "train",
                "--dataset",
                f"frames:{video / 'walk.npy'}",
                "--out",
                str(run),
                "--steps",
                "5",
                "--batch-pairs",
                "2",
                "--eval-samples",
                "100",
                "--z-dim",
                "4",
                "--precision",
                "fp32",
            ]
        )
        == 0
    )
    mp.undo()
    return run


def test_evaluate_without_truth_draws_figures_and_says_mcc_needs_it(untruthful_run, capsys):
    assert main(["evaluate", str(untruthful_run), "--samples", "100"]) == 0
    assert "MCC needs ground truth" in capsys.readouterr().out
    results = json.loads((untruthful_run / "results.json").read_text())
    assert results["mcc"] is None and "--truth" in results["mcc_note"]
    figures = sorted(p.name for p in (untruthful_run / "figures").glob("*.png"))
    assert figures == ["reconstructions.png", "traversals.png"]
    page = (untruthful_run / "report.html").read_text()
    assert "No MCC: MCC needs ground truth" in page


def test_a_frames_runs_page_shows_its_pairs_and_why_there_is_no_correlation_figure(untruthful_run, tmp_path):
    from slowvae.report import write_run_report

    html = write_run_report(untruthful_run, out=tmp_path / "page.html").read_text()
    assert "frames Δt apart within one sequence, Δt ~ U{1..1} (max_dt 1)" in html
    assert "frames Δt ≤ 1" in html  # the header chip
    assert "Laplace" not in html and "data rate" not in html and "laplace rate" not in html
    assert "No correlation figure: this run has no ground truth" in html
    assert "it is drawn by" not in html


def test_stats_on_a_video_uses_its_distinct_pairs_and_says_they_were_trained_on(
    untruthful_run, tmp_path, capsys, monkeypatch
):
    # 80 frames, max_dt 1: 79 distinct pairs; training drew 5 steps x 2 pairs of them
    monkeypatch.chdir(tmp_path)
    argv = ["stats", "--run", str(untruthful_run), "--n-pairs", "10000", "--bootstrap", "5", "--json", "--no-plots"]
    assert main(argv) == 0
    got = capsys.readouterr()
    results = json.loads(got.out)
    assert {v["n"] for v in results.values()} == {79}  # not 10,000 draws of 79 pairs
    assert "79 distinct pairs (all 79 the data has); training drew 10 pairs from the same 79" in got.err
    saved = json.loads((tmp_path / "slowvae-stats" / "stats.json").read_text())["settings"]["pairs"]
    assert saved["distinct"] == saved["total"] == 79
    assert saved["seen_in_training"] == pytest.approx(1 - np.exp(-10 / 79))
    # evaluate without ground truth encodes each of the 80 frames once, not 10,000 draws of them
    assert main(["evaluate", str(untruthful_run), "--samples", "10000", "--json", "--no-figures"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["num_samples"] == 80


def test_evaluate_with_truth_gives_mcc(untruthful_run, video, capsys):
    argv = [
        "evaluate",
        str(untruthful_run),
        "--samples",
        "80",
        "--truth",
        str(video / "truth.csv"),
        "--json",
        "--no-figures",
    ]
    assert main(argv) == 0
    results = json.loads(capsys.readouterr().out)
    assert 0 < results["mcc"] <= 1 and set(results["latent_for_factor"]) == {"x", "y"}
    assert not (untruthful_run / "truth.csv").exists()  # evaluate reads it, the run keeps none


def test_encode_writes_codes_and_index_in_input_order(untruthful_run, video, tmp_path, capsys):
    out = tmp_path / "codes.npy"
    assert main(["encode", str(untruthful_run), f"frames:{video / 'png'}", "--out", str(out), "--batch-size", "7"]) == 0
    codes = np.load(out)
    assert codes.shape == (80, 4) and codes.dtype == np.float32 and np.isfinite(codes).all()
    with open(tmp_path / "codes.index.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["sequence", "frame"] and rows[1:] == [["0", str(t)] for t in range(80)]
    from slowvae.encode import encode_input

    again, _ = encode_input(untruthful_run, video / "walk.npy", batch_size=80)
    np.testing.assert_allclose(codes, again, atol=1e-5)  # the PNGs hold the .npy's frames, same order
    shuffled = np.load(video / "walk.npy")[::-1]
    np.save(tmp_path / "rev.npy", shuffled)
    reversed_codes, _ = encode_input(untruthful_run, tmp_path / "rev.npy")
    np.testing.assert_allclose(reversed_codes, codes[::-1], atol=1e-5)


def test_encode_refuses_frames_the_model_cannot_take(untruthful_run, tmp_path, capsys):
    np.save(tmp_path / "rgb.npy", np.zeros((4, 64, 64, 3), dtype=np.uint8))
    assert main(["encode", str(untruthful_run), str(tmp_path / "rgb.npy"), "--out", str(tmp_path / "c.npy")]) == 2
    assert "not trained on 3-channel frames" in capsys.readouterr().err
    assert not (tmp_path / "c.npy").exists()


def test_data_clean_frames(video, data_root, capsys):
    assert (
        main(
            [
                "train",
                "--dataset",
                f"frames:{video / 'walk.npy'}",
                "--steps",
                "1",
                "--batch-pairs",
                "2",
                "--no-eval",
                "--out",
                "r",
                "--precision",
                "fp32",
            ]
        )
        == 0
    )
    assert list((data_root / "frames").glob("*.npy"))
    capsys.readouterr()
    assert main(["data", "clean", "frames"]) == 0
    assert "removed 1 frame cache(s)" in capsys.readouterr().out and not (data_root / "frames").exists()


def _bad_png_folder(tmp_path):
    write_png_folder(tmp_path / "bad", np.zeros((3, 64, 64), dtype=np.uint8))
    (tmp_path / "bad" / "f1.png").write_bytes(b"broken")
    return ["--dataset", f"frames:{tmp_path / 'bad'}"]


def _mixed_sizes(tmp_path):
    write_png_folder(tmp_path / "mixed", np.zeros((3, 64, 64), dtype=np.uint8))
    write_png_folder(tmp_path / "mixed", np.zeros((1, 80, 64), dtype=np.uint8))  # replaces f0
    return ["--dataset", f"frames:{tmp_path / 'mixed'}"]


def _short(tmp_path):
    np.save(tmp_path / "short.npy", np.zeros((3, 64, 64), dtype=np.uint8))
    return ["--dataset", f"frames:{tmp_path / 'short.npy'}", "--max-dt", "3"]


def _no_codec(tmp_path):
    (tmp_path / "v.avi").write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST" + b"QQQQ" * 200)
    return ["--dataset", f"frames:{tmp_path / 'v.avi'}"]


def _csv_mismatch(tmp_path):
    np.save(tmp_path / "ok.npy", np.zeros((5, 64, 64), dtype=np.uint8))
    write_truth(tmp_path / "t.csv", {"0": np.zeros((4, 2))})
    return ["--dataset", f"frames:{tmp_path / 'ok.npy'}", "--truth", str(tmp_path / "t.csv")]


def _option_elsewhere(tmp_path):
    return ["--dataset", "dsprites-procedural", "--max-dt", "2"]


@pytest.mark.parametrize(
    "make, message",
    [
        (_bad_png_folder, "cannot read frame"),
        (_mixed_sizes, "frames of mixed sizes"),
        (_short, "need at least 4"),
        (_no_codec, "cannot read video"),
        (_csv_mismatch, "1 frames of"),
        (_option_elsewhere, "--max-dt does not apply to dataset 'dsprites-procedural'"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(make, message, tmp_path, data_root, capsys):
    argv = ["train", *make(tmp_path), "--steps", "1", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()
    cached = list((data_root / "frames").glob("*.npy")) if (data_root / "frames").exists() else []
    decodes = message not in ("need at least 4", "1 frames of")  # those inputs decode well and stay cached
    assert cached == [] if decodes else len(cached) == 1
