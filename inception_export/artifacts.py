"""Recognise an artifact by its content and read its metadata (``runners/factory.py`` opens its runner).

Nothing here imports torch unless a TorchScript artifact is actually opened: the device
role (golden bundle + ONNX/TensorRT) uses this module where PyTorch is not installed.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from .console import stdout_to_stderr
from .errors import FULL_INSTALL, ArtifactError, BackendUnavailable
from .metadata import ArtifactMeta, MissingMetadata, onnx_summary, read_metadata
from .text import describe_kind

NEEDS_TORCH = f"PyTorch is not installed here; gate the ONNX or TensorRT artifacts, or {FULL_INSTALL}"


# What a file name promises. A TorchScript archive is code (its hooks run on load, its
# forward may read files): one named ``model.onnx`` must not be run as TorchScript.
EXTENSIONS = {
    ".onnx": "onnx",
    ".pt": "torchscript",
    ".pth": "torchscript",
    ".ts": "torchscript",
    ".torchscript": "torchscript",
    ".jit": "torchscript",
    ".engine": "tensorrt",
    ".plan": "tensorrt",
    ".trt": "tensorrt",
}


def detect_format(path: Path) -> str:
    """``torchscript``, ``onnx`` or ``tensorrt``, judged from the bytes; refused when the
    file name's extension promises another format."""
    fmt = _format_by_content(path)
    named = EXTENSIONS.get(path.suffix.lower())
    if named is not None and named != fmt:
        raise ArtifactError(
            f"{path}: the content is {fmt} but the name says {named}; refusing to run it "
            "(rename the file if it really is what its content says)"
        )
    return fmt


def _format_by_content(path: Path) -> str:
    if not path.exists():
        raise ArtifactError(f"artifact not found: {path}")
    if not path.is_file():
        raise ArtifactError(f"artifact {path} is {describe_kind(path)}, not a regular file")
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
    summary = onnx_summary(path)
    if summary is None or summary.nodes == 0:
        raise ArtifactError(f"{path}: not a TorchScript, ONNX or TensorRT artifact (or it is corrupt)")
    return "onnx"


def artifact_metadata(path: Path, fmt: str) -> ArtifactMeta:
    """The metadata an artifact carries (embedded, or the sidecar/manifest beside it).

    TorchScript and ONNX files made by other tools carry none; for them the facts the gate
    needs (input size, precision) are read off the artifact itself and marked as inferred.
    """
    if fmt == "tensorrt":
        from .tensorrt.manifest import read_manifest

        manifest = read_manifest(path)
        if manifest is None:
            raise ArtifactError(
                f"{path}: TensorRT engine without its manifest {path.name}.json; for an engine trtexec "
                f"built, verify it and write one with: inception-export trt-manifest {path} --onnx MODEL.onnx"
            )
        return ArtifactMeta.from_record(manifest, path)
    try:
        return read_metadata(path)
    except MissingMetadata:
        return _inferred_metadata(path, fmt)


def _inferred_metadata(path: Path, fmt: str) -> ArtifactMeta:
    from .facts import onnx_facts, torchscript_facts

    meta: dict[str, Any] = {"format": fmt, "inferred": True}
    if fmt == "onnx":
        facts = onnx_facts(path)
        if facts is not None:
            meta["precision"] = facts.precision
            if facts.input_size is not None:
                meta["input_size"] = facts.input_size
    else:
        meta["precision"] = torchscript_facts(path).precision
    return ArtifactMeta.from_record(meta, path)


def require_backend(path: Path, fmt: str) -> None:
    """Refuse (exit 2, one line) an artifact whose runtime is not installed, before any slow work."""
    if fmt == "torchscript":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise BackendUnavailable(f"{path}: TorchScript needs PyTorch: {NEEDS_TORCH}") from None
    elif fmt == "tensorrt":
        from .tensorrt import missing_reason

        reason = missing_reason()
        if reason:
            raise BackendUnavailable(f"{path}: cannot run a TensorRT engine here: {reason}")


def aux_nodes(path: Path, fmt: str) -> list[str]:
    """Names inside the artifact that belong to an auxiliary classifier head."""
    if fmt == "onnx":
        summary = onnx_summary(path)
        names = list(summary.names) if summary is not None else []
    elif fmt == "torchscript":
        import torch

        with stdout_to_stderr():
            module = torch.jit.load(str(path), map_location="cpu")
        names = [n for n, _ in module.named_modules()] + [n for n, _ in module.named_parameters()]
    else:
        return []
    return [n for n in names if "aux" in n.lower()]
