"""The precision an artifact is gated at (and so its limits) is what it computes: read from the
ONNX graph (live nodes only, subgraphs and float16 hints included) or the TorchScript archive's
storage, never bought by a record, a flat property or a sidecar. Built on the hand-made ONNX
classifier (``helpers.tiny_onnx``) and small archives, in this process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from helpers import cli, one_error, tiny_onnx, write_bundle
from onnx import TensorProto, helper, numpy_helper


def _with_record(src: Path, dst: Path, *, record: Any = None, flat: str | None = None) -> Path:
    """``src`` with an embedded inception_export record and/or a flat ``precision`` property."""
    model = onnx.load(str(src))
    if record is not None:
        model.metadata_props.add(key="inception_export", value=json.dumps(record))
    if flat is not None:
        model.metadata_props.add(key="precision", value=flat)
    onnx.save(model, str(dst))
    return dst


def test_a_record_cannot_buy_the_limits_of_another_precision(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Weights off by 10 % (rel L2 ~0.1: within INT8's 0.15): the FP32 graph fails, and saying
    ``int8`` in any record of it (embedded, flat property, sidecar) is refused, naming both."""
    d, bundle = case["dir"], case["bundle"]
    scaled, _, _ = tiny_onnx(d / "scaled.onnx", scale=1.10)
    code, out, err = cli("parity", "--golden", bundle, scaled, "--json", capsys=capsys)
    assert code == 1, err
    assert json.loads(out)["artifacts"][0]["checks"][2]["value"] > 0.05  # rel_l2, failing FP32's 1e-5
    lies = {
        "embedded": _with_record(scaled, d / "embedded.onnx", record={"model": "tiny", "precision": "int8"}),
        "flat": _with_record(scaled, d / "flat.onnx", flat="int8"),
        "sidecar": _with_record(scaled, d / "sidecar.onnx"),
        "both": _with_record(scaled, d / "both.onnx", record={"precision": "fp32"}, flat="int8"),
    }
    (d / "sidecar.onnx.json").write_text(json.dumps({"model": "tiny", "precision": "int8"}))
    for kind, lie in lies.items():
        code, _, err = cli("parity", "--golden", bundle, lie, capsys=capsys)
        assert code == 2, (kind, err)
        line = one_error(err)
        if kind == "both":  # the flat copy disagrees with the record itself: refused before the graph
            assert "metadata_props say precision 'int8' but its inception_export record says 'fp32'" in line
            continue
        assert "says precision 'int8' but the artifact is 'fp32'" in line, (kind, line)
        assert "no Conv/Gemm/MatMul takes a DequantizeLinear output or float16 values" in line


@pytest.mark.parametrize(
    ("claim", "code", "needle"),
    [
        ("fp32", 1, ""),  # agrees: gated (and failed) as FP32
        ("FP32", 1, ""),  # the same name, spelled in capitals
        ("INT8", 2, "says precision 'INT8' but the artifact is 'fp32'"),
        ("fp64", 2, "says precision 'fp64', which is none of fp32, fp16, int8"),
        (123, 2, "metadata field precision is 123, not a string"),
    ],
)
def test_odd_precision_claims(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str], claim: Any, code: int, needle: str
) -> None:
    scaled, _, _ = tiny_onnx(case["dir"] / "scaled.onnx", scale=1.10)
    lie = _with_record(scaled, case["dir"] / "claim.onnx", record={"model": "tiny", "precision": claim})
    got, _, err = cli("parity", "--golden", case["bundle"], lie, capsys=capsys)
    assert got == code, err
    if needle:
        assert needle in one_error(err)


def _graph_with(extra_nodes: list[onnx.NodeProto], extra_inits: list[onnx.TensorProto], path: Path) -> Path:
    """The tiny classifier plus nodes that compute nothing the output needs (or a subgraph)."""
    tiny_onnx(path)
    model = onnx.load(str(path))
    model.graph.node.extend(extra_nodes)
    model.graph.initializer.extend(extra_inits)
    onnx.save(model, str(path))
    return path


def _qdq_pair(src: str, tag: str) -> list[onnx.NodeProto]:
    return [
        helper.make_node("QuantizeLinear", [src, f"s{tag}"], [f"q{tag}"]),
        helper.make_node("DequantizeLinear", [f"q{tag}", f"s{tag}"], [f"dq{tag}"]),
    ]


def _cast_pair(src: str, dst: str) -> list[onnx.NodeProto]:
    return [
        helper.make_node("Cast", [src], [f"{src}_half"], to=TensorProto.FLOAT16),
        helper.make_node("Cast", [f"{src}_half"], [dst], to=TensorProto.FLOAT),
    ]


