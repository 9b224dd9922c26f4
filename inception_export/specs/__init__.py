"""Every model's spec, torch-free, in the order ``models`` lists them (Inception v1-v4,
Inception-ResNet-v2, then the baselines).

One module per architecture, named as its module in ``full/models`` (which builds the
``nn.Module`` for the spec of the same ``name``). The registry reads :data:`SPECS`; nothing
here imports torch, so the device role sees the same models as the full role.
"""

from __future__ import annotations

from . import (
    alexnet,
    bn_inception,
    googlenet,
    inception_resnet_v2,
    inception_v3,
    inception_v4,
    resnet,
    vgg,
)
from .model_spec import ModelSpec

SPECS: tuple[ModelSpec, ...] = (
    googlenet.SPEC,
    bn_inception.SPEC,
    inception_v3.SPEC,
    inception_v4.SPEC,
    inception_resnet_v2.SPEC,
    alexnet.SPEC,
    vgg.SPEC,
    resnet.SPEC,
)
