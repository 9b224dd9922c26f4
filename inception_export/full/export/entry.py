"""Where an ONNX export request enters: checked into :class:`ExportOptions` once, then written
by its precision's exporter (FP32/FP16 traced in :mod:`.onnx_export`, INT8 in :mod:`.int8`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from ...registry import ModelSpec
from .int8 import write_int8
from .onnx_export import write_float_onnx
from .options import ExportOptions
from .write import ExportResult


def export_onnx(
    model: str | ModelSpec,
    output: Path,
    *,
    force: bool = False,
    model_obj: nn.Module | None = None,
    **options: Any,
) -> ExportResult:
    """Export ``model`` to ONNX at ``output`` (plus ``<output>.json``); see docs/export.md.

    ``options`` are :meth:`ExportOptions.create`'s (precision, weights, opset, batch, ``keep_fp32``:
    ``"auto"`` or module paths of layers kept float32 in an FP16 graph, the INT8 calibration ...),
    checked before any work; ``model_obj`` is a model the caller built from the same options.
    """
    checked = ExportOptions.create(model, model_obj=model_obj, **options)
    return write_onnx(checked, Path(output), force=force, model_obj=model_obj)


def write_onnx(
    options: ExportOptions,
    output: Path,
    *,
    force: bool = False,
    model_obj: nn.Module | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """The ONNX ``options`` ask for (FP32, FP16 or INT8 QDQ) at ``output``; ``progress`` hears
    the INT8 export's phases (the float exports are one step)."""
    if options.int8 is not None:
        return write_int8(options, output, force=force, model_obj=model_obj, progress=progress)
    return write_float_onnx(options, output, force=force, model_obj=model_obj)
