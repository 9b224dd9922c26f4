"""The INT8 QDQ export, in phases: the FP32 graph traced once, the layers left in float16
(named, or measured by ``--keep-fp16 auto``), quantization, the graph's check, the write.
The graph work itself (placement, float16 parts, TensorRT's rules) is :mod:`.int8_graph`'s."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
from torch import nn

from ...console import expect_steps
from ...errors import UsageError
from ...registry import ModelSpec
from .calibration import CalibrationSet, read_calibration
from .common import get_model, strip_build_attrs
from .fold import fold_batchnorm
from .int8_graph import (
    CONCAT_POLICY,
    QUANTIZED_OPS,
    QdqSummary,
    check_qdq,
    layer_nodes,
    quantize,
    to_float16,
)
from .keep_fp32 import KeepPlan
from .layers import layer_paths, resolve_modules
from .onnx_export import _finish, _Float32, trace_onnx
from .onnx_map import layer_outputs
from .options import ExportOptions, Int8Options
from .write import ExportResult, check_outputs

__all__ = ["export_onnx_int8", "write_int8"]

FLOAT16_FROM = "QDQ graph from onnxruntime.quantization.quantize_static, float parts in float16"


def export_onnx_int8(
    model: str | ModelSpec,
    output: Path,
    *,
    force: bool = False,
    model_obj: nn.Module | None = None,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> ExportResult:
    """Export ``model`` to an INT8 QDQ ONNX at ``output`` (plus ``<output>.json``); see docs/int8.md.

    ``options`` are :meth:`.options.ExportOptions.create`'s: ``calibration``, a directory of
    images (read with the model's preprocessing); ``keep_fp16``: ``"auto"`` or module paths of
    layers left in float16. ``"auto"`` measures with ``localize``, which the exporter does not
    import (localize reads what the exporter makes): the caller passes ``auto_keep``
    (``localize.int8_auto.auto_keep_fp16``). ``progress`` is called as each phase starts.
    """
    checked = ExportOptions.create(model, precision="int8", model_obj=model_obj, **options)
    return write_int8(checked, Path(output), force=force, model_obj=model_obj, progress=progress)


def write_int8(
    options: ExportOptions,
    output: Path,
    *,
    force: bool = False,
    model_obj: nn.Module | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """The INT8 QDQ ONNX ``options`` (precision int8) ask for, at ``output``; see docs/int8.md.
    ``progress`` is called as each phase starts."""
    int8 = options.int8
    assert int8 is not None  # ExportOptions sets it for precision int8, the only way here
    check_outputs(output, force)
    step = progress or (lambda _msg: None)
    expect_steps(progress, 5)
    step("build model")
    net = get_model(options, model_obj)
    layers = _named_layers(net, options.spec.name, int8)
    step("read calibration images")
    calib = read_calibration(int8.calibration, options.spec, options.size, int8.samples)
    step("trace FP32 graph")
    folded, n_folded = fold_batchnorm(net)
    strip_build_attrs(folded)
    proto32 = trace_onnx(_Float32(folded, None), options.size, options.batch, False, options.opset)
    if int8.keep_fp16 == ("auto",):
        step("--keep-fp16 auto: quantize, localize, repeat")
        reasons, proto = _measured_keep(net, proto32, calib, options, int8)
    else:
        step("quantize")
        reasons, proto = _named_keep(proto32, calib, layers, int8.method)
    step("check and write")
    extra = _int8_metadata(check_qdq(proto), calib, int8.method, reasons)
    return _finish(
        proto,
        output,
        options,
        net=net,
        plan=KeepPlan(),
        n_folded=n_folded,
        float16_from=None,
        extra_meta=extra,
    )


def _named_layers(net: nn.Module, model: str, int8: Int8Options) -> list[str]:
    """``--keep-fp16 LAYER,...`` checked against the built model (suggestions name the flag)."""
    if not int8.keep_fp16 or int8.keep_fp16 == ("auto",):
        return []
    try:
        return resolve_modules(net, list(int8.keep_fp16), model)
    except UsageError as exc:
        raise UsageError(str(exc).replace("--keep-fp32", "--keep-fp16", 1)) from None


def _measured_keep(
    net: nn.Module, proto32: onnx.ModelProto, calib: CalibrationSet, options: ExportOptions, int8: Int8Options
) -> tuple[dict[str, str], onnx.ModelProto]:
    """``--keep-fp16 auto``: the layers localize's measurement leaves in float16, and the graph."""
    # ExportOptions.create refuses "auto" without the measurement, before any work.
    assert int8.auto_keep is not None
    reasons, proto = int8.auto_keep(
        net,
        proto32,
        calib,
        model=options.spec.name,
        size=options.size,
        method=int8.method,
        outputs_map=layer_outputs(proto32, layer_paths(net)),
        images=options.images,
    )
    return reasons, proto


def _named_keep(
    proto32: onnx.ModelProto, calib: CalibrationSet, layers: list[str], method: str
) -> tuple[dict[str, str], onnx.ModelProto]:
    """The graph quantized with the named layers' Conv/Gemm nodes left in float16."""
    by_layer = layer_nodes(proto32, layers)
    empty = [layer for layer, nodes in by_layer.items() if not nodes]
    if empty:
        raise UsageError(f"--keep-fp16: {', '.join(empty)} has no Conv or Gemm in the graph")
    nodes = [n for ns in by_layer.values() for n in ns]
    proto = to_float16(quantize(proto32, calib, method=method, exclude_nodes=nodes))
    return dict.fromkeys(layers, "named by --keep-fp16"), proto


def _int8_metadata(
    summary: QdqSummary, calib: CalibrationSet, method: str, reasons: dict[str, str]
) -> dict[str, Any]:
    """What the metadata says of the quantization on top of an ONNX export's record."""
    return {
        "compute_dtype": "int8",
        "int8": True,
        "float16_from": FLOAT16_FROM,
        "quantization": {
            "format": "QDQ",
            "tool": _ort_version(),
            "weights": "int8, symmetric, per output channel (axis 0)",
            "activations": "int8, symmetric, per tensor",
            "zero_points": 0,
            "quantized_ops": list(QUANTIZED_OPS),
            "concat_policy": CONCAT_POLICY,
            "calibration_method": method,
            "calibration": calib.to_dict(),
            **summary.to_dict(),
        },
        "keep_fp16": list(reasons),
        "keep_fp16_reasons": reasons,
        "int8_nodes": summary.quantized_nodes,
        "float16_nodes": summary.float_nodes,
    }


def _ort_version() -> str:
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__} quantize_static"
