"""Importing this package registers every architecture with the registry (Inception v1-v4,
Inception-ResNet-v2, then the baselines), in the order ``models`` lists them."""

from . import googlenet  # noqa: I001
from . import bn_inception
from . import inception_v3
from . import inception_v4
from . import inception_resnet_v2
from . import alexnet
from . import vgg
from . import resnet

__all__ = [
    "alexnet",
    "bn_inception",
    "googlenet",
    "inception_resnet_v2",
    "inception_v3",
    "inception_v4",
    "resnet",
    "vgg",
]