def _rerouted(path: Path, nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], into: str = "") -> Path:
    """The tiny classifier with ``nodes`` spliced in: before the MatMul (its input renamed
    ``into``), or after the final Add (whose output becomes ``pre``)."""
    tiny_onnx(path)
    model = onnx.load(str(path))
    if into:
        model.graph.node[1].input[0] = into
        model.graph.node.insert(1, nodes[-1])
        for n in reversed(nodes[:-1]):
            model.graph.node.insert(1, n)
    else:
        model.graph.node[-1].output[0] = "pre"
        model.graph.node.extend(nodes)
    model.graph.initializer.extend(inits)
    onnx.save(model, str(path))
    return path


def test_a_half_pickle_torch_never_loads_is_not_evidence(tmp_path: Path) -> None:
    """``torchscript_facts`` read every member named */data.pkl: an extra ``archive/junk/data.pkl``
    naming ``torch HalfStorage`` made an FP32 archive FP16 (limits 500x looser)."""
    import zipfile

    from inception_export.facts import torchscript_facts

    path = tmp_path / "lie.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02ctorch\nFloatStorage\nq\x00.")
        zf.writestr("archive/constants.pkl", b"\x80\x02ctorch\nFloatStorage\nq\x00.")
        zf.writestr("archive/junk/data.pkl", b"\x80\x02ctorch\nHalfStorage\nq\x00.")
    facts = torchscript_facts(path)
    assert facts.precision == "fp32" and "HalfStorage" not in facts.storages


def test_torchscript_precision_is_the_storage_holding_most_bytes(tmp_path: Path) -> None:
    """One float16 buffer in an FP32 module is not an FP16 archive (it bought FP16's limits, 500x
    FP32's); a half module with a float32 buffer is FP16. Real archives, read without loading."""
    import torch

    from inception_export.facts import torchscript_facts

    fp32 = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3)).eval()
    fp32.register_buffer("odd", torch.zeros(16, dtype=torch.half))
    torch.jit.save(torch.jit.script(fp32), str(tmp_path / "fp32.pt"))
    half = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3)).eval().half()
    half.register_buffer("odd", torch.zeros(16, dtype=torch.float))
    torch.jit.save(torch.jit.script(half), str(tmp_path / "fp16.pt"))
    for name in ("fp32", "fp16"):
        facts = torchscript_facts(tmp_path / f"{name}.pt")
        assert {"FloatStorage", "HalfStorage"} <= set(facts.storages)
        assert facts.precision == name, facts.evidence


def _matmul_chain(quantized: int, layers: int = 3) -> onnx.GraphProto:
    """``layers`` MatMuls in a row, the first ``quantized`` of them on QDQ'd weights."""
    nodes, inits, prev = [], [numpy_helper.from_array(np.array(0.05, np.float32), "s")], "x"
    for i in range(layers):
        inits.append(numpy_helper.from_array(np.eye(4, dtype=np.float32), f"W{i}"))
        weight = f"W{i}"
        if i < quantized:
            nodes += [
                helper.make_node("QuantizeLinear", [weight, "s"], [f"q{i}"]),
                helper.make_node("DequantizeLinear", [f"q{i}", "s"], [f"dq{i}"]),
            ]
            weight = f"dq{i}"
        nodes.append(helper.make_node("MatMul", [prev, weight], [f"y{i}"]))
        prev = f"y{i}"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 4])
    return helper.make_graph(nodes, "chain", [x], [y], inits)


def test_one_qdq_pair_does_not_buy_int8_limits_for_a_float_graph() -> None:
    """A QDQ pair on one conv of v1's FP32 ONNX, whose first conv was scaled by 1.10, passed
    ``parity --golden`` (exit 0, rel L2 0.099 under INT8's 0.15): INT8 is most layers quantized."""
    from inception_export.onnx_graph import graph_facts

    one = graph_facts(_matmul_chain(1))
    assert one.precision == "fp32" and "only 1 of 3 Conv/Gemm/MatMul" in one.evidence
    assert graph_facts(_matmul_chain(2)).precision == "int8"  # the classifier left in float
    assert graph_facts(_matmul_chain(1, layers=2)).precision == "int8"


