"""The metadata record every artifact carries, and where it is stored.

One JSON document, written three ways so a deployment can always find it: ONNX
``metadata_props`` (the whole record under ``inception_export``, plus flat keys such as
``precision`` and ``input_size`` that generic tools read), a TorchScript extra file, and a
sidecar ``<artifact>.json``. Nothing time- or host-dependent goes in (no timestamps, no
absolute paths), so the same inputs give the same bytes.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__, jsonout
from ..build import load_report
from ..errors import ArtifactError
from ..registry import ModelSpec

METADATA_KEY = "inception_export"
TORCHSCRIPT_EXTRA = "inception_export.json"
SCHEMA_VERSION = 1


def sidecar_path(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + ".json")


def to_json(meta: dict[str, Any]) -> str:
    return jsonout.dumps(meta, indent=2, sort_keys=True) + "\n"


def build_metadata(
    *,
    spec: ModelSpec,
    model: nn.Module,
    fmt: str,
    precision: str,
    input_size: int,
    transform_input: bool,
    seed: int,
    extra: dict[str, Any],
) -> dict[str, Any]:
    report = load_report(model)
    pre = asdict(spec.preprocessing)
    pre["transform_input"] = transform_input
    source = Path(report.path).name if not report.path.startswith("synthetic:") else report.path
    versions = {"inception_export": __version__, "torch": torch.__version__}
    if fmt == "onnx":
        import onnx
        import onnxscript

        versions["onnx"] = onnx.__version__
        versions["onnxscript"] = onnxscript.__version__
    meta: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "format": fmt,
        "model": spec.name,
        "input_size": input_size,
        "num_classes": report.num_classes,
        "precision": precision,
        "preprocessing": pre,
        "weights": {
            "source": source,
            "sha256": report.sha256,
            "seed": seed if report.path.startswith("synthetic:") else None,
        },
        "versions": versions,
    }
    meta.update(extra)
    # Round-trip through JSON so the in-memory record equals what readers get back (lists, not tuples).
    return dict(json.loads(json.dumps(meta)))


def flat_props(meta: dict[str, Any]) -> dict[str, str]:
    """String key/values for ONNX ``metadata_props``: the full record plus top-level keys."""
    props = {METADATA_KEY: jsonout.dumps(meta, sort_keys=True)}
    for key, value in meta.items():
        props[key] = value if isinstance(value, str) else jsonout.dumps(value, sort_keys=True)
    return props


def _from_onnx(path: Path) -> dict[str, Any]:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf decode errors have several types
        raise ArtifactError(f"{path}: not a readable ONNX file ({type(exc).__name__})") from None
    props = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY not in props:
        raise ArtifactError(f"{path}: no inception_export metadata in the ONNX file")
    return dict(json.loads(props[METADATA_KEY]))


def _from_torchscript(path: Path) -> dict[str, Any] | None:
    # Read the zip directly: loading the module just for its metadata would be slow.
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.endswith(f"/extra/{TORCHSCRIPT_EXTRA}"):
                return dict(json.loads(zf.read(name)))
    return None


def _first_byte(path: Path) -> bytes:
    # A serialized ModelProto starts with field 1 (ir_version) as a varint: tag 0x08.
    with path.open("rb") as fh:
        return fh.read(1)


def read_metadata(path: Path) -> dict[str, Any]:
    """The metadata of an artifact (ONNX, TorchScript) or of a sidecar ``.json`` file."""
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
    elif path.suffix == ".onnx" or _first_byte(path) == b"\x08":
        return _from_onnx(path)
    side = sidecar_path(path)
    if side.is_file():
        return read_metadata(side)
    raise ArtifactError(f"{path}: no embedded inception_export metadata and no sidecar {side.name}")
