"""Recognise an artifact by its content and open the matching runner."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from .errors import ArtifactError
from .runners.base import Runner

FORMATS = ("torchscript", "onnx", "tensorrt")


def detect_format(path: Path) -> str:
    """``torchscript``, ``onnx`` or ``tensorrt``, judged from the bytes, not the file name."""
    if not path.is_file():
        raise ArtifactError(f"artifact not found: {path}")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            raise ArtifactError(f"{path}: corrupt zip archive (not a loadable TorchScript file)") from None
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
        raise ArtifactError(f"{path}: a zip archive but not TorchScript (a torch.save checkpoint?)")
    from .tensorrt import looks_like_engine

    if looks_like_engine(path):
        return "tensorrt"
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # protobuf raises DecodeError and friends
        model = None
    if model is None or len(model.graph.node) == 0:
        raise ArtifactError(f"{path}: not a TorchScript, ONNX or TensorRT artifact (or it is corrupt)")
    return "onnx"


def artifact_metadata(path: Path, fmt: str) -> dict[str, Any]:
    """The metadata an artifact carries (embedded, or the sidecar/manifest beside it).

    TorchScript and ONNX files made by other tools carry none; for them the facts the gate
    needs (input size, precision) are read off the artifact itself and marked as inferred.
    """
    if fmt == "tensorrt":
        from .tensorrt.manifest import read_manifest

        manifest = read_manifest(path)
        if manifest is None:
            raise ArtifactError(f"{path}: TensorRT engine without its manifest {path.name}.json")
        return manifest
    from .export import read_metadata

    try:
        return read_metadata(path)
    except ArtifactError:
        return _inferred_metadata(path, fmt)


def _inferred_metadata(path: Path, fmt: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"format": fmt, "precision": "fp32", "inferred": True}
    if fmt == "onnx":
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        inputs = model.graph.input
        if len(inputs) == 1:
            dims = inputs[0].type.tensor_type.shape.dim
            if len(dims) == 4 and dims[2].HasField("dim_value"):
                meta["input_size"] = int(dims[2].dim_value)
        # Float16 weights mean the graph computes in half, whatever its I/O types.
        if any(init.data_type == onnx.TensorProto.FLOAT16 for init in model.graph.initializer):
            meta["precision"] = "fp16"
    return meta


def aux_nodes(path: Path, fmt: str) -> list[str]:
    """Names inside the artifact that belong to an auxiliary classifier head."""
    if fmt == "onnx":
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        names = [n.name for n in model.graph.node] + [i.name for i in model.graph.initializer]
    elif fmt == "torchscript":
        import torch

        module = torch.jit.load(str(path), map_location="cpu")
        names = [n for n, _ in module.named_modules()] + [n for n, _ in module.named_parameters()]
    else:
        return []
    return [n for n in names if "aux" in n.lower()]


def open_runner(path: Path, fmt: str, input_size: int, precision: str, device: str = "cpu") -> Runner:
    if fmt == "torchscript":
        from .runners.torch_runner import TorchScriptRunner

        return TorchScriptRunner(path, input_size, device=device, precision=precision)
    if fmt == "onnx":
        from .runners.onnxruntime_runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner(path, device=device, precision=precision)
    from .tensorrt import missing_reason

    reason = missing_reason()
    if reason:
        from .errors import BackendUnavailable

        raise BackendUnavailable(f"{path}: cannot run a TensorRT engine here: {reason}")
    from .tensorrt.runner import TensorRTRunner

    return TensorRTRunner(path)
