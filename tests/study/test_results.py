"""The results record: old-form runs read as finished and tabulate as before, step scores as a run
trains, studies extended to more steps, and run ids that never change."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from slowvae import results
from slowvae.cli import main
from slowvae.errors import SlowVAEError
from slowvae.report import write_study_report
from slowvae.study import parse_study, prepare, runner, study_status, study_table
from slowvae.study.core import conflicts, run_dir
from slowvae.study.spec import load_study
from slowvae.study.table import render, trajectories

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks" / "results"
BUDGET_METRICS = (
    "mcc@5000,mcc,dci@5000,dci,beta_vae@5000,beta_vae,factor_vae@5000,factor_vae,mig@5000,mig,sap@5000,sap,"
    "modularity@5000,modularity,factor_vae_num_active_dims@5000,factor_vae_num_active_dims"
).split(",")

#: (runs, SHA-256 of the ids joined by newlines) of every study file in benchmarks/studies, as
#: the code before the results record expanded them
STUDY_IDS = {
    "baselines.toml": (12, "8042e238eb459c4a"),
    "gl-images.toml": (12, "5a67f915f36b746d"),
    "long-budget-ablation.toml": (8, "a64db021cbbe420b"),
    "long-budget.toml": (5, "9c3884d75d6bc372"),
    "mcc-precision.toml": (3, "f957ecb04fe9297a"),
    "mcc-vs-steps.toml": (6, "aae5c1fd6630bc5f"),
    "paper-protocol-budget.toml": (6, "8006f1f94c079191"),
    "paper-protocol-final.toml": (33, "21e969ee4ba79fce"),
    "paper-protocol-search.toml": (42, "d9052b3c726f61b5"),
    "time-to-quality.toml": (6, "236932e3acc50b67"),
}


def test_run_ids_of_existing_studies_do_not_change():
    found = {}
    for path in sorted((REPO / "benchmarks" / "studies").glob("*.toml")):
        ids = [r.id for r in load_study(path).runs]
        found[path.name] = (len(ids), hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16])
    assert found == STUDY_IDS
    for study in ("paper-protocol-final", "paper-protocol-budget"):  # the checked-in runs are named by their ids
        ids = {r.id for r in load_study(BENCH / study / "study.toml").runs}
        assert ids == {p.name for p in (BENCH / study / "runs").iterdir()}


def _copy_study(name: str, dest: Path) -> Path:
    out = dest / name
    shutil.copytree(BENCH / name, out, ignore=shutil.ignore_patterns("checkpoints", "figures", "*.png"))
    return out


def test_checked_in_old_form_runs_read_as_finished_and_tabulate_identically(tmp_path):
    out = _copy_study("paper-protocol-budget", tmp_path)
    for path in (out / "runs").iterdir():
        assert "status" not in json.loads((path / "results.json").read_text())  # the old form
        assert results.is_finished(path, 20_000) and not results.is_finished(path, 20_001)
        record = results.read_results(path)
        assert record.status == results.FINISHED and record.step == 20_000 and record.study_evaluate is not None
        assert results.scored_steps(path) == [5000] and results.read_step(path, 5000).status == results.FINISHED
    assert study_status(out)["counts"] == {"finished": 6, "running": 0, "failed": 0, "pending": 0}
    table = study_table(out, metrics=BUDGET_METRICS)
    assert table == json.loads((BENCH / "paper-protocol-budget" / "paper-protocol-budget.json").read_text())
    final = _copy_study("paper-protocol-final", tmp_path)
    assert study_table(final) == json.loads((BENCH / "paper-protocol-final" / "paper-protocol.json").read_text())


def test_the_record_round_trips_and_reads_the_old_form():
    old = {"mcc": 0.5, "mcc_per_factor": {"shape": 0.2}, "step": 10, "settings": {"seed": 0}, "seconds": 1.5}
    assert results.Results.from_dict(old).status == results.EVALUATED
    finished = results.Results.from_dict({**old, "study_evaluate": {"samples": 10}, "udr": 0.3})
    assert finished.status == results.FINISHED and finished.udr == 0.3
    assert finished.scores == {"mcc": 0.5, "mcc_per_factor": {"shape": 0.2}}
    assert finished.value("mcc_per_factor.shape") == 0.2 and finished.value("mig") is None
    back = finished.to_dict()
    assert back == {"status": "finished", **old, "study_evaluate": {"samples": 10}, "udr": 0.3}
    assert results.Results.from_dict(back) == finished
    with pytest.raises(ValueError, match="status"):
        results.Results(status="done")


STUDY = """
name = "ext"
steps = 4
seeds = [1]
datasets = ["dsprites-procedural"]
batch_pairs = 4
precision = "fp32"
log_every = 1

