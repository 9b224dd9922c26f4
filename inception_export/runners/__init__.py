"""Backends behind one interface; see :mod:`.base`."""

from .base import Runner, RunnerInfo
from .onnxruntime_runner import OnnxRuntimeRunner
from .torch_runner import TorchRunner, TorchScriptRunner

__all__ = ["OnnxRuntimeRunner", "Runner", "RunnerInfo", "TorchRunner", "TorchScriptRunner"]
