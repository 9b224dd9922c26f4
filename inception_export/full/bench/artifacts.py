"""The artifacts a benchmark times: exported (and built into TensorRT engines) once per run,
into a temporary directory."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

from torch import nn

from ...registry import ModelSpec
from .options import BenchConfig


class ArtifactExporter:
    """Exports each artifact once per run (into a temp dir) and times it."""

    def __init__(self, cfg: BenchConfig, model: nn.Module, workdir: Path) -> None:
        self.cfg, self.model, self.dir = cfg, model, workdir
        self.paths: dict[str, Path] = {}
        self.seconds: dict[str, float] = {}

    def get(self, kind: str) -> tuple[Path, float]:
        if kind not in self.paths:
            name = self.cfg.model.replace("/", "_")
            t0 = time.perf_counter()
            # torch.onnx prints its progress to stdout, which belongs to --json.
            with contextlib.redirect_stdout(sys.stderr):
                self._export(kind, name)
            self.seconds[kind] = time.perf_counter() - t0
            return self.paths[kind], self.seconds[kind]
        return self.paths[kind], 0.0

    def _export(self, kind: str, name: str) -> None:
        from ..export import export_onnx, export_torchscript  # written alongside; import lazily

        if kind.startswith("engine-"):
            self.paths[kind] = self._engine(kind.split("-", 1)[1])
            return
        if kind == "torchscript":
            out = self.dir / f"{name}.ts"
            export_torchscript(
                self.cfg.model,
                out,
                weights=self.cfg.weights,
                transform_input=self.cfg.transform_input,
                force=True,
                model_obj=self.model,
            )
        elif kind == "onnx-int8":
            from ..export.int8 import export_onnx_int8

            out = self.dir / f"{name}-int8.onnx"
            export_onnx_int8(
                self.cfg.model,
                out,
                calibration=self.cfg.calibration,
                weights=self.cfg.weights,
                transform_input=self.cfg.transform_input,
                force=True,
                model_obj=self.model,
            )
        else:
            precision = kind.split("-", 1)[1]
            out = self.dir / f"{name}-{precision}.onnx"
            export_onnx(
                self.cfg.model,
                out,
                weights=self.cfg.weights,
                transform_input=self.cfg.transform_input,
                precision=precision,
                force=True,
                model_obj=self.model,
            )
        self.paths[kind] = out

    def _engine(self, precision: str) -> Path:
        """A TensorRT engine of the ONNX of ``precision`` (batch 1..the largest batch asked for),
        built with the project's builder. Not exercised on the CPU-only development machine."""
        from ...tensorrt.builder import build_engine
        from ...tensorrt.config import EngineConfig

        # Strongly typed engines take their precision from the ONNX graph's types.
        onnx_path, _ = self.get(f"onnx-{precision}")
        spec: ModelSpec = self.model.spec  # type: ignore[assignment]
        top = max(self.cfg.batches)
        engine_cfg = EngineConfig(
            precision=precision, min_batch=1, opt_batch=top, max_batch=top, input_size=spec.default_size
        )
        engine = onnx_path.with_suffix(f".{precision}.engine")
        build_engine(onnx_path, engine, engine_cfg, model=spec.name)
        return engine
