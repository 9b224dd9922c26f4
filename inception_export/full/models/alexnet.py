"""AlexNet in torchvision's ``alexnet`` checkpoint layout (the one-GPU variant it ships).

``features``/``classifier`` Sequentials whose indices are the checkpoint's key names
(``features.0``, ``classifier.6``); the Dropout and ReLU slots hold no weights but keep the
numbering. The adaptive 6x6 pool is an identity at 224 and averages overlapping windows at
larger sizes, exactly as torchvision does.
"""

from __future__ import annotations

import torch
from torch import nn

from ...registry import ModelSpec, register
from .presets import TORCHVISION_IMAGENET


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


SPEC = register(
    ModelSpec(
        name="alexnet",
        aliases=(),
        description="AlexNet baseline, torchvision layout",
        builder=AlexNet,
        default_size=224,
        # conv1 (11x11/4) and three 3x3/2 max-pools: 63 is the smallest input the last pool can
        # still read a 3x3 window from (torchvision's own min_size).
        min_size=63,
        preprocessing=TORCHVISION_IMAGENET,
        params=61_100_840,
        gmacs=0.714,
        layout="torchvision",
        classifier_key="classifier.6.weight",
    )
)
