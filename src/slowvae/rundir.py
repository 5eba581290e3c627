"""Run directories: the resolved config, atomic writes, checkpoints and provenance; a trained run
as a model (:func:`load_model`) or as an encoder / decoder of numpy images (:class:`Run`, :func:`load_run`).

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
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slowvae import __version__
from slowvae.codes import encode
from slowvae.config import TrainConfig, make_pair_source, new_model
from slowvae.data.pairs import PairSource
from slowvae.errors import SlowVAEError
from slowvae.hardware import available_device, resolve_device, resolve_precision, to_device, use_fast_layout
from slowvae.models import PairModel

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


# --------------------------------------------------------------------------------------------
# a run's directory: its config, checkpoints and trained model


def init_run_dir(run_dir: Path | str, config: TrainConfig, source: PairSource | None = None) -> None:
    """Create a fresh run directory holding config.json; refuses to overwrite an existing run.

    With ``source`` (the run's PairSource) its image format (``channels``, ``binary``) is saved
    too, so that :func:`load_run` needs no data to rebuild the model.
    """
    run_dir = Path(run_dir)
    if (run_dir / CONFIG_FILE).exists():
        raise SlowVAEError(
            f"{run_dir} already holds a run; continue it with `slowvae train --resume {run_dir}` "
            "or choose another --out"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "config": config.to_dict(),
        "slowvae_version": __version__,
        "git_commit": git_commit(),
        "torch_version": torch.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if source is not None:
        meta["images"] = {"channels": int(source.channels), "binary": bool(source.binary)}
    atomic_write_json(run_dir / CONFIG_FILE, meta)


def load_run_config(run_dir: Path | str) -> TrainConfig:
    """The TrainConfig saved in a run directory. A config saved before ``precision`` existed
    reads as fp32, the only precision runs had then (not as "auto", which may resolve to bf16)."""
    return TrainConfig.from_dict({"precision": "fp32", **read_config(Path(run_dir))["config"]})


def update_run_config(run_dir: Path | str, config: TrainConfig) -> None:
    """Rewrite config.json with a changed config (for example more steps on resume)."""
    meta = read_config(Path(run_dir))
    meta["config"] = config.to_dict()
    atomic_write_json(Path(run_dir) / CONFIG_FILE, meta)


def checkpoint_path(run_dir: Path | str, checkpoint: str | None = None) -> Path:
    """``RUN_DIR/checkpoints/last.pt``, the named file in ``checkpoints/``, or a checkpoint file path."""
    if checkpoint and Path(checkpoint).is_file():
        return Path(checkpoint)
    return Path(run_dir) / CHECKPOINT_DIR / (checkpoint or LAST_CHECKPOINT)


def run_truth(run_dir: Path | str, truth: Path | str | None = None) -> Path | None:
    """The ground-truth CSV to score a ``frames:`` run with: ``truth`` if given, else the
    ``truth.csv`` saved in the run by ``train --truth``, else None."""
    saved = Path(run_dir) / TRUTH_FILE
    return Path(truth) if truth is not None else saved if saved.is_file() else None


def run_device(run_dir: Path | str, device: str = "auto") -> str:
    """The device to load a run on: ``device``, or for ``"auto"`` the device the run trained on
    (config.json's ``trained_on``, else its config's ``device``) where this machine has it, else the CPU."""
    if device != "auto":
        return device
    meta = read_config(Path(run_dir))
    trained = meta.get("trained_on", {}).get("device") or meta.get("config", {}).get("device", "cpu")
    return str(available_device(trained))


def load_model(
    run_dir: Path | str, checkpoint: str | None = None, device: str = "auto", truth: Path | str | None = None
) -> tuple[PairModel, TrainConfig, int, PairSource]:
    """The trained model of a run (``checkpoints/last.pt`` or the named checkpoint file) on
    ``device`` (``"auto"``: :func:`run_device`), its config, the step it was saved at and the
    run's PairSource (with ground truth ``truth`` for ``frames:`` data, see :func:`run_truth`).
    The model is in eval mode."""
    config = load_run_config(run_dir)
    source = make_pair_source(config, truth=run_truth(run_dir, truth))
    model, step = _trained_model(run_dir, config, source.channels, checkpoint, run_device(run_dir, device))
    return model, config, step, source


def _trained_model(
    run_dir: Path | str, config: TrainConfig, channels: int, checkpoint: str | None, device: str
) -> tuple[PairModel, int]:
    """The run's model with the checkpoint's weights, in eval mode and evaluation's layout on
    ``device``, and the step the checkpoint was saved at."""
    path = checkpoint_path(run_dir, checkpoint)
    ckpt = load_checkpoint(path)
    model = new_model(config, channels)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise SlowVAEError(f"{path} does not fit the run's model {config.model!r}: {err}") from None
    target = resolve_device(device)
    # the layout evaluation encodes in, so that every caller of slowvae.codes.encode gets its codes
    return use_fast_layout(model.to(target), target).eval(), int(ckpt.get("step", -1))


# --------------------------------------------------------------------------------------------
# load_run: a trained run as an encoder / decoder of numpy images


class Run:
    """A trained run, for use from Python (see :func:`load_run`).

    ``config`` is its :class:`TrainConfig`, ``model`` the trained model (eval mode), ``step`` the
    step of the loaded checkpoint, ``channels`` and ``binary`` the image format it was trained on,
    ``precision`` the resolved precision its encodings run in ("fp32" or "bf16", as evaluation's).
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
        precision: str = "fp32",
    ) -> None:
        self.run_dir, self.config, self.model, self.step = run_dir, config, model, step
        self.channels, self.binary, self.batch_size, self.precision = channels, binary, batch_size, precision

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _checked(self, images: np.ndarray) -> np.ndarray:
        """``images`` as (N, C, 64, 64), uint8 or float in [0, 1]; a SlowVAEError on anything else."""
        x = np.asarray(images)
        if x.ndim == 3 and self.channels == 1:
            x = x[:, None]
        if x.ndim != 4 or x.shape[1:] != (self.channels, 64, 64):
            grey = " or (N, 64, 64)" if self.channels == 1 else ""
            raise SlowVAEError(
                f"images must have shape (N, {self.channels}, 64, 64){grey} for this run, got {tuple(x.shape)}"
            )
        if x.dtype == np.uint8:
            return x
        if not np.issubdtype(x.dtype, np.floating):
            raise SlowVAEError(f"images must be uint8 (0..255) or float in [0, 1], got dtype {x.dtype}")
        if x.size and (not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1):
            raise SlowVAEError("float images must be finite and in [0, 1]")
        return x

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Codes (N, D) float64 of images (N, C, 64, 64) or (N, 64, 64), uint8 or float in [0, 1]:
        posterior means for the VAEs, the encoder's output for the contrastive models. Encoded by
        :func:`slowvae.codes.encode` in the run's ``precision``, as evaluation encodes."""
        x = self._checked(images)
        # a binary run's images are 0/1; a 0/255 mask is accepted as well
        binary = self.binary and (x.size == 0 or int(x.max()) <= 1)
        codes = encode(self.model, x, binary=binary, precision=self.precision, batch_size=self.batch_size)
        return codes.astype(np.float64)

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
                batch = to_device(torch.from_numpy(z[start : start + self.batch_size]), self.device)
                out.append(self.model.decode(batch).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.channels, 64, 64), np.float32)


