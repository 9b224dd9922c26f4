"""TensorRT engines: build (strongly typed, verified FP16), manifest, trtexec line (the runner
is ``runners/tensorrt_runner.py``, beside the other backends).

Importing this package never needs TensorRT; the heavy modules import it lazily.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .availability import gpu_available, missing_reason, tensorrt_available
from .config import EngineConfig
from .manifest import FORMAT, manifest_path

# A serialized TensorRT plan starts with "ftrt" (8.x-10.x; Netron also accepts "ptrt").
ENGINE_MAGICS = (b"ftrt", b"ptrt")


def looks_like_engine(path: str | Path) -> bool:
    """True for a TensorRT engine file: plan magic bytes, or our manifest sidecar beside it.

    Cheap and TensorRT-free, for dispatching an artifact path to the right runner.
    """
    p = Path(path)
    if not p.is_file():
        return False
    try:
        with p.open("rb") as f:
            head = f.read(4)
    except OSError:
        return False
    if head in ENGINE_MAGICS:
        return True
    mpath = manifest_path(p)
    try:
        # Only its head: the manifest is read (bounded, refused if not a regular file) later.
        fd = os.open(mpath, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        return f'"format": "{FORMAT}"' in fh.read(4096).decode("utf-8", "replace")


__all__ = [
    "ENGINE_MAGICS",
    "EngineConfig",
    "gpu_available",
    "looks_like_engine",
    "missing_reason",
    "tensorrt_available",
]
