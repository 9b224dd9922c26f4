"""Building blocks shared by the Inception variants."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn


class BasicConv2d(nn.Module):
    """conv (no bias) -> BN -> ReLU, named ``conv``/``bn`` as torchvision and timm save it."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        eps: float = 1e-3,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class TorchvisionTransformInput(nn.Module):
    """torchvision's ``transform_input``: ImageNet-normalised RGB -> (x - 0.5) / 0.5.

    The torchvision GoogLeNet / Inception v3 checkpoints were ported from TensorFlow and
    saw inputs in [-1, 1]; this re-maps the usual ImageNet normalisation to that range.
    It is a module option, never a state_dict entry.
    """

    if TYPE_CHECKING:  # for mypy only: TorchScript cannot resolve postponed class annotations
        scale: torch.Tensor
        shift: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        self.register_buffer("scale", std / 0.5, persistent=False)
        self.register_buffer("shift", (mean - 0.5) / 0.5, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift
