"""The reference convolutional encoder and decoder for 64x64 images.

Higgins et al. (2017) "H" architecture as used by the SlowVAE reference (docs/model.md §2):
kaiming-normal init with zero bias on Linear and Conv2d; transposed convs keep PyTorch's init.
Outputs are float32 whatever the autocast precision of the layers, so every loss runs in float32.
"""

from __future__ import annotations

import torch
from torch import nn


class Encoder(nn.Module):
    """Images (N, C, 64, 64) float -> (mu, logvar), each (N, z_dim)."""

    def __init__(self, channels: int = 1, z_dim: int = 10) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(*conv_trunk(channels), nn.Linear(256, 2 * z_dim))
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(x).float()  # float32 out of mixed precision: losses stay in float32
        return h[:, : self.z_dim], h[:, self.z_dim :]


class DeterministicEncoder(nn.Module):
    """Images (N, C, 64, 64) float -> codes (N, z_dim): the same conv trunk with a deterministic
    linear head, as the contrastive baselines use it (cl-ica's KITTI Masks encoder)."""

    def __init__(self, channels: int = 1, z_dim: int = 10) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(*conv_trunk(channels), nn.Linear(256, z_dim))
        kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).float()


def conv_trunk(channels: int) -> list[nn.Module]:
    """The reference encoder's layers up to the 256-d feature (N, C, 64, 64) -> (N, 256)."""
    return [
        nn.Conv2d(channels, 32, 4, 2, 1),
        nn.ReLU(True),  # 32x32
        nn.Conv2d(32, 32, 4, 2, 1),
        nn.ReLU(True),  # 16x16
        nn.Conv2d(32, 64, 4, 2, 1),
        nn.ReLU(True),  # 8x8
        nn.Conv2d(64, 64, 4, 2, 1),
        nn.ReLU(True),  # 4x4
        nn.Conv2d(64, 256, 4, 1),
        nn.ReLU(True),  # 1x1
        nn.Flatten(),
    ]


class Decoder(nn.Module):
    """Latents (N, z_dim) -> Bernoulli logits (N, C, 64, 64)."""

    def __init__(self, channels: int = 1, z_dim: int = 10) -> None:
        super().__init__()
        self.fc = nn.Linear(z_dim, 256)
        self.net = nn.Sequential(
            nn.ReLU(True),
            nn.ConvTranspose2d(256, 64, 4),
            nn.ReLU(True),  # 4x4
            nn.ConvTranspose2d(64, 64, 4, 2, 1),
            nn.ReLU(True),  # 8x8
            nn.ConvTranspose2d(64, 32, 4, 2, 1),
            nn.ReLU(True),  # 16x16
            nn.ConvTranspose2d(32, 32, 4, 2, 1),
            nn.ReLU(True),  # 32x32
            nn.ConvTranspose2d(32, channels, 4, 2, 1),  # 64x64
        )
        kaiming_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z).view(-1, 256, 1, 1)).float()


def kaiming_init(module: nn.Module) -> None:
    """Kaiming-normal weights and zero biases on every Linear and Conv2d inside ``module``."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight)
            if m.bias is not None:
                m.bias.data.zero_()
