"""Run assembly: the typed config of a run, its PairSource and model, device and precision, and
loading a trained run (:func:`load_run`).

Below :mod:`slowvae.train`, :mod:`slowvae.evaluate` and :mod:`slowvae.identifiability`: they
build runs from here, and nothing here trains or scores.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slowvae import __version__, rundir
from slowvae.data import dataset_entry, get_pair_source
from slowvae.data.frames import Progress
from slowvae.data.pairs import PairSource
from slowvae.data.transitions import make_transitions
from slowvae.errors import SlowVAEError
from slowvae.models import PairModel, build_model, model_class
from slowvae.models.base import resolve_hyper

#: training precisions: the dtype the networks' matmuls and convolutions autocast to
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}
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
    accepts (``DatasetEntry.extra["options"]``; for ``frames:``, ``max_dt`` and ``binary``).
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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def use_fast_layout(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Put ``model``'s convolution weights in channels_last on a CPU (oneDNN's fast layout: the fp32
    training step ran 1.32x faster in it on an AVX2 CPU, and bf16 convolutions need it); returns it.
    Results are the same up to float rounding; checkpoints store the usual tensors."""
    if device.type == "cpu":
        model.to(memory_format=torch.channels_last)
    return model


def learning_rate(config: TrainConfig, step: int) -> float:
    """The learning rate of the optimizer step after ``step`` steps taken: ``config.lr``, scaled by
    ``(step + 1) / warmup_steps`` during the warm-up. A function of the step alone, so resuming
    from a checkpoint continues the same schedule."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    return config.lr


def dataset_options(name: str) -> tuple[str, ...]:
    """The keyword options the entry of dataset ``name`` declares its factories accept
    (``DatasetEntry.extra["options"]``; none for most datasets)."""
    return tuple(dataset_entry(name)[0].extra.get("options", ()))


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


def native_bf16(device: str) -> bool:
    """Whether ``device`` ("auto", "cpu", "cuda[:N]") computes bf16 natively: a CUDA device with
    bf16 support, or a CPU with AVX-512-BF16 or AMX. There bf16 autocast is the default precision
    (benchmarks/README.md compares it with fp32)."""
    if device != "cpu" and torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    if device.startswith("cuda"):
        return False
    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(check() for check in checks if check is not None)


def resolve_precision(name: str, device: str) -> str:
    """``"fp32"`` or ``"bf16"`` for a precision name (``"auto"``, ``"fp32"``, ``"bf16"``) on ``device``:
    ``auto`` is bf16 where :func:`native_bf16`, else fp32. The one rule for training and evaluation."""
    if name == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if name not in PRECISIONS:
        raise SlowVAEError(f"precision must be auto or one of {', '.join(PRECISIONS)}, got {name!r}")
    return name


def resolve_device(name: str) -> torch.device:
    """``auto`` picks the local CUDA device when available, else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SlowVAEError("--device cuda was asked for, but this PyTorch build sees no CUDA device")
    return device


# --------------------------------------------------------------------------------------------
# images -> float tensors (the one place the uint8 -> [0, 1] conversion happens)


def images_to_tensor(images: np.ndarray, binary: bool, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 images (..., C, H, W) -> float32 in [0, 1] on ``device``: 0/1 pixels of a binary
    source as they are, 0..255 pixels divided by 255."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device, non_blocking=True).float()
    return x if binary else x.div_(255)


def batch_to_tensor(x_t: np.ndarray, x_next: np.ndarray, binary: bool, device: torch.device) -> torch.Tensor:
    """Two uint8 frame batches (B, C, H, W) -> float (2, B, C, H, W) in [0, 1] on ``device``."""
    return images_to_tensor(np.stack([x_t, x_next]), binary, device)


def encode_images(
    model: PairModel, images: np.ndarray, binary: bool, *, batch_size: int = 1024, precision: str = "fp32"
) -> np.ndarray:
    """Posterior means (N, D) float64 of uint8 images (N, C, 64, 64), in batches under inference mode.

    ``precision`` "bf16" encodes under bf16 autocast (convolutions and matmuls take bf16 inputs and
    accumulate in float32; the means are rounded to bf16, 8 significant bits): faster where the
    hardware has native bf16, elsewhere the same numbers, slowly. "auto" is bf16 where the hardware
    has native bf16 (:func:`resolve_precision`); "fp32" encodes in float32.
    """
    device = next(model.parameters()).device
    amp = PRECISIONS[resolve_precision(precision, str(device))]
    out = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
        for start in range(0, len(images), batch_size):
            x = images_to_tensor(images[start : start + batch_size], binary, device)
            out.append(model.encode(x).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.z_dim))


