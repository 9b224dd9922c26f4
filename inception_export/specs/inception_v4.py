"""Inception v4, timm's layout: the spec (the module is ``full/models/inception_v4.py``)."""

from __future__ import annotations

from .model_spec import ModelSpec
from .presets import timm_inception

SPEC = ModelSpec(
    name="inception_v4",
    aliases=("v4",),
    description="Inception v4, timm layout",
    default_size=299,
    # Below 75 the last reduction (3x3/2, no padding) has nothing left to pool.
    min_size=75,
    preprocessing=timm_inception(crop_pct=0.875),
    params=42_679_816,
    gmacs=12.254,
    layout="timm",
    classifier_key="last_linear.weight",
    notes="timm inception_v4 (tf_in1k): crop_pct 0.875, bicubic",
)
