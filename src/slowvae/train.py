"""The training loop and its step: seeds, optimizer, checkpoints, exact resume, NaN guard and DDP.

One readable loop (in the spirit of nanoGPT). Nothing here parses arguments or draws progress
bars: :func:`train` takes a :class:`TrainConfig` and reports through a callback.
"""

from __future__ import annotations

import errno
import gc
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from slowvae import rundir
from slowvae.config import TrainConfig, learning_rate, make_pair_source, new_model
from slowvae.data.pairs import PairSource
from slowvae.errors import SlowVAEError
from slowvae.hardware import PRECISIONS, batch_to_tensor, keep_freed_memory, resolve_device, use_fast_layout
from slowvae.models import PairModel
from slowvae.models.base import AUXILIARY_INPUT
from slowvae.rundir import load_run_config

CHECKPOINT_FORMAT = 1
#: under DDP the ranks agree every this many steps whether a signal asked them to stop (a
#: collective per step would stall a GPU's queue; ten steps stay far inside SLURM's kill grace)
STOP_SYNC_EVERY = 10


# --------------------------------------------------------------------------------------------
# the training step (shared by the image loop below and the vector experiment in identifiability.py)


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


@dataclass
class StepReport:
    """What the loop reports after each step: ``scalars`` holds interval means at log steps."""

    step: int
    steps: int
    scalars: dict[str, float] | None
    checkpointed: bool


class TrainingStopped(SlowVAEError):
    """Training stopped early (NaN loss or interrupt); the message says where work was kept."""


def compile_network(net: torch.nn.Module) -> torch.nn.Module:
    """``net`` (a model or its DDP wrapper) compiled with ``torch.compile`` (inductor): calling the
    result runs the compiled forward, and its backward is compiled too. Parameters, buffers and
    ``state_dict`` stay those of ``net``, so checkpoints load without compiling."""
    import torch._dynamo

    if not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "clang++", "c++")):
        raise SlowVAEError(
            "--compile needs a C++ compiler (g++ or clang++) on PATH; install one or train without --compile"
        )
    # integer attributes of a module (``model.step``, which AnnealedVAE reads) become graph inputs
    # instead of constants, so a new step does not recompile
    torch._dynamo.config.allow_unspec_int_on_nn_module = True
    return torch.compile(net, backend="inductor")


class Distributed:
    """Rank and world size under torchrun (a single process otherwise); joins the process group."""

    def __init__(self, device: torch.device) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.active = self.world > 1
        self.device = device
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

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any rank (a collective: every rank must call it)."""
        if not self.active:
            return flag
        value = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

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


def leave_process_group() -> None:
    """Free DDP's garbage (reference cycles holding gloo work) while the process group still
    exists, then destroy the group (see docs/benchmarks/speed.md, "Multi-process exit"); no-op without one."""
    if dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


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


@dataclass
class _Training:
    """What one invocation of :func:`train` holds: the run, its data, networks, optimizers and RNGs."""

    run_dir: Path
    config: TrainConfig
    device: torch.device
    ddp: Distributed
    source: PairSource
    model: PairModel
    optimizer: torch.optim.Optimizer
    aux_optimizer: torch.optim.Optimizer | None
    aux_params: list[torch.nn.Parameter]
    rng: np.random.Generator
    generator: torch.Generator
    net: torch.nn.Module | None = None  # the model as the step calls it (DDP, compiled); set by _wrap
    on_disk: int | None = None  # the step last.pt holds, named when a later save fails
    log_state: dict[str, Any] | None = None  # the partial log interval of the checkpoint resumed from

    @property
    def ckpt_path(self) -> Path:
        return self.run_dir / rundir.CHECKPOINT_DIR / rundir.LAST_CHECKPOINT


def _assemble(run_dir: Path) -> _Training:
    """The run's config, device, process group, PairSource, fresh model, optimizers and seeded RNGs."""
    config = load_run_config(run_dir)
    device = resolve_device(config.device)
    keep_freed_memory()
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
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if id(p) not in aux_ids], lr=config.lr, betas=(0.9, 0.999)
    )
    seeds = np.random.SeedSequence(config.seed).spawn(ddp.world)[ddp.rank]
    rng = np.random.default_rng(seeds)
    generator = torch.Generator(device=device).manual_seed(int(seeds.generate_state(1)[0]))
    return _Training(run_dir, config, device, ddp, source, model, optimizer, aux_optimizer, aux_params, rng, generator)


