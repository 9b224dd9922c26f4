"""Importing this package registers every architecture with the registry (in v1, v2, v3 order)."""

from . import googlenet  # noqa: I001
from . import bn_inception
from . import inception_v3

__all__ = ["bn_inception", "googlenet", "inception_v3"]
