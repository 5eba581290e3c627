"""The project's training step as the speed benchmarks time it (``compile_speed.py``, ``step_flops.py``).

One :class:`Step` is the loop body of :func:`slowvae.train.train` for SlowVAE on procedural dSprites
at one precision, eager or compiled: render a pair batch, forward under autocast, backward, Adam.
Each call adds the seconds of its phases to :attr:`Step.seconds`.

Options that train() does not take, kept here as measured alternatives: glibc's default allocator
thresholds (``keep_memory=False``; train() keeps freed memory, :func:`slowvae.hardware.keep_freed_memory`)
and bf16 weights with an fp32 master copy (``master=True``) instead of autocast.
"""

from __future__ import annotations

import ctypes
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from slowvae import hardware
from slowvae.config import TrainConfig, make_pair_source, new_model
from slowvae.hardware import PRECISIONS, batch_to_tensor, use_fast_layout
from slowvae.train import compile_network

BATCH_PAIRS = 32  # the default: 64 images per step
PHASES = ("data", "forward", "backward", "optimizer")


#: glibc's own thresholds (mallopt M_MMAP_THRESHOLD, M_TRIM_THRESHOLD): 128 KiB each
SYSTEM_THRESHOLDS = (128 * 1024, 128 * 1024)
KEPT_THRESHOLDS = (hardware._MMAP_THRESHOLD_BYTES, hardware._TRIM_THRESHOLD_BYTES)


def set_allocator(keep_memory: bool) -> None:
    """glibc's thresholds as train() sets them (keep freed memory) or its defaults (map and unmap
    every block over 128 KiB). Process-wide, so each step sets its own before it runs."""
    mmap_threshold, trim_threshold = KEPT_THRESHOLDS if keep_memory else SYSTEM_THRESHOLDS
    libc = ctypes.CDLL(None)
    libc.mallopt(hardware._M_MMAP_THRESHOLD, mmap_threshold)
    libc.mallopt(hardware._M_TRIM_THRESHOLD, trim_threshold)


class Step:
    """One training step of a fresh SlowVAE (seed 1) at ``precision`` ("fp32" or "bf16"), compiled or not;
    ``master``: bf16 weights with an fp32 master copy in the optimizer, no autocast (bf16 only)."""

    def __init__(
        self,
        precision: str,
        compiled: bool,
        *,
        seed: int = 0,
        channels_last: bool = True,
        keep_memory: bool = True,
        master: bool = False,
        compile_mode: str | None = None,
    ) -> None:
        config = TrainConfig(precision=precision)
        self.source = make_pair_source(config)
        self.model = new_model(config, self.source.channels)
        self.amp = None if master else PRECISIONS[precision]
        if channels_last:
            use_fast_layout(self.model, torch.device("cpu"))  # as train() does on CPU
        self.net = compile_network(self.model) if compiled else self.model
        if compiled and compile_mode:  # an inductor mode train() does not use ("max-autotune")
            self.net = torch.compile(self.model, backend="inductor", mode=compile_mode)
        self.keep_memory = keep_memory
        self.master = MasterWeights(self.model, PRECISIONS[precision]) if master else None
        params = self.master.fp32 if self.master else self.model.parameters()
        self.optimizer = torch.optim.Adam(params, lr=config.lr)
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.name = f"{precision} {'compiled' if compiled else 'eager'}"

    def batch(self) -> torch.Tensor:
        """A fresh pair batch (2, B, 1, 64, 64) float in [0, 1]."""
        x_t, x_next, _, _ = self.source.sample_pairs(BATCH_PAIRS, self.rng)
        return batch_to_tensor(x_t, x_next, self.source.binary, torch.device("cpu"))

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=self.amp or torch.float32, enabled=self.amp is not None):
            return self.net(batch, self.generator)["loss"]

    def __call__(self) -> float:
        """Run one step; returns its loss."""
        set_allocator(self.keep_memory)
        marks = [time.perf_counter()]
        batch = self.batch()
        marks.append(time.perf_counter())
        loss = self.forward(batch)
        marks.append(time.perf_counter())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        marks.append(time.perf_counter())
        if self.master:
            self.master.step(self.optimizer)
        else:
            self.optimizer.step()
        marks.append(time.perf_counter())
        for phase, start, end in zip(PHASES, marks, marks[1:]):
            self.seconds[phase] += end - start
        return float(loss.detach())


class MasterWeights:
    """bf16 weights for the forward and backward, an fp32 copy for the optimizer: the model is cast
    once, its inputs are cast at the encoder's and decoder's first layers, outputs stay float32
    (the networks return ``.float()``), so the losses are float32 as under autocast."""

    def __init__(self, model: torch.nn.Module, dtype: torch.dtype) -> None:
        self.fp32 = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
        self.low = list(model.parameters())
        model.to(dtype)
        cast = lambda module, args: (args[0].to(dtype), *args[1:])  # noqa: E731
        model.encoder.net.register_forward_pre_hook(cast)
        model.decoder.fc.register_forward_pre_hook(cast)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """Adam on the fp32 copy from the bf16 gradients, then the bf16 weights from the copy."""
        for master, low in zip(self.fp32, self.low):
            master.grad = low.grad.float()
        optimizer.step()
        with torch.no_grad():
            torch._foreach_copy_(self.low, self.fp32)


def synchronize(device: torch.device) -> None:
    """Wait for the kernels queued on ``device`` (CUDA); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 10, device: torch.device | str = "cpu") -> float:
    """GFLOP/s of an n x n matmul in ``dtype`` on ``device`` (the machine's practical peak for that dtype)."""
    device = torch.device(device)
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    synchronize(device)
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def timed_blocks(steps: dict[str, Callable[[], float]], blocks: int, per_block: int) -> dict[str, list[float]]:
    """Seconds of every step of each callable, in ``blocks`` alternating blocks of ``per_block`` steps,
    so that changes of the machine's load hit every variant alike."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(blocks):
        for name, step in steps.items():
            for _ in range(per_block):
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
    return times


def write_record(out: Path, record: dict) -> None:
    """Write a benchmark record atomically as indented JSON and print it."""
    from slowvae.rundir import atomic_write_json

    atomic_write_json(Path(out), record)
    print(json.dumps(record, indent=2))
