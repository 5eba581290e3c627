"""The run configuration: the typed config of a run (:class:`TrainConfig`), its learning-rate
schedule, and what it builds: its PairSource (:func:`make_pair_source`) and untrained model
(:func:`new_model`).

Below :mod:`slowvae.rundir`, :mod:`slowvae.train` and :mod:`slowvae.evaluate`; it imports only
data, models and :mod:`slowvae.hardware`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from slowvae.data import dataset_entry, get_pair_source
from slowvae.data.frames import Progress
from slowvae.data.pairs import PairSource
from slowvae.data.transitions import make_transitions
from slowvae.errors import SlowVAEError
from slowvae.hardware import resolve_precision
from slowvae.models import PairModel, build_model, model_class
from slowvae.models.base import resolve_hyper

#: dataset options that :func:`make_pair_source` passes itself (never saved in a config): the
#: ground-truth CSV of the run and the decoding progress callback
_SOURCE_ARGUMENTS = ("truth", "progress")


@dataclass
class TrainConfig:
    """Everything that determines a training run (saved as the run's config.json).

    Defaults follow the SlowVAE reference (Klindt et al. 2021, appendix) except ``steps`` (the
    reference trains 300,000) and ``checkpoint_every``. ``model`` is a registered model name or
    ``package.module:ClassName``; ``dataset`` is a registered dataset name (``slowvae data list``)
    or ``PREFIX:ARGUMENT`` such as ``frames:PATH``, and ``dataset_options`` the options its entry
    accepts (``DatasetEntry.options``; for ``frames:``, ``max_dt`` and ``binary``).
    """

    dataset: str = "dsprites-procedural"
    dataset_options: dict[str, Any] = field(default_factory=dict)  # e.g. frames: {"max_dt": 2, "binary": True}
    transitions: str = "laplace"  # "laplace" (LAP) or "uniform" (LOC)
    data_rate: float | None = 1.0  # LAP rate; None draws U(1, 10) per pair
    k: int | None = None  # LOC: factors changed per pair; None draws U{1..K-1}
    model: str = "slowvae"
    hyper: dict[str, float] = field(default_factory=dict)  # model hyperparameters (`slowvae models` lists them)
    z_dim: int = 10
    batch_pairs: int = 32  # pairs per step and per process: 64 images
    steps: int = 300_000
    lr: float = 1e-4
    warmup_steps: int = 0  # the learning rate rises linearly from lr / warmup_steps to lr over these steps
    # learning rates set on resume (`train --resume RUN --lr X`): [{"step": N, "lr": X}, ...] by step;
    # from step N on the lr is X (see learning_rate); saved in config.json only when not empty
    lr_changes: list[dict[str, Any]] = field(default_factory=list)
    seed: int = 1
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    precision: str = "auto"  # "fp32", "bf16" (autocast of the networks; losses stay float32), or
    # "auto": bf16 where the hardware runs it natively, else fp32; resolved and saved as one of those
    compile: bool = False  # torch.compile (inductor) of the training step; the same losses as eager up to rounding
    checkpoint_every: int = 10_000
    keep_checkpoints: bool = False  # also keep checkpoints/step_N.pt at every checkpoint
    log_every: int = 100
    tensorboard: bool = False

    def __post_init__(self) -> None:
        cls = model_class(self.model)
        self.hyper = resolve_hyper(self.model, cls.defaults, self.hyper)
        cls.check_hyper(self.hyper)
        for name in ("steps", "batch_pairs", "checkpoint_every", "log_every", "z_dim"):
            if getattr(self, name) < 1:
                raise SlowVAEError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.dataset_options:
            unknown = sorted(set(self.dataset_options) - set(settable_options(self.dataset)))
            if unknown:
                flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
                raise SlowVAEError(f"{flags} does not apply to dataset {self.dataset!r}")
        self.precision = resolve_precision(self.precision, self.device)
        if not self.lr > 0:
            raise SlowVAEError(f"learning rate must be positive, got {self.lr}")
        if self.warmup_steps < 0:
            raise SlowVAEError(f"warmup_steps must be 0 or more, got {self.warmup_steps}")
        self.lr_changes = _checked_lr_changes(self.lr_changes)

    def to_dict(self) -> dict[str, Any]:
        """The config as config.json holds it; ``lr_changes`` only when not empty, so the config (and
        study run id) of a run never resumed with ``--lr`` is what it was before lr_changes existed."""
        out = dataclasses.asdict(self)
        if not self.lr_changes:
            del out["lr_changes"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _checked_lr_changes(changes: Any) -> list[dict[str, Any]]:
    """``lr_changes`` as ``[{"step": int, "lr": float}, ...]``, checked: steps 0 or more and rising, rates positive."""
    if not isinstance(changes, list):
        raise SlowVAEError(f'lr_changes must be a list of {{"step": N, "lr": X}}, got {changes!r}')
    out: list[dict[str, Any]] = []
    for change in changes:
        if not isinstance(change, dict) or set(change) != {"step", "lr"}:
            raise SlowVAEError(f'each of lr_changes must be {{"step": N, "lr": X}}, got {change!r}')
        step, lr = int(change["step"]), float(change["lr"])
        if step < 0 or not lr > 0 or (out and step <= out[-1]["step"]):
            raise SlowVAEError(f"lr_changes need rising steps from 0 and positive rates, got {changes!r}")
        out.append({"step": step, "lr": lr})
    return out


def change_lr(config: TrainConfig, step: int, lr: float) -> TrainConfig:
    """``config`` with the learning rate ``lr`` from ``step`` on (``train --resume RUN --lr X`` at the
    step it resumes from): appended to ``lr_changes``, replacing changes at or after ``step``."""
    if not lr > 0:
        raise SlowVAEError(f"learning rate must be positive, got {lr}")
    kept = [c for c in config.lr_changes if c["step"] < step]
    return dataclasses.replace(config, lr_changes=[*kept, {"step": step, "lr": lr}])


def learning_rate(config: TrainConfig, step: int) -> float:
    """The learning rate of the optimizer step after ``step`` steps taken: the rate of the last of
    ``config.lr_changes`` whose step is at most ``step``; before any change ``config.lr``, scaled by
    ``(step + 1) / warmup_steps`` during the warm-up. A function of the step alone, so resuming
    from a checkpoint continues the same schedule."""
    changed = [c["lr"] for c in config.lr_changes if c["step"] <= step]
    if changed:
        return changed[-1]
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    return config.lr


def dataset_options(name: str) -> tuple[str, ...]:
    """The keyword options the entry of dataset ``name`` declares its factories accept
    (``DatasetEntry.options``; none for most datasets)."""
    return dataset_entry(name)[0].options


def settable_options(name: str) -> tuple[str, ...]:
    """The options of dataset ``name`` a run's config may set (``dataset_options``): those of
    :func:`dataset_options` but the ones a command passes (``truth``, ``progress``)."""
    return tuple(o for o in dataset_options(name) if o not in _SOURCE_ARGUMENTS)


def make_pair_source(
    config: TrainConfig, *, truth: Path | str | None = None, progress: Progress | None = None
) -> PairSource:
    """The PairSource a config trains on, with its ``dataset_options``. ``truth`` is a
    ground-truth CSV (``frames:`` data; a SlowVAEError for datasets with their own), ``progress``
    reports the one-time decoding of datasets that decode (``frames:``)."""
    if config.transitions == "laplace":
        transitions = make_transitions("laplace", rate=config.data_rate)
    else:
        transitions = make_transitions(config.transitions, k=config.k)
    options = dict(config.dataset_options)
    if truth is not None or progress is not None:
        accepted = dataset_options(config.dataset)
        if truth is not None:
            if "truth" not in accepted:
                raise SlowVAEError(f"--truth gives ground truth to frames:PATH data; {config.dataset!r} has its own")
            options["truth"] = truth
        if progress is not None and "progress" in accepted:
            options["progress"] = progress
    return get_pair_source(config.dataset, transitions, **options)


def new_model(config: TrainConfig, channels: int) -> PairModel:
    """The model of ``config``, initialised from the run's seed (the untrained network of the run)."""
    torch.manual_seed(config.seed)
    return build_model(config.model, channels=channels, z_dim=config.z_dim, **config.hyper)
