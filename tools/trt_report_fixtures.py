"""Writes the engine-inspector report fixtures in tests/data (python tools/trt_report_fixtures.py).

No GPU is here, so these are modelled, field for field, on real reports: trt-engine-explorer's
examples (NVIDIA/TensorRT v10.16, tools/experimental/trt-engine-explorer/examples/pytorch/resnet:
CaskConvolution/CaskGemmConvolution layers, the fused ConvActPool with ConvParameterType and
ConvWeights, Reformat layers, "Bindings"), TensorRT 11's documented schema change ("I/O Tensors"
objects, separate DataType/Format) and what a dynamic-shape engine reports without an execution
context ("N/A due to dynamic shapes"). Layer names are those of this project's dynamo ONNX
export (node_conv2d, node_relu...).
"""

import copy
import json
from pathlib import Path

CH8 = "Channel major FP16 format where channel % 8 == 0"
CH2 = "Two wide channel vectorized row major FP16 format"
F32 = "Row major linear FP32"


def t(name, dims, fmt):
    return {"Name": name, "Location": "Device", "Dimensions": dims, "Format/Datatype": fmt}


def conv(
    name,
    cin,
    cout,
    hw,
    k,
    fmt_in,
    fmt_out,
    w,
    impl="CaskConvolution",
    tactic="sm87_xmma_fprop_implicit_gemm_f16f16_f16f16_f16_nhwckrsc_nhwc_tilesize64x64x64_stage4_warpsize2x2x1_g1_tensor16x8x16",
):
    return {
        "Name": name,
        "LayerType": impl,
        "Inputs": [t(f"{name.split(' ')[0]}_in", [-1 if False else 4, cin, hw, hw], fmt_in)],
        "Outputs": [t(f"{name.split(' ')[0]}_out", [4, cout, hw, hw], fmt_out)],
        "ParameterType": "Convolution",
        "Kernel": [k, k],
        "PaddingMode": "kEXPLICIT_ROUND_DOWN",
        "PrePadding": [k // 2, k // 2],
        "PostPadding": [k // 2, k // 2],
        "Stride": [1, 1],
        "Dilation": [1, 1],
        "OutMaps": cout,
        "Groups": 1,
        "Weights": {"Type": w, "Count": cin * cout * k * k},
        "Bias": {"Type": w, "Count": cout},
        "HasBias": 1,
        "HasReLU": 1,
        "HasSparseWeights": 0,
        "Activation": "RELU",
        "TacticName": tactic,
        "TacticValue": "0x5f0f1a9cd4b9d0b1",
        "StreamId": 0,
        "Metadata": "[ONNX Layer: {}]".format(name.split(" + ")[0]),
    }


layers = [
    {
        "Name": "Reformatting CopyNode for Input Tensor 0 to node_conv2d + node_relu + node_max_pool2d",
        "LayerType": "Reformat",
        "Inputs": [t("input", [4, 3, 224, 224], F32)],
        "Outputs": [
            t(
                "Reformatted Input Tensor 0 to node_conv2d + node_relu + node_max_pool2d",
                [4, 3, 224, 224],
                CH8,
            )
        ],
        "ParameterType": "Reformat",
        "Origin": "REFORMAT",
        "TacticValue": "0x0000000000000000",
        "StreamId": 0,
        "Metadata": "",
    },
    {
        "Name": "node_conv2d + node_relu + node_max_pool2d",
        "LayerType": "ConvActPool",
        "Inputs": [
            t(
                "Reformatted Input Tensor 0 to node_conv2d + node_relu + node_max_pool2d",
                [4, 3, 224, 224],
                CH8,
            )
        ],
        "Outputs": [t("max_pool2d", [4, 64, 56, 56], CH8)],
        "ParameterType": "ConvActPool",
        "ConvParameterType": "Convolution",
        "ConvKernel": [7, 7],
        "ConvPaddingMode": "kEXPLICIT_ROUND_DOWN",
        "ConvPrePadding": [3, 3],
        "ConvPostPadding": [3, 3],
        "ConvStride": [2, 2],
        "ConvDilation": [1, 1],
        "ConvOutMaps": 64,
        "ConvGroups": 1,
        "ConvWeights": {"Type": "Half", "Count": 9408},
        "ConvBias": {"Type": "Half", "Count": 64},
        "ConvHasSparseWeights": 0,
        "ConvActivation": "RELU",
        "PoolingParameterType": "Pooling",
        "PoolingPoolingType": "MAX",
        "PoolingWindowSize": [3, 3],
        "PoolingPaddingMode": "kEXPLICIT_ROUND_UP",
        "PoolingPrePadding": [0, 0],
        "PoolingPostPadding": [0, 0],
        "PoolingStride": [2, 2],
        "PoolingBlendFactor": 0,
        "PoolingAverageCountExcludesPadding": 1,
        "TacticValue": "0x0000000000000461",
        "StreamId": 0,
        "Metadata": (
            "[ONNX Layer: node_conv2d]\u001e[ONNX Layer: node_relu]\u001e[ONNX Layer: node_max_pool2d]"
        ),
    },
    conv("node_conv2d_1 + node_relu_1", 64, 64, 56, 1, CH8, CH8, "Half"),
    conv(
        "node_conv2d_2 + node_relu_2",
        64,
        192,
        56,
        3,
        CH8,
        CH8,
        "Half",
        impl="CaskGemmConvolution",
        tactic="sm87_xmma_gemm_f16f16_f16f16_f16_nn_n_tilesize64x64x64",
    ),
    {
        "Name": "node_max_pool2d_1",
        "LayerType": "CaskPooling",
        "Inputs": [t("relu_2", [4, 192, 56, 56], CH8)],
        "Outputs": [t("max_pool2d_1", [4, 192, 28, 28], CH8)],
        "ParameterType": "Pooling",
        "PoolingType": "MAX",
        "WindowSize": [3, 3],
        "PaddingMode": "kEXPLICIT_ROUND_UP",
        "PrePadding": [0, 0],
        "PostPadding": [0, 0],
        "Stride": [2, 2],
        "BlendFactor": 0,
        "AverageCountExcludesPadding": 1,
        "TacticName": "sm50_xmma_pooling_max_nhwc_FP16FP32_WINDOWSIZE3_NOT_PROPAGATE_NAN_2D",
        "TacticValue": "0x8e2e1f4d5e5e8a51",
        "StreamId": 0,
        "Metadata": "[ONNX Layer: node_max_pool2d_1]",
    },
    conv("node_conv2d_3 + node_relu_3", 192, 64, 28, 1, CH8, CH2, "Half"),
    {
        "Name": "node_linear",
        "LayerType": "CaskGemmMatrixMultiply",
        "Inputs": [t("flatten", [4, 1024], "Row major linear FP16 format")],
        "Outputs": [t("linear", [4, 1000], "Row major linear FP16 format")],
        "ParameterType": "MatrixMultiply",
        "TacticValue": "0x0000000000020001",
        "StreamId": 0,
        "Metadata": "[ONNX Layer: node_linear]",
    },
    {
        "Name": "node_Cast_1",
        "LayerType": "Reformat",
        "Inputs": [t("linear", [4, 1000], "Row major linear FP16 format")],
        "Outputs": [t("logits", [4, 1000], F32)],
        "ParameterType": "Reformat",
        "Origin": "CAST",
        "TacticValue": "0x00000000000003e8",
        "StreamId": 0,
        "Metadata": "[ONNX Layer: node_Cast_1]",
    },
]
doc = {"Layers": layers, "Bindings": ["input", "logits"]}
Path("tests/data/trt10_report_fp16.json").write_text(json.dumps(doc, indent=1))
# No execution context on a dynamic-batch engine: every tensor type is N/A.
na = copy.deepcopy(doc)
for la in na["Layers"]:
    for side in ("Inputs", "Outputs"):
        for tt in la[side]:
            tt["Format/Datatype"] = "N/A due to dynamic shapes"
            tt["Dimensions"][0] = -1
Path("tests/data/trt10_report_dynamic_no_context.json").write_text(json.dumps(na, indent=1))
# 11.x shapes: I/O Tensors, DataType + Format split.
t11 = copy.deepcopy(doc)
del t11["Bindings"]
t11["I/O Tensors"] = [
    {
        "Name": "input",
        "IOMode": "Input",
        "DataType": "Float",
        "Dimensions": [-1, 3, 224, 224],
        "Location": "Device",
        "IsShapeInferenceIO": False,
        "ProfileInfo": [
            {
                "MinShape": [1, 3, 224, 224],
                "OptShape": [4, 3, 224, 224],
                "MaxShape": [8, 3, 224, 224],
                "Format": "Row major linear FP32 format (kLINEAR)",
            }
        ],
    },
    {
        "Name": "logits",
        "IOMode": "Output",
        "DataType": "Float",
        "Dimensions": [-1, 1000],
        "Location": "Device",
        "IsShapeInferenceIO": False,
        "ProfileInfo": [{"Format": "Row major linear FP32 format (kLINEAR)"}],
    },
]
dt = {"fp16": "Half", "fp32": "Float"}
for la in t11["Layers"]:
    for side in ("Inputs", "Outputs"):
        for tt in la[side]:
            f = tt.pop("Format/Datatype")
            tt["DataType"] = "Half" if "FP16" in f else "Float"
            tt["Format"] = f.replace(" FP16 format", " format").replace(" FP32", " format")
Path("tests/data/trt11_report_fp16.json").write_text(json.dumps(t11, indent=1))
# An FP16 graph that keeps node_conv2d_2 in float32 (ONNX metadata float32_nodes lists it).
keep = copy.deepcopy(doc)
L = keep["Layers"]
i = next(k for k, la in enumerate(L) if la["Name"].startswith("node_conv2d_2"))
L[i] = conv(
    "node_conv2d_2 + node_relu_2",
    64,
    192,
    56,
    3,
    F32,
    F32,
    "Float",
    tactic="sm80_xmma_fprop_implicit_gemm_tf32f32_tf32f32_f32_nhwckrsc_nhwc",
)
L.insert(
    i,
    {
        "Name": "Reformatting CopyNode for Input Tensor 0 to node_conv2d_2 + node_relu_2",
        "LayerType": "Reformat",
        "Inputs": [t("relu_1", [4, 64, 56, 56], CH8)],
        "Outputs": [t("relu_1_f32", [4, 64, 56, 56], F32)],
        "ParameterType": "Reformat",
        "Origin": "CAST",
        "TacticValue": "0x0",
        "StreamId": 0,
        "Metadata": "[ONNX Layer: node_Cast_2]",
    },
)
L.insert(
    i + 2,
    {
        "Name": "Reformatting CopyNode for Input Tensor 0 to node_max_pool2d_1",
        "LayerType": "Reformat",
        "Inputs": [t("relu_2", [4, 192, 56, 56], F32)],
        "Outputs": [t("relu_2_h", [4, 192, 56, 56], CH8)],
        "ParameterType": "Reformat",
        "Origin": "CAST",
        "TacticValue": "0x0",
        "StreamId": 0,
        "Metadata": "[ONNX Layer: node_Cast_3]",
    },
)
Path("tests/data/trt10_report_keep_fp32.json").write_text(json.dumps(keep, indent=1))
