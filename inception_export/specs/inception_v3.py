"""Inception v3, torchvision/timm layout: the spec (the module is ``full/models/inception_v3.py``)."""

from __future__ import annotations

from .model_spec import KnownCheckpoint, ModelSpec, Preprocessing

# torchvision's Inception_V3_Weights.IMAGENET1K_V1 (and the same weights under their older
# file name), ported from TensorFlow: they expect transform_input=True on ImageNet-normalised
# input (the README of ../shared/reference).
_TORCHVISION_PREPROCESSING = Preprocessing(
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    colour_order="RGB",
    value_range=(0.0, 1.0),
    resize=342,
    crop=299,
)
KNOWN_CHECKPOINTS = (
    KnownCheckpoint(
        sha256_prefix="0cc3c7bd",
        file_name="inception_v3_google-0cc3c7bd.pth",
        source="torchvision",
        transform_input=True,
        preprocessing=_TORCHVISION_PREPROCESSING,
    ),
    KnownCheckpoint(
        sha256_prefix="1a9a5a14",
        file_name="inception_v3_google-1a9a5a14.pth",
        source="torchvision (older releases)",
        transform_input=True,
        preprocessing=_TORCHVISION_PREPROCESSING,
    ),
)

SPEC = ModelSpec(
    name="inception_v3",
    aliases=("v3",),
    description="Inception v3, torchvision/timm layout",
    default_size=299,
    min_size=75,
    preprocessing=_TORCHVISION_PREPROCESSING,
    params=23_834_568,
    gmacs=5.713,
    layout="torchvision",
    classifier_key="fc.weight",
    aux_prefixes=("AuxLogits.",),
    supports_transform_input=True,
    notes="timm's inception_v3 checkpoints use the same keys with mean=std=0.5 preprocessing",
    known_checkpoints=KNOWN_CHECKPOINTS,
)
