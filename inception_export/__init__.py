"""inception-export: export Inception models and gate the artifacts on parity with PyTorch."""

from __future__ import annotations

from .build import build_model
from .errors import GateFailure, InceptionExportError, UsageError
from .registry import ModelSpec, get_spec, list_specs

__version__ = "0.1.0"

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
