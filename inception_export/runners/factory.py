"""The one place a :class:`~.base.Runner` is made: for an artifact file, or for an eager model.

The gate (``parity``) and the benchmark (``bench``) both open runners here, so a backend's
options (threads, spinning, CUDA graphs) and the refusal of an uninstalled runtime are
decided once. Nothing here imports torch or TensorRT until a runner that needs it is opened:
the device role opens ONNX and TensorRT artifacts through this module without PyTorch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..artifacts import require_backend
from ..errors import UsageError
from .base import Runner

if TYPE_CHECKING:
    from torch import nn


def open_runner(
    path: Path,
    fmt: str,
    input_size: int,
    precision: str,
    device: str = "cpu",
    *,
    threads: int | None = None,
    spin: bool = False,
    cuda_graph: bool = False,
) -> Runner:
    """The runner for the artifact at ``path`` of format ``fmt`` (``artifacts.detect_format``).

    ``threads`` (onnxruntime's intra-op threads; for TorchScript, torch's, which are the
    process's) and ``spin`` (onnxruntime): the gate runs each artifact a few times, not a timed
    loop, so its default is no spinning workers; ``bench`` asks for them. ``cuda_graph``
    (TensorRT): replay the engine from a captured CUDA graph. A TensorRT engine always runs on
    CUDA, whatever ``device`` says (the gate's ``--device`` is for the other backends).
    """
    require_backend(path, fmt)
    if fmt == "torchscript":
        import torch

        from ..full.runners.torch_runner import TorchScriptRunner

        if threads is not None:
            torch.set_num_threads(threads)
        return TorchScriptRunner(path, input_size, device=device, precision=precision)
    if fmt == "onnx":
        from .onnxruntime_runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner(path, device=device, threads=threads, precision=precision, spin=spin)
    if fmt == "tensorrt":
        from .tensorrt_runner import TensorRTRunner

        return TensorRTRunner(path, cuda_graph=cuda_graph)
    raise UsageError(f"{path}: no runner for artifact format {fmt!r}")


def model_runner(
    model: nn.Module,
    backend: str,
    input_size: int,
    precision: str,
    device: str = "cpu",
    *,
    batch: int | None = None,
) -> Runner:
    """The runner for an eager module: ``torch``, or ``cudagraph`` (captured for ``batch``).

    The caller's module is never changed (the runners copy it where they would cast or move it).
    """
    if backend == "torch":
        from ..full.runners.torch_runner import TorchRunner

        return TorchRunner(model, input_size, device, precision)
    if backend == "cudagraph":
        from ..full.runners.cuda_graph_runner import CudaGraphRunner

        if batch is None:
            raise UsageError("backend cudagraph needs the batch its CUDA graph is captured for")
        return CudaGraphRunner(model, input_size, batch, precision)
    raise UsageError(f"unknown eager backend {backend!r}")