# --------------------------------------------------------------------------------------------
# the training step (shared by the image loop in train.py and the vector experiment)


class NonFiniteLoss(SlowVAEError):
    """A training step's loss was NaN or infinite; the optimizer did not step. ``value`` is the loss."""

    def __init__(self, value: float) -> None:
        super().__init__(f"the loss became {value}")
        self.value = value


def optimizer_step(
    optimizer: torch.optim.Optimizer, loss: torch.Tensor, before_step: Callable[[], None] | None = None
) -> None:
    """Minimise ``loss`` (a scalar) by one step of ``optimizer``: raise :class:`NonFiniteLoss` if it
    is not finite, else zero the gradients, backpropagate, call ``before_step`` (e.g. to average
    gradients over processes) and step."""
    if not torch.isfinite(loss):
        raise NonFiniteLoss(loss.item())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if before_step is not None:
        before_step()
    optimizer.step()


def training_step(
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: torch.Tensor,
    generator: torch.Generator | None,
    *,
    amp_dtype: torch.dtype | None = None,
    **forward_kwargs: Any,
) -> dict[str, torch.Tensor]:
    """One training step on a pair batch (2, B, ...): ``net(batch, generator, **forward_kwargs)``
    (autocast to ``amp_dtype`` when given), then :func:`optimizer_step` on its ``"loss"``.
    ``forward_kwargs`` carry per-step values such as a schedule's. Returns the forward's terms."""
    device_type = batch.device.type
    with torch.autocast(device_type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        terms = net(batch, generator, **forward_kwargs)
    optimizer_step(optimizer, terms["loss"])
    return terms


# --------------------------------------------------------------------------------------------
# run directories


def init_run_dir(run_dir: Path | str, config: TrainConfig, source: PairSource | None = None) -> None:
    """Create a fresh run directory holding config.json; refuses to overwrite an existing run.

    With ``source`` (the run's PairSource) its image format (``channels``, ``binary``) is saved
    too, so that :func:`load_run` needs no data to rebuild the model.
    """
    run_dir = Path(run_dir)
    if (run_dir / rundir.CONFIG_FILE).exists():
        raise SlowVAEError(
            f"{run_dir} already holds a run; continue it with `slowvae train --resume {run_dir}` "
            "or choose another --out"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "config": config.to_dict(),
        "slowvae_version": __version__,
        "git_commit": rundir.git_commit(),
        "torch_version": torch.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if source is not None:
        meta["images"] = {"channels": int(source.channels), "binary": bool(source.binary)}
    rundir.atomic_write_json(run_dir / rundir.CONFIG_FILE, meta)


def load_run_config(run_dir: Path | str) -> TrainConfig:
    """The TrainConfig saved in a run directory. A config saved before ``precision`` existed
    reads as fp32, the only precision runs had then (not as "auto", which may resolve to bf16)."""
    return TrainConfig.from_dict({"precision": "fp32", **rundir.read_config(Path(run_dir))["config"]})


def update_run_config(run_dir: Path | str, config: TrainConfig) -> None:
    """Rewrite config.json with a changed config (for example more steps on resume)."""
    meta = rundir.read_config(Path(run_dir))
    meta["config"] = config.to_dict()
    rundir.atomic_write_json(Path(run_dir) / rundir.CONFIG_FILE, meta)


def checkpoint_path(run_dir: Path | str, checkpoint: str | None = None) -> Path:
    """``RUN_DIR/checkpoints/last.pt``, the named file in ``checkpoints/``, or a checkpoint file path."""
    if checkpoint and Path(checkpoint).is_file():
        return Path(checkpoint)
    return Path(run_dir) / rundir.CHECKPOINT_DIR / (checkpoint or rundir.LAST_CHECKPOINT)


def run_truth(run_dir: Path | str, truth: Path | str | None = None) -> Path | None:
    """The ground-truth CSV to score a ``frames:`` run with: ``truth`` if given, else the
    ``truth.csv`` saved in the run by ``train --truth``, else None."""
    saved = Path(run_dir) / rundir.TRUTH_FILE
    return Path(truth) if truth is not None else saved if saved.is_file() else None


def load_model(
    run_dir: Path | str, checkpoint: str | None = None, device: str = "cpu", truth: Path | str | None = None
) -> tuple[PairModel, TrainConfig, int, PairSource]:
    """The trained model of a run (``checkpoints/last.pt`` or the named checkpoint file), its
    config, the step it was saved at and the run's PairSource (with ground truth ``truth`` for
    ``frames:`` data, see :func:`run_truth`). The model is in eval mode."""
    config = load_run_config(run_dir)
    source = make_pair_source(config, truth=run_truth(run_dir, truth))
    model, step = _trained_model(run_dir, config, source.channels, checkpoint, device)
    return model, config, step, source


def _trained_model(
    run_dir: Path | str, config: TrainConfig, channels: int, checkpoint: str | None, device: str
) -> tuple[PairModel, int]:
    path = checkpoint_path(run_dir, checkpoint)
    ckpt = rundir.load_checkpoint(path)
    model = new_model(config, channels)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise SlowVAEError(f"{path} does not fit the run's model {config.model!r}: {err}") from None
    return model.to(resolve_device(device)).eval(), int(ckpt.get("step", -1))


# --------------------------------------------------------------------------------------------
# load_run: a trained run as an encoder / decoder of numpy images


class Run:
    """A trained run, for use from Python (see :func:`load_run`).

    ``config`` is its :class:`TrainConfig`, ``model`` the trained model (eval mode), ``step`` the
    step of the loaded checkpoint, ``channels`` and ``binary`` the image format it was trained on.
    """

    def __init__(
        self,
        run_dir: Path,
        config: TrainConfig,
        model: PairModel,
        step: int,
        channels: int,
        binary: bool,
        batch_size: int = 1024,
    ) -> None:
        self.run_dir, self.config, self.model, self.step = run_dir, config, model, step
        self.channels, self.binary, self.batch_size = channels, binary, batch_size

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _as_tensor(self, images: np.ndarray) -> torch.Tensor:
        x = np.asarray(images)
        if x.ndim == 3 and self.channels == 1:
            x = x[:, None]
        if x.ndim != 4 or x.shape[1:] != (self.channels, 64, 64):
            grey = " or (N, 64, 64)" if self.channels == 1 else ""
            raise SlowVAEError(
                f"images must have shape (N, {self.channels}, 64, 64){grey} for this run, got {tuple(x.shape)}"
            )
        if x.dtype == np.uint8:
            # a binary run's images are 0/1; a 0/255 mask is accepted as well
            return images_to_tensor(x, self.binary and (x.size == 0 or int(x.max()) <= 1), self.device)
        if not np.issubdtype(x.dtype, np.floating):
            raise SlowVAEError(f"images must be uint8 (0..255) or float in [0, 1], got dtype {x.dtype}")
        if x.size and (not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1):
            raise SlowVAEError("float images must be finite and in [0, 1]")
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Codes (N, D) float64 of images (N, C, 64, 64) or (N, 64, 64), uint8 or float in [0, 1]:
        posterior means for the VAEs, the encoder's output for the contrastive models."""
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                x = self._as_tensor(images[start : start + self.batch_size])
                out.append(self.model.encode(x).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model.z_dim))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Images (N, C, 64, 64) float32 in [0, 1] (Bernoulli means) decoded from codes (N, D)."""
        if self.model.decoder is None:
            self.model.decode(torch.zeros(0, self.model.z_dim))  # raises the model's own error
        z = np.asarray(codes, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.model.z_dim:
            raise SlowVAEError(f"codes must have shape (N, {self.model.z_dim}), got {tuple(z.shape)}")
        out = []
        with torch.inference_mode():
            for start in range(0, len(z), self.batch_size):
                batch = torch.from_numpy(z[start : start + self.batch_size]).to(self.device)
                out.append(self.model.decode(batch).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.channels, 64, 64), np.float32)


def load_run(run_dir: Path | str, *, checkpoint: str | None = None, device: str = "cpu") -> Run:
    """The trained run in ``run_dir`` (its last checkpoint, or ``checkpoint``) on ``device``.

    ``load_run(d).encode(images)`` gives codes (N, D) of images (N, C, 64, 64) or (N, 64, 64),
    uint8 or float; ``.decode(codes)`` images (N, C, 64, 64) for the VAEs; ``.config`` and
    ``.model`` are the run's TrainConfig and trained model.
    """
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    images = rundir.read_config(run_dir).get("images")
    if images is None:  # a run made before the image format was saved: ask its data
        source = make_pair_source(config)
        images = {"channels": source.channels, "binary": source.binary}
    model, step = _trained_model(run_dir, config, int(images["channels"]), checkpoint, device)
    return Run(run_dir, config, model, step, int(images["channels"]), bool(images["binary"]))
