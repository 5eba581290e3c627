"""The NaN guard keeps its promises (issue 27 item 2): no checkpoint with a non-finite state, messages
that name what exists, `train --resume RUN --lr X` recorded as lr_changes; and a resumed run's log rows
equal an uninterrupted run's (item 13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from slowvae import rundir
from slowvae.cli import main
from slowvae.config import TrainConfig, change_lr, learning_rate
from slowvae.errors import SlowVAEError
from slowvae.rundir import init_run_dir, update_run_config
from slowvae.study.spec import identity
from slowvae.train import TrainingStopped, train

SMALL = dict(batch_pairs=4, seed=3)
QUIET = ["--batch-pairs", "4", "--seed", "3", "--no-eval", "--no-report"]


def _ckpt(run: Path) -> dict:
    return rundir.load_checkpoint(run / "checkpoints" / "last.pt")


def _all_finite(state) -> bool:
    if isinstance(state, torch.Tensor):
        return not state.is_floating_point() or bool(torch.isfinite(state).all())
    if isinstance(state, dict):
        return all(_all_finite(v) for v in state.values())
    if isinstance(state, (list, tuple)):
        return all(_all_finite(v) for v in state)
    return True


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_learning_rate_follows_lr_changes_and_empty_changes_keep_config_and_id():
    config = TrainConfig(lr=1e-3, warmup_steps=4, lr_changes=[{"step": 2, "lr": 5e-5}, {"step": 6, "lr": 1e-5}])
    assert [learning_rate(config, s) for s in range(8)] == pytest.approx(
        [2.5e-4, 5e-4, 5e-5, 5e-5, 5e-5, 5e-5, 1e-5, 1e-5]
    )
    plain = TrainConfig(lr=1e-3)
    assert "lr_changes" not in plain.to_dict()  # config.json and study ids as before lr_changes existed
    assert identity(plain.to_dict()) == identity({**plain.to_dict(), "lr_changes": []})
    changed = change_lr(config, 4, 2e-5)  # replaces the change at step 6, a future the resume discards
    assert changed.lr_changes == [{"step": 2, "lr": 5e-5}, {"step": 4, "lr": 2e-5}]
    assert TrainConfig.from_dict(json.loads(json.dumps(changed.to_dict()))) == changed
    assert identity(changed.to_dict()) != identity(config.to_dict())
    for bad in ([{"step": 3, "lr": 0.0}], [{"step": 3, "lr": 1e-4}, {"step": 2, "lr": 1e-4}], [{"at": 1}], "x"):
        with pytest.raises(SlowVAEError, match="lr_changes"):
            TrainConfig(lr_changes=bad)
    with pytest.raises(SlowVAEError, match="learning rate must be positive"):
        change_lr(config, 4, -1.0)


def test_a_non_finite_optimizer_state_is_never_checkpointed(tmp_path):
    """lr 10: the loss is finite at step 2 but Adam's exp_avg_sq holds inf; that checkpoint is not
    written, the step-1 one stays, and the message names it and the command that continues."""
    run = tmp_path / "run"
    init_run_dir(run, TrainConfig(steps=6, lr=10.0, checkpoint_every=1, log_every=1, **SMALL))
    with pytest.raises(TrainingStopped) as stopped:
        train(run)
    ckpt = run / "checkpoints" / "last.pt"
    assert str(stopped.value) == (
        "the optimizer state became infinite or NaN at step 2, so its checkpoint was not written; "
        f"the last good checkpoint ({ckpt}, all finite) holds step 1; continue from it with a lower learning rate, "
        f"e.g. `slowvae train --resume {run} --lr 1`; if that stops again at once, its weights had already "
        "diverged: start a new run with a lower --lr or different hyperparameters"
    )
    assert _ckpt(run)["step"] == 1 and _all_finite(_ckpt(run))


def test_an_auxiliary_optimizer_state_that_is_not_finite_is_not_checkpointed(tmp_path, monkeypatch):
    """FactorVAE's discriminator optimizer: an inf in its state stops training before the checkpoint."""
    import slowvae.train as train_module

    real = train_module.optimizer_step
    calls = {"n": 0}

    def poisoned(optimizer, loss, before_step=None):
        real(optimizer, loss, before_step)
        if before_step is not None:  # the auxiliary optimizer's step
            calls["n"] += 1
            if calls["n"] == 3:
                next(iter(optimizer.state.values()))["exp_avg_sq"].fill_(float("inf"))

    monkeypatch.setattr(train_module, "optimizer_step", poisoned)
    run = tmp_path / "run"
    init_run_dir(run, TrainConfig(model="factor-vae", steps=6, checkpoint_every=2, log_every=2, **SMALL))
    with pytest.raises(TrainingStopped, match="the auxiliary_optimizer state became infinite or NaN at step 4"):
        train(run)
    assert _ckpt(run)["step"] == 2 and _all_finite(_ckpt(run))