def load_run(
    run_dir: Path | str, *, checkpoint: str | None = None, device: str = "auto", precision: str = "auto"
) -> Run:
    """The trained run in ``run_dir`` (its last checkpoint, or ``checkpoint``) on ``device``
    (``"auto"``: the device it trained on where this machine has it, else the CPU; :func:`run_device`).

    ``load_run(d).encode(images)`` gives codes (N, D) of images (N, C, 64, 64) or (N, 64, 64),
    uint8 or float; ``.decode(codes)`` images (N, C, 64, 64) for the VAEs; ``.config`` and
    ``.model`` are the run's TrainConfig and trained model. Encodings run in ``precision``
    (``auto``: bf16 where the device has native bf16, else fp32), the rule ``slowvae evaluate``
    follows with its ``--eval-precision``.
    """
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    images = read_config(run_dir).get("images")
    if images is None:  # a run made before the image format was saved: ask its data
        source = make_pair_source(config)
        images = {"channels": source.channels, "binary": source.binary}
    device = run_device(run_dir, device)
    model, step = _trained_model(run_dir, config, int(images["channels"]), checkpoint, device)
    resolved = resolve_precision(precision, device)
    return Run(run_dir, config, model, step, int(images["channels"]), bool(images["binary"]), precision=resolved)
