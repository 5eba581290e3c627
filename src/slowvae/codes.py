"""Images -> codes: the one way a trained model encodes inputs, used by evaluation (MCC, the suite,
traversals), :meth:`slowvae.rundir.Run.encode` (and so ``slowvae encode``), UDR and the
identifiability experiment.

Inputs are encoded in batches under ``torch.inference_mode()``, on one device and in one
precision: "bf16" encodes under bf16 autocast (convolutions and matmuls take bf16 inputs and
accumulate in float32; the means are rounded to bf16, 8 significant bits), "fp32" in float32,
"auto" as :func:`slowvae.hardware.resolve_precision` says for that device.
"""

from __future__ import annotations

import numpy as np
import torch

from slowvae.hardware import PRECISIONS, images_to_tensor, resolve_precision, to_device

#: inputs per forward pass unless a caller says otherwise
BATCH_SIZE = 1024


def _encode_device(model: torch.nn.Module, device: torch.device | str = "auto") -> torch.device:
    """The device to encode on: the model's own with ``"auto"``, else ``device`` (the model moves there)."""
    own = next(model.parameters()).device
    if str(device) == "auto":
        return own
    target = torch.device(device)
    if target != own:
        model.to(target)
    return target


def _as_input(batch: np.ndarray, binary: bool, device: torch.device) -> torch.Tensor:
    """uint8 images -> float in [0, 1] (:func:`slowvae.hardware.images_to_tensor`); float inputs
    (images in [0, 1], or observation vectors) as float32, on ``device``."""
    if batch.dtype == np.uint8:
        return images_to_tensor(batch, binary, device)
    return to_device(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)), device)


def encode(
    model: torch.nn.Module,
    images: np.ndarray,
    *,
    binary: bool,
    device: torch.device | str = "auto",
    precision: str = "fp32",
    batch_size: int = BATCH_SIZE,
    posterior: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Codes float32 (N, D) of ``images``: posterior means for the VAEs, the encoder's output for
    the contrastive models.

    ``images`` are uint8 (N, C, 64, 64) (0/1 pixels when ``binary``, else 0..255), float
    (N, C, 64, 64) in [0, 1], or, for the vector models, float observations (N, obs_dim).
    ``device``: ``"auto"`` encodes where the model is, a named device moves the model there.
    ``precision``: "fp32", "bf16" or "auto" (bf16 where the device has native bf16).
    With ``posterior`` the result is the posterior's (means (N, D), log-variances (N, D)), both
    float32, from ``model.encoder`` (VAEs only).
    """
    target = _encode_device(model, device)
    amp = PRECISIONS[resolve_precision(precision, str(target))]
    means, logvars = [], []
    with torch.inference_mode(), torch.autocast(target.type, dtype=amp or torch.float32, enabled=amp is not None):
        for start in range(0, len(images), batch_size):
            x = _as_input(np.asarray(images[start : start + batch_size]), binary, target)
            if posterior:
                mu, logvar = model.encoder(x)
                logvars.append(logvar.float().cpu().numpy())
            else:
                mu = model.encode(x)
            means.append(mu.float().cpu().numpy())
    z_dim = int(getattr(model, "z_dim", 0))
    codes = np.concatenate(means) if means else np.zeros((0, z_dim), np.float32)
    if posterior:
        return codes, np.concatenate(logvars) if logvars else np.zeros((0, z_dim), np.float32)
    return codes