def test_lr_1e3_says_no_checkpoint_exists_and_resume_with_lower_lr_restarts(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--lr", "1e3", "--steps", "6", "--out", str(run), *QUIET]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "the loss became nan at step 2" in err
    assert "no checkpoint of this run exists, so it must start again" in err
    assert f"slowvae train --resume {run} --lr 100" in err and "last good checkpoint" not in err
    assert not (run / "checkpoints" / "last.pt").exists()
    assert main(["train", "--resume", str(run), "--lr", "1e-4", "--no-eval", "--no-report"]) == 0
    assert _ckpt(run)["step"] == 6
    assert json.loads((run / "config.json").read_text())["config"]["lr_changes"] == [{"step": 0, "lr": 1e-4}]
    assert [r["step"] for r in _rows(run)] == [6]  # the failed attempt's rows are gone


def test_nan_guard_advice_works_end_to_end(tmp_path, capsys):
    """--lr 1e1 --checkpoint-every 2: the step-2 checkpoint (inf in exp_avg_sq) is not written; the
    message's advice, a resume with a lower --lr, trains to the end with finite weights."""
    run = tmp_path / "run"
    argv = ["train", "--lr", "1e1", "--steps", "8", "--checkpoint-every", "2", "--log-every", "2", "--out", str(run)]
    assert main([*argv, *QUIET]) != 0
    err = capsys.readouterr().err
    assert "optimizer state became infinite or NaN at step 2, so its checkpoint was not written" in err
    assert not (run / "checkpoints" / "last.pt").exists()
    assert main(["train", "--resume", str(run), "--lr", "1e-4", "--no-eval", "--no-report"]) == 0
    assert _ckpt(run)["step"] == 8 and _all_finite(_ckpt(run))
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in _rows(run))


def test_resume_with_lr_equals_an_uninterrupted_run_with_the_same_lr_changes(tmp_path, capsys):
    changes = [{"step": 4, "lr": 2e-3}, {"step": 6, "lr": 5e-4}]
    full, plain, split = tmp_path / "full", tmp_path / "plain", tmp_path / "split"
    init_run_dir(full, TrainConfig(steps=9, lr_changes=changes, checkpoint_every=2, **SMALL))
    train(full)
    init_run_dir(plain, TrainConfig(steps=9, checkpoint_every=2, **SMALL))
    train(plain)
    base = ["--batch-pairs", "4", "--seed", "3", "--checkpoint-every", "2", "--no-eval", "--no-report"]
    assert main(["train", "--steps", "4", "--out", str(split), *base]) == 0
    assert main(["train", "--resume", str(split), "--steps", "6", "--lr", "2e-3", "--no-eval", "--no-report"]) == 0
    assert main(["train", "--resume", str(split), "--steps", "9", "--lr", "5e-4", "--no-eval", "--no-report"]) == 0
    assert json.loads((split / "config.json").read_text())["config"]["lr_changes"] == changes
    a, b = _ckpt(full)["model"], _ckpt(split)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["encoder.net.0.weight"], _ckpt(plain)["model"]["encoder.net.0.weight"])
    groups = _ckpt(split)["optimizer"]["param_groups"]
    assert groups[0]["lr"] == 5e-4


def test_a_resumed_run_logs_the_rows_of_an_uninterrupted_one(tmp_path):
    """Checkpoints at steps 3 and 6 are not on log steps (4, 8): an extension after step 5 and a crash
    after step 7 resume mid-interval, and every row still averages the same steps."""
    config = TrainConfig(steps=10, checkpoint_every=3, log_every=4, **SMALL)
    full, extended, crashed = tmp_path / "full", tmp_path / "extended", tmp_path / "crashed"
    init_run_dir(full, config)
    train(full)
    init_run_dir(extended, TrainConfig(**{**config.to_dict(), "steps": 5}))
    train(extended)
    assert [r["step"] for r in _rows(extended)] == [4, 5]
    update_run_config(extended, config)
    train(extended, resume=True)

    def crash(report):
        if report.step == 7:
            raise KeyboardInterrupt

    init_run_dir(crashed, config)
    with pytest.raises(KeyboardInterrupt):
        train(crashed, callback=crash)
    train(crashed, resume=True)
    expected = [{k: v for k, v in r.items() if k not in ("images_per_s", "seconds")} for r in _rows(full)]
    assert [r["step"] for r in expected] == [4, 8, 10]
    for run in (extended, crashed):
        rows = [{k: v for k, v in r.items() if k not in ("images_per_s", "seconds")} for r in _rows(run)]
        assert rows == expected, run


def test_a_checkpoint_without_log_state_still_resumes(tmp_path):
    """Checkpoints written before the log interval was saved load; the first row then covers fewer steps."""
    run = tmp_path / "run"
    init_run_dir(run, TrainConfig(steps=5, checkpoint_every=3, log_every=4, **SMALL))
    train(run)
    path = run / "checkpoints" / "last.pt"
    old = _ckpt(run)
    del old["log"]
    torch.save(old, path)
    update_run_config(run, TrainConfig(steps=8, checkpoint_every=3, log_every=4, **SMALL))
    train(run, resume=True)
    assert [r["step"] for r in _rows(run)] == [4, 5, 8] and _ckpt(run)["step"] == 8
