"""Put an artifact and its sidecar in place together, or neither."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...atomic import atomic_path, check_name_length, check_output, writes_into
from ...metadata import sidecar_path, to_json


@dataclass
class ExportResult:
    path: Path
    format: str  # onnx | torchscript
    precision: str  # fp32 | fp16
    sha256: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def sidecar(self) -> Path:
        return sidecar_path(self.path)

    def to_dict(self) -> dict[str, Any]:
        into = writes_into(self.path)
        return {
            "path": str(self.path),
            "stored": not into,  # False: written into a FIFO or device (-o /dev/null), no file kept
            "sidecar": None if into else str(self.sidecar),
            "format": self.format,
            "precision": self.precision,
            "sha256": self.sha256,
            "metadata": self.metadata,
        }


def check_outputs(path: Path, force: bool) -> None:
    """Refuse before any work if the artifact or its sidecar must not be written."""
    check_output(path, force)
    if not writes_into(path):
        check_name_length(sidecar_path(path), f"{path}: its metadata sidecar")
        check_output(sidecar_path(path), force)


def write_artifact(path: Path, data: bytes, meta: dict[str, Any]) -> str:
    """Write ``data`` and its sidecar atomically; return the artifact's sha256.

    Both go to temporary names first. The artifact is renamed into place before the
    sidecar; if anything fails after that, the artifact is removed again, so a failed
    export never leaves one without the other.
    """
    digest = hashlib.sha256(data).hexdigest()
    if writes_into(path):
        # -o /dev/null or a FIFO: no sidecar beside it (that would be /dev/null.json).
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        return digest
    side = dict(meta, artifact=path.name, artifact_sha256=digest)
    placed = False
    try:
        with atomic_path(sidecar_path(path)) as tmp_side:
            tmp_side.write_text(to_json(side))
            with atomic_path(path) as tmp:
                tmp.write_bytes(data)
            placed = True
    except BaseException:
        if placed:
            path.unlink(missing_ok=True)
        raise
    return digest
