"""Every kind of graph the tool writes, against TensorRT's ONNX parser's own rules: the operator
support table of onnx-tensorrt (``docs/operators.md``: each operator's supported types) and
``ModelImporter.cpp``'s rule that UINT8 is a network input or output only. The tables are the
rows of the parser's sources for JetPack 6's TensorRT 10.3 (bracketed by 10.1-GA and 10.15) and
for TensorRT 11.1, copied into ``tests/data/onnx_trt_operators.json`` with their commits.

TensorRT cannot run here; this is what its parser checks before any layer is built.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import onnx
import pytest
from conftest import DATA, synthetic_model
from onnx import TensorProto, helper, shape_inference

TABLES = json.loads((DATA / "onnx_trt_operators.json").read_text())["tables"]
SIZE = 64
# ONNX's element type names as the table writes them.
TABLE_NAME = {
    "FLOAT": "FP32",
    "FLOAT16": "FP16",
    "BFLOAT16": "BF16",
    "FLOAT8E4M3FN": "FP8",
    "FLOAT4E2M1": "FP4",
}


def _type_name(elem_type: int) -> str:
    name = TensorProto.DataType.Name(elem_type)
    return TABLE_NAME.get(name, name)


def tensor_types(model: onnx.ModelProto) -> dict[str, str]:
    """Every tensor's type: inputs, outputs, value_info after shape inference, initializers and
    Constant nodes' values."""
    graph = shape_inference.infer_shapes(model, strict_mode=True).graph
    types = {
        v.name: _type_name(v.type.tensor_type.elem_type)
        for v in (*graph.value_info, *graph.input, *graph.output)
    }
    types.update({i.name: _type_name(i.data_type) for i in graph.initializer})
    for node in graph.node:
        if node.op_type == "Constant":
            value = helper.get_attribute_value(node.attribute[0])
            types[node.output[0]] = _type_name(value.data_type)
    return types


def parser_violations(model: onnx.ModelProto, table: dict[str, Any]) -> list[str]:
    """What this table's parser refuses in ``model`` (empty: nothing)."""
    graph = model.graph
    types = tensor_types(model)
    ends = {v.name for v in (*graph.input, *graph.output)}
    constants = {i.name for i in graph.initializer} | {
        n.output[0] for n in graph.node if n.op_type == "Constant"
    }
    found = [
        f"{name}: {t} is not a type the parser reads"
        for name, t in types.items()
        if t not in table["data_types"]
    ]
    found += [
        f"{name}: UINT8 inside the network" for name, t in types.items() if t == "UINT8" and name not in ends
    ]
    for node in graph.node:
        if node.op_type == "Constant":
            continue
        allowed = table["operators"].get(node.op_type)
        where = f"{node.op_type} {node.name or node.output[0]}"
        if allowed is None:
            found.append(f"{where}: no row for {node.op_type} in the table copied here")
            continue
        # "Supported Types" are those of the operator's data input (QuantizeLinear's float, its
        # DequantizeLinear's int8, what a Cast casts from).
        if types.get(node.input[0]) not in allowed:
            found.append(f"{where}: input {types.get(node.input[0])} not in {allowed}")
        if any(t is None for t in (types.get(o) for o in node.output)):
            found.append(f"{where}: an output of unknown type")
        # Restriction column: "`axes` must be an initializer".
        if node.op_type == "ReduceMean" and len(node.input) > 1 and node.input[1] not in constants:
            found.append(f"{where}: axes are not an initializer")
    return found


