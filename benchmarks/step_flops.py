"""Achieved GFLOP/s of the 64-image training step against the matmul peaks, and where
its time goes.

For each variant (precision × eager/compiled, ``steplib.Step``):

- FLOPs per step and per phase (forward, backward) from ``torch.utils.flop_counter.FlopCounterMode``
  (the optimizer's elementwise work is not counted as FLOPs);
- time per phase (data, forward, backward, optimizer) over alternating blocks, and achieved GFLOP/s
  of the whole step and of forward and backward, as a share of the matmul peak of the step's dtype,
  measured in the same run (before and after the timing blocks);
- one profiled block (``torch.profiler``): self CPU time by operator class (convolution forward,
  convolution backward, linear layers, optimizer, elementwise and other), to say what limits the step.

A variant is a precision and modifiers joined by "-": ``compiled`` (torch.compile), ``contiguous``
(plain NCHW instead of channels_last), ``sysmalloc`` (glibc's default allocator thresholds instead of
keeping freed memory as train() does), ``master`` (bf16 weights with an fp32 master copy instead of
autocast), ``maxautotune`` (torch.compile's max-autotune mode, with ``compiled``). ``fp32-contiguous-sysmalloc`` is the plain fp32 eager loop.

    python benchmarks/step_flops.py
    python benchmarks/step_flops.py --variants bf16 bf16-compiled --out benchmarks/results/compile/step_flops-compile.json
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

import steplib
from steplib import PHASES, Step, matmul_peak, timed_blocks

HERE = Path(__file__).resolve().parent
PRECISION_NAMES = ("fp32", "bf16")
MODIFIERS = ("compiled", "maxautotune", "contiguous", "sysmalloc", "master")

#: operator classes of the profile, matched in order against lower-case operator names
OP_CLASSES = (
    ("convolution backward", ("convolution_backward", "mkldnn_convolution_backward", "conv_backward")),
    ("convolution forward", ("convolution", "conv2d", "conv_transpose")),
    ("linear / matmul", ("addmm", "mm", "bmm", "matmul", "linear")),
    ("optimizer", ("_foreach", "adam", "lerp", "addcdiv", "addcmul")),
    ("compiled kernels", ("compiled", "inductor", "cpp_fused", "graph_")),
)


def variant(name: str) -> str:
    """``name`` if it is a precision with known modifiers (argparse type)."""
    precision, *modifiers = name.split("-")
    unknown = [m for m in modifiers if m not in MODIFIERS]
    if precision not in PRECISION_NAMES or unknown or ("master" in modifiers and precision != "bf16"):
        raise argparse.ArgumentTypeError(
            f"{name!r}: a variant is fp32 or bf16 with modifiers from {', '.join(MODIFIERS)} (master: bf16 only)"
        )
    return name


def make_step(name: str) -> Step:
    """The :class:`Step` a variant name describes."""
    precision, *modifiers = name.split("-")
    return Step(
        precision,
        compiled="compiled" in modifiers,
        compile_mode="max-autotune" if "maxautotune" in modifiers else None,
        channels_last="contiguous" not in modifiers,
        keep_memory="sysmalloc" not in modifiers,
        master="master" in modifiers,
    )


def op_class(name: str) -> str:
    lower = name.lower()
    for label, keys in OP_CLASSES:
        if any(key in lower for key in keys):
            return label
    return "elementwise and other"


def flops_per_phase(step: Step) -> dict[str, int]:
    """Counted FLOPs of one forward and one backward of ``step`` (on the eager module: compiled code
    computes the same arithmetic, and the counter sees aten operators only in eager mode)."""
    batch = step.batch()
    with FlopCounterMode(display=False) as counter:
        with torch.autocast("cpu", dtype=step.amp or torch.float32, enabled=step.amp is not None):
            loss = step.model(batch, step.generator)["loss"]
    forward = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        loss.backward()
    step.model.zero_grad(set_to_none=True)
    return {"forward": forward, "backward": counter.get_total_flops()}


def profile_block(step: Step, steps: int) -> dict[str, float]:
    """Share of self CPU time per operator class over ``steps`` profiled steps."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    totals: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        if event.key.startswith("ProfilerStep"):
            continue
        totals[op_class(event.key)] += event.self_cpu_time_total
    whole = sum(totals.values()) or 1.0
    return {k: round(v / whole, 3) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", type=variant, default=["fp32", "bf16"])
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--steps-per-block", type=int, default=20)
    parser.add_argument("--profile-steps", type=int, default=10)
    parser.add_argument("--peak-size", type=int, default=2048, help="n of the n x n matmuls that measure the peaks")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "speed" / "step_flops.json")
    args = parser.parse_args()

    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    used = sorted({name.split("-")[0] for name in args.variants})

    def peaks_now() -> dict[str, float]:
        # only the dtypes of the variants: an emulated bf16 peak (no native bf16) takes minutes
        return {p: matmul_peak(dtypes[p], args.peak_size) for p in used}

    peaks_before = peaks_now()
    steps = {name: make_step(name) for name in args.variants}
    flops = {name: flops_per_phase(step) for name, step in steps.items()}
    for step in steps.values():
        for _ in range(3):  # warm-up (and compilation of the compiled variants)
            step()
        step.seconds = dict.fromkeys(PHASES, 0.0)
    times = timed_blocks(steps, args.blocks, args.steps_per_block)
    peaks_after = peaks_now()
    peaks = {k: max(peaks_before[k], peaks_after[k]) for k in peaks_before}

    rows = {}
    n = args.blocks * args.steps_per_block
    for name, step in steps.items():
        precision = name.split("-")[0]
        total = sum(flops[name].values())
        per_step = float(np.median(times[name]))
        phase_s = {p: step.seconds[p] / n for p in PHASES}
        rows[name] = {
            "ms_per_step_median": round(1000 * per_step, 2),
            "images_per_s": round(64 / per_step, 1),
            "gflop_per_step": round(total / 1e9, 3),
            "achieved_gflops": round(total / per_step / 1e9, 1),
            "share_of_matmul_peak": round(total / per_step / 1e9 / peaks[precision], 4),
            "phase_ms": {p: round(1000 * s, 2) for p, s in phase_s.items()},
            "phase_share": {p: round(s / sum(phase_s.values()), 3) for p, s in phase_s.items()},
            "phase_gflops": {p: round(flops[name][p] / phase_s[p] / 1e9, 1) for p in ("forward", "backward")},
            "self_time_by_operator": profile_block(step, args.profile_steps),
        }
    record = {
        "command": "python " + " ".join([sys.argv[0].replace(str(HERE.parent) + "/", ""), *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}",
        "date": time.strftime("%Y-%m-%d"),
        "batch": "32 pairs = 64 images",
        "steps_timed_per_variant": n,
        "matmul_peak_gflops": {"before": peaks_before, "after": peaks_after, "used": peaks},
        "variants": rows,
    }
    steplib.write_record(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