def _restore(t: _Training) -> int:
    """Load ``checkpoints/last.pt`` into the model, optimizers, RNGs (this rank's) and the partial log
    interval (``t.log_state``; absent from checkpoints written before it was saved); returns its step.
    A run without ``last.pt`` (it stopped before its first checkpoint) restarts from step 0: its
    untrained network and RNGs are those of its seed, as :func:`_assemble` made them."""
    if _never_checkpointed(t.ckpt_path):
        return 0
    ckpt = rundir.load_checkpoint(t.ckpt_path, map_location=t.device)
    t.model.load_state_dict(ckpt["model"])
    t.optimizer.load_state_dict(ckpt["optimizer"])
    if t.aux_optimizer is not None:
        t.aux_optimizer.load_state_dict(ckpt["auxiliary_optimizer"])
    states = ckpt["rng"]
    if len(states) != t.ddp.world:
        raise SlowVAEError(
            f"{t.ckpt_path} was written by {len(states)} process(es); resume it with the same number (now {t.ddp.world})"
        )
    t.rng.bit_generator.state = states[t.ddp.rank]["numpy"]
    torch_state = states[t.ddp.rank]["torch"]
    t.generator.set_state(torch_state.cpu() if t.device.type == "cpu" else torch_state)
    t.log_state = ckpt.get("log")
    t.on_disk = int(ckpt["step"])
    return t.on_disk


def resume_step(run_dir: Path | str) -> int:
    """The step ``train(run_dir, resume=True)`` continues from: that of ``checkpoints/last.pt``, or 0
    for a run that stopped before its first checkpoint."""
    path = Path(run_dir) / rundir.CHECKPOINT_DIR / rundir.LAST_CHECKPOINT
    return 0 if _never_checkpointed(path) else int(rundir.load_checkpoint(path)["step"])


def _never_checkpointed(last: Path) -> bool:
    """Whether no checkpoint exists beside ``last`` (``checkpoints/last.pt``): neither it nor a ``step_N.pt``."""
    return not last.exists() and not any(last.parent.glob("*.pt"))


def _wrap(t: _Training) -> None:
    """Put the model in the fast layout and set ``t.net``: the model, under DDP and compiled as configured."""
    use_fast_layout(t.model, t.device)
    net: torch.nn.Module = t.model
    if t.ddp.active:
        net = torch.nn.parallel.DistributedDataParallel(
            t.model, device_ids=[t.device.index] if t.device.type == "cuda" else None
        )
    t.net = compile_network(net) if t.config.compile else net


def _save(t: _Training, at_step: int, log: _Log | None = None) -> None:
    """Checkpoint every rank's RNG states with the model, optimizers and the partial interval of
    ``log`` (rank 0 writes), atomically. A state that is not finite is never written: training stops."""
    states_of = {"model": t.model.state_dict(), "optimizer": t.optimizer.state_dict()}
    if t.aux_optimizer is not None:
        states_of["auxiliary_optimizer"] = t.aux_optimizer.state_dict()
    not_finite = [name for name, state in states_of.items() if not _finite(state)]
    if t.ddp.any(bool(not_finite)):  # every rank stops together
        raise TrainingStopped(
            f"the {' and '.join(not_finite) or 'model'} state became infinite or NaN at step {at_step}, so its "
            f"checkpoint was not written; {_kept(t)}"
        )
    states = t.ddp.gather({"numpy": t.rng.bit_generator.state, "torch": t.generator.get_state().cpu()})
    if t.ddp.is_main:
        ckpt = {"format": CHECKPOINT_FORMAT, **states_of, "step": at_step, "rng": states, "config": t.config.to_dict()}
        if log is not None:
            ckpt["log"] = log.state()
        try:
            rundir.atomic_torch_save(t.ckpt_path, ckpt)
            t.on_disk = at_step
            if t.config.keep_checkpoints:
                rundir.atomic_torch_save(t.ckpt_path.with_name(f"step_{at_step}.pt"), ckpt)
        except (OSError, RuntimeError) as err:
            raise TrainingStopped(unsaved_checkpoint_message(err, ckpt, t.ckpt_path, at_step, t.on_disk)) from None
    t.ddp.barrier()