@pytest.fixture(scope="module")
def graphs(shared_exports: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, onnx.ModelProto]:
    """One graph of each kind the tool writes (v1: the session's FP32/FP16, the rest at 64 px)."""
    import skimage.data
    from PIL import Image

    from inception_export.deploy.nvinfer import scaling_for
    from inception_export.full.deploy.deepstream_onnx import export_deepstream_onnx
    from inception_export.full.export import export_onnx
    from inception_export.full.export.int8 import export_onnx_int8

    d = tmp_path_factory.mktemp("parser-rules")
    net = synthetic_model("googlenet")
    made = {
        "fp32": shared_exports("v1", "onnx", "fp32").path,
        "fp16": shared_exports("v1", "onnx", "fp16").path,
        "fp16-keep-fp32": export_onnx(
            "v1", d / "keep.onnx", input_size=SIZE, precision="fp16", keep_fp32="conv1", model_obj=net
        ).path,
        "fp16-embedded-preprocessing": export_onnx(
            "v1",
            d / "pixels.onnx",
            input_size=SIZE,
            precision="fp16",
            embed_preprocessing=True,
            model_obj=net,
        ).path,
    }
    calibration = d / "calibration"
    calibration.mkdir()
    for name in ("rocket", "cat"):
        Image.fromarray(getattr(skimage.data, name)()).save(calibration / f"{name}.png")
    made["int8-qdq"] = export_onnx_int8(
        "v1", d / "int8.onnx", calibration=calibration, input_size=SIZE, model_obj=net
    ).path
    pre = net.spec.preprocessing
    scaling = scaling_for(pre.mean, pre.std, pre.value_range, pre.colour_order, False)
    made["deepstream"] = export_deepstream_onnx(
        copy.deepcopy(net), net.spec, d / "ds.onnx", size=SIZE, batch=None, opset=18,
        scaling=scaling, transform_input=False, seed=0,
    ).path  # fmt: skip
    return {kind: onnx.load(str(path)) for kind, path in made.items()}


@pytest.mark.slow
@pytest.mark.parametrize("version", list(TABLES))
def test_every_graph_kind_parses_under_the_parser_tables(
    graphs: dict[str, onnx.ModelProto], version: str
) -> None:
    table = TABLES[version]
    report = {kind: parser_violations(model, table) for kind, model in graphs.items()}
    assert report == {kind: [] for kind in graphs}, report
    # The check sees what it must: the pixels graph holds its uint8 input, the QDQ graph its int8.
    pixels = tensor_types(graphs["fp16-embedded-preprocessing"])
    assert pixels["input"] == "UINT8" and list(pixels.values()).count("UINT8") == 1
    assert "INT8" in tensor_types(graphs["int8-qdq"]).values()


def test_the_rules_refuse_what_the_parser_refuses() -> None:
    """A Transpose on the uint8 input before the Cast (the embedded-preprocessing graph as it
    was), an operator the table lacks, and a type no TensorRT reads."""
    x = helper.make_tensor_value_info("input", TensorProto.UINT8, [1, 8, 8, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    old = helper.make_graph(
        [
            helper.make_node("Transpose", ["input"], ["t"], perm=[0, 3, 1, 2]),
            helper.make_node("Cast", ["t"], ["y"], to=TensorProto.FLOAT),
        ],
        "pixels",
        [x],
        [y],
    )
    new = helper.make_graph(
        [
            helper.make_node("Cast", ["input"], ["c"], to=TensorProto.FLOAT),
            helper.make_node("Transpose", ["c"], ["y"], perm=[0, 3, 1, 2]),
        ],
        "pixels",
        [x],
        [y],
    )
    for table in TABLES.values():
        found = parser_violations(helper.make_model(old), table)
        assert "t: UINT8 inside the network" in found and any(
            "Transpose" in f and "UINT8" in f for f in found
        )
        assert parser_violations(helper.make_model(new), table) == []
    z = helper.make_tensor_value_info("z", TensorProto.UINT16, [1])
    odd = helper.make_graph(
        [helper.make_node("Hardmax", ["a"], ["z"])],
        "g",
        [helper.make_tensor_value_info("a", TensorProto.UINT16, [1])],
        [z],
    )
    found = parser_violations(helper.make_model(odd), TABLES["11.1"])
    assert "z: UINT16 is not a type the parser reads" in found
    assert any("no row for Hardmax" in f for f in found)


def test_tables_name_their_sources() -> None:
    for version, table in TABLES.items():
        assert table["repository"] == "onnx/onnx-tensorrt" and len(table["commit"]) == 40, version
        assert table["path"] == "docs/operators.md" and "UINT8" in table["data_types"]
        assert "UINT8" not in table["operators"]["Transpose"] and "UINT8" in table["operators"]["Cast"]