def test_precision_of_odd_graphs(case: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """Only what computes the output counts: a dead QDQ pair, QDQ inside a subgraph or a float16
    value_info hint do not buy looser limits; a live Cast to float16 is FP16 compute."""
    from inception_export.facts import onnx_facts

    tmp_path = case["dir"]
    scale = numpy_helper.from_array(np.array(0.1, np.float32), "s0")
    scale2 = numpy_helper.from_array(np.array(0.1, np.float32), "s2")
    dead = _graph_with(_qdq_pair("b", "0"), [scale], tmp_path / "dead-qdq.onnx")
    assert onnx_facts(dead).precision == "fp32"  # type: ignore[union-attr]
    assert "2 QuantizeLinear/DequantizeLinear ignored" in onnx_facts(dead).evidence  # type: ignore[union-attr]
    claim = _with_record(dead, tmp_path / "dead-claim.onnx", record={"model": "tiny", "precision": "int8"})
    code, _, err = cli("parity", "--golden", case["bundle"], claim, capsys=capsys)
    assert code == 2 and "says precision 'int8' but the artifact is 'fp32'" in one_error(err)

    # QDQ only inside a subgraph: an If whose branches quantize a copy of the logits.
    branch = helper.make_graph(
        [*_qdq_pair("logits", "1"), helper.make_node("Identity", ["dq1"], ["out1"])],
        "branch",
        [],
        [helper.make_tensor_value_info("out1", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array(0.1, np.float32), "s1")],
    )
    cond = numpy_helper.from_array(np.array(True), "cond")
    sub = _graph_with(
        [helper.make_node("If", ["cond"], ["unused"], then_branch=branch, else_branch=branch)],
        [cond],
        tmp_path / "subgraph-qdq.onnx",
    )
    assert onnx_facts(sub).precision == "fp32"  # type: ignore[union-attr]

    # On the logits' path but feeding no weight layer: a Cast to float16 and back, or a QDQ pair,
    # rounds the output a little and would have bought FP16's or INT8's limits.
    for kind, nodes, inits in [
        ("cast", _cast_pair("pre", "logits"), []),
        ("qdq-logits", [*_qdq_pair("pre", "2"), helper.make_node("Identity", ["dq2"], ["logits"])], [scale2]),
    ]:
        path = _rerouted(tmp_path / f"{kind}.onnx", nodes, inits)
        assert onnx_facts(path).precision == "fp32", kind  # type: ignore[union-attr]
    # Where the weight layer itself takes them, they are what the graph computes in.
    half_mm = tmp_path / "half-mm.onnx"
    tiny_onnx(half_mm)
    model = onnx.load(str(half_mm))
    w = model.graph.initializer[0]
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w).astype(np.float16), "W"))
    model.graph.node[1].input[0], model.graph.node[1].output[0] = "flat_h", "mm_h"
    model.graph.node.insert(1, helper.make_node("Cast", ["flat"], ["flat_h"], to=TensorProto.FLOAT16))
    model.graph.node.insert(3, helper.make_node("Cast", ["mm_h"], ["mm"], to=TensorProto.FLOAT))
    onnx.save(model, str(half_mm))
    assert onnx_facts(half_mm).precision == "fp16"  # type: ignore[union-attr]
    qdq_mm = _rerouted(
        tmp_path / "qdq-mm.onnx",
        _qdq_pair("flat", "3"),
        [numpy_helper.from_array(np.array(0.05, np.float32), "s3")],
        into="dq3",
    )
    assert onnx_facts(qdq_mm).precision == "int8"  # type: ignore[union-attr]
    hinted = tmp_path / "hint.onnx"
    tiny_onnx(hinted)
    model = onnx.load(str(hinted))
    model.graph.value_info.append(helper.make_tensor_value_info("mm", TensorProto.FLOAT16, None))
    onnx.save(model, str(hinted))
    assert onnx_facts(hinted).precision == "fp32"  # type: ignore[union-attr]

    # An empty graph is no artifact at all.
    empty = tmp_path / "empty.onnx"
    graph = helper.make_graph([], "empty", [], [])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(empty))
    code, _, err = cli("parity", "--golden", case["bundle"], empty, capsys=capsys)
    assert code == 2 and "not a TorchScript, ONNX or TensorRT artifact" in one_error(err)


def test_an_int8_graph_against_a_bundle_without_int8_limits(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Bundles made before INT8 hold fp32/fp16 limits only: an INT8 graph is refused with why."""
    qdq = _rerouted(
        case["dir"] / "qdq.onnx",
        _qdq_pair("flat", "3"),
        [numpy_helper.from_array(np.array(0.05, np.float32), "s3")],
        into="dq3",
    )
    meta = json.loads(json.dumps(case["meta"]))
    del meta["tolerance_profile"]["limits"]["int8"]
    bundle = write_bundle(case["dir"] / "no-int8.npz", meta, case["sets"])
    code, _, err = cli("parity", "--golden", bundle, qdq, capsys=capsys)
    assert code == 2 and "computes in int8" in one_error(err) and "no int8 table" in one_error(err)
