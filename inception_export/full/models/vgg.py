"""VGG-16 (configuration D, no BN) in torchvision's ``vgg16`` checkpoint layout.

``features`` indices follow torchvision's Sequential (conv, ReLU, ..., max-pool), so the
conv weights sit at ``features.0``, ``features.2``, ``features.5`` ...; the classifier is
``classifier.0/3/6`` with Dropout/ReLU slots in between. The adaptive 7x7 pool is an
identity at 224 and averages overlapping windows at other sizes, as torchvision does.
"""

from __future__ import annotations

import torch
from torch import nn

from .builders import register_builder

# Channels per conv, "M" a 2x2/2 max-pool (torchvision's cfgs["D"]).
VGG16_CFG: list[int | str] = [
    *(64, 64, "M", 128, 128, "M"),
    *(256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
]


class VGG(nn.Module):
    def __init__(self, cfg: list[int | str], num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, stride=2))
            else:
                assert isinstance(v, int)
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU()]
                cin = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


@register_builder("vgg16")
def vgg16(num_classes: int = 1000, transform_input: bool = False) -> VGG:
    if transform_input:
        raise ValueError("transform_input applies to torchvision's v1/v3 checkpoints, not vgg16")
    return VGG(VGG16_CFG, num_classes)
