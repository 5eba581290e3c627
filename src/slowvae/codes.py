"""Images -> codes: posterior means of uint8 images, batched, on the model's device and precision."""

from __future__ import annotations

import numpy as np
import torch

from slowvae.hardware import PRECISIONS, images_to_tensor, resolve_precision
from slowvae.models import PairModel


def encode_images(
    model: PairModel, images: np.ndarray, binary: bool, *, batch_size: int = 1024, precision: str = "fp32"
) -> np.ndarray:
    """Posterior means (N, D) float64 of uint8 images (N, C, 64, 64), in batches under inference mode.

    ``precision`` "bf16" encodes under bf16 autocast (convolutions and matmuls take bf16 inputs and
    accumulate in float32; the means are rounded to bf16, 8 significant bits): faster where the
    hardware has native bf16, elsewhere the same numbers, slowly. "auto" is bf16 where the hardware
    has native bf16 (:func:`resolve_precision`); "fp32" encodes in float32.
    """
    device = next(model.parameters()).device
    amp = PRECISIONS[resolve_precision(precision, str(device))]
    out = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
        for start in range(0, len(images), batch_size):
            x = images_to_tensor(images[start : start + batch_size], binary, device)
            out.append(model.encode(x).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.z_dim))
