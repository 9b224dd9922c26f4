"""The INT8 branch of ``inception-export onnx``: its argument checks, then export/int8.py
(with ``--keep-fp16 auto``'s measurement from localize/, which the exporter does not import)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UsageError


def int8_onnx(model: str, output: Path, *, precision: str, keep_fp32: str | None, **options: Any) -> Any:
    """Refuse INT8-only options on other precisions (and the reverse), then export."""
    from ..export.calibration import DEFAULT_SAMPLES
    from ..export.int8 import DEFAULT_METHOD, export_onnx_int8
    from ..localize.int8_auto import auto_keep_fp16

    if precision != "int8":
        given = [
            flag
            for flag, on in (
                ("--calibration", options.get("calibration") is not None),
                ("--keep-fp16", options.get("keep_fp16") is not None),
                ("--calibration-samples", options.get("calibration_samples") != DEFAULT_SAMPLES),
                ("--calibration-method", options.get("calibration_method") != DEFAULT_METHOD),
            )
            if on
        ]
        flag = given[0] if given else "--calibration"
        raise UsageError(f"{flag} applies to INT8 exports only (--precision int8)")
    if keep_fp32 is not None:
        raise UsageError(
            "--keep-fp32 applies to FP16 exports; INT8 leaves layers in float16 with --keep-fp16"
        )
    method = options.pop("calibration_method")
    return export_onnx_int8(model, output, method=method, auto_keep=auto_keep_fp16, **options)
