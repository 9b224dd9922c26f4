"""The INT8 branch of ``inception-export onnx``: its argument checks, then export/int8.py
(with ``--keep-fp16 auto``'s measurement from localize/, which the exporter does not import)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UsageError


def int8_onnx(model: str, output: Path, *, precision: str, keep_fp32: str | None, **options: Any) -> Any:
    """Refuse INT8-only options on other precisions (and the reverse), then export; say how many
    calibration images the scales come from, and why that many."""
    from ..console import err, progress_steps
    from ..full.export.calibration import DEFAULT_SAMPLES, describe
    from ..full.export.int8 import DEFAULT_METHOD, export_onnx_int8
    from ..full.localize.int8_auto import auto_keep_fp16

    if precision != "int8":
        flags = ("--calibration", "--calibration-samples", "--calibration-method", "--keep-fp16")
        given = [f for f in flags if options.get(f.lstrip("-").replace("-", "_")) is not None]
        raise UsageError(f"{given[0]} applies to INT8 exports only (--precision int8)")
    if keep_fp32 is not None:
        raise UsageError(
            "--keep-fp32 applies to FP16 exports; INT8 leaves layers in float16 with --keep-fp16"
        )
    method = options.pop("calibration_method") or DEFAULT_METHOD
    if options.get("calibration_samples") is None:
        options["calibration_samples"] = DEFAULT_SAMPLES
    with progress_steps("onnx int8") as step:
        result = export_onnx_int8(
            model, output, method=method, auto_keep=auto_keep_fp16, progress=step, **options
        )
    err.print(describe(result.metadata["quantization"]["calibration"]), markup=False, highlight=False)
    return result
