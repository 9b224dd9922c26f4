"""Preprocessing presets shared by several specs (as the checkpoints' sources define them)."""

from __future__ import annotations

import math

from .model_spec import Preprocessing

# torchvision's ImageNet weights (AlexNet, VGG, ResNet): resize 256 -> centre crop 224,
# bilinear, ImageNet mean/std on RGB in [0, 1].
TORCHVISION_IMAGENET = Preprocessing(
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    colour_order="RGB",
    value_range=(0.0, 1.0),
    resize=256,
    crop=224,
)


def timm_inception(crop_pct: float, size: int = 299) -> Preprocessing:
    """timm's TensorFlow-ported Inceptions: mean = std = 0.5, bicubic, resize from crop_pct.

    timm's eval transform resizes the short side to ``floor(size / crop_pct)`` before the
    centre crop (341 for crop_pct 0.875, 333 for 0.8975 at 299).
    """
    return Preprocessing(
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        colour_order="RGB",
        value_range=(0.0, 1.0),
        resize=math.floor(size / crop_pct),
        crop=size,
        interpolation="bicubic",
    )
