"""A release's artifacts as the input of a deployment package.

Everything here is read as hostile: a manifest is JSON anyone can edit, so the file names it
gives are plain names inside the release (``release_manifest.read_release`` checks them), and
the sha256 it records is checked on every artifact copied out of it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from ..errors import ArtifactError
from ..text import describe_kind, printable


def artifacts(manifest: dict[str, Any], fmt: str) -> list[dict[str, Any]]:
    """The manifest's entries of format ``fmt`` (``onnx``, ``tensorrt``, ``torchscript``)."""
    return [a for a in manifest["artifacts"] if a.get("format") == fmt]


def artifact_path(release_dir: Path, entry: dict[str, Any]) -> Path:
    path = Path(release_dir) / entry["file"]
    if not path.is_file():
        if os.path.lexists(path):
            raise ArtifactError(
                f"{path}: listed in the release manifest, but {describe_kind(path)}, not a regular file"
            )
        raise ArtifactError(f"{path}: listed in the release manifest but missing")
    return path


def copy_verified(src: Path, dst: Path, sha256: object) -> str:
    """Copy ``src`` to ``dst``, hashing the bytes as they are copied; refused (and ``dst``
    removed) when they are not the bytes the manifest recorded."""
    h = hashlib.sha256()
    # Opened without blocking and checked on the descriptor: a FIFO swapped in after the
    # artifact was verified would block the copy until a writer came.
    fd = os.open(src, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ArtifactError(f"{printable(str(src))}: {describe_kind(src)}, not a regular file")
    with os.fdopen(fd, "rb") as fin, open(dst, "xb") as fout:
        while chunk := fin.read(1 << 20):
            h.update(chunk)
            fout.write(chunk)
    digest = h.hexdigest()
    if digest != sha256:
        dst.unlink(missing_ok=True)
        raise ArtifactError(
            f"{src}: sha256 {digest[:12]}… is not the release manifest's {printable(sha256)[:12]}…: "
            "the artifact changed after the release was made"
        )
    shutil.copystat(src, dst)
    return digest
