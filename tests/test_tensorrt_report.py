"""TensorRT's engine inspector report, read without TensorRT: the precision each layer ran in
(TensorRT 10 and 11 report schemas) against what the ONNX graph asks of it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from inception_export.errors import ArtifactError, GateFailure
from inception_export.tensorrt.inspect_precision import (
    datatype_of,
    io_tensor_names,
    parse_layers,
    verify_precision,
)
from inception_export.tensorrt.manifest import (
    precision_expectation,
    verify_engine_report,
)
from inception_export.tensorrt.onnx_input import read_onnx_input

DATA = Path(__file__).parent / "data"
CH8 = "Channel major FP16 format where channel % 8 == 0"
FP16_IN = FP16_OUT = CH8

FUSED = "node_conv2d + node_relu + node_max_pool2d"  # ConvActPool: conv -> relu -> maxpool


def verify_fp16_convolutions(
    report: str | dict[str, Any], float32_nodes: list[str] | tuple[str, ...] = ()
) -> Any:
    """The check of an FP16 engine: ``verify_precision`` with the precision its manifest states."""
    return verify_precision(report, "fp16", float32_nodes)


def _tensor(name: str, dims: list[int], fmt: str) -> dict[str, object]:
    return {"Name": name, "Location": "Device", "Dimensions": dims, "Format/Datatype": fmt}


def _conv(name: str, fmt_in: str, fmt_out: str, wtype: str) -> dict[str, object]:
    return {
        "Name": name,
        "LayerType": "CaskConvolution",
        "Inputs": [_tensor(f"{name}_in", [1, 64, 73, 73], fmt_in)],
        "Outputs": [_tensor(f"{name}_out", [1, 80, 73, 73], fmt_out)],
        "ParameterType": "Convolution",
        "Kernel": [1, 1],
        "PaddingMode": "kEXPLICIT_ROUND_DOWN",
        "PrePadding": [0, 0],
        "PostPadding": [0, 0],
        "Stride": [1, 1],
        "Dilation": [1, 1],
        "OutMaps": 80,
        "Groups": 1,
        "Weights": {"Type": wtype, "Count": 5120},
        "Bias": {"Type": wtype, "Count": 80},
        "HasBias": 1,
        "HasReLU": 1,
        "Activation": "RELU",
        "TacticName": "sm80_xmma_fprop_implicit_gemm_f16f16_f16f16_f16_nhwckrsc_nhwc_tilesize64x64x64",
        "TacticValue": "0x5f0f1a9cd4b9d0b1",
        "Metadata": f"[ONNX Layer: {name}]",
    }


def _report(*convs: dict[str, object]) -> str:
    layers: list[dict[str, object]] = [
        {
            "Name": "Reformatting CopyNode for Input Tensor 0 to /Conv2d_1a_7x7/conv/Conv",
            "LayerType": "Reformat",
            "Inputs": [_tensor("input", [1, 3, 224, 224], "Row major linear FP32")],
            "Outputs": [_tensor("input_h", [1, 3, 224, 224], CH8)],
            "ParameterType": "Reformat",
            "Origin": "REFORMAT",
            "TacticValue": "0x0000000000000000",
        },
        *convs,
        {
            "Name": "/maxpool1/MaxPool",
            "LayerType": "CaskPooling",
            "Inputs": [_tensor("p_in", [1, 64, 112, 112], CH8)],
            "Outputs": [_tensor("p_out", [1, 64, 56, 56], CH8)],
            "ParameterType": "Pooling",
            "PoolingType": "MAX",
        },
        {
            "Name": "/fc/Gemm",
            "LayerType": "Myelin",
            "Inputs": [_tensor("g_in", [1, 1024], "Half")],
            "Outputs": [_tensor("logits", [1, 1000], "Float")],
            "TacticValue": "0x0000000000000000",
        },
    ]
    return json.dumps({"Layers": layers, "Bindings": ["input", "logits"]})


def test_datatype_tokens() -> None:
    assert datatype_of("Row major linear FP32") == "fp32"
    assert datatype_of(CH8) == "fp16"
    assert datatype_of("Thirty-two wide channel vectorized row major FP16 format") == "fp16"
    assert datatype_of("Half") == "fp16" and datatype_of("Float") == "fp32"
    assert datatype_of("Row major linear BFloat16 format") == "bf16"
    assert datatype_of("Four wide channel vectorized row major Int8 format") == "int8"
    assert datatype_of("Unknown format") is None


def test_all_fp16_report_passes() -> None:
    report = _report(
        _conv("/Conv2d_1a_7x7/conv/Conv + /Conv2d_1a_7x7/Relu", FP16_IN, FP16_OUT, "Half"),
        _conv("/inception3a/branch1/conv/Conv + /inception3a/branch1/Relu", FP16_IN, FP16_OUT, "Half"),
    )
    summary = verify_fp16_convolutions(report)
    assert (summary.layers, summary.convolutions, summary.fp16_convolutions) == (5, 2, 2)
    assert summary.mismatched == () and summary.unreadable == ()


def test_fp32_conv_fails_naming_the_layer() -> None:
    bad = "/inception3a/branch2/branch2.1/conv/Conv + /inception3a/branch2/Relu"
    report = _report(
        _conv("/Conv2d_1a_7x7/conv/Conv", FP16_IN, FP16_OUT, "Half"),
        _conv(bad, "Row major linear FP32", "Row major linear FP32", "Float"),
    )
    with pytest.raises(GateFailure, match=re.escape(bad)) as info:
        verify_fp16_convolutions(report)
    assert "fp32, expected fp16" in str(info.value) and "1/2 convolutions" in str(info.value)
    assert info.value.exit_code == 1


def test_report_without_detail_or_convs_is_refused() -> None:
    with pytest.raises(ArtifactError, match="DETAILED"):
        parse_layers(json.dumps({"Layers": ["conv1", "pool1"], "Bindings": []}))
    with pytest.raises(ArtifactError, match="not JSON"):
        parse_layers("Layers: conv1")
    with pytest.raises(GateFailure, match="no convolution"):
        verify_fp16_convolutions(json.dumps({"Layers": [], "Bindings": []}))


def _fixture(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / name).read_text())
    return doc


def test_fp16_report_counts_fused_convolutions() -> None:
    summary = verify_fp16_convolutions(_fixture("trt10_report_fp16.json"))
    # ConvActPool has no "Convolution" ParameterType/LayerType, only ConvParameterType/ConvWeights.
    assert (summary.convolutions, summary.fp16_convolutions, summary.fp32_convolutions) == (4, 4, 0)
    assert next(
        la for la in parse_layers(_fixture("trt10_report_fp16.json")) if la.name == FUSED
    ).is_convolution
    assert summary.io_tensors == ("input", "logits")


def test_fused_convolution_in_fp32_weights_fails() -> None:
    report = _fixture("trt10_report_fp16.json")
    fused = next(la for la in report["Layers"] if la["Name"] == FUSED)
    fused["ConvWeights"]["Type"] = "Float"
    with pytest.raises(GateFailure, match=re.escape(FUSED) + r".*expected fp16") as info:
        verify_fp16_convolutions(report)
    assert info.value.exit_code == 1 and "3/4 convolutions" in str(info.value)


def test_dynamic_shapes_without_context_are_unreadable_and_fail() -> None:
    report = _fixture("trt10_report_dynamic_no_context.json")
    layers = parse_layers(report)
    assert all(not la.readable for la in layers if la.is_convolution)
    # The weights alone say FP16: that must not be enough.
    assert {la.weight_type for la in layers if la.is_convolution} == {"fp16"}
    with pytest.raises(GateFailure, match=re.escape(FUSED) + r".* and 3 more.*execution context") as info:
        verify_fp16_convolutions(report)
    assert info.value.exit_code == 1


def test_tensorrt11_report_shape_is_read() -> None:
    report = _fixture("trt11_report_fp16.json")
    assert "Bindings" not in report and io_tensor_names(report) == ("input", "logits")
    conv = next(la for la in report["Layers"] if la["Name"].startswith("node_conv2d_1 "))
    assert set(conv["Inputs"][0]) >= {"DataType", "Format"} and "Format/Datatype" not in conv["Inputs"][0]
    summary = verify_fp16_convolutions(report)
    assert (summary.convolutions, summary.fp16_convolutions) == (4, 4)
    # An FP32 output alone is a Cast fused into an FP16 convolution (a kept-float32 border) ...
    conv["Outputs"][0]["DataType"] = "Float"
    assert verify_fp16_convolutions(report).fp16_convolutions == 4
    # ... FP32 weights are an FP32 convolution.
    conv["Weights"]["Type"] = "Float"
    with pytest.raises(GateFailure, match=r"node_conv2d_1 .*fp16/fp32, computes in fp32, expected fp16"):
        verify_fp16_convolutions(report)


def test_float32_nodes_from_the_onnx_set_what_each_conv_must_run_in() -> None:
    report = _fixture("trt10_report_keep_fp32.json")
    keep = ["Conv:node_conv2d_2", "Relu:node_relu_2"]
    summary = verify_fp16_convolutions(report, keep)
    assert (summary.convolutions, summary.fp16_convolutions, summary.fp32_convolutions) == (4, 3, 1)
    assert summary.expected_float32 == ("node_conv2d_2",)
    # Without the metadata's word for it, a float32 convolution in an FP16 engine fails ...
    fp32_conv = r"node_conv2d_2 \+ node_relu_2 \(fp32, computes in fp32, expected fp16\)"
    with pytest.raises(GateFailure, match=fp32_conv):
        verify_fp16_convolutions(report)
    # ... as does one the metadata keeps in float32 that runs in float16 (names match whole, not by prefix)
    with pytest.raises(GateFailure, match=re.escape(FUSED) + r" \(fp16, computes in fp16, expected fp32\)"):
        verify_fp16_convolutions(report, [*keep, "Conv:node_conv2d"])
    # ... and one the engine does not name at all cannot be verified.
    with pytest.raises(GateFailure, match="node_conv2d_9 in float32 but no engine layer"):
        verify_fp16_convolutions(report, [*keep, "Conv:node_conv2d_9"])


def _gemm_as_convolution(weights: str, fmt_in: str, fmt_out: str) -> dict[str, object]:
    """The classifier as TensorRT 10 on Orin may run it: a Gemm became a 1x1 CaskConvolution."""
    layer = _conv("node_linear", fmt_in, fmt_out, weights)
    layer["Inputs"] = [_tensor("flatten", [4, 1024, 1, 1], fmt_in)]
    layer["Outputs"] = [_tensor("linear", [4, 1000, 1, 1], fmt_out)]
    layer["Metadata"] = "[ONNX Layer: node_linear]"
    return layer


def test_classifier_kept_in_float32_may_run_as_a_convolution() -> None:
    report = _fixture("trt10_report_keep_fp32.json")
    layers = report["Layers"]
    at = next(i for i, la in enumerate(layers) if la["Name"] == "node_linear")
    # --keep-fp32 fc: the Gemm is in float32_nodes; the FP16 -> FP32 Cast before it is fused in.
    layers[at] = _gemm_as_convolution("Float", "Row major linear FP16 format", "Row major linear FP32")
    conv = ["Conv:node_conv2d_2"]  # the fixture's engine keeps this one in float32 too
    keep = [*conv, "Gemm:node_linear"]
    summary = verify_fp16_convolutions(report, keep)
    assert (summary.convolutions, summary.fp16_convolutions, summary.fp32_convolutions) == (5, 3, 2)
    # Not kept, a float32 classifier convolution fails; kept, an FP16 one fails.
    with pytest.raises(GateFailure, match=r"node_linear \(fp16/fp32, computes in fp32, expected fp16\)"):
        verify_fp16_convolutions(report, conv)
    layers[at] = _gemm_as_convolution("Half", "Row major linear FP16 format", "Row major linear FP16 format")
    with pytest.raises(GateFailure, match=r"node_linear \(fp16, computes in fp16, expected fp32\)"):
        verify_fp16_convolutions(report, keep)
    # A kept Gemm that TensorRT runs as a matrix multiply is no convolution: nothing to miss.
    assert verify_fp16_convolutions(_fixture("trt10_report_keep_fp32.json"), keep).convolutions == 4


def test_mixed_type_layers_are_judged_by_their_compute_type() -> None:
    # The stem: the float32 graph input's Cast fused into the first FP16 convolution.
    stem = _conv("node_conv2d", "Row major linear FP32", CH8, "Half")
    border = _conv("node_conv2d_2", CH8, "Row major linear FP32", "Float")  # a kept-float32 conv's Cast
    report = {"Layers": [stem, border], "Bindings": ["input", "logits"]}
    layers = parse_layers(report)
    assert [la.compute_type for la in layers] == ["fp16", "fp32"]
    summary = verify_fp16_convolutions(report, ["Conv:node_conv2d_2"])
    assert (summary.fp16_convolutions, summary.fp32_convolutions) == (1, 1)
    # No weights in the report and inputs differ from outputs: the outputs tell.
    del stem["Weights"]
    assert parse_layers(report)[0].compute_type == "fp16"
    stem["Outputs"] = [_tensor("a", [1], "Row major linear FP32"), _tensor("b", [1], CH8)]
    assert parse_layers(report)[0].compute_type == "mixed"
    with pytest.raises(GateFailure, match=r"computes in mixed, expected fp16"):
        verify_fp16_convolutions(report, ["Conv:node_conv2d_2"])


def test_fp32_engine_needs_every_convolution_in_fp32() -> None:
    with pytest.raises(GateFailure, match=r"fp32 engine runs convolution .*expected fp32\) and 3 more"):
        verify_precision(_fixture("trt10_report_fp16.json"), "fp32")


def _fp16_onnx_keeping_one_conv(path: Path) -> None:
    """A real FP16 graph with one Conv kept in float32, its metadata as the exporter writes it."""
    from inception_export.full.export.fp16 import float32_nodes

    w16 = helper.make_tensor(
        "w16", TensorProto.FLOAT16, [4, 3, 3, 3], np.full(108, 0.1, np.float16).view(np.uint16)
    )
    w32 = helper.make_tensor("w32", TensorProto.FLOAT, [4, 4, 1, 1], np.full(16, 0.5, np.float32))
    nodes = [
        helper.make_node("Cast", ["input"], ["x16"], name="node_Cast", to=TensorProto.FLOAT16),
        helper.make_node("Conv", ["x16", "w16"], ["c16"], name="node_conv2d", pads=[1, 1, 1, 1]),
        helper.make_node("Cast", ["c16"], ["c32"], name="node_Cast_1", to=TensorProto.FLOAT),
        helper.make_node("Conv", ["c32", "w32"], ["logits"], name="node_conv2d_1"),
    ]
    graph = helper.make_graph(
        nodes,
        "keep",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4, 8, 8])],
        [w16, w32],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    meta = {"model": "googlenet", "precision": "fp16", "input_size": 8, "float32_nodes": float32_nodes(model)}
    model.metadata_props.add(key="inception_export", value=json.dumps(meta))
    onnx.save(model, str(path))


def test_manifest_carries_the_onnx_expectation(tmp_path: Path) -> None:
    _fp16_onnx_keeping_one_conv(tmp_path / "keep.onnx")
    info = read_onnx_input(tmp_path / "keep.onnx")
    assert info.model == "googlenet" and info.precision == "fp16"
    assert info.float32_nodes == ["Conv:node_conv2d_1"]
    expect = precision_expectation("fp16", info.float32_nodes, info.keep_fp32)
    assert expect["float32_convolutions"] == ["node_conv2d_1"] and expect["other_convolutions"] == "fp16"
    # The manifest alone re-verifies an engine report: the report where node_conv2d_1 is
    # float32 passes against this expectation and fails against one without it.
    report = _fixture("trt10_report_fp16.json")
    conv1 = next(la for la in report["Layers"] if la["Name"].startswith("node_conv2d_1 "))
    for tensor in (*conv1["Inputs"], *conv1["Outputs"]):
        tensor["Format/Datatype"] = "Row major linear FP32"
    conv1["Weights"]["Type"] = "Float"
    manifest = {"precision_expectation": json.loads(json.dumps(expect))}
    assert verify_engine_report(report, manifest).fp32_convolutions == 1
    with pytest.raises(GateFailure, match=r"node_conv2d_1 .*expected fp16"):
        verify_engine_report(report, {"precision_expectation": precision_expectation("fp16")})
    with pytest.raises(ArtifactError, match="no precision_expectation"):
        verify_engine_report(report, {})
