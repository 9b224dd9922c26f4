"""VGG-16 (the baseline), torchvision's layout: the spec (the module is ``full/models/vgg.py``)."""

from __future__ import annotations

from .model_spec import ModelSpec
from .presets import TORCHVISION_IMAGENET

SPEC = ModelSpec(
    name="vgg16",
    aliases=(),
    description="VGG-16 baseline, torchvision layout",
    default_size=224,
    # Five 2x2/2 max-pools: 32 is the smallest input that leaves one pixel.
    min_size=32,
    preprocessing=TORCHVISION_IMAGENET,
    params=138_357_544,
    gmacs=15.47,
    layout="torchvision",
    classifier_key="classifier.6.weight",
)
