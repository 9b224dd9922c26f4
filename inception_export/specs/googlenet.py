"""Inception v1 (GoogLeNet), torchvision's layout: the spec (the module is ``full/models/googlenet.py``)."""

from __future__ import annotations

from .model_spec import KnownCheckpoint, ModelSpec
from .presets import TORCHVISION_IMAGENET

# torchvision's GoogLeNet_Weights.IMAGENET1K_V1, ported from TensorFlow: it expects
# transform_input=True on ImageNet-normalised input (the README of ../shared/reference).
KNOWN_CHECKPOINTS = (
    KnownCheckpoint(
        sha256_prefix="1378be20",
        file_name="googlenet-1378be20.pth",
        source="torchvision",
        transform_input=True,
        preprocessing=TORCHVISION_IMAGENET,
    ),
)

SPEC = ModelSpec(
    name="googlenet",
    aliases=("v1", "inception_v1"),
    description="Inception v1 (GoogLeNet), torchvision layout",
    default_size=224,
    min_size=15,
    preprocessing=TORCHVISION_IMAGENET,
    params=6_624_904,
    gmacs=1.498,
    layout="torchvision",
    classifier_key="fc.weight",
    aux_prefixes=("aux1.", "aux2."),
    supports_transform_input=True,
    known_checkpoints=KNOWN_CHECKPOINTS,
)
