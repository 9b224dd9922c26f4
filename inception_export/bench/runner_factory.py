"""One :class:`Runner` per backend x precision, from the shared model or its exported artifact."""

from __future__ import annotations

import copy
import time

from torch import nn

from ..errors import UsageError
from ..registry import ModelSpec
from ..runners.base import Runner
from .artifacts import ArtifactExporter
from .options import BenchConfig
from .plan import Combo


def make_runner(
    combo: Combo, cfg: BenchConfig, spec: ModelSpec, model: nn.Module, exporter: ArtifactExporter, batch: int
) -> tuple[Runner, float]:
    """Build one runner; returns it and the seconds spent exporting its artifact (0 if reused)."""
    size = spec.default_size
    dev, prec = cfg.device, combo.precision
    if combo.backend == "torch":
        # TorchRunner converts the module in place; the shared fp32 CPU model must stay as-is
        # for the exporters and the other runners.
        m = model if (dev == "cpu" and prec == "fp32") else copy.deepcopy(model)
        return _torch_runner(m, size, dev, prec), 0.0
    if combo.backend == "cudagraph":
        from ..runners.cuda_graph_runner import CudaGraphRunner

        return CudaGraphRunner(copy.deepcopy(model), size, batch, prec), 0.0
    if combo.backend == "torchscript":
        from ..runners.torch_runner import TorchScriptRunner

        path, secs = exporter.get("torchscript")
        return TorchScriptRunner(path, size, dev, prec), secs
    if combo.backend == "onnxruntime":
        from ..runners.onnxruntime_runner import OnnxRuntimeRunner

        path, secs = exporter.get(f"onnx-{prec}")
        return OnnxRuntimeRunner(path, device=dev, threads=cfg.threads, precision=prec), secs
    if combo.backend == "tensorrt":
        return _tensorrt_runner(combo, cfg, spec, exporter)
    raise UsageError(f"unknown backend {combo.backend!r}")


def _torch_runner(model: nn.Module, size: int, dev: str, prec: str) -> Runner:
    from ..runners.torch_runner import TorchRunner

    return TorchRunner(model, size, dev, prec)


def _tensorrt_runner(
    combo: Combo, cfg: BenchConfig, spec: ModelSpec, exporter: ArtifactExporter
) -> tuple[Runner, float]:
    """Build an engine (one per precision, batch 1..max requested) with the project's builder.

    Not exercised on the CPU-only development machine; written against
    inception_export.tensorrt's build_engine / TensorRTRunner.
    """
    from ..tensorrt.builder import build_engine
    from ..tensorrt.config import EngineConfig
    from ..tensorrt.runner import TensorRTRunner

    # Strongly typed engines take their precision from the ONNX graph's types.
    onnx_path, secs = exporter.get(f"onnx-{combo.precision}")
    top = max(cfg.batches)
    engine_cfg = EngineConfig(
        precision=combo.precision, min_batch=1, opt_batch=top, max_batch=top, input_size=spec.default_size
    )
    engine = onnx_path.with_suffix(f".{combo.precision}.engine")
    t0 = time.perf_counter()
    build_engine(onnx_path, engine, engine_cfg, model=spec.name)
    return TensorRTRunner(engine, cuda_graph=cfg.trt_cuda_graph), secs + time.perf_counter() - t0
