"""AlexNet (the baseline), torchvision's layout: the spec (the module is ``full/models/alexnet.py``)."""

from __future__ import annotations

from .model_spec import ModelSpec
from .presets import TORCHVISION_IMAGENET

SPEC = ModelSpec(
    name="alexnet",
    aliases=(),
    description="AlexNet baseline, torchvision layout",
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
