"""INT8 engines, checked statically (no TensorRT here): the inspector-report check expects INT8
compute where the QDQ graph quantizes and float16 where it keeps a layer, for TensorRT 10.x and
11.x report shapes; the trtexec line for a QDQ graph is the strongly typed one of both versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inception_export.errors import GateFailure
from inception_export.tensorrt.config import EngineConfig
from inception_export.tensorrt.int8_check import int8_expectation, verify_int8_precision
from inception_export.tensorrt.manifest import verify_engine_report
from inception_export.tensorrt.trtexec import trtexec_argv

META = {
    "precision": "int8",
    "int8_nodes": ["Conv:node_conv2d", "Conv:node_conv2d_1", "Gemm:node_linear"],
    "float16_nodes": ["Conv:node_conv2d_2"],
    "keep_fp16": ["inception3a.branch1"],
}


def _conv10(name: str, dtype: str, weights: str) -> dict[str, Any]:
    """A TensorRT 10.x convolution layer ("Format/Datatype" strings)."""
    t = {"Name": f"{name}_t", "Dimensions": [1, 64, 8, 8], "Format/Datatype": f"Channel major {dtype} format"}
    return {
        "Name": name,
        "LayerType": "CaskConvolution",
        "Inputs": [t],
        "Outputs": [t],
        "ParameterType": "Convolution",
        "Kernel": [1, 1],
        "OutMaps": 64,
        "Weights": {"Type": weights, "Count": 4096},
        "Metadata": f"[ONNX Layer: {name.split(' + ')[0]}]",
    }


def _conv11(name: str, dtype: str, weights: str) -> dict[str, Any]:
    """A TensorRT 11.x fused layer (separate DataType/Format keys, Conv* fields)."""
    t = {"Name": f"{name}_t", "Dimensions": [1, 64, 8, 8], "DataType": dtype, "Format": "Channel major"}
    return {
        "Name": name,
        "LayerType": "CaskConvolution",
        "Inputs": [t],
        "Outputs": [t],
        "ParameterType": "Convolution",
        "ConvWeights": {"Type": weights, "Count": 4096},
    }


@pytest.mark.parametrize("conv", [_conv10, _conv11])
def test_int8_engine_report_passes_when_qdq_layers_run_int8(conv: Any) -> None:
    report = {
        "Layers": [
            conv("input_QuantizeLinear + node_conv2d + node_relu", "Int8", "Int8"),
            conv("node_conv2d_1 + node_relu_1", "Int8", "Int8"),
            conv("node_conv2d_2 + node_relu_2", "Half", "Half"),  # kept float16
            conv("node_linear", "Int8", "Int8"),  # the classifier, as a 1x1 convolution
        ],
        "Bindings": ["input", "logits"],
    }
    summary = verify_int8_precision(json.dumps(report), META["int8_nodes"])
    assert summary.convolutions == 4 and summary.fp16_convolutions == 1
    expectation = int8_expectation(META)
    assert expectation["int8_convolutions"] == ["node_conv2d", "node_conv2d_1", "node_linear"]
    # the manifest alone (no ONNX) verifies the same way
    assert verify_engine_report(json.dumps(report), {"precision_expectation": expectation}).ok


@pytest.mark.parametrize(
    ("layers", "needle"),
    [
        # a quantized convolution TensorRT ran in float16 (its QDQ not fused)
        ([("node_conv2d", "Half", "Half"), ("node_conv2d_1", "Int8", "Int8"),
          ("node_linear", "Int8", "Int8")], "node_conv2d (fp16, computes in fp16, expected int8)"),
        # a kept layer quantized anyway
        ([("node_conv2d", "Int8", "Int8"), ("node_conv2d_1", "Int8", "Int8"), ("node_linear", "Int8", "Int8"),
          ("node_conv2d_2", "Int8", "Int8")], "expected fp16"),
        # a quantized node no layer is named after
        ([("node_conv2d", "Int8", "Int8"), ("node_linear", "Int8", "Int8")], "node_conv2d_1"),
    ],
)  # fmt: skip
def test_int8_engine_report_fails_where_types_differ(layers: list[tuple[str, str, str]], needle: str) -> None:
    report = {"Layers": [_conv10(*la) for la in layers], "Bindings": ["input", "logits"]}
    with pytest.raises(GateFailure, match=r"int8|quantizes") as exc:
        verify_int8_precision(json.dumps(report), META["int8_nodes"])
    assert needle in str(exc.value)


def test_trtexec_line_for_a_qdq_graph_is_strongly_typed_without_precision_flags() -> None:
    cfg = EngineConfig(precision="int8", input_size=224, min_batch=1, opt_batch=1, max_batch=8)
    cfg.validate()
    argv = trtexec_argv(Path("v1-int8.onnx"), Path("v1-int8.engine"), cfg)
    assert "--stronglyTyped" in argv
    # TensorRT 11 removed --int8/--fp16 (and the calibrator); 10.3 refuses them with --stronglyTyped
    assert not {"--int8", "--fp16", "--best", "--calib"} & {a.split("=")[0] for a in argv}
    assert "--minShapes=input:1x3x224x224" in argv and "--maxShapes=input:8x3x224x224" in argv


DATA = Path(__file__).parent / "data"


def _report(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / name).read_text())
    return doc


def test_a_qat_report_of_tensorrt10_passes_with_its_gemm_as_an_int8_convolution() -> None:
    """A QAT network's report in TensorRT 10's schema (tests/data says where the schema comes
    from): the quantized convolutions, one with its residual Add fused, and the Gemm classifier,
    which TensorRT ran as a 1x1 INT8 convolution."""
    report = _report("trt10_report_qat.json")
    nodes = ["Conv:Conv_5", "Conv:Conv_8", "Conv:Conv_13", "Gemm:Gemm_24"]
    summary = verify_int8_precision(report, nodes)
    assert (summary.convolutions, summary.mismatched, summary.missing_float32) == (4, (), ())
    # The same report held to a graph that kept Conv_13 in float16 fails, naming it.
    with pytest.raises(GateFailure, match=r"Conv_13 .*computes in int8, expected fp16"):
        verify_int8_precision(report, [n for n in nodes if n != "Conv:Conv_13"])


def test_tensorrt11_constants_and_a_gemm_left_as_a_matrix_multiply() -> None:
    """TensorRT 11 reports no Weights entry, its weights as Constants; a quantized Gemm may stay a
    matrix multiply reading int8 and writing float16: judged by its inputs and Constants, never by
    its output type."""
    report = _report("trt11_report_int8_constants.json")
    nodes = ["Conv:node_conv2d", "Gemm:node_linear"]
    summary = verify_int8_precision(report, nodes)
    assert (summary.convolutions, summary.fp16_convolutions) == (3, 1) and summary.mismatched == ()
    # The classifier reading float16 is not INT8 compute, whatever its output says.
    layers = report["Layers"]
    layers[3]["Inputs"][0]["Datatype"] = "Half"
    layers[3]["Constants"][0]["Datatype"] = "Half"
    with pytest.raises(GateFailure, match=r"node_linear .*computes in fp16, expected int8"):
        verify_int8_precision(report, nodes)
