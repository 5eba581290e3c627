"""Hardware: device and precision resolution, the fast memory layout, and host -> device
tensor conversion (the one place the uint8 -> [0, 1] conversion happens).

The lowest floor of a run: it imports only torch, numpy and :mod:`slowvae.errors`.
"""

from __future__ import annotations

import ctypes
import os
import platform

import numpy as np
import torch

from slowvae.errors import SlowVAEError

#: training precisions: the dtype the networks' matmuls and convolutions autocast to
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


def use_fast_layout(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Put ``model``'s convolution weights in channels_last on a CPU (oneDNN's fast layout: the fp32
    training step ran 1.32x faster in it on an AVX2 CPU, and bf16 convolutions need it); returns it.
    Results are the same up to float rounding; checkpoints store the usual tensors."""
    if device.type == "cpu":
        model.to(memory_format=torch.channels_last)
    return model


#: glibc ``mallopt`` parameters (malloc.h) and the values :func:`keep_freed_memory` sets
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # the largest glibc accepts: blocks up to 32 MiB come from the heap
_TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024  # freed heap memory up to 1 GiB stays with the process


def keep_freed_memory() -> bool:
    """Make glibc's allocator keep freed tensor memory for reuse instead of returning it to the
    system; returns whether it applied (glibc only, and not where the user set the thresholds).

    By default glibc maps every block over 128 KiB fresh from the kernel and unmaps it when freed,
    so each activation and gradient of a training step is a few MiB of new pages, touched once
    page by page: about 8,300 page faults per 64-image fp32 step, a quarter of its time
    (docs/benchmarks/speed.md). Numerics are unchanged; the cost is that a process keeps up to
    1 GiB of freed memory. Process-wide, idempotent; :func:`slowvae.train.train` and the CLI call it.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or _malloc_set_by_user():
        return False
    mallopt = ctypes.CDLL(None).mallopt
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)
    )


def _malloc_set_by_user() -> bool:
    """Whether the environment sets glibc's malloc thresholds (then they are the user's choice)."""
    named = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
    return any(k in os.environ for k in named) or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "")


def native_bf16(device: str) -> bool:
    """Whether ``device`` ("auto", "cpu", "cuda[:N]") computes bf16 natively: a CUDA device with
    bf16 support, or a CPU with AVX-512-BF16 or AMX. There bf16 autocast is the default precision
    (docs/benchmarks/precision.md compares it with fp32)."""
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


def available_device(name: str) -> torch.device:
    """The device ``name`` names ("cpu", "cuda", "cuda:N") where this machine has it, else the CPU
    (also for "auto" and names torch does not know): where a run trained is not always here."""
    try:
        device = torch.device(name)
    except RuntimeError:
        return torch.device("cpu")
    if device.type == "cuda" and torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count():
        return device
    return torch.device("cpu")


def to_device(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """A host tensor (any shape) on ``device``: to a CUDA device through pinned memory and without
    blocking the host (the copy is ordered on the device's stream before the kernels that read it);
    on the CPU as it is."""
    device = torch.device(device)
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def images_to_tensor(images: np.ndarray, binary: bool, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 images (..., C, H, W) -> float32 in [0, 1] on ``device``: 0/1 pixels of a binary
    source as they are, 0..255 pixels divided by 255."""
    x = to_device(torch.from_numpy(np.ascontiguousarray(images)), device).float()
    return x if binary else x.div_(255)


def batch_to_tensor(x_t: np.ndarray, x_next: np.ndarray, binary: bool, device: torch.device) -> torch.Tensor:
    """Two uint8 frame batches (B, C, H, W) -> float (2, B, C, H, W) in [0, 1] on ``device``."""
    return images_to_tensor(np.stack([x_t, x_next]), binary, device)
