"""ResNet-50 (the baseline), torchvision's layout: the spec (the module is ``full/models/resnet.py``)."""

from __future__ import annotations

from .model_spec import ModelSpec
from .presets import TORCHVISION_IMAGENET

SPEC = ModelSpec(
    name="resnet50",
    aliases=(),
    description="ResNet-50 baseline, torchvision layout",
    default_size=224,
    # Every downsampling step pads, so even a 1x1 input keeps one pixel to the end.
    min_size=1,
    preprocessing=TORCHVISION_IMAGENET,
    params=25_557_032,
    gmacs=4.089,
    layout="torchvision",
    classifier_key="fc.weight",
)
