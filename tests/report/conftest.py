"""Shared fixtures of the report tests: one really trained and evaluated run, and a study
directory of 50 runs built from it on disk (settings, seeds and scores varied per run)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from slowvae.config import TrainConfig
from slowvae.evaluate import evaluate_run
from slowvae.report import StudyRun, write_run_report
from slowvae.rundir import init_run_dir
from slowvae.train import train

#: the study fixture: 2 models x 5 settings x 5 seeds; these runs failed / never started
FAILED = {
    ("beta-vae", 4.0, 3): "the loss became nan at step 7; the last good checkpoint is kept",
    ("slowvae", 8.0, 5): "CUDA out of memory (fabricated for the test)",
}
MISSING = {("slowvae", 2.0, 4), ("beta-vae", 1.0, 2), ("beta-vae", 16.0, 5)}


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A SlowVAE trained 8 steps and evaluated with figures and two suite metrics."""
    run = tmp_path_factory.mktemp("report") / "run"
    init_run_dir(run, TrainConfig(steps=8, batch_pairs=4, log_every=2, checkpoint_every=8, seed=3, device="cpu"))
    train(run)
    evaluate_run(run, num_samples=400, preset="fast", metrics=["mig", "modularity"])
    return run


@pytest.fixture(scope="session")
def study(tmp_path_factory, trained_run) -> dict:
    """A study directory of 50 runs on disk: 45 run directories copied from ``trained_run`` with their
    config and scores changed (2 of them failed), 3 runs never started. Returns the study dir, the
    table dict, the StudyRun list and the per-metric points."""
    root = tmp_path_factory.mktemp("study")
    (root / "study.toml").write_text('name = "gamma sweep"\n')
    write_run_report(trained_run)
    base_config = json.loads((trained_run / "config.json").read_text())
    base_results = json.loads((trained_run / "results.json").read_text())
    runs, rows, points = [], [], {"mcc": [], "mig": []}
    for model, key in (("slowvae", "gamma"), ("beta-vae", "beta")):
        for i, value in enumerate((1.0, 2.0, 4.0, 8.0, 16.0)):
            row_values = {"mcc": [], "mig": []}
            n_failed = n_missing = 0
            for seed in range(1, 6):
                run_id = f"{model}-{key}{value:g}-seed{seed}"
                path = root / "runs" / run_id
                if (model, value, seed) in MISSING:
                    runs.append(StudyRun(run_id, None, "pending"))
                    n_missing += 1
                    continue
                path.mkdir(parents=True)
                config = json.loads(json.dumps(base_config))
                config["config"].update(model=model, seed=seed, hyper={key: value})
                (path / "config.json").write_text(json.dumps(config))
                shutil.copy(trained_run / "metrics.jsonl", path / "metrics.jsonl")
                if (model, value, seed) in FAILED:
                    runs.append(StudyRun(run_id, path, "failed", FAILED[(model, value, seed)]))
                    n_failed += 1
                    continue
                shutil.copytree(trained_run / "figures", path / "figures")
                scores = {
                    "mcc": round(0.3 + 0.04 * i + 0.01 * seed + (0.1 if model == "slowvae" else 0), 4),
                    "mig": round(0.05 * i + 0.002 * seed, 4),
                }
                (path / "results.json").write_text(json.dumps({**base_results, **scores}))
                if seed != 1:  # the seed-1 runs get their run pages from the study page
                    shutil.copy(trained_run / "report.html", path / "report.html")
                runs.append(StudyRun(run_id, path, "finished", scores=scores))
                for m in row_values:
                    row_values[m].append(scores[m])
            row = {
                "model": model,
                "dataset": "dsprites-procedural",
                "setting": {key: value},
                "n": len(row_values["mcc"]),
                "n_failed": n_failed,
                "n_missing": n_missing,
            }
            for m, values in row_values.items():
                mean = sum(values) / len(values)
                std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
                row[m] = {"mean": mean, "std": std}
                points[m].append(values)
            rows.append(row)
    table = {
        "rows": rows,
        "selection": {
            "method": "udr",
            "chosen": [
                {"model": "slowvae", "dataset": "dsprites-procedural", "setting": {"gamma": 8.0}},
                {"model": "beta-vae", "dataset": "dsprites-procedural", "setting": {"beta": 1.0}},
            ],
            "notes": [],
        },
    }
    no_page = [r.path for r in runs if r.path is not None and not (r.path / "report.html").exists()]
    return {"dir": root, "name": "gamma sweep", "table": table, "runs": runs, "points": points, "no_page": no_page}
