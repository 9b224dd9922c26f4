"""Exporters: TorchScript and ONNX (FP32/FP16/INT8), each with embedded and sidecar metadata.

A request is checked once into :class:`ExportOptions` (``ExportOptions.create``); the
``write_*`` exporters take it as it is. ``export_*`` are the keyword entries doing both."""

from ...metadata import read_metadata, sidecar_path
from .entry import export_onnx, write_onnx
from .onnx_export import export_onnx_pair, write_onnx_pair
from .options import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, ExportOptions, Int8Options
from .torchscript_export import export_torchscript, write_torchscript
from .write import ExportResult

__all__ = [
    "DEFAULT_OPSET",
    "MAX_OPSET",
    "MIN_OPSET",
    "ExportOptions",
    "ExportResult",
    "Int8Options",
    "export_onnx",
    "export_onnx_pair",
    "export_torchscript",
    "read_metadata",
    "sidecar_path",
    "write_onnx",
    "write_onnx_pair",
    "write_torchscript",
]
