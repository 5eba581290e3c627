"""Latents out: a trained run's codes for every frame of an input the ``frames:`` dataset reads.

Rows are in input order (sequence by sequence, frame by frame); :func:`write_codes` saves them
as ``codes.npy`` (N, D) float32 with ``codes.index.csv`` (``sequence``, ``frame`` per row).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from slowvae import rundir
from slowvae.data.arrays import save_npy
from slowvae.data.frames import PREFIX, FrameSet, Progress, open_frames
from slowvae.errors import SlowVAEError
from slowvae.hardware import images_to_tensor
from slowvae.rundir import load_run


def input_path(text: str) -> Path:
    """The path of an input given bare or as ``frames:PATH``."""
    prefix, sep, rest = text.partition(":")
    return Path(rest if sep and prefix == PREFIX else text)


def encode_input(
    run_dir: Path | str,
    input: str | Path,
    *,
    batch_size: int = 256,
    device: str = "auto",
    progress: Progress | None = None,
) -> tuple[np.ndarray, FrameSet]:
    """Codes float32 (N, D) of every frame of ``input`` (posterior means; encoder outputs for
    contrastive models), in input order, and the decoded frames they come from. Frames are
    prepared as for training (``binary`` as the run's dataset options say)."""
    if batch_size < 1:
        raise SlowVAEError(f"--batch-size must be at least 1, got {batch_size}")
    run = load_run(run_dir, device=device)
    frames = open_frames(
        input_path(str(input)), binary=bool(run.config.dataset_options.get("binary", False)), progress=progress
    )
    if frames.channels != run.channels:
        raise SlowVAEError(
            f"the model of {run_dir} was not trained on {frames.channels}-channel frames "
            f"({'grey' if frames.channels == 1 else 'RGB'}); give it frames like those of "
            f"{run.config.dataset}"
        )
    codes = np.empty((len(frames), run.model.z_dim), dtype=np.float32)
    for start in range(0, len(frames), batch_size):
        # [0, 1] floats: 0/1 frames of a binary input stay 0/1 whatever the run was trained on
        x = images_to_tensor(np.array(frames.frames[start : start + batch_size]), frames.binary).numpy()
        codes[start : start + len(x)] = run.encode(x)
        if progress is not None:
            progress(start + len(x), len(frames), "encode")
    if not np.all(np.isfinite(codes)):
        raise SlowVAEError(f"the model of {run_dir} produced NaN or infinite codes; the checkpoint is broken")
    return codes, frames


def index_path(out: Path | str) -> Path:
    """``codes.npy`` -> ``codes.index.csv`` beside it."""
    out = Path(out)
    return out.with_name(f"{out.stem if out.suffix == '.npy' else out.name}.index.csv")


def write_codes(out: Path | str, codes: np.ndarray, frames: FrameSet) -> Path:
    """Write ``codes`` (N, D) to ``out`` and the (sequence, frame) of each row to the index CSV
    beside it (both atomically); returns the index path."""
    names, positions = frames.index()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["sequence", "frame"])
    writer.writerows(zip(names, positions.tolist()))
    index = index_path(out)
    save_npy(out, codes)
    rundir.atomic_write_bytes(index, text.getvalue().encode())
    return index
