"""Inception v1 (GoogLeNet), torchvision's layout: the spec (the module is ``full/models/googlenet.py``)."""

from __future__ import annotations

from .model_spec import KnownCheckpoint, ModelSpec, Preprocessing

# torchvision's GoogLeNet_Weights.IMAGENET1K_V1, ported from TensorFlow: it expects
# transform_input=True on ImageNet-normalised input (the README of ../shared/reference).
_TORCHVISION_PREPROCESSING = Preprocessing(
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    colour_order="RGB",
    value_range=(0.0, 1.0),
    resize=256,
    crop=224,
)
KNOWN_CHECKPOINTS = (
    KnownCheckpoint(
        sha256_prefix="1378be20",
        file_name="googlenet-1378be20.pth",
        source="torchvision",
        transform_input=True,
        preprocessing=_TORCHVISION_PREPROCESSING,
    ),
)

SPEC = ModelSpec(
    name="googlenet",
    aliases=("v1", "inception_v1"),
    description="Inception v1 (GoogLeNet), torchvision layout",
    default_size=224,
    min_size=15,
    preprocessing=_TORCHVISION_PREPROCESSING,
    params=6_624_904,
    gmacs=1.498,
    layout="torchvision",
    classifier_key="fc.weight",
    aux_prefixes=("aux1.", "aux2."),
    supports_transform_input=True,
    known_checkpoints=KNOWN_CHECKPOINTS,
)
