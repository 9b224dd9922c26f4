"""Backends behind one interface; see :mod:`.base`.

The runners are imported on first use: the torch runners need PyTorch, which the device
role does not install, and the TensorRT one a GPU. ``runners/factory.py`` opens the runner
for an artifact or an eager model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .base import Runner, RunnerInfo

if TYPE_CHECKING:
    from ..full.runners.torch_runner import TorchRunner, TorchScriptRunner
    from .onnxruntime_runner import OnnxRuntimeRunner
    from .tensorrt_runner import TensorRTRunner

_LAZY = {
    "OnnxRuntimeRunner": ".onnxruntime_runner",
    "TensorRTRunner": ".tensorrt_runner",
    "TorchRunner": ".torch_runner",
    "TorchScriptRunner": ".torch_runner",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["OnnxRuntimeRunner", "Runner", "RunnerInfo", "TensorRTRunner", "TorchRunner", "TorchScriptRunner"]