def _one_step(t: _Training, step: int, amp_dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """The optimizer step after ``step`` steps taken, on a fresh pair batch (and the auxiliary
    network's step on another); returns the loss terms. A non-finite loss stops training."""
    config, source = t.config, t.source
    x_t, x_next, _, _ = source.sample_pairs(config.batch_pairs, t.rng)
    batch = batch_to_tensor(x_t, x_next, source.binary, t.device)
    t.model.step = step  # steps already taken, for schedules (AnnealedVAE)
    for group in t.optimizer.param_groups:  # the schedule: warm-up and lr_changes
        group["lr"] = learning_rate(config, step)
    try:
        terms = training_step(t.net, t.optimizer, batch, t.generator, amp_dtype=amp_dtype)
        auxiliary_input = terms.pop(AUXILIARY_INPUT, None)
        if t.aux_optimizer is not None:
            x_t, x_next, _, _ = source.sample_pairs(config.batch_pairs, t.rng)
            aux_batch = batch_to_tensor(x_t, x_next, source.binary, t.device)
            aux = t.model.auxiliary_loss(aux_batch, t.generator, auxiliary_input)
            optimizer_step(t.aux_optimizer, aux["loss"], lambda: t.ddp.average_gradients(t.aux_params))
            terms.update({f"aux_{k}": v for k, v in aux.items()})
    except NonFiniteLoss as err:
        raise TrainingStopped(f"the loss became {err.value} at step {step + 1}; {_kept(t)}") from None
    return terms


def _finite(state: Any) -> bool:
    """Whether every floating-point tensor in a state dict (nested dicts / lists) is finite."""
    return all(bool(torch.isfinite(x).all()) for x in _tensors(state) if x.is_floating_point())


def _kept(t: _Training) -> str:
    """What exists to continue from after training diverged, and the command that continues with a
    lower learning rate (a tenth of the current one, as an example)."""
    lower = f"{learning_rate(t.config, t.on_disk or 0) / 10:g}"
    resume = f"`slowvae train --resume {t.run_dir} --lr {lower}`"
    if t.on_disk is None:
        return (
            "no checkpoint of this run exists, so it must start again: with a lower learning rate, "
            f"e.g. {resume} (it restarts from step 0), or different hyperparameters in a new run"
        )
    return (
        f"the last good checkpoint ({t.ckpt_path}, all finite) holds step {t.on_disk}; continue from it with a "
        f"lower learning rate, e.g. {resume}; if that stops again at once, its weights had already diverged: "
        "start a new run with a lower --lr or different hyperparameters"
    )


class _Log:
    """Interval means of the loss terms, written to ``metrics.jsonl`` (and TensorBoard) at log steps
    by rank 0; ``images_per_s`` counts every rank's images. The interval since the last log step
    (:meth:`state`) goes into each checkpoint and continues from ``t.log_state`` on resume, so a
    resumed run's rows equal an uninterrupted run's."""

    def __init__(self, t: _Training) -> None:
        self.config, self.world = t.config, t.ddp.world
        self.file = open(t.run_dir / rundir.LOG_FILE, "a") if t.ddp.is_main else None
        self.writer = _tensorboard_writer(t.run_dir) if (t.config.tensorboard and t.ddp.is_main) else None
        state = t.log_state or {}
        self.sums: dict[str, torch.Tensor] = dict(state.get("sums", {}))
        self.start, self.steps = time.perf_counter() - state.get("seconds", 0.0), state.get("steps", 0)

    def state(self) -> dict[str, Any]:
        """The interval so far: sums of the loss terms (0-d tensors), its steps and seconds."""
        return {"sums": dict(self.sums), "steps": self.steps, "seconds": time.perf_counter() - self.start}

    def add(self, step: int, terms: dict[str, torch.Tensor]) -> dict[str, float] | None:
        """Count one step's terms; at a log step (or the last) write and return the interval's means."""
        for key, value in terms.items():
            self.sums[key] = self.sums.get(key, 0) + value.detach()
        self.steps += 1
        if step % self.config.log_every and step != self.config.steps:
            return None
        elapsed = time.perf_counter() - self.start
        scalars = {k: float(v) / self.steps for k, v in self.sums.items()}
        scalars["images_per_s"] = self.steps * 2 * self.config.batch_pairs * self.world / max(elapsed, 1e-9)
        if self.file is not None:  # "seconds": wall time of the interval (the run's wall time sums them)
            self.file.write(json.dumps({"step": step, **scalars, "seconds": round(elapsed, 4)}) + "\n")
            self.file.flush()
        if self.writer is not None:
            for key, value in scalars.items():
                self.writer.add_scalar(key, value, step)
        if step % self.config.log_every == 0:  # the run's last row mid-interval keeps it for an extension
            self.sums, self.start, self.steps = {}, time.perf_counter(), 0
        return scalars

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.writer is not None:
            self.writer.close()


def train(
    run_dir: Path | str,
    *,
    resume: bool = False,
    callback: Callable[[StepReport], None] | None = None,
) -> TrainConfig:
    """Train the run in ``run_dir`` (created with :func:`slowvae.rundir.init_run_dir`) to its configured steps.

    With ``resume`` it continues from ``checkpoints/last.pt``: model, optimizer (and a model's
    auxiliary optimizer), every RNG state and the step, so the final weights equal those of an
    uninterrupted run. Before each forward the loop sets ``model.step``; a model with an
    ``auxiliary_optimizer`` gets one extra step per iteration on a fresh batch and the
    ``auxiliary_input`` its forward returned (see :mod:`slowvae.models.base`). Under
    torchrun each rank draws different pairs; rank 0 logs and checkpoints. Returns the config.
    """
    entered = time.perf_counter()
    t = _assemble(Path(run_dir))
    config, ddp = t.config, t.ddp
    step = 0
    if resume:
        step = _restore(t)
        if ddp.is_main:  # a last row mid-interval is dropped when the checkpoint holds its interval to continue
            mid_interval = bool(t.log_state and t.log_state["steps"]) and step < config.steps
            _truncate_log(t.run_dir / rundir.LOG_FILE, step - 1 if mid_interval else step)
    amp_dtype = PRECISIONS[config.precision]
    _wrap(t)
    if ddp.is_main:
        meta = rundir.read_config(t.run_dir)
        meta["trained_on"] = {"device": str(t.device), "processes": ddp.world}
        rundir.atomic_write_json(t.run_dir / rundir.CONFIG_FILE, meta)
    if config.keep_checkpoints and step == 0:
        _save(t, 0)  # the untrained network, for curves that start at step 0
    log = _Log(t)
    first_step, loop_start, first_step_seconds = step, time.perf_counter(), None
    ended = False  # whether the loop ran to its end (else an error is on its way: clean-up must not hide it)
    try:
        with _StopFlag() as stop:
            while step < config.steps:
                terms = _one_step(t, step, amp_dtype)
                step += 1
                if first_step_seconds is None:
                    first_step_seconds = time.perf_counter() - loop_start
                scalars = log.add(step, terms)
                stopping = stop.signal is not None
                if ddp.active:  # every rank stops at the same step, so all write the checkpoint together
                    synced = step % STOP_SYNC_EVERY == 0 or step == config.steps
                    stopping = ddp.any(stopping) if synced else False
                checkpointed = step % config.checkpoint_every == 0 or step == config.steps or stopping
                if checkpointed:
                    _save(t, step, log)
                if callback is not None and ddp.is_main:
                    callback(StepReport(step, config.steps, scalars, checkpointed))
                if stopping:
                    raise TrainingStopped(
                        f"interrupted at step {step}; checkpoint saved. Continue with `slowvae train --resume {t.run_dir}`"
                    )
        ended = True
    finally:
        log.close()
        if ddp.is_main and step > first_step:
            loop = time.perf_counter() - loop_start
            try:
                _record_timing(
                    t.run_dir, config, first_step, step, loop_start - entered, loop, first_step_seconds, ddp.world
                )
            except OSError:
                if ended:  # nothing else went wrong: this is the error to report
                    raise
    return config


def unsaved_checkpoint_message(
    err: BaseException, ckpt: dict[str, Any], path: Path, at_step: int, intact_step: int | None
) -> str:
    """Why the checkpoint of ``at_step`` could not be written to ``path`` (a full disk named as such:
    ENOSPC, or less free space than the checkpoint's tensors need) and which checkpoint is intact."""
    if isinstance(err, RuntimeError) and "writ" not in str(err):
        raise err  # not a failed write: a bug, with its traceback
    needed = sum(t.numel() * t.element_size() for t in _tensors(ckpt))
    full = getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or shutil.disk_usage(path.parent).free < needed
    why = "the disk is full" if full else (str(err).splitlines() or [type(err).__name__])[0]
    run_dir = path.parent.parent
    if intact_step is None:
        kept = "no checkpoint of this run was written before, so free some space and train it again"
    else:
        kept = f"{path} is intact at step {intact_step}: free some space, then `slowvae train --resume {run_dir}`"
    return f"the checkpoint of step {at_step} could not be written ({why}); {kept}"


def _tensors(obj: Any) -> list[torch.Tensor]:
    """Every tensor in a nested dict / list of a checkpoint."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _tensors(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _tensors(v)]
    return []


def _record_timing(
    run_dir: Path,
    config: TrainConfig,
    from_step: int,
    to_step: int,
    startup: float,
    loop: float,
    first_step: float | None,
    world: int,
) -> None:
    """Append this invocation's seconds to ``timing.json``: run assembly (``startup_seconds``: data,
    model, checkpoint loading) and the loop (``train_seconds``, checkpoints included), of which
    ``first_step_seconds`` (compilation included under ``compile``); ``images`` trained on."""
    path = run_dir / rundir.TIMING_FILE
    segments = json.loads(path.read_text())["segments"] if path.exists() else []
    segments.append(
        {
            "from_step": from_step,
            "to_step": to_step,
            "startup_seconds": round(startup, 3),
            "train_seconds": round(loop, 3),
            "first_step_seconds": round(first_step or 0.0, 3),
            "images": 2 * config.batch_pairs * world * (to_step - from_step),
            "processes": world,
            "precision": config.precision,
            "compile": config.compile,
        }
    )
    rundir.atomic_write_json(path, {"segments": segments})


def _tensorboard_writer(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise SlowVAEError(
            'TensorBoard logging needs the tensorboard package: pip install "slowvae[tensorboard]"'
        ) from None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))
