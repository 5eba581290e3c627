"""keep_freed_memory: glibc keeps a step's freed activations for reuse instead of unmapping them,
so a training step stops page-faulting on fresh memory. Each case runs in a fresh process, since
the allocator's thresholds are process-wide."""

from __future__ import annotations

import subprocess
import sys

import pytest

from slowvae import hardware

#: counts the minor page faults of 4 CPU training steps (after 2 to warm up), with or without the setting
FAULTS = """
import resource, sys, numpy as np, torch
from slowvae.config import TrainConfig, make_pair_source, new_model
from slowvae.hardware import batch_to_tensor, keep_freed_memory
from slowvae.train import training_step
torch.set_num_threads(1)
if sys.argv[1] == "keep":
    assert keep_freed_memory()
config = TrainConfig(precision="fp32")
source = make_pair_source(config)
model = new_model(config, source.channels)
optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
rng, generator = np.random.default_rng(0), torch.Generator().manual_seed(0)
def step():
    x_t, x_next, _, _ = source.sample_pairs(32, rng)
    training_step(model, optimizer, batch_to_tensor(x_t, x_next, source.binary, torch.device("cpu")), generator)
for _ in range(2):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 4)
"""

glibc = pytest.mark.skipif(
    not (sys.platform == "linux" and hardware.platform.libc_ver()[0] == "glibc"), reason="glibc only"
)


def faults_per_step(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


@glibc
def test_kept_memory_stops_the_page_faults_of_a_step() -> None:
    system, kept = faults_per_step("system"), faults_per_step("keep")
    # measured: about 8,300 faults per 64-image step with glibc's defaults, under 30 with the setting
    assert system > 1000
    assert kept < system / 20


@glibc
def test_thresholds_set_by_the_user_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=65536")
    assert not hardware.keep_freed_memory()
    monkeypatch.delenv("GLIBC_TUNABLES")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    assert not hardware.keep_freed_memory()
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.cpu.hwcaps=-AVX2")  # not about malloc
    assert hardware.keep_freed_memory()
