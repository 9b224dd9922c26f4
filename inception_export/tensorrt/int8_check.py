"""The engine check of an INT8 (QDQ) graph: INT8 compute where the QDQ sits, float16 elsewhere.

A strongly typed build takes its types from the graph: TensorRT fuses DequantizeLinear ->
Conv (and the ReLU, the residual Add) into one INT8 convolution whose weights the inspector
reports as ``Int8`` (TensorRT 11: its ``Constants``); a quantized Gemm classifier runs as such a
convolution or stays a matrix multiply reading int8; a Conv or Gemm the export left in float16
(``--keep-fp16``) must run in float16. The expectation comes from the ONNX metadata
(``int8_nodes``, ``float16_nodes``: ``"Conv:node_conv2d_3"`` entries, written by export/int8.py),
so a manifest can be checked again without the ONNX (:func:`verify_int8_report`). TensorRT 10.3
and 11.x both report fused layers by the ONNX node names they run (``"node_conv2d_3 + node_relu_3"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import GateFailure
from .inspect_precision import (
    CONV_LIKE_OPS,
    PrecisionReport,
    float32_convolutions,
    io_tensor_names,
    load_report,
    parse_layers,
)


def int8_expectation(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """What the engine's convolutions must run in, from an INT8 ONNX's metadata."""
    int8 = [str(n) for n in metadata.get("int8_nodes", [])]
    fp16 = [str(n) for n in metadata.get("float16_nodes", [])]
    return {
        "precision": "int8",
        "int8_nodes": int8,
        "int8_convolutions": list(float32_convolutions(int8, CONV_LIKE_OPS)),
        "float16_nodes": fp16,
        "float32_nodes": [],
        "keep_fp16": [str(n) for n in metadata.get("keep_fp16", [])],
        "other_convolutions": "fp16",
    }


def summarize_int8(report: str | Mapping[str, Any], int8_nodes: Iterable[str]) -> PrecisionReport:
    doc = load_report(report)
    layers = parse_layers(doc)
    want_int8 = frozenset(float32_convolutions(int8_nodes, CONV_LIKE_OPS))
    # A quantized Gemm classifier may stay a matrix multiply (no convolution runs it): that
    # layer is where its INT8 compute is checked.
    convs = [
        la for la in layers if la.is_convolution or (la.is_matrix_multiply and la.onnx_nodes & want_int8)
    ]
    mismatched, unreadable = [], []
    for la in convs:
        want = "int8" if la.onnx_nodes & want_int8 else "fp16"
        if not la.readable:
            unreadable.append(la.describe())
        elif not la.runs_in(want):
            mismatched.append(f"{la.describe()[:-1]}, computes in {la.compute_type}, expected {want})")
    named = frozenset().union(*(la.onnx_nodes for la in convs)) if convs else frozenset()
    return PrecisionReport(
        layers=len(layers),
        convolutions=len(convs),
        fp16_convolutions=sum(la.runs_in("fp16") for la in convs),
        fp32_convolutions=sum(la.runs_in("fp32") for la in convs),
        mismatched=tuple(mismatched),
        unreadable=tuple(unreadable),
        expected_float32=(),
        # An INT8 node no engine layer is named after cannot be verified.
        missing_float32=tuple(sorted(want_int8 - named)),
        io_tensors=io_tensor_names(doc),
    )


def verify_int8_precision(report: str | Mapping[str, Any], int8_nodes: Iterable[str]) -> PrecisionReport:
    """The summary, or GateFailure (exit 1) naming the first convolution not as the QDQ graph asks."""
    nodes = list(int8_nodes)
    summary = summarize_int8(report, nodes)
    if summary.convolutions == 0:
        raise GateFailure("engine inspector reports no convolution layers, so INT8 cannot be verified")
    if summary.unreadable:
        raise GateFailure(
            f"engine inspector gives no readable type for convolution {summary.unreadable[0]}, "
            "so its precision is not verified"
        )
    if summary.mismatched:
        raise GateFailure(
            f"int8 engine runs convolution {summary.mismatched[0]} "
            f"({summary.convolutions - len(summary.mismatched)}/{summary.convolutions} as the QDQ graph asks)"
        )
    if summary.missing_float32:
        raise GateFailure(
            f"the ONNX quantizes {summary.missing_float32[0]} but no engine layer is named after it, "
            "so its INT8 compute cannot be verified"
        )
    return summary


def verify_int8_report(report: str | Mapping[str, Any], expectation: Mapping[str, Any]) -> PrecisionReport:
    return verify_int8_precision(report, expectation.get("int8_nodes", []))
