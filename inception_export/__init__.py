"""inception-export: export Inception models and gate the artifacts on parity with PyTorch.

The model API (``build_model``, the registry) is imported on first use (PEP 562), so
``import inception_export`` stays free of torch: the device role (gating against a golden
bundle, building TensorRT engines) runs where PyTorch is not installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import GateFailure, InceptionExportError, UsageError

if TYPE_CHECKING:
    from .full.build import build_model
    from .registry import ModelSpec, get_spec, list_specs

__version__ = "0.1.0"

# Public names loaded on first use, and the module that defines each (build_model needs torch).
_LAZY = {
    "build_model": ".full.build",
    "ModelSpec": ".registry",
    "get_spec": ".registry",
    "list_specs": ".registry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "GateFailure",
    "InceptionExportError",
    "ModelSpec",
    "UsageError",
    "__version__",
    "build_model",
    "get_spec",
    "list_specs",
]
