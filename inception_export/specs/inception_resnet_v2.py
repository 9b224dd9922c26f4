"""Inception-ResNet-v2, timm's layout: the spec (the module is ``full/models/inception_resnet_v2.py``)."""

from __future__ import annotations

from .model_spec import ModelSpec
from .presets import timm_inception

SPEC = ModelSpec(
    name="inception_resnet_v2",
    aliases=("irv2", "inception_resnet"),
    description="Inception-ResNet-v2, timm layout",
    default_size=299,
    # Below 75 the 8x8 stage (after mixed_7a's 3x3/2 reductions) would be empty.
    min_size=75,
    preprocessing=timm_inception(crop_pct=0.8975),
    params=55_843_464,
    gmacs=13.156,
    layout="timm",
    classifier_key="classif.weight",
    notes="timm inception_resnet_v2 (tf_in1k): crop_pct 0.8975, bicubic",
)
