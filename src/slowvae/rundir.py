"""Run directories: the resolved config, atomic writes, checkpoints and provenance.

Layout of a run directory::

    config.json           resolved TrainConfig + package version, git commit, torch version
    metrics.jsonl         one JSON object of scalars per logged step
    checkpoints/last.pt   the latest checkpoint (dict with model, optimizer, step, rng, config)
    checkpoints/step_N.pt numbered checkpoints when kept
    timing.json           seconds of run assembly and of the loop, one segment per training invocation
    results.json          written by evaluation
    truth.csv             ground truth of frames: data given to `train --truth`
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import torch

from slowvae.errors import SlowVAEError

CONFIG_FILE = "config.json"
LOG_FILE = "metrics.jsonl"
RESULTS_FILE = "results.json"
TRUTH_FILE = "truth.csv"
TIMING_FILE = "timing.json"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.pt"


def _temp_next_to(path: Path) -> tuple[int, str]:
    """Create a new temporary file next to ``path`` with mode 0666 less the umask (as ``open`` does;
    ``tempfile.mkstemp`` would give 0600, unreadable by others); returns its descriptor and name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
        except OSError as err:  # name the file meant, not the temporary one
            err.filename = str(path)
            raise
    raise FileExistsError(f"no free temporary name next to {path}")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename.
    The file's mode honours the umask (0644 under umask 022)."""
    path = Path(path)
    fd, tmp = _temp_next_to(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.filename in (None, tmp):  # name the file meant
            err.filename = str(path)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def atomic_torch_save(path: Path, obj: Any) -> None:
    """Atomically ``torch.save`` ``obj`` to ``path`` (mode as :func:`atomic_write_bytes`)."""
    path = Path(path)
    fd, tmp = _temp_next_to(path)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; a missing or corrupt file is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise SlowVAEError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception:  # torch raises many types for truncated or foreign files, with advice that does not apply
        raise SlowVAEError(
            f"checkpoint {path} is damaged: it cannot be read (corrupt, truncated or not a slowvae checkpoint); "
            + _intact_checkpoint_advice(path)
        ) from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise SlowVAEError(f"{path} is not a slowvae checkpoint (no 'model' entry)")
    return ckpt


def _intact_checkpoint_advice(damaged: Path) -> str:
    """What to do about a damaged checkpoint: the newest numbered one beside it, if any, else train again."""
    steps = sorted(
        (int(p.stem[5:]), p) for p in damaged.parent.glob("step_*.pt") if p.stem[5:].isdigit() and p != damaged
    )
    if steps:
        step, path = steps[-1]
        return f"{path.name} beside it is the newest numbered checkpoint (step {step}): copy it over {damaged.name}"
    return "restore it from a copy or train the run again"


def read_config(run_dir: Path) -> dict[str, Any]:
    """The config.json of a run directory."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise SlowVAEError(
            f"{run_dir} is not a run directory (no {CONFIG_FILE}); train one with `slowvae train --out {run_dir}`"
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise SlowVAEError(f"{path} is not valid JSON ({err})") from None


def git_commit() -> str | None:
    """The commit of the source tree this package runs from (with ``-dirty`` if modified), or None."""
    src = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=src, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "") if commit else None