[evaluate]
samples = 200
at_steps = [2, 8]

[[models]]
name = "slowvae"
"""


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path / "checkpoints" / "last.pt", weights_only=True)["model"]


def test_steps_are_scored_as_passed_and_an_extended_run_equals_an_uninterrupted_one(tmp_path):
    short = parse_study(STUDY)  # 4 steps: at_steps 8 is beyond them, skipped
    (spec,) = short.runs
    assert spec.evaluate["at_steps"] == [2] and not spec.config["keep_checkpoints"]
    out = tmp_path / "out"
    prepare(short, out)
    path = run_dir(out, spec.id)
    assert runner.execute_run(path) == runner.FINISHED
    step2 = results.read_step(path, 2)
    assert (
        step2.step == 2
        and step2.status == results.EVALUATED
        and set(step2.value("mcc_per_factor"))
        == {
            "shape",
            "scale",
            "orientation",
            "posX",
            "posY",
        }
    )
    corr = step2.value("mcc_abs_corr")  # the latent x factor structure at the step, kept without its checkpoint
    matched = step2.value("latent_for_factor")
    assert len(corr) == 10 and [corr[matched[f]][i] for i, f in enumerate(matched)] == pytest.approx(
        list(step2.value("mcc_per_factor").values())
    )
    final = results.read_results(path)
    assert final.status == results.FINISHED and final.step == 4 and final.at_steps["2"]["mcc"] == step2.value("mcc")
    assert not list((path / "checkpoints").glob("step_*.pt"))  # step checkpoints are not kept
    stamp = results.step_path(path, 2).stat().st_mtime_ns

    longer = parse_study(STUDY.replace("steps = 4", "steps = 6").replace("at_steps = [2, 8]", "at_steps = [2, 4, 8]"))
    assert [r.id for r in longer.runs] == [spec.id] and conflicts(longer, out) == []
    prepare(longer, out)
    status = study_status(out)["runs"][0]
    assert (
        status["state"] == "pending" and status["steps"] == 6 and status["at_steps"]["2"]["mcc"] == step2.value("mcc")
    )
    pending = study_table(out, metrics=["mcc@2"])
    assert pending["rows"][0]["mcc@2"] == {"mean": step2.value("mcc"), "std": None}
    assert pending["precisions"] == {"fp32": 1}  # a run still to train counts once it shows a score
    assert runner.execute_run(path) == runner.FINISHED
    assert results.step_path(path, 2).stat().st_mtime_ns == stamp  # earlier step scores kept
    assert results.read_step(path, 4).value("mcc") == final.value("mcc")  # the old end is the score at step 4
    assert results.read_results(path).step == 6 and results.is_finished(path, 6)
    passed = parse_study(STUDY.replace("steps = 4", "steps = 6").replace("at_steps = [2, 8]", "at_steps = [2, 3, 8]"))
    assert "evaluate.at_steps" in " ".join(conflicts(passed, out))  # step 3 passed: nothing left to score
    shutil.copy(path / "checkpoints" / "last.pt", path / "checkpoints" / "step_3.pt")  # as if kept at step 3
    assert conflicts(passed, out) == []
    (path / "checkpoints" / "step_3.pt").unlink()

    straight = tmp_path / "straight"
    prepare(parse_study(STUDY.replace("steps = 4", "steps = 6")), straight)
    assert runner.execute_run(run_dir(straight, spec.id)) == runner.FINISHED
    a, b = _weights(path), _weights(run_dir(straight, spec.id))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert results.read_results(run_dir(straight, spec.id)).value("mcc") == results.read_results(path).value("mcc")

    # per-factor columns at a step, the trajectory figure and the study page's trajectories
    table = study_table(out, metrics=["mcc_per_factor.scale@2", "mcc@4"])
    assert table["rows"][0]["mcc_per_factor.scale@2"] == {"mean": step2.value("mcc_per_factor.scale"), "std": None}
    assert main(["study", "table", str(out), "--out", str(tmp_path / "t.md")]) == 0
    assert (tmp_path / "t-mcc-trajectory.png").is_file() and (tmp_path / "t-mcc.png").is_file()
    (line,) = trajectories(out, table, "mcc")
    assert line["steps"] == [2, 4, 6] and line["n"] == [1, 1, 1]
    assert line["seeds"] == [{"seed": 1, "steps": [2, 4, 6], "values": line["mean"]}]
    assert main(["report", str(out)]) == 0
    assert 'id="trajectories"' in (out / "report.html").read_text()


def test_one_seed_extended_through_a_second_entry_keeps_every_run_id(tmp_path):
    two = STUDY.replace("seeds = [1]", "seeds = [1, 2]")
    study = parse_study(two)
    out = tmp_path / "out"
    prepare(study, out)
    for spec in study.runs:
        assert runner.execute_run(run_dir(out, spec.id)) == runner.FINISHED
    seed2 = run_dir(out, study.runs[1].id)
    stamp = (seed2 / "results.json").stat().st_mtime_ns

    split = two.replace('[[models]]\nname = "slowvae"', '[[models]]\nname = "slowvae"\nseeds = [2]')
    split += '\n[[models]]\nname = "slowvae"\nseeds = [1]\nsteps = 6\n'
    longer = parse_study(split.replace("at_steps = [2, 8]", "at_steps = [2, 4, 8]"))
    assert {r.id: r.config["steps"] for r in longer.runs} == {study.runs[0].id: 6, study.runs[1].id: 4}
    assert conflicts(longer, out) == []
    prepare(longer, out)
    assert [r["state"] for r in study_status(out)["runs"]] == ["finished", "pending"]
    assert runner.execute_run(run_dir(out, study.runs[0].id)) == runner.FINISHED
    assert results.read_results(run_dir(out, study.runs[0].id)).step == 6
    assert (seed2 / "results.json").stat().st_mtime_ns == stamp and results.read_results(seed2).step == 4
    table = study_table(out, metrics=["mcc@2", "mcc@4"])
    (row,) = table["rows"]  # both seeds stay one row
    assert row["n"] == 2
    at_4 = [
        results.read_step(run_dir(out, study.runs[0].id), 4).to_dict()["mcc"],
        results.read_results(seed2).to_dict()["mcc"],
    ]
    assert row["mcc@4"]["mean"] == pytest.approx(sum(at_4) / 2)  # seed 2's end is its score at 4
    assert row["mcc@4"]["std"] is not None
    assert [e["ends"] for e in table["mixed_ends"]] == [{"1": 6, "2": 4}]
    assert "seed 2 at 4), so its end-of-run columns mix" in render(table)
    page = write_study_report(out, "extended", table, [], out=tmp_path / "page.html").read_text()
    assert table["mixed_ends"][0]["note"] in page  # the study page says it under its table too

    for changed in ("seeds = [1]\nsteps = 6\nhyper = { gamma = 3.0 }", "seeds = [2]\nsteps = 6"):
        bad = split.replace("seeds = [1]\nsteps = 6", changed)
        with pytest.raises(SlowVAEError, match="labelled 'slowvae' and differ|the same run"):
            parse_study(bad)


def test_a_run_started_by_older_code_resumes_and_scores_its_kept_checkpoints(tmp_path):
    from slowvae.config import TrainConfig, make_pair_source
    from slowvae.rundir import init_run_dir
    from slowvae.train import train

    study = parse_study(STUDY)
    (spec,) = study.runs
    out = tmp_path / "out"
    prepare(study, out)
    path = run_dir(out, spec.id)
    record = json.loads((path / runner.RECORD_FILE).read_text())
    record["config"].update(keep_checkpoints=True, checkpoint_every=2)  # what older code saved
    (path / runner.RECORD_FILE).write_text(json.dumps(record))
    config = TrainConfig(**{**record["config"], "steps": 3})
    init_run_dir(path, config, make_pair_source(config))
    train(path)  # older code trained past at_steps without scoring them
    assert conflicts(study, out) == []
    assert runner.plan(path, record) == [("score", 2, "step_2.pt"), ("train", 4, None), ("finish", 4, "last.pt")]
    assert runner.execute_run(path) == runner.FINISHED
    assert results.read_step(path, 2).checkpoint == "step_2.pt" and results.read_results(path).step == 4


def test_headlines_and_costs_come_from_the_metric_registry(monkeypatch):
    import dataclasses

    from slowvae.metrics.registry import METRICS, headline_key
    from slowvae.study.core import scoring_seconds

    assert (headline_key("beta_vae"), headline_key("dci"), headline_key("udr")) == (
        "beta_vae_eval",
        "dci_disentanglement",
        "udr",
    )
    evaluate = parse_study(STUDY.replace("samples = 200", 'samples = 200\nmetrics = ["mcc", "dci"]')).runs[0].evaluate
    base = scoring_seconds(evaluate)  # fast preset: the fast DCI path costs no fitting estimate
    entry = dataclasses.replace(
        METRICS["dci"], cost=lambda s: (4000 * s["num_train"], 7.0), headline="dci_completeness"
    )
    monkeypatch.setitem(METRICS, "dci", entry)
    assert scoring_seconds(evaluate) == pytest.approx(base + 1000 + 7.0)  # 4e6 images at 4000 images/s
    assert headline_key("dci") == "dci_completeness"


def test_step_zero_scores_the_untrained_network_and_training_goes_on_exactly(tmp_path):
    text = STUDY.replace("at_steps = [2, 8]", "at_steps = [0]").replace("steps = 4", "steps = 3")
    (spec,) = parse_study(text).runs
    prepare(parse_study(text), tmp_path / "a")
    path = run_dir(tmp_path / "a", spec.id)
    assert runner.plan(path, spec.record()) == [("score", 0, "untrained"), ("train", 3, None), ("finish", 3, "last.pt")]
    assert runner.execute_run(path) == runner.FINISHED
    zero = results.read_step(path, 0)
    assert zero.step == 0 and zero.value("mcc") == pytest.approx(zero.value("mcc_untrained"))
    plain = parse_study(text.replace("at_steps = [0]", ""))
    prepare(plain, tmp_path / "b")
    assert runner.execute_run(run_dir(tmp_path / "b", spec.id)) == runner.FINISHED
    a, b = _weights(path), _weights(run_dir(tmp_path / "b", spec.id))
    assert all(torch.equal(a[k], b[k]) for k in a)


class _Rank0:
    """Rank 0 of a distributed run, as the runner sees it (one process here: the ranks' collectives are no-ops)."""

    active, is_main, device = True, True, "cpu"

    def barrier(self) -> None:
        pass


def test_a_distributed_run_trains_first_and_scores_each_step_from_a_copy_it_then_removes(tmp_path):
    text = STUDY.replace("at_steps = [2, 8]", "at_steps = [0, 2, 3]")
    study = parse_study(text)
    (spec,) = study.runs
    for name in ("ddp", "single"):
        prepare(study, tmp_path / name)
    ddp_path, single = run_dir(tmp_path / "ddp", spec.id), run_dir(tmp_path / "single", spec.id)
    runner._prepare(ddp_path, spec.record())
    actions = runner.plan(ddp_path, spec.record())
    assert runner.trains_first(actions) == [
        ("train", 2, None),
        ("keep", 2, "step_2.pt"),
        ("train", 3, None),
        ("keep", 3, "step_3.pt"),
        ("train", 4, None),
        ("score", 0, "untrained"),
        ("score", 2, "step_2.pt"),
        ("score", 3, "step_3.pt"),
        ("finish", 4, "last.pt"),
    ]
    runner._advance(ddp_path, spec.record(), actions, _Rank0(), None, lambda _msg: None)
    assert runner.execute_run(single) == runner.FINISHED
    assert not list((ddp_path / "checkpoints").glob("step_*.pt"))  # the copies are gone once scored
    for step in (0, 2, 3):
        a, b = results.read_step(ddp_path, step), results.read_step(single, step)
        assert a.step == b.step == step and a.value("mcc_per_factor") == b.value("mcc_per_factor")
    assert results.read_results(ddp_path).to_dict()["at_steps"] == results.read_results(single).to_dict()["at_steps"]
