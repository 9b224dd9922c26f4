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
