"""The checked-in study runs keep their ids: each run's saved config reads into today's TrainConfig
unchanged (config.json output is stable) and hashes to the id its directory is named by."""

from __future__ import annotations

import json
from pathlib import Path

from slowvae.config import TrainConfig
from slowvae.study.spec import identity, run_id

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def test_checked_in_runs_keep_their_config_and_id():
    records = sorted(RESULTS.glob("*/runs/*/study-run.json"))
    assert len(records) >= 39
    for path in records:
        record = json.loads(path.read_text())
        config = TrainConfig(**record["config"]).to_dict()  # "auto" precision is resolved, nothing else changes
        assert config == {**record["config"], "precision": config["precision"]}, path
        digest = run_id("m", record["dataset"], {}, record["seed"], identity(record["config"]))[-6:]
        assert record["id"] == path.parent.name and record["id"].endswith("-" + digest), path
