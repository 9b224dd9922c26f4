"""The ``nn.Module`` of every spec in ``specs/``: importing this package registers each model
file's builder (:mod:`.builders`); :func:`builder` finds one by its spec's name."""

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
from .builders import BUILDERS, Builder

__all__ = [
    "alexnet",
    "bn_inception",
    "builder",
    "googlenet",
    "inception_resnet_v2",
    "inception_v3",
    "inception_v4",
    "resnet",
    "vgg",
]


def builder(name: str) -> Builder:
    """The builder of the spec named ``name`` (its canonical name, not an alias)."""
    return BUILDERS[name]
