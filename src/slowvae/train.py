"""The training loop: seeds, optimizer, checkpoints, exact resume, NaN guard and DDP.

One readable loop (in the spirit of nanoGPT). Nothing here parses arguments or draws progress
bars: :func:`train` takes a :class:`TrainConfig` and reports through a callback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist

from slowvae import __version__, rundir
from slowvae.data import dataset_option_names, get_pair_source
from slowvae.data.pairs import PairSource
from slowvae.data.transitions import make_transitions
from slowvae.errors import SlowVAEError
from slowvae.models import MODELS, PairModel, build_model
from slowvae.models.base import resolve_hyper

CHECKPOINT_FORMAT = 1
#: training precisions: the dtype the networks' matmuls and convolutions autocast to
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


@dataclass
class TrainConfig:
    """Everything that determines a training run (saved as the run's config.json).

    Defaults follow the SlowVAE reference (slowvae.md §2.4) except ``steps`` (the reference
    trains 300,000) and ``checkpoint_every``.
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
    seed: int = 1
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    precision: str = "auto"  # "fp32", "bf16" (autocast of the networks; losses stay float32), or
    # "auto": bf16 where the hardware runs it natively, else fp32; resolved and saved as one of those
    checkpoint_every: int = 10_000
    keep_checkpoints: bool = False  # also keep checkpoints/step_N.pt at every checkpoint
    log_every: int = 100
    tensorboard: bool = False

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise SlowVAEError(f"unknown model {self.model!r}; known: {', '.join(sorted(MODELS))}")
        self.hyper = resolve_hyper(self.model, MODELS[self.model].defaults, self.hyper)
        MODELS[self.model].check_hyper(self.hyper)
        for name in ("steps", "batch_pairs", "checkpoint_every", "log_every", "z_dim"):
            if getattr(self, name) < 1:
                raise SlowVAEError(f"{name} must be at least 1, got {getattr(self, name)}")
        accepted = set(dataset_option_names(self.dataset)) - {"truth"}  # a run's truth is its truth.csv
        unknown = sorted(set(self.dataset_options) - accepted)
        if unknown:
            flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
            raise SlowVAEError(f"{flags} does not apply to dataset {self.dataset!r} (only to frames:PATH)")
        if self.precision == "auto":
            self.precision = "bf16" if native_bf16(self.device) else "fp32"
        if self.precision not in PRECISIONS:
            raise SlowVAEError(f"precision must be auto or one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if not self.lr > 0:
            raise SlowVAEError(f"learning rate must be positive, got {self.lr}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class StepReport:
    """What the loop reports after each step: ``scalars`` holds interval means at log steps."""

    step: int
    steps: int
    scalars: dict[str, float] | None
    checkpointed: bool


class TrainingStopped(SlowVAEError):
    """Training stopped early (NaN loss or interrupt); the message says where work was kept."""


def make_pair_source(
    config: TrainConfig, *, truth: Path | str | None = None, progress: Callable[[int, int | None, str], None] | None = None
) -> PairSource:
    """The PairSource a config trains on; ``truth`` is a ground-truth CSV for ``frames:`` data,
    ``progress`` reports the one-time decoding of ``frames:`` data."""
    if config.transitions == "laplace":
        transitions = make_transitions("laplace", rate=config.data_rate)
    else:
        transitions = make_transitions(config.transitions, k=config.k)
    options = dict(config.dataset_options)
    if truth is not None:
        if "truth" not in dataset_option_names(config.dataset):
            raise SlowVAEError(f"--truth gives ground truth to frames:PATH data; {config.dataset!r} has its own")
        options["truth"] = truth
    return get_pair_source(config.dataset, transitions, progress=progress, **options)


def native_bf16(device: str) -> bool:
    """Whether ``device`` ("auto", "cpu", "cuda[:N]") computes bf16 natively: a CUDA device with
    bf16 support, or a CPU with AVX-512-BF16 or AMX. There bf16 autocast is the default precision:
    about 2x faster on such CPUs with MCC within 0.02 of fp32 (benchmarks/README.md)."""
    if device != "cpu" and torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    if device.startswith("cuda"):
        return False
    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(check() for check in checks if check is not None)


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


def batch_to_tensor(x_t: np.ndarray, x_next: np.ndarray, binary: bool, device: torch.device) -> torch.Tensor:
    """Two uint8 frame batches (B, C, H, W) -> float (2, B, C, H, W) in [0, 1] on ``device``."""
    batch = torch.from_numpy(np.stack([x_t, x_next])).to(device, non_blocking=True)
    return batch.float() if binary else batch.float().div_(255)


def new_model(config: TrainConfig, channels: int) -> PairModel:
    """The model of ``config``, initialised from the run's seed (the untrained network of the run)."""
    torch.manual_seed(config.seed)
    return build_model(config.model, channels=channels, z_dim=config.z_dim, **config.hyper)


class Distributed:
    """Rank and world size under torchrun (a single process otherwise); joins the process group."""

    def __init__(self, device: torch.device) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.active = self.world > 1
        if self.active and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def gather(self, obj: Any) -> list[Any]:
        if not self.active:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def average_gradients(self, params: list[torch.nn.Parameter]) -> None:
        """Average the gradients of ``params`` over the ranks (what DDP does for the main model)."""
        if self.active:
            for p in params:
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad.div_(self.world)


class _StopFlag:
    """SIGINT/SIGTERM set a flag that the loop checks between steps, so a checkpoint is consistent."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None:  # second interrupt: stop at once
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def init_run_dir(run_dir: Path, config: TrainConfig) -> None:
    """Create a fresh run directory holding config.json; refuses to overwrite an existing run."""
    run_dir = Path(run_dir)
    if (run_dir / rundir.CONFIG_FILE).exists():
        raise SlowVAEError(
            f"{run_dir} already holds a run; continue it with `slowvae train --resume {run_dir}` or choose another --out"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "config": config.to_dict(),
        "slowvae_version": __version__,
        "git_commit": rundir.git_commit(),
        "torch_version": torch.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    rundir.atomic_write_json(run_dir / rundir.CONFIG_FILE, meta)


def load_run_config(run_dir: Path) -> TrainConfig:
    """The TrainConfig saved in a run directory. A config saved before ``precision`` existed
    reads as fp32, the only precision runs had then (not as "auto", which may resolve to bf16)."""
    return TrainConfig.from_dict({"precision": "fp32", **rundir.read_config(run_dir)["config"]})


def update_run_config(run_dir: Path, config: TrainConfig) -> None:
    """Rewrite config.json with a changed config (for example more steps on resume)."""
    meta = rundir.read_config(run_dir)
    meta["config"] = config.to_dict()
    rundir.atomic_write_json(Path(run_dir) / rundir.CONFIG_FILE, meta)


def _truncate_log(path: Path, last_step: int) -> None:
    """Drop log lines written after the checkpoint we resume from (they will be written again)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= last_step:
                kept.append(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
    rundir.atomic_write_bytes(path, ("\n".join(kept) + "\n" if kept else "").encode())


def train(
    run_dir: Path | str,
    *,
    resume: bool = False,
    callback: Callable[[StepReport], None] | None = None,
) -> TrainConfig:
    """Train the run in ``run_dir`` (created with :func:`init_run_dir`) to its configured steps.

    With ``resume`` it continues from ``checkpoints/last.pt``: model, optimizer (and a model's
    auxiliary optimizer), every RNG state and the step, so the final weights equal those of an
    uninterrupted run. Before each forward the loop sets ``model.step``; a model with an
    ``auxiliary_optimizer`` gets one extra step per iteration on a fresh batch (see
    :mod:`slowvae.models.base`). Under
    torchrun each rank draws different pairs; rank 0 logs and checkpoints. Returns the config.
    """
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    device = resolve_device(config.device)
    ddp = Distributed(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)

    source = make_pair_source(config)
    model = new_model(config, source.channels).to(device)
    # a model with an auxiliary network (FactorVAE's discriminator) trains it with its own
    # optimizer on a fresh batch after each main step; the main optimizer leaves it alone
    aux_optimizer = model.auxiliary_optimizer()
    aux_params = [p for group in aux_optimizer.param_groups for p in group["params"]] if aux_optimizer else []
    aux_ids = {id(p) for p in aux_params}
    optimizer = torch.optim.Adam([p for p in model.parameters() if id(p) not in aux_ids], lr=config.lr, betas=(0.9, 0.999))
    seeds = np.random.SeedSequence(config.seed).spawn(ddp.world)[ddp.rank]
    rng = np.random.default_rng(seeds)
    generator = torch.Generator(device=device).manual_seed(int(seeds.generate_state(1)[0]))

    ckpt_path = run_dir / rundir.CHECKPOINT_DIR / rundir.LAST_CHECKPOINT
    step = 0
    if resume:
        ckpt = rundir.load_checkpoint(ckpt_path, map_location=device)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if aux_optimizer is not None:
            aux_optimizer.load_state_dict(ckpt["auxiliary_optimizer"])
        step = int(ckpt["step"])
        states = ckpt["rng"]
        if len(states) != ddp.world:
            raise SlowVAEError(
                f"{ckpt_path} was written by {len(states)} process(es); resume it with the same number (now {ddp.world})"
            )
        rng.bit_generator.state = states[ddp.rank]["numpy"]
        generator.set_state(states[ddp.rank]["torch"].cpu() if device.type == "cpu" else states[ddp.rank]["torch"])
        if ddp.is_main:
            _truncate_log(run_dir / rundir.LOG_FILE, step)

    amp_dtype = PRECISIONS[config.precision]
    if amp_dtype is not None and device.type == "cpu":
        model.to(memory_format=torch.channels_last)  # oneDNN's fast layout for bf16 convolutions
    net: torch.nn.Module = model
    if ddp.active:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    writer = _tensorboard_writer(run_dir) if (config.tensorboard and ddp.is_main) else None
    log_file = open(run_dir / rundir.LOG_FILE, "a") if ddp.is_main else None

    def save(at_step: int) -> None:
        states = ddp.gather({"numpy": rng.bit_generator.state, "torch": generator.get_state().cpu()})
        if ddp.is_main:
            ckpt = {
                "format": CHECKPOINT_FORMAT,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "step": at_step,
                "rng": states,
                "config": config.to_dict(),
            }
            if aux_optimizer is not None:
                ckpt["auxiliary_optimizer"] = aux_optimizer.state_dict()
            rundir.atomic_torch_save(ckpt_path, ckpt)
            if config.keep_checkpoints:
                rundir.atomic_torch_save(ckpt_path.with_name(f"step_{at_step}.pt"), ckpt)
        ddp.barrier()

    if config.keep_checkpoints and step == 0:
        save(0)  # the untrained network, for curves that start at step 0
    sums: dict[str, torch.Tensor] = {}
    interval_start, interval_steps = time.perf_counter(), 0
    try:
        with _StopFlag() as stop:
            while step < config.steps:
                x_t, x_next, _, _ = source.sample_pairs(config.batch_pairs, rng)
                batch = batch_to_tensor(x_t, x_next, source.binary, device)
                model.step = step  # steps already taken, for schedules (AnnealedVAE)
                with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                    terms = net(batch, generator)
                _check_finite(terms["loss"], step, ckpt_path, run_dir)
                optimizer.zero_grad(set_to_none=True)
                terms["loss"].backward()
                optimizer.step()
                if aux_optimizer is not None:
                    x_t, x_next, _, _ = source.sample_pairs(config.batch_pairs, rng)
                    aux = model.auxiliary_loss(batch_to_tensor(x_t, x_next, source.binary, device), generator)
                    _check_finite(aux["loss"], step, ckpt_path, run_dir)
                    aux_optimizer.zero_grad(set_to_none=True)
                    aux["loss"].backward()
                    ddp.average_gradients(aux_params)
                    aux_optimizer.step()
                    terms.update({f"aux_{k}": v for k, v in aux.items()})
                step += 1
                for key, value in terms.items():
                    sums[key] = sums.get(key, 0) + value.detach()
                interval_steps += 1

                scalars = None
                if step % config.log_every == 0 or step == config.steps:
                    elapsed = time.perf_counter() - interval_start
                    scalars = {k: float(v) / interval_steps for k, v in sums.items()}
                    scalars["images_per_s"] = interval_steps * 2 * config.batch_pairs * ddp.world / max(elapsed, 1e-9)
                    if log_file is not None:
                        log_file.write(json.dumps({"step": step, **scalars}) + "\n")
                        log_file.flush()
                    if writer is not None:
                        for key, value in scalars.items():
                            writer.add_scalar(key, value, step)
                    sums, interval_start, interval_steps = {}, time.perf_counter(), 0
                stopping = stop.signal is not None
                checkpointed = step % config.checkpoint_every == 0 or step == config.steps or stopping
                if checkpointed:
                    save(step)
                if callback is not None and ddp.is_main:
                    callback(StepReport(step, config.steps, scalars, checkpointed))
                if stopping:
                    raise TrainingStopped(
                        f"interrupted at step {step}; checkpoint saved. Continue with `slowvae train --resume {run_dir}`"
                    )
    finally:
        if log_file is not None:
            log_file.close()
        if writer is not None:
            writer.close()
    return config


def _check_finite(loss: torch.Tensor, step: int, ckpt_path: Path, run_dir: Path) -> None:
    if not torch.isfinite(loss):
        raise TrainingStopped(
            f"the loss became {loss.item()} at step {step + 1}; the last good checkpoint "
            f"({ckpt_path}) is kept. Try a lower --lr or different hyperparameters, then "
            f"start a new run or `slowvae train --resume {run_dir}`"
        )


def _tensorboard_writer(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise SlowVAEError('TensorBoard logging needs the tensorboard package: pip install "slowvae[tensorboard]"') from None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))

