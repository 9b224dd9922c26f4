"""The ONNX ``trt`` exports beside the engine it builds, kept when an identical one is there."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ...atomic import check_output, rename_noreplace, temp_stem
from ...errors import UsageError
from ...hashing import file_sha256
from .entry import write_onnx
from .options import ExportOptions


def export_beside(
    options: ExportOptions, onnx_path: Path, *, force: bool, ours: Callable[[Path], bool]
) -> tuple[str, bool]:
    """Export to ``onnx_path``; return its sha256 and whether an identical earlier one was kept.

    An ONNX of this tool already there (``ours``: this command's own from an earlier run, or a
    release's artifact that its manifest hashes) is kept unless ``force``: the export goes
    beside it and only an identical one is accepted, so re-running the same command still works.
    """
    earlier = not force and onnx_path.is_file() and ours(onnx_path)
    if not earlier:
        check_output(onnx_path, force)
        return write_onnx(options, onnx_path, force=force).sha256, False
    side = Path(
        tempfile.mkdtemp(prefix=f".{temp_stem(onnx_path.name)}.", suffix=".partial", dir=onnx_path.parent)
    )
    try:
        res = write_onnx(options, side / onnx_path.name, force=force)
        if file_sha256(onnx_path) != res.sha256:
            raise UsageError(
                f"{onnx_path} already exists and is not this export (another run's or a release's "
                "artifact); it is left as it is: pass --force to overwrite it, or choose another -o"
            )
        with contextlib.suppress(FileExistsError):
            rename_noreplace(res.sidecar, onnx_path.parent / res.sidecar.name)
    finally:
        shutil.rmtree(side, ignore_errors=True)
    return res.sha256, True
