"""Exporters: TorchScript and ONNX (FP32/FP16), each with embedded and sidecar metadata."""

from ...metadata import read_metadata, sidecar_path
from .onnx_export import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, export_onnx, export_onnx_pair
from .torchscript_export import export_torchscript
from .write import ExportResult

__all__ = [
    "DEFAULT_OPSET",
    "MAX_OPSET",
    "MIN_OPSET",
    "ExportResult",
    "export_onnx",
    "export_onnx_pair",
    "export_torchscript",
    "read_metadata",
    "sidecar_path",
]
