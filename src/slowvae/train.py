"""The training loop: seeds, optimizer, checkpoints, exact resume, NaN guard and DDP.

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
from slowvae.errors import SlowVAEError
from slowvae.models.base import AUXILIARY_INPUT
from slowvae.run import (
    PRECISIONS,
    NonFiniteLoss,
    TrainConfig,
    batch_to_tensor,
    learning_rate,
    load_run_config,
    make_pair_source,
    new_model,
    optimizer_step,
    resolve_device,
    training_step,
    use_fast_layout,
)

CHECKPOINT_FORMAT = 1
#: under DDP the ranks agree every this many steps whether a signal asked them to stop (a
#: collective per step would stall a GPU's queue; ten steps stay far inside SLURM's kill grace)
STOP_SYNC_EVERY = 10


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
    exists, then destroy the group (see benchmarks/README.md, multi-process exit); no-op without one."""
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


def train(
    run_dir: Path | str,
    *,
    resume: bool = False,
    callback: Callable[[StepReport], None] | None = None,
) -> TrainConfig:
    """Train the run in ``run_dir`` (created with :func:`slowvae.run.init_run_dir`) to its configured steps.

    With ``resume`` it continues from ``checkpoints/last.pt``: model, optimizer (and a model's
    auxiliary optimizer), every RNG state and the step, so the final weights equal those of an
    uninterrupted run. Before each forward the loop sets ``model.step``; a model with an
    ``auxiliary_optimizer`` gets one extra step per iteration on a fresh batch and the
    ``auxiliary_input`` its forward returned (see :mod:`slowvae.models.base`). Under
    torchrun each rank draws different pairs; rank 0 logs and checkpoints. Returns the config.
    """
    entered = time.perf_counter()
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
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if id(p) not in aux_ids], lr=config.lr, betas=(0.9, 0.999)
    )
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
    use_fast_layout(model, device)
    net: torch.nn.Module = model
    if ddp.active:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if config.compile:
        net = compile_network(net)

    if ddp.is_main:
        meta = rundir.read_config(run_dir)
        meta["trained_on"] = {"device": str(device), "processes": ddp.world}
        rundir.atomic_write_json(run_dir / rundir.CONFIG_FILE, meta)
    writer = _tensorboard_writer(run_dir) if (config.tensorboard and ddp.is_main) else None
    log_file = open(run_dir / rundir.LOG_FILE, "a") if ddp.is_main else None

    on_disk = [step if resume else None]  # the step last.pt holds, for the message if a save fails

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
            try:
                rundir.atomic_torch_save(ckpt_path, ckpt)
                on_disk[0] = at_step
                if config.keep_checkpoints:
                    rundir.atomic_torch_save(ckpt_path.with_name(f"step_{at_step}.pt"), ckpt)
            except (OSError, RuntimeError) as err:
                raise TrainingStopped(unsaved_checkpoint_message(err, ckpt, ckpt_path, at_step, on_disk[0])) from None
        ddp.barrier()

    if config.keep_checkpoints and step == 0:
        save(0)  # the untrained network, for curves that start at step 0
    sums: dict[str, torch.Tensor] = {}
    first_step = step
    loop_start = time.perf_counter()
    first_step_seconds = None
    interval_start, interval_steps = loop_start, 0
    ended = False  # whether the loop ran to its end (else an error is on its way: clean-up must not hide it)
    try:
        with _StopFlag() as stop:
            while step < config.steps:
                x_t, x_next, _, _ = source.sample_pairs(config.batch_pairs, rng)
                batch = batch_to_tensor(x_t, x_next, source.binary, device)
                model.step = step  # steps already taken, for schedules (AnnealedVAE)
                if config.warmup_steps:
                    for group in optimizer.param_groups:
                        group["lr"] = learning_rate(config, step)
                try:
                    terms = training_step(net, optimizer, batch, generator, amp_dtype=amp_dtype)
                    auxiliary_input = terms.pop(AUXILIARY_INPUT, None)
                    if aux_optimizer is not None:
                        x_t, x_next, _, _ = source.sample_pairs(config.batch_pairs, rng)
                        aux_batch = batch_to_tensor(x_t, x_next, source.binary, device)
                        aux = model.auxiliary_loss(aux_batch, generator, auxiliary_input)
                        optimizer_step(aux_optimizer, aux["loss"], lambda: ddp.average_gradients(aux_params))
                        terms.update({f"aux_{k}": v for k, v in aux.items()})
                except NonFiniteLoss as err:
                    raise TrainingStopped(
                        f"the loss became {err.value} at step {step + 1}; the last good checkpoint "
                        f"({ckpt_path}) is kept. Try a lower --lr or different hyperparameters, then "
                        f"start a new run or `slowvae train --resume {run_dir}`"
                    ) from None
                step += 1
                if first_step_seconds is None:
                    first_step_seconds = time.perf_counter() - loop_start
                for key, value in terms.items():
                    sums[key] = sums.get(key, 0) + value.detach()
                interval_steps += 1

                scalars = None
                if step % config.log_every == 0 or step == config.steps:
                    elapsed = time.perf_counter() - interval_start
                    scalars = {k: float(v) / interval_steps for k, v in sums.items()}
                    scalars["images_per_s"] = interval_steps * 2 * config.batch_pairs * ddp.world / max(elapsed, 1e-9)
                    if log_file is not None:  # "seconds": wall time of the interval (the run's wall time sums them)
                        log_file.write(json.dumps({"step": step, **scalars, "seconds": round(elapsed, 4)}) + "\n")
                        log_file.flush()
                    if writer is not None:
                        for key, value in scalars.items():
                            writer.add_scalar(key, value, step)
                    sums, interval_start, interval_steps = {}, time.perf_counter(), 0
                stopping = stop.signal is not None
                if ddp.active:  # every rank stops at the same step, so all write the checkpoint together
                    synced = step % STOP_SYNC_EVERY == 0 or step == config.steps
                    stopping = ddp.any(stopping) if synced else False
                checkpointed = step % config.checkpoint_every == 0 or step == config.steps or stopping
                if checkpointed:
                    save(step)
                if callback is not None and ddp.is_main:
                    callback(StepReport(step, config.steps, scalars, checkpointed))
                if stopping:
                    raise TrainingStopped(
                        f"interrupted at step {step}; checkpoint saved. Continue with `slowvae train --resume {run_dir}`"
                    )
        ended = True
    finally:
        if log_file is not None:
            log_file.close()
        if writer is not None:
            writer.close()
        if ddp.is_main and step > first_step:
            try:
                _record_timing(
                    run_dir,
                    config,
                    first_step,
                    step,
                    loop_start - entered,
                    time.perf_counter() - loop_start,
                    first_step_seconds,
                    ddp.world,
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
