"""AlexNet in torchvision's ``alexnet`` checkpoint layout (the one-GPU variant it ships).

``features``/``classifier`` Sequentials whose indices are the checkpoint's key names
(``features.0``, ``classifier.6``); the Dropout and ReLU slots hold no weights but keep the
numbering. The adaptive 6x6 pool is an identity at 224 and averages overlapping windows at
larger sizes, exactly as torchvision does.
"""

from __future__ import annotations

import torch
from torch import nn

from .builders import register_builder


@register_builder("alexnet")
class AlexNet(nn.Module):
    def __init__(self, num_classes: int = 1000, transform_input: bool = False) -> None:
        super().__init__()
        if transform_input:
            raise ValueError("transform_input applies to torchvision's v1/v3 checkpoints, not alexnet")
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
