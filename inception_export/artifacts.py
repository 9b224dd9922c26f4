"""Recognise an artifact by its content and read its metadata (``runners/factory.py`` opens its runner).

Nothing here imports torch unless a TorchScript artifact is actually opened: the device
role (golden bundle + ONNX/TensorRT) uses this module where PyTorch is not installed.
"""

from __future__ import annotations

import functools
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .console import stdout_to_stderr
from .errors import ArtifactError, BackendUnavailable
from .text import describe_kind

FORMATS = ("torchscript", "onnx", "tensorrt")

# Where export/metadata.py stores the record (kept equal to its constants; the export
# package imports torch, so they are repeated here rather than imported).
METADATA_KEY = "inception_export"
TORCHSCRIPT_EXTRA = "inception_export.json"
NEEDS_TORCH = "PyTorch is not installed here; gate the ONNX or TensorRT artifacts, or install the full role"


@dataclass(frozen=True)
class OnnxSummary:
    """What the gate needs from an ONNX file, read from one parse of it."""

    metadata_props: dict[str, str]
    names: tuple[str, ...]  # node and initializer names
    nodes: int
    inputs: int
    input_size: int | None  # a fixed spatial size of the single input, if declared
    fp16_weights: bool


@functools.lru_cache(maxsize=8)
def _onnx_summary(path: str, _mtime_ns: int, _size: int) -> OnnxSummary | None:
    import onnx

    try:
        model = onnx.load(path, load_external_data=False)
    except Exception:  # protobuf raises DecodeError and friends
        return None
    graph = model.graph
    size = None
    if len(graph.input) == 1:
        dims = graph.input[0].type.tensor_type.shape.dim
        if len(dims) == 4:
            # NCHW float input, or NHWC uint8 pixels for graphs that normalise in-graph.
            uint8 = graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
            d = dims[1] if uint8 else dims[2]
            size = int(d.dim_value) if d.HasField("dim_value") else None
    return OnnxSummary(
        metadata_props={p.key: p.value for p in model.metadata_props},
        names=tuple([n.name for n in graph.node] + [i.name for i in graph.initializer]),
        nodes=len(graph.node),
        inputs=len(graph.input),
        input_size=size,
        # Float16 weights mean the graph computes in half, whatever its I/O types.
        fp16_weights=any(i.data_type == onnx.TensorProto.FLOAT16 for i in graph.initializer),
    )


def onnx_summary(path: Path) -> OnnxSummary | None:
    """The parsed summary of an ONNX file (None if it does not parse), parsed once per file version."""
    st = path.stat()
    return _onnx_summary(str(path), st.st_mtime_ns, st.st_size)


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


def sidecar_path(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + ".json")


def _from_torchscript(path: Path) -> dict[str, Any] | None:
    # Read the zip directly: loading the module just for its metadata would be slow (and need torch).
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.endswith(f"/extra/{TORCHSCRIPT_EXTRA}"):
                return dict(json.loads(zf.read(name)))
    return None


def read_metadata(path: Path) -> dict[str, Any]:
    """The metadata of an artifact (ONNX, TorchScript) or of a sidecar ``.json`` file.

    Same reading as :func:`inception_export.export.read_metadata`, without importing torch.
    """
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: no such file")
    if path.suffix == ".json":
        try:
            return dict(json.loads(path.read_text()))
        except (ValueError, UnicodeDecodeError):
            raise ArtifactError(f"{path}: not a JSON metadata file") from None
    if zipfile.is_zipfile(path):
        meta = _from_torchscript(path)
        if meta is not None:
            return meta
    else:
        summary = onnx_summary(path)
        if summary is not None and METADATA_KEY in summary.metadata_props:
            try:
                return dict(json.loads(summary.metadata_props[METADATA_KEY]))
            except ValueError:
                raise ArtifactError(
                    f"{path}: unreadable inception_export metadata in the ONNX file"
                ) from None
    side = sidecar_path(path)
    if side.is_file():
        return read_metadata(side)
    raise ArtifactError(f"{path}: no embedded inception_export metadata and no sidecar {side.name}")


def artifact_metadata(path: Path, fmt: str) -> dict[str, Any]:
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
        return manifest
    try:
        return read_metadata(path)
    except ArtifactError:
        return _inferred_metadata(path, fmt)


def _inferred_metadata(path: Path, fmt: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"format": fmt, "precision": "fp32", "inferred": True}
    if fmt == "onnx":
        summary = onnx_summary(path)
        if summary is not None:
            if summary.input_size is not None:
                meta["input_size"] = summary.input_size
            if summary.fp16_weights:
                meta["precision"] = "fp16"
    return meta


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
